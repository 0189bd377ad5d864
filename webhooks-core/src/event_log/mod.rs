//! The event log: what was received and what became of it.
//!
//! The core's lifecycle writes it, the same way for every backend: a record
//! when an event is claimed (or replayed), a count when a redelivery is
//! caught, and each run's outcome. A backend implements [`EventLog`]'s
//! storage steps and nothing else; writing the log never decides an answer.

mod erased;
mod memory;
mod time;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{StoreError, WebhookEvent};

pub(crate) use self::erased::Log;
pub use self::memory::InMemoryEventLog;
pub use self::time::{format_time, parse_time};

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EventStatus {
    /// Claimed and running, or queued and waiting for a worker.
    Processing,
    /// Every listener succeeded.
    Succeeded,
    /// Queued: a listener failed; another attempt is due.
    Retrying,
    /// Inline: a listener failed; the provider's redelivery runs it again.
    Failed,
    /// Queued: given up after every attempt; a dead letter.
    Dead,
}

impl EventStatus {
    /// Every status, in the order of an event's life.
    pub const ALL: [Self; 5] = [
        Self::Processing,
        Self::Succeeded,
        Self::Retrying,
        Self::Failed,
        Self::Dead,
    ];

    /// The status as the admin API writes it.
    ///
    /// ```
    /// use webhooks_core::event_log::EventStatus;
    ///
    /// assert_eq!(EventStatus::Dead.as_str(), "dead");
    /// assert_eq!("succeeded".parse::<EventStatus>(), Ok(EventStatus::Succeeded));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Succeeded => "succeeded",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    /// Whether nothing more happens to the event unless someone acts.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Dead)
    }
}

impl fmt::Display for EventStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`EventStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status `{0}`: expected processing, succeeded, retrying, failed or dead")]
pub struct UnknownStatus(pub String);

impl FromStr for EventStatus {
    type Err = UnknownStatus;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| UnknownStatus(name.to_owned()))
    }
}

/// How one listener's last run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListenerRun {
    /// The listener's name (its function's path for `#[webhook_listener]`).
    pub listener: Arc<str>,
    /// `true` when it returned `Ok`.
    pub ok: bool,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
    /// Its error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ListenerRun {
    /// A listener's run, as the lifecycle reports it.
    pub fn new(listener: impl Into<Arc<str>>, duration_ms: u64, error: Option<String>) -> Self {
        Self {
            listener: listener.into(),
            ok: error.is_none(),
            duration_ms,
            error,
        }
    }
}

/// One event's record.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventRecord {
    /// The configured source.
    pub source: String,
    /// The idempotency key: the provider's delivery or event id.
    pub id: String,
    /// The event type (empty for sources that send none).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Where it stands.
    pub status: EventStatus,
    /// Runs of its listeners that ended, replays included.
    pub attempts: u32,
    /// Deliveries of the same key after the first (duplicates caught, or a
    /// provider's retry after a failure).
    pub redeliveries: u32,
    /// Times an operator replayed it.
    pub replays: u32,
    /// When it first arrived.
    #[serde(with = "time::rfc3339")]
    pub received_at: SystemTime,
    /// When its last run ended with a final status.
    #[serde(default, with = "time::rfc3339_option")]
    pub finished_at: Option<SystemTime>,
    /// Per listener, its last run.
    #[serde(default)]
    pub listeners: Vec<ListenerRun>,
    /// The last run's error, or the reason it was dead-lettered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The raw body, when `keep-bodies` is on and the log still holds it.
    #[serde(default, with = "time::body", skip_serializing_if = "Option::is_none")]
    pub body: Option<Bytes>,
    /// The request headers as `name: value\r\n` lines, those that carry a
    /// secret left out; kept with the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<String>,
}

impl EventRecord {
    /// A record as a backend reads it back, with no run, body or headers.
    pub fn new(
        source: impl Into<String>,
        id: impl Into<String>,
        event_type: impl Into<String>,
        status: EventStatus,
        received_at: SystemTime,
    ) -> Self {
        Self {
            source: source.into(),
            id: id.into(),
            event_type: event_type.into(),
            status,
            attempts: 0,
            redeliveries: 0,
            replays: 0,
            received_at,
            finished_at: None,
            listeners: Vec::new(),
            error: None,
            body: None,
            headers: None,
        }
    }

    /// Applies an arrival to an existing record: a redelivery after a
    /// failure, or a replay, runs it again.
    pub fn arrived_again(&mut self, arrival: Arrival) {
        match arrival {
            Arrival::Delivery => self.redeliveries = self.redeliveries.saturating_add(1),
            Arrival::Replay => self.replays = self.replays.saturating_add(1),
        }
        self.status = EventStatus::Processing;
        self.finished_at = None;
    }

    /// Applies a run's outcome: counts the attempt, sets the status, the
    /// error and the finish time, and each listener's last run.
    pub fn apply(&mut self, run: &RunRecord) {
        self.attempts = self.attempts.saturating_add(1);
        self.status = run.status;
        self.finished_at = run.status.is_final().then_some(run.at);
        self.error.clone_from(&run.error);
        merge_runs(&mut self.listeners, run.listeners.iter().cloned());
    }

    /// Whether the record passes the query's filters (not its cursor).
    pub fn matches(&self, query: &EventQuery) -> bool {
        query.admits(
            &self.source,
            self.status,
            &self.event_type,
            self.received_at,
        )
    }
}

impl fmt::Debug for EventRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRecord")
            .field("source", &self.source)
            .field("id", &self.id)
            .field("event_type", &self.event_type)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("redeliveries", &self.redeliveries)
            .field("replays", &self.replays)
            .field("received_at", &self.received_at)
            .field("finished_at", &self.finished_at)
            .field("listeners", &self.listeners)
            .field("error", &self.error)
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

/// Each listener's last run: `runs` replace those of the same listener, in
/// place, and the others are added after (what [`EventRecord::apply`] and
/// the in-memory log do).
pub(crate) fn merge_runs(last: &mut Vec<ListenerRun>, runs: impl IntoIterator<Item = ListenerRun>) {
    for ran in runs {
        match last.iter_mut().find(|l| l.listener == ran.listener) {
            Some(previous) => *previous = ran,
            None => last.push(ran),
        }
    }
}

/// Why an event's record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A delivery claimed it: the first, or a provider's retry after a
    /// failure.
    Delivery,
    /// An operator replayed it.
    Replay,
}

/// A claimed (or replayed) event, as the lifecycle hands it to
/// [`EventLog::received`]: the backend copies what it keeps.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Received<'a> {
    /// The configured source.
    pub source: &'a str,
    /// The idempotency key.
    pub id: &'a str,
    /// The event type.
    pub event_type: &'a str,
    /// When it arrived.
    pub at: SystemTime,
    /// A delivery or a replay.
    pub arrival: Arrival,
    /// The raw body, when bodies are kept.
    pub body: Option<&'a [u8]>,
    /// The headers as lines without secrets, when bodies are kept.
    pub headers: Option<&'a [u8]>,
    /// The buffer `body` is, when the lifecycle has it: a log in this
    /// process may keep a large body by reference instead of copying it.
    pub(crate) shared_body: Option<&'a Bytes>,
    /// The headers whose lines without secrets a log in this process
    /// writes itself, when `body` is kept and `headers` was not written.
    pub(crate) header_lines: Option<&'a crate::Headers>,
}

impl<'a> Received<'a> {
    /// What a backend records for a new key: status `processing`, no run.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhooks_core::event_log::{Arrival, EventStatus, Received};
    ///
    /// let received = Received::new("stripe", "evt_1", "invoice.paid", SystemTime::now(), Arrival::Delivery)
    ///     .with_body(b"{}", b"content-type: application/json\r\n");
    /// let record = received.to_record();
    /// assert_eq!((record.status, record.attempts), (EventStatus::Processing, 0));
    /// assert_eq!(record.body.as_deref(), Some(&b"{}"[..]));
    /// ```
    pub fn to_record(&self) -> EventRecord {
        let mut record = EventRecord::new(
            self.source,
            self.id,
            self.event_type,
            EventStatus::Processing,
            self.at,
        );
        if self.arrival == Arrival::Replay {
            record.replays = 1;
        }
        record.body = self.body.map(Bytes::copy_from_slice);
        record.headers = self
            .headers
            .map(|lines| String::from_utf8_lossy(lines).into_owned());
        record
    }

    /// An arrival with no body kept.
    pub fn new(
        source: &'a str,
        id: &'a str,
        event_type: &'a str,
        at: SystemTime,
        arrival: Arrival,
    ) -> Self {
        Self {
            source,
            id,
            event_type,
            at,
            arrival,
            body: None,
            headers: None,
            shared_body: None,
            header_lines: None,
        }
    }

    /// The same arrival, with its body and headers kept.
    #[must_use]
    pub fn with_body(mut self, body: &'a [u8], headers: &'a [u8]) -> Self {
        self.body = Some(body);
        self.headers = Some(headers);
        self.shared_body = None;
        self.header_lines = None;
        self
    }

    /// The arrival of `event`; with its body when `headers` (the lines
    /// kept, without secrets) are given.
    pub(crate) fn of(event: &'a WebhookEvent, arrival: Arrival, headers: Option<&'a [u8]>) -> Self {
        let received = Self::new(
            event.source(),
            event.id(),
            event.event_type(),
            event.received_at(),
            arrival,
        );
        match headers {
            Some(headers) => Self {
                shared_body: Some(event.body()),
                ..received.with_body(event.body(), headers)
            },
            None => received,
        }
    }

    /// The arrival of `event` with its body, for a log in this process,
    /// which writes the header lines itself (no copy of them made first).
    pub(crate) fn with_header_lines(event: &'a WebhookEvent, arrival: Arrival) -> Self {
        Self {
            body: Some(event.body()),
            shared_body: Some(event.body()),
            header_lines: Some(event.headers()),
            ..Self::of(event, arrival, None)
        }
    }
}

/// How a run of an event's listeners ended, as the lifecycle decided.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunRecord {
    /// The status it leaves the event in.
    pub status: EventStatus,
    /// When it ended.
    pub at: SystemTime,
    /// The listeners that ran.
    pub listeners: Vec<ListenerRun>,
    /// The error, or the reason it was given up.
    pub error: Option<String>,
}

impl RunRecord {
    /// A run's outcome.
    pub fn new(status: EventStatus, listeners: Vec<ListenerRun>, error: Option<String>) -> Self {
        Self {
            status,
            at: SystemTime::now(),
            listeners,
            error,
        }
    }
}

/// What to list: filters, newest first, a page at a time.
///
/// ```
/// use webhooks_core::event_log::{EventQuery, EventStatus};
///
/// let query = EventQuery::default().source("stripe").status(EventStatus::Dead).limit(20);
/// assert_eq!(query.limit, 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventQuery {
    /// Only this source's events.
    pub source: Option<String>,
    /// Only events in this status.
    pub status: Option<EventStatus>,
    /// Only events of this exact type.
    pub event_type: Option<String>,
    /// Only events received at or after this time.
    pub since: Option<SystemTime>,
    /// Only events received before this time.
    pub until: Option<SystemTime>,
    /// At most this many (1 to [`EventQuery::MAX_LIMIT`]).
    pub limit: usize,
    /// Where the previous page ended ([`EventPage::next`]).
    pub cursor: Option<String>,
}

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            source: None,
            status: None,
            event_type: None,
            since: None,
            until: None,
            limit: Self::DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl EventQuery {
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: usize = 50;
    /// The largest page.
    pub const MAX_LIMIT: usize = 1000;

    /// Only this source's events.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Only events in this status.
    #[must_use]
    pub fn status(mut self, status: EventStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only events of this exact type.
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Only events received in `[since, until)`.
    #[must_use]
    pub fn received(mut self, since: Option<SystemTime>, until: Option<SystemTime>) -> Self {
        self.since = since;
        self.until = until;
        self
    }

    /// Whether a record of this source, status, type and arrival time
    /// passes the filters (not the cursor): what a backend that filters
    /// records itself calls.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use webhooks_core::event_log::{EventQuery, EventStatus};
    ///
    /// let dead = EventQuery::default().source("stripe").status(EventStatus::Dead);
    /// assert!(dead.admits("stripe", EventStatus::Dead, "invoice.paid", SystemTime::now()));
    /// assert!(!dead.admits("github", EventStatus::Dead, "push", SystemTime::now()));
    /// ```
    pub fn admits(
        &self,
        source: &str,
        status: EventStatus,
        event_type: &str,
        received_at: SystemTime,
    ) -> bool {
        self.source.as_deref().is_none_or(|s| s == source)
            && self.status.is_none_or(|s| s == status)
            && self.event_type.as_deref().is_none_or(|t| t == event_type)
            && self.since.is_none_or(|since| received_at >= since)
            && self.until.is_none_or(|until| received_at < until)
    }

    /// At most this many, clamped to `1..=MAX_LIMIT`.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.clamp(1, Self::MAX_LIMIT);
        self
    }

    /// The page after the one that gave this cursor.
    #[must_use]
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One page of records, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventPage {
    /// The records, without their bodies.
    pub events: Vec<EventRecord>,
    /// The cursor of the next page; `None` on the last.
    pub next: Option<String>,
}

impl EventPage {
    /// A page, as a backend builds it.
    pub fn new(events: Vec<EventRecord>, next: Option<String>) -> Self {
        Self { events, next }
    }
}

/// How much an event log keeps: `[webhooks.event-log]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBounds {
    /// Records at most; the oldest go first.
    pub max_events: usize,
    /// No record older than this.
    pub retention: std::time::Duration,
    /// In memory: bytes of bodies and headers at most; beyond it the oldest
    /// records lose their bodies (their metadata stays).
    pub max_body_bytes: usize,
}

impl Default for LogBounds {
    fn default() -> Self {
        Self {
            max_events: 100_000,
            retention: std::time::Duration::from_secs(72 * 3600),
            max_body_bytes: 256 << 20,
        }
    }
}

/// The storage of the event log: every method is one step the lifecycle
/// takes; which step, and when, is the core's decision.
///
/// Implement it with plain `async fn`s; [`InMemoryEventLog`] is the
/// reference implementation, and the shared suite of the project's tests
/// (`tests/event_log_backends.rs`) runs against every backend.
///
/// ```
/// use std::time::SystemTime;
/// use webhooks_core::event_log::{Arrival, EventLog, EventQuery, EventStatus, Received, RunRecord};
/// use webhooks_core::InMemoryEventLog;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let log = InMemoryEventLog::default();
/// let now = SystemTime::now();
/// log.received(&Received::new("stripe", "evt_1", "invoice.paid", now, Arrival::Delivery)).await?;
/// log.ran("stripe", "evt_1", &RunRecord::new(EventStatus::Succeeded, Vec::new(), None)).await?;
/// let page = log.list(&EventQuery::default().source("stripe")).await?;
/// assert_eq!(page.events[0].status, EventStatus::Succeeded);
/// assert_eq!(page.events[0].attempts, 1);
/// # Ok::<_, webhooks_core::StoreError>(())
/// # }).unwrap();
/// ```
pub trait EventLog: Send + Sync + fmt::Debug + 'static {
    /// An event was claimed or replayed: creates its record (`processing`),
    /// or, for a key it has, sets it `processing` again and counts the
    /// redelivery or the replay (the first body kept stays).
    fn received(&self, event: &Received<'_>)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A redelivery of a key that was done or still running was caught:
    /// counts it on the record, if there is one.
    fn redelivered(
        &self,
        source: &str,
        id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A run ended: [`EventRecord::apply`] on the record, if there is one.
    fn ran(
        &self,
        source: &str,
        id: &str,
        run: &RunRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The record of one event, body included when kept.
    fn get(
        &self,
        source: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<EventRecord>, StoreError>> + Send;

    /// A page of records that match, newest first, without bodies.
    fn list(
        &self,
        query: &EventQuery,
    ) -> impl Future<Output = Result<EventPage, StoreError>> + Send;
}

impl<L: EventLog> EventLog for Arc<L> {
    async fn received(&self, event: &Received<'_>) -> Result<(), StoreError> {
        (**self).received(event).await
    }
    async fn redelivered(&self, source: &str, id: &str) -> Result<(), StoreError> {
        (**self).redelivered(source, id).await
    }
    async fn ran(&self, source: &str, id: &str, run: &RunRecord) -> Result<(), StoreError> {
        (**self).ran(source, id, run).await
    }
    async fn get(&self, source: &str, id: &str) -> Result<Option<EventRecord>, StoreError> {
        (**self).get(source, id).await
    }
    async fn list(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        (**self).list(query).await
    }
}

/// Why an event could not be replayed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// `[webhooks.event-log] enabled = false`: nothing was recorded.
    #[error("the event log is off")]
    NoEventLog,
    /// The log holds no record of that source and id.
    #[error("no such event")]
    NotFound,
    /// The record's source is no longer configured.
    #[error("the event's source is not configured")]
    UnknownSource,
    /// `keep-bodies = false`, or the body was dropped for the memory
    /// budget: ask the provider to resend it.
    #[error("the event's body was not kept: ask the provider to resend it")]
    BodyNotKept,
    /// The queue is full (queued dispatch).
    #[error("queue full")]
    QueueFull,
    /// The server is shutting down.
    #[error("shutting down")]
    ShuttingDown,
    /// The log or the queue did not answer.
    #[error(transparent)]
    Unavailable(StoreError),
}
