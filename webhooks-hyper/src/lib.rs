//! The hyper transport of the `webhooks` framework and its ready server.
//!
//! [`Server`] turns a configuration into a listening server in one
//! expression; [`WebhookService`] is the same endpoint as a `tower::Service`
//! for mounting inside an axum or tonic application.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), webhooks_hyper::ServeError> {
//!     webhooks_hyper::Server::from_env().await
//! }
//! ```

mod body;
mod connection;
mod dev;
mod network;
mod response;
mod server;
mod service;
#[cfg(feature = "testing")]
pub mod testing;
mod timed_io;

pub use self::dev::development_config;
pub use self::network::PeerAddr;
pub use self::response::WebhookResponse;
pub use self::server::{BoundServer, Server};
pub use self::service::{ResponseFuture, WebhookService};

/// Why the server could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] webhooks_core::ConfigError),
    /// The processor could not be built from it.
    #[error(transparent)]
    Build(#[from] webhooks_core::BuildError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
