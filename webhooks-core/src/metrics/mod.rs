//! The Prometheus metrics of the contract.

mod families;
mod series;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::{Encoder, TextEncoder};

use self::series::{Series, Shard, THREAD_SERIES};

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

/// The processor's counters and histogram, exposed as Prometheus text.
///
/// Recording never makes two threads write the same memory: each series
/// keeps one cache-line-aligned block of counters per shard, a thread
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
type SeriesBySource = HashMap<Box<str>, HashMap<Box<str>, Arc<Series>>>;

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
                dead_letters: Mutex::default(),
            }),
        }
    }

    /// Counts a delivery; `event_type` is `unknown` when it was refused
    /// before its type was known.
    pub fn received(&self, source: &str, event_type: &str, outcome: Received) {
        self.with_shard(source, event_type, |shard| {
            shard.received[outcome as usize].fetch_add(1, Ordering::Relaxed);
        });
    }

    /// Counts a listener run, or an event no listener matched.
    pub fn handled(&self, source: &str, event_type: &str, outcome: Handled) {
        self.with_shard(source, event_type, |shard| {
            shard.handled[outcome as usize].fetch_add(1, Ordering::Relaxed);
        });
    }

    /// Counts a claim found lost when its listeners finished (answered 503:
    /// another delivery may have run them too), `webhooks_claims_lost_total`.
    pub fn claim_lost(&self, source: &str) {
        *lock(&self.inner.claims_lost)
            .entry(source.into())
            .or_default() += 1;
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
        self.with_shard(source, event_type, |shard| {
            if let Some(bucket) = bucket {
                shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
            }
            shard.count.fetch_add(1, Ordering::Relaxed);
            shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        });
    }

    /// Runs `record` on this thread's shard of the series.
    fn with_shard(&self, source: &str, event_type: &str, record: impl FnOnce(&Shard)) {
        let id = self.inner.id;
        THREAD_SERIES.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(series) = cache.find(id, source, event_type) {
                record(series.shard());
                return;
            }
            let (series, own) = self.series(source, event_type);
            record(series.shard());
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
            all.insert(source.into(), HashMap::new());
        }
        let types = all.get_mut(source).expect("inserted just above");
        if let Some(series) = types.get(event_type) {
            return (Arc::clone(series), true);
        }
        let reserved = [UNKNOWN, OTHER];
        let labelled = types.len() - reserved.iter().filter(|r| types.contains_key(**r)).count();
        let own = reserved.contains(&event_type) || labelled < Self::MAX_EVENT_TYPES;
        let label = if own { event_type } else { OTHER };
        let series = types
            .entry(label.into())
            .or_insert_with(|| Arc::new(Series::new()));
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
                    .map(HashMap::len)
                    .sum::<usize>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_order_matches_the_counter_slots() {
        for (index, outcome) in RECEIVED.iter().enumerate() {
            assert_eq!(*outcome as usize, index);
        }
        for (index, outcome) in HANDLED.iter().enumerate() {
            assert_eq!(*outcome as usize, index);
        }
    }

    /// The `webhooks_received_total` counts of `source`, by event type.
    fn received_by_type(metrics: &Metrics, source: &str) -> HashMap<String, u64> {
        let mut counts = HashMap::new();
        for family in metrics.families() {
            if family.name() != "webhooks_received_total" {
                continue;
            }
            for metric in family.get_metric() {
                let label = |name: &str| {
                    let pair = metric.get_label().iter().find(|p| p.name() == name);
                    pair.map(|p| p.value().to_owned()).unwrap_or_default()
                };
                if label("source") == source {
                    *counts.entry(label("event_type")).or_default() +=
                        metric.get_counter().get_value() as u64;
                }
            }
        }
        counts
    }

    #[test]
    fn event_types_past_the_cap_are_counted_as_other() {
        let metrics = Metrics::new();
        metrics.received("github", UNKNOWN, Received::InvalidSignature);
        for n in 0..150 {
            let event_type = format!("type-{n}");
            metrics.received("github", &event_type, Received::Accepted);
            metrics.handled("github", &event_type, Handled::Ignored);
            metrics.observe_processing("github", &event_type, 0.001);
        }
        // A type seen before keeps its label; a new one is `other`, on
        // every thread (each has its own cache).
        std::thread::scope(|scope| {
            scope.spawn(|| {
                metrics.received("github", "type-7", Received::Duplicate);
                metrics.received("github", "type-150", Received::Accepted);
            });
        });
        metrics.received("github", UNKNOWN, Received::BadRequest);
        metrics.received("stripe", "invoice.paid", Received::Accepted);
        let counts = received_by_type(&metrics, "github");
        assert_eq!(counts.len(), Metrics::MAX_EVENT_TYPES + 2, "{counts:?}");
        assert_eq!(counts["other"], 51);
        assert_eq!(counts["type-7"], 2);
        assert_eq!(counts["type-99"], 1);
        assert!(!counts.contains_key("type-100"), "{counts:?}");
        assert_eq!(counts[UNKNOWN], 2);
        assert_eq!(counts.values().sum::<u64>(), 154);
        assert_eq!(received_by_type(&metrics, "stripe")["invoice.paid"], 1);
        let text = metrics.encode();
        for line in [
            r#"webhooks_handled_total{event_type="other",outcome="ignored",source="github"} 50"#,
            r#"webhook_processing_seconds_count{event_type="other",source="github"} 50"#,
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
    }

    #[test]
    fn shards_of_every_thread_are_summed() {
        let metrics = Metrics::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let metrics = &metrics;
                scope.spawn(move || {
                    for _ in 0..1000 {
                        metrics.received("github", "push", Received::Accepted);
                        metrics.received("github", "issues.opened", Received::Duplicate);
                        metrics.handled("github", "push", Handled::Ok);
                        metrics.observe_processing("github", "push", 0.003);
                    }
                });
            }
        });
        let text = metrics.encode();
        for line in [
            r#"webhooks_received_total{event_type="push",outcome="accepted",source="github"} 4000"#,
            r#"webhooks_received_total{event_type="issues.opened",outcome="duplicate",source="github"} 4000"#,
            r#"webhooks_handled_total{event_type="push",outcome="ok",source="github"} 4000"#,
            r#"webhook_processing_seconds_bucket{event_type="push",source="github",le="0.0025"} 0"#,
            r#"webhook_processing_seconds_bucket{event_type="push",source="github",le="0.005"} 4000"#,
            r#"webhook_processing_seconds_bucket{event_type="push",source="github",le="+Inf"} 4000"#,
            r#"webhook_processing_seconds_count{event_type="push",source="github"} 4000"#,
            "# TYPE webhook_processing_seconds histogram",
            "# TYPE webhooks_received_total counter",
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
        let sum = text
            .lines()
            .find_map(|line| {
                line.strip_prefix(
                    r#"webhook_processing_seconds_sum{event_type="push",source="github"} "#,
                )
            })
            .expect("a sum line");
        assert!((sum.parse::<f64>().unwrap() - 12.0).abs() < 1e-6, "{sum}");
        // Two processors keep their own series, even on one thread.
        let other = Metrics::new();
        other.received("github", "push", Received::Accepted);
        assert!(other.encode().contains(r#"source="github"} 1"#));
        assert!(metrics.encode().contains(r#"source="github"} 4000"#));
    }
}
