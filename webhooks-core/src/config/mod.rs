//! The `[webhooks]` configuration, keys and defaults as the contract's file.
//!
//! A file is parsed and checked once ([`Config::from_toml`]); its sources are
//! then resolved once, each validator built and `secret-env` read, by
//! [`WebhooksConfig::resolve_sources`], which
//! [`ProcessorBuilder::from_config`](crate::ProcessorBuilder::from_config)
//! calls.

mod dispatch;
mod error;
mod event_log;
mod idempotency;
mod network;
mod parse;
mod source;
mod validator_kind;
mod webhooks;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use self::dispatch::{DispatchConfig, DispatchMode};
pub use self::error::ConfigError;
pub use self::event_log::{AdminConfig, EventLogConfig, MIN_ADMIN_TOKEN_BYTES};
pub use self::idempotency::{IdempotencyConfig, RedisConfig, StoreProvider};
pub use self::network::{InvalidCidr, IpRanges};
pub use self::source::{ResolvedSource, SourceConfig};
pub use self::validator_kind::ValidatorKind;
pub use self::webhooks::WebhooksConfig;

/// A configuration file: a `[webhooks]` table.
///
/// ```
/// use webhooks_core::Config;
///
/// let config = Config::from_toml(r#"
///     [webhooks.sources.github]
///     validator = "github"
///     secret = "s3cret"
/// "#).unwrap();
/// assert_eq!(config.webhooks.bind, "127.0.0.1:3000");
/// assert_eq!(config.webhooks.sources["github"].validator, webhooks_core::config::ValidatorKind::Github);
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The `[webhooks]` table.
    #[serde(default)]
    pub webhooks: WebhooksConfig,
}

impl Config {
    /// Parses a TOML document; unknown keys and bad values are errors that
    /// name the key.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Self = parse::from_toml(text)?;
        config.webhooks.validate()?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        Self::from_toml(&text).map_err(|mut error| {
            if let ConfigError::Parse { file, .. } = &mut error {
                *file = Some(path.to_owned());
            }
            error
        })
    }

    /// The file named by `WEBHOOKS_CONFIG`, else `./webhooks.toml` when it
    /// exists; `None` when neither is there.
    pub fn from_env() -> Result<Option<(Self, PathBuf)>, ConfigError> {
        let path = match std::env::var_os("WEBHOOKS_CONFIG") {
            Some(path) => PathBuf::from(path),
            None => {
                let default = PathBuf::from("webhooks.toml");
                if !default.exists() {
                    return Ok(None);
                }
                default
            }
        };
        Self::load(&path).map(|config| Some((config, path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_file_parses_with_its_defaults() {
        let config = Config::from_toml(
            r#"
            [webhooks]
            enabled = true
            bind = "127.0.0.1:3000"
            max-body-bytes = 1048576
            shutdown-timeout-seconds = 30

            [webhooks.idempotency]
            provider = "in-memory"
            ttl-seconds = 86400

            [webhooks.idempotency.redis]
            url = "redis://localhost:6379/0"

            [webhooks.sources.stripe]
            validator = "stripe"
            secret = "whsec_..."
            tolerance-seconds = 300

            [webhooks.sources.github]
            validator = "github"
            secret = "..."

            [webhooks.sources.partner]
            validator = "hmac"
            secret = "..."
            header = "X-Signature"
            prefix = "sha256="

            [webhooks.dispatch]
            mode = "inline"
            max-attempts = 5
            backoff-initial-ms = 500
            queue-capacity = 10000
            listener-timeout-seconds = 30
            "#,
        )
        .unwrap();
        let w = &config.webhooks;
        assert_eq!(w.sources.len(), 3);
        assert_eq!(w.dispatch.mode, DispatchMode::Inline);
        assert_eq!(w.idempotency.provider, StoreProvider::InMemory);
        for (name, source) in &w.sources {
            source.build_validator(name).unwrap();
        }
        let empty = Config::from_toml("").unwrap().webhooks;
        assert!(empty.enabled);
        assert_eq!(empty.max_body_bytes, 1_048_576);
        assert_eq!(empty.idempotency.ttl_seconds, 86_400);
        assert_eq!(empty.dispatch.max_attempts, 5);
        assert_eq!(empty.dispatch.queue_capacity, 10_000);
        assert_eq!(empty.shutdown_timeout_seconds, 30);
        assert_eq!(empty.dispatch.listener_timeout_seconds, 30);
        assert_eq!(empty.dispatch.dead_letter_retention_hours, 336);
        assert_eq!(empty.dispatch.dead_letter_max, 10_000);
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = Config::from_toml("[webhooks]\nbindd = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("bindd"), "{unknown}");
        let nested = Config::from_toml(
            "[webhooks.sources.s]\nvalidator = \"github\"\nsecret = \"x\"\nsecert = \"y\"",
        )
        .unwrap_err()
        .to_string();
        assert!(nested.contains("secert"), "{nested}");
        let bad_validator =
            Config::from_toml("[webhooks.sources.s]\nvalidator = \"md5\"\nsecret = \"x\"")
                .unwrap_err()
                .to_string();
        assert!(
            bad_validator.contains("`webhooks.sources.s.validator`"),
            "{bad_validator}"
        );
        let no_secret =
            Config::from_toml("[webhooks.sources.s]\nvalidator = \"github\"").unwrap_err();
        assert_eq!(
            no_secret,
            ConfigError::invalid(
                "webhooks.sources.s.secret",
                "required: one of `secret`, `secrets` or `secret-env`"
            )
        );
        let not_applicable = Config::from_toml(
            "[webhooks.sources.s]\nvalidator = \"github\"\nsecret = \"x\"\ntolerance-seconds = 5",
        )
        .unwrap_err()
        .to_string();
        assert!(
            not_applicable.contains("webhooks.sources.s.tolerance-seconds"),
            "{not_applicable}"
        );
        let bad_bind = Config::from_toml("[webhooks]\nbind = \"nowhere\"")
            .unwrap_err()
            .to_string();
        assert!(bad_bind.contains("webhooks.bind"), "{bad_bind}");
        let zero = Config::from_toml("[webhooks.dispatch]\nmax-attempts = 0")
            .unwrap_err()
            .to_string();
        assert!(zero.contains("webhooks.dispatch.max-attempts"), "{zero}");
        let wrong_type = Config::from_toml("[webhooks]\nmax-body-bytes = \"big\"")
            .unwrap_err()
            .to_string();
        assert!(wrong_type.contains("max-body-bytes"), "{wrong_type}");
        let redis = Config::from_toml("[webhooks.idempotency]\nprovider = \"redis\"")
            .unwrap_err()
            .to_string();
        assert!(redis.contains("webhooks.idempotency.redis.url"), "{redis}");
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let config = Config::from_toml(
            "[webhooks.sources.s]\nvalidator = \"stripe\"\nsecrets = [\"whsec_new_one\", \"whsec_old_one\"]\n[webhooks.idempotency]\nprovider = \"redis\"\n[webhooks.idempotency.redis]\nurl = \"redis://:pa55word@host/0\"",
        )
        .unwrap();
        let printed = format!("{config:?}");
        assert!(!printed.contains("whsec_"), "{printed}");
        assert!(!printed.contains("pa55word"), "{printed}");
        let validator = config.webhooks.sources["s"].build_validator("s").unwrap();
        assert!(!format!("{validator:?}").contains("whsec_"));
    }
}
