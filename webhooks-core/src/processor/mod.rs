//! The processor: verify, describe, claim, dispatch, answer.

mod builder;

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

pub use self::builder::{Dispatch, ProcessorBuilder};

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

/// A delivery that was safely recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Processed {
    /// New: recorded, and (inline) handled or (queued) queued.
    Accepted {
        /// The idempotency key.
        id: String,
    },
    /// Recorded before: a redelivery, not handled again.
    Duplicate {
        /// The idempotency key.
        id: String,
    },
    /// A verified check of the endpoint by the provider (Slack's
    /// `url_verification`, Discord's PING), answered as it expects; nothing
    /// was recorded or dispatched.
    Handshake(crate::Handshake),
}

impl Processed {
    /// The idempotency key; empty for a handshake, which has none.
    pub fn id(&self) -> &str {
        match self {
            Self::Accepted { id } | Self::Duplicate { id } => id,
            Self::Handshake(_) => "",
        }
    }
}

/// A configured source of a [`WebhookProcessor`], from
/// [`WebhookProcessor::route`].
#[derive(Debug, Clone, Copy)]
pub struct Route<'p> {
    processor: &'p WebhookProcessor,
    source: &'p Arc<Source>,
}

impl<'p> Route<'p> {
    /// The source name.
    pub fn source(&self) -> &'p str {
        &self.source.name
    }

    /// Whether the source's scheme signs the request URL, which
    /// [`Route::process`] must then be given.
    pub fn needs_url(&self) -> bool {
        self.source.validator.needs_url()
    }

    /// Processes a delivery to this source; `url` is the URL it was sent
    /// to, for schemes that sign it.
    pub async fn process(
        &self,
        body: impl Into<Bytes>,
        headers: Headers,
        url: Option<&str>,
    ) -> Result<Processed, ProcessError> {
        self.processor
            .run(self.source, headers, body.into(), url)
            .await
    }
}

/// A delivery as the transport hands it over.
///
/// ```
/// use webhooks_core::{Delivery, Headers};
///
/// let delivery = Delivery::new("twilio", Headers::new(), "Body=hi".into())
///     .with_url("https://example.com/webhooks/twilio");
/// assert_eq!(delivery.source(), "twilio");
/// ```
#[derive(Debug, Clone)]
pub struct Delivery {
    source: Box<str>,
    headers: Headers,
    body: Bytes,
    url: Option<String>,
}

impl Delivery {
    /// A delivery to `source` with these headers and raw body.
    pub fn new(source: impl Into<Box<str>>, headers: Headers, body: Bytes) -> Self {
        Self {
            source: source.into(),
            headers,
            body,
            url: None,
        }
    }

    /// The same delivery with the public URL it was sent to.
    #[must_use]
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The source name.
    pub fn source(&self) -> &str {
        &self.source
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
        if let Some(handshake) = source.validator.handshake(&request) {
            return Ok(Processed::Handshake(handshake));
        }
        let meta = match source.validator.describe(&request) {
            Ok(meta) => meta,
            Err(error) => {
                metrics.received(&source.name, "unknown", Received::BadRequest);
                return Err(error.into());
            }
        };
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

/// The store key of a delivery, `<source>:<id>`: built on the stack when
/// it is short (delivery ids are UUIDs and the like), so no allocation.
enum StoreKey {
    Inline { bytes: [u8; INLINE_KEY], len: usize },
    Heap(String),
}

/// The longest key [`StoreKey`] keeps on the stack.
const INLINE_KEY: usize = 96;

impl StoreKey {
    fn new(source: &str, id: &str) -> Self {
        let len = source.len() + 1 + id.len();
        if len > INLINE_KEY {
            return Self::Heap(format!("{source}:{id}"));
        }
        let mut bytes = [0; INLINE_KEY];
        bytes[..source.len()].copy_from_slice(source.as_bytes());
        bytes[source.len()] = b':';
        bytes[source.len() + 1..len].copy_from_slice(id.as_bytes());
        Self::Inline { bytes, len }
    }
}

impl std::ops::Deref for StoreKey {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Self::Inline { bytes, len } => {
                std::str::from_utf8(&bytes[..*len]).expect("two strings and a colon")
            }
            Self::Heap(key) => key,
        }
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

#[cfg(test)]
mod tests {
    use super::StoreKey;

    #[test]
    fn store_keys_join_source_and_id_on_the_stack_or_the_heap() {
        let short = StoreKey::new("github", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert!(matches!(short, StoreKey::Inline { .. }));
        assert_eq!(&*short, "github:72d3162e-cc78-11e3-81ab-4c9367dc0958");
        let id = "é".repeat(60);
        let long = StoreKey::new("stripe", &id);
        assert!(matches!(long, StoreKey::Heap(_)));
        assert_eq!(&*long, format!("stripe:{id}"));
        let exact = StoreKey::new("s", &"x".repeat(94));
        assert_eq!(exact.len(), 96);
    }
}
