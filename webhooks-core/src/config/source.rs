//! `[webhooks.sources.<name>]`: one source, its keys checked and its
//! validator built once.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::error::ConfigError;
use super::network::IpRanges;
use super::secrets::Env;
use super::validator_kind::ValidatorKind;
use crate::SignatureValidator;
use crate::validator::check_public_base;

/// `[webhooks.sources.<name>]`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceConfig {
    /// The scheme: `hmac`, `stripe`, `github`, `standard`, `shopify`,
    /// `slack`, `gitlab`, `twilio`, `square`, `paddle`, `linear`, `discord`
    /// or `none`.
    pub validator: ValidatorKind,
    /// The secret. `standard`: `whsec_<base64>`, or the sender's
    /// `whpk_<base64>` Ed25519 public key; `discord`: the application's
    /// public key (64 hex digits), which is not secret but goes here.
    pub secret: Option<String>,
    /// Several secrets, all accepted, while rotating.
    pub secrets: Option<Vec<String>>,
    /// The name of an environment variable holding the secret.
    pub secret_env: Option<String>,
    /// The names of environment variables each holding a secret, all
    /// accepted, while rotating from the environment.
    pub secrets_env: Option<Vec<String>>,
    /// A file holding the secret (a mounted secret), read at start-up; one
    /// trailing newline (`\n` or `\r\n`) is not part of it.
    pub secret_file: Option<PathBuf>,
    /// Timestamped schemes: seconds a timestamp may be off.
    pub tolerance_seconds: Option<u64>,
    /// `hmac`: the signature header (default `X-Signature`).
    pub header: Option<String>,
    /// `hmac`: the text before the hex digest (default `sha256=`).
    pub prefix: Option<String>,
    /// `hmac`: the header holding the time of signing (Unix seconds), which
    /// is then signed with the body and must be within `tolerance-seconds`
    /// (default 300).
    pub timestamp_header: Option<String>,
    /// `hmac` with `timestamp-header`: what is signed, `{timestamp}` and
    /// `{body}` filled in (default `{timestamp}.{body}`).
    pub signed_payload: Option<String>,
    /// `hmac`/`none`: the header holding the delivery id.
    pub idempotency_header: Option<String>,
    /// `hmac`/`none`: the payload field holding the event type.
    pub event_type_field: Option<String>,
    /// `hmac`/`none`: the header holding the event type.
    pub event_type_header: Option<String>,
    /// `twilio`/`square`: the public base URL the provider calls
    /// (`https://example.com`); the request's path and query are appended.
    /// Without it, the URL is rebuilt from `http://` and the `Host` header.
    pub public_url: Option<String>,
    /// CIDRs (or bare addresses) of the clients allowed to deliver; any
    /// other client gets 403 before any signature work. Absent: every
    /// client. The client is the TCP peer, or, when the peer is one of
    /// `trusted-proxies`, the address its forwarding header names.
    pub allow_ips: Option<Vec<String>>,
    /// The `WEBHOOKS__…` variable that gave `secret` or `secrets`, for
    /// [`SourceConfig::secret_origin`].
    #[serde(skip)]
    pub(super) secret_var: Option<String>,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("validator", &self.validator)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field(
                "secrets",
                &self.secrets.as_ref().map(|s| vec!["[redacted]"; s.len()]),
            )
            .field("secret_env", &self.secret_env)
            .field("secrets_env", &self.secrets_env)
            .field("secret_file", &self.secret_file)
            .field("tolerance_seconds", &self.tolerance_seconds)
            .field("header", &self.header)
            .field("prefix", &self.prefix)
            .field("timestamp_header", &self.timestamp_header)
            .field("signed_payload", &self.signed_payload)
            .field("idempotency_header", &self.idempotency_header)
            .field("event_type_field", &self.event_type_field)
            .field("event_type_header", &self.event_type_header)
            .field("public_url", &self.public_url)
            .field("allow_ips", &self.allow_ips)
            .finish()
    }
}

/// A source of the configuration, checked and with its validator built:
/// what [`ProcessorBuilder::from_config`](crate::ProcessorBuilder::from_config)
/// serves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResolvedSource {
    /// The name: the path segment of `POST /webhooks/<name>`.
    pub name: String,
    /// The validator name it was configured with.
    pub kind: ValidatorKind,
    /// Its validator, built once.
    pub validator: Arc<dyn SignatureValidator>,
    /// Where its secret came from, for the start-up log; never the secret.
    pub secret_origin: String,
    /// `allow-ips`: the only clients it accepts, when set.
    pub allow_ips: Option<IpRanges>,
}

impl SourceConfig {
    /// Checks the source named `name` and builds its validator, in one step:
    /// the keys, then the secrets (reading `secret-env` now), then the
    /// validator, whose construction reports a secret it cannot use.
    pub fn resolve(&self, name: &str) -> Result<ResolvedSource, ConfigError> {
        self.resolve_with(name, &|var| std::env::var_os(var))
    }

    /// [`SourceConfig::resolve`] with `env` as the environment.
    pub(super) fn resolve_with(
        &self,
        name: &str,
        env: &Env<'_>,
    ) -> Result<ResolvedSource, ConfigError> {
        self.check_keys(name)?;
        let validator = self
            .validator
            .build(name, self, self.read_secrets(name, env)?)?;
        Ok(ResolvedSource {
            name: name.to_owned(),
            kind: self.validator,
            validator,
            secret_origin: self.secret_origin(),
            allow_ips: self.allow_ip_ranges(name)?,
        })
    }

    /// Builds the source's validator, reading `secret-env`, `secrets-env`
    /// or `secret-file` now.
    pub fn build_validator(&self, name: &str) -> Result<Arc<dyn SignatureValidator>, ConfigError> {
        self.resolve(name).map(|source| source.validator)
    }

    /// `allow-ips`, parsed; `None` when every client is allowed.
    pub fn allow_ip_ranges(&self, name: &str) -> Result<Option<IpRanges>, ConfigError> {
        let key = format!("webhooks.sources.{name}.allow-ips");
        self.allow_ips
            .as_deref()
            .map(|cidrs| IpRanges::from_key(&key, cidrs, true))
            .transpose()
    }

    /// What can be checked without building: the keys, and secrets written
    /// in the file that must decode (`standard`, `discord`). A secret from
    /// the environment or a file is checked when the source is resolved.
    pub(super) fn check(&self, name: &str) -> Result<(), ConfigError> {
        self.check_keys(name)?;
        if !self.secret_is_external() {
            self.validator
                .check_secrets(&self.read_secrets(name, &|_| None)?)
                .map_err(|error| self.unusable(name, error))?;
        }
        Ok(())
    }

    /// The name, which secret keys are given, and which keys apply to the
    /// validator.
    fn check_keys(&self, name: &str) -> Result<(), ConfigError> {
        let valid_name = webhooks_rules::check_source_name(name).is_ok();
        if !valid_name {
            return Err(ConfigError::invalid(
                format!("webhooks.sources.{name}"),
                "a source name is a path segment of letters, digits, `-`, `_` and `.`",
            ));
        }
        let key = |k: &str| format!("webhooks.sources.{name}.{k}");
        self.check_secret_keys(name)?;
        let optional = [
            ("tolerance-seconds", self.tolerance_seconds.is_some()),
            ("header", self.header.is_some()),
            ("prefix", self.prefix.is_some()),
            ("timestamp-header", self.timestamp_header.is_some()),
            ("signed-payload", self.signed_payload.is_some()),
            ("idempotency-header", self.idempotency_header.is_some()),
            ("event-type-field", self.event_type_field.is_some()),
            ("event-type-header", self.event_type_header.is_some()),
            ("public-url", self.public_url.is_some()),
        ];
        let applies = self.validator.optional_keys();
        for (k, set) in optional {
            if set && !applies.contains(&k) {
                return Err(ConfigError::invalid(
                    key(k),
                    format!("does not apply to validator \"{}\"", self.validator.name()),
                ));
            }
        }
        if let Some(seconds) = self.tolerance_seconds {
            check_tolerance(seconds, &key("tolerance-seconds"))?;
        }
        self.validator.check_options(name, self)?;
        if let Some(base) = &self.public_url {
            check_public_base(base)
                .map_err(|reason| ConfigError::invalid(key("public-url"), reason))?;
        }
        self.allow_ip_ranges(name).map(drop)
    }
}

/// The widest replay window a source may set, in seconds. The providers'
/// own defaults run from 5 s (Paddle) to 300 s (Stripe, Standard Webhooks,
/// Slack, Discord), and each retry is signed anew with a fresh timestamp,
/// so a wider window only gives a captured delivery longer to be replayed;
/// an hour still covers a badly drifting clock.
const MAX_TOLERANCE_SECONDS: u64 = 3600;

/// `tolerance-seconds`: 0 would refuse every delivery that took a second to
/// arrive, so it must be from 1 to [`MAX_TOLERANCE_SECONDS`].
fn check_tolerance(seconds: u64, key: &str) -> Result<(), ConfigError> {
    if !(1..=MAX_TOLERANCE_SECONDS).contains(&seconds) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "must be from 1 to {MAX_TOLERANCE_SECONDS} (one hour): providers sign each \
                 retry anew, and a wider window only lets a captured delivery be replayed longer"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn tolerance_is_from_1_second_to_an_hour() {
        let source = |seconds: &str| {
            format!(
                "[webhooks.sources.s]\nvalidator = \"stripe\"\nsecret = \"x\"\n\
                 tolerance-seconds = {seconds}"
            )
        };
        assert!(Config::from_toml(&source("1")).is_ok());
        assert!(Config::from_toml(&source("3600")).is_ok());
        for seconds in ["0", "3601", "9223372036854775807"] {
            let message = Config::from_toml(&source(seconds)).unwrap_err().to_string();
            assert!(
                message.contains("`webhooks.sources.s.tolerance-seconds`")
                    && message.contains("from 1 to 3600"),
                "{seconds}: {message}"
            );
        }
    }

    #[test]
    fn preset_keys_and_values_are_checked() {
        let error = |text: &str| Config::from_toml(text).unwrap_err().to_string();
        let cases = [
            (
                "validator = \"github\"\nsecret = \"x\"\npublic-url = \"https://a.b\"",
                "webhooks.sources.s.public-url",
            ),
            (
                "validator = \"shopify\"\nsecret = \"x\"\ntolerance-seconds = 5",
                "webhooks.sources.s.tolerance-seconds",
            ),
            (
                "validator = \"twilio\"\nsecret = \"x\"\npublic-url = \"example.com\"",
                "webhooks.sources.s.public-url",
            ),
            (
                "validator = \"square\"\nsecret = \"x\"\npublic-url = \"https://a.b/?q\"",
                "webhooks.sources.s.public-url",
            ),
            (
                "validator = \"standard\"\nsecret = \"whsec_%%hidden%%\"",
                "webhooks.sources.s.secret",
            ),
            (
                "validator = \"discord\"\nsecrets = [\"d75a9801\"]",
                "webhooks.sources.s.secrets",
            ),
        ];
        for (source, key) in cases {
            let message = error(&format!("[webhooks.sources.s]\n{source}"));
            assert!(message.contains(key), "{message}");
            assert!(
                !message.contains("hidden") && !message.contains("d75a9801"),
                "{message}"
            );
        }
    }

    #[test]
    fn resolving_checks_and_builds_in_one_step() {
        let source = |text: &str| toml::from_str::<SourceConfig>(text).unwrap();
        let standard = source(
            "validator = \"standard\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntolerance-seconds = 60",
        );
        let resolved = standard.resolve("svix").unwrap();
        assert_eq!(resolved.name, "svix");
        assert_eq!(resolved.kind, ValidatorKind::Standard);
        assert_eq!(resolved.validator.scheme(), "standard");
        assert_eq!(resolved.secret_origin, "the configuration file");
        assert!(!format!("{resolved:?}").contains("MfKQ"), "{resolved:?}");
        // What `check` refuses, `resolve` refuses on its own, with the same error.
        for (name, text) in [
            ("s", "validator = \"standard\"\nsecret = \"whsec_%%%\""),
            (
                "s",
                "validator = \"github\"\nsecret = \"x\"\nheader = \"X\"",
            ),
            ("s/t", "validator = \"github\"\nsecret = \"x\""),
            ("s", "validator = \"none\"\nsecret = \"x\""),
        ] {
            let source = source(text);
            assert!(source.check(name).is_err(), "{text}");
            assert_eq!(source.check(name), source.resolve(name).map(drop), "{text}");
        }
    }

    #[test]
    fn allow_ips_is_parsed_and_a_bad_cidr_names_the_key() {
        let source = |text: &str| toml::from_str::<SourceConfig>(text).unwrap();
        let open = source("validator = \"github\"\nsecret = \"x\"");
        assert_eq!(open.resolve("gh").unwrap().allow_ips, None);
        let hooks = source(
            "validator = \"github\"\nsecret = \"x\"\nallow-ips = [\"192.30.252.0/22\", \"2a0a:a440::/29\"]",
        );
        let ranges = hooks.resolve("gh").unwrap().allow_ips.unwrap();
        assert!(ranges.contains("192.30.255.1".parse().unwrap()));
        assert!(!ranges.contains("192.30.251.1".parse().unwrap()));
        for bad in ["[\"192.30.252.0/33\"]", "[\"api.github.com\"]", "[]"] {
            let text = format!("validator = \"github\"\nsecret = \"x\"\nallow-ips = {bad}");
            let message = source(&text).check("github").unwrap_err().to_string();
            assert!(
                message.contains("webhooks.sources.github.allow-ips"),
                "{message}"
            );
        }
    }
}
