//! Connecting, with bounded timeouts and reconnection.

use std::time::Duration;

use redis::RedisError;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// A multiplexed connection to one server that reconnects by itself, whose
/// commands give up after `timeout`.
pub(crate) async fn connect_manager(
    url: &str,
    timeout: Duration,
) -> Result<ConnectionManager, RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(timeout)
        .set_number_of_retries(1);
    ConnectionManager::new_with_config(client, config).await
}
