//! The facade's one decision: which store and queue the configuration names.

use webhooks_core::config::{StoreProvider, WebhooksConfig};
use webhooks_core::{BuildError, ProcessorBuilder};

/// Gives `builder` the store, in queued mode the queue, and when
/// `[webhooks.event-log] enabled` the event log that
/// `[webhooks.idempotency] provider` names: the in-memory ones are the
/// builder's own; `redis` needs the `redis` feature.
///
/// Nothing connects here: a Redis backend connects on first use and again
/// after an outage, so a server starts while Redis is down (readiness 503,
/// deliveries 503) and recovers by itself.
///
/// ```
/// use webhooks::{Config, ProcessorBuilder};
///
/// let config = Config::from_toml("").unwrap().webhooks;
/// let builder = webhooks::storage_from_config(&config, ProcessorBuilder::from_config(&config).unwrap());
/// assert!(builder.is_ok());
/// ```
pub fn storage_from_config(
    config: &WebhooksConfig,
    builder: ProcessorBuilder,
) -> Result<ProcessorBuilder, BuildError> {
    match config.idempotency.provider {
        StoreProvider::InMemory => Ok(builder),
        StoreProvider::Redis => redis(config, builder),
    }
}

#[cfg(feature = "redis")]
fn redis(
    config: &WebhooksConfig,
    builder: ProcessorBuilder,
) -> Result<ProcessorBuilder, BuildError> {
    use webhooks_core::config::DispatchMode;
    use webhooks_redis::{RedisEventLog, RedisEventQueue, RedisIntake, RedisWebhookEventStore};

    let redis = config.idempotency.redis.as_ref().ok_or_else(|| {
        BuildError::Store("provider = \"redis\" needs [webhooks.idempotency.redis] url".into())
    })?;
    // `url`, or the variable `url-env` names; the error names the key and
    // the variable, never the URL (it may hold a password).
    let url = redis
        .url()
        .map_err(|error| BuildError::Store(error.to_string()))?;
    let unusable = |error: webhooks_redis::RedisError| BuildError::Store(format!("redis: {error}"));
    let nodes = [url.as_str()];
    let store = if redis.cluster {
        RedisWebhookEventStore::lazy_cluster(&nodes, &redis.key_prefix)
    } else {
        RedisWebhookEventStore::lazy(&url, &redis.key_prefix)
    }
    .map_err(unusable)?;
    let queue = if config.dispatch.mode == DispatchMode::Queued {
        let queue = if redis.cluster {
            RedisEventQueue::lazy_cluster(&nodes, &redis.key_prefix)
        } else {
            RedisEventQueue::lazy(&url, &redis.key_prefix)
        };
        Some(queue.map_err(unusable)?)
    } else {
        None
    };
    let log = if config.event_log.enabled {
        let bounds = config.event_log.bounds();
        let log = if redis.cluster {
            RedisEventLog::lazy_cluster(&nodes, &redis.key_prefix, bounds)
        } else {
            RedisEventLog::lazy(&url, &redis.key_prefix, bounds)
        };
        Some(log.map_err(unusable)?)
    } else {
        None
    };
    // On one server, each delivery's claim, record and push are one script
    // (on a cluster their keys are in different slots: one by one).
    let intake = RedisIntake::new(&store, queue.as_ref(), log.as_ref());
    let mut builder = builder.store(store);
    if let Some(queue) = queue {
        builder = builder.queue(queue);
    }
    if let Some(log) = log {
        builder = builder.event_log(log);
    }
    if let Some(intake) = intake {
        builder = builder.intake(intake);
    }
    Ok(builder)
}

#[cfg(not(feature = "redis"))]
fn redis(_: &WebhooksConfig, _: ProcessorBuilder) -> Result<ProcessorBuilder, BuildError> {
    Err(BuildError::Store(
        "provider = \"redis\" needs the `redis` feature: webhooks = { features = [\"redis\"] }"
            .into(),
    ))
}
