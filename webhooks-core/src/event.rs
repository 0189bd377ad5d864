//! The event handed to listeners.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::Headers;

/// A verified delivery, as listeners receive it.
///
/// The raw body is kept exactly as it arrived (it is what was signed);
/// [`WebhookEvent::json`] deserializes it on demand.
///
/// ```
/// use webhooks_core::WebhookEvent;
///
/// let event = WebhookEvent::new("stripe", "payment_intent.succeeded", "evt_1", r#"{"id":"evt_1"}"#);
/// let value: serde_json::Value = event.json().unwrap();
/// assert_eq!(value["id"], "evt_1");
/// assert_eq!(event.attempt(), 1);
/// ```
#[derive(Clone)]
pub struct WebhookEvent {
    source: Arc<str>,
    event_type: String,
    id: String,
    headers: Headers,
    body: Bytes,
    received_at: SystemTime,
    attempt: u32,
}

impl WebhookEvent {
    /// An event with no headers, received now, first attempt; for tests and
    /// for feeding events from elsewhere.
    pub fn new(
        source: impl Into<Arc<str>>,
        event_type: impl Into<String>,
        id: impl Into<String>,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            source: source.into(),
            event_type: event_type.into(),
            id: id.into(),
            headers: Headers::new(),
            body: body.into(),
            received_at: SystemTime::now(),
            attempt: 1,
        }
    }

    /// The same event with these headers.
    #[must_use]
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// The same event, marked as the given attempt (1 for the first run).
    #[must_use]
    pub fn with_attempt(mut self, attempt: u32) -> Self {
        self.attempt = attempt;
        self
    }

    /// The same event, received at the given time.
    #[must_use]
    pub fn with_received_at(mut self, received_at: SystemTime) -> Self {
        self.received_at = received_at;
        self
    }

    /// Marks the event as the given attempt, in place.
    pub(crate) fn set_attempt(&mut self, attempt: u32) {
        self.attempt = attempt;
    }

    /// The configured source name (the path segment), such as `stripe`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The event type, such as `payment_intent.succeeded` or `issues.opened`;
    /// empty for sources that send none.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The idempotency key: the provider's delivery or event id, or
    /// `sha256:<hex>` of the body when the source gives none.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The idempotency key and the event type, taken out of the event.
    pub(crate) fn into_id_and_type(self) -> (String, String) {
        (self.id, self.event_type)
    }

    /// Drops the headers that carry a secret, before the event is stored.
    pub(crate) fn drop_secret_headers(&mut self) {
        self.headers.drop_secrets();
    }

    /// The request headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The raw body, byte for byte as it was signed.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// When the delivery arrived.
    pub fn received_at(&self) -> SystemTime {
        self.received_at
    }

    /// Which run this is: 1 the first time, then 2, 3 … on retries.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Deserializes the body as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

impl fmt::Debug for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEvent")
            .field("source", &self.source)
            .field("event_type", &self.event_type)
            .field("id", &self.id)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("received_at", &self.received_at)
            .field("attempt", &self.attempt)
            .finish()
    }
}
