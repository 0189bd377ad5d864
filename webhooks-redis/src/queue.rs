//! The durable queue of `mode = "queued"` on Redis Streams: storage steps
//! only; the worker loop and the retry policy are the core's.

mod job;
mod scripts;

use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::streams::{StreamAutoClaimReply, StreamId, StreamRangeReply, StreamReadReply};
use redis::{Cmd, RedisError};
use webhooks_core::queue::{
    DeadLetter, DeadLetterBounds, EventQueue, JobState, PushError, Reservation, Reserved,
};
use webhooks_core::{StoreError, WebhookEvent};

use self::job::{Job, entry_job};
pub(crate) use self::scripts::{ack_with, push_function};
use crate::connection::{Connection, Lua, Made, unavailable};

const GROUP: &str = "workers";
/// Commands give up after this long: an unreachable Redis is a quick 503.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest blocking read; its connection waits that long, then as long
/// as any command.
const MAX_BLOCK: Duration = Duration::from_secs(2);
/// Due retries moved back into the stream per reserve, at most.
const PROMOTE_BATCH: usize = 100;
/// How often due retries are moved to the stream, at most: a retry runs at
/// most this much later than its time (besides the wait of a read).
const PROMOTE_EVERY: Duration = Duration::from_millis(50);

/// The durable queue of `mode = "queued"` with `provider = "redis"`.
///
/// A job is a hash (the event, its attempts, failures, succeeded listeners
/// and last error) and an entry in a stream read through one consumer group
/// by the workers of every instance, each instance under a unique consumer
/// name. A retry waits in a sorted set until it is due; a dead letter is an
/// entry of a second stream, trimmed by count and age, and its hash expires
/// with the retention. A hold is the pending entry: renewed by the worker,
/// taken over with `XAUTOCLAIM` when its worker died, and fenced by the
/// job's attempt count, so a worker that lost it settles nothing.
///
/// Every key carries the hash tag `{queue}`, so each script stays in one
/// slot of a Redis Cluster.
///
/// ```no_run
/// # fn run() -> Result<(), redis::RedisError> {
/// let queue = webhooks_redis::RedisEventQueue::lazy("redis://127.0.0.1:6379/0", "webhooks")?;
/// # Ok(()) }
/// ```
pub struct RedisEventQueue {
    commands: Connection,
    reader: Connection,
    keys: Keys,
    consumer: String,
    instance: u64,
    next_job: AtomicU64,
    scripts: scripts::Scripts,
    /// When lapsed holds were last looked for, and where the scan stopped.
    reclaim: Mutex<(Option<Instant>, String)>,
    /// When due retries were last moved to the stream.
    promoted: Mutex<Option<Instant>>,
}

#[derive(Clone)]
struct Keys {
    stream: String,
    delayed: String,
    dead: String,
    job_prefix: String,
}

impl RedisEventQueue {
    /// The queue on the server at `url`, connecting on first use (and again
    /// after an outage); keys start with `prefix`. Fails only for a
    /// malformed URL.
    pub fn lazy(url: &str, prefix: &str) -> Result<Self, RedisError> {
        let commands = Connection::single(url, COMMAND_TIMEOUT)?;
        let reader = Connection::single(url, MAX_BLOCK + COMMAND_TIMEOUT)?;
        Ok(Self::new(commands, reader, prefix))
    }

    /// [`RedisEventQueue::lazy`] on the Redis Cluster that `nodes` belong to.
    pub fn lazy_cluster(nodes: &[&str], prefix: &str) -> Result<Self, RedisError> {
        let commands = Connection::cluster(nodes, COMMAND_TIMEOUT)?;
        let reader = Connection::cluster(nodes, MAX_BLOCK + COMMAND_TIMEOUT)?;
        Ok(Self::new(commands, reader, prefix))
    }

    fn new(commands: Connection, reader: Connection, prefix: &str) -> Self {
        let tag = format!("{prefix}:{{queue}}");
        let keys = Keys {
            stream: format!("{tag}:stream"),
            delayed: format!("{tag}:delayed"),
            dead: format!("{tag}:dead"),
            job_prefix: format!("{tag}:job:"),
        };
        Self::with_keys(commands, reader, keys)
    }

    /// The same queue as another handle, for another part of this
    /// process: the same consumer (it settles what this one reserved), its
    /// own job ids.
    pub(crate) fn twin(&self) -> Self {
        let keys = self.keys.clone();
        let mut twin = Self::with_keys(self.commands.clone(), self.reader.clone(), keys);
        twin.consumer.clone_from(&self.consumer);
        twin
    }

    fn with_keys(commands: Connection, reader: Connection, keys: Keys) -> Self {
        let instance = RandomState::new().hash_one((std::process::id(), SystemTime::now()));
        Self {
            commands,
            reader,
            keys,
            consumer: format!("consumer-{}-{instance:016x}", std::process::id()),
            instance,
            next_job: AtomicU64::new(1),
            scripts: scripts::Scripts::new(),
            reclaim: Mutex::new((None, "0-0".into())),
            promoted: Mutex::new(None),
        }
    }

    /// This instance's consumer name in the group (unique per process start).
    pub fn consumer_name(&self) -> &str {
        &self.consumer
    }

    pub(crate) fn job_key(&self, job: &str) -> String {
        // One allocation of the exact length (`format!` grows as it goes).
        [self.keys.job_prefix.as_str(), job].concat()
    }

    async fn connection(&self) -> Result<Made, StoreError> {
        self.commands.get().await.map_err(unavailable)
    }

    /// A job id unique across instances: this instance's random part and
    /// a counter.
    pub(crate) fn new_job_id(&self) -> String {
        let next = self.next_job.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(32);
        // Writing to a String cannot fail.
        let _ = write!(id, "{:016x}{next:016x}", self.instance);
        id
    }

    /// The push script's keys: the stream, the delayed set, the job.
    pub(crate) fn push_keys(&self, cmd: &mut Cmd, job_key: &str) {
        cmd.arg(&self.keys.stream)
            .arg(&self.keys.delayed)
            .arg(job_key);
    }

    /// The entries to start: lapsed holds (every half visibility timeout),
    /// else new entries, waiting up to `wait`.
    async fn read(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<StreamId>, RedisError> {
        let mut connection = self.commands.get().await?;
        // Retries that are due move to the stream at most every
        // PROMOTE_EVERY, not on every read: a busy queue reads many times
        // as often, and each promotion is a round trip.
        let promote = {
            let mut promoted = self
                .promoted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = promoted.is_none_or(|at| at.elapsed() >= PROMOTE_EVERY);
            if due {
                *promoted = Some(Instant::now());
            }
            due
        };
        if promote {
            let _: i64 = self
                .scripts
                .promote
                .key(&self.keys.stream)
                .key(&self.keys.delayed)
                .arg(now_ms())
                .arg(PROMOTE_BATCH)
                .invoke_async(&mut connection)
                .await?;
        }
        let cursor = {
            let mut reclaim = self
                .reclaim
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = reclaim.0.is_none_or(|at| at.elapsed() >= visibility / 2);
            due.then(|| {
                reclaim.0 = Some(Instant::now());
                reclaim.1.clone()
            })
        };
        if let Some(cursor) = cursor {
            let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                .arg(&self.keys.stream)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(millis(visibility))
                .arg(&cursor)
                .arg("COUNT")
                .arg(max)
                .query_async(&mut connection)
                .await?;
            // The scan continues where it stopped, so entries behind
            // long-running ones are reached too.
            self.reclaim
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .1 = reply.next_stream_id;
            if !reply.claimed.is_empty() {
                return Ok(reply.claimed);
            }
        }
        let mut reader = self.reader.get().await?;
        let block = wait.min(MAX_BLOCK);
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max);
        if !block.is_zero() {
            read.arg("BLOCK").arg(millis(block));
        }
        let reply: Option<StreamReadReply> = read
            .arg("STREAMS")
            .arg(&self.keys.stream)
            .arg(">")
            .query_async(&mut reader)
            .await?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect())
    }

    /// Counts a start of each entry's job and loads it, in one script for
    /// the whole batch; entries whose job is gone (settled elsewhere) are
    /// acknowledged and skipped.
    async fn start(&self, entries: Vec<StreamId>) -> Result<Vec<Reserved>, RedisError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let jobs: Vec<Option<String>> = entries.iter().map(entry_job).collect();
        let job_keys: Vec<String> = jobs
            .iter()
            .map(|job| self.job_key(job.as_deref().unwrap_or("none")))
            .collect();
        let bytes = self.keys.stream.len()
            + job_keys.iter().map(String::len).sum::<usize>()
            + entries.iter().map(|entry| entry.id.len()).sum::<usize>()
            + 32;
        let mut connection = self.commands.get().await?;
        let keys = 1 + entries.len();
        let loaded: Vec<Vec<Option<Vec<u8>>>> = self
            .scripts
            .start
            .run(
                &mut connection,
                keys,
                (keys + 1 + entries.len(), bytes),
                |cmd| {
                    cmd.arg(&self.keys.stream);
                    for key in &job_keys {
                        cmd.arg(key);
                    }
                    cmd.arg(GROUP);
                    for entry in &entries {
                        cmd.arg(&entry.id);
                    }
                },
            )
            .await?;
        let reserved = entries
            .into_iter()
            .zip(jobs)
            .zip(loaded)
            .filter_map(|((entry, job_id), values)| {
                let job = Job::from_started(values)?;
                let reservation = Reservation {
                    id: [entry.id.as_str(), "|", &job_id?].concat(),
                    token: u64::from(job.state.attempts),
                };
                Some(Reserved::new(reservation, job.event, job.state))
            })
            .collect();
        Ok(reserved)
    }

    /// A reservation's stream entry, job id and job key.
    fn held<'r>(&self, reservation: &'r Reservation) -> Option<(&'r str, &'r str, String)> {
        let (entry, job) = reservation.id.split_once('|')?;
        Some((entry, job, self.job_key(job)))
    }

    /// Runs a settle script that checks the hold first (keys: the stream,
    /// the job, then `extra_key`; arguments: the hold's, then what `args`
    /// writes, `size` being how many and about how many bytes); whether
    /// it held.
    pub(crate) async fn settle(
        &self,
        script: &Lua,
        reservation: &Reservation,
        extra_key: Option<&str>,
        (args, bytes): (usize, usize),
        fill: impl Fn(&mut Cmd),
    ) -> Result<bool, StoreError> {
        let Some((entry, job_id, job_key)) = self.held(reservation) else {
            return Ok(false);
        };
        let keys = 2 + usize::from(extra_key.is_some());
        let size = (
            keys + 5 + args,
            self.keys.stream.len()
                + job_key.len()
                + extra_key.map_or(0, str::len)
                + entry.len()
                + self.consumer.len()
                + job_id.len()
                + bytes
                + 48,
        );
        let mut connection = self.connection().await?;
        let held: i64 = script
            .run(&mut connection, keys, size, |cmd| {
                cmd.arg(&self.keys.stream).arg(&job_key);
                if let Some(key) = extra_key {
                    cmd.arg(key);
                }
                cmd.arg(GROUP)
                    .arg(entry)
                    .arg(&self.consumer)
                    .arg(reservation.token)
                    .arg(job_id);
                fill(cmd);
            })
            .await
            .map_err(unavailable)?;
        Ok(held == 1)
    }
}

/// The push script's arguments: the capacity, the job id, the job's fields.
pub(crate) fn push_args(cmd: &mut Cmd, capacity: usize, job_id: &str, event: &WebhookEvent) {
    cmd.arg(capacity).arg(job_id);
    job::push_fields(cmd, event);
}

/// How many arguments, and about how many bytes, a push's keys and
/// arguments take.
pub(crate) fn push_size(event: &WebhookEvent) -> (usize, usize) {
    let headers: usize = event
        .headers()
        .iter()
        .map(|(name, value)| name.len() + value.len() + 4)
        .sum();
    let names = event.source().len() + event.event_type().len() + event.id().len();
    (23, event.body().len() + headers + names + 256)
}

/// The arguments of a settle that takes none of its own.
fn no_args(_: &mut Cmd) {}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn now_ms() -> u64 {
    epoch_ms(SystemTime::now())
}

fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, millis)
}

impl EventQueue for RedisEventQueue {
    async fn push(&self, event: WebhookEvent, capacity: usize) -> Result<(), PushError> {
        let job_id = self.new_job_id();
        let job_key = self.job_key(&job_id);
        let mut connection = self.connection().await?;
        let added: i64 = self
            .scripts
            .push
            .run(&mut connection, 3, push_size(&event), |cmd| {
                self.push_keys(cmd, &job_key);
                push_args(cmd, capacity, &job_id, &event);
            })
            .await
            .map_err(unavailable)?;
        if added == 0 {
            return Err(PushError::Full);
        }
        Ok(())
    }

    async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Reserved>, StoreError> {
        let entries = match self.read(max, visibility, wait).await {
            Err(error) if error.code() == Some("NOGROUP") => {
                let mut connection = self.connection().await?;
                create_group(&mut connection, &self.keys.stream)
                    .await
                    .map_err(unavailable)?;
                self.read(max, visibility, wait).await
            }
            read => read,
        }
        .map_err(unavailable)?;
        self.start(entries).await.map_err(unavailable)
    }

    async fn renew(
        &self,
        reservation: &Reservation,
        visibility: Duration,
    ) -> Result<bool, StoreError> {
        let renewed = self.renew_all(&[reservation], visibility).await?;
        Ok(renewed == [true])
    }

    /// One script for every hold: the idle time Redis measures a hold by is
    /// reset entry by entry, so `visibility` is not sent.
    async fn renew_all(
        &self,
        reservations: &[&Reservation],
        _visibility: Duration,
    ) -> Result<Vec<bool>, StoreError> {
        let holds: Vec<_> = reservations.iter().map(|held| self.held(held)).collect();
        let sent: Vec<_> = reservations
            .iter()
            .zip(&holds)
            .filter_map(|(reservation, hold)| {
                let (entry, _, job_key) = hold.as_ref()?;
                Some((*entry, job_key.as_str(), reservation.token))
            })
            .collect();
        if sent.is_empty() {
            return Ok(vec![false; holds.len()]);
        }
        let bytes = self.keys.stream.len()
            + self.consumer.len()
            + sent
                .iter()
                .map(|(entry, job_key, _)| entry.len() + job_key.len() + 20)
                .sum::<usize>()
            + 32;
        let mut connection = self.connection().await?;
        let renewed: Vec<i64> = self
            .scripts
            .renew_all
            .run(
                &mut connection,
                1 + sent.len(),
                (3 + 3 * sent.len(), bytes),
                |cmd| {
                    cmd.arg(&self.keys.stream);
                    for (_, job_key, _) in &sent {
                        cmd.arg(*job_key);
                    }
                    cmd.arg(GROUP).arg(&self.consumer);
                    for (entry, _, token) in &sent {
                        cmd.arg(*entry).arg(*token);
                    }
                },
            )
            .await
            .map_err(unavailable)?;
        // A malformed hold was not sent: it holds nothing.
        let mut renewed = renewed.into_iter();
        Ok(holds
            .iter()
            .map(|hold| hold.is_some() && renewed.next() == Some(1))
            .collect())
    }

    async fn ack(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        self.settle(&self.scripts.ack, reservation, None, (0, 0), no_args)
            .await
    }

    async fn retry_at(
        &self,
        reservation: &Reservation,
        due: SystemTime,
        state: &JobState,
    ) -> Result<bool, StoreError> {
        let done = state.done.join("\n");
        let error = state.last_error.as_deref().unwrap_or("");
        let retry = |cmd: &mut Cmd| {
            cmd.arg(epoch_ms(due))
                .arg(state.failures)
                .arg(&done)
                .arg(error);
        };
        let delayed = Some(self.keys.delayed.as_str());
        let size = (4, done.len() + error.len() + 64);
        self.settle(&self.scripts.retry, reservation, delayed, size, retry)
            .await
    }

    async fn dead(
        &self,
        reservation: &Reservation,
        state: &JobState,
        reason: &str,
        bounds: DeadLetterBounds,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let retention = millis(bounds.retention).max(1);
        let done = state.done.join("\n");
        let oldest = format!("{}-0", now.saturating_sub(retention));
        let error = state.last_error.as_deref().unwrap_or("");
        let dead = |cmd: &mut Cmd| {
            cmd.arg(state.failures)
                .arg(&done)
                .arg(reason)
                .arg(now)
                .arg(retention)
                .arg(bounds.max)
                .arg(&oldest)
                .arg(error);
        };
        let stream = Some(self.keys.dead.as_str());
        let size = (8, done.len() + reason.len() + error.len() + 128);
        self.settle(&self.scripts.dead, reservation, stream, size, dead)
            .await
    }

    async fn hand_back(&self, reservation: &Reservation) -> Result<(), StoreError> {
        self.settle(&self.scripts.hand_back, reservation, None, (0, 0), no_args)
            .await
            .map(drop)
    }

    async fn dead_letters(&self, source: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        let mut connection = self.connection().await?;
        let entries: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.keys.dead)
            .arg("-")
            .arg("+")
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        // Every job in one round trip: a dead-letter stream holds up to
        // `dead-letter-max` entries.
        let mut jobs = redis::pipe();
        for entry in &entries.ids {
            let job = entry_job(entry).unwrap_or_default();
            jobs.cmd("HGETALL").arg(self.job_key(&job));
        }
        let fields: Vec<Vec<Vec<u8>>> = jobs
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let letters = entries
            .ids
            .into_iter()
            .zip(fields)
            // A job gone with the retention, or of another source, is skipped.
            .filter_map(|(entry, fields)| Some((entry, Job::from_fields(fields)?)))
            .filter(|(_, job)| source.is_none_or(|source| job.event.source() == source))
            .map(|(entry, job)| job.into_dead_letter(entry.id))
            .collect();
        Ok(letters)
    }

    async fn requeue(&self, id: &str) -> Result<bool, StoreError> {
        let mut connection = self.connection().await?;
        let entries: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&self.keys.dead)
            .arg(id)
            .arg(id)
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let Some(job_id) = entries.ids.first().and_then(entry_job) else {
            return Ok(false);
        };
        let requeued: i64 = self
            .scripts
            .requeue
            .key(&self.keys.stream)
            .key(&self.keys.dead)
            .key(self.job_key(&job_id))
            .arg(id)
            .arg(&job_id)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(requeued == 1)
    }

    async fn close(&self) -> Result<Vec<String>, StoreError> {
        let mut connection = self.connection().await?;
        let _: i64 = self
            .scripts
            .forget_consumer
            .key(&self.keys.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        Ok(Vec::new())
    }

    fn is_durable(&self) -> bool {
        true
    }
}

async fn create_group(connection: &mut Made, stream: &str) -> Result<(), RedisError> {
    let created: Result<(), RedisError> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(connection)
        .await;
    match created {
        Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

impl fmt::Debug for RedisEventQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisEventQueue")
            .field("stream", &self.keys.stream)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}
