//! The transport: routes, the body limit, and the contract's statuses.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tracing::Instrument as _;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body::Body;
use tokio::time::Instant;
use webhooks_core::config::IpRanges;
use webhooks_core::{
    BoxError, Headers, ProcessError, Processed, Route, WebhookProcessor, metrics::Received,
};

use crate::body::{BodyError, read_body};
use crate::network::{self, PeerAddr};
use crate::operational::Operational;
use crate::response::{self, WebhookResponse};

/// The webhook endpoint as a service: `POST /webhooks/{source}`, `/healthz`,
/// `/readyz` and `/metrics` (the last three left out with
/// [`WebhookService::webhook_routes_only`]).
///
/// It is a `tower::Service` (so an axum or tonic application can mount it)
/// and a `hyper::service::Service` (so hyper serves it directly). Mounted
/// that way, it knows the client's address only from a [`PeerAddr`] in the
/// request's extensions (see there), and its request timeout bounds the
/// body from when the request reached it: the head is the host server's.
///
/// ```
/// use std::time::Duration;
///
/// use webhooks_core::config::IpRanges;
/// use webhooks_core::{GitHubSignatureValidator, WebhookProcessor};
/// use webhooks_hyper::WebhookService;
///
/// let processor = WebhookProcessor::builder()
///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
///     .build()
///     .unwrap();
/// let service = WebhookService::new(processor)
///     .max_body_bytes(64 * 1024)
///     .request_timeout(Duration::from_secs(10))
///     .trusted_proxies(IpRanges::from_cidrs(["10.0.0.0/8"]).unwrap());
/// assert_eq!(service.processor().sources().count(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct WebhookService {
    inner: Arc<Inner>,
}

#[derive(Clone, Debug)]
struct Inner {
    processor: WebhookProcessor,
    max_body_bytes: u64,
    request_timeout: Duration,
    trusted_proxies: IpRanges,
    /// `/healthz`, `/readyz` and `/metrics` are served.
    operational_routes: bool,
}

/// What the transport knows of a request besides the request itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    /// The TCP peer, when known.
    pub(crate) peer: Option<IpAddr>,
    /// When its first byte arrived: its head and body are due
    /// `request-timeout-seconds` later.
    pub(crate) started: Instant,
}

/// Set once a request with an allow-list met no [`PeerAddr`], so that the
/// reason of those 403s is logged, once.
static WARNED_NO_PEER: AtomicBool = AtomicBool::new(false);

impl WebhookService {
    /// Serves `processor` with the default body limit of 1 MiB, a request
    /// timeout of 30 s and no trusted proxy.
    pub fn new(processor: WebhookProcessor) -> Self {
        Self {
            inner: Arc::new(Inner {
                processor,
                max_body_bytes: 1_048_576,
                request_timeout: Duration::from_secs(30),
                trusted_proxies: IpRanges::default(),
                operational_routes: true,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Inner)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// Refuses bodies over `bytes` with 413, unread.
    #[must_use]
    pub fn max_body_bytes(self, bytes: u64) -> Self {
        self.with(|inner| inner.max_body_bytes = bytes)
    }

    /// Answers 408, and closes the connection, when a webhook's body has
    /// not arrived within `timeout` of the request's first byte (behind
    /// [`Server`](crate::Server)) or of its arrival at the service.
    #[must_use]
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.with(|inner| inner.request_timeout = timeout)
    }

    /// Believes the `X-Forwarded-For` / `Forwarded` header of peers in
    /// `proxies` when checking a source's `allow-ips`; nobody else's.
    #[must_use]
    pub fn trusted_proxies(self, proxies: IpRanges) -> Self {
        self.with(|inner| inner.trusted_proxies = proxies)
    }

    /// Serves `POST /webhooks/{source}` only: `/healthz`, `/readyz` and
    /// `/metrics` are 404s like any other path, for an application that
    /// has its own health checks and metrics (it can add
    /// [`WebhookProcessor::metrics`]' `encode()` to its own `/metrics`).
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, WebhookProcessor};
    /// use webhooks_hyper::WebhookService;
    ///
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
    ///     .build()
    ///     .unwrap();
    /// let service = WebhookService::new(processor).webhook_routes_only();
    /// assert!(!service.serves_operational_routes());
    /// ```
    #[must_use]
    pub fn webhook_routes_only(self) -> Self {
        self.with(|inner| inner.operational_routes = false)
    }

    /// Whether it serves `/healthz`, `/readyz` and `/metrics` (default:
    /// yes; see [`WebhookService::webhook_routes_only`]).
    pub fn serves_operational_routes(&self) -> bool {
        self.inner.operational_routes
    }

    /// The body limit in bytes.
    pub fn body_limit(&self) -> u64 {
        self.inner.max_body_bytes
    }

    /// The processor behind the service.
    pub fn processor(&self) -> &WebhookProcessor {
        &self.inner.processor
    }

    /// Answers one request; the client's address comes from a [`PeerAddr`]
    /// in its extensions, if any.
    pub async fn handle<B>(&self, request: Request<B>) -> WebhookResponse
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let peer = request
            .extensions()
            .get::<PeerAddr>()
            .map(|peer| peer.0.ip());
        let started = Instant::now();
        self.answer(request, Arrival { peer, started }).await
    }

    /// Answers one request that arrived as `arrival` says.
    pub(crate) async fn answer<B>(&self, request: Request<B>, arrival: Arrival) -> WebhookResponse
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let inner = &*self.inner;
        let path = request.uri().path();
        if let Some(source) = path.strip_prefix("/webhooks/") {
            if source.is_empty() || source.contains('/') {
                return response::error(StatusCode::NOT_FOUND, "not found");
            }
            if request.method() != Method::POST {
                return response::method_not_allowed("POST");
            }
            let Some(route) = inner.processor.route(source) else {
                return response::error(StatusCode::NOT_FOUND, "unknown source");
            };
            // One span per delivery, around all of it: the refusals of the
            // transport's own limits and policy too.
            let span = webhooks_core::delivery_span(route.source(), None);
            if !span.is_disabled() {
                let client =
                    network::client_addr(arrival.peer, &inner.trusted_proxies, request.headers());
                if let Some(client) = client {
                    span.record("client", tracing::field::display(client));
                }
            }
            return inner
                .webhook(route, request, arrival)
                .instrument(span)
                .await;
        }
        match Operational::at(path) {
            Some(route) if inner.operational_routes => {
                route.answer(&inner.processor, request.method()).await
            }
            _ => response::error(StatusCode::NOT_FOUND, "not found"),
        }
    }
}

impl Inner {
    /// `POST /webhooks/{source}`, the source checked by [`WebhookService::handle`].
    async fn webhook<B>(
        &self,
        route: Route<'_>,
        request: Request<B>,
        arrival: Arrival,
    ) -> WebhookResponse
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        if let Err(refused) = self.admit(&route, &request, arrival.peer) {
            return answer_error(&refused);
        }
        let metrics = self.processor.metrics();
        let source = route.source();
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_body_bytes) {
            metrics.received(source, "unknown", Received::TooLarge);
            refused("too_large", "declared body over max-body-bytes");
            return response::too_large();
        }
        let url = route.needs_url().then(|| request_url(&parts));
        let headers = Headers::from(parts.headers);
        let limit = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
        let due = arrival.started + self.request_timeout;
        let start_hashing = || route.body_hasher(&headers, url.as_deref());
        let read = read_body(body, limit, declared, start_hashing);
        let read = tokio::time::timeout_at(due, read);
        let Ok(read) = read.await else {
            refused(
                "request_timeout",
                "the body did not arrive within request-timeout-seconds",
            );
            return response::request_timeout();
        };
        let (body, macs) = match read {
            Ok(read) => read,
            Err(BodyError::TooLarge) => {
                metrics.received(source, "unknown", Received::TooLarge);
                refused("too_large", "streamed body over max-body-bytes");
                return response::too_large();
            }
            Err(BodyError::Read) => {
                refused("bad_request", "could not read the request body");
                return response::error(StatusCode::BAD_REQUEST, "could not read the request body");
            }
        };
        let processed = route
            .process_hashed(body, headers, url.as_deref(), macs)
            .await;
        match processed {
            Ok(Processed::Accepted { id }) => response::status_with_id("accepted", &id),
            Ok(Processed::Duplicate { id }) => response::status_with_id("duplicate", &id),
            Ok(Processed::Failed { id }) => response::status_with_id("failed", &id),
            Ok(Processed::Handshake(handshake)) => response::handshake(handshake),
            Err(error) => answer_error(&error),
        }
    }

    /// The network policy, before the body is read: the source's
    /// `allow-ips`, against the client the peer and trusted proxies name.
    fn admit<B>(
        &self,
        route: &Route<'_>,
        request: &Request<B>,
        peer: Option<IpAddr>,
    ) -> Result<(), ProcessError> {
        if !route.restricts_clients() {
            return Ok(());
        }
        if peer.is_none() && !WARNED_NO_PEER.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "source {} has allow-ips but the request carries no peer address: refused; \
                 mount WebhookService with a webhooks_hyper::PeerAddr in each request",
                route.source()
            );
        }
        let client = network::client_addr(peer, &self.trusted_proxies, request.headers());
        route.admit(client)
    }
}

/// The contract's answer to each processing error: the whole HTTP answer
/// is decided here, from the core's typed outcome.
/// A delivery the transport refused itself: logged at `info` with its
/// cause, and recorded in the delivery's span.
fn refused(outcome: &'static str, cause: &str) {
    tracing::Span::current().record("outcome", outcome);
    tracing::info!(outcome, cause, "webhook refused");
}

fn answer_error(error: &ProcessError) -> WebhookResponse {
    match error {
        ProcessError::UnknownSource => response::error(StatusCode::NOT_FOUND, "unknown source"),
        ProcessError::Forbidden => response::error(StatusCode::FORBIDDEN, "forbidden"),
        ProcessError::InvalidSignature(why) => {
            response::error(StatusCode::UNAUTHORIZED, &why.to_string())
        }
        ProcessError::BadRequest(why) => response::error(StatusCode::BAD_REQUEST, &why.to_string()),
        ProcessError::InProgress { .. } => {
            response::retry_later(StatusCode::CONFLICT, "in progress")
        }
        ProcessError::Unavailable(_) => {
            response::retry_later(StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
        ProcessError::QueueFull => {
            response::retry_later(StatusCode::SERVICE_UNAVAILABLE, "queue full")
        }
        ProcessError::ShuttingDown => {
            response::retry_later(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
        }
        ProcessError::ClaimLost { .. } => response::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "the event could not be recorded as handled",
        ),
        ProcessError::ListenerFailed { .. } => {
            response::error(StatusCode::INTERNAL_SERVER_ERROR, "listener failed")
        }
    }
}

/// The URL the request was sent to, for the schemes that sign it:
/// `http://` and the `Host` header (else the request line's authority) when
/// that is a plain `host[:port]`, else the path and query alone, which only
/// a source with a public URL can verify ([`webhooks_core::request_url`]).
/// The path and query always come from the request line.
fn request_url(parts: &http::request::Parts) -> String {
    let host = match parts.headers.get(header::HOST) {
        Some(host) => host.to_str().ok(),
        None => parts.uri.authority().map(http::uri::Authority::as_str),
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    webhooks_core::request_url(host, path)
}

/// The future of [`WebhookService`]'s `call`.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<WebhookResponse, Infallible>> + Send>>;

impl<B> tower_service::Service<Request<B>> for WebhookService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = WebhookResponse;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}

impl<B> hyper::service::Service<Request<B>> for WebhookService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = WebhookResponse;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}
