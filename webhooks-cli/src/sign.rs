//! A delivery signed exactly as a source's provider signs it, with the
//! signers of `webhooks_core::testing`: the same code the project's tests
//! verify each validator against.

use webhooks_core::config::{SourceConfig, ValidatorKind};
use webhooks_core::testing::{self, SignedEvent};
use webhooks_core::{DiscordSignatureValidator, SignedPayload, StandardSignatureValidator};

use crate::output::Failure;
use crate::samples;

/// What to sign for one source.
pub(crate) struct Request<'a> {
    /// The source's validator.
    pub(crate) kind: ValidatorKind,
    /// The source's table.
    pub(crate) table: &'a SourceConfig,
    /// Its signing secret (`None` for `validator = "none"`).
    pub(crate) secret: Option<String>,
    /// `--body`, else a sample.
    pub(crate) body: Option<Vec<u8>>,
    /// `--event`.
    pub(crate) event: Option<&'a str>,
    /// The URL the provider would call, for the schemes that sign it.
    pub(crate) signed_url: String,
    /// `--signing-key-env`, for the schemes whose configuration holds a
    /// public key.
    pub(crate) signing_key_env: Option<&'a str>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("kind", &self.kind)
            .field("table", self.table)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .field("event", &self.event)
            .field("signed_url", &self.signed_url)
            .field("signing_key_env", &self.signing_key_env)
            .finish()
    }
}

impl Request<'_> {
    /// The signed delivery.
    pub(crate) fn sign(&self) -> Result<SignedEvent, Failure> {
        let secret = self.secret.as_deref().unwrap_or_default();
        let event = self.event.unwrap_or(samples::default_event(self.kind));
        let id = samples::fresh_id();
        let body = || match &self.body {
            Some(body) => body.clone(),
            None => samples::json_body(self.kind, self.table, event, &id)
                .to_string()
                .into_bytes(),
        };
        let header_event = || event.split('.').next().unwrap_or(event);
        Ok(match self.kind {
            ValidatorKind::Stripe => testing::stripe(secret, body()),
            ValidatorKind::Github => testing::github(secret, header_event(), body()),
            ValidatorKind::Hmac | ValidatorKind::None => {
                self.generic(secret, body(), event, &id)?
            }
            ValidatorKind::Standard if secret.starts_with("whpk_") => {
                let key = self.signing_key()?;
                match StandardSignatureValidator::public_key(&key) {
                    Ok(public) if public == secret => testing::standard_ed25519(&key, body()),
                    _ => return Err(mismatch("a whsk_ key whose public key is the source's")),
                }
            }
            ValidatorKind::Standard => testing::standard(secret, body()),
            ValidatorKind::Shopify => testing::shopify(secret, event, body()),
            ValidatorKind::Slack => testing::slack(secret, body()),
            ValidatorKind::Gitlab => testing::gitlab(secret, event, body()),
            ValidatorKind::Twilio => {
                let params = match &self.body {
                    Some(form) => form_urlencoded::parse(form).into_owned().collect(),
                    None => samples::twilio_params(&id),
                };
                let params: Vec<(&str, &str)> = params
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                testing::twilio(secret, &self.signed_url, &params)
            }
            ValidatorKind::Square => testing::square(secret, &self.signed_url, body()),
            ValidatorKind::Paddle => testing::paddle(secret, body()),
            ValidatorKind::Linear => testing::linear(secret, body()),
            ValidatorKind::Discord => {
                let seed = parse_seed(&self.signing_key()?)?;
                if !DiscordSignatureValidator::public_key(&seed).eq_ignore_ascii_case(secret) {
                    return Err(mismatch("the seed of the source's public key"));
                }
                testing::discord(&seed, body())
            }
            other => {
                return Err(Failure::Usage(format!(
                    "`send` cannot sign for validator \"{}\" yet",
                    other.name()
                )));
            }
        })
    }

    /// `hmac` and `none`: the configured header, prefix and timestamp, the
    /// delivery id in the source's id header and the type in its type
    /// header when it has one.
    fn generic(
        &self,
        secret: &str,
        body: Vec<u8>,
        event: &str,
        id: &str,
    ) -> Result<SignedEvent, Failure> {
        let table = self.table;
        let mut signed = match (self.kind, &table.timestamp_header) {
            (ValidatorKind::None, _) => SignedEvent::unsigned(body),
            (_, Some(header)) => {
                let payload: SignedPayload = match &table.signed_payload {
                    Some(template) => template
                        .parse()
                        .map_err(|error| Failure::Usage(format!("signed-payload: {error}")))?,
                    None => SignedPayload::default(),
                };
                testing::hmac_timestamped(secret, header, &payload, body)
            }
            (_, None) => testing::hmac(secret, body),
        };
        if self.kind == ValidatorKind::Hmac {
            let value = signed.headers().get("X-Signature").unwrap_or_default();
            let digest = value.trim_start_matches("sha256=").to_owned();
            let prefix = table.prefix.as_deref().unwrap_or("sha256=");
            let header = table.header.as_deref().unwrap_or("X-Signature");
            signed = signed
                .without_header("X-Signature")
                .with_header(header, &format!("{prefix}{digest}"));
        }
        if self.body.is_none() {
            let id_header = table.idempotency_header.as_deref().unwrap_or("X-Event-Id");
            signed = signed.with_header(id_header, id);
        }
        if let Some(type_header) = &table.event_type_header {
            signed = signed.with_header(type_header, event);
        }
        Ok(signed)
    }

    /// The private key named by `--signing-key-env`.
    fn signing_key(&self) -> Result<String, Failure> {
        let Some(var) = self.signing_key_env else {
            return Err(Failure::Usage(format!(
                "the source's validator \"{}\" is configured with a public key: give the \
                 private signing key with --signing-key-env VAR",
                self.kind.name()
            )));
        };
        std::env::var(var)
            .ok()
            .filter(|key| !key.is_empty())
            .ok_or_else(|| Failure::Usage(format!("environment variable {var} is not set")))
    }
}

/// A Discord seed: 64 hex digits.
fn parse_seed(hex: &str) -> Result<[u8; 32], Failure> {
    let invalid = || Failure::Usage("the Discord signing key is not 64 hex digits".into());
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(invalid());
    }
    let mut seed = [0_u8; 32];
    for (byte, pair) in seed.iter_mut().zip(hex.as_bytes().chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
    }
    Ok(seed)
}

/// A signing key that does not match the configured public key; the
/// message names neither.
fn mismatch(expected: &str) -> Failure {
    Failure::Usage(format!(
        "the signing key does not match the source's public key: expected {expected}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let table = webhooks_core::Config::from_toml(
            "[webhooks.sources.s]\nvalidator = \"github\"\nsecret = \"gh-secret-Qq17\"",
        )
        .unwrap()
        .webhooks
        .sources
        .remove("s")
        .unwrap();
        let request = Request {
            kind: ValidatorKind::Github,
            table: &table,
            secret: Some("gh-secret-Qq17".into()),
            body: None,
            event: Some("push"),
            signed_url: "http://127.0.0.1:3000/webhooks/s".into(),
            signing_key_env: None,
        };
        let debug = format!("{request:?}");
        assert!(!debug.contains("gh-secret-Qq17"), "{debug}");
        let signed = request.sign().unwrap();
        assert!(!format!("{signed:?}").contains("gh-secret-Qq17"));
    }

    #[test]
    fn a_discord_seed_is_64_hex_digits() {
        assert_eq!(parse_seed(&"07".repeat(32)).unwrap(), [7; 32]);
        for bad in ["07", &"zz".repeat(32), &"é".repeat(32)] {
            assert!(matches!(parse_seed(bad), Err(Failure::Usage(_))), "{bad}");
        }
    }
}
