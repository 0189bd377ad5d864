//! The validator names of the configuration: which keys each takes, which
//! secrets it can use, and building it from a source's table.

use std::sync::Arc;

use serde::Deserialize;

use super::source::SourceConfig;
use crate::validator::{GenericExtraction, parse_discord_key, parse_standard_key};
use crate::{
    DiscordSignatureValidator, GitHubSignatureValidator, GitLabSignatureValidator,
    HmacSignatureValidator, InvalidSecret, LinearSignatureValidator, NoOpSignatureValidator,
    PaddleSignatureValidator, Secrets, ShopifySignatureValidator, SignatureValidator,
    SlackSignatureValidator, SquareSignatureValidator, StandardSignatureValidator,
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

    /// This validator with `secrets` and the options of `source`, whose keys
    /// were checked.
    pub(super) fn build(
        self,
        source: &SourceConfig,
        secrets: Secrets,
    ) -> Result<Arc<dyn SignatureValidator>, InvalidSecret> {
        let tolerance = source.tolerance_seconds;
        Ok(match self {
            Self::Stripe => {
                let validator = StripeSignatureValidator::new(secrets);
                Arc::new(match tolerance {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            Self::Github => Arc::new(GitHubSignatureValidator::new(secrets)),
            Self::Standard => {
                let validator = StandardSignatureValidator::try_new(secrets)?;
                Arc::new(match tolerance {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            Self::Shopify => Arc::new(ShopifySignatureValidator::new(secrets)),
            Self::Slack => {
                let validator = SlackSignatureValidator::new(secrets);
                Arc::new(match tolerance {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            Self::Gitlab => Arc::new(GitLabSignatureValidator::new(secrets)),
            Self::Twilio => {
                let validator = TwilioSignatureValidator::new(secrets);
                Arc::new(match &source.public_url {
                    Some(base) => validator.public_url(base),
                    None => validator,
                })
            }
            Self::Square => {
                let validator = SquareSignatureValidator::new(secrets);
                Arc::new(match &source.public_url {
                    Some(base) => validator.public_url(base),
                    None => validator,
                })
            }
            Self::Paddle => {
                let validator = PaddleSignatureValidator::new(secrets);
                Arc::new(match tolerance {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            Self::Linear => {
                let validator = LinearSignatureValidator::new(secrets);
                Arc::new(match tolerance {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            Self::Discord => {
                let validator = DiscordSignatureValidator::try_new(secrets)?;
                Arc::new(match tolerance {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            Self::Hmac => {
                let mut validator =
                    HmacSignatureValidator::new(secrets).with_extraction(extraction(source));
                if let Some(header) = &source.header {
                    validator = validator.header(header);
                }
                if let Some(prefix) = &source.prefix {
                    validator = validator.prefix(prefix);
                }
                Arc::new(validator)
            }
            Self::None => {
                Arc::new(NoOpSignatureValidator::new().with_extraction(extraction(source)))
            }
        })
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
    use crate::Config;

    #[test]
    fn presets_are_built_by_name() {
        let config = Config::from_toml(
            r#"
            [webhooks.sources.svix]
            validator = "standard"
            secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="]
            tolerance-seconds = 600
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
}
