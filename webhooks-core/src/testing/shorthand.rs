//! The same constructors as free functions, as `testing::stripe(...)` reads
//! in a test.

use super::SignedEvent;
use crate::SignedPayload;

/// Shorthand for [`SignedEvent::stripe`].
///
/// ```
/// let event = webhooks_core::testing::stripe("whsec_test", r#"{"id":"evt_1","type":"a"}"#);
/// assert!(event.headers().get("Stripe-Signature").unwrap().starts_with("t="));
/// ```
pub fn stripe(secret: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::stripe(secret, body)
}

/// Shorthand for [`SignedEvent::github`].
///
/// ```
/// let event = webhooks_core::testing::github("secret", "push", "{}");
/// assert_eq!(event.headers().get("X-GitHub-Event"), Some("push"));
/// ```
pub fn github(secret: &str, event: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::github(secret, event, body)
}

/// Shorthand for [`SignedEvent::hmac`].
///
/// ```
/// let event = webhooks_core::testing::hmac("secret", "{}");
/// assert!(event.headers().get("X-Signature").unwrap().starts_with("sha256="));
/// ```
pub fn hmac(secret: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::hmac(secret, body)
}

/// Shorthand for [`SignedEvent::hmac_timestamped`].
///
/// ```
/// use webhooks_core::SignedPayload;
///
/// let event = webhooks_core::testing::hmac_timestamped("secret", "X-Webhook-Timestamp", &SignedPayload::default(), "{}");
/// assert!(event.headers().get("X-Webhook-Timestamp").is_some());
/// ```
pub fn hmac_timestamped(
    secret: &str,
    timestamp_header: &str,
    payload: &SignedPayload,
    body: impl AsRef<[u8]>,
) -> SignedEvent {
    SignedEvent::hmac_timestamped(secret, timestamp_header, payload, body)
}

/// Shorthand for [`SignedEvent::standard`].
///
/// ```
/// let event = webhooks_core::testing::standard("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "{}");
/// assert!(event.headers().get("webhook-signature").unwrap().starts_with("v1,"));
/// ```
pub fn standard(secret: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::standard(secret, body)
}

/// Shorthand for [`SignedEvent::standard_ed25519`].
///
/// ```
/// let key = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
/// let event = webhooks_core::testing::standard_ed25519(key, "{}");
/// assert!(event.headers().get("webhook-signature").unwrap().starts_with("v1a,"));
/// ```
pub fn standard_ed25519(signing_key: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::standard_ed25519(signing_key, body)
}

/// Shorthand for [`SignedEvent::shopify`].
///
/// ```
/// let event = webhooks_core::testing::shopify("secret", "orders/create", "{}");
/// assert_eq!(event.headers().get("X-Shopify-Topic"), Some("orders/create"));
/// ```
pub fn shopify(secret: &str, topic: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::shopify(secret, topic, body)
}

/// Shorthand for [`SignedEvent::slack`].
///
/// ```
/// let event = webhooks_core::testing::slack("signing-secret", r#"{"type":"url_verification"}"#);
/// assert!(event.headers().get("X-Slack-Signature").unwrap().starts_with("v0="));
/// ```
pub fn slack(signing_secret: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::slack(signing_secret, body)
}

/// Shorthand for [`SignedEvent::gitlab`].
///
/// ```
/// let event = webhooks_core::testing::gitlab("token", "Push Hook", "{}");
/// assert_eq!(event.headers().get("X-Gitlab-Event"), Some("Push Hook"));
/// ```
pub fn gitlab(token: &str, event: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::gitlab(token, event, body)
}

/// Shorthand for [`SignedEvent::twilio`].
///
/// ```
/// let event = webhooks_core::testing::twilio("token", "https://example.com/webhooks/sms", &[("Body", "hi")]);
/// assert_eq!(event.body(), b"Body=hi");
/// ```
pub fn twilio(auth_token: &str, url: &str, params: &[(&str, &str)]) -> SignedEvent {
    SignedEvent::twilio(auth_token, url, params)
}

/// Shorthand for [`SignedEvent::square`].
///
/// ```
/// let event = webhooks_core::testing::square("key", "https://example.com/webhooks/square", "{}");
/// assert!(event.headers().get("x-square-hmacsha256-signature").is_some());
/// ```
pub fn square(signature_key: &str, notification_url: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::square(signature_key, notification_url, body)
}

/// Shorthand for [`SignedEvent::paddle`].
///
/// ```
/// let event = webhooks_core::testing::paddle("pdl_ntfset_secret", "{}");
/// assert!(event.headers().get("Paddle-Signature").unwrap().starts_with("ts="));
/// ```
pub fn paddle(secret_key: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::paddle(secret_key, body)
}

/// Shorthand for [`SignedEvent::linear`].
///
/// ```
/// let event = webhooks_core::testing::linear("lin_wh_secret", r#"{"type":"Issue"}"#);
/// assert!(event.headers().get("Linear-Delivery").is_some());
/// ```
pub fn linear(secret: &str, body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::linear(secret, body)
}

/// Shorthand for [`SignedEvent::discord`].
///
/// ```
/// let event = webhooks_core::testing::discord(&[7; 32], r#"{"type":1}"#);
/// assert_eq!(event.headers().get("X-Signature-Ed25519").unwrap().len(), 128);
/// ```
pub fn discord(signing_key: &[u8; 32], body: impl AsRef<[u8]>) -> SignedEvent {
    SignedEvent::discord(signing_key, body)
}
