//! The processor: verify, describe, claim, dispatch, answer.

mod builder;
mod route;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tracing::Instrument as _;

use crate::event_log::{EventPage, EventQuery, EventRecord, ReplayError};
use crate::lifecycle::Lifecycle;
use crate::metrics::Received;
use crate::queue::DeadLetter;
use crate::source::Source;
use crate::{
    BodyMacs, Headers, Metrics, ProcessError, Processed, SignedRequest, StoreError, WebhookEvent,
};

pub use self::builder::{Dispatch, ProcessorBuilder};
pub use self::route::Route;

/// The heart of the framework: takes a delivery's source, headers and raw
/// body, and verifies, deduplicates, records and dispatches it.
///
/// Cloning is cheap and shares everything.
///
/// ```
/// use webhooks_core::{GitHubSignatureValidator, Headers, Processed, WebhookProcessor};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let processor = WebhookProcessor::builder()
///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
///     .build()?;
/// let body = br#"{"zen":"Keep it logically awesome."}"#;
/// let headers = Headers::new()
///     .with("X-GitHub-Event", "ping")
///     .with("X-GitHub-Delivery", "d-1")
///     .with("X-Hub-Signature-256", &GitHubSignatureValidator::sign(b"secret", body));
/// let processed = processor.process("github", body.as_slice(), headers).await.unwrap();
/// assert_eq!(processed, Processed::Accepted { id: "d-1".into() });
/// # Ok::<_, webhooks_core::BuildError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct WebhookProcessor {
    lifecycle: Arc<Lifecycle>,
}

impl WebhookProcessor {
    /// A builder with no source, the in-memory store and inline dispatch.
    pub fn builder() -> ProcessorBuilder {
        ProcessorBuilder::new()
    }

    /// Processes a delivery to `source`.
    pub async fn process(
        &self,
        source: &str,
        body: impl Into<Bytes>,
        headers: Headers,
    ) -> Result<Processed, ProcessError> {
        let body = body.into();
        let span = crate::delivery_span(source, None);
        let Some(source) = self.source(source) else {
            let result = Err(ProcessError::UnknownSource);
            span.in_scope(|| crate::outcome::log_outcome(&result));
            return result;
        };
        self.run(source, headers, body, None, None)
            .instrument(span)
            .await
    }

    /// The configured source of that name, looked up once for a transport:
    /// whether its scheme signs the URL, then the processing of a delivery.
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, Headers, ProcessError, WebhookProcessor};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
    ///     .build()
    ///     .unwrap();
    /// assert!(processor.route("stripe").is_none());
    /// let route = processor.route("github").unwrap();
    /// assert!(!route.needs_url());
    /// let unsigned = route.process("{}", Headers::new(), None).await;
    /// assert!(matches!(unsigned, Err(ProcessError::InvalidSignature(_))));
    /// # });
    /// ```
    pub fn route(&self, source: &str) -> Option<Route<'_>> {
        Some(Route {
            processor: self,
            source: self.source(source)?,
        })
    }

    /// Whether a source of that name is configured.
    pub fn has_source(&self, source: &str) -> bool {
        self.lifecycle.sources.contains_key(source)
    }

    /// Whether the source's scheme signs the request URL (so the transport
    /// must pass it).
    pub fn source_needs_url(&self, source: &str) -> bool {
        self.source(source).is_some_and(|s| s.validator.needs_url())
    }

    /// The configured source names.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.lifecycle.sources.keys().map(|name| &**name)
    }

    /// The metrics this processor records.
    pub fn metrics(&self) -> &Metrics {
        &self.lifecycle.metrics
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<(), crate::StoreError> {
        self.lifecycle.store.ping().await
    }

    /// Queued mode: events whose listeners failed every attempt, oldest
    /// first. Empty in inline mode.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        match &self.lifecycle.queue {
            Some(queue) => queue.dead_letters(None).await,
            None => Ok(Vec::new()),
        }
    }

    /// Queued mode: puts a dead letter back in the queue, its listeners
    /// that had succeeded still skipped; whether it was found.
    pub async fn requeue_dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        match &self.lifecycle.queue {
            Some(queue) => self.lifecycle.requeue(queue, id).await,
            None => Ok(false),
        }
    }

    /// Whether events are recorded (`[webhooks.event-log] enabled`).
    pub fn has_event_log(&self) -> bool {
        self.lifecycle.log.is_some()
    }

    /// A page of the event log, newest first; `None` when the log is off.
    ///
    /// ```
    /// use webhooks_core::event_log::{EventQuery, EventStatus};
    /// use webhooks_core::{GitHubSignatureValidator, Headers, WebhookProcessor};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
    ///     .build()
    ///     .unwrap();
    /// let body = br#"{"zen":"Keep it logically awesome."}"#;
    /// let headers = Headers::new()
    ///     .with("X-GitHub-Event", "ping")
    ///     .with("X-GitHub-Delivery", "d-1")
    ///     .with("X-Hub-Signature-256", &GitHubSignatureValidator::sign(b"secret", body));
    /// processor.process("github", body.as_slice(), headers).await.unwrap();
    /// let page = processor.events(&EventQuery::default().source("github")).await.unwrap()?;
    /// assert_eq!(page.events[0].id, "d-1");
    /// assert_eq!(page.events[0].status, EventStatus::Succeeded);
    /// # Ok::<_, webhooks_core::StoreError>(())
    /// # }).unwrap();
    /// ```
    pub async fn events(&self, query: &EventQuery) -> Option<Result<EventPage, StoreError>> {
        self.lifecycle.events(query).await
    }

    /// The record of one event, its body included when kept; `None` when
    /// there is no such record, or the log is off.
    pub async fn event(&self, source: &str, id: &str) -> Result<Option<EventRecord>, StoreError> {
        self.lifecycle.event(source, id).await
    }

    /// Runs a recorded event through its listeners again, as a new attempt,
    /// whatever the dedupe says: queued, as a new job (retried and
    /// dead-lettered like any); inline, in the background. Every matching
    /// listener runs, those that had succeeded too, except for a dead event
    /// of queued dispatch: its dead letter is requeued (it leaves the dead
    /// letters, and its listeners that had succeeded are still skipped). Returns the record as it
    /// was before the replay, once the replay is queued or started.
    pub async fn replay(&self, source: &str, id: &str) -> Result<EventRecord, ReplayError> {
        self.lifecycle.replay(source, id).await
    }

    /// Queued mode: the dead letters of one source, or of all, oldest first.
    pub async fn dead_letters_of(
        &self,
        source: Option<&str>,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        match &self.lifecycle.queue {
            Some(queue) => queue.dead_letters(source).await,
            None => Ok(Vec::new()),
        }
    }

    /// Queued mode: puts the dead letter of this source and event id back
    /// in the queue; whether there was one.
    pub async fn requeue_dead_event(&self, source: &str, id: &str) -> Result<bool, StoreError> {
        let Some(queue) = &self.lifecycle.queue else {
            return Ok(false);
        };
        let letters = queue.dead_letters(Some(source)).await?;
        match letters.iter().find(|letter| letter.event.id() == id) {
            Some(letter) => self.lifecycle.requeue(queue, &letter.id).await,
            None => Ok(false),
        }
    }

    /// Stops taking deliveries (they get 503) and waits, at most
    /// `shutdown-timeout-seconds`, for the events in flight (inline runs,
    /// and in queued mode the jobs this instance holds) to finish; what has
    /// not finished then is cut short and handed back (its claim released,
    /// its job left for another instance).
    pub async fn shutdown(&self) {
        self.lifecycle.shutdown().await;
    }

    /// Whether listeners run in the background (`mode = "queued"`).
    pub fn is_queued(&self) -> bool {
        self.lifecycle.queue.is_some()
    }

    fn source(&self, name: &str) -> Option<&Arc<Source>> {
        self.lifecycle.sources.get(name)
    }

    async fn run(
        &self,
        source: &Arc<Source>,
        headers: Headers,
        body: Bytes,
        url: Option<&str>,
        macs: Option<&BodyMacs>,
    ) -> Result<Processed, ProcessError> {
        let started = Instant::now();
        let metrics = &self.lifecycle.metrics;
        let mut request = SignedRequest::new(&headers, &body);
        if let Some(url) = url {
            request = request.with_url(url);
        }
        if let Some(macs) = macs {
            request = request.with_body_macs(macs);
        }
        if let Err(error) = source.validator.verify(&request) {
            metrics.received(&source.name, "unknown", Received::InvalidSignature);
            let result = Err(error.into());
            crate::outcome::log_outcome(&result);
            return result;
        }
        // Checked before anything is claimed or stored: a key is kept for
        // the whole TTL and an event type becomes a label.
        let described = source.validator.describe(&request);
        let meta = match described.and_then(|meta| meta.check_lengths().map(|()| meta)) {
            Ok(meta) => meta,
            Err(error) => {
                metrics.received(&source.name, "unknown", Received::BadRequest);
                let result = Err(error.into());
                crate::outcome::log_outcome(&result);
                return result;
            }
        };
        let span = tracing::Span::current();
        span.record("id", meta.id.as_str());
        span.record("event_type", meta.event_type.as_str());
        span.record("attempt", 1);
        if let Some(handshake) = source.validator.handshake(&request, &meta) {
            let result = Ok(Processed::Handshake(handshake));
            crate::outcome::log_outcome(&result);
            return result;
        }
        // The event owns what `describe` found: nothing is copied from here on.
        let event = WebhookEvent::new(Arc::clone(&source.name), meta.event_type, meta.id, body)
            .with_headers(headers);
        let (result, event_type) = self.lifecycle.accept(source, event).await;
        let outcome = match &result {
            // Recorded (as failed) and answered 2xx: accepted.
            Ok(Processed::Accepted { .. } | Processed::Failed { .. }) => Some(Received::Accepted),
            Ok(Processed::Duplicate { .. }) => Some(Received::Duplicate),
            Err(ProcessError::InProgress { .. }) => Some(Received::InProgress),
            Err(
                ProcessError::Unavailable(_)
                | ProcessError::QueueFull
                | ProcessError::ShuttingDown
                | ProcessError::ClaimLost { .. },
            ) => Some(Received::Unavailable),
            Ok(Processed::Handshake(_)) | Err(_) => None,
        };
        if let Some(outcome) = outcome {
            metrics.received(&source.name, &event_type, outcome);
        }
        metrics.observe_processing(&source.name, &event_type, started.elapsed().as_secs_f64());
        crate::outcome::log_outcome(&result);
        result
    }
}

impl std::fmt::Debug for WebhookProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sources: Vec<_> = self.lifecycle.sources.values().collect();
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        f.debug_struct("WebhookProcessor")
            .field("sources", &sources)
            .field("store", &self.lifecycle.store)
            .field("settings", &self.lifecycle.settings)
            .field("queued", &self.lifecycle.queue.is_some())
            .finish()
    }
}
