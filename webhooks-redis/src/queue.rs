//! The durable queue of `mode = "queued"` on Redis Streams.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::streams::{StreamAutoClaimReply, StreamId, StreamRangeReply, StreamReadReply};
use redis::{RedisError, Script, Value};
use tokio::sync::{Semaphore, watch};
use tokio_util::task::TaskTracker;
use webhooks_core::config::DispatchConfig;
use webhooks_core::queue::{DeadLetter, EnqueueError, EventQueue, JobRunner, backoff};
use webhooks_core::{BoxFuture, Headers, StoreError, WebhookEvent};

use crate::connection::Connection;

const GROUP: &str = "workers";
/// How long one read waits for new entries before checking for due retries
/// and a stop.
const BLOCK_MS: u64 = 500;
/// Commands give up after this long: an unreachable Redis is a quick 503.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// The blocking read's connection waits for the block, then as long.
const READ_TIMEOUT: Duration = Duration::from_millis(BLOCK_MS + 2_000);

/// Appends a job (hash + stream entry) unless the queue is full.
const ENQUEUE: &str = r"
if redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 3))
redis.call('XADD', KEYS[1], '*', 'job', ARGV[2])
return 1
";
/// Done: acknowledge and forget the entry and its job.
const ACK: &str = r"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
";
/// Failed, attempts left: move the job to the delayed set, due later.
const RETRY: &str = r"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], 'attempt', ARGV[5], 'done', ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
";
/// Failed on its last attempt: move the job to the dead-letter stream.
const DEAD: &str = r"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], 'done', ARGV[4], 'error', ARGV[5], 'failed', ARGV[6], 'failed_ms', ARGV[7])
redis.call('XADD', KEYS[2], '*', 'job', ARGV[3])
return 1
";
/// Moves due retries back into the stream.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'job', job)
  redis.call('ZREM', KEYS[2], job)
end
return #due
";
/// Renews an entry this consumer still owns (resetting its idle time), and
/// leaves it alone if another worker took it over.
const RENEW: &str = r"
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if pending[1] and pending[1][2] == ARGV[3] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[3], 0, ARGV[2], 'JUSTID')
  return 1
end
return 0
";
/// Puts a dead letter back with fresh attempts.
const REQUEUE: &str = r"
if redis.call('XDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'attempt', 1)
redis.call('HDEL', KEYS[3], 'error', 'failed', 'failed_ms')
redis.call('XADD', KEYS[1], '*', 'job', ARGV[2])
return 1
";

/// The durable queue of `mode = "queued"` with `provider = "redis"`.
///
/// An event is appended to a Redis stream *before* the 2xx. Workers of every
/// instance read it through one consumer group, each worker under a unique
/// consumer name, and acknowledge it only after its listeners succeeded. A
/// failed listener is retried with exponential backoff (the event waits in a
/// sorted set, due at its next attempt, and the listeners that succeeded are
/// not run again), then moved to a dead-letter stream with its last error.
/// Entries a dead worker left pending are taken over after the visibility
/// timeout (`XAUTOCLAIM`); a live worker keeps its entries by renewing them.
///
/// Every key carries the hash tag `{queue}`, so each script stays in one
/// slot of a Redis Cluster.
///
/// ```no_run
/// # async fn run() -> Result<(), redis::RedisError> {
/// use webhooks_core::config::DispatchConfig;
///
/// let queue = webhooks_redis::RedisEventQueue::connect(
///     "redis://127.0.0.1:6379/0",
///     "webhooks",
///     &DispatchConfig::default(),
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisEventQueue {
    inner: Arc<Inner>,
}

struct Inner {
    commands: Connection,
    reader: Connection,
    keys: Keys,
    capacity: usize,
    max_attempts: u32,
    backoff_initial: Duration,
    visibility: Duration,
    workers: usize,
    consumer: String,
    instance: u64,
    next_job: AtomicU64,
    scripts: Scripts,
    stop: watch::Sender<bool>,
    tracker: TaskTracker,
}

struct Keys {
    stream: String,
    delayed: String,
    dead: String,
    job_prefix: String,
}

struct Scripts {
    enqueue: Script,
    ack: Script,
    retry: Script,
    dead: Script,
    promote: Script,
    requeue: Script,
    renew: Script,
}

impl RedisEventQueue {
    /// Connects to the single server at `url`; keys start with `prefix`;
    /// capacity, workers, attempts, backoff and visibility timeout come from
    /// `config`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        config: &DispatchConfig,
    ) -> Result<Self, RedisError> {
        let commands = Connection::single(url, COMMAND_TIMEOUT).await?;
        let reader = Connection::single(url, READ_TIMEOUT).await?;
        Ok(Self::new(commands, reader, prefix, config))
    }

    /// Connects to the Redis Cluster that `nodes` belong to; otherwise as
    /// [`RedisEventQueue::connect`]. Every key of the queue carries the hash
    /// tag `{queue}`, so each script runs on one node.
    pub async fn connect_cluster(
        nodes: &[&str],
        prefix: &str,
        config: &DispatchConfig,
    ) -> Result<Self, RedisError> {
        let commands = Connection::cluster(nodes, COMMAND_TIMEOUT).await?;
        let reader = Connection::cluster(nodes, READ_TIMEOUT).await?;
        Ok(Self::new(commands, reader, prefix, config))
    }

    fn new(
        commands: Connection,
        reader: Connection,
        prefix: &str,
        config: &DispatchConfig,
    ) -> Self {
        let instance = RandomState::new().hash_one((std::process::id(), SystemTime::now()));
        let tag = format!("{prefix}:{{queue}}");
        Self {
            inner: Arc::new(Inner {
                commands,
                reader,
                keys: Keys {
                    stream: format!("{tag}:stream"),
                    delayed: format!("{tag}:delayed"),
                    dead: format!("{tag}:dead"),
                    job_prefix: format!("{tag}:job:"),
                },
                capacity: config.queue_capacity,
                max_attempts: config.max_attempts,
                backoff_initial: Duration::from_millis(config.backoff_initial_ms),
                visibility: Duration::from_secs(config.visibility_timeout_seconds),
                workers: config
                    .workers
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)),
                consumer: format!("consumer-{}-{instance:016x}", std::process::id()),
                instance,
                next_job: AtomicU64::new(1),
                scripts: Scripts {
                    enqueue: Script::new(ENQUEUE),
                    ack: Script::new(ACK),
                    retry: Script::new(RETRY),
                    dead: Script::new(DEAD),
                    promote: Script::new(PROMOTE),
                    requeue: Script::new(REQUEUE),
                    renew: Script::new(RENEW),
                },
                stop: watch::Sender::new(false),
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// This instance's consumer name in the group (unique per process start).
    pub fn consumer_name(&self) -> &str {
        &self.inner.consumer
    }
}

impl Inner {
    fn job_key(&self, job: &str) -> String {
        format!("{}{job}", self.keys.job_prefix)
    }
}

fn unavailable(error: RedisError) -> StoreError {
    StoreError::new(error)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Headers as `name: value\r\n` lines: HTTP forbids CR and LF in both.
fn encode_headers(headers: &Headers) -> Vec<u8> {
    let mut encoded = Vec::new();
    for (name, value) in headers.iter() {
        encoded.extend_from_slice(name.as_bytes());
        encoded.extend_from_slice(b": ");
        encoded.extend_from_slice(value);
        encoded.extend_from_slice(b"\r\n");
    }
    encoded
}

fn decode_headers(encoded: &[u8]) -> Headers {
    let mut headers = Headers::new();
    for line in encoded.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.windows(2).position(|pair| pair == b": ") else {
            continue;
        };
        if let Ok(name) = std::str::from_utf8(&line[..colon]) {
            let _ = headers.append_bytes(name, &line[colon + 2..]);
        }
    }
    headers
}

/// A job hash, as read back.
struct Job {
    fields: HashMap<String, Vec<u8>>,
}

impl Job {
    fn text(&self, field: &str) -> String {
        self.fields
            .get(field)
            .map(|value| String::from_utf8_lossy(value).into_owned())
            .unwrap_or_default()
    }

    fn number(&self, field: &str) -> u64 {
        self.text(field).parse().unwrap_or(0)
    }

    fn lines(&self, field: &str) -> Vec<String> {
        self.text(field)
            .split('\n')
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn event(&self) -> WebhookEvent {
        let body = self.fields.get("body").cloned().unwrap_or_default();
        WebhookEvent::new(
            self.text("source"),
            self.text("type"),
            self.text("id"),
            body,
        )
        .with_headers(decode_headers(
            self.fields.get("headers").map_or(&[][..], Vec::as_slice),
        ))
        .with_attempt(
            u32::try_from(self.number("attempt"))
                .unwrap_or(u32::MAX)
                .max(1),
        )
        .with_received_at(UNIX_EPOCH + Duration::from_millis(self.number("received_ms")))
    }
}

async fn load_job(connection: &mut Connection, key: &str) -> Result<Option<Job>, RedisError> {
    let fields: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg(key)
        .query_async(connection)
        .await?;
    Ok((!fields.is_empty()).then_some(Job { fields }))
}

fn job_id(entry: &StreamId) -> Option<String> {
    match entry.map.get("job")? {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}

impl EventQueue for RedisEventQueue {
    fn enqueue(&self, event: WebhookEvent) -> BoxFuture<'_, Result<(), EnqueueError>> {
        Box::pin(async move {
            let inner = &*self.inner;
            if *inner.stop.borrow() {
                return Err(EnqueueError::Closed);
            }
            let job = format!(
                "{:016x}{:016x}",
                inner.instance,
                inner.next_job.fetch_add(1, Ordering::Relaxed)
            );
            let received_ms = event
                .received_at()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64);
            let mut connection = inner.commands.clone();
            let added: i64 = inner
                .scripts
                .enqueue
                .key(&inner.keys.stream)
                .key(&inner.keys.delayed)
                .key(inner.job_key(&job))
                .arg(inner.capacity)
                .arg(&job)
                .arg("source")
                .arg(event.source())
                .arg("type")
                .arg(event.event_type())
                .arg("id")
                .arg(event.id())
                .arg("headers")
                .arg(encode_headers(event.headers()))
                .arg("body")
                .arg(event.body().as_ref())
                .arg("received_ms")
                .arg(received_ms)
                .arg("attempt")
                .arg(1)
                .arg("done")
                .arg("")
                .invoke_async(&mut connection)
                .await
                .map_err(|error| EnqueueError::Unavailable(unavailable(error)))?;
            if added == 0 {
                return Err(EnqueueError::Full);
            }
            Ok(())
        })
    }

    fn start(&self, runner: JobRunner) -> Result<(), StoreError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError::new("the queue's workers need a Tokio runtime"))?;
        let inner = Arc::clone(&self.inner);
        self.inner
            .tracker
            .spawn_on(read_loop(inner, runner), &runtime);
        Ok(())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.stop.send_replace(true);
            self.inner.tracker.close();
            self.inner.tracker.wait().await;
        })
    }

    fn dead_letters(&self) -> BoxFuture<'_, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(async move {
            let inner = &*self.inner;
            let mut connection = inner.commands.clone();
            let entries: StreamRangeReply = redis::cmd("XRANGE")
                .arg(&inner.keys.dead)
                .arg("-")
                .arg("+")
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            let mut letters = Vec::with_capacity(entries.ids.len());
            for entry in entries.ids {
                let Some(job_id) = job_id(&entry) else {
                    continue;
                };
                let Some(job) = load_job(&mut connection, &inner.job_key(&job_id))
                    .await
                    .map_err(unavailable)?
                else {
                    continue;
                };
                letters.push(DeadLetter::new(
                    entry.id,
                    job.event(),
                    job.lines("failed"),
                    job.text("error"),
                    UNIX_EPOCH + Duration::from_millis(job.number("failed_ms")),
                ));
            }
            Ok(letters)
        })
    }

    fn requeue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let inner = &*self.inner;
            let mut connection = inner.commands.clone();
            let entries: StreamRangeReply = redis::cmd("XRANGE")
                .arg(&inner.keys.dead)
                .arg(id)
                .arg(id)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            let Some(job_id) = entries.ids.first().and_then(job_id) else {
                return Ok(false);
            };
            let requeued: i64 = inner
                .scripts
                .requeue
                .key(&inner.keys.stream)
                .key(&inner.keys.dead)
                .key(inner.job_key(&job_id))
                .arg(id)
                .arg(&job_id)
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(requeued == 1)
        })
    }

    fn is_durable(&self) -> bool {
        true
    }
}

/// Reads entries for this consumer, new ones and those a dead worker left,
/// and runs each in a task, at most `workers` at once, until stopped.
async fn read_loop(inner: Arc<Inner>, runner: JobRunner) {
    let mut reader = inner.reader.clone();
    let mut commands = inner.commands.clone();
    let slots = Arc::new(Semaphore::new(inner.workers));
    let mut stop = inner.stop.subscribe();
    let mut group_ready = false;
    let mut last_reclaim = std::time::Instant::now() - inner.visibility;
    // XAUTOCLAIM scans the pending list in pages: continue where the last
    // call stopped, so entries behind long-running ones are reached too.
    let mut reclaim_from = String::from("0-0");
    let mut failures = 0_u32;
    while !*stop.borrow_and_update() {
        // Read only for free workers: an entry read but left waiting for a
        // worker would not be renewed, so another worker (or this one's own
        // XAUTOCLAIM) could take it over and run it a second time.
        let first_slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("never closed"),
            _ = stop.changed() => continue,
        };
        let result = async {
            if !group_ready {
                create_group(&mut commands, &inner.keys.stream).await?;
                group_ready = true;
            }
            let _: i64 = inner
                .scripts
                .promote
                .key(&inner.keys.stream)
                .key(&inner.keys.delayed)
                .arg(now_ms())
                .arg(100)
                .invoke_async(&mut commands)
                .await?;
            let free = 1 + slots.available_permits();
            let mut entries = Vec::new();
            if last_reclaim.elapsed() >= inner.visibility / 2 {
                last_reclaim = std::time::Instant::now();
                let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
                    .arg(&inner.keys.stream)
                    .arg(GROUP)
                    .arg(&inner.consumer)
                    .arg(u64::try_from(inner.visibility.as_millis()).unwrap_or(u64::MAX))
                    .arg(&reclaim_from)
                    .arg("COUNT")
                    .arg(free)
                    .query_async(&mut commands)
                    .await?;
                reclaim_from = reply.next_stream_id;
                entries.extend(reply.claimed);
            }
            if entries.is_empty() {
                let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(GROUP)
                    .arg(&inner.consumer)
                    .arg("COUNT")
                    .arg(free)
                    .arg("BLOCK")
                    .arg(BLOCK_MS)
                    .arg("STREAMS")
                    .arg(&inner.keys.stream)
                    .arg(">")
                    .query_async(&mut reader)
                    .await?;
                entries.extend(reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids));
            }
            Ok::<_, RedisError>(entries)
        }
        .await;
        match result {
            Ok(entries) => {
                failures = 0;
                let mut first_slot = Some(first_slot);
                for entry in entries {
                    // Free already: only this loop takes slots.
                    let slot = match first_slot.take() {
                        Some(slot) => slot,
                        None => Arc::clone(&slots)
                            .acquire_owned()
                            .await
                            .expect("never closed"),
                    };
                    let inner = Arc::clone(&inner);
                    let runner = runner.clone();
                    inner.tracker.clone().spawn(async move {
                        if let Err(error) = run_entry(&inner, &runner, entry).await {
                            // Left pending: taken over after the visibility timeout.
                            tracing::warn!(error = %error, "queued event not settled; it will be retried");
                        }
                        drop(slot);
                    });
                }
            }
            Err(error) => {
                if error.kind() == redis::ErrorKind::ResponseError
                    && error.code() == Some("NOGROUP")
                {
                    group_ready = false;
                }
                failures += 1;
                if failures == 1 || failures % 60 == 0 {
                    tracing::warn!(error = %error, "reading the webhook queue failed; retrying");
                }
                let pause = Duration::from_millis(500);
                let _ = tokio::time::timeout(pause, stop.changed()).await;
            }
        }
    }
}

async fn create_group(connection: &mut Connection, stream: &str) -> Result<(), RedisError> {
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

/// Runs one entry's job and settles it: acknowledged, scheduled for a
/// retry, or dead-lettered. While it runs, its pending entry is renewed so
/// no other worker takes it over.
async fn run_entry(inner: &Inner, runner: &JobRunner, entry: StreamId) -> Result<(), RedisError> {
    let mut connection = inner.commands.clone();
    let Some(job_id) = job_id(&entry) else {
        return settle_ack(inner, &mut connection, &entry.id, "").await;
    };
    let job_key = inner.job_key(&job_id);
    let Some(job) = load_job(&mut connection, &job_key).await? else {
        // Settled by another worker already; only the entry is left.
        return settle_ack(inner, &mut connection, &entry.id, &job_key).await;
    };
    let event = job.event();
    let mut done = job.lines("done");
    let outcome = {
        let run = runner.run(&event, &done);
        tokio::pin!(run);
        let renew_every = inner.visibility / 3;
        loop {
            tokio::select! {
                outcome = &mut run => break outcome,
                () = tokio::time::sleep(renew_every) => {
                    let _: Result<i64, RedisError> = inner
                        .scripts
                        .renew
                        .key(&inner.keys.stream)
                        .arg(GROUP)
                        .arg(&entry.id)
                        .arg(&inner.consumer)
                        .invoke_async(&mut connection)
                        .await;
                }
            }
        }
    };
    done.extend(outcome.succeeded);
    if outcome.failed.is_empty() {
        return settle_ack(inner, &mut connection, &entry.id, &job_key).await;
    }
    let attempt = event.attempt();
    let error = outcome.last_error.unwrap_or_default();
    if attempt >= inner.max_attempts {
        tracing::error!(
            source = event.source(),
            event_type = event.event_type(),
            id = event.id(),
            attempts = attempt,
            listeners = ?outcome.failed,
            error = %error,
            "webhook event dead-lettered after its last attempt"
        );
        let _: i64 = inner
            .scripts
            .dead
            .key(&inner.keys.stream)
            .key(&inner.keys.dead)
            .key(&job_key)
            .arg(GROUP)
            .arg(&entry.id)
            .arg(&job_id)
            .arg(done.join("\n"))
            .arg(&error)
            .arg(outcome.failed.join("\n"))
            .arg(now_ms())
            .invoke_async(&mut connection)
            .await?;
        return Ok(());
    }
    let due = now_ms()
        + u64::try_from(backoff(inner.backoff_initial, attempt).as_millis())
            .unwrap_or(u64::MAX / 2);
    let _: i64 = inner
        .scripts
        .retry
        .key(&inner.keys.stream)
        .key(&inner.keys.delayed)
        .key(&job_key)
        .arg(GROUP)
        .arg(&entry.id)
        .arg(&job_id)
        .arg(due)
        .arg(attempt + 1)
        .arg(done.join("\n"))
        .invoke_async(&mut connection)
        .await?;
    Ok(())
}

async fn settle_ack(
    inner: &Inner,
    connection: &mut Connection,
    entry: &str,
    job_key: &str,
) -> Result<(), RedisError> {
    let job_key = if job_key.is_empty() {
        inner.job_key("none")
    } else {
        job_key.to_owned()
    };
    let _: i64 = inner
        .scripts
        .ack
        .key(&inner.keys.stream)
        .key(job_key)
        .arg(GROUP)
        .arg(entry)
        .invoke_async(connection)
        .await?;
    Ok(())
}

impl fmt::Debug for RedisEventQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisEventQueue")
            .field("stream", &self.inner.keys.stream)
            .field("consumer", &self.inner.consumer)
            .field("capacity", &self.inner.capacity)
            .field("workers", &self.inner.workers)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_survive_encoding() {
        let mut headers = Headers::new()
            .with("X-GitHub-Event", "push")
            .with("X-Multi", "a");
        headers.append("x-multi", "b: c").unwrap();
        headers.append_bytes("x-latin", b"caf\xe9").unwrap();
        let decoded = decode_headers(&encode_headers(&headers));
        assert_eq!(decoded.get("x-github-event"), Some("push"));
        assert_eq!(
            decoded.get_all("x-multi").collect::<Vec<_>>(),
            ["a", "b: c"]
        );
        assert_eq!(decoded.get_bytes("x-latin"), Some(&b"caf\xe9"[..]));
        assert_eq!(decoded.len(), headers.len());
    }
}
