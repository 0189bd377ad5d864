//! The Prometheus metrics of the contract.

mod collector;

/// The `prometheus` crate these metrics are a [`prometheus::core::Collector`]
/// of: register them with this version's `Registry`.
pub use prometheus;
mod families;
mod series;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::{Encoder, TextEncoder};

use self::series::{Series, THREAD_SERIES};

/// How a delivery was answered, the `outcome` of `webhooks_received_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Received {
    /// New and recorded.
    Accepted,
    /// Recorded before: a redelivery.
    Duplicate,
    /// Being processed elsewhere (409).
    InProgress,
    /// Signature missing, malformed, wrong or stale (401).
    InvalidSignature,
    /// Verified but not parseable (400).
    BadRequest,
    /// Over the body limit (413).
    TooLarge,
    /// Store or queue unavailable or full (503).
    Unavailable,
    /// The client is not in the source's `allow-ips` (403).
    Forbidden,
}

impl Received {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::InProgress => "in_progress",
            Self::InvalidSignature => "invalid_signature",
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::Unavailable => "unavailable",
            Self::Forbidden => "forbidden",
        }
    }
}

/// How a listener run ended, the `outcome` of `webhooks_handled_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Handled {
    /// The listener succeeded.
    Ok,
    /// The listener failed or panicked.
    Error,
    /// No listener matched the event.
    Ignored,
}

impl Handled {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Ignored => "ignored",
        }
    }
}

/// The processor's counters, gauges and histogram, exposed as Prometheus
/// text: the `webhooks_*` metrics of the contract.
///
/// A processor names each source's listeners here when it is built, so a
/// listener run is counted under its listener's name (`listener` label)
/// without a lookup by name per run.
///
/// Recording never makes two threads write the same memory: each series
/// keeps one cache-line-aligned block of counters per shard (and one per
/// shard and listener), a thread
/// always writes its own shard, and each thread finds a series through its
/// own cache (the shared index is locked only the first time a thread meets
/// a series). Shards are summed when the text is encoded.
///
/// Cloning shares the same series.
///
/// ```
/// use webhooks_core::{Metrics, metrics::Received};
///
/// let metrics = Metrics::new();
/// metrics.received("stripe", "invoice.paid", Received::Accepted);
/// let text = metrics.encode();
/// assert!(text.contains(r#"webhooks_received_total{event_type="invoice.paid",outcome="accepted",source="stripe"} 1"#));
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

/// Series by source, then by event type.
type SeriesBySource = HashMap<Box<str>, SourceSeries>;

/// A source's series, and what its processor told of it.
#[derive(Default)]
struct SourceSeries {
    /// The `listener` labels of slots 1.. (slot 0 is `""`, no listener).
    listeners: Arc<[Box<str>]>,
    /// Whether its events go through a queue (`webhooks_queue_depth`).
    queued: bool,
    types: HashMap<Box<str>, Arc<Series>>,
}

/// The `event_type` label of deliveries refused before their type was known.
const UNKNOWN: &str = "unknown";
/// The `event_type` label that takes every event type of a source past the
/// first [`Metrics::MAX_EVENT_TYPES`].
const OTHER: &str = "other";

struct Inner {
    /// Tells this set of series apart in the threads' caches.
    id: u64,
    /// Every series, by source and event type: at most
    /// [`Metrics::MAX_EVENT_TYPES`] event types per source, besides
    /// `unknown` and `other`.
    series: Mutex<SeriesBySource>,
    /// Claims lost while listeners ran, by source: rare, so a plain map.
    claims_lost: Mutex<std::collections::BTreeMap<Box<str>, u64>>,
    /// Event log writes that failed.
    event_log_errors: std::sync::atomic::AtomicU64,
    /// The families' descriptions, for [`prometheus::core::Collector`].
    descs: Vec<prometheus::core::Desc>,
    /// Dead letters by source, as the queue last reported them.
    dead_letters: Mutex<std::collections::BTreeMap<Box<str>, u64>>,
}

/// The upper bounds of the processing-time buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

const RECEIVED: [Received; 8] = [
    Received::Accepted,
    Received::Duplicate,
    Received::InProgress,
    Received::InvalidSignature,
    Received::BadRequest,
    Received::TooLarge,
    Received::Unavailable,
    Received::Forbidden,
];

const HANDLED: [Handled; 3] = [Handled::Ok, Handled::Error, Handled::Ignored];

/// Tells sets of series apart in the threads' caches.
static NEXT_METRICS_ID: AtomicU64 = AtomicU64::new(0);

impl Metrics {
    /// The most distinct `event_type` labels a source gets (besides
    /// `unknown` and `other`): a later new type is counted as `other`, while
    /// a type seen before keeps its own label. Event types of some schemes
    /// are not signed (GitHub's `X-GitHub-Event`), so a replayed delivery
    /// could otherwise add a series per request, forever.
    ///
    /// ```
    /// use webhooks_core::{Metrics, metrics::Received};
    ///
    /// let metrics = Metrics::new();
    /// for n in 0..=Metrics::MAX_EVENT_TYPES {
    ///     metrics.received("github", &format!("forged-{n}"), Received::Accepted);
    /// }
    /// let text = metrics.encode();
    /// assert!(text.contains(r#"event_type="forged-99""#));
    /// assert!(text.contains(r#"{event_type="other",outcome="accepted",source="github"} 1"#));
    /// ```
    pub const MAX_EVENT_TYPES: usize = 100;

    /// Fresh series, all zero.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                id: NEXT_METRICS_ID.fetch_add(1, Ordering::Relaxed),
                series: Mutex::new(HashMap::new()),
                claims_lost: Mutex::default(),
                event_log_errors: std::sync::atomic::AtomicU64::new(0),
                descs: collector::descs(),
                dead_letters: Mutex::default(),
            }),
        }
    }

    /// Counts a delivery; `event_type` is `unknown` when it was refused
    /// before its type was known.
    pub fn received(&self, source: &str, event_type: &str, outcome: Received) {
        self.with_series(source, event_type, |series| {
            series.shard().received[outcome as usize].fetch_add(1, Ordering::Relaxed);
        });
    }

    /// Names a source's listeners, the `listener` labels of slots 1.. in
    /// order, and says whether its events are queued. A processor does it
    /// when it is built, before the source's first event: series made
    /// before keep the listeners they were made with.
    pub(crate) fn describe_source<'a>(
        &self,
        source: &str,
        listeners: impl IntoIterator<Item = &'a str>,
        queued: bool,
    ) {
        let mut all = lock(&self.inner.series);
        let entry = all.entry(source.into()).or_default();
        if entry.types.is_empty() {
            entry.listeners = listeners.into_iter().map(Box::from).collect();
        }
        entry.queued |= queued;
    }

    /// Counts a listener run (`slot` 1.. as described), or an event no
    /// listener matched (slot 0, [`Handled::Ignored`]).
    pub(crate) fn handled(&self, source: &str, event_type: &str, slot: usize, outcome: Handled) {
        self.with_series(source, event_type, |series| {
            if let Some(counts) = series.listener(slot) {
                counts.handled[outcome as usize].fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Counts a failed listener run scheduled for another attempt,
    /// `webhooks_retries_total`.
    pub(crate) fn retried(&self, source: &str, event_type: &str, slot: usize) {
        self.with_series(source, event_type, |series| {
            if let Some(counts) = series.listener(slot) {
                counts.retries.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Counts an event into the queue (`+1`) or out of it, settled (`-1`):
    /// `webhooks_queue_depth`.
    pub(crate) fn queue_moved(&self, source: &str, event_type: &str, change: i64) {
        self.with_series(source, event_type, |series| {
            // Two's complement: the wrapping sum of the shards is the depth.
            let change = change as u64;
            series
                .shard()
                .queue_depth
                .fetch_add(change, Ordering::Relaxed);
        });
    }

    /// Counts a claim found lost when its listeners finished (answered 503:
    /// another delivery may have run them too), `webhooks_claims_lost_total`.
    pub fn claim_lost(&self, source: &str) {
        *lock(&self.inner.claims_lost)
            .entry(source.into())
            .or_default() += 1;
    }

    /// Counts a write to the event log that failed (the delivery's answer
    /// was unchanged), `webhooks_event_log_errors_total`.
    pub fn event_log_failed(&self) {
        self.inner.event_log_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the `webhooks_dead_letters{source}` gauge to the queue's count of
    /// dead letters per source (every source not listed has none).
    pub fn set_dead_letters<'a>(&self, counts: impl IntoIterator<Item = (&'a str, u64)>) {
        let counts = counts
            .into_iter()
            .map(|(source, n)| (source.into(), n))
            .collect();
        *lock(&self.inner.dead_letters) = counts;
    }

    /// Records how long a delivery took to answer.
    pub fn observe_processing(&self, source: &str, event_type: &str, seconds: f64) {
        let bucket = BUCKETS.iter().position(|&bound| seconds <= bound);
        let nanos = (seconds.max(0.0) * 1e9) as u64;
        self.with_series(source, event_type, |series| {
            let shard = series.shard();
            if let Some(bucket) = bucket {
                shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
            }
            shard.count.fetch_add(1, Ordering::Relaxed);
            shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        });
    }

    /// Runs `record` on the series, found through this thread's cache.
    fn with_series(&self, source: &str, event_type: &str, record: impl FnOnce(&Series)) {
        let id = self.inner.id;
        THREAD_SERIES.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(series) = cache.find(id, source, event_type) {
                record(series);
                return;
            }
            let (series, own) = self.series(source, event_type);
            record(&series);
            // An event type past the cap is not cached under its own name:
            // new ones would only push the real series out of the cache.
            if own {
                cache.insert(id, source, event_type, series);
            }
        });
    }

    /// The shared series of a source and event type, made on first use, and
    /// whether it is that type's own: past [`Metrics::MAX_EVENT_TYPES`], a
    /// new type gets the source's `other` series.
    fn series(&self, source: &str, event_type: &str) -> (Arc<Series>, bool) {
        let mut all = lock(&self.inner.series);
        if !all.contains_key(source) {
            all.insert(source.into(), SourceSeries::default());
        }
        let entry = all.get_mut(source).expect("inserted just above");
        let listeners = entry.listeners.len();
        let types = &mut entry.types;
        if let Some(series) = types.get(event_type) {
            return (Arc::clone(series), true);
        }
        let reserved = [UNKNOWN, OTHER];
        let labelled = types.len() - reserved.iter().filter(|r| types.contains_key(**r)).count();
        let own = reserved.contains(&event_type) || labelled < Self::MAX_EVENT_TYPES;
        let label = if own { event_type } else { OTHER };
        let series = types
            .entry(label.into())
            .or_insert_with(|| Arc::new(Series::new(listeners)));
        (Arc::clone(series), own)
    }

    /// The Prometheus text exposition of every series.
    pub fn encode(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.families(), &mut buffer)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }

    /// The content type of [`Metrics::encode`]'s output.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Each update under the lock is one map insert: a panic cannot leave
    // it half done, so a poisoned lock is still consistent.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field(
                "series",
                &lock(&self.inner.series)
                    .values()
                    .map(|source| source.types.len())
                    .sum::<usize>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests;
