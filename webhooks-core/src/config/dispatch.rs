//! `[webhooks.dispatch]`: when listeners run, how failures are retried, and
//! how long a listener and a dead letter may last.

use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, duration, positive};

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
///
/// ```
/// use std::time::Duration;
/// use webhooks_core::config::DispatchConfig;
///
/// let dispatch = DispatchConfig::default();
/// assert_eq!(dispatch.listener_timeout(), Duration::from_secs(30));
/// assert_eq!(dispatch.dead_letter_retention(), Duration::from_secs(14 * 24 * 3600));
/// assert_eq!(dispatch.dead_letter_max, 10_000);
/// ```
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
    /// Queued: events whose listeners run at once (default
    /// [`DispatchConfig::DEFAULT_WORKERS`], 64: listeners mostly wait on the
    /// network, and each run is a task, not a thread; lower it for
    /// listeners that must not run many at once). A worker takes its next
    /// event as soon as its listeners return, while the last one is settled
    /// in the store.
    pub workers: Option<usize>,
    /// Queued, Redis: an event a worker took and did not finish within this
    /// long (the worker died) is taken over by another worker.
    #[serde(default = "DispatchConfig::default_visibility")]
    pub visibility_timeout_seconds: u64,
    /// A listener still running after this long has failed: `on_error` runs
    /// and, queued, it is retried (default 30; at most ten years).
    #[serde(default = "DispatchConfig::default_listener_timeout")]
    pub listener_timeout_seconds: u64,
    /// Queued: a dead letter is kept this long, then dropped (default 336,
    /// fourteen days; at most ten years).
    #[serde(default = "DispatchConfig::default_dead_letter_retention")]
    pub dead_letter_retention_hours: u64,
    /// Queued: dead letters kept at most; beyond it the oldest is dropped
    /// (default 10000).
    #[serde(default = "DispatchConfig::default_dead_letter_max")]
    pub dead_letter_max: usize,
}

impl DispatchConfig {
    /// Events a queued instance handles at once when `workers` is not set.
    ///
    /// Measured with `cargo bench --bench load --features redis` (1 KiB,
    /// Redis queue, 2 cores): 2 workers handled 570 events/s, 16 handled
    /// 4,283, 32 handled 7,814 and 64 handled 12,588, each run waiting on
    /// its round trips to Redis.
    pub const DEFAULT_WORKERS: usize = 64;

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

    fn default_listener_timeout() -> u64 {
        30
    }

    fn default_dead_letter_retention() -> u64 {
        14 * 24
    }

    fn default_dead_letter_max() -> usize {
        10_000
    }

    /// The ranges of `[webhooks.dispatch]`.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        positive(
            u64::from(self.max_attempts),
            "webhooks.dispatch.max-attempts",
        )?;
        positive(
            self.queue_capacity as u64,
            "webhooks.dispatch.queue-capacity",
        )?;
        positive(
            self.visibility_timeout_seconds,
            "webhooks.dispatch.visibility-timeout-seconds",
        )?;
        if let Some(workers) = self.workers {
            positive(workers as u64, "webhooks.dispatch.workers")?;
        }
        duration(
            self.listener_timeout_seconds,
            1,
            "webhooks.dispatch.listener-timeout-seconds",
        )?;
        duration(
            self.dead_letter_retention_hours,
            3600,
            "webhooks.dispatch.dead-letter-retention-hours",
        )?;
        positive(
            self.dead_letter_max as u64,
            "webhooks.dispatch.dead-letter-max",
        )
    }

    /// `listener-timeout-seconds` as a duration: how long one run of a
    /// listener may take before it has failed.
    pub fn listener_timeout(&self) -> Duration {
        Duration::from_secs(self.listener_timeout_seconds)
    }

    /// `dead-letter-retention-hours` as a duration: how long a dead letter
    /// is kept.
    pub fn dead_letter_retention(&self) -> Duration {
        Duration::from_secs(self.dead_letter_retention_hours.saturating_mul(3600))
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
            listener_timeout_seconds: Self::default_listener_timeout(),
            dead_letter_retention_hours: Self::default_dead_letter_retention(),
            dead_letter_max: Self::default_dead_letter_max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DispatchConfig, ConfigError> {
        let config: DispatchConfig = crate::config::parse::from_toml(text)?;
        config.check()?;
        Ok(config)
    }

    #[test]
    fn defaults_match_the_empty_table() {
        let parsed = parse("").unwrap();
        assert_eq!(
            format!("{parsed:?}"),
            format!("{:?}", DispatchConfig::default())
        );
        assert_eq!(parsed.listener_timeout_seconds, 30);
        assert_eq!(parsed.listener_timeout(), Duration::from_secs(30));
        assert_eq!(parsed.dead_letter_retention_hours, 336);
        assert_eq!(
            parsed.dead_letter_retention(),
            Duration::from_secs(336 * 3600)
        );
        assert_eq!(parsed.dead_letter_max, 10_000);
    }

    #[test]
    fn the_new_keys_are_read_in_kebab_case() {
        let dispatch = parse(
            "mode = \"queued\"\nlistener-timeout-seconds = 5\n\
             dead-letter-retention-hours = 1\ndead-letter-max = 7",
        )
        .unwrap();
        assert_eq!(dispatch.mode, DispatchMode::Queued);
        assert_eq!(dispatch.listener_timeout(), Duration::from_secs(5));
        assert_eq!(dispatch.dead_letter_retention(), Duration::from_secs(3600));
        assert_eq!(dispatch.dead_letter_max, 7);
    }

    #[test]
    fn the_new_keys_are_positive_and_bounded() {
        for (text, key) in [
            (
                "listener-timeout-seconds = 0",
                "webhooks.dispatch.listener-timeout-seconds",
            ),
            (
                "listener-timeout-seconds = 315360001",
                "webhooks.dispatch.listener-timeout-seconds",
            ),
            (
                "dead-letter-retention-hours = 0",
                "webhooks.dispatch.dead-letter-retention-hours",
            ),
            // Hours that would overflow a `Duration` in seconds.
            (
                "dead-letter-retention-hours = 9223372036854775807",
                "webhooks.dispatch.dead-letter-retention-hours",
            ),
            ("dead-letter-max = 0", "webhooks.dispatch.dead-letter-max"),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.contains(key), "{text}: {message}");
        }
        let longest = parse("dead-letter-retention-hours = 87600").unwrap();
        assert_eq!(
            longest.dead_letter_retention(),
            Duration::from_secs(315_360_000)
        );
    }
}
