//! The metric families of an encoding: every shard summed.

use std::sync::Arc;

use prometheus::proto::{Bucket, Counter, Histogram, LabelPair, Metric, MetricFamily, MetricType};

use super::{BUCKETS, HANDLED, Metrics, RECEIVED, lock};

impl Metrics {
    /// The metric families, shards summed, series in label order.
    pub(super) fn families(&self) -> Vec<MetricFamily> {
        let mut series: Vec<_> = lock(&self.inner.series)
            .iter()
            .flat_map(|(source, types)| {
                types.iter().map(|(event_type, series)| {
                    (source.clone(), event_type.clone(), Arc::clone(series))
                })
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
        let claims_lost = lock(&self.inner.claims_lost)
            .iter()
            .map(|(source, &lost)| {
                let mut counter = Counter::default();
                counter.set_value(lost as f64);
                let mut metric = Metric::default();
                metric.set_label(labels(&[("source", source)]));
                metric.set_counter(counter);
                metric
            })
            .collect::<Vec<_>>();
        let gauge = |source: &str, value: u64| {
            let mut gauge = prometheus::proto::Gauge::default();
            gauge.set_value(value as f64);
            let mut metric = Metric::default();
            metric.set_label(labels(&[("source", source)]));
            metric.set_gauge(gauge);
            metric
        };
        let dead_letters = lock(&self.inner.dead_letters)
            .iter()
            .map(|(source, &count)| gauge(source, count))
            .collect::<Vec<_>>();
        [
            (
                "webhooks_dead_letters",
                "Dead letters in the queue, by source, as last counted by this instance.",
                MetricType::GAUGE,
                dead_letters,
            ),
            (
                "webhooks_claims_lost_total",
                "Events whose claim was lost while their listeners ran (answered 503).",
                MetricType::COUNTER,
                claims_lost,
            ),
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
