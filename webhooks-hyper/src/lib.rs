//! The hyper transport of the `webhooks` framework and its ready server.
//!
//! [`Server`] turns a configuration into a listening server in one
//! expression; [`WebhookService`] is the same endpoint as a `tower::Service`
//! for mounting inside an axum or tonic application.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> Result<(), webhooks_hyper::ServeError> {
//!     // WEBHOOKS_CONFIG or ./webhooks.toml; neither is a start-up error.
//!     webhooks_hyper::Server::from_env().await
//! }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin;
mod body;
mod connection;
mod dev;
mod network;
mod operational;
mod response;
mod server;
mod service;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
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
    /// Neither `WEBHOOKS_CONFIG` nor `./webhooks.toml` names a
    /// configuration file, and the server did not ask for the development
    /// one ([`Server::from_env_or_development`]).
    #[error(
        "no configuration file: set WEBHOOKS_CONFIG to a TOML file, or create ./webhooks.toml \
         (the built-in development configuration, whose secrets are published, is only used \
         by Server::from_env_or_development)"
    )]
    NoConfig,
    /// The development configuration was asked to listen on an address
    /// that is not loopback.
    #[error(
        "the built-in development configuration listens on loopback addresses only, not {addr}: \
         its secrets are published, so anyone reaching the port could sign events; give a \
         configuration file (WEBHOOKS_CONFIG) to listen there"
    )]
    DevelopmentNotLoopback {
        /// The address asked for (`WEBHOOKS_BIND`).
        addr: std::net::SocketAddr,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
