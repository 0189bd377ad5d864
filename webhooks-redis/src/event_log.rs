//! The event log on Redis: storage steps only; what is written, and when,
//! is the core's lifecycle's decision.

mod record;
mod scripts;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use redis::{Cmd, RedisError, RedisWrite, ScriptInvocation, ToRedisArgs};
use webhooks_core::StoreError;
use webhooks_core::event_log::{
    Arrival, EventLog, EventPage, EventQuery, EventRecord, LogBounds, Received, RunRecord,
};

use self::record::epoch_ms;
pub(crate) use self::scripts::functions;
use self::scripts::{LISTED, Scripts};
use crate::connection::{Connection, unavailable};

/// Commands give up after this long: an unreachable Redis costs a delivery
/// a logged warning, never a hung request.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Index entries one listing looks at, at most: a filter that matches few
/// records answers a short (or empty) page with a cursor rather than
/// holding Redis, which runs one script at a time, for the whole index.
const SCAN_BUDGET: usize = 5000;

/// The event log of `[webhooks.event-log]` with `provider = "redis"`,
/// shared by every instance: a delivery recorded by one is listed, and its
/// runs counted, by all.
///
/// A record is a hash, `<prefix>:{events}:event:<source>:<id>`, with the
/// event's source, id, type, status, counts, times (Unix milliseconds), last
/// error, each listener's last run (a JSON array) and, when kept, its body
/// and headers. An index, the sorted set `<prefix>:{events}:index`, scores
/// `<source>:<id>` by a sequence number taken when the record is created, so
/// listings run newest first and a cursor is a sequence number. Every
/// method is one round trip: [`EventLog::get`] a `HGETALL`, the others one
/// script each (`EVALSHA`; the script's text is sent once more only when
/// the server has not cached it, after a restart or a failover).
///
/// Bounded by [`LogBounds`]: each record expires `retention` after its
/// arrival, and an arrival of a new key trims the index to the newest
/// `max_events`, deleting the records it drops (a bounded number per
/// arrival: a log whose `max_events` was lowered shrinks to it over a few
/// arrivals); every 16th new record also deletes the oldest index entries
/// past the retention, whose records have expired already and are skipped
/// by listings.
/// `max_body_bytes` is the in-memory log's budget and does not apply:
/// Redis's own `maxmemory` bounds the bodies.
///
/// Every key carries the hash tag `{events}`, so each script stays in one
/// slot of a Redis Cluster; the whole log lives on one node.
///
/// ```no_run
/// # fn run() -> Result<(), redis::RedisError> {
/// use webhooks_core::event_log::LogBounds;
/// use webhooks_redis::RedisEventLog;
///
/// let log = RedisEventLog::lazy("redis://127.0.0.1:6379/0", "webhooks", LogBounds::default())?;
/// # Ok(()) }
/// ```
pub struct RedisEventLog {
    connection: Connection,
    keys: Keys,
    bounds: LogBounds,
    scripts: Scripts,
}

#[derive(Clone)]
struct Keys {
    index: String,
    seq: String,
    record_prefix: String,
}

impl RedisEventLog {
    /// The log on the server at `url`, connecting on first use (and again
    /// after an outage); keys start with `prefix`. Fails only for a
    /// malformed URL.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::SystemTime;
    /// use webhooks_core::event_log::{Arrival, EventLog, EventQuery, LogBounds, Received};
    /// use webhooks_redis::RedisEventLog;
    ///
    /// let log = RedisEventLog::lazy("redis://127.0.0.1:6379/0", "webhooks", LogBounds::default())?;
    /// let now = SystemTime::now();
    /// log.received(&Received::new("stripe", "evt_1", "invoice.paid", now, Arrival::Delivery))
    ///     .await?;
    /// let page = log.list(&EventQuery::default().source("stripe")).await?;
    /// assert_eq!(page.events[0].id, "evt_1");
    /// # Ok(()) }
    /// ```
    pub fn lazy(url: &str, prefix: &str, bounds: LogBounds) -> Result<Self, RedisError> {
        Ok(Self::new(
            Connection::single(url, COMMAND_TIMEOUT)?,
            prefix,
            bounds,
        ))
    }

    /// [`RedisEventLog::lazy`] on the Redis Cluster that `nodes` belong to.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), redis::RedisError> {
    /// use webhooks_core::event_log::LogBounds;
    /// use webhooks_redis::RedisEventLog;
    ///
    /// let nodes = ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"];
    /// let log = RedisEventLog::lazy_cluster(&nodes, "webhooks", LogBounds::default())?;
    /// # Ok(()) }
    /// ```
    pub fn lazy_cluster(
        nodes: &[&str],
        prefix: &str,
        bounds: LogBounds,
    ) -> Result<Self, RedisError> {
        Ok(Self::new(
            Connection::cluster(nodes, COMMAND_TIMEOUT)?,
            prefix,
            bounds,
        ))
    }

    fn new(connection: Connection, prefix: &str, bounds: LogBounds) -> Self {
        let tag = format!("{prefix}:{{events}}");
        Self {
            connection,
            keys: Keys {
                index: format!("{tag}:index"),
                seq: format!("{tag}:seq"),
                record_prefix: format!("{tag}:event:"),
            },
            bounds,
            scripts: Scripts::new(),
        }
    }

    /// The same log as another handle, for another part of this process.
    pub(crate) fn twin(&self) -> Self {
        Self {
            connection: self.connection.clone(),
            keys: self.keys.clone(),
            bounds: self.bounds,
            scripts: Scripts::new(),
        }
    }

    /// The bounds it keeps to.
    ///
    /// ```
    /// use webhooks_core::event_log::LogBounds;
    /// use webhooks_redis::RedisEventLog;
    ///
    /// // Nothing connects before the first use.
    /// let bounds = LogBounds { max_events: 1000, ..LogBounds::default() };
    /// let log = RedisEventLog::lazy("redis://127.0.0.1:6379/0", "webhooks", bounds)?;
    /// assert_eq!(log.bounds().max_events, 1000);
    /// # Ok::<_, webhooks_redis::RedisError>(())
    /// ```
    pub fn bounds(&self) -> LogBounds {
        self.bounds
    }

    /// The record's key: `<prefix>:{events}:event:<source>:<id>`.
    pub(crate) fn record_key(&self, source: &str, id: &str) -> String {
        // One allocation of the exact length (`format!` grows as it goes).
        [self.keys.record_prefix.as_str(), source, ":", id].concat()
    }

    /// How many arguments, and about how many bytes, the `received`
    /// script's keys and arguments take.
    pub(crate) fn received_size(&self, event: &Received<'_>) -> (usize, usize) {
        let kept = event.body.map_or(0, <[u8]>::len) + event.headers.map_or(0, <[u8]>::len);
        let names = event.source.len() * 3 + event.id.len() * 3 + event.event_type.len();
        let bytes = kept + names + 3 * self.keys.record_prefix.len() + 160;
        (3 + received_arg_count(event), bytes)
    }

    /// The `received` script's keys: the record, the index, the sequence.
    pub(crate) fn received_keys(&self, cmd: &mut Cmd, record: &str) {
        cmd.arg(record).arg(&self.keys.index).arg(&self.keys.seq);
    }

    /// The `received` script's arguments for `event`.
    pub(crate) fn received_args(&self, cmd: &mut Cmd, event: &Received<'_>) {
        let at = epoch_ms(event.at);
        let retention = millis(self.bounds.retention).max(1);
        cmd.arg(Member(event.source, event.id))
            .arg(match event.arrival {
                Arrival::Delivery => "delivery",
                Arrival::Replay => "replay",
            })
            .arg(event.source)
            .arg(event.id)
            .arg(event.event_type)
            .arg(at)
            // Kept while its age is at most the retention, as in memory.
            .arg(at.saturating_add(retention).saturating_add(1))
            .arg(at.saturating_sub(retention))
            .arg(retention)
            .arg(self.bounds.max_events.max(1))
            .arg(&self.keys.record_prefix);
        if let Some(body) = event.body {
            cmd.arg("body").arg(body);
        }
        if let Some(headers) = event.headers {
            cmd.arg("headers").arg(headers);
        }
    }

    /// Runs a script invocation on the connection.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        invocation
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)
    }
}

/// The `ran` script's arguments for `run`, written into `cmd`: the
/// listeners' runs as the JSON array the script merges, serialized in
/// place (no buffer of their own).
pub(crate) fn ran_args(cmd: &mut Cmd, run: &RunRecord) {
    cmd.arg(run.status.as_str());
    if run.status.is_final() {
        cmd.arg(epoch_ms(run.at));
    } else {
        cmd.arg("");
    }
    match &run.error {
        Some(error) => cmd.arg("1").arg(error.as_str()),
        None => cmd.arg("0").arg(""),
    };
    // Names, flags, numbers and optional strings: nothing serde_json can
    // refuse, written to memory that cannot fail.
    serde_json::to_writer(cmd.writer_for_next_arg(), &run.listeners)
        .expect("a listener's run serializes");
}

/// How many arguments, and about how many bytes, [`ran_args`] writes for
/// `run`: a command sized by it is written without growing.
pub(crate) fn ran_size(run: &RunRecord) -> (usize, usize) {
    let error = run.error.as_ref().map_or(0, String::len);
    let listeners: usize = run
        .listeners
        .iter()
        .map(|listener| {
            // `{"listener":"","ok":false,"duration_ms":,"error":""},` and
            // the number.
            listener.listener.len() + listener.error.as_ref().map_or(0, String::len) + 80
        })
        .sum();
    (5, error + listeners + 64)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl EventLog for RedisEventLog {
    async fn received(&self, event: &Received<'_>) -> Result<(), StoreError> {
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        let record = self.record_key(event.source, event.id);
        let _: i64 = self
            .scripts
            .received
            .run(&mut connection, 3, self.received_size(event), |cmd| {
                self.received_keys(cmd, &record);
                self.received_args(cmd, event);
            })
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn redelivered(&self, source: &str, id: &str) -> Result<(), StoreError> {
        let invocation = self.scripts.redelivered.key(self.record_key(source, id));
        self.invoke::<i64>(&invocation).await.map(drop)
    }

    async fn ran(&self, source: &str, id: &str, run: &RunRecord) -> Result<(), StoreError> {
        let record = self.record_key(source, id);
        let (args, bytes) = ran_size(run);
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        let _: i64 = self
            .scripts
            .ran
            .run(
                &mut connection,
                1,
                (args + 1, bytes + record.len()),
                |cmd| {
                    cmd.arg(&record);
                    ran_args(cmd, run);
                },
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, source: &str, id: &str) -> Result<Option<EventRecord>, StoreError> {
        let mut connection = self.connection.get().await.map_err(unavailable)?;
        let fields: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
            .arg(self.record_key(source, id))
            .query_async(&mut connection)
            .await
            .map_err(unavailable)?;
        record::record(|name| fields.get(name).map(Vec::as_slice))
    }

    async fn list(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let cursor = match &query.cursor {
            None => String::new(),
            Some(cursor) => cursor
                .parse::<u64>()
                .map_err(|_| StoreError::new(format!("not a cursor of this log: `{cursor}`")))?
                .to_string(),
        };
        let limit = query.limit.clamp(1, EventQuery::MAX_LIMIT);
        let optional_ms = |at: Option<std::time::SystemTime>| {
            at.map(|at| epoch_ms(at).to_string()).unwrap_or_default()
        };
        let mut invocation = self.scripts.list.key(&self.keys.index);
        invocation
            .arg(&self.keys.record_prefix)
            .arg(cursor)
            .arg(limit)
            .arg(SCAN_BUDGET)
            .arg(query.source.as_deref().unwrap_or(""))
            .arg(query.status.map_or("", |status| status.as_str()))
            .arg(query.event_type.as_deref().unwrap_or(""))
            .arg(optional_ms(query.since))
            .arg(optional_ms(query.until));
        let answer: Vec<Option<Vec<u8>>> = self.invoke(&invocation).await?;
        let Some((next, fields)) = answer.split_first() else {
            return Err(StoreError::new("an empty answer to an event log listing"));
        };
        let next = next
            .as_deref()
            .filter(|next| !next.is_empty())
            .map(|next| String::from_utf8_lossy(next).into_owned());
        let mut events = Vec::with_capacity(fields.len() / LISTED.len());
        for values in fields.chunks_exact(LISTED.len()) {
            let field = |name: &str| {
                let at = LISTED.iter().position(|listed| *listed == name)?;
                values[at].as_deref()
            };
            events.extend(record::record(field)?);
        }
        Ok(EventPage::new(events, next))
    }
}

impl fmt::Debug for RedisEventLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: it is not kept, and never printed.
        f.debug_struct("RedisEventLog")
            .field("index", &self.keys.index)
            .field("cluster", &self.connection.is_cluster())
            .field("bounds", &self.bounds)
            .finish_non_exhaustive()
    }
}

/// How many arguments [`RedisEventLog::received_args`] writes for `event`:
/// eleven, then a `field, value` pair for its body and for its headers.
pub(crate) fn received_arg_count(event: &Received<'_>) -> usize {
    11 + 2 * usize::from(event.body.is_some()) + 2 * usize::from(event.headers.is_some())
}

/// `<source>:<id>`, the index member, written without a `String` of its own.
struct Member<'a>(&'a str, &'a str);

impl ToRedisArgs for Member<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let mut member = out.writer_for_next_arg();
        member
            .write_all(self.0.as_bytes())
            .expect("writing to memory");
        member.write_all(b":").expect("writing to memory");
        member
            .write_all(self.1.as_bytes())
            .expect("writing to memory");
    }
}
