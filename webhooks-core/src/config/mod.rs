//! The `[webhooks]` configuration, keys and defaults as the contract's file.
//!
//! A file is parsed and checked once ([`Config::from_toml`]), with the
//! `WEBHOOKS__…` environment variables set on it first when they apply
//! ([`Config::from_toml_with_env`], [`Config::load_with_env`]: one rule,
//! [`env_var_name`]); its sources are then resolved once, each validator
//! built and `secret-env`, `secrets-env` or `secret-file` read, by
//! [`WebhooksConfig::resolve_sources`], which
//! [`ProcessorBuilder::from_config`](crate::ProcessorBuilder::from_config)
//! calls.

mod dispatch;
mod env;
mod error;
mod event_log;
mod idempotency;
mod network;
mod parse;
mod secrets;
mod source;
mod validator_kind;
mod webhooks;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use self::env::EnvOverrides;

pub use self::dispatch::{DispatchConfig, DispatchMode};
pub use self::env::env_var_name;
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

    /// Parses a TOML document with the `WEBHOOKS__…` variables among `vars`
    /// set on it, by the rule of [`env_var_name`]: `WEBHOOKS__` and the
    /// key's path below `[webhooks]`, `__` between table levels, upper-case
    /// with `-` as `_`; the value a TOML value when it parses as one, else a
    /// string. Other variables are ignored. An error about a key a variable
    /// set names the variable, never its value.
    ///
    /// ```
    /// use webhooks_core::Config;
    ///
    /// let file = "[webhooks.sources.partner-ts]\nvalidator = \"hmac\"\nsecret = \"x\"";
    /// let config = Config::from_toml_with_env(file, [
    ///     ("WEBHOOKS__DISPATCH__MODE", "queued"),
    ///     ("WEBHOOKS__MAX_BODY_BYTES", "65536"),
    ///     ("WEBHOOKS__SOURCES__PARTNER_TS__SECRETS_ENV", r#"["NEW", "OLD"]"#),
    /// ]).unwrap();
    /// assert_eq!(config.webhooks.max_body_bytes, 65536);
    /// assert_eq!(config.webhooks.sources["partner-ts"].secret_origin(), "environment variables NEW, OLD");
    ///
    /// let error = Config::from_toml_with_env(file, [("WEBHOOKS__DISPATCH__MODE", "later")]).unwrap_err();
    /// assert!(error.to_string().ends_with("(from environment variable WEBHOOKS__DISPATCH__MODE)"));
    /// ```
    pub fn from_toml_with_env<K, V>(
        text: &str,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError>
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        Self::with_overrides(text, &EnvOverrides::from_vars(vars)?)
    }

    fn with_overrides(text: &str, overrides: &EnvOverrides) -> Result<Self, ConfigError> {
        if overrides.is_empty() {
            return Self::from_toml(text);
        }
        let (mut config, applied): (Self, _) = parse::from_toml_with(text, overrides)?;
        for (name, source) in &mut config.webhooks.sources {
            source.secret_var = ["secret", "secrets"]
                .iter()
                .find_map(|key| applied.var_setting(&["webhooks", "sources", name, key]))
                .map(str::to_owned);
        }
        config.webhooks.validate().map_err(|error| {
            let var = match &error {
                ConfigError::Invalid { key, .. } => applied.var_for_key(key),
                _ => None,
            };
            match var {
                Some(var) => ConfigError::FromEnv {
                    var: var.to_owned(),
                    error: Box::new(error),
                },
                None => error,
            }
        })?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        Self::from_toml(&read(path)?).map_err(|error| in_file(error, path))
    }

    /// Reads and parses a TOML file with this process's `WEBHOOKS__…`
    /// variables set on it ([`Config::from_toml_with_env`]), and
    /// `WEBHOOKS_BIND`, the older name of `WEBHOOKS__BIND`.
    pub fn load_with_env(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let overrides = EnvOverrides::from_process()?;
        Self::with_overrides(&read(path)?, &overrides).map_err(|error| in_file(error, path))
    }

    /// The file named by `WEBHOOKS_CONFIG`, else `./webhooks.toml` when it
    /// exists, with the `WEBHOOKS__…` variables set on it
    /// ([`Config::load_with_env`]); `None` when neither file is there.
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
        Self::load_with_env(&path).map(|config| Some((config, path)))
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// `error`, saying it is about `file`: a parse error names it before its
/// line and column; a key's value out of range is marked `(in <file>)`.
fn in_file(mut error: ConfigError, file: &Path) -> ConfigError {
    match &mut error {
        ConfigError::Parse { file: named, .. } => {
            *named = Some(file.to_owned());
            error
        }
        ConfigError::Invalid { .. } => ConfigError::InFile {
            file: file.to_owned(),
            error: Box::new(error),
        },
        _ => error,
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
                "required: one of `secret`, `secrets`, `secret-env`, `secrets-env` or `secret-file`"
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

    const FILE: &str = "[webhooks]\nbind = \"127.0.0.1:3000\"\n\
                        [webhooks.dispatch]\nmode = \"inline\"\n\
                        [webhooks.sources.partner-ts]\nvalidator = \"hmac\"\nsecret = \"whsec_file\"\n";

    fn with_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_toml_with_env(FILE, vars.iter().copied())
    }

    #[test]
    fn environment_variables_override_the_file_by_one_rule() {
        let config = with_env(&[
            ("WEBHOOKS__DISPATCH__MODE", "queued"),
            ("WEBHOOKS__MAX_BODY_BYTES", "65536"),
            ("WEBHOOKS__BIND", "0.0.0.0:8080"),
            (
                "WEBHOOKS__SOURCES__PARTNER_TS__SECRET_FILE",
                "/run/secrets/partner",
            ),
            ("WEBHOOKS__SOURCES__GITHUB__VALIDATOR", "github"),
            (
                "WEBHOOKS__SOURCES__GITHUB__SECRETS_ENV",
                "[\"NEW\", \"OLD\"]",
            ),
            ("WEBHOOKS__IDEMPOTENCY__PROVIDER", "redis"),
            ("WEBHOOKS__IDEMPOTENCY__REDIS__URL_ENV", "REDIS_URL"),
        ])
        .unwrap()
        .webhooks;
        assert_eq!(config.dispatch.mode, DispatchMode::Queued);
        assert_eq!(config.max_body_bytes, 65536);
        assert_eq!(config.bind, "0.0.0.0:8080");
        let partner = &config.sources["partner-ts"];
        assert_eq!(partner.secret, None);
        assert_eq!(partner.secret_origin(), "file /run/secrets/partner");
        let github = &config.sources["github"];
        assert_eq!(github.secret_origin(), "environment variables NEW, OLD");
        let redis = config.idempotency.redis.as_ref().unwrap();
        assert_eq!(redis.url_env.as_deref(), Some("REDIS_URL"));
        // The older name of WEBHOOKS__BIND.
        let old = with_env(&[("WEBHOOKS_BIND", "127.0.0.1:4000")]).unwrap();
        assert_eq!(old.webhooks.bind, "127.0.0.1:4000");
        // A secret given by a variable says so.
        let secret = with_env(&[("WEBHOOKS__SOURCES__PARTNER_TS__SECRET", "whsec_env")]).unwrap();
        assert_eq!(
            secret.webhooks.sources["partner-ts"].secret_origin(),
            "environment variable WEBHOOKS__SOURCES__PARTNER_TS__SECRET"
        );
        // No variable: the file alone, as `from_toml` reads it.
        let plain = with_env(&[("PATH", "/bin")]).unwrap();
        assert_eq!(
            plain.webhooks.sources["partner-ts"].secret_origin(),
            "the configuration file"
        );
    }

    #[test]
    fn errors_name_the_key_and_the_variable_never_the_value() {
        let cases = [
            (
                vec![("WEBHOOKS__DISPATCH__MODE", "whsec_later")],
                "`webhooks.dispatch.mode`: unknown value, expected `inline` or `queued`",
                "WEBHOOKS__DISPATCH__MODE",
            ),
            (
                vec![("WEBHOOKS__DISPATCH__MOED", "whsec_queued")],
                "`webhooks.dispatch.moed`: unknown field `moed`",
                "WEBHOOKS__DISPATCH__MOED",
            ),
            (
                vec![("WEBHOOKS__MAX_BODY_BYTES", "whsec_big")],
                "`webhooks.max-body-bytes`: invalid type: string, expected u64",
                "WEBHOOKS__MAX_BODY_BYTES",
            ),
            (
                vec![("WEBHOOKS__SOURCES__PARTNER_TS__SECRET", "20260131")],
                "`webhooks.sources.partner-ts.secret`: invalid type: integer, expected a string",
                "WEBHOOKS__SOURCES__PARTNER_TS__SECRET",
            ),
            (
                vec![("WEBHOOKS__MAX_BODY_BYTES", "0")],
                "`webhooks.max-body-bytes`: must be greater than 0",
                "WEBHOOKS__MAX_BODY_BYTES",
            ),
            (
                vec![("WEBHOOKS__SOURCES__NEW__SECRET", "whsec_new")],
                "`webhooks.sources.new`: missing field `validator`",
                "WEBHOOKS__SOURCES__NEW__SECRET",
            ),
            (
                vec![("WEBHOOKS__SOURCES__NEW__VALIDATOR", "github")],
                "`webhooks.sources.new.secret`: required",
                "WEBHOOKS__SOURCES__NEW__VALIDATOR",
            ),
            (
                vec![("WEBHOOKS__BIND", "whsec_nowhere")],
                "`webhooks.bind`: expected an address",
                "WEBHOOKS__BIND",
            ),
        ];
        for (vars, reason, var) in cases {
            let message = with_env(&vars).unwrap_err().to_string();
            assert!(message.contains(reason), "{message}");
            let origin = format!("(from environment variable {var})");
            assert!(message.ends_with(&origin), "{message}");
            assert!(!message.contains("whsec"), "{message}");
            assert!(!message.contains("20260131"), "{message}");
        }
        // A fault of the file is located in it, whatever the variables set.
        let file = format!("{FILE}secert = \"whsec_file\"\n");
        let error = Config::from_toml_with_env(&file, [("WEBHOOKS__DISPATCH__MODE", "queued")])
            .unwrap_err();
        assert_eq!(error, Config::from_toml(&file).unwrap_err());
        let message = error.to_string();
        assert!(message.contains("line 8, column 1"), "{message}");
        assert!(!message.contains("environment"), "{message}");
        // One the file alone does not have is named without a position.
        let message = with_env(&[("WEBHOOKS__SOURCES__PARTNER_TS__HEADER", "[1]")])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`webhooks.sources.partner-ts.header`"),
            "{message}"
        );
        assert!(
            message.contains("WEBHOOKS__SOURCES__PARTNER_TS__HEADER"),
            "{message}"
        );
    }

    #[test]
    fn a_file_names_itself_in_its_errors() {
        let dir = std::env::temp_dir().join(format!("webhooks-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("webhooks.toml");
        std::fs::write(&path, "[webhooks]\nbind = \"nowhere\"\n").unwrap();
        let message = Config::load(&path).unwrap_err().to_string();
        assert!(message.contains("`webhooks.bind`"), "{message}");
        assert!(
            message.ends_with(&format!("(in {})", path.display())),
            "{message}"
        );
        std::fs::write(&path, "[webhooks]\nbindd = \"x\"\n").unwrap();
        let message = Config::load(&path).unwrap_err().to_string();
        let located = format!("{}: line 2, column 1: `webhooks.bindd`", path.display());
        assert!(message.contains(&located), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
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
