//! The admin API: the event log and the dead letters, for operators.
//!
//! Served on `[webhooks.admin] bind` only, by a listener of its own (never
//! the public port), and every request needs `Authorization: Bearer
//! <token>`. It knows the processor, not the backend behind it.
//!
//! With `operational-routes = true`, `/healthz`, `/readyz` and `/metrics`
//! are answered here too, before the token is asked for: a Kubernetes probe
//! or a Prometheus scrape sends none, and they tell no more than they do on
//! the public port.
//!
//! | request | answer |
//! |---|---|
//! | `GET /admin/events?source=&status=&type=&limit=&cursor=&since=&until=` | 200 `{"events":[...],"next":<cursor or null>}`, newest first, without bodies |
//! | `GET /admin/events/{source}/{id}` | 200 the record, its body and headers when kept; 404 |
//! | `POST /admin/events/{source}/{id}/replay` | 202 `{"status":"replaying",...}`; 404, 409 (body not kept), 503 |
//! | `GET /admin/dead?source=` | 200 `{"dead":[...]}` |
//! | `POST /admin/dead/{source}/{id}/requeue` | 202 `{"status":"requeued",...}`; 404 |

mod listener;
mod params;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use http_body::Body;
use hyper::body::Incoming;
use serde_json::json;
use webhooks_core::event_log::{EventQuery, ReplayError, format_time};
use webhooks_core::{BoxError, Secret, StoreError, WebhookProcessor};

pub(crate) use self::listener::{AdminListener, admin_token};
use self::params::{BadRequest, Key, Route};
use crate::body::{BodyError, read_body};
use crate::connection::Respond;
use crate::operational::Operational;
use crate::response::{self, WebhookResponse};
use crate::service::Arrival;

/// The largest request body the admin API reads (it needs none).
pub(crate) const MAX_BODY_BYTES: u64 = 64 * 1024;

/// Connections the admin listener serves at once; more wait in the
/// kernel's backlog.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// The admin API, as the admin listener serves it.
#[derive(Clone)]
pub(crate) struct AdminService {
    inner: Arc<Inner>,
}

struct Inner {
    processor: WebhookProcessor,
    token: Secret,
    /// `/healthz`, `/readyz` and `/metrics` are served, without the token.
    operational_routes: bool,
    /// The body's deadline, and how long a read of the log or the queue
    /// may take before the answer is 503.
    request_timeout: Duration,
}

impl AdminService {
    pub(crate) fn new(
        processor: WebhookProcessor,
        token: Secret,
        request_timeout: Duration,
        operational_routes: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                processor,
                token,
                operational_routes,
                request_timeout,
            }),
        }
    }

    /// Whether `/healthz`, `/readyz` and `/metrics` are served here.
    pub(crate) fn operational_routes(&self) -> bool {
        self.inner.operational_routes
    }

    /// Answers one request: the operational routes when they are served
    /// here, else the token first, then the route, the method, the (small,
    /// unused) body, and the route's work.
    pub(crate) async fn answer<B>(&self, request: Request<B>, arrival: Arrival) -> WebhookResponse
    where
        B: Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let inner = &*self.inner;
        let operational = Operational::at(request.uri().path());
        if let Some(route) = operational.filter(|_| inner.operational_routes) {
            return route.answer(&inner.processor, request.method()).await;
        }
        if !authorized(request.headers(), &inner.token) {
            tracing::debug!(peer = ?arrival.peer, "admin API: refused a request without the bearer token");
            return unauthorized();
        }
        let route = match Route::parse(request.uri().path()) {
            Ok(Some(route)) => route,
            Ok(None) => return response::error(StatusCode::NOT_FOUND, "not found"),
            Err(bad) => return bad_request(&bad),
        };
        if !route.allows(request.method()) {
            return response::method_not_allowed(route.allow());
        }
        let (parts, body) = request.into_parts();
        let due = arrival.started + inner.request_timeout;
        let read = read_body(body, MAX_BODY_BYTES as usize, None, || None);
        let read = tokio::time::timeout_at(due, read);
        match read.await {
            Err(_) => return response::request_timeout(),
            Ok(Err(BodyError::TooLarge)) => return response::too_large(),
            Ok(Err(BodyError::Read)) => {
                return response::error(StatusCode::BAD_REQUEST, "could not read the request body");
            }
            Ok(Ok(_unused)) => {}
        }
        let query = parts.uri.query();
        match route {
            Route::Events => inner.list(query).await,
            Route::Event(key) => inner.show(&key).await,
            Route::Replay(key) => inner.replay(key).await,
            Route::Dead => inner.dead(query).await,
            Route::Requeue(key) => inner.requeue(key).await,
        }
    }
}

impl Respond for AdminService {
    fn respond(
        &self,
        request: Request<Incoming>,
        arrival: Arrival,
    ) -> impl Future<Output = WebhookResponse> + Send {
        self.answer(request, arrival)
    }
}

impl std::fmt::Debug for AdminService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminService")
            .field("processor", &self.inner.processor)
            .field("token", &"[redacted]")
            .field("operational_routes", &self.inner.operational_routes)
            .finish_non_exhaustive()
    }
}

impl Inner {
    /// `GET /admin/events`.
    async fn list(&self, query: Option<&str>) -> WebhookResponse {
        if !self.processor.has_event_log() {
            return log_off();
        }
        let query = match params::event_query(query) {
            Ok(query) => query,
            Err(bad) => return bad_request(&bad),
        };
        let listed = self.read("event log", async {
            self.processor
                .events(&query)
                .await
                .unwrap_or_else(|| Ok(Default::default()))
        });
        let mut page = match listed.await {
            Ok(page) => page,
            Err(unavailable) if query.cursor.is_some() => {
                return self.bad_cursor_or(unavailable).await;
            }
            Err(unavailable) => return unavailable,
        };
        for record in &mut page.events {
            record.body = None;
            record.headers = None;
        }
        json_answer(StatusCode::OK, serde_json::to_vec(&page))
    }

    /// A listing with a cursor failed: the log tells a cursor that is not
    /// one of its own from an outage only by failing, so it is asked once
    /// more without it.
    async fn bad_cursor_or(&self, unavailable: WebhookResponse) -> WebhookResponse {
        let probe = EventQuery::default().limit(1);
        match self
            .read("event log", async {
                self.processor
                    .events(&probe)
                    .await
                    .unwrap_or(Ok(Default::default()))
            })
            .await
        {
            Ok(_) => response::error(StatusCode::BAD_REQUEST, "cursor: not a cursor of this log"),
            Err(_) => unavailable,
        }
    }

    /// `GET /admin/events/{source}/{id}`.
    async fn show(&self, key: &Key) -> WebhookResponse {
        if !self.processor.has_event_log() {
            return log_off();
        }
        let found = self.read("event log", self.processor.event(&key.source, &key.id));
        match found.await {
            Ok(Some(record)) => json_answer(StatusCode::OK, serde_json::to_vec(&record)),
            Ok(None) => no_such_event(),
            Err(unavailable) => unavailable,
        }
    }

    /// `POST /admin/events/{source}/{id}/replay`.
    async fn replay(&self, key: Key) -> WebhookResponse {
        match self.processor.replay(&key.source, &key.id).await {
            Ok(_) => {
                tracing::info!(source = %key.source, id = %key.id, "admin API: replaying an event");
                accepted("replaying", key)
            }
            Err(ReplayError::NoEventLog) => log_off(),
            Err(ReplayError::NotFound) => no_such_event(),
            Err(error @ ReplayError::UnknownSource) => {
                response::error(StatusCode::NOT_FOUND, &error.to_string())
            }
            Err(error @ ReplayError::BodyNotKept) => {
                response::error(StatusCode::CONFLICT, &error.to_string())
            }
            Err(ReplayError::QueueFull) => {
                response::retry_later(StatusCode::SERVICE_UNAVAILABLE, "queue full")
            }
            Err(ReplayError::ShuttingDown) => {
                response::retry_later(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
            }
            Err(ReplayError::Unavailable(error)) => store_unavailable("event log or queue", &error),
            Err(error) => response::error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
        }
    }

    /// `GET /admin/dead`.
    async fn dead(&self, query: Option<&str>) -> WebhookResponse {
        let source = match params::dead_query(query) {
            Ok(source) => source,
            Err(bad) => return bad_request(&bad),
        };
        let letters = self.read("queue", self.processor.dead_letters_of(source.as_deref()));
        let letters = match letters.await {
            Ok(letters) => letters,
            Err(unavailable) => return unavailable,
        };
        let dead: Vec<_> = letters
            .iter()
            .map(|letter| {
                json!({
                    "source": letter.event.source(),
                    "id": letter.event.id(),
                    "type": letter.event.event_type(),
                    "attempts": letter.state.attempts,
                    "reason": letter.reason,
                    "failed_at": format_time(letter.failed_at),
                })
            })
            .collect();
        json_answer(StatusCode::OK, serde_json::to_vec(&json!({ "dead": dead })))
    }

    /// `POST /admin/dead/{source}/{id}/requeue`.
    async fn requeue(&self, key: Key) -> WebhookResponse {
        match self
            .processor
            .requeue_dead_event(&key.source, &key.id)
            .await
        {
            Ok(true) => {
                tracing::info!(source = %key.source, id = %key.id, "admin API: requeued a dead letter");
                accepted("requeued", key)
            }
            Ok(false) => response::error(StatusCode::NOT_FOUND, "no such dead letter"),
            Err(error) => store_unavailable("queue", &error),
        }
    }

    /// Awaits a read of the log or the queue, for at most the request
    /// timeout: a store that does not answer is a 503, not a hung operator.
    async fn read<T>(
        &self,
        what: &str,
        read: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, WebhookResponse> {
        match tokio::time::timeout(self.request_timeout, read).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(store_unavailable(what, &error)),
            Err(_) => Err(response::retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the {what} did not answer in time"),
            )),
        }
    }
}

/// Whether the request carries exactly one `Authorization: Bearer
/// <token>` with the token.
fn authorized(headers: &HeaderMap, token: &Secret) -> bool {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let value = value.as_bytes();
    let Some(space) = value.iter().position(|byte| *byte == b' ') else {
        return false;
    };
    let (scheme, given) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return false;
    }
    let given = given.trim_ascii_start();
    token.matches(given)
}

fn unauthorized() -> WebhookResponse {
    let mut response = response::error(StatusCode::UNAUTHORIZED, "unauthorized");
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn bad_request(bad: &BadRequest) -> WebhookResponse {
    response::error(StatusCode::BAD_REQUEST, bad.message())
}

fn log_off() -> WebhookResponse {
    response::error(StatusCode::NOT_FOUND, &ReplayError::NoEventLog.to_string())
}

fn no_such_event() -> WebhookResponse {
    response::error(StatusCode::NOT_FOUND, &ReplayError::NotFound.to_string())
}

fn store_unavailable(what: &str, error: &StoreError) -> WebhookResponse {
    tracing::warn!(error = %error, "admin API: the {what} is unavailable");
    response::retry_later(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("the {what} is unavailable"),
    )
}

/// 202 `{"status":<status>,"source":...,"id":...}`.
fn accepted(status: &str, key: Key) -> WebhookResponse {
    let body = json!({ "status": status, "source": key.source, "id": key.id });
    json_answer(StatusCode::ACCEPTED, serde_json::to_vec(&body))
}

fn json_answer(status: StatusCode, body: serde_json::Result<Vec<u8>>) -> WebhookResponse {
    match body {
        Ok(body) => response::json(status, body),
        Err(error) => response::error(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::AUTHORIZATION, value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_the_one_bearer_token_passes() {
        let token = Secret::from("a-token-of-24-bytes-long");
        let passes = |values: &[&str]| authorized(&headers(values), &token);
        assert!(passes(&["Bearer a-token-of-24-bytes-long"]));
        assert!(passes(&["bearer a-token-of-24-bytes-long"]));
        for refused in [
            &[][..],
            &["a-token-of-24-bytes-long"],
            &["Basic a-token-of-24-bytes-long"],
            &["Bearer a-token-of-24-bytes-lonG"],
            &["Bearer a-token-of-24-bytes-lon"],
            &["Bearer a-token-of-24-bytes-longer"],
            &["Bearer "],
            &["Bearer"],
            &[
                "Bearer a-token-of-24-bytes-long",
                "Bearer a-token-of-24-bytes-long",
            ],
        ] {
            assert!(!passes(refused), "{refused:?}");
        }
    }
}
