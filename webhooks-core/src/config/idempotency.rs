//! `[webhooks.idempotency]`: which store remembers delivery ids, and for how
//! long.

use std::time::Duration;

use serde::Deserialize;

use super::error::{ConfigError, duration};

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
    /// How long a completed delivery id is remembered (default one day; at
    /// most ten years, which Redis can still hold in milliseconds).
    #[serde(default = "IdempotencyConfig::default_ttl")]
    pub ttl_seconds: u64,
    /// How long a claim holds a delivery id while it is processed; after it,
    /// a crashed holder's delivery can be processed again (default 60; at
    /// most ten years).
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

    /// The ranges, and a Redis URL for the Redis provider.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        duration(self.ttl_seconds, 1, "webhooks.idempotency.ttl-seconds")?;
        duration(self.lease_seconds, 1, "webhooks.idempotency.lease-seconds")?;
        if self.provider == StoreProvider::Redis && self.redis.is_none() {
            return Err(ConfigError::invalid(
                "webhooks.idempotency.redis.url",
                "required when provider = \"redis\"",
            ));
        }
        if let Some(redis) = &self.redis {
            redis.check()?;
        }
        Ok(())
    }

    /// `ttl-seconds` as a duration.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_seconds)
    }

    /// `lease-seconds` as a duration.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds)
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
    /// Exactly one of `url` and `url-env` is given: read it with
    /// [`RedisConfig::url`].
    pub url: Option<String>,
    /// The name of an environment variable holding the URL, read at
    /// start-up.
    pub url_env: Option<String>,
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

    /// A Redis Cluster hash tag (`{…}`) in the prefix would name the slot of
    /// every key, putting them all on one node: the store places its own
    /// tags, after the prefix.
    fn check(&self) -> Result<(), ConfigError> {
        match (&self.url, &self.url_env) {
            (Some(_), None) | (None, Some(_)) => {}
            (None, None) => {
                return Err(ConfigError::invalid(
                    "webhooks.idempotency.redis.url",
                    "required: one of `url` or `url-env`",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "webhooks.idempotency.redis.url",
                    "give only one of `url` or `url-env`",
                ));
            }
        }
        if self.key_prefix.contains(['{', '}']) {
            return Err(ConfigError::invalid(
                "webhooks.idempotency.redis.key-prefix",
                "may not contain `{` or `}`: a Redis Cluster hash tag there would put every key \
                 in one slot (the store places its own tags)",
            ));
        }
        Ok(())
    }
}

impl RedisConfig {
    /// The URL: `url`, or the variable `url-env` names, read now. A
    /// missing variable is an error naming the key and the variable; no
    /// error holds the URL, which may hold a password.
    pub fn url(&self) -> Result<String, ConfigError> {
        self.url_from(&|var| std::env::var_os(var))
    }

    fn url_from(
        &self,
        env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<String, ConfigError> {
        const KEY: &str = "webhooks.idempotency.redis";
        if let Some(url) = &self.url {
            return Ok(url.clone());
        }
        let Some(var) = &self.url_env else {
            return Err(ConfigError::invalid(
                format!("{KEY}.url"),
                "required: one of `url` or `url-env`",
            ));
        };
        match env(var).map(std::ffi::OsString::into_string) {
            Some(Ok(url)) if !url.is_empty() => Ok(url),
            Some(Err(_)) => Err(ConfigError::invalid(
                format!("{KEY}.url-env"),
                format!("environment variable {var} is not UTF-8"),
            )),
            _ => Err(ConfigError::MissingEnv {
                key: format!("{KEY}.url-env"),
                var: var.clone(),
            }),
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.url.as_ref().map(|_| "[redacted]"))
            .field("url_env", &self.url_env)
            .field("key_prefix", &self.key_prefix)
            .field("cluster", &self.cluster)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<IdempotencyConfig, ConfigError> {
        let config: IdempotencyConfig = crate::config::parse::from_toml(text)?;
        config.check()?;
        Ok(config)
    }

    #[test]
    fn defaults_match_the_empty_table() {
        let parsed = parse("").unwrap();
        assert_eq!(
            format!("{parsed:?}"),
            format!("{:?}", IdempotencyConfig::default())
        );
        assert_eq!(parsed.ttl(), Duration::from_secs(86_400));
        assert_eq!(parsed.lease(), Duration::from_secs(60));
    }

    #[test]
    fn ttl_fits_in_redis_milliseconds() {
        let ten_years = parse("ttl-seconds = 315360000").unwrap();
        assert_eq!(ten_years.ttl(), Duration::from_secs(315_360_000));
        for (text, key) in [
            (
                "ttl-seconds = 315360001",
                "webhooks.idempotency.ttl-seconds",
            ),
            (
                "ttl-seconds = 9223372036854775807",
                "webhooks.idempotency.ttl-seconds",
            ),
            ("ttl-seconds = 0", "webhooks.idempotency.ttl-seconds"),
            (
                "lease-seconds = 9223372036854775807",
                "webhooks.idempotency.lease-seconds",
            ),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.contains(key), "{text}: {message}");
        }
    }

    #[test]
    fn the_url_is_given_once_in_the_file_or_from_a_variable() {
        let redis = |keys: &str| parse(&format!("provider = \"redis\"\n[redis]\n{keys}"));
        let env = |var: &str| (var == "REDIS_URL").then(|| "redis://:pa55word@h/0".into());
        let written = redis("url = \"redis://:pa55word@h/1\"")
            .unwrap()
            .redis
            .unwrap();
        assert_eq!(written.url_from(&env).unwrap(), "redis://:pa55word@h/1");
        let from_env = redis("url-env = \"REDIS_URL\"").unwrap().redis.unwrap();
        assert_eq!(from_env.url_from(&env).unwrap(), "redis://:pa55word@h/0");
        let printed = format!("{written:?} {from_env:?}");
        assert!(!printed.contains("pa55word"), "{printed}");
        let unset = redis("url-env = \"UNSET_URL\"").unwrap().redis.unwrap();
        let error = unset.url_from(&env).unwrap_err();
        assert_eq!(
            error,
            ConfigError::MissingEnv {
                key: "webhooks.idempotency.redis.url-env".into(),
                var: "UNSET_URL".into()
            }
        );
        for (keys, reason) in [
            ("cluster = true", "required: one of `url` or `url-env`"),
            (
                "url = \"redis://:pa55word@h\"\nurl-env = \"REDIS_URL\"",
                "give only one of `url` or `url-env`",
            ),
        ] {
            let message = redis(keys).unwrap_err().to_string();
            assert!(
                message.contains("`webhooks.idempotency.redis.url`") && message.contains(reason),
                "{message}"
            );
            assert!(!message.contains("pa55word"), "{message}");
        }
    }

    #[test]
    fn a_hash_tag_in_the_key_prefix_is_refused() {
        let redis = "provider = \"redis\"\n[redis]\nurl = \"redis://localhost/0\"\n";
        assert_eq!(
            parse(&format!("{redis}key-prefix = \"app:webhooks\""))
                .map(|c| c.redis.unwrap().key_prefix),
            Ok("app:webhooks".to_owned())
        );
        for prefix in ["{app}", "app{x", "app}"] {
            let message = parse(&format!("{redis}key-prefix = \"{prefix}\""))
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("webhooks.idempotency.redis.key-prefix")
                    && message.contains("slot"),
                "{prefix}: {message}"
            );
        }
    }
}
