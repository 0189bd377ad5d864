//! The store and queue the configuration asks for.

use webhooks_core::ProcessorBuilder;
use webhooks_core::config::{StoreProvider, WebhooksConfig};

use crate::ServeError;

/// Gives the builder the configured store, and with `redis` in queued mode
/// the durable queue; `in-memory` is the builder's own default for both.
pub(crate) async fn configure_store(
    builder: ProcessorBuilder,
    config: &WebhooksConfig,
) -> Result<ProcessorBuilder, ServeError> {
    match config.idempotency.provider {
        StoreProvider::InMemory => Ok(builder),
        #[cfg(feature = "redis")]
        StoreProvider::Redis => {
            let redis = config
                .idempotency
                .redis
                .as_ref()
                .expect("validated: provider redis has a url");
            let unavailable =
                |error: webhooks_redis::RedisError| ServeError::Store(error.to_string());
            let nodes = [redis.url.as_str()];
            let store = if redis.cluster {
                webhooks_redis::RedisWebhookEventStore::connect_cluster(&nodes, &redis.key_prefix)
                    .await
            } else {
                webhooks_redis::RedisWebhookEventStore::connect(&redis.url, &redis.key_prefix).await
            }
            .map_err(unavailable)?;
            let mut builder = builder.store(store);
            if config.dispatch.mode == webhooks_core::config::DispatchMode::Queued {
                let queue = if redis.cluster {
                    webhooks_redis::RedisEventQueue::connect_cluster(
                        &nodes,
                        &redis.key_prefix,
                        &config.dispatch,
                    )
                    .await
                } else {
                    webhooks_redis::RedisEventQueue::connect(
                        &redis.url,
                        &redis.key_prefix,
                        &config.dispatch,
                    )
                    .await
                }
                .map_err(unavailable)?;
                builder = builder.queue(queue);
            }
            Ok(builder)
        }
        #[cfg(not(feature = "redis"))]
        StoreProvider::Redis => Err(ServeError::Store(
            "provider = \"redis\" needs the `redis` feature: webhooks = { features = [\"redis\"] }"
                .into(),
        )),
    }
}
