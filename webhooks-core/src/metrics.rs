//! The Prometheus metrics of the contract.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

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
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    received: IntCounterVec,
    handled: IntCounterVec,
    processing: HistogramVec,
}

impl Metrics {
    /// Fresh series, all zero.
    pub fn new() -> Self {
        let received = IntCounterVec::new(
            Opts::new(
                "webhooks_received_total",
                "Deliveries received, by how they were answered.",
            ),
            &["source", "event_type", "outcome"],
        )
        .expect("valid metric");
        let handled = IntCounterVec::new(
            Opts::new(
                "webhooks_handled_total",
                "Listener runs, by outcome; ignored: no listener.",
            ),
            &["source", "event_type", "outcome"],
        )
        .expect("valid metric");
        let processing = HistogramVec::new(
            HistogramOpts::new(
                "webhook_processing_seconds",
                "Time from a delivery's body being read to its answer.",
            )
            .buckets(vec![
                0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["source", "event_type"],
        )
        .expect("valid metric");
        let registry = Registry::new();
        for collector in [
            Box::new(received.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(handled.clone()),
            Box::new(processing.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are distinct");
        }
        Self {
            registry,
            received,
            handled,
            processing,
        }
    }

    /// Counts a delivery; `event_type` is `unknown` when it was refused
    /// before its type was known.
    pub fn received(&self, source: &str, event_type: &str, outcome: Received) {
        self.received
            .with_label_values(&[source, event_type, outcome.as_str()])
            .inc();
    }

    /// Counts a listener run, or an event no listener matched.
    pub fn handled(&self, source: &str, event_type: &str, outcome: Handled) {
        self.handled
            .with_label_values(&[source, event_type, outcome.as_str()])
            .inc();
    }

    /// Records how long a delivery took to answer.
    pub fn observe_processing(&self, source: &str, event_type: &str, seconds: f64) {
        self.processing
            .with_label_values(&[source, event_type])
            .observe(seconds);
    }

    /// The Prometheus text exposition of every series.
    pub fn encode(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }

    /// The content type of [`Metrics::encode`]'s output.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
