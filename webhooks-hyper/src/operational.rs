//! The operational routes: `/healthz`, `/readyz` and `/metrics`, on the
//! public address or, with `[webhooks.admin] operational-routes = true`,
//! on the admin one.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;
use webhooks_core::{Metrics, WebhookProcessor};

use crate::response::{self, WebhookResponse};

/// How long `/readyz` waits for the store before answering 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// One of the operational routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operational {
    /// `GET /healthz`: 200 while the process runs.
    Health,
    /// `GET /readyz`: 200 when the store answers, else 503.
    Ready,
    /// `GET /metrics`: the Prometheus text exposition.
    Metrics,
}

impl Operational {
    /// The route at `path`, if it is one of them.
    pub(crate) fn at(path: &str) -> Option<Self> {
        match path {
            "/healthz" => Some(Self::Health),
            "/readyz" => Some(Self::Ready),
            "/metrics" => Some(Self::Metrics),
            _ => None,
        }
    }

    /// Answers a `method` request to this route.
    pub(crate) async fn answer(
        self,
        processor: &WebhookProcessor,
        method: &Method,
    ) -> WebhookResponse {
        if method != Method::GET && method != Method::HEAD {
            return response::method_not_allowed("GET, HEAD");
        }
        match self {
            Self::Health => response::json(StatusCode::OK, br#"{"status":"ok"}"#.to_vec()),
            Self::Ready => ready(processor).await,
            Self::Metrics => {
                let mut response =
                    http::Response::new(Full::new(Bytes::from(processor.metrics().encode())));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(Metrics::CONTENT_TYPE),
                );
                response
            }
        }
    }
}

async fn ready(processor: &WebhookProcessor) -> WebhookResponse {
    match tokio::time::timeout(READY_TIMEOUT, processor.ready()).await {
        Ok(Ok(())) => response::json(StatusCode::OK, br#"{"status":"ready"}"#.to_vec()),
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check failed");
            response::retry_later(StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
        Err(_) => response::retry_later(
            StatusCode::SERVICE_UNAVAILABLE,
            "store did not answer in time",
        ),
    }
}
