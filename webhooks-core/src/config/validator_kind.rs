//! The validator names of the configuration: which keys each takes, which
//! secrets it can use, and building it from a source's table.

use std::sync::Arc;

use serde::Deserialize;

use super::error::ConfigError;
use super::source::SourceConfig;
use crate::validator::{GenericExtraction, parse_discord_key, parse_standard_key};
use crate::{
    DiscordSignatureValidator, GitHubSignatureValidator, GitLabSignatureValidator,
    HmacSignatureValidator, InvalidSecret, LinearSignatureValidator, NoOpSignatureValidator,
    PaddleSignatureValidator, Secrets, ShopifySignatureValidator, SignatureValidator,
    SignedPayload, SlackSignatureValidator, SquareSignatureValidator, StandardSignatureValidator,
    StripeSignatureValidator, TwilioSignatureValidator,
};

/// A validator name of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ValidatorKind {
    /// `sha256=<hex>` over the raw body in a configurable header.
    Hmac,
    /// `Stripe-Signature: t=..,v1=..`.
    Stripe,
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// Standard Webhooks / Svix: `webhook-signature: v1,<base64> v1a,<base64>`.
    Standard,
    /// `X-Shopify-Hmac-Sha256: <base64>`.
    Shopify,
    /// `X-Slack-Signature: v0=<hex>` with `X-Slack-Request-Timestamp`.
    Slack,
    /// `X-Gitlab-Token: <the secret token>`.
    Gitlab,
    /// `X-Twilio-Signature`, over the public URL and the form parameters.
    Twilio,
    /// `x-square-hmacsha256-signature`, over the notification URL and body.
    Square,
    /// `Paddle-Signature: ts=..;h1=..`.
    Paddle,
    /// `Linear-Signature: <hex>` and the payload's `webhookTimestamp`.
    Linear,
    /// `X-Signature-Ed25519`; the secret is the application's public key.
    Discord,
    /// No verification; must be written out, and warns at every start.
    None,
}

impl ValidatorKind {
    /// The name written in the configuration (`stripe`, `github` …).
    pub fn name(self) -> &'static str {
        match self {
            Self::Hmac => "hmac",
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Standard => "standard",
            Self::Shopify => "shopify",
            Self::Slack => "slack",
            Self::Gitlab => "gitlab",
            Self::Twilio => "twilio",
            Self::Square => "square",
            Self::Paddle => "paddle",
            Self::Linear => "linear",
            Self::Discord => "discord",
            Self::None => "none",
        }
    }

    /// The optional keys of a source that this validator takes; any other
    /// is an error naming it.
    pub(super) fn optional_keys(self) -> &'static [&'static str] {
        match self {
            Self::Stripe
            | Self::Standard
            | Self::Slack
            | Self::Paddle
            | Self::Linear
            | Self::Discord => &["tolerance-seconds"],
            Self::Github | Self::Shopify | Self::Gitlab => &[],
            Self::Twilio | Self::Square => &["public-url"],
            Self::Hmac => &[
                "header",
                "prefix",
                "timestamp-header",
                "signed-payload",
                "tolerance-seconds",
                "idempotency-header",
                "event-type-field",
                "event-type-header",
            ],
            Self::None => &[
                "idempotency-header",
                "event-type-field",
                "event-type-header",
            ],
        }
    }

    /// Whether every secret is one this validator can use: `standard` and
    /// `discord` keys must decode; any other secret is used as it is.
    pub(super) fn check_secrets(self, secrets: &Secrets) -> Result<(), InvalidSecret> {
        let mut secrets = secrets.iter().enumerate();
        match self {
            Self::Standard => secrets.try_for_each(|(i, s)| parse_standard_key(i, s).map(drop)),
            Self::Discord => secrets.try_for_each(|(i, s)| parse_discord_key(i, s).map(drop)),
            _ => Ok(()),
        }
    }

    /// The options of source `name` that depend on one another (`hmac`'s
    /// timestamp keys), each error naming its key.
    pub(super) fn check_options(
        self,
        name: &str,
        source: &SourceConfig,
    ) -> Result<(), ConfigError> {
        if self == Self::Hmac {
            hmac_payload(name, source)?;
        }
        Ok(())
    }

    /// This validator for source `name`, with `secrets` and the options of
    /// `source`, whose keys were checked; an error names the key of a
    /// secret it cannot use.
    pub(super) fn build(
        self,
        name: &str,
        source: &SourceConfig,
        secrets: Secrets,
    ) -> Result<Arc<dyn SignatureValidator>, ConfigError> {
        let payload = match self {
            Self::Hmac => hmac_payload(name, source)?,
            _ => None,
        };
        self.build_checked(source, secrets, payload)
            .map_err(|error| source.unusable(name, error))
    }

    fn build_checked(
        self,
        source: &SourceConfig,
        secrets: Secrets,
        payload: Option<SignedPayload>,
    ) -> Result<Arc<dyn SignatureValidator>, InvalidSecret> {
        let tolerance = source.tolerance_seconds;
        let url = source.public_url.as_deref();
        macro_rules! with_tolerance {
            ($validator:expr) => {{
                let validator = $validator;
                Arc::new(match tolerance {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }};
        }
        Ok(match self {
            Self::Stripe => with_tolerance!(StripeSignatureValidator::new(secrets)?),
            Self::Github => Arc::new(GitHubSignatureValidator::new(secrets)?),
            Self::Standard => with_tolerance!(StandardSignatureValidator::new(secrets)?),
            Self::Shopify => Arc::new(ShopifySignatureValidator::new(secrets)?),
            Self::Slack => with_tolerance!(SlackSignatureValidator::new(secrets)?),
            Self::Gitlab => Arc::new(GitLabSignatureValidator::new(secrets)?),
            Self::Twilio => {
                let validator = TwilioSignatureValidator::new(secrets)?;
                Arc::new(match url {
                    Some(base) => validator.public_url(base),
                    None => validator,
                })
            }
            Self::Square => {
                let validator = SquareSignatureValidator::new(secrets)?;
                Arc::new(match url {
                    Some(base) => validator.public_url(base),
                    None => validator,
                })
            }
            Self::Paddle => with_tolerance!(PaddleSignatureValidator::new(secrets)?),
            Self::Linear => with_tolerance!(LinearSignatureValidator::new(secrets)?),
            Self::Discord => with_tolerance!(DiscordSignatureValidator::new(secrets)?),
            Self::Hmac => with_tolerance!(hmac(source, secrets, payload)?),
            Self::None => {
                Arc::new(NoOpSignatureValidator::new().with_extraction(extraction(source)))
            }
        })
    }
}

/// An `hmac` source's validator, but for its tolerance.
fn hmac(
    source: &SourceConfig,
    secrets: Secrets,
    payload: Option<SignedPayload>,
) -> Result<HmacSignatureValidator, InvalidSecret> {
    let mut validator = HmacSignatureValidator::new(secrets)?.with_extraction(extraction(source));
    if let Some(header) = &source.header {
        validator = validator.header(header);
    }
    if let Some(prefix) = &source.prefix {
        validator = validator.prefix(prefix);
    }
    if let (Some(header), Some(payload)) = (&source.timestamp_header, payload) {
        validator = validator.timestamp_header(header).signed_payload(payload);
    }
    Ok(validator)
}

/// An `hmac` source's signed payload when it has a `timestamp-header`:
/// `signed-payload`, else `{timestamp}.{body}`. `signed-payload` and
/// `tolerance-seconds` mean nothing without the header, so they are refused
/// without it.
fn hmac_payload(name: &str, source: &SourceConfig) -> Result<Option<SignedPayload>, ConfigError> {
    let key = |k: &str| format!("webhooks.sources.{name}.{k}");
    let Some(header) = &source.timestamp_header else {
        let given = [
            ("signed-payload", source.signed_payload.is_some()),
            ("tolerance-seconds", source.tolerance_seconds.is_some()),
        ];
        return match given.iter().find(|(_, set)| *set) {
            Some((k, _)) => Err(ConfigError::invalid(key(k), "requires `timestamp-header`")),
            None => Ok(None),
        };
    };
    if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
        return Err(ConfigError::invalid(
            key("timestamp-header"),
            "not a valid header name",
        ));
    }
    match &source.signed_payload {
        Some(template) => {
            template
                .parse()
                .map(Some)
                .map_err(|error: crate::InvalidSignedPayload| {
                    ConfigError::invalid(key("signed-payload"), error.to_string())
                })
        }
        None => Ok(Some(SignedPayload::default())),
    }
}

/// Where an `hmac` or `none` source finds its delivery id and event type.
fn extraction(source: &SourceConfig) -> GenericExtraction {
    GenericExtraction::with(
        source.idempotency_header.as_deref(),
        source.event_type_field.as_deref(),
        source.event_type_header.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use crate::{Config, HmacSignatureValidator};

    #[test]
    fn presets_are_built_by_name() {
        let config = Config::from_toml(
            r#"
            [webhooks.sources.svix]
            validator = "standard"
            secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="]
            tolerance-seconds = 600
            [webhooks.sources.plain]
            validator = "hmac"
            secret = "x"
            [webhooks.sources.stripe]
            validator = "stripe"
            secret = "whsec_test_secret"
            [webhooks.sources.shop]
            validator = "shopify"
            secret = "hush"
            [webhooks.sources.slack]
            validator = "slack"
            secret = "8f742231b10e8888abcd99yyyzzz85a5"
            [webhooks.sources.gitlab]
            validator = "gitlab"
            secret = "token"
            [webhooks.sources.twilio]
            validator = "twilio"
            secret = "12345"
            public-url = "https://mycompany.com"
            [webhooks.sources.square]
            validator = "square"
            secret = "Ibxx_5AKakO-3qeNVR61Dw"
            [webhooks.sources.paddle]
            validator = "paddle"
            secret = "pdl_ntfset_x"
            tolerance-seconds = 30
            [webhooks.sources.linear]
            validator = "linear"
            secret = "lin_wh_x"
            [webhooks.sources.discord]
            validator = "discord"
            secret = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
            "#,
        )
        .unwrap();
        for (name, source) in &config.webhooks.sources {
            let validator = source.build_validator(name).unwrap();
            assert_eq!(validator.scheme(), source.validator.name());
        }
        // twilio-python's vector, seen by the transport at an internal address.
        let twilio = config.webhooks.sources["twilio"]
            .build_validator("twilio")
            .unwrap();
        assert!(twilio.needs_url());
        let headers =
            crate::Headers::new().with("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        let body = b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
        let request = crate::SignedRequest::new(&headers, body)
            .with_url("http://127.0.0.1:3000/myapp.php?foo=1&bar=2");
        assert_eq!(twilio.verify(&request), Ok(()));
    }

    #[test]
    fn an_empty_secret_is_a_start_up_error_naming_its_key() {
        for given in ["secret = \"\"", "secrets = [\"x\", \"\"]", "secrets = []"] {
            let text = format!("[webhooks.sources.s]\nvalidator = \"stripe\"\n{given}");
            let error = Config::from_toml(&text).unwrap_err().to_string();
            assert!(error.contains("`webhooks.sources.s.secret`"), "{error}");
        }
    }

    /// The `[webhooks.sources.partner]` table of an `hmac` source with these keys.
    fn hmac_source(keys: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml(&format!(
            "[webhooks.sources.partner]\nvalidator = \"hmac\"\nsecret = \"partner-secret\"\n{keys}"
        ))
    }

    #[test]
    fn hmac_signs_a_timestamp_when_given_its_header() {
        let config = hmac_source(
            "timestamp-header = \"X-Webhook-Timestamp\"\nsigned-payload = \"v1:{timestamp}:{body}\"\ntolerance-seconds = 60",
        )
        .unwrap();
        let validator = config.webhooks.sources["partner"]
            .build_validator("partner")
            .unwrap();
        let now = crate::Clock::system().now();
        let payload = "v1:{timestamp}:{body}".parse().unwrap();
        let sent_at = |timestamp: i64| {
            let signature = HmacSignatureValidator::sign_timestamped(
                b"partner-secret",
                &payload,
                timestamp,
                b"{}",
            );
            crate::Headers::new()
                .with("X-Webhook-Timestamp", &timestamp.to_string())
                .with("X-Signature", &format!("sha256={signature}"))
        };
        let fresh = sent_at(now);
        assert_eq!(
            validator.verify(&crate::SignedRequest::new(&fresh, b"{}")),
            Ok(())
        );
        let replayed = sent_at(now - 120);
        assert!(matches!(
            validator.verify(&crate::SignedRequest::new(&replayed, b"{}")),
            Err(crate::SignatureError::TimestampOutsideTolerance {
                tolerance_seconds: 60,
                ..
            })
        ));
    }

    #[test]
    fn hmac_timestamp_keys_are_checked_and_named() {
        let cases = [
            (
                "tolerance-seconds = 60",
                "tolerance-seconds",
                "requires `timestamp-header`",
            ),
            (
                "signed-payload = \"{timestamp}.{body}\"",
                "signed-payload",
                "requires `timestamp-header`",
            ),
            (
                "timestamp-header = \"X-T\"\nsigned-payload = \"{timestamp}\"",
                "signed-payload",
                "no `{body}`",
            ),
            (
                "timestamp-header = \"X-T\"\nsigned-payload = \"{body}\"",
                "signed-payload",
                "no `{timestamp}`",
            ),
            (
                "timestamp-header = \"X T\"",
                "timestamp-header",
                "not a valid header name",
            ),
        ];
        for (keys, key, why) in cases {
            let error = hmac_source(keys).unwrap_err().to_string();
            assert!(
                error.contains(&format!("`webhooks.sources.partner.{key}`")) && error.contains(why),
                "{keys}: {error}"
            );
        }
        let error = Config::from_toml(
            "[webhooks.sources.s]\nvalidator = \"stripe\"\nsecret = \"x\"\ntimestamp-header = \"X-T\"",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("webhooks.sources.s.timestamp-header"),
            "{error}"
        );
    }
}
