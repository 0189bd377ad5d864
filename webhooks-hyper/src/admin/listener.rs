//! The admin API's listener: its token, read at start-up, and its address.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use webhooks_core::config::{AdminConfig, MIN_ADMIN_TOKEN_BYTES};
use webhooks_core::{ConfigError, Secret};

use super::AdminService;
use crate::ServeError;

/// The admin token: the one given to [`Server::admin_token`](crate::Server::admin_token), else the
/// one in `token-env`; either must be long enough.
pub(crate) fn admin_token(
    admin: &AdminConfig,
    given: Option<Secret>,
) -> Result<Secret, ConfigError> {
    let Some(token) = given else {
        return admin.token();
    };
    if token.expose().len() < MIN_ADMIN_TOKEN_BYTES {
        return Err(ConfigError::invalid(
            "webhooks.admin.token-env",
            format!(
                "the token given to Server::admin_token must be at least {MIN_ADMIN_TOKEN_BYTES} bytes"
            ),
        ));
    }
    Ok(token)
}

/// The admin API's listener, bound.
pub(crate) struct AdminListener {
    pub(crate) listener: TcpListener,
    pub(crate) addr: SocketAddr,
    pub(crate) service: AdminService,
}

impl AdminListener {
    pub(crate) fn bind(admin: &AdminConfig, service: AdminService) -> Result<Self, ServeError> {
        let addr: SocketAddr = admin.bind.parse().map_err(|_| {
            ServeError::Config(ConfigError::invalid(
                "webhooks.admin.bind",
                "not an address",
            ))
        })?;
        let listener =
            crate::connection::listen(addr).map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self {
            listener,
            addr,
            service,
        })
    }
}
