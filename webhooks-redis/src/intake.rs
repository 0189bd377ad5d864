//! The accept path in one round trip: the store's claim, the event log's
//! arrival and, queued, the push and the completion, in one script.

use std::fmt;
use std::time::Duration;

use redis::{Cmd, RedisError, Value};
use webhooks_core::event_log::{Received, RunRecord};
use webhooks_core::intake::{Enqueued, Intake};
use webhooks_core::queue::Reservation;
use webhooks_core::{Claim, Lease, StoreError, WebhookEvent};

use crate::connection::{Lua, unavailable};
use crate::event_log::{RedisEventLog, ran_args, ran_size, received_arg_count};
use crate::queue::{RedisEventQueue, ack_with, push_args, push_size};
use crate::store::{DONE, RedisWebhookEventStore, complete_with, millis};
use crate::{event_log, queue};

/// Claims KEYS[1] for the token ARGV[1] and the lease ARGV[2] (ms). When it
/// is taken and there are log keys (KEYS[2..4], the `received` script's),
/// the arrival ARGV[3..] is recorded; when the key is held or completed, a
/// redelivery is counted on the record instead. Answers 0 taken, 1 held,
/// 2 completed.
const CLAIM: &str = r"
local log = #KEYS > 1
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if log then received({KEYS[2], KEYS[3], KEYS[4]}, {unpack(ARGV, 3)}) end
  return 0
end
if log then redelivered({KEYS[2]}, {}) end
if redis.call('GET', KEYS[1]) == 'done' then return 2 end
return 1
";

/// Queued: when KEYS[1] is free, records the arrival (ARGV[3..2+n], n being
/// ARGV[2], on KEYS[5..7] when n > 0), pushes the job (KEYS[2..4] and the
/// `push` arguments after the arrival's) and completes the key for ARGV[1]
/// ms. When the key is held or completed, a redelivery is counted on the
/// record and nothing else changes. Answers 0 queued, 1 held, 2 completed,
/// 3 full (the arrival recorded, nothing queued, the key still free). The
/// key is completed first (`SET NX`, one call where a `GET` and a `SET`
/// were two) and freed again when the queue is full: the script is atomic,
/// so nobody sees it in between.
const ENQUEUE: &str = r"
local n = tonumber(ARGV[2])
if not redis.call('SET', KEYS[1], 'done', 'NX', 'PX', ARGV[1]) then
  if n > 0 then redelivered({KEYS[5]}, {}) end
  if redis.call('GET', KEYS[1]) == 'done' then return 2 end
  return 1
end
if n > 0 then received({KEYS[5], KEYS[6], KEYS[7]}, {unpack(ARGV, 3, 2 + n)}) end
if push({KEYS[2], KEYS[3], KEYS[4]}, {unpack(ARGV, 3 + n)}) == 0 then
  redis.call('DEL', KEYS[1])
  return 3
end
return 0
";

/// Queued, done: records the run on the record KEYS[3] (when given, with
/// the `ran` arguments after the settle's five) in the ack's script.
const RAN_IN_ACK: &str = "if #KEYS > 2 then ran({KEYS[3]}, {unpack(ARGV, 6)}) end";

/// Inline, done: records the run on the record KEYS[2] (when given, with
/// the `ran` arguments after the complete's three) once the key is
/// completed.
const RAN_IN_COMPLETE: &str = "if #KEYS > 1 then ran({KEYS[2]}, {unpack(ARGV, 4)}) end";

/// The accept path of a Redis store, queue and event log on one server,
/// each delivery in one script: the claim and the arrival's record inline;
/// claim, record, push and completion queued (a duplicate caught by the
/// same script). Give it to [`ProcessorBuilder::intake`] beside the three
/// it was made of.
///
/// Only for a single server: on a Redis Cluster the store's, queue's and
/// log's keys live in different slots, and no script may touch them all;
/// [`RedisIntake::new`] gives `None` there, and the steps are taken one by
/// one.
///
/// [`ProcessorBuilder::intake`]: webhooks_core::ProcessorBuilder::intake
///
/// ```no_run
/// # fn run() -> Result<(), redis::RedisError> {
/// use webhooks_core::event_log::LogBounds;
/// use webhooks_redis::{RedisEventLog, RedisEventQueue, RedisIntake, RedisWebhookEventStore};
///
/// let url = "redis://127.0.0.1:6379/0";
/// let store = RedisWebhookEventStore::lazy(url, "webhooks")?;
/// let queue = RedisEventQueue::lazy(url, "webhooks")?;
/// let log = RedisEventLog::lazy(url, "webhooks", LogBounds::default())?;
/// let intake = RedisIntake::new(&store, Some(&queue), Some(&log)).expect("one server");
/// let builder = webhooks_core::WebhookProcessor::builder()
///     .store(store)
///     .queue(queue)
///     .event_log(log)
///     .intake(intake);
/// # Ok(()) }
/// ```
pub struct RedisIntake {
    store: RedisWebhookEventStore,
    queue: Option<RedisEventQueue>,
    log: Option<RedisEventLog>,
    claim: Lua,
    complete: Lua,
    enqueue: Lua,
    ack: Lua,
}

impl RedisIntake {
    /// The intake of `store`, `queue` and `log`, all on one server (the
    /// store's connection takes its scripts); `None` on a Redis Cluster.
    pub fn new(
        store: &RedisWebhookEventStore,
        queue: Option<&RedisEventQueue>,
        log: Option<&RedisEventLog>,
    ) -> Option<Self> {
        if store.connection().is_cluster() {
            return None;
        }
        let log_functions = event_log::functions();
        Some(Self {
            store: store.clone(),
            queue: queue.map(RedisEventQueue::twin),
            log: log.map(RedisEventLog::twin),
            claim: Lua::new(format!("{log_functions}{CLAIM}")),
            complete: Lua::new(format!("{log_functions}{}", complete_with(RAN_IN_COMPLETE))),
            enqueue: Lua::new(format!(
                "{log_functions}{}{ENQUEUE}",
                queue::push_function()
            )),
            ack: Lua::new(format!("{log_functions}{}", ack_with(RAN_IN_ACK))),
        })
    }

    /// The log's `received` arguments for `received`, when this intake
    /// writes the log and an arrival is given.
    fn logged<'r>(
        &self,
        received: Option<&'r Received<'r>>,
    ) -> Option<(&RedisEventLog, &'r Received<'r>, String)> {
        let (log, received) = (self.log.as_ref()?, received?);
        Some((log, received, log.record_key(received.source, received.id)))
    }
}

/// The reply's code as a number.
fn code(reply: &Value) -> Result<i64, StoreError> {
    match reply {
        Value::Int(code) => Ok(*code),
        other => Err(StoreError::new(format!(
            "an intake script answered {other:?}"
        ))),
    }
}

impl Intake for RedisIntake {
    async fn claim(
        &self,
        key: &str,
        lease: Duration,
        received: Option<&Received<'_>>,
    ) -> Result<Claim, StoreError> {
        let granted = self.store.new_lease();
        let (key, token) = (self.store.key(key), self.store.token_value(&granted));
        let logged = self.logged(received);
        let (args, bytes) = logged
            .as_ref()
            .map_or((0, 0), |(log, received, _)| log.received_size(received));
        let mut connection = self.store.connection().get().await.map_err(unavailable)?;
        let keys = if logged.is_some() { 4 } else { 1 };
        let reply: Result<Value, RedisError> = self
            .claim
            .run(
                &mut connection,
                keys,
                (args + 3, bytes + key.len() + 64),
                |cmd: &mut Cmd| {
                    cmd.arg(&key);
                    if let Some((log, _, record)) = &logged {
                        log.received_keys(cmd, record);
                    }
                    cmd.arg(token.as_bytes()).arg(millis(lease));
                    if let Some((log, received, _)) = &logged {
                        log.received_args(cmd, received);
                    }
                },
            )
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                // As the store's claim: a script that timed out may still
                // run, and would hold the key for the whole lease.
                self.store.undo_claim(key, token.as_bytes().to_vec());
                return Err(unavailable(error));
            }
        };
        match code(&reply)? {
            0 => Ok(Claim::Acquired(granted)),
            2 => Ok(Claim::Completed),
            _ => Ok(Claim::InProgress),
        }
    }

    async fn complete(
        &self,
        key: &str,
        lease: &Lease,
        ttl: Duration,
        run: Option<(&str, &str, &RunRecord)>,
    ) -> Result<bool, StoreError> {
        let key = self.store.key(key);
        let token = self.store.token_value(lease);
        let logged = self
            .log
            .as_ref()
            .zip(run)
            .map(|(log, (source, id, run))| (log.record_key(source, id), run));
        let (args, bytes) = logged.as_ref().map_or((0, 0), |(record, run)| {
            let (args, bytes) = ran_size(run);
            (args + 1, bytes + record.len())
        });
        let keys = if logged.is_some() { 2 } else { 1 };
        let mut connection = self.store.connection().get().await.map_err(unavailable)?;
        let completed: i64 = self
            .complete
            .run(
                &mut connection,
                keys,
                (args + 4, bytes + key.len() + 64),
                |cmd: &mut Cmd| {
                    cmd.arg(&key);
                    if let Some((record, _)) = &logged {
                        cmd.arg(record);
                    }
                    cmd.arg(token.as_bytes()).arg(DONE).arg(millis(ttl));
                    if let Some((_, run)) = &logged {
                        ran_args(cmd, run);
                    }
                },
            )
            .await
            .map_err(unavailable)?;
        Ok(completed == 1)
    }

    async fn enqueue(
        &self,
        key: &str,
        ttl: Duration,
        capacity: usize,
        event: &WebhookEvent,
        received: Option<&Received<'_>>,
    ) -> Result<Enqueued, StoreError> {
        let Some(queue) = &self.queue else {
            return Err(StoreError::new("this intake was made without a queue"));
        };
        let key = self.store.key(key);
        let job_id = queue.new_job_id();
        let job_key = queue.job_key(&job_id);
        let logged = self.logged(received);
        let (log_args, log_bytes) = logged
            .as_ref()
            .map_or((0, 0), |(log, received, _)| log.received_size(received));
        let (push_args_count, push_bytes) = push_size(event);
        let mut connection = self.store.connection().get().await.map_err(unavailable)?;
        let keys = if logged.is_some() { 7 } else { 4 };
        let reply: Value = self
            .enqueue
            .run(
                &mut connection,
                keys,
                (
                    log_args + push_args_count + 3,
                    log_bytes + push_bytes + key.len() + 64,
                ),
                |cmd: &mut Cmd| {
                    cmd.arg(&key);
                    queue.push_keys(cmd, &job_key);
                    if let Some((log, _, record)) = &logged {
                        log.received_keys(cmd, record);
                    }
                    cmd.arg(millis(ttl));
                    match &logged {
                        Some((log, received, _)) => {
                            cmd.arg(received_arg_count(received));
                            log.received_args(cmd, received);
                        }
                        None => {
                            cmd.arg(0);
                        }
                    }
                    push_args(cmd, capacity, &job_id, event);
                },
            )
            .await
            .map_err(unavailable)?;
        Ok(match code(&reply)? {
            0 => Enqueued::Queued,
            2 => Enqueued::Completed,
            3 => Enqueued::Full,
            _ => Enqueued::InProgress,
        })
    }

    async fn ack(
        &self,
        reservation: &Reservation,
        run: Option<(&str, &str, &RunRecord)>,
    ) -> Result<bool, StoreError> {
        let Some(queue) = &self.queue else {
            return Err(StoreError::new("this intake was made without a queue"));
        };
        let logged = self
            .log
            .as_ref()
            .zip(run)
            .map(|(log, (source, id, run))| (log.record_key(source, id), run));
        let record = logged.as_ref().map(|(record, _)| record.as_str());
        let size = logged.as_ref().map_or((0, 0), |(_, run)| ran_size(run));
        queue
            .settle(&self.ack, reservation, record, size, |cmd| {
                if let Some((_, run)) = &logged {
                    ran_args(cmd, run);
                }
            })
            .await
    }

    fn records_log(&self) -> bool {
        self.log.is_some()
    }

    fn queues(&self) -> bool {
        self.queue.is_some()
    }
}

impl fmt::Debug for RedisIntake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisIntake")
            .field("store", &self.store)
            .field("queue", &self.queue.is_some())
            .field("log", &self.log.is_some())
            .finish_non_exhaustive()
    }
}
