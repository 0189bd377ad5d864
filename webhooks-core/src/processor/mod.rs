//! The processor: verify, describe, claim, dispatch, answer.

mod builder;
mod delivery;
mod key;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::listener::{ErasedListener, EventPattern, run_listener};
use crate::metrics::{Handled, Received};
use crate::queue::{DeadLetter, EnqueueError, EventQueue};
use crate::{
    Claim, Headers, IdempotencyStore, Metrics, ProcessError, SignatureValidator, SignedRequest,
    StoreError, WebhookEvent,
};

use self::key::StoreKey;

pub use self::builder::{Dispatch, ProcessorBuilder};
pub use self::delivery::{Delivery, Processed, Route};

/// The heart of the framework: takes a delivery's source, headers and raw
/// body, and verifies, deduplicates, records and dispatches it.
///
/// Cloning is cheap and shares everything.
///
/// ```
/// use webhooks_core::{GitHubSignatureValidator, Headers, Processed, WebhookProcessor};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let processor = WebhookProcessor::builder()
///     .register_validator("github", GitHubSignatureValidator::new("secret"))
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
    inner: Arc<Inner>,
}

struct Inner {
    sources: Arc<HashMap<Box<str>, Arc<Source>>>,
    store: Arc<dyn IdempotencyStore>,
    ttl: Duration,
    lease: Duration,
    metrics: Metrics,
    queue: Option<Arc<dyn EventQueue>>,
}

/// A configured source and its listeners.
pub(crate) struct Source {
    name: Arc<str>,
    validator: Arc<dyn SignatureValidator>,
    listeners: Vec<Listed>,
}

/// A listener of a source: its pattern, and a key unique within the source
/// (its name, with `#2`, `#3` … for repeats) that retries use to skip the
/// listeners that already succeeded.
struct Listed {
    pattern: EventPattern,
    key: Box<str>,
    listener: Arc<dyn ErasedListener>,
}

impl Source {
    fn matching<'s, 'e>(
        &'s self,
        event_type: &'e str,
    ) -> impl Iterator<Item = &'s Arc<dyn ErasedListener>> + use<'s, 'e> {
        self.matching_keyed(event_type)
            .map(|(_, listener)| listener)
    }

    pub(crate) fn matching_keyed<'s, 'e>(
        &'s self,
        event_type: &'e str,
    ) -> impl Iterator<Item = (&'s str, &'s Arc<dyn ErasedListener>)> + use<'s, 'e> {
        let families = self.validator.event_families();
        self.listeners
            .iter()
            .filter(move |listed| listed.pattern.matches(event_type, families))
            .map(|listed| (&*listed.key, &listed.listener))
    }
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
        let source = self.source(source).ok_or(ProcessError::UnknownSource)?;
        self.run(source, headers, body, None).await
    }

    /// Processes a delivery, with its URL for schemes that sign it.
    pub async fn process_delivery(&self, delivery: Delivery) -> Result<Processed, ProcessError> {
        let source = self
            .source(&delivery.source)
            .ok_or(ProcessError::UnknownSource)?;
        self.run(
            source,
            delivery.headers,
            delivery.body,
            delivery.url.as_deref(),
        )
        .await
    }

    /// The configured source of that name, looked up once for a transport:
    /// whether its scheme signs the URL, then the processing of a delivery.
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, Headers, ProcessError, WebhookProcessor};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("github", GitHubSignatureValidator::new("secret"))
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
        self.inner.sources.contains_key(source)
    }

    /// Whether the source's scheme signs the request URL (so the transport
    /// must pass it).
    pub fn source_needs_url(&self, source: &str) -> bool {
        self.source(source).is_some_and(|s| s.validator.needs_url())
    }

    /// The configured source names.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.inner.sources.keys().map(|name| &**name)
    }

    /// The metrics this processor records.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Whether the store answers.
    pub async fn ready(&self) -> Result<(), crate::StoreError> {
        self.inner.store.ping().await
    }

    /// Queued mode: events whose listeners failed every attempt, oldest
    /// first. Empty in inline mode.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        match &self.inner.queue {
            Some(queue) => queue.dead_letters().await,
            None => Ok(Vec::new()),
        }
    }

    /// Queued mode: puts a dead letter back in the queue, its listeners
    /// that had succeeded still skipped; whether it was found.
    pub async fn requeue_dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        match &self.inner.queue {
            Some(queue) => queue.requeue(id).await,
            None => Ok(false),
        }
    }

    /// Stops taking deliveries (they get 503) and, in queued mode, waits
    /// until the events this instance took have run or were handed back.
    pub async fn shutdown(&self) {
        if let Some(queue) = &self.inner.queue {
            queue.shutdown().await;
        }
    }

    /// Whether listeners run in the background (`mode = "queued"`).
    pub fn is_queued(&self) -> bool {
        self.inner.queue.is_some()
    }

    fn source(&self, name: &str) -> Option<&Arc<Source>> {
        self.inner.sources.get(name)
    }

    async fn run(
        &self,
        source: &Arc<Source>,
        headers: Headers,
        body: Bytes,
        url: Option<&str>,
    ) -> Result<Processed, ProcessError> {
        let started = Instant::now();
        let metrics = &self.inner.metrics;
        let mut request = SignedRequest::new(&headers, &body);
        if let Some(url) = url {
            request = request.with_url(url);
        }
        if let Err(error) = source.validator.verify(&request) {
            metrics.received(&source.name, "unknown", Received::InvalidSignature);
            return Err(error.into());
        }
        let meta = match source.validator.describe(&request) {
            Ok(meta) => meta,
            Err(error) => {
                metrics.received(&source.name, "unknown", Received::BadRequest);
                return Err(error.into());
            }
        };
        if let Some(handshake) = source.validator.handshake(&request, &meta) {
            return Ok(Processed::Handshake(handshake));
        }
        // The event owns what `describe` found: nothing is copied from here on.
        let event = WebhookEvent::new(Arc::clone(&source.name), meta.event_type, meta.id, body)
            .with_headers(headers);
        let (result, event_type) = self.claim_and_dispatch(source, event).await;
        let outcome = match &result {
            Ok(Processed::Accepted { .. }) => Some(Received::Accepted),
            Ok(Processed::Duplicate { .. }) => Some(Received::Duplicate),
            Err(ProcessError::InProgress { .. }) => Some(Received::InProgress),
            Err(
                ProcessError::Unavailable(_) | ProcessError::QueueFull | ProcessError::ShuttingDown,
            ) => Some(Received::Unavailable),
            Ok(Processed::Handshake(_)) | Err(_) => None,
        };
        if let Some(outcome) = outcome {
            metrics.received(&source.name, &event_type, outcome);
        }
        metrics.observe_processing(&source.name, &event_type, started.elapsed().as_secs_f64());
        result
    }

    /// Claims, dispatches and settles the claim; hands the event type back
    /// for the metrics.
    async fn claim_and_dispatch(
        &self,
        source: &Arc<Source>,
        event: WebhookEvent,
    ) -> (Result<Processed, ProcessError>, String) {
        let inner = &*self.inner;
        let key = StoreKey::new(&source.name, event.id());
        let claimed = match inner.store.claim_now(&key, inner.lease) {
            Some(claimed) => claimed,
            None => inner.store.claim(&key, inner.lease).await,
        };
        let lease = match claimed {
            Ok(Claim::Acquired(lease)) => lease,
            Ok(Claim::InProgress) => {
                let (id, event_type) = event.into_id_and_type();
                return (Err(ProcessError::InProgress { id }), event_type);
            }
            Ok(Claim::Completed) => {
                let (id, event_type) = event.into_id_and_type();
                return (Ok(Processed::Duplicate { id }), event_type);
            }
            Err(error) => return (Err(error.into()), event.into_id_and_type().1),
        };
        let (ran, id, event_type) = match &inner.queue {
            Some(queue) => {
                // The queue takes the event itself; the answer keeps copies
                // of its id and type.
                let (id, event_type) = (event.id().to_owned(), event.event_type().to_owned());
                let queued = queue.enqueue(event).await.map_err(|error| match error {
                    EnqueueError::Full => ProcessError::QueueFull,
                    EnqueueError::Closed => ProcessError::ShuttingDown,
                    EnqueueError::Unavailable(error) => ProcessError::Unavailable(error),
                });
                (queued, id, event_type)
            }
            None => {
                let ran = if run_inline(source, &event, &inner.metrics).await {
                    Ok(())
                } else {
                    Err(ProcessError::ListenerFailed {
                        id: event.id().to_owned(),
                    })
                };
                let (id, event_type) = event.into_id_and_type();
                (ran, id, event_type)
            }
        };
        if let Err(error) = ran {
            // Nothing was recorded: forget the key so the provider's retry is processed.
            if let Err(release) = inner.store.release(&key, &lease).await {
                tracing::warn!(error = %release, id = %id, "could not release the claim of a refused event");
            }
            return (Err(error), event_type);
        }
        let completed = match inner.store.complete_now(&key, &lease, inner.ttl) {
            Some(completed) => completed,
            None => inner.store.complete(&key, &lease, inner.ttl).await,
        };
        if let Err(error) = completed {
            if inner.queue.is_none() {
                return (Err(error.into()), event_type);
            }
            // The event is queued, so it is recorded and will run: answering
            // 2xx is right; only a redelivery after the lease would run again.
            tracing::warn!(error = %error, id = %id, "event queued, but its key could not be marked completed");
        }
        (Ok(Processed::Accepted { id }), event_type)
    }
}

/// Runs every matching listener once; whether all succeeded.
async fn run_inline(source: &Source, event: &WebhookEvent, metrics: &Metrics) -> bool {
    let mut all_ok = true;
    let mut any = false;
    for listener in source.matching(event.event_type()) {
        any = true;
        let outcome = match run_listener(&**listener, event).await {
            Ok(()) => Handled::Ok,
            Err(_) => {
                all_ok = false;
                Handled::Error
            }
        };
        metrics.handled(&source.name, event.event_type(), outcome);
    }
    if !any {
        metrics.handled(&source.name, event.event_type(), Handled::Ignored);
    }
    all_ok
}

impl std::fmt::Debug for WebhookProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut sources: Vec<_> = self.inner.sources.values().collect();
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        f.debug_struct("WebhookProcessor")
            .field("sources", &sources)
            .field("store", &self.inner.store)
            .field("ttl", &self.inner.ttl)
            .field("queued", &self.inner.queue.is_some())
            .finish()
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("validator", &self.validator)
            .field(
                "listeners",
                &self
                    .listeners
                    .iter()
                    .map(|listed| &*listed.key)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
