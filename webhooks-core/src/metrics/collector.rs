//! [`Metrics`] as a `prometheus` [`Collector`]: our series beside the
//! application's, in the application's own registry.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;

use super::Metrics;

/// Every family's name, help and variable labels, as `/metrics` writes them.
pub(super) const FAMILIES: [(&str, &str, &[&str]); 8] = [
    (
        "webhooks_event_log_errors_total",
        "Event log writes that failed; the deliveries' answers were unchanged.",
        &[],
    ),
    (
        "webhooks_dead_letters",
        "Dead letters in the queue, by source, as last counted by this instance.",
        &["source"],
    ),
    (
        "webhooks_queue_depth",
        "Events the queue holds (waiting, running, or waiting for a retry), by source, as counted by this instance.",
        &["source"],
    ),
    (
        "webhooks_claims_lost_total",
        "Events whose claim was lost while their listeners ran (answered 503).",
        &["source"],
    ),
    (
        "webhooks_received_total",
        "Deliveries received, by how they were answered.",
        &["event_type", "outcome", "source"],
    ),
    (
        "webhooks_handled_total",
        "Listener runs, by listener and outcome; ignored: no listener (listener=\"\").",
        &["event_type", "listener", "outcome", "source"],
    ),
    (
        "webhooks_retries_total",
        "Failed listener runs scheduled for another attempt (queued dispatch).",
        &["listener", "source"],
    ),
    (
        "webhooks_processing_seconds",
        "Time from a delivery's body being read to its answer.",
        &["event_type", "source"],
    ),
];

/// The families' descriptions, built once per [`Metrics`].
pub(super) fn descs() -> Vec<Desc> {
    FAMILIES
        .iter()
        .map(|(name, help, labels)| {
            let labels = labels.iter().map(|label| (*label).to_owned()).collect();
            Desc::new((*name).into(), (*help).into(), labels, Default::default())
                .expect("the families' names and labels are valid")
        })
        .collect()
}

/// Registers into the application's own registry, so one `/metrics` (the
/// application's) serves its series and ours. The server's `/metrics`
/// keeps working too; leave it out of a mounted service if the
/// application serves its own.
///
/// ```
/// use webhooks_core::{GitHubSignatureValidator, WebhookProcessor};
///
/// let processor = WebhookProcessor::builder()
///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
///     .build()
///     .unwrap();
/// let registry = prometheus::Registry::new();
/// let requests = prometheus::IntCounter::new("app_requests_total", "The application's own.").unwrap();
/// registry.register(Box::new(requests.clone())).unwrap();
/// registry.register(Box::new(processor.metrics().clone())).unwrap();
/// processor.metrics().received("github", "push", webhooks_core::metrics::Received::Accepted);
/// requests.inc();
///
/// let mut text = Vec::new();
/// prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &registry.gather(), &mut text).unwrap();
/// let text = String::from_utf8(text).unwrap();
/// assert!(text.contains("app_requests_total 1"));
/// assert!(text.contains(r#"webhooks_received_total{event_type="push",outcome="accepted",source="github"} 1"#));
/// ```
impl Collector for Metrics {
    fn desc(&self) -> Vec<&Desc> {
        self.inner.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.families()
    }
}
