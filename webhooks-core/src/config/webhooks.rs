//! `[webhooks]`: the server's own keys, and the tables below it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::dispatch::DispatchConfig;
use super::error::{ConfigError, duration, positive};
use super::event_log::{AdminConfig, EventLogConfig};
use super::idempotency::IdempotencyConfig;
use super::network::IpRanges;
use super::source::{ResolvedSource, SourceConfig};

/// The smallest `max-header-bytes`: a request line and a few headers.
const MIN_HEADER_BYTES: u64 = 1024;
/// The largest `max-connections`: more than any process has descriptors for.
const MAX_CONNECTIONS: u64 = 1_000_000;

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
    /// The address to listen on (`WEBHOOKS__BIND`, or its older name
    /// `WEBHOOKS_BIND`, overrides it).
    #[serde(default = "WebhooksConfig::default_bind")]
    pub bind: String,
    /// Larger bodies are refused with 413, unread.
    #[serde(default = "WebhooksConfig::default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// A request head (request line and headers) larger than this is
    /// refused with 431 and the connection closed (default 16384; at least
    /// 1024).
    #[serde(default = "WebhooksConfig::default_max_header_bytes")]
    pub max_header_bytes: u64,
    /// A request's head and body must have arrived within this many seconds
    /// of its first byte, else 408 and the connection is closed; an idle
    /// connection is closed after as long (default 30).
    #[serde(default = "WebhooksConfig::default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// Open connections at most; beyond it, new ones wait in the kernel's
    /// backlog until one closes (default 10000; at most 1000000).
    #[serde(default = "WebhooksConfig::default_max_connections")]
    pub max_connections: u64,
    /// CIDRs of the proxies whose `X-Forwarded-For` / `Forwarded` header is
    /// believed; nobody else's is (default: none).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// At SIGTERM, in-flight work gets this long to finish; what has not
    /// finished then is handed back (default 30; at most ten years).
    #[serde(default = "WebhooksConfig::default_shutdown_timeout")]
    pub shutdown_timeout_seconds: u64,
    /// `[webhooks.idempotency]`.
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    /// `[webhooks.dispatch]`.
    #[serde(default)]
    pub dispatch: DispatchConfig,
    /// `[webhooks.event-log]`.
    #[serde(default)]
    pub event_log: EventLogConfig,
    /// `[webhooks.admin]`: absent, there is no admin API at all.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
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

    fn default_shutdown_timeout() -> u64 {
        30
    }

    fn default_max_header_bytes() -> u64 {
        16_384
    }

    fn default_request_timeout() -> u64 {
        30
    }

    fn default_max_connections() -> u64 {
        10_000
    }

    /// Checks values serde cannot: ranges, names, which keys apply to which
    /// validator, and that secrets written in the file decode where they
    /// must. Builds nothing and reads no `secret-env`: that is
    /// [`WebhooksConfig::resolve_sources`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_own_keys()?;
        for (name, source) in &self.sources {
            source.check(name)?;
        }
        Ok(())
    }

    /// The sources to serve, each checked and its validator built once
    /// (`secret-env` is read now); none when `enabled = false`, though the
    /// file is still checked. Fails as [`WebhooksConfig::validate`] would,
    /// or on a missing environment variable or a secret it names that the
    /// validator cannot use.
    pub fn resolve_sources(&self) -> Result<Vec<ResolvedSource>, ConfigError> {
        if !self.enabled {
            self.validate()?;
            return Ok(Vec::new());
        }
        self.check_own_keys()?;
        self.sources
            .iter()
            .map(|(name, source)| source.resolve(name))
            .collect()
    }

    /// Everything but the sources.
    fn check_own_keys(&self) -> Result<(), ConfigError> {
        if self.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::invalid(
                "webhooks.bind",
                "expected an address such as 127.0.0.1:3000",
            ));
        }
        positive(self.max_body_bytes, "webhooks.max-body-bytes")?;
        if self.max_header_bytes < MIN_HEADER_BYTES {
            return Err(ConfigError::invalid(
                "webhooks.max-header-bytes",
                format!("must be at least {MIN_HEADER_BYTES}"),
            ));
        }
        duration(
            self.request_timeout_seconds,
            1,
            "webhooks.request-timeout-seconds",
        )?;
        positive(self.max_connections, "webhooks.max-connections")?;
        if self.max_connections > MAX_CONNECTIONS {
            return Err(ConfigError::invalid(
                "webhooks.max-connections",
                format!("must be at most {MAX_CONNECTIONS}"),
            ));
        }
        self.trusted_proxy_ranges()?;
        duration(
            self.shutdown_timeout_seconds,
            1,
            "webhooks.shutdown-timeout-seconds",
        )?;
        self.idempotency.check()?;
        self.event_log.check()?;
        if let Some(admin) = &self.admin {
            admin.check(&self.bind)?;
        }
        self.dispatch.check()
    }

    /// The ID lease as a duration.
    pub fn lease(&self) -> Duration {
        self.idempotency.lease()
    }

    /// The idempotency TTL as a duration.
    pub fn ttl(&self) -> Duration {
        self.idempotency.ttl()
    }

    /// `request-timeout-seconds` as a duration: how long a request's head
    /// and body may take to arrive.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds)
    }

    /// `trusted-proxies`, parsed; an item that is not a CIDR or an address
    /// is an error naming the key.
    pub fn trusted_proxy_ranges(&self) -> Result<IpRanges, ConfigError> {
        IpRanges::from_key("webhooks.trusted-proxies", &self.trusted_proxies, false)
    }

    /// `shutdown-timeout-seconds` as a duration: how long in-flight work
    /// may take to finish at SIGTERM.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_seconds)
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        toml::from_str("").expect("the empty table takes every default")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn error(text: &str) -> String {
        Config::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn shutdown_timeout_defaults_to_30_seconds_and_is_bounded() {
        let empty = WebhooksConfig::default();
        assert_eq!(empty.shutdown_timeout_seconds, 30);
        assert_eq!(empty.shutdown_timeout(), Duration::from_secs(30));
        let set = Config::from_toml("[webhooks]\nshutdown-timeout-seconds = 5").unwrap();
        assert_eq!(set.webhooks.shutdown_timeout(), Duration::from_secs(5));
        for value in ["0", "315360001"] {
            let message = error(&format!("[webhooks]\nshutdown-timeout-seconds = {value}"));
            assert!(
                message.contains("webhooks.shutdown-timeout-seconds"),
                "{message}"
            );
        }
    }

    #[test]
    fn the_new_keys_are_read_from_a_whole_file() {
        let config = Config::from_toml(
            "[webhooks]\nshutdown-timeout-seconds = 10\n\
             [webhooks.dispatch]\nlistener-timeout-seconds = 20\n\
             dead-letter-retention-hours = 24\ndead-letter-max = 100",
        )
        .unwrap()
        .webhooks;
        assert_eq!(config.shutdown_timeout(), Duration::from_secs(10));
        assert_eq!(config.dispatch.listener_timeout(), Duration::from_secs(20));
        assert_eq!(
            config.dispatch.dead_letter_retention(),
            Duration::from_secs(86_400)
        );
        assert_eq!(config.dispatch.dead_letter_max, 100);
        let message = error("[webhooks.dispatch]\ndead-letter-max = 0");
        assert!(
            message.contains("webhooks.dispatch.dead-letter-max"),
            "{message}"
        );
        let message = error("[webhooks.idempotency]\nttl-seconds = 315360001");
        assert!(
            message.contains("webhooks.idempotency.ttl-seconds"),
            "{message}"
        );
    }

    #[test]
    fn sources_are_resolved_once_and_only_when_enabled() {
        let text = "[webhooks.sources.gh]\nvalidator = \"github\"\nsecret = \"x\"\n\
                    [webhooks.sources.env]\nvalidator = \"github\"\n\
                    secret-env = \"WEBHOOKS_TEST_UNSET_VAR_43\"";
        // The file is fine; the variable is read when resolving.
        let config = Config::from_toml(text).unwrap().webhooks;
        assert_eq!(
            config.resolve_sources().unwrap_err(),
            ConfigError::MissingEnv {
                key: "webhooks.sources.env.secret-env".into(),
                var: "WEBHOOKS_TEST_UNSET_VAR_43".into(),
            }
        );
        let mut disabled = config.clone();
        disabled.enabled = false;
        assert!(disabled.resolve_sources().unwrap().is_empty());
        let mut enabled = config;
        enabled.sources.remove("env");
        let sources = enabled.resolve_sources().unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].name, "gh");
        assert_eq!(sources[0].validator.scheme(), "github");
        // A disabled file is still checked.
        disabled.bind = "nowhere".into();
        let message = disabled.resolve_sources().unwrap_err().to_string();
        assert!(message.contains("webhooks.bind"), "{message}");
    }

    #[test]
    fn transport_limits_default_as_the_contract_and_are_checked() {
        let empty = WebhooksConfig::default();
        assert_eq!(empty.max_header_bytes, 16_384);
        assert_eq!(empty.request_timeout(), Duration::from_secs(30));
        assert_eq!(empty.max_connections, 10_000);
        assert!(empty.trusted_proxy_ranges().unwrap().is_empty());
        let set = Config::from_toml(
            "[webhooks]\nmax-header-bytes = 4096\nrequest-timeout-seconds = 5\n\
             max-connections = 20\ntrusted-proxies = [\"10.0.0.0/8\", \"fd00::1\"]",
        )
        .unwrap()
        .webhooks;
        assert_eq!(set.max_header_bytes, 4096);
        assert_eq!(set.request_timeout(), Duration::from_secs(5));
        assert_eq!(set.max_connections, 20);
        let proxies = set.trusted_proxy_ranges().unwrap();
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("fd00::1".parse().unwrap()));
        for (keys, key) in [
            ("max-header-bytes = 100", "webhooks.max-header-bytes"),
            (
                "request-timeout-seconds = 0",
                "webhooks.request-timeout-seconds",
            ),
            ("max-connections = 0", "webhooks.max-connections"),
            ("max-connections = 1000001", "webhooks.max-connections"),
            (
                "trusted-proxies = [\"10.0.0.0/40\"]",
                "webhooks.trusted-proxies",
            ),
            (
                "trusted-proxies = [\"proxy.internal\"]",
                "webhooks.trusted-proxies",
            ),
        ] {
            let message = error(&format!("[webhooks]\n{keys}"));
            assert!(message.contains(key), "{keys}: {message}");
        }
    }
}
