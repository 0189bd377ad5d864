//! `[webhooks.event-log]` and `[webhooks.admin]`: what is kept of each
//! event, and where operators reach it.

use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, duration, positive};
use crate::event_log::LogBounds;

fn yes() -> bool {
    true
}

/// `[webhooks.event-log]`: what was received and what became of it. On by
/// default; its records live in the idempotency provider's backend.
///
/// ```
/// use webhooks_core::config::EventLogConfig;
///
/// let log = EventLogConfig::default();
/// assert!(log.enabled && log.keep_bodies);
/// assert_eq!((log.retention_hours, log.max_events, log.max_body_megabytes), (72, 100_000, 256));
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EventLogConfig {
    /// `false`: nothing is recorded, and the admin API's event routes
    /// answer 404.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Records older than this are dropped (default 72; at most ten years).
    #[serde(default = "EventLogConfig::default_retention")]
    pub retention_hours: u64,
    /// Keep each event's raw body and headers (those that carry secrets
    /// never), so it can be replayed; `false` keeps metadata only (PII), and
    /// a replay then needs the provider's resend.
    #[serde(default = "yes")]
    pub keep_bodies: bool,
    /// Records kept at most; the oldest go first (default 100000).
    #[serde(default = "EventLogConfig::default_max_events")]
    pub max_events: usize,
    /// In memory: mebibytes of kept bodies and headers at most; beyond it
    /// the oldest records lose their bodies, their metadata stays (default
    /// 256).
    #[serde(default = "EventLogConfig::default_max_body_megabytes")]
    pub max_body_megabytes: usize,
}

impl EventLogConfig {
    fn default_retention() -> u64 {
        72
    }

    fn default_max_events() -> usize {
        100_000
    }

    fn default_max_body_megabytes() -> usize {
        256
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        duration(
            self.retention_hours,
            3600,
            "webhooks.event-log.retention-hours",
        )?;
        positive(self.max_events as u64, "webhooks.event-log.max-events")?;
        positive(
            self.max_body_megabytes as u64,
            "webhooks.event-log.max-body-megabytes",
        )?;
        if self.max_body_megabytes > 1 << 20 {
            return Err(ConfigError::invalid(
                "webhooks.event-log.max-body-megabytes",
                "must be at most 1048576",
            ));
        }
        Ok(())
    }

    /// The log's bounds.
    pub fn bounds(&self) -> LogBounds {
        LogBounds {
            max_events: self.max_events,
            retention: Duration::from_secs(self.retention_hours.saturating_mul(3600)),
            max_body_bytes: self.max_body_megabytes << 20,
        }
    }
}

impl Default for EventLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_hours: Self::default_retention(),
            keep_bodies: true,
            max_events: Self::default_max_events(),
            max_body_megabytes: Self::default_max_body_megabytes(),
        }
    }
}

/// `[webhooks.admin]`: the admin API, on its own address. Without the
/// section there is no admin listener at all.
///
/// ```
/// use webhooks_core::Config;
///
/// let config = Config::from_toml("[webhooks.admin]\nbind = \"127.0.0.1:3001\"\ntoken-env = \"ADMIN_TOKEN\"").unwrap();
/// let admin = config.webhooks.admin.unwrap();
/// assert_eq!(admin.token_env, "ADMIN_TOKEN");
/// assert!(!admin.operational_routes);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AdminConfig {
    /// The admin address; never the public one.
    pub bind: String,
    /// The environment variable that holds the bearer token (required).
    pub token_env: String,
    /// `true`: `/healthz`, `/readyz` and `/metrics` are served on the admin
    /// address, without the token (probes and scrapers seldom send one),
    /// and no longer on the public one (default `false`).
    #[serde(default)]
    pub operational_routes: bool,
}

/// The shortest admin token accepted: a guessable token is no lock.
pub const MIN_ADMIN_TOKEN_BYTES: usize = 16;

impl AdminConfig {
    pub(super) fn check(&self, public_bind: &str) -> Result<(), ConfigError> {
        let Ok(address) = self.bind.parse::<std::net::SocketAddr>() else {
            return Err(ConfigError::invalid(
                "webhooks.admin.bind",
                "expected an address such as 127.0.0.1:3001",
            ));
        };
        let public = public_bind.parse::<std::net::SocketAddr>().ok();
        if address.port() != 0 && public == Some(address) {
            return Err(ConfigError::invalid(
                "webhooks.admin.bind",
                "must not be the public address (webhooks.bind)",
            ));
        }
        if self.token_env.is_empty() {
            return Err(ConfigError::invalid(
                "webhooks.admin.token-env",
                "names the environment variable that holds the admin token",
            ));
        }
        Ok(())
    }

    /// Reads the token from `token-env`: an error naming the key when the
    /// variable is unset, or shorter than 16 bytes.
    pub fn token(&self) -> Result<crate::Secret, ConfigError> {
        let Ok(token) = std::env::var(&self.token_env) else {
            return Err(ConfigError::MissingEnv {
                key: "webhooks.admin.token-env".into(),
                var: self.token_env.clone(),
            });
        };
        if token.len() < MIN_ADMIN_TOKEN_BYTES {
            return Err(ConfigError::invalid(
                "webhooks.admin.token-env",
                format!(
                    "the token in `{}` must be at least {MIN_ADMIN_TOKEN_BYTES} bytes",
                    self.token_env
                ),
            ));
        }
        Ok(crate::Secret::new(token))
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn error(text: &str) -> String {
        Config::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn the_contract_keys_are_read_and_checked() {
        let config = Config::from_toml(
            "[webhooks.event-log]\nenabled = true\nretention-hours = 1\nkeep-bodies = false\nmax-events = 5",
        )
        .unwrap()
        .webhooks;
        let bounds = config.event_log.bounds();
        assert_eq!(bounds.max_events, 5);
        assert_eq!(bounds.retention.as_secs(), 3600);
        assert!(!config.event_log.keep_bodies);
        for (text, key) in [
            ("[webhooks.event-log]\nmax-events = 0", "max-events"),
            (
                "[webhooks.event-log]\nretention-hours = 0",
                "retention-hours",
            ),
            (
                "[webhooks.event-log]\nmax-body-megabytes = 0",
                "max-body-megabytes",
            ),
            (
                "[webhooks.event-log]\nmax-body-megabytes = 1048577",
                "max-body-megabytes",
            ),
            ("[webhooks.event-log]\nsize = 1", "size"),
            (
                "[webhooks.admin]\nbind = \"x\"\ntoken-env = \"T\"",
                "admin.bind",
            ),
            (
                "[webhooks.admin]\nbind = \"127.0.0.1:3000\"\ntoken-env = \"T\"",
                "admin.bind",
            ),
            (
                "[webhooks.admin]\nbind = \"127.0.0.1:3001\"\ntoken-env = \"\"",
                "token-env",
            ),
            ("[webhooks.admin]\nbind = \"127.0.0.1:3001\"", "token-env"),
        ] {
            let message = error(text);
            assert!(message.contains(key), "{text}: {message}");
        }
    }

    #[test]
    fn the_token_comes_from_its_variable_and_is_long_enough() {
        let admin = Config::from_toml(
            "[webhooks.admin]\nbind = \"127.0.0.1:3001\"\ntoken-env = \"WEBHOOKS_TEST_UNSET_ADMIN_TOKEN_77\"",
        )
        .unwrap()
        .webhooks
        .admin
        .unwrap();
        let message = admin.token().unwrap_err().to_string();
        assert!(
            message.contains("WEBHOOKS_TEST_UNSET_ADMIN_TOKEN_77"),
            "{message}"
        );
    }
}
