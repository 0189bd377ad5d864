//! The ready server: configuration in, a listening, gracefully stopping
//! server out.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use webhooks_core::config::{DispatchMode, StoreProvider, ValidatorKind, WebhooksConfig};
use webhooks_core::{BuildError, Config, ProcessorBuilder, Secret, WebhookProcessor};

use crate::admin::{self, AdminListener, AdminService, admin_token};
use crate::connection::{Accept, Limits};
use crate::{ServeError, WebhookService, dev};

/// How long, past the shutdown timeout, open connections may take to
/// receive the answers of cut-short events.
const ANSWER_GRACE: Duration = Duration::from_secs(10);

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;
type Customize = Box<dyn FnOnce(ProcessorBuilder) -> ProcessorBuilder + Send>;
/// Gives the builder the store and queue the configuration names.
type Storage = Box<
    dyn FnOnce(&WebhooksConfig, ProcessorBuilder) -> Result<ProcessorBuilder, BuildError> + Send,
>;

enum Origin {
    /// `WEBHOOKS_CONFIG` or `./webhooks.toml`; neither is an error.
    Env,
    /// The same, else the built-in development configuration.
    EnvOrDevelopment,
    Config(Box<WebhooksConfig>),
}

/// The ready server, built from a configuration: awaiting it binds, serves,
/// and on Ctrl-C or SIGTERM stops accepting, finishes open requests, drains
/// the queue and returns.
///
/// ```no_run
/// # async fn run() -> Result<(), webhooks_hyper::ServeError> {
/// // WEBHOOKS_CONFIG or ./webhooks.toml, else a start-up error;
/// // WEBHOOKS_BIND overrides `bind`.
/// webhooks_hyper::Server::from_env().await
/// # }
/// ```
#[must_use = "a server does nothing until it is awaited"]
pub struct Server {
    origin: Origin,
    signal: Option<Signal>,
    storage: Option<Storage>,
    customize: Vec<Customize>,
    admin_token: Option<Secret>,
}

impl Server {
    /// A server configured from the environment, when awaited: the TOML file
    /// named by `WEBHOOKS_CONFIG`, else `./webhooks.toml`; with neither, a
    /// start-up error ([`ServeError::NoConfig`]), so production never runs
    /// on the published development secrets by accident. Every key can be
    /// set from the environment: `WEBHOOKS__` and its path, `__` between
    /// table levels (`WEBHOOKS__DISPATCH__MODE=queued`; see
    /// [`Config::from_toml_with_env`]); `WEBHOOKS_BIND` is the older name
    /// of `WEBHOOKS__BIND`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webhooks_hyper::ServeError> {
    /// webhooks_hyper::Server::from_env().await
    /// # }
    /// ```
    pub fn from_env() -> Self {
        Self::with_origin(Origin::Env)
    }

    /// Like [`Server::from_env`], but with neither `WEBHOOKS_CONFIG` nor
    /// `./webhooks.toml` it serves the built-in development configuration
    /// ([`development_config`](crate::development_config): its secrets are
    /// published in the README), which logs its sources and where their
    /// secrets come from, and refuses to listen on anything but a loopback
    /// address ([`ServeError::DevelopmentNotLoopback`]).
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webhooks_hyper::ServeError> {
    /// // A file if there is one, else the development sources on 127.0.0.1:3000.
    /// webhooks_hyper::Server::from_env_or_development().await
    /// # }
    /// ```
    pub fn from_env_or_development() -> Self {
        Self::with_origin(Origin::EnvOrDevelopment)
    }

    fn with_origin(origin: Origin) -> Self {
        Self {
            origin,
            signal: None,
            storage: None,
            customize: Vec::new(),
            admin_token: None,
        }
    }

    /// A server with this configuration.
    pub fn from_config(config: WebhooksConfig) -> Self {
        Self::with_origin(Origin::Config(Box::new(config)))
    }

    /// Stops gracefully when `signal` completes, instead of on Ctrl-C or
    /// SIGTERM.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// Chooses the store and queue from the configuration: the transport
    /// knows no backend, so the `webhooks` facade passes its choice here
    /// (Redis with the `redis` feature). Without it, the in-memory store
    /// serves, and `provider = "redis"` is a start-up error.
    pub fn storage(
        mut self,
        choose: impl FnOnce(&WebhooksConfig, ProcessorBuilder) -> Result<ProcessorBuilder, BuildError>
        + Send
        + 'static,
    ) -> Self {
        self.storage = Some(Box::new(choose));
        self
    }

    /// Adjusts the processor before it is built: add listeners, a store …
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), webhooks_hyper::ServeError> {
    /// webhooks_hyper::Server::from_env()
    ///     .configure(|builder| builder.registered_listeners(true))
    ///     .await
    /// # }
    /// ```
    pub fn configure(
        mut self,
        customize: impl FnOnce(ProcessorBuilder) -> ProcessorBuilder + Send + 'static,
    ) -> Self {
        self.customize.push(Box::new(customize));
        self
    }

    /// Gives the admin API's bearer token, instead of reading it from the
    /// variable `[webhooks.admin] token-env` names: for a token from a
    /// secret manager. It must be 16 bytes at least, like one from the
    /// environment; without `[webhooks.admin]` there is no admin API, and
    /// it is not used.
    ///
    /// ```no_run
    /// # async fn run(token_from_vault: String) -> Result<(), webhooks_hyper::ServeError> {
    /// webhooks_hyper::Server::from_env()
    ///     .admin_token(token_from_vault)
    ///     .await
    /// # }
    /// ```
    pub fn admin_token(mut self, token: impl Into<Secret>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// Loads the configuration, builds the processor and binds, without
    /// serving yet; the result tells the address (useful with port 0).
    ///
    /// With `[webhooks.admin]`, the admin API gets a listener of its own
    /// ([`BoundServer::admin_addr`]); its token is read now, and a missing
    /// or short one is a start-up error that names the variable.
    pub async fn bind(self) -> Result<BoundServer, ServeError> {
        let (config, development) = match self.origin {
            Origin::Config(config) => (*config, false),
            Origin::Env => load_from_env(false)?,
            Origin::EnvOrDevelopment => load_from_env(true)?,
        };
        log_start_up(&config, development);
        let admin_token = match &config.admin {
            Some(admin) => Some(admin_token(admin, self.admin_token)?),
            None => None,
        };
        let mut builder = ProcessorBuilder::from_config(&config)?;
        if let Some(storage) = self.storage {
            builder = storage(&config, builder)?;
        }
        for customize in self.customize {
            builder = customize(builder);
        }
        let processor = builder.build()?;
        let addr: SocketAddr = config.bind.parse().map_err(|_| {
            ServeError::Config(webhooks_core::ConfigError::invalid(
                "webhooks.bind",
                "not an address",
            ))
        })?;
        let listener =
            crate::connection::listen(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        let admin = match (&config.admin, admin_token) {
            (Some(admin), Some(token)) => {
                let service = AdminService::new(
                    processor.clone(),
                    token,
                    config.request_timeout(),
                    admin.operational_routes,
                );
                Some(AdminListener::bind(admin, service)?)
            }
            _ => None,
        };
        let mut service = WebhookService::new(processor)
            .max_body_bytes(config.max_body_bytes)
            .request_timeout(config.request_timeout())
            .trusted_proxies(config.trusted_proxy_ranges()?);
        if admin
            .as_ref()
            .is_some_and(|admin| admin.service.operational_routes())
        {
            service = service.webhook_routes_only();
        }
        Ok(BoundServer {
            listener,
            local_addr,
            limits: Limits::from_config(&config),
            service,
            admin,
            shutdown_timeout: config.shutdown_timeout(),
            signal: self.signal.unwrap_or_else(|| Box::pin(terminate_signal())),
        })
    }
}

impl IntoFuture for Server {
    type Output = Result<(), ServeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.bind().await?.await })
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("from_env", &!matches!(self.origin, Origin::Config(_)))
            .finish_non_exhaustive()
    }
}

/// A server bound to its address; awaiting it serves until the shutdown
/// signal.
#[must_use = "a server does nothing until it is awaited"]
pub struct BoundServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    limits: Limits,
    service: WebhookService,
    admin: Option<AdminListener>,
    shutdown_timeout: Duration,
    signal: Signal,
}

impl BoundServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The admin API's address (`[webhooks.admin] bind`, its port chosen
    /// when it is 0); `None` without the section: then there is no admin
    /// API at all.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let config = webhooks_core::Config::from_toml(r#"
    ///     [webhooks]
    ///     bind = "127.0.0.1:0"
    ///     [webhooks.admin]
    ///     bind = "127.0.0.1:0"
    ///     token-env = "ADMIN_TOKEN"
    /// "#).unwrap();
    /// let server = webhooks_hyper::Server::from_config(config.webhooks)
    ///     .admin_token("a-long-random-admin-token")
    ///     .bind()
    ///     .await
    ///     .unwrap();
    /// let admin = server.admin_addr().unwrap();
    /// assert_ne!(admin, server.local_addr());
    /// # });
    /// ```
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|admin| admin.addr)
    }

    /// The processor it serves.
    pub fn processor(&self) -> &WebhookProcessor {
        self.service.processor()
    }

    /// Stops gracefully when `signal` completes instead.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.signal = Box::pin(signal);
        self
    }

    async fn serve(self) -> Result<(), ServeError> {
        let Self {
            listener,
            local_addr,
            limits,
            service,
            admin,
            shutdown_timeout,
            mut signal,
        } = self;
        let graceful = GracefulShutdown::new();
        let (stop, stopped) = watch::channel(false);
        // Polled once before the line that says the server listens: the
        // Ctrl-C and SIGTERM handlers are installed by that first poll, and a
        // SIGTERM sent as soon as the line appears must find them.
        let signalled = tokio::select! {
            biased;
            () = &mut signal => true,
            () = std::future::ready(()) => false,
        };
        if signalled {
            let _ = stop.send(true);
        }
        tracing::info!("listening on http://{local_addr}");
        let public = Accept {
            listener,
            http: limits.http1(service.body_limit()),
            max_connections: limits.max_connections,
            name: "",
            limit: "max-connections",
        };
        let public = public.run(&service, limits, &graceful, stopped.clone());
        let admin = async {
            if let Some(AdminListener {
                listener,
                addr,
                service,
            }) = admin
            {
                tracing::info!("admin API on http://{addr}/admin/ (bearer token required)");
                if service.operational_routes() {
                    tracing::info!(
                        "/healthz, /readyz and /metrics on http://{addr} (no token), not on the public address"
                    );
                }
                let accept = Accept {
                    listener,
                    http: limits.http1(admin::MAX_BODY_BYTES),
                    max_connections: admin::MAX_CONNECTIONS.min(limits.max_connections),
                    name: "admin API: ",
                    limit: "the admin listener",
                };
                accept.run(&service, limits, &graceful, stopped).await;
            }
        };
        let trigger = async {
            if !signalled {
                signal.await;
            }
            let _ = stop.send(true);
        };
        tokio::join!(public, admin, trigger);
        tracing::info!("shutting down: finishing in-flight events (at most {shutdown_timeout:?})");
        // The processor gives in-flight events the shutdown timeout, then
        // cuts them short and hands them back; the connections waiting for
        // their answers close right after.
        let connections = async {
            let drain = shutdown_timeout.saturating_add(ANSWER_GRACE);
            if tokio::time::timeout(drain, graceful.shutdown())
                .await
                .is_err()
            {
                tracing::warn!("open connections did not finish within {drain:?}; closing them");
            }
        };
        tokio::join!(connections, service.processor().shutdown());
        tracing::info!("stopped");
        Ok(())
    }
}

impl IntoFuture for BoundServer {
    type Output = Result<(), ServeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.serve())
    }
}

impl std::fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundServer")
            .field("local_addr", &self.local_addr)
            .field("admin_addr", &self.admin_addr())
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The configuration, and whether it is the built-in development one,
/// which only `development_allowed` permits.
fn load_from_env(development_allowed: bool) -> Result<(WebhooksConfig, bool), ServeError> {
    // The `WEBHOOKS__…` variables (and `WEBHOOKS_BIND`) are set on either.
    let (config, development) = match Config::from_env()? {
        Some((config, path)) => {
            tracing::info!("configuration from {}{}", path.display(), overridden());
            (config.webhooks, false)
        }
        None if development_allowed => (dev::development_config()?, true),
        None => return Err(ServeError::NoConfig),
    };
    if development {
        dev::check_loopback(&config.bind)?;
        dev::log_try_it(&config.bind);
    }
    Ok((config, development))
}

/// `, keys set by WEBHOOKS__A, WEBHOOKS__B`: the names of the variables that
/// set keys over the file (never their values), or nothing.
fn overridden() -> String {
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| name.starts_with("WEBHOOKS__") || name == "WEBHOOKS_BIND")
        .collect();
    if names.is_empty() {
        return String::new();
    }
    names.sort();
    format!(", keys set by {}", names.join(", "))
}

/// `development`: the secrets' origins were logged by the development
/// configuration; there is no configuration file to name.
fn log_start_up(config: &WebhooksConfig, development: bool) {
    if !config.enabled {
        tracing::warn!("webhooks.enabled = false: no webhook route is mounted");
        return;
    }
    for (name, source) in &config.sources {
        let origin = if development {
            "the development configuration (see above)".to_owned()
        } else {
            source.secret_origin()
        };
        tracing::info!(
            "source {name}: POST /webhooks/{name}, validator {}, secret from {origin}",
            source.validator.name()
        );
        if source.validator == ValidatorKind::None {
            tracing::warn!(
                "source {name} has validator = \"none\": its deliveries are NOT verified"
            );
        }
    }
    if config.dispatch.mode == DispatchMode::Queued
        && config.idempotency.provider == StoreProvider::InMemory
    {
        tracing::warn!(
            "dispatch.mode = \"queued\" with the in-memory provider: accepted events wait in this process only \
             and are lost if it crashes; use provider = \"redis\" for a durable queue"
        );
    }
}

/// Ctrl-C or SIGTERM.
async fn terminate_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
