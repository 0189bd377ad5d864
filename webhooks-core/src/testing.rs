//! Deliveries signed the way each provider signs them, so that an
//! application tests its own listeners without the provider (feature
//! `testing`).
//!
//! Three lines: build the processor, send it a signed event, assert.
//!
//! ```
//! use webhooks_core::{Processed, StripeSignatureValidator, WebhookProcessor, testing};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let processor = WebhookProcessor::builder()
//!     .register_validator("stripe", StripeSignatureValidator::new("whsec_test").unwrap())
//!     .build()
//!     .unwrap();
//! let body = r#"{"id":"evt_1","type":"invoice.paid"}"#;
//! let processed = testing::stripe("whsec_test", body).send_to(&processor, "stripe").await;
//! assert_eq!(processed.unwrap(), Processed::Accepted { id: "evt_1".into() });
//! # });
//! ```
//!
//! Each scheme has a constructor on [`SignedEvent`] and the same function at
//! the module's root ([`stripe`], [`github`], [`standard`] …), built on the
//! validators' own `sign` helpers. Timestamped schemes sign the current time.
//! Ids the provider puts in headers (`X-GitHub-Delivery`, `webhook-id` …) are
//! fresh for every event, so two events are two deliveries, and the same
//! event sent twice is a redelivery:
//!
//! - [`SignedEvent::with_header`] sets or replaces a header (a fixed delivery
//!   id, a topic); a header the signature covers (`webhook-id`, a timestamp
//!   header) is signed again, while setting the signature header itself
//!   sends that value as is.
//! - [`SignedEvent::with_timestamp`] signs at another time: a stale event.
//! - [`SignedEvent::tampered`] changes the body and keeps the signature.
//!
//! [`SignedEvent::to_http_request`] makes the same event an `http::Request`
//! for a service driven without a socket (`tower::ServiceExt::oneshot` on an
//! axum `Router`), and with the `hyper` feature,
//! `webhooks::testing::TestClient` sends it to a running server over HTTP.
//!
//! In an application that listens to several sources, [`processor`] builds
//! a processor for the one under test with its `#[webhook_listener]`
//! functions, and without those of the others.
//!
//! Enable it for tests only:
//!
//! ```toml
//! [dev-dependencies]
//! webhooks = { version = "0.1", features = ["testing"] }
//! ```

mod http_request;
mod processor;
mod providers;
mod shorthand;

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use self::providers::Scheme;
use crate::{Clock, Headers, ProcessError, Processed, SignedRequest, WebhookProcessor};

pub use self::processor::processor;
pub use self::shorthand::{
    discord, github, gitlab, hmac, hmac_timestamped, linear, paddle, shopify, slack, square,
    standard, standard_ed25519, stripe, twilio,
};

/// A delivery as a provider sends it: headers, the raw body and, for the
/// schemes that sign it, the URL it was sent to.
///
/// Build one with a constructor per scheme ([`SignedEvent::stripe`],
/// [`SignedEvent::github`] …), adjust it with the `with_*` methods, and send
/// it with [`SignedEvent::send_to`] (a processor) or a test client (a
/// running server). Sending the same value twice is a redelivery.
///
/// ```
/// use webhooks_core::{HmacSignatureValidator, SignatureValidator, testing::SignedEvent};
///
/// let event = SignedEvent::hmac("partner-secret", r#"{"type":"order.paid"}"#)
///     .with_header("X-Idempotency-Key", "order-7");
/// let validator = HmacSignatureValidator::new("partner-secret").unwrap();
/// assert!(validator.verify(&event.request()).is_ok());
/// assert_eq!(validator.describe(&event.request()).unwrap().id, "order-7");
/// ```
#[derive(Debug, Clone)]
pub struct SignedEvent {
    headers: Headers,
    body: Bytes,
    url: Option<String>,
    timestamp: i64,
    scheme: Scheme,
    /// The signature is no longer computed: it was set by hand, removed, or
    /// the body was tampered with.
    frozen: bool,
}

impl SignedEvent {
    /// An event signed with `scheme`, with these extra headers.
    fn signed(
        scheme: Scheme,
        body: &[u8],
        url: Option<&str>,
        extra_headers: &[(&str, &str)],
    ) -> Self {
        let mut event = Self {
            headers: Headers::new(),
            body: Bytes::copy_from_slice(body),
            url: url.map(str::to_owned),
            timestamp: Clock::system().now(),
            scheme,
            frozen: false,
        };
        if let Some(name) = event.scheme.timestamp_header() {
            set_header(&mut event.headers, name, &event.timestamp.to_string());
        }
        for (name, value) in extra_headers {
            set_header(&mut event.headers, name, value);
        }
        event.sign();
        event
    }

    /// A delivery with no signature, for a source with `validator = "none"`
    /// or a scheme of your own (add its headers with
    /// [`SignedEvent::with_header`]).
    ///
    /// ```
    /// use webhooks_core::testing::SignedEvent;
    ///
    /// let event = SignedEvent::unsigned(r#"{"type":"ping"}"#).with_header("X-Event-Id", "e-1");
    /// assert_eq!(event.headers().len(), 1);
    /// assert_eq!(event.body(), br#"{"type":"ping"}"#);
    /// ```
    pub fn unsigned(body: impl AsRef<[u8]>) -> Self {
        Self::signed(Scheme::Unsigned, body.as_ref(), None, &[])
    }

    /// The same event with header `name` set to `value`, replacing any
    /// value it had.
    ///
    /// A header the signature covers (Standard Webhooks' `webhook-id`, a
    /// timestamp header) is signed again. Setting the signature header
    /// itself sends that value as is, and the signature is no longer
    /// computed.
    ///
    /// # Panics
    /// If `name` or `value` is not a valid header name or value.
    ///
    /// ```
    /// use webhooks_core::{SignatureValidator, StandardSignatureValidator, testing::SignedEvent};
    ///
    /// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    /// let event = SignedEvent::standard(secret, r#"{"type":"invoice.paid"}"#)
    ///     .with_header("webhook-id", "msg_fixed");
    /// let validator = StandardSignatureValidator::new(secret).unwrap();
    /// assert!(validator.verify(&event.request()).is_ok());
    /// assert_eq!(validator.describe(&event.request()).unwrap().id, "msg_fixed");
    /// ```
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        set_header(&mut self.headers, name, value);
        if self.is_signature_header(name) {
            self.frozen = true;
        }
        self.sign();
        self
    }

    /// The same event without header `name`: a missing id, a missing
    /// signature (after which the signature is no longer computed).
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, SignatureError, SignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::github("secret", "push", "{}").without_header("X-Hub-Signature-256");
    /// let refused = GitHubSignatureValidator::new("secret").unwrap().verify(&event.request());
    /// assert_eq!(refused, Err(SignatureError::MissingHeader("X-Hub-Signature-256".into())));
    /// ```
    #[must_use]
    pub fn without_header(mut self, name: &str) -> Self {
        let mut map = http::HeaderMap::from(std::mem::take(&mut self.headers));
        map.remove(name);
        self.headers = Headers::from(map);
        if self.is_signature_header(name) {
            self.frozen = true;
        }
        self.sign();
        self
    }

    /// The same event signed at `unix_seconds` instead of now, to check
    /// that a stale or future event is refused. Schemes that sign no
    /// timestamp of their own (GitHub, Shopify, GitLab, Twilio, Square,
    /// Linear, the generic HMAC without a timestamp header) are unchanged.
    ///
    /// ```
    /// use webhooks_core::{SignatureError, SignatureValidator, StripeSignatureValidator, testing::SignedEvent};
    ///
    /// let an_hour_ago = std::time::SystemTime::now()
    ///     .duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 3600;
    /// let event = SignedEvent::stripe("whsec_test", "{}").with_timestamp(an_hour_ago);
    /// let refused = StripeSignatureValidator::new("whsec_test").unwrap().verify(&event.request());
    /// assert!(matches!(refused, Err(SignatureError::TimestampOutsideTolerance { .. })));
    /// ```
    #[must_use]
    pub fn with_timestamp(mut self, unix_seconds: i64) -> Self {
        self.timestamp = unix_seconds;
        if let Some(name) = self.scheme.timestamp_header() {
            set_header(&mut self.headers, name, &unix_seconds.to_string());
        }
        self.sign();
        self
    }

    /// The same event sent to another URL; schemes that sign the URL
    /// (Twilio, Square) are signed again.
    ///
    /// ```
    /// use webhooks_core::testing::SignedEvent;
    ///
    /// let event = SignedEvent::unsigned("{}").with_url("https://example.com/webhooks/x");
    /// assert_eq!(event.url(), Some("https://example.com/webhooks/x"));
    /// ```
    #[must_use]
    pub fn with_url(mut self, url: &str) -> Self {
        self.url = Some(url.to_owned());
        self.sign();
        self
    }

    /// The same headers with a body one byte longer: what a provider's
    /// signature looks like on a body someone changed. Its signature is no
    /// longer computed.
    ///
    /// ```
    /// use webhooks_core::{SignatureError, SignatureValidator, StripeSignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::stripe("whsec_test", r#"{"id":"evt_1"}"#).tampered();
    /// let refused = StripeSignatureValidator::new("whsec_test").unwrap().verify(&event.request());
    /// assert_eq!(refused, Err(SignatureError::NoMatchingSignature));
    /// ```
    #[must_use]
    pub fn tampered(mut self) -> Self {
        let mut body = self.body.to_vec();
        body.push(b' ');
        self.body = Bytes::from(body);
        self.frozen = true;
        self
    }

    /// The headers, signature included.
    ///
    /// ```
    /// use webhooks_core::testing::SignedEvent;
    ///
    /// let event = SignedEvent::github("secret", "push", "{}");
    /// assert_eq!(event.headers().get("X-GitHub-Event"), Some("push"));
    /// assert!(event.headers().get("X-Hub-Signature-256").unwrap().starts_with("sha256="));
    /// ```
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The raw body.
    ///
    /// ```
    /// use webhooks_core::testing::SignedEvent;
    ///
    /// assert_eq!(SignedEvent::hmac("secret", "{}").body(), b"{}");
    /// ```
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The URL the event is sent to, for the schemes that sign it.
    ///
    /// ```
    /// use webhooks_core::testing::SignedEvent;
    ///
    /// let event = SignedEvent::square("key", "https://example.com/webhooks/square", "{}");
    /// assert_eq!(event.url(), Some("https://example.com/webhooks/square"));
    /// ```
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// What a validator sees of this event.
    ///
    /// ```
    /// use webhooks_core::{SignatureValidator, SlackSignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::slack("signing-secret", r#"{"type":"url_verification"}"#);
    /// assert!(SlackSignatureValidator::new("signing-secret").unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn request(&self) -> SignedRequest<'_> {
        let request = SignedRequest::new(&self.headers, &self.body);
        match &self.url {
            Some(url) => request.with_url(url),
            None => request,
        }
    }

    /// Processes this event as a delivery to `source`, exactly as the
    /// server does with a request: verified, deduplicated, recorded and
    /// handed to the listeners.
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, ProcessError, Processed, WebhookProcessor, testing::SignedEvent};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
    ///     .build()
    ///     .unwrap();
    /// let event = SignedEvent::github("secret", "push", "{}").with_header("X-GitHub-Delivery", "d-1");
    /// let first = event.send_to(&processor, "github").await.unwrap();
    /// let again = event.send_to(&processor, "github").await.unwrap();
    /// assert_eq!((first, again), (Processed::Accepted { id: "d-1".into() }, Processed::Duplicate { id: "d-1".into() }));
    /// let forged = event.tampered().send_to(&processor, "github").await;
    /// assert!(matches!(forged, Err(ProcessError::InvalidSignature(_))));
    /// # });
    /// ```
    pub async fn send_to(
        &self,
        processor: &WebhookProcessor,
        source: &str,
    ) -> Result<Processed, ProcessError> {
        let Some(route) = processor.route(source) else {
            return Err(ProcessError::UnknownSource);
        };
        route
            .process(self.body.clone(), self.headers.clone(), self.url.as_deref())
            .await
    }

    fn is_signature_header(&self, name: &str) -> bool {
        self.scheme
            .signature_header()
            .is_some_and(|signature| signature.eq_ignore_ascii_case(name))
    }

    /// Computes the signature of the current headers, body and URL.
    fn sign(&mut self) {
        if self.frozen {
            return;
        }
        if let (Some(name), Some(value)) = (self.scheme.signature_header(), self.scheme.sign(self))
        {
            set_header(&mut self.headers, name, &value);
        }
    }

    /// The signed timestamp: the scheme's timestamp header when it holds an
    /// integer, else the event's.
    fn signed_timestamp(&self) -> i64 {
        self.scheme
            .timestamp_header()
            .and_then(|name| self.headers.get(name))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(self.timestamp)
    }
}

/// Sets `name` to `value`, replacing its values.
fn set_header(headers: &mut Headers, name: &str, value: &str) {
    let header = http::HeaderName::from_bytes(name.as_bytes())
        .unwrap_or_else(|_| panic!("`{name}` is not a valid header name"));
    // The value may be a token: never in the message.
    let value = http::HeaderValue::from_str(value)
        .unwrap_or_else(|_| panic!("the value given for `{name}` is not a valid header value"));
    let mut map = http::HeaderMap::from(std::mem::take(headers));
    map.insert(header, value);
    *headers = Headers::from(map);
}

/// A fresh random UUID (version 4 form), for delivery ids.
fn fresh_uuid() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    let high = RandomState::new().hash_one((sequence, nanos, 0_u8));
    let low = RandomState::new().hash_one((sequence, nanos, 1_u8));
    let mut bytes = [0_u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        DiscordSignatureValidator, SignatureError, SignatureValidator, SlackSignatureValidator,
        StandardSignatureValidator, TwilioSignatureValidator,
    };

    #[test]
    fn fresh_ids_are_uuids_and_differ() {
        let (a, b) = (fresh_uuid(), fresh_uuid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        let (x, y) = (
            SignedEvent::github("s", "push", "{}"),
            SignedEvent::github("s", "push", "{}"),
        );
        assert_ne!(
            x.headers().get("X-GitHub-Delivery"),
            y.headers().get("X-GitHub-Delivery")
        );
    }

    #[test]
    fn headers_the_signature_covers_are_signed_again() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let validator = StandardSignatureValidator::new(secret).unwrap();
        let event = SignedEvent::standard(secret, r#"{"type":"a"}"#)
            .with_header("webhook-id", "msg_1")
            .with_header("webhook-timestamp", &Clock::system().now().to_string());
        assert_eq!(validator.verify(&event.request()), Ok(()));
        assert_eq!(event.headers().get_all("webhook-id").count(), 1);

        let discord_key = [3_u8; 32];
        let stale = Clock::system().now() - 3600;
        let event = SignedEvent::discord(&discord_key, "{}").with_header(
            "x-signature-timestamp", // any case
            &stale.to_string(),
        );
        let public_key = DiscordSignatureValidator::public_key(&discord_key);
        assert!(matches!(
            DiscordSignatureValidator::new(public_key.as_str())
                .unwrap()
                .verify(&event.request()),
            Err(SignatureError::TimestampOutsideTolerance { .. })
        ));
    }

    #[test]
    fn a_signature_set_or_removed_by_hand_stays() {
        let event = SignedEvent::slack("s", "{}")
            .with_header("X-Slack-Signature", "v0=00")
            .with_timestamp(1);
        assert_eq!(event.headers().get("X-Slack-Signature"), Some("v0=00"));
        assert_eq!(event.headers().get("X-Slack-Request-Timestamp"), Some("1"));
        let event = SignedEvent::slack("s", "{}")
            .without_header("x-slack-signature")
            .with_header("X-Slack-Request-Timestamp", "2");
        assert_eq!(event.headers().get("X-Slack-Signature"), None);
        let fresh = SignedEvent::slack("s", "{}").with_timestamp(Clock::system().now());
        assert_eq!(
            SlackSignatureValidator::new("s")
                .unwrap()
                .verify(&fresh.request()),
            Ok(())
        );
    }

    #[test]
    fn twilio_posts_the_form_it_signs() {
        let url = "https://example.com/webhooks/twilio?x=1";
        let event = SignedEvent::twilio(
            "token",
            url,
            &[("Body", "hi there & more"), ("From", "+14158675309")],
        );
        assert_eq!(event.body(), b"Body=hi+there+%26+more&From=%2B14158675309");
        let validator = TwilioSignatureValidator::new("token").unwrap();
        assert_eq!(validator.verify(&event.request()), Ok(()));
        let moved = event
            .clone()
            .with_url("https://example.org/webhooks/twilio");
        assert_eq!(validator.verify(&moved.request()), Ok(()));
        assert_ne!(
            moved.headers().get("X-Twilio-Signature"),
            event.headers().get("X-Twilio-Signature")
        );
        assert_eq!(
            validator.verify(&event.tampered().request()),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    #[should_panic(expected = "`bad name` is not a valid header name")]
    fn a_bad_header_name_panics() {
        let _ = SignedEvent::unsigned("{}").with_header("bad name", "x");
    }

    #[test]
    fn debug_shows_no_secret() {
        let event = SignedEvent::gitlab("token-Zx81", "Push Hook", "{}");
        let debug = format!("{event:?}");
        assert!(!debug.contains("token-Zx81"), "{debug}");
    }
}
