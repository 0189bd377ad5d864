//! One constructor per scheme: the headers each provider sends, signed with
//! the validators' own `sign` helpers.

use super::{SignedEvent, fresh_uuid};
use crate::{
    DiscordSignatureValidator, GitHubSignatureValidator, GitLabSignatureValidator,
    HmacSignatureValidator, LinearSignatureValidator, PaddleSignatureValidator, Secret,
    ShopifySignatureValidator, SignedPayload, SlackSignatureValidator, SquareSignatureValidator,
    StandardSignatureValidator, StripeSignatureValidator, TwilioSignatureValidator,
};

/// How an event is signed, with the key. `Secret` keeps keys out of `Debug`.
#[derive(Debug, Clone)]
pub(super) enum Scheme {
    Unsigned,
    Stripe(Secret),
    GitHub(Secret),
    Hmac(Secret),
    HmacTimestamped {
        secret: Secret,
        header: String,
        payload: SignedPayload,
    },
    Standard(Secret),
    StandardEd25519(Secret),
    Shopify(Secret),
    Slack(Secret),
    GitLab(Secret),
    Twilio {
        auth_token: Secret,
        params: Vec<(String, String)>,
    },
    Square(Secret),
    Paddle(Secret),
    Linear(Secret),
    Discord(Secret),
}

impl Scheme {
    /// The header the signature goes in.
    pub(super) fn signature_header(&self) -> Option<&'static str> {
        Some(match self {
            Self::Unsigned => return None,
            Self::Stripe(_) => "Stripe-Signature",
            Self::GitHub(_) => "X-Hub-Signature-256",
            Self::Hmac(_) | Self::HmacTimestamped { .. } => "X-Signature",
            Self::Standard(_) | Self::StandardEd25519(_) => "webhook-signature",
            Self::Shopify(_) => "X-Shopify-Hmac-Sha256",
            Self::Slack(_) => "X-Slack-Signature",
            Self::GitLab(_) => "X-Gitlab-Token",
            Self::Twilio { .. } => "X-Twilio-Signature",
            Self::Square(_) => "x-square-hmacsha256-signature",
            Self::Paddle(_) => "Paddle-Signature",
            Self::Linear(_) => "Linear-Signature",
            Self::Discord(_) => "X-Signature-Ed25519",
        })
    }

    /// The header of its own that carries the signed timestamp.
    pub(super) fn timestamp_header(&self) -> Option<&str> {
        match self {
            Self::HmacTimestamped { header, .. } => Some(header),
            Self::Standard(_) | Self::StandardEd25519(_) => Some("webhook-timestamp"),
            Self::Slack(_) => Some("X-Slack-Request-Timestamp"),
            Self::Discord(_) => Some("X-Signature-Timestamp"),
            _ => None,
        }
    }

    /// The signature header's value for the event as it is now.
    pub(super) fn sign(&self, event: &SignedEvent) -> Option<String> {
        let body = event.body();
        let url = event.url().unwrap_or_default();
        let timestamp = event.signed_timestamp();
        let msg_id = || event.headers().get("webhook-id").unwrap_or_default();
        Some(match self {
            Self::Unsigned => return None,
            Self::Stripe(secret) => {
                StripeSignatureValidator::sign(secret.expose(), timestamp, body)
            }
            Self::GitHub(secret) => GitHubSignatureValidator::sign(secret.expose(), body),
            Self::Hmac(secret) => {
                format!(
                    "sha256={}",
                    HmacSignatureValidator::sign(secret.expose(), body)
                )
            }
            Self::HmacTimestamped {
                secret, payload, ..
            } => {
                let digest = HmacSignatureValidator::sign_timestamped(
                    secret.expose(),
                    payload,
                    timestamp,
                    body,
                );
                format!("sha256={digest}")
            }
            Self::Standard(secret) => {
                StandardSignatureValidator::sign(text(secret), msg_id(), timestamp, body)
                    .unwrap_or_else(|error| panic!("Standard Webhooks secret: {error}"))
            }
            Self::StandardEd25519(key) => {
                StandardSignatureValidator::sign_ed25519(text(key), msg_id(), timestamp, body)
                    .unwrap_or_else(|error| panic!("Standard Webhooks signing key: {error}"))
            }
            Self::Shopify(secret) => ShopifySignatureValidator::sign(secret.expose(), body),
            Self::Slack(secret) => SlackSignatureValidator::sign(secret.expose(), timestamp, body),
            Self::GitLab(token) => GitLabSignatureValidator::sign(text(token)),
            Self::Twilio { auth_token, params } => {
                let params: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str()))
                    .collect();
                TwilioSignatureValidator::sign(auth_token.expose(), url, &params)
            }
            Self::Square(key) => SquareSignatureValidator::sign(key.expose(), url, body),
            Self::Paddle(secret) => {
                PaddleSignatureValidator::sign(secret.expose(), timestamp, body)
            }
            Self::Linear(secret) => LinearSignatureValidator::sign(secret.expose(), body),
            Self::Discord(seed) => {
                let seed: &[u8; 32] = seed.expose().try_into().expect("a 32-byte seed");
                DiscordSignatureValidator::sign(seed, timestamp, body)
            }
        })
    }
}

/// A key that was given as text.
fn text(secret: &Secret) -> &str {
    std::str::from_utf8(secret.expose()).expect("given as a &str")
}

impl SignedEvent {
    /// What Stripe sends: `Stripe-Signature: t=<now>,v1=<hex>` under the
    /// endpoint secret used whole (`whsec_…`). The delivery id and event
    /// type are the body's `id` and `type`.
    ///
    /// ```
    /// use webhooks_core::{SignatureValidator, StripeSignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::stripe("whsec_test", r#"{"id":"evt_1","type":"invoice.paid"}"#);
    /// let validator = StripeSignatureValidator::new("whsec_test").unwrap();
    /// assert!(validator.verify(&event.request()).is_ok());
    /// assert_eq!(validator.describe(&event.request()).unwrap().id, "evt_1");
    /// ```
    pub fn stripe(secret: &str, body: impl AsRef<[u8]>) -> Self {
        Self::signed(Scheme::Stripe(secret.into()), body.as_ref(), None, &[])
    }

    /// What GitHub sends: `X-Hub-Signature-256: sha256=<hex>`,
    /// `X-GitHub-Event: <event>` and a fresh `X-GitHub-Delivery`. The event
    /// type joins `event` with the body's `action`: `issues.opened`.
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, SignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::github("secret", "issues", r#"{"action":"opened"}"#);
    /// let validator = GitHubSignatureValidator::new("secret").unwrap();
    /// assert!(validator.verify(&event.request()).is_ok());
    /// assert_eq!(validator.describe(&event.request()).unwrap().event_type, "issues.opened");
    /// ```
    pub fn github(secret: &str, event: &str, body: impl AsRef<[u8]>) -> Self {
        let delivery = fresh_uuid();
        let headers = [("X-GitHub-Event", event), ("X-GitHub-Delivery", &delivery)];
        Self::signed(Scheme::GitHub(secret.into()), body.as_ref(), None, &headers)
    }

    /// The generic scheme's defaults: `X-Signature: sha256=<hex>`. The
    /// delivery id is `X-Idempotency-Key` or `X-Event-Id` when you set one
    /// (else the body's SHA-256), the event type the body's `type`.
    ///
    /// ```
    /// use webhooks_core::{HmacSignatureValidator, SignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::hmac("secret", r#"{"type":"order.paid"}"#);
    /// assert!(HmacSignatureValidator::new("secret").unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn hmac(secret: &str, body: impl AsRef<[u8]>) -> Self {
        Self::signed(Scheme::Hmac(secret.into()), body.as_ref(), None, &[])
    }

    /// The generic scheme with a signed timestamp: the time of signing (Unix
    /// seconds) in `timestamp_header`, and `X-Signature: sha256=<hex>` of
    /// `payload` (`{timestamp}.{body}` by default) filled with it and the
    /// body. [`SignedEvent::with_timestamp`] signs another time.
    ///
    /// # Panics
    /// If `timestamp_header` is not a valid header name.
    ///
    /// ```
    /// use webhooks_core::{HmacSignatureValidator, SignatureValidator, SignedPayload, testing::SignedEvent};
    ///
    /// let body = r#"{"type":"order.paid"}"#;
    /// let event = SignedEvent::hmac_timestamped("secret", "X-Webhook-Timestamp", &SignedPayload::default(), body);
    /// let validator = HmacSignatureValidator::new("secret").unwrap().timestamp_header("X-Webhook-Timestamp");
    /// assert!(validator.verify(&event.request()).is_ok());
    /// ```
    pub fn hmac_timestamped(
        secret: &str,
        timestamp_header: &str,
        payload: &SignedPayload,
        body: impl AsRef<[u8]>,
    ) -> Self {
        let scheme = Scheme::HmacTimestamped {
            secret: secret.into(),
            header: timestamp_header.to_owned(),
            payload: payload.clone(),
        };
        Self::signed(scheme, body.as_ref(), None, &[])
    }

    /// What a Standard Webhooks (Svix) sender sends with a `whsec_<base64>`
    /// secret: a fresh `webhook-id`, `webhook-timestamp: <now>` and
    /// `webhook-signature: v1,<base64>`.
    ///
    /// # Panics
    /// If `secret` is not `whsec_` and base64.
    ///
    /// ```
    /// use webhooks_core::{SignatureValidator, StandardSignatureValidator, testing::SignedEvent};
    ///
    /// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    /// let event = SignedEvent::standard(secret, r#"{"type":"invoice.paid"}"#);
    /// assert!(StandardSignatureValidator::new(secret).unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn standard(secret: &str, body: impl AsRef<[u8]>) -> Self {
        let msg_id = format!("msg_{}", fresh_uuid().replace('-', ""));
        let headers = [("webhook-id", msg_id.as_str())];
        Self::signed(
            Scheme::Standard(secret.into()),
            body.as_ref(),
            None,
            &headers,
        )
    }

    /// Standard Webhooks' asymmetric form: `webhook-signature: v1a,<base64>`,
    /// the Ed25519 signature by the `whsk_<base64>` signing key. The source
    /// is configured with its public key,
    /// [`StandardSignatureValidator::public_key`] (`whpk_…`).
    ///
    /// # Panics
    /// If `signing_key` is not the base64 of 32 bytes after `whsk_`.
    ///
    /// ```
    /// use webhooks_core::{SignatureValidator, StandardSignatureValidator, testing::SignedEvent};
    ///
    /// let signing_key = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
    /// let public_key = StandardSignatureValidator::public_key(signing_key).unwrap();
    /// let event = SignedEvent::standard_ed25519(signing_key, r#"{"type":"invoice.paid"}"#);
    /// assert!(StandardSignatureValidator::new(public_key.as_str()).unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn standard_ed25519(signing_key: &str, body: impl AsRef<[u8]>) -> Self {
        let msg_id = format!("msg_{}", fresh_uuid().replace('-', ""));
        let headers = [("webhook-id", msg_id.as_str())];
        let scheme = Scheme::StandardEd25519(signing_key.into());
        Self::signed(scheme, body.as_ref(), None, &headers)
    }

    /// What Shopify sends: `X-Shopify-Hmac-Sha256: <base64>`,
    /// `X-Shopify-Topic: <topic>` (the event type) and a fresh
    /// `X-Shopify-Webhook-Id` (the delivery id).
    ///
    /// ```
    /// use webhooks_core::{ShopifySignatureValidator, SignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::shopify("client-secret", "orders/create", r#"{"id":1}"#);
    /// let validator = ShopifySignatureValidator::new("client-secret").unwrap();
    /// assert!(validator.verify(&event.request()).is_ok());
    /// assert_eq!(validator.describe(&event.request()).unwrap().event_type, "orders/create");
    /// ```
    pub fn shopify(secret: &str, topic: &str, body: impl AsRef<[u8]>) -> Self {
        let webhook_id = fresh_uuid();
        let headers = [
            ("X-Shopify-Topic", topic),
            ("X-Shopify-Webhook-Id", &webhook_id),
        ];
        Self::signed(
            Scheme::Shopify(secret.into()),
            body.as_ref(),
            None,
            &headers,
        )
    }

    /// What Slack sends: `X-Slack-Request-Timestamp: <now>` and
    /// `X-Slack-Signature: v0=<hex>`. The delivery id is the body's
    /// `event_id`, the event type its `event.type`, else `type`.
    ///
    /// ```
    /// use webhooks_core::{SignatureValidator, SlackSignatureValidator, testing::SignedEvent};
    ///
    /// let body = r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    /// let event = SignedEvent::slack("signing-secret", body);
    /// assert!(SlackSignatureValidator::new("signing-secret").unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn slack(signing_secret: &str, body: impl AsRef<[u8]>) -> Self {
        Self::signed(
            Scheme::Slack(signing_secret.into()),
            body.as_ref(),
            None,
            &[],
        )
    }

    /// What GitLab sends: the secret token itself in `X-Gitlab-Token`,
    /// `X-Gitlab-Event: <event>` (`Push Hook`), and a fresh
    /// `Idempotency-Key` and `X-Gitlab-Event-UUID`. GitLab signs nothing,
    /// so a changed body still passes; a wrong token does not.
    ///
    /// ```
    /// use webhooks_core::{GitLabSignatureValidator, SignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::gitlab("s3cret-token", "Push Hook", "{}");
    /// assert!(GitLabSignatureValidator::new("s3cret-token").unwrap().verify(&event.request()).is_ok());
    /// assert!(GitLabSignatureValidator::new("other").unwrap().verify(&event.request()).is_err());
    /// ```
    pub fn gitlab(token: &str, event: &str, body: impl AsRef<[u8]>) -> Self {
        let (key, uuid) = (fresh_uuid(), fresh_uuid());
        let headers = [
            ("X-Gitlab-Event", event),
            ("Idempotency-Key", &key),
            ("X-Gitlab-Event-UUID", &uuid),
        ];
        Self::signed(Scheme::GitLab(token.into()), body.as_ref(), None, &headers)
    }

    /// What Twilio sends when it posts the form `params` to `url`: the
    /// form-encoded body, `X-Twilio-Signature` (HMAC-SHA1 of the URL and the
    /// sorted parameters) and a fresh `I-Twilio-Idempotency-Token`.
    ///
    /// `url` is the public URL Twilio calls: with `public-url =
    /// "https://example.com"` configured, `https://example.com/webhooks/<source>`;
    /// without it, the server rebuilds `http://<Host header>/webhooks/<source>`.
    ///
    /// ```
    /// use webhooks_core::{SignatureValidator, TwilioSignatureValidator, testing::SignedEvent};
    ///
    /// let url = "https://example.com/webhooks/twilio";
    /// let event = SignedEvent::twilio("auth-token", url, &[("MessageSid", "SM1"), ("Body", "hi")]);
    /// assert_eq!(event.body(), b"MessageSid=SM1&Body=hi");
    /// assert!(TwilioSignatureValidator::new("auth-token").unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn twilio(auth_token: &str, url: &str, params: &[(&str, &str)]) -> Self {
        let body = form_encode(params);
        let scheme = Scheme::Twilio {
            auth_token: auth_token.into(),
            params: params
                .iter()
                .map(|&(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        };
        let token = fresh_uuid();
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("I-Twilio-Idempotency-Token", token.as_str()),
        ];
        Self::signed(scheme, body.as_bytes(), Some(url), &headers)
    }

    /// What Square sends when it posts `body` to `notification_url`:
    /// `x-square-hmacsha256-signature`, the base64 HMAC-SHA256 of the URL
    /// and the body. The delivery id is the body's `event_id`, the event
    /// type its `type`. See [`SignedEvent::twilio`] for the URL.
    ///
    /// ```
    /// use webhooks_core::{SignatureValidator, SquareSignatureValidator, testing::SignedEvent};
    ///
    /// let url = "https://example.com/webhooks/square";
    /// let event = SignedEvent::square("signature-key", url, r#"{"type":"payment.updated","event_id":"e1"}"#);
    /// assert!(SquareSignatureValidator::new("signature-key").unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn square(signature_key: &str, notification_url: &str, body: impl AsRef<[u8]>) -> Self {
        let scheme = Scheme::Square(signature_key.into());
        Self::signed(scheme, body.as_ref(), Some(notification_url), &[])
    }

    /// What Paddle Billing sends: `Paddle-Signature: ts=<now>;h1=<hex>`
    /// under the secret key used whole (`pdl_ntfset_…`). The delivery id is
    /// the body's `event_id`, the event type its `event_type`.
    ///
    /// ```
    /// use webhooks_core::{PaddleSignatureValidator, SignatureValidator, testing::SignedEvent};
    ///
    /// let body = r#"{"event_id":"evt_01","event_type":"transaction.completed"}"#;
    /// let event = SignedEvent::paddle("pdl_ntfset_secret", body);
    /// assert!(PaddleSignatureValidator::new("pdl_ntfset_secret").unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn paddle(secret_key: &str, body: impl AsRef<[u8]>) -> Self {
        Self::signed(Scheme::Paddle(secret_key.into()), body.as_ref(), None, &[])
    }

    /// What Linear sends: `Linear-Signature: <hex>` and a fresh
    /// `Linear-Delivery`. The event type joins the body's `type` and
    /// `action` (`Issue.create`); a `webhookTimestamp` in the body
    /// (milliseconds) must be within a minute of now.
    ///
    /// ```
    /// use webhooks_core::{LinearSignatureValidator, SignatureValidator, testing::SignedEvent};
    ///
    /// let event = SignedEvent::linear("lin_wh_secret", r#"{"type":"Issue","action":"create"}"#);
    /// let validator = LinearSignatureValidator::new("lin_wh_secret").unwrap();
    /// assert!(validator.verify(&event.request()).is_ok());
    /// assert_eq!(validator.describe(&event.request()).unwrap().event_type, "Issue.create");
    /// ```
    pub fn linear(secret: &str, body: impl AsRef<[u8]>) -> Self {
        let delivery = fresh_uuid();
        let headers = [("Linear-Delivery", delivery.as_str())];
        Self::signed(Scheme::Linear(secret.into()), body.as_ref(), None, &headers)
    }

    /// What Discord sends: `X-Signature-Timestamp: <now>` and
    /// `X-Signature-Ed25519`, the Ed25519 signature by the application's
    /// private key, whose 32-byte seed is `signing_key` (any bytes will do
    /// in a test). Discord's side signs; the source is configured with the
    /// matching public key, [`DiscordSignatureValidator::public_key`].
    ///
    /// ```
    /// use webhooks_core::{DiscordSignatureValidator, SignatureValidator, testing::SignedEvent};
    ///
    /// let signing_key = [7_u8; 32];
    /// let public_key = DiscordSignatureValidator::public_key(&signing_key); // for the config
    /// let event = SignedEvent::discord(&signing_key, r#"{"id":"1","type":1}"#);
    /// assert!(DiscordSignatureValidator::new(public_key.as_str()).unwrap().verify(&event.request()).is_ok());
    /// ```
    pub fn discord(signing_key: &[u8; 32], body: impl AsRef<[u8]>) -> Self {
        let scheme = Scheme::Discord(Secret::new(signing_key.as_slice()));
        Self::signed(scheme, body.as_ref(), None, &[])
    }
}

/// `application/x-www-form-urlencoded`, as Twilio posts it.
fn form_encode(params: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        let mut encoded = String::with_capacity(text.len());
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    encoded.push(char::from(byte));
                }
                b' ' => encoded.push('+'),
                _ => encoded.push_str(&format!("%{byte:02X}")),
            }
        }
        encoded
    };
    params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}
