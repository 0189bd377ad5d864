//! The `[webhooks]` configuration, keys and defaults as the contract's file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::validator::check_public_base;
use crate::{
    DiscordSignatureValidator, GitHubSignatureValidator, GitLabSignatureValidator,
    HmacSignatureValidator, LinearSignatureValidator, NoOpSignatureValidator,
    PaddleSignatureValidator, Secret, Secrets, ShopifySignatureValidator, SignatureValidator,
    SlackSignatureValidator, SquareSignatureValidator, StandardSignatureValidator,
    StripeSignatureValidator, TwilioSignatureValidator,
};

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
        let config: Self =
            toml::from_str(text).map_err(|error| ConfigError::Parse(error.to_string()))?;
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
        Self::from_toml(&text).map_err(|error| match error {
            ConfigError::Parse(reason) => {
                ConfigError::Parse(format!("{}: {reason}", path.display()))
            }
            other => other,
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

fn yes() -> bool {
    true
}

/// The `[webhooks]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WebhooksConfig {
    /// `false`: the server mounts no webhook route.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The address to listen on (`WEBHOOKS_BIND` overrides it).
    #[serde(default = "WebhooksConfig::default_bind")]
    pub bind: String,
    /// Larger bodies are refused with 413, unread.
    #[serde(default = "WebhooksConfig::default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// `[webhooks.idempotency]`.
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    /// `[webhooks.dispatch]`.
    #[serde(default)]
    pub dispatch: DispatchConfig,
    /// `[webhooks.sources.<name>]`: `POST /webhooks/<name>`.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
}

impl WebhooksConfig {
    fn default_bind() -> String {
        "127.0.0.1:3000".into()
    }

    fn default_max_body_bytes() -> u64 {
        1_048_576
    }

    /// Checks values serde cannot: ranges, names, and which keys apply to
    /// which validator.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::invalid(
                "webhooks.bind",
                "expected an address such as 127.0.0.1:3000",
            ));
        }
        positive(self.max_body_bytes, "webhooks.max-body-bytes")?;
        positive(
            self.idempotency.ttl_seconds,
            "webhooks.idempotency.ttl-seconds",
        )?;
        positive(
            self.idempotency.lease_seconds,
            "webhooks.idempotency.lease-seconds",
        )?;
        if self.idempotency.provider == StoreProvider::Redis && self.idempotency.redis.is_none() {
            return Err(ConfigError::invalid(
                "webhooks.idempotency.redis.url",
                "required when provider = \"redis\"",
            ));
        }
        positive(
            u64::from(self.dispatch.max_attempts),
            "webhooks.dispatch.max-attempts",
        )?;
        positive(
            self.dispatch.queue_capacity as u64,
            "webhooks.dispatch.queue-capacity",
        )?;
        positive(
            self.dispatch.visibility_timeout_seconds,
            "webhooks.dispatch.visibility-timeout-seconds",
        )?;
        if let Some(workers) = self.dispatch.workers {
            positive(workers as u64, "webhooks.dispatch.workers")?;
        }
        for (name, source) in &self.sources {
            let valid_name = webhooks_rules::check_source_name(name).is_ok();
            if !valid_name {
                return Err(ConfigError::invalid(
                    format!("webhooks.sources.{name}"),
                    "a source name is a path segment of letters, digits, `-`, `_` and `.`",
                ));
            }
            source.validate(name)?;
        }
        Ok(())
    }

    /// The ID lease as a duration.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.idempotency.lease_seconds)
    }

    /// The idempotency TTL as a duration.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.idempotency.ttl_seconds)
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        toml::from_str("").expect("the empty table takes every default")
    }
}

fn positive(value: u64, key: &str) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::invalid(key, "must be greater than 0"));
    }
    Ok(())
}

/// Which idempotency store to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreProvider {
    /// In process memory (the default).
    #[default]
    InMemory,
    /// Redis, shared by every instance (the `redis` feature).
    Redis,
}

/// `[webhooks.idempotency]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IdempotencyConfig {
    /// `in-memory` (default) or `redis`.
    #[serde(default)]
    pub provider: StoreProvider,
    /// How long a completed delivery id is remembered.
    #[serde(default = "IdempotencyConfig::default_ttl")]
    pub ttl_seconds: u64,
    /// How long a claim holds a delivery id while it is processed; after it,
    /// a crashed holder's delivery can be processed again.
    #[serde(default = "IdempotencyConfig::default_lease")]
    pub lease_seconds: u64,
    /// `[webhooks.idempotency.redis]`.
    pub redis: Option<RedisConfig>,
}

impl IdempotencyConfig {
    fn default_ttl() -> u64 {
        86_400
    }
    fn default_lease() -> u64 {
        60
    }
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self {
            provider: StoreProvider::InMemory,
            ttl_seconds: Self::default_ttl(),
            lease_seconds: Self::default_lease(),
            redis: None,
        }
    }
}

/// `[webhooks.idempotency.redis]`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://host:port/db`; may hold a password, so it is never printed.
    pub url: String,
    /// The prefix of every key (default `webhooks`).
    #[serde(default = "RedisConfig::default_prefix")]
    pub key_prefix: String,
    /// `true`: `url` is one node of a Redis Cluster, from which the others
    /// are discovered.
    #[serde(default)]
    pub cluster: bool,
}

impl RedisConfig {
    fn default_prefix() -> String {
        "webhooks".into()
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &"[redacted]")
            .field("key_prefix", &self.key_prefix)
            .field("cluster", &self.cluster)
            .finish()
    }
}

/// When listeners run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DispatchMode {
    /// Before answering; 2xx only once they succeeded (the default).
    #[default]
    Inline,
    /// After answering, in the background, with retries.
    Queued,
}

/// `[webhooks.dispatch]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DispatchConfig {
    /// `inline` (default) or `queued`.
    #[serde(default)]
    pub mode: DispatchMode,
    /// Queued: runs of a failing listener before it is dead-lettered.
    #[serde(default = "DispatchConfig::default_max_attempts")]
    pub max_attempts: u32,
    /// Queued: the first retry's delay; each next one doubles it.
    #[serde(default = "DispatchConfig::default_backoff")]
    pub backoff_initial_ms: u64,
    /// Queued: events waiting at most; beyond it deliveries get 503.
    #[serde(default = "DispatchConfig::default_capacity")]
    pub queue_capacity: usize,
    /// Queued: events handled at once (default: the number of CPUs).
    pub workers: Option<usize>,
    /// Queued, Redis: an event a worker took and did not finish within this
    /// long (the worker died) is taken over by another worker.
    #[serde(default = "DispatchConfig::default_visibility")]
    pub visibility_timeout_seconds: u64,
}

impl DispatchConfig {
    fn default_max_attempts() -> u32 {
        5
    }
    fn default_backoff() -> u64 {
        500
    }
    fn default_capacity() -> usize {
        10_000
    }
    fn default_visibility() -> u64 {
        60
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            mode: DispatchMode::Inline,
            max_attempts: Self::default_max_attempts(),
            backoff_initial_ms: Self::default_backoff(),
            queue_capacity: Self::default_capacity(),
            workers: None,
            visibility_timeout_seconds: Self::default_visibility(),
        }
    }
}

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
}

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
    /// Timestamped schemes: seconds a timestamp may be off.
    pub tolerance_seconds: Option<u64>,
    /// `hmac`: the signature header (default `X-Signature`).
    pub header: Option<String>,
    /// `hmac`: the text before the hex digest (default `sha256=`).
    pub prefix: Option<String>,
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
            .field("tolerance_seconds", &self.tolerance_seconds)
            .field("header", &self.header)
            .field("prefix", &self.prefix)
            .field("idempotency_header", &self.idempotency_header)
            .field("event_type_field", &self.event_type_field)
            .field("event_type_header", &self.event_type_header)
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl SourceConfig {
    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("webhooks.sources.{name}.{k}");
        let given = [
            ("secret", self.secret.is_some()),
            ("secrets", self.secrets.is_some()),
            ("secret-env", self.secret_env.is_some()),
        ];
        let count = given.iter().filter(|(_, set)| *set).count();
        if self.validator == ValidatorKind::None {
            if let Some((k, _)) = given.iter().find(|(_, set)| *set) {
                return Err(ConfigError::invalid(
                    key(k),
                    "validator \"none\" takes no secret",
                ));
            }
        } else if count == 0 {
            return Err(ConfigError::invalid(
                key("secret"),
                "required: one of `secret`, `secrets` or `secret-env`",
            ));
        } else if count > 1 {
            return Err(ConfigError::invalid(
                key("secret"),
                "give only one of `secret`, `secrets` or `secret-env`",
            ));
        }
        if self
            .secrets
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.iter().any(String::is_empty))
            || self.secret.as_ref().is_some_and(String::is_empty)
        {
            return Err(ConfigError::invalid(
                key("secret"),
                "a secret may not be empty",
            ));
        }
        let applies: &[&str] = match self.validator {
            ValidatorKind::Stripe
            | ValidatorKind::Standard
            | ValidatorKind::Slack
            | ValidatorKind::Paddle
            | ValidatorKind::Linear
            | ValidatorKind::Discord => &["tolerance-seconds"],
            ValidatorKind::Github | ValidatorKind::Shopify | ValidatorKind::Gitlab => &[],
            ValidatorKind::Twilio | ValidatorKind::Square => &["public-url"],
            ValidatorKind::Hmac => &[
                "header",
                "prefix",
                "idempotency-header",
                "event-type-field",
                "event-type-header",
            ],
            ValidatorKind::None => &[
                "idempotency-header",
                "event-type-field",
                "event-type-header",
            ],
        };
        let optional = [
            ("tolerance-seconds", self.tolerance_seconds.is_some()),
            ("header", self.header.is_some()),
            ("prefix", self.prefix.is_some()),
            ("idempotency-header", self.idempotency_header.is_some()),
            ("event-type-field", self.event_type_field.is_some()),
            ("event-type-header", self.event_type_header.is_some()),
            ("public-url", self.public_url.is_some()),
        ];
        for (k, set) in optional {
            if set && !applies.contains(&k) {
                return Err(ConfigError::invalid(
                    key(k),
                    format!("does not apply to validator \"{}\"", self.validator.name()),
                ));
            }
        }
        if let Some(base) = &self.public_url {
            check_public_base(base)
                .map_err(|reason| ConfigError::invalid(key("public-url"), reason))?;
        }
        if self.secret_env.is_none() {
            // Keys that must decode (`standard`, `discord`) are checked now;
            // one read from the environment is checked when it is built.
            self.construct(name, self.resolve_secrets(name)?)?;
        }
        Ok(())
    }

    /// Where the secret comes from, for the start-up log (never the secret).
    pub fn secret_origin(&self) -> String {
        match (&self.secret, &self.secrets, &self.secret_env) {
            (_, _, Some(var)) => format!("environment variable {var}"),
            (_, Some(secrets), _) => format!("{} secrets in the configuration file", secrets.len()),
            (Some(_), _, _) => "the configuration file".into(),
            _ => "none".into(),
        }
    }

    fn resolve_secrets(&self, name: &str) -> Result<Secrets, ConfigError> {
        if let Some(var) = &self.secret_env {
            let value = std::env::var(var).map_err(|_| ConfigError::MissingEnv {
                key: format!("webhooks.sources.{name}.secret-env"),
                var: var.clone(),
            })?;
            if value.is_empty() {
                return Err(ConfigError::MissingEnv {
                    key: format!("webhooks.sources.{name}.secret-env"),
                    var: var.clone(),
                });
            }
            return Ok(Secrets::from(Secret::from(value)));
        }
        if let Some(secrets) = &self.secrets {
            return Ok(secrets.iter().map(String::as_str).collect());
        }
        Ok(self
            .secret
            .as_deref()
            .map(Secrets::from)
            .unwrap_or_else(|| Secrets::from_iter::<[&str; 0]>([])))
    }

    /// Builds the source's validator, reading `secret-env` now.
    pub fn build_validator(&self, name: &str) -> Result<Arc<dyn SignatureValidator>, ConfigError> {
        self.validate(name)?;
        self.construct(name, self.resolve_secrets(name)?)
    }

    /// The key the secrets were given under, for errors about them.
    fn secret_key(&self) -> &'static str {
        if self.secret_env.is_some() {
            "secret-env"
        } else if self.secrets.is_some() {
            "secrets"
        } else {
            "secret"
        }
    }

    fn construct(
        &self,
        name: &str,
        secrets: Secrets,
    ) -> Result<Arc<dyn SignatureValidator>, ConfigError> {
        let unusable = |error: crate::InvalidSecret| {
            ConfigError::invalid(
                format!("webhooks.sources.{name}.{}", self.secret_key()),
                error.to_string(),
            )
        };
        Ok(match self.validator {
            ValidatorKind::Stripe => {
                let mut validator = StripeSignatureValidator::new(secrets);
                if let Some(tolerance) = self.tolerance_seconds {
                    validator = validator.tolerance_seconds(tolerance);
                }
                Arc::new(validator)
            }
            ValidatorKind::Github => Arc::new(GitHubSignatureValidator::new(secrets)),
            ValidatorKind::Standard => {
                let validator = StandardSignatureValidator::try_new(secrets).map_err(unusable)?;
                Arc::new(match self.tolerance_seconds {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            ValidatorKind::Shopify => Arc::new(ShopifySignatureValidator::new(secrets)),
            ValidatorKind::Slack => {
                let validator = SlackSignatureValidator::new(secrets);
                Arc::new(match self.tolerance_seconds {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            ValidatorKind::Gitlab => Arc::new(GitLabSignatureValidator::new(secrets)),
            ValidatorKind::Twilio => {
                let validator = TwilioSignatureValidator::new(secrets);
                Arc::new(match &self.public_url {
                    Some(base) => validator.public_url(base),
                    None => validator,
                })
            }
            ValidatorKind::Square => {
                let validator = SquareSignatureValidator::new(secrets);
                Arc::new(match &self.public_url {
                    Some(base) => validator.public_url(base),
                    None => validator,
                })
            }
            ValidatorKind::Paddle => {
                let validator = PaddleSignatureValidator::new(secrets);
                Arc::new(match self.tolerance_seconds {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            ValidatorKind::Linear => {
                let validator = LinearSignatureValidator::new(secrets);
                Arc::new(match self.tolerance_seconds {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            ValidatorKind::Discord => {
                let validator = DiscordSignatureValidator::try_new(secrets).map_err(unusable)?;
                Arc::new(match self.tolerance_seconds {
                    Some(tolerance) => validator.tolerance_seconds(tolerance),
                    None => validator,
                })
            }
            ValidatorKind::Hmac => {
                let mut validator = HmacSignatureValidator::new(secrets);
                if let Some(header) = &self.header {
                    validator = validator.header(header);
                }
                if let Some(prefix) = &self.prefix {
                    validator = validator.prefix(prefix);
                }
                if let Some(header) = &self.idempotency_header {
                    validator = validator.idempotency_header(header);
                }
                if let Some(field) = &self.event_type_field {
                    validator = validator.event_type_field(field);
                }
                if let Some(header) = &self.event_type_header {
                    validator = validator.event_type_header(header);
                }
                Arc::new(validator)
            }
            ValidatorKind::None => {
                let mut validator = NoOpSignatureValidator::new();
                if let Some(header) = &self.idempotency_header {
                    validator = validator.idempotency_header(header);
                }
                if let Some(field) = &self.event_type_field {
                    validator = validator.event_type_field(field);
                }
                if let Some(header) = &self.event_type_header {
                    validator = validator.event_type_header(header);
                }
                Arc::new(validator)
            }
        })
    }
}

/// A configuration that cannot be used; every message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value out of range or not allowed here.
    #[error("invalid configuration: `{key}`: {reason}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// `secret-env` names a variable that is not set.
    #[error("invalid configuration: `{key}`: environment variable {var} is not set or empty")]
    MissingEnv {
        /// The dotted key.
        key: String,
        /// The variable.
        var: String,
    },
}

impl ConfigError {
    /// An invalid value at `key`.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
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
        assert!(bad_validator.contains("md5"), "{bad_validator}");
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
    fn secret_env_is_read_at_build_time() {
        let source: SourceConfig =
            toml::from_str("validator = \"github\"\nsecret-env = \"WEBHOOKS_TEST_UNSET_VAR_42\"")
                .unwrap();
        assert_eq!(
            source.build_validator("gh").unwrap_err(),
            ConfigError::MissingEnv {
                key: "webhooks.sources.gh.secret-env".into(),
                var: "WEBHOOKS_TEST_UNSET_VAR_42".into()
            }
        );
        assert_eq!(
            source.secret_origin(),
            "environment variable WEBHOOKS_TEST_UNSET_VAR_42"
        );
    }
}
