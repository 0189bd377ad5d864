//! The store the configuration asks for.

use webhooks_core::ProcessorBuilder;
use webhooks_core::config::{StoreProvider, WebhooksConfig};

use crate::ServeError;

/// Gives the builder the configured store; `in-memory` is the builder's own
/// default.
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
            let store =
                webhooks_redis::RedisWebhookEventStore::connect(&redis.url, &redis.key_prefix)
                    .await
                    .map_err(|error| ServeError::Store(error.to_string()))?;
            Ok(builder.store(store))
        }
        #[cfg(not(feature = "redis"))]
        StoreProvider::Redis => Err(ServeError::Store(
            "provider = \"redis\" needs the `redis` feature: webhooks = { features = [\"redis\"] }"
                .into(),
        )),
    }
}
