//! Signature validators: one per provider scheme, each also knowing where
//! that provider puts the delivery id and the event type.

mod body_hasher;
mod digest;
mod discord;
mod extract;
mod freshness;
mod github;
mod gitlab;
mod hmac;
mod keys;
mod linear;
mod meta;
mod noop;
mod paddle;
mod shopify;
mod signed_payload;
mod slack;
mod square;
mod standard;
mod stripe;
mod twilio;
mod url;

use std::fmt;
use std::sync::Arc;

use crate::Headers;

pub(crate) use self::body_hasher::body_mac;
pub use self::body_hasher::{BodyHasher, BodyMacs};
pub use self::digest::MAX_SIGNATURES;
pub(crate) use self::digest::{
    any_digest_equal, count_signature, decode_hex_digest, digests_equal, signature_entries,
};
pub use self::discord::DiscordSignatureValidator;
pub use self::extract::body_sha256_key;
pub(crate) use self::extract::{GenericExtraction, header_value, named_header_value, pick_json};
pub use self::freshness::Clock;
pub(crate) use self::freshness::{Freshness, freshness_builders};
pub use self::github::GitHubSignatureValidator;
pub use self::gitlab::GitLabSignatureValidator;
pub use self::hmac::HmacSignatureValidator;
pub(crate) use self::keys::{parse_discord_key, parse_standard_key};
pub use self::linear::LinearSignatureValidator;
pub use self::meta::{EventMeta, EventParseError};
pub use self::noop::NoOpSignatureValidator;
pub use self::paddle::PaddleSignatureValidator;
pub use self::shopify::ShopifySignatureValidator;
pub use self::signed_payload::{InvalidSignedPayload, SignedPayload};
pub use self::slack::SlackSignatureValidator;
pub use self::square::SquareSignatureValidator;
pub use self::standard::StandardSignatureValidator;
pub use self::stripe::StripeSignatureValidator;
pub use self::twilio::TwilioSignatureValidator;
pub(crate) use self::url::check_public_base;
pub use self::url::request_url;

/// What a validator sees of a request: the headers, the raw body, and for
/// schemes that sign the URL, the public URL of the request.
///
/// ```
/// use webhooks_core::{Headers, SignedRequest};
///
/// let headers = Headers::new().with("X-Signature", "sha256=00");
/// let request = SignedRequest::new(&headers, b"{}").with_url("https://example.com/webhooks/x");
/// assert_eq!(request.url(), Some("https://example.com/webhooks/x"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    headers: &'a Headers,
    body: &'a [u8],
    url: Option<&'a str>,
    body_macs: Option<&'a BodyMacs>,
}

impl<'a> SignedRequest<'a> {
    /// A request with these headers and this raw body.
    pub fn new(headers: &'a Headers, body: &'a [u8]) -> Self {
        Self {
            headers,
            body,
            url: None,
            body_macs: None,
        }
    }

    /// The same request with its public URL.
    #[must_use]
    pub fn with_url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }

    /// The same request with the MACs of its body computed while it
    /// arrived (from the validator's [`SignatureValidator::body_hasher`]),
    /// which `verify` then uses instead of hashing the body again. MACs
    /// that do not fit the request (another secret, prefix or body length)
    /// are not used: the answer is the same with or without them.
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, Headers, SignatureValidator, SignedRequest};
    ///
    /// let validator = GitHubSignatureValidator::new("secret")?;
    /// let body = b"{\"zen\":\"Design for failure.\"}";
    /// let headers = Headers::new()
    ///     .with("X-Hub-Signature-256", &GitHubSignatureValidator::sign(b"secret", body));
    /// let mut hasher = validator.body_hasher(&headers, None).unwrap();
    /// for frame in body.chunks(7) {
    ///     hasher.update(frame);
    /// }
    /// let macs = hasher.finish();
    /// let request = SignedRequest::new(&headers, body).with_body_macs(&macs);
    /// assert!(validator.verify(&request).is_ok());
    /// # Ok::<(), webhooks_core::InvalidSecret>(())
    /// ```
    #[must_use]
    pub fn with_body_macs(mut self, macs: &'a BodyMacs) -> Self {
        self.body_macs = Some(macs);
        self
    }

    /// The MACs of the body computed while it arrived, if any.
    pub fn body_macs(&self) -> Option<&'a BodyMacs> {
        self.body_macs
    }

    /// The request headers.
    pub fn headers(&self) -> &'a Headers {
        self.headers
    }

    /// The raw body, exactly as received.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The public URL, when the transport knows it.
    pub fn url(&self) -> Option<&'a str> {
        self.url
    }
}

/// Why a signature was refused. One variant per cause; no message ever
/// contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature header is absent.
    #[error("missing signature header `{0}`")]
    MissingHeader(String),
    /// The signature header is present but not of the scheme's form.
    #[error("malformed signature header `{header}`: {reason}")]
    MalformedHeader {
        /// The header's name.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The header is well formed, but no signature in it matches the body
    /// under any configured secret: a wrong secret or a tampered body.
    #[error("no signature matches the body")]
    NoMatchingSignature,
    /// The signature matches, but its timestamp is too old or too far in
    /// the future: a replay, or a clock that is off.
    #[error("timestamp outside the tolerance of {tolerance_seconds} s (off by {skew_seconds} s)")]
    TimestampOutsideTolerance {
        /// The configured tolerance.
        tolerance_seconds: u64,
        /// How far the timestamp is from now, in seconds (negative: future).
        skew_seconds: i64,
    },
    /// The scheme signs the request URL, and the transport did not give it.
    #[error("the request URL is needed to verify this signature")]
    MissingUrl,
    /// The scheme signs the request URL, and the one given cannot be the
    /// URL the provider called: no public URL is configured and the
    /// request's `Host` is not a plain `host[:port]`.
    #[error("the request URL cannot be verified: {0}")]
    UnverifiableUrl(&'static str),
    /// The body cannot be checked against the signature without more work
    /// than any genuine delivery needs (Twilio: too many form parameters).
    #[error("the body cannot be verified: {0}")]
    UnverifiableBody(&'static str),
}

/// A provider's signature scheme, and where its deliveries carry their id and
/// event type.
///
/// Implementations compare digests in constant time and accept any of several
/// secrets (rotation).
///
/// ```
/// use webhooks_core::{GitHubSignatureValidator, Headers, SignatureValidator, SignedRequest};
///
/// let validator = GitHubSignatureValidator::new("It's a Secret to Everybody")?;
/// let headers = Headers::new().with(
///     "X-Hub-Signature-256",
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
/// );
/// assert!(validator.verify(&SignedRequest::new(&headers, b"Hello, World!")).is_ok());
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
pub trait SignatureValidator: Send + Sync + fmt::Debug + 'static {
    /// Checks the request's signature on its raw bytes.
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError>;

    /// The delivery id and event type of a verified request.
    ///
    /// The default reads the key from `X-Idempotency-Key` or `X-Event-Id`,
    /// the type from the payload's `type` or the `X-Event-Type` header, and
    /// falls back to the SHA-256 of the body as the key.
    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        GenericExtraction::default().describe(request)
    }

    /// Whether [`SignatureValidator::verify`] needs the request URL.
    fn needs_url(&self) -> bool {
        false
    }

    /// For a scheme that signs, with HMAC-SHA256, a prefix known from the
    /// headers (and the URL, when [`SignatureValidator::needs_url`]) and
    /// then the body: the states a transport feeds the body to as it
    /// arrives, so that [`SignatureValidator::verify`], given the finished
    /// MACs with [`SignedRequest::with_body_macs`], reads the body no more.
    ///
    /// `None` (the default) when the scheme signs something else, and when
    /// the headers alone already make `verify` refuse (a missing or
    /// malformed signature, a stale timestamp): such a request costs no
    /// hashing, as without this method. `verify` decides exactly as it
    /// would without the MACs.
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, GitLabSignatureValidator, Headers, SignatureValidator};
    ///
    /// let github = GitHubSignatureValidator::new("secret")?;
    /// let signed = Headers::new().with("X-Hub-Signature-256", &GitHubSignatureValidator::sign(b"secret", b"{}"));
    /// assert!(github.body_hasher(&signed, None).is_some());
    /// assert!(github.body_hasher(&Headers::new(), None).is_none());
    /// // A token signs no body.
    /// let gitlab = GitLabSignatureValidator::new("token")?;
    /// assert!(gitlab.body_hasher(&Headers::new().with("X-Gitlab-Token", "token"), None).is_none());
    /// # Ok::<(), webhooks_core::InvalidSecret>(())
    /// ```
    fn body_hasher(&self, headers: &Headers, url: Option<&str>) -> Option<BodyHasher> {
        let _ = (headers, url);
        None
    }

    /// Whether an event type is `family.action`, so that a listener for
    /// `family` receives every `family.*` event (GitHub's `issues`).
    fn event_families(&self) -> bool {
        false
    }

    /// The scheme's name, for logs and metrics (`stripe`, `github` …).
    fn scheme(&self) -> &'static str;

    /// The answer the provider expects to a verified request that is not an
    /// event but a check of the endpoint (Slack's `url_verification`
    /// challenge, Discord's PING); `None` (the default) for an event.
    /// `meta` is what [`SignatureValidator::describe`] found, so telling a
    /// check from an event needs no second reading of the body.
    fn handshake(&self, request: &SignedRequest<'_>, meta: &EventMeta) -> Option<Handshake> {
        let _ = (request, meta);
        None
    }
}

/// The answer to a provider's check of the endpoint, from
/// [`SignatureValidator::handshake`]: nothing is recorded or dispatched.
///
/// ```
/// use webhooks_core::Handshake;
///
/// let pong = Handshake::json(r#"{"type":1}"#);
/// assert_eq!((pong.status(), pong.body()), (200, br#"{"type":1}"#.as_slice()));
/// assert_eq!(Handshake::no_content().status(), 204);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    status: u16,
    body: Vec<u8>,
}

impl Handshake {
    /// `200 OK` with this JSON body.
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            body: body.into(),
        }
    }

    /// `204 No Content`.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            body: Vec::new(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The JSON body; empty for `204`.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// Forwards every method to the validator inside a smart pointer, so the
/// wrappers cannot drift from the trait (a method forgotten here would
/// silently fall back to its default).
macro_rules! forward_validator {
    ($($wrapper:ident),+) => {$(
        impl<V: SignatureValidator + ?Sized> SignatureValidator for $wrapper<V> {
            fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
                (**self).verify(request)
            }
            fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
                (**self).describe(request)
            }
            fn needs_url(&self) -> bool {
                (**self).needs_url()
            }
            fn body_hasher(&self, headers: &Headers, url: Option<&str>) -> Option<BodyHasher> {
                (**self).body_hasher(headers, url)
            }
            fn event_families(&self) -> bool {
                (**self).event_families()
            }
            fn scheme(&self) -> &'static str {
                (**self).scheme()
            }
            fn handshake(
                &self,
                request: &SignedRequest<'_>,
                meta: &EventMeta,
            ) -> Option<Handshake> {
                (**self).handshake(request, meta)
            }
        }
    )+};
}
forward_validator!(Arc, Box);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WebhookProcessor;
    use crate::listener::EventPattern;

    #[test]
    fn a_scheme_that_does_not_override_the_defaults_gets_them() {
        // Stripe signs neither the URL nor `family.action` event types, and
        // answers no handshake: the trait's defaults, here and through the
        // smart pointers a processor keeps validators in.
        let stripe = StripeSignatureValidator::new("whsec_test").unwrap();
        let headers = Headers::new();
        let request = SignedRequest::new(&headers, br#"{"type":"customer.created"}"#);
        let meta = EventMeta::new("evt_1", "customer.created");
        let boxed: Box<dyn SignatureValidator> = Box::new(stripe.clone());
        let shared: Arc<dyn SignatureValidator> = Arc::new(stripe.clone());
        for validator in [&stripe as &dyn SignatureValidator, &boxed, &shared] {
            assert!(!validator.needs_url());
            assert!(!validator.event_families());
            assert_eq!(validator.handshake(&request, &meta), None);
        }
        // A listener for `customer` is not one for `customer.created`.
        let customer = EventPattern::parse("customer").unwrap();
        assert!(!customer.matches("customer.created", stripe.event_families()));
        assert!(customer.matches("customer", stripe.event_families()));

        let processor = WebhookProcessor::builder()
            .register_validator("stripe", stripe)
            .build()
            .unwrap();
        assert!(!processor.source_needs_url("stripe"));
        assert!(!processor.route("stripe").unwrap().needs_url());
    }

    #[test]
    fn a_handshake_gives_its_body_away() {
        let pong = Handshake::json(r#"{"type":1}"#);
        assert_eq!(pong.into_body(), br#"{"type":1}"#);
        assert_eq!(Handshake::no_content().into_body(), b"");
    }
}
