//! The ready server, with the backend the configuration names.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use webhooks_core::config::WebhooksConfig;
use webhooks_core::{ProcessorBuilder, Secret};
use webhooks_hyper::{BoundServer, ServeError};

/// The ready server: [`webhooks_hyper::Server`] with the store and queue
/// that the configuration names ([`crate::storage_from_config`]).
///
/// ```no_run
/// # async fn run() -> Result<(), webhooks::ServeError> {
/// // WEBHOOKS_CONFIG or ./webhooks.toml, else a start-up error naming
/// // WEBHOOKS_CONFIG; WEBHOOKS_BIND overrides `bind`.
/// webhooks::Server::from_env().await
/// # }
/// ```
#[must_use = "a server does nothing until it is awaited"]
#[derive(Debug)]
pub struct Server(webhooks_hyper::Server);

impl Server {
    /// A server configured from the environment, when awaited: the TOML file
    /// named by `WEBHOOKS_CONFIG`, else `./webhooks.toml`; with neither, a
    /// start-up error ([`ServeError::NoConfig`](crate::ServeError::NoConfig)).
    /// Every key can be set from the environment (`WEBHOOKS__DISPATCH__MODE`;
    /// see [`Config::from_toml_with_env`](crate::Config::from_toml_with_env));
    /// `WEBHOOKS_BIND` is the older name of `WEBHOOKS__BIND`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webhooks::ServeError> {
    /// webhooks::Server::from_env().await
    /// # }
    /// ```
    pub fn from_env() -> Self {
        Self::new(webhooks_hyper::Server::from_env())
    }

    /// Like [`Server::from_env`], but with no file it serves the built-in
    /// development configuration (published secrets, loopback addresses
    /// only): see [`webhooks_hyper::Server::from_env_or_development`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webhooks::ServeError> {
    /// webhooks::Server::from_env_or_development().await
    /// # }
    /// ```
    pub fn from_env_or_development() -> Self {
        Self::new(webhooks_hyper::Server::from_env_or_development())
    }

    /// A server with this configuration.
    pub fn from_config(config: WebhooksConfig) -> Self {
        Self::new(webhooks_hyper::Server::from_config(config))
    }

    fn new(server: webhooks_hyper::Server) -> Self {
        Self(server.storage(crate::storage_from_config))
    }

    /// Stops gracefully when `signal` completes, instead of on Ctrl-C or
    /// SIGTERM.
    pub fn with_graceful_shutdown(self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(self.0.with_graceful_shutdown(signal))
    }

    /// Adjusts the processor before it is built: add listeners, a store …
    pub fn configure(
        self,
        customize: impl FnOnce(ProcessorBuilder) -> ProcessorBuilder + Send + 'static,
    ) -> Self {
        Self(self.0.configure(customize))
    }

    /// Gives the admin API's bearer token instead of reading it from the
    /// variable `[webhooks.admin] token-env` names (16 bytes at least): see
    /// [`webhooks_hyper::Server::admin_token`].
    ///
    /// ```no_run
    /// # async fn run(token_from_vault: String) -> Result<(), webhooks::ServeError> {
    /// webhooks::Server::from_env().admin_token(token_from_vault).await
    /// # }
    /// ```
    pub fn admin_token(self, token: impl Into<Secret>) -> Self {
        Self(self.0.admin_token(token))
    }

    /// Loads the configuration, builds the processor and binds, without
    /// serving yet; the result tells the address (useful with port 0).
    pub async fn bind(self) -> Result<BoundServer, ServeError> {
        self.0.bind().await
    }
}

impl IntoFuture for Server {
    type Output = Result<(), ServeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        self.0.into_future()
    }
}
