//! The metric families of an encoding: every shard summed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};

use super::collector::FAMILIES;
use super::series::Series;
use super::{BUCKETS, HANDLED, Metrics, RECEIVED, lock};

/// One series, with its source's labels.
struct Labelled {
    source: Arc<str>,
    event_type: Box<str>,
    /// The `listener` labels of the slots: `""`, then the source's.
    listeners: Arc<[Box<str>]>,
    queued: bool,
    series: Arc<Series>,
}

/// The samples of each family, built series by series.
#[derive(Default)]
struct Samples {
    received: Vec<Metric>,
    handled: Vec<Metric>,
    processing: Vec<Metric>,
    /// By source, then listener.
    retries: BTreeMap<(Arc<str>, Box<str>), u64>,
    /// By source: queued sources only.
    queue_depth: BTreeMap<Arc<str>, i64>,
}

impl Metrics {
    /// The metric families, shards summed, series in label order.
    pub(super) fn families(&self) -> Vec<MetricFamily> {
        let mut samples = Samples::default();
        for labelled in self.snapshot() {
            samples.add(&labelled);
        }
        let claims_lost = lock(&self.inner.claims_lost)
            .iter()
            .map(|(source, &lost)| counter(&[("source", source)], lost))
            .collect();
        let dead_letters = lock(&self.inner.dead_letters)
            .iter()
            .map(|(source, &count)| gauge(source, count as f64))
            .collect();
        let queue_depth = samples
            .queue_depth
            .iter()
            .map(|(source, &depth)| gauge(source, depth.max(0) as f64))
            .collect();
        let retries = samples
            .retries
            .iter()
            .map(|((source, listener), &n)| {
                counter(&[("listener", listener), ("source", source)], n)
            })
            .collect();
        let log_errors = self.inner.event_log_errors.load(Ordering::Relaxed);
        let samples_by_family = [
            vec![counter(&[], log_errors)],
            dead_letters,
            queue_depth,
            claims_lost,
            samples.received,
            samples.handled,
            retries,
            samples.processing,
        ];
        let kinds = [
            MetricType::COUNTER,
            MetricType::GAUGE,
            MetricType::GAUGE,
            MetricType::COUNTER,
            MetricType::COUNTER,
            MetricType::COUNTER,
            MetricType::COUNTER,
            MetricType::HISTOGRAM,
        ];
        FAMILIES
            .into_iter()
            .zip(kinds)
            .zip(samples_by_family)
            .map(|(((name, help, _), kind), metrics)| (name, help, kind, metrics))
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

    /// Every series with its labels, in label order, and a series-less
    /// entry for each queued source that has none yet (its depth is 0).
    fn snapshot(&self) -> Vec<Labelled> {
        let all = lock(&self.inner.series);
        let mut series = Vec::new();
        for (source, entry) in all.iter() {
            let source: Arc<str> = Arc::from(&**source);
            let listeners: Arc<[Box<str>]> = std::iter::once(Box::from(""))
                .chain(entry.listeners.iter().cloned())
                .collect();
            if entry.types.is_empty() && entry.queued {
                series.push(Labelled {
                    source: Arc::clone(&source),
                    event_type: "".into(),
                    listeners: Arc::clone(&listeners),
                    queued: true,
                    series: Arc::new(Series::new(0)),
                });
            }
            for (event_type, one) in &entry.types {
                series.push(Labelled {
                    source: Arc::clone(&source),
                    event_type: event_type.clone(),
                    listeners: Arc::clone(&listeners),
                    queued: entry.queued,
                    series: Arc::clone(one),
                });
            }
        }
        series.sort_by(|a, b| (&a.event_type, &a.source).cmp(&(&b.event_type, &b.source)));
        series
    }
}

impl Samples {
    /// Adds one series' samples.
    fn add(&mut self, labelled: &Labelled) {
        let Labelled {
            source,
            event_type,
            listeners,
            queued,
            series,
        } = labelled;
        let (source, event_type) = (&**source, &**event_type);
        for (index, outcome) in RECEIVED.iter().enumerate() {
            let value = series.sum(|shard| &shard.received[index]);
            if value > 0 {
                let labels = [
                    ("event_type", event_type),
                    ("outcome", outcome.as_str()),
                    ("source", source),
                ];
                self.received.push(counter(&labels, value));
            }
        }
        for slot in 0..series.slots() {
            let listener = listeners.get(slot).map_or("", |name| &**name);
            for (index, outcome) in HANDLED.iter().enumerate() {
                let value = series.sum_listener(slot, |counts| &counts.handled[index]);
                if value > 0 {
                    let labels = [
                        ("event_type", event_type),
                        ("listener", listener),
                        ("outcome", outcome.as_str()),
                        ("source", source),
                    ];
                    self.handled.push(counter(&labels, value));
                }
            }
            let retries = series.sum_listener(slot, |counts| &counts.retries);
            if retries > 0 {
                let key = (Arc::clone(&labelled.source), Box::from(listener));
                *self.retries.entry(key).or_default() += retries;
            }
        }
        if *queued {
            let depth = series.sum(|shard| &shard.queue_depth) as i64;
            *self
                .queue_depth
                .entry(Arc::clone(&labelled.source))
                .or_default() += depth;
        }
        if let Some(histogram) = histogram(series) {
            let mut metric = Metric::default();
            metric.set_label(labels(&[("event_type", event_type), ("source", source)]));
            metric.set_histogram(histogram);
            self.processing.push(metric);
        }
    }
}

/// The processing-time histogram of a series, if it has observations.
fn histogram(series: &Series) -> Option<Histogram> {
    let count = series.sum(|shard| &shard.count);
    if count == 0 {
        return None;
    }
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
    Some(histogram)
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

fn counter(pairs: &[(&str, &str)], value: u64) -> Metric {
    let mut counter = Counter::default();
    counter.set_value(value as f64);
    let mut metric = Metric::default();
    metric.set_label(labels(pairs));
    metric.set_counter(counter);
    metric
}

fn gauge(source: &str, value: f64) -> Metric {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::default();
    metric.set_label(labels(&[("source", source)]));
    metric.set_gauge(gauge);
    metric
}
