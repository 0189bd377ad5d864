//! The Prometheus metrics of the contract.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use prometheus::proto::{Bucket, Counter, Histogram, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

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

/// Series by source and event type.
type SeriesBySource = HashMap<(Box<str>, Box<str>), Arc<Series>>;

/// Metrics id, then source, then event type: a position.
type Positions = HashMap<u64, HashMap<Box<str>, HashMap<Box<str>, usize>>>;

struct Inner {
    /// Tells this set of series apart in the threads' caches.
    id: u64,
    /// Every series, by source and event type.
    series: Mutex<SeriesBySource>,
}

/// The upper bounds of the processing-time buckets, in seconds.
const BUCKETS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

const RECEIVED: [Received; 7] = [
    Received::Accepted,
    Received::Duplicate,
    Received::InProgress,
    Received::InvalidSignature,
    Received::BadRequest,
    Received::TooLarge,
    Received::Unavailable,
];

const HANDLED: [Handled; 3] = [Handled::Ok, Handled::Error, Handled::Ignored];

/// Shards per series: enough that threads rarely share one.
const SHARDS: usize = 16;

/// The counters of one source and event type.
struct Series {
    shards: [Shard; SHARDS],
}

/// One thread's counters of a series, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    received: [AtomicU64; RECEIVED.len()],
    handled: [AtomicU64; HANDLED.len()],
    /// Observations per bucket (not cumulative); above the last bound only
    /// in `count`.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Series {
    fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| Shard::default()),
        }
    }

    /// The calling thread's shard.
    fn shard(&self) -> &Shard {
        &self.shards[THREAD_SHARD.with(|shard| *shard)]
    }

    fn sum(&self, field: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|shard| field(shard).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

static NEXT_METRICS_ID: AtomicU64 = AtomicU64::new(0);
static NEXT_THREAD_SHARD: AtomicUsize = AtomicUsize::new(0);

/// The most series a thread's cache keeps before it starts over, so
/// threads that outlive many processors do not keep their series forever.
const THREAD_CACHE_LIMIT: usize = 1024;

thread_local! {
    /// This thread's shard, the same in every series.
    static THREAD_SHARD: usize = NEXT_THREAD_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
    /// The series this thread has met.
    static THREAD_SERIES: RefCell<ThreadCache> = RefCell::new(ThreadCache::default());
}

/// A thread's way to its series without locking, allocating or touching a
/// shared reference count: the last one used first (a delivery records
/// three times in the same series), then an index.
#[derive(Default)]
struct ThreadCache {
    last: Option<usize>,
    entries: Vec<CachedSeries>,
    /// Metrics id, then source, then event type: position in `entries`.
    index: Positions,
}

struct CachedSeries {
    id: u64,
    source: Box<str>,
    event_type: Box<str>,
    series: Arc<Series>,
}

impl ThreadCache {
    fn find(&mut self, id: u64, source: &str, event_type: &str) -> Option<&Series> {
        let last = self.last.filter(|&last| {
            let entry = &self.entries[last];
            entry.id == id && *entry.source == *source && *entry.event_type == *event_type
        });
        let position = match last {
            Some(position) => position,
            None => *self.index.get(&id)?.get(source)?.get(event_type)?,
        };
        self.last = Some(position);
        Some(&self.entries[position].series)
    }

    fn insert(&mut self, id: u64, source: &str, event_type: &str, series: Arc<Series>) {
        if self.entries.len() >= THREAD_CACHE_LIMIT {
            *self = Self::default();
        }
        self.index
            .entry(id)
            .or_default()
            .entry(source.into())
            .or_default()
            .insert(event_type.into(), self.entries.len());
        self.entries.push(CachedSeries {
            id,
            source: source.into(),
            event_type: event_type.into(),
            series,
        });
    }
}

impl Metrics {
    /// Fresh series, all zero.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                id: NEXT_METRICS_ID.fetch_add(1, Ordering::Relaxed),
                series: Mutex::new(HashMap::new()),
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
            if cache.find(id, source, event_type).is_none() {
                let series = self.series(source, event_type);
                cache.insert(id, source, event_type, series);
            }
            let series = cache
                .find(id, source, event_type)
                .expect("inserted just above");
            record(series.shard());
        });
    }

    /// The shared series of a source and event type, made on first use.
    fn series(&self, source: &str, event_type: &str) -> Arc<Series> {
        let mut all = lock(&self.inner.series);
        Arc::clone(
            all.entry((source.into(), event_type.into()))
                .or_insert_with(|| Arc::new(Series::new())),
        )
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

    /// The metric families, shards summed, series in label order.
    fn families(&self) -> Vec<MetricFamily> {
        let mut series: Vec<_> = lock(&self.inner.series)
            .iter()
            .map(|((source, event_type), series)| {
                (source.clone(), event_type.clone(), Arc::clone(series))
            })
            .collect();
        series.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        let mut received = Vec::new();
        let mut handled = Vec::new();
        let mut processing = Vec::new();
        for (source, event_type, series) in &series {
            for (index, outcome) in RECEIVED.iter().enumerate() {
                let value = series.sum(|shard| &shard.received[index]);
                if value > 0 {
                    received.push(counter(source, event_type, outcome.as_str(), value));
                }
            }
            for (index, outcome) in HANDLED.iter().enumerate() {
                let value = series.sum(|shard| &shard.handled[index]);
                if value > 0 {
                    handled.push(counter(source, event_type, outcome.as_str(), value));
                }
            }
            let count = series.sum(|shard| &shard.count);
            if count > 0 {
                let mut cumulative = 0;
                let buckets = BUCKETS
                    .iter()
                    .enumerate()
                    .map(|(index, &bound)| {
                        cumulative += series.sum(|shard| &shard.buckets[index]);
                        let mut bucket = Bucket::default();
                        bucket.set_upper_bound(bound);
                        bucket.set_cumulative_count(cumulative);
                        bucket
                    })
                    .collect();
                let mut histogram = Histogram::default();
                histogram.set_bucket(buckets);
                histogram.set_sample_count(count);
                histogram.set_sample_sum(series.sum(|shard| &shard.sum_nanos) as f64 / 1e9);
                let mut metric = Metric::default();
                metric.set_label(labels(&[("event_type", event_type), ("source", source)]));
                metric.set_histogram(histogram);
                processing.push(metric);
            }
        }
        [
            (
                "webhooks_received_total",
                "Deliveries received, by how they were answered.",
                MetricType::COUNTER,
                received,
            ),
            (
                "webhooks_handled_total",
                "Listener runs, by outcome; ignored: no listener.",
                MetricType::COUNTER,
                handled,
            ),
            (
                "webhook_processing_seconds",
                "Time from a delivery's body being read to its answer.",
                MetricType::HISTOGRAM,
                processing,
            ),
        ]
        .into_iter()
        .filter(|(.., metrics)| !metrics.is_empty())
        .map(|(name, help, kind, metrics)| {
            let mut family = MetricFamily::default();
            family.set_name(name.into());
            family.set_help(help.into());
            family.set_field_type(kind);
            family.set_metric(metrics);
            family
        })
        .collect()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|&(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name(name.into());
            pair.set_value(value.into());
            pair
        })
        .collect()
}

fn counter(source: &str, event_type: &str, outcome: &str, value: u64) -> Metric {
    let mut counter = Counter::default();
    counter.set_value(value as f64);
    let mut metric = Metric::default();
    metric.set_label(labels(&[
        ("event_type", event_type),
        ("outcome", outcome),
        ("source", source),
    ]));
    metric.set_counter(counter);
    metric
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
            .field("series", &lock(&self.inner.series).len())
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
