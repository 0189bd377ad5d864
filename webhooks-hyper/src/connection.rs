//! Accepting connections, and serving one: hyper's settings from the
//! limits, the request clock around the socket, and the task that serves
//! it.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use webhooks_core::config::WebhooksConfig;

use crate::WebhookService;
use crate::response::WebhookResponse;
use crate::service::Arrival;
use crate::timed_io::{ConnClock, TimedIo};

/// What answers a connection's requests: the webhook endpoint, or the
/// admin API on its own listener.
pub(crate) trait Respond: Clone + Send + Sync + 'static {
    /// Answers one request that arrived as `arrival` says.
    fn respond(
        &self,
        request: Request<Incoming>,
        arrival: Arrival,
    ) -> impl Future<Output = WebhookResponse> + Send;
}

impl Respond for WebhookService {
    fn respond(
        &self,
        request: Request<Incoming>,
        arrival: Arrival,
    ) -> impl Future<Output = WebhookResponse> + Send {
        self.answer(request, arrival)
    }
}

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
    pub(crate) fn spawn<S: Respond>(
        self,
        http: &http1::Builder,
        service: &S,
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
                let response = service.respond(request, arrival).await;
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

/// One listener's accept loop.
pub(crate) struct Accept {
    pub(crate) listener: TcpListener,
    pub(crate) http: http1::Builder,
    pub(crate) max_connections: usize,
    /// What the warnings say first: which listener.
    pub(crate) name: &'static str,
    /// What sets `max_connections`, as the warning at the limit names it.
    pub(crate) limit: &'static str,
}

impl Accept {
    /// Accepts connections, each served by `service` in a task of its own,
    /// until `stopped` says so; the listener is closed then.
    pub(crate) async fn run<S: Respond>(
        self,
        service: &S,
        limits: Limits,
        graceful: &GracefulShutdown,
        mut stopped: watch::Receiver<bool>,
    ) {
        let Self {
            listener,
            http,
            max_connections,
            name,
            limit,
        } = self;
        let mut stop = std::pin::pin!(async move {
            // A dropped sender stops the loop too.
            let _ = stopped.wait_for(|stop| *stop).await;
        });
        let slots = Arc::new(Semaphore::new(max_connections));
        let mut at_limit = false;
        loop {
            // At the limit, nothing is accepted: new connections wait in the
            // kernel's backlog until an open one closes, and every open one
            // closes within the request timeout unless it is being served.
            if slots.available_permits() == 0 && !std::mem::replace(&mut at_limit, true) {
                tracing::warn!(
                    "{name}{max_connections} connections open, the most {limit} allows: new ones wait"
                );
            }
            let slot = tokio::select! {
                slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
                () = &mut stop => break,
            };
            at_limit &= slots.available_permits() == 0;
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut stop => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause, go on.
                    tracing::warn!(error = %error, "{name}accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let connection = Connection { stream, peer, slot };
            connection.spawn(&http, service, limits.request_timeout, graceful);
        }
    }
}
