//! One accepted connection: hyper's settings from the limits, the
//! request clock around the socket, and the task that serves it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use webhooks_core::config::WebhooksConfig;

use crate::WebhookService;
use crate::service::Arrival;
use crate::timed_io::{ConnClock, TimedIo};

/// Connections the kernel completes and holds for the server to accept:
/// where they wait at `max-connections` and in bursts. The standard
/// library's (and mio's) 128 overflows under a burst, and the kernel then
/// drops handshakes; the kernel caps this at `net.core.somaxconn`.
const BACKLOG: u32 = 1024;

/// Binds `addr` and listens with [`BACKLOG`].
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted server rebinds at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The transport's limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    max_header_bytes: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) max_connections: usize,
}

impl Limits {
    pub(crate) fn from_config(config: &WebhooksConfig) -> Self {
        let max_connections = usize::try_from(config.max_connections).unwrap_or(usize::MAX);
        Self {
            max_header_bytes: usize::try_from(config.max_header_bytes).unwrap_or(usize::MAX),
            request_timeout: config.request_timeout(),
            max_connections: max_connections.min(Semaphore::MAX_PERMITS),
        }
    }

    /// hyper's settings: a head over `max-header-bytes` gets hyper's own
    /// 431 and the connection is closed; the read buffer, which a head must
    /// also fit, has room for a whole body besides, so that a large body
    /// arrives in few, large frames (hyper's default stops near 400 KiB).
    /// The head's and the idle connection's deadlines are [`TimedIo`]'s,
    /// not hyper's `header_read_timeout`.
    pub(crate) fn http1(&self, body_limit: u64) -> http1::Builder {
        let read_buffer = usize::try_from(body_limit)
            .unwrap_or(usize::MAX)
            .max(self.max_header_bytes)
            .saturating_add(64 * 1024)
            .max(416 * 1024);
        let mut http = http1::Builder::new();
        http.header_read_timeout(None)
            .max_header_size(self.max_header_bytes)
            .max_buf_size(read_buffer)
            .keep_alive(true);
        http
    }
}

/// An accepted connection, holding one of the `max-connections` slots
/// until it closes.
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) slot: OwnedSemaphorePermit,
}

impl Connection {
    /// Serves the connection's requests in a task of its own.
    pub(crate) fn spawn(
        self,
        http: &http1::Builder,
        service: &WebhookService,
        request_timeout: Duration,
        graceful: &GracefulShutdown,
    ) {
        let Self { stream, peer, slot } = self;
        let _ = stream.set_nodelay(true);
        let clock = ConnClock::new(request_timeout);
        let io = TokioIo::new(TimedIo::new(stream, Arc::clone(&clock)));
        // A closure rather than the service itself: hyper then keeps each
        // request's future in place instead of a boxed one.
        let service = service.clone();
        let requests = hyper::service::service_fn(move |request| {
            let service = service.clone();
            let clock = Arc::clone(&clock);
            let arrival = Arrival {
                peer: Some(peer.ip()),
                started: clock.request_started(),
            };
            async move {
                let response = service.answer(request, arrival).await;
                clock.request_finished();
                Ok::<_, Infallible>(response)
            }
        });
        let connection = graceful.watch(http.serve_connection(io, requests));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
}
