//! The JSON answers of the contract.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The response type of [`crate::WebhookService`].
pub type WebhookResponse = Response<Full<Bytes>>;

/// Seconds a provider is asked to wait before retrying a 409 or a 503.
pub(crate) const RETRY_AFTER_SECONDS: &str = "5";

const JSON: HeaderValue = HeaderValue::from_static("application/json");

pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> WebhookResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

/// `{"status":"<status>","id":"<id>"}`.
///
/// Sized exactly when the id needs no escaping (the usual case), so the
/// `Vec` becomes the response's `Bytes` without another allocation.
pub(crate) fn status_with_id(status: &str, id: &str) -> WebhookResponse {
    const HEAD: &[u8] = b"{\"status\":\"";
    const MIDDLE: &[u8] = b"\",\"id\":";
    let plain = !id
        .bytes()
        .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\');
    let mut body = Vec::with_capacity(HEAD.len() + status.len() + MIDDLE.len() + id.len() + 3);
    body.extend_from_slice(HEAD);
    body.extend_from_slice(status.as_bytes());
    body.extend_from_slice(MIDDLE);
    if plain {
        body.push(b'"');
        body.extend_from_slice(id.as_bytes());
        body.push(b'"');
    } else {
        serde_json::to_writer(&mut body, id).expect("writing a string to a Vec cannot fail");
    }
    body.push(b'}');
    json(StatusCode::OK, body)
}

/// The answer a provider expects to its check of the endpoint.
pub(crate) fn handshake(handshake: webhooks_core::Handshake) -> WebhookResponse {
    let status = StatusCode::from_u16(handshake.status()).unwrap_or(StatusCode::OK);
    if status == StatusCode::NO_CONTENT {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        return response;
    }
    json(status, handshake.into_body())
}

/// `{"error":"<message>"}`.
pub(crate) fn error(status: StatusCode, message: &str) -> WebhookResponse {
    let mut body = Vec::with_capacity(12 + message.len());
    body.extend_from_slice(b"{\"error\":");
    serde_json::to_writer(&mut body, message).expect("writing a string to a Vec cannot fail");
    body.push(b'}');
    json(status, body)
}

/// An error answer asking the provider to retry later.
pub(crate) fn retry_later(status: StatusCode, message: &str) -> WebhookResponse {
    let mut response = error(status, message);
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    response
}

pub(crate) fn method_not_allowed(allow: &'static str) -> WebhookResponse {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

pub(crate) fn too_large() -> WebhookResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    // The body was not read: the connection cannot be reused.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The request's head and body did not arrive in time: 408, and the
/// connection is closed, its body unread.
pub(crate) fn request_timeout() -> WebhookResponse {
    let mut response = error(StatusCode::REQUEST_TIMEOUT, "request timeout");
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn text(response: WebhookResponse) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn bodies_are_valid_json_with_escaping() {
        assert_eq!(
            text(status_with_id("accepted", "evt_\"1\"")).await,
            r#"{"status":"accepted","id":"evt_\"1\""}"#
        );
        assert_eq!(
            text(status_with_id("duplicate", "d-1\\\n")).await,
            r#"{"status":"duplicate","id":"d-1\\\n"}"#
        );
        let plain = status_with_id("accepted", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        assert_eq!(
            text(plain).await,
            r#"{"status":"accepted","id":"72d3162e-cc78-11e3-81ab-4c9367dc0958"}"#
        );
        assert_eq!(
            text(error(
                StatusCode::UNAUTHORIZED,
                "no signature matches the body"
            ))
            .await,
            r#"{"error":"no signature matches the body"}"#
        );
    }
}
