//! A signed event as an `http::Request`, for a service driven without a
//! socket (`tower::ServiceExt::oneshot` on an axum `Router`).

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::Full;

use super::SignedEvent;

impl SignedEvent {
    /// The request a provider sends: `POST path` with the event's headers,
    /// `Content-Type: application/json` unless the event has its own
    /// (Twilio's form type), its `Content-Length`, and its raw body.
    ///
    /// For the schemes that sign a URL (Twilio, Square), the `Host` header
    /// is the URL's host and, unless `path` has a query, the URL's query is
    /// appended; the service rebuilds the URL as `http://` + host + path,
    /// so give the source a `public-url` when the signed URL is `https` or
    /// its path differs from the one the service sees.
    ///
    /// # Panics
    /// If `path` is not a valid request target: a test's mistake.
    ///
    /// ```
    /// use webhooks_core::testing::SignedEvent;
    ///
    /// let event = SignedEvent::stripe("whsec_test", r#"{"id":"evt_1","type":"a"}"#);
    /// let request = event.to_http_request("/webhooks/stripe");
    /// assert_eq!(request.method(), "POST");
    /// assert_eq!(request.uri(), "/webhooks/stripe");
    /// assert_eq!(request.headers()["content-type"], "application/json");
    /// assert!(request.headers().contains_key("stripe-signature"));
    /// ```
    pub fn to_http_request(&self, path: &str) -> Request<Full<Bytes>> {
        let url = self.url().unwrap_or_default();
        let target = match query(url) {
            Some(query) if !path.contains('?') => format!("{path}?{query}"),
            _ => path.to_owned(),
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&target)
            .body(Full::new(self.body.clone()))
            .unwrap_or_else(|error| panic!("cannot send to `{target}`: {error}"));
        let headers = request.headers_mut();
        *headers = http::HeaderMap::from(self.headers().clone());
        if !headers.contains_key(header::CONTENT_TYPE) {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(self.body.len()));
        if let Some(host) = host(url).and_then(|host| HeaderValue::from_str(host).ok()) {
            headers.insert(header::HOST, host);
        }
        request
    }
}

/// The host of `url` (`scheme://host/path?query#fragment`), if it names one.
fn host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|host| !host.is_empty())
}

/// The query of `url`, without its fragment.
fn query(url: &str) -> Option<&str> {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    url.split_once('?').map(|(_, query)| query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_their_host_and_query() {
        let url = "https://example.com/webhooks/twilio?x=1#top";
        assert_eq!((host(url), query(url)), (Some("example.com"), Some("x=1")));
        let url = "http://127.0.0.1:3000?a=b";
        assert_eq!(
            (host(url), query(url)),
            (Some("127.0.0.1:3000"), Some("a=b"))
        );
        let url = "https://example.com/p#a?b";
        assert_eq!((host(url), query(url)), (Some("example.com"), None));
        let url = "/webhooks/x?y=2";
        assert_eq!((host(url), query(url)), (None, Some("y=2")));
        assert_eq!((host(""), query("")), (None, None));
    }

    #[test]
    fn a_request_carries_the_signed_headers_and_body() {
        let event = SignedEvent::github("secret", "push", "{}");
        let request = event.to_http_request("/hooks/webhooks/github");
        assert_eq!(request.uri(), "/hooks/webhooks/github");
        assert_eq!(request.headers()["content-length"], "2");
        assert_eq!(
            request.headers()["x-hub-signature-256"],
            event.headers().get("X-Hub-Signature-256").unwrap()
        );
        assert!(!request.headers().contains_key(header::HOST));
    }

    #[test]
    fn twilio_keeps_its_form_type_host_and_query() {
        let event = SignedEvent::twilio(
            "token",
            "https://example.com/webhooks/twilio?x=1",
            &[("Body", "hi")],
        );
        let request = event.to_http_request("/webhooks/twilio");
        assert_eq!(request.uri(), "/webhooks/twilio?x=1");
        assert_eq!(
            request.headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(request.headers()["host"], "example.com");
        let given = event.to_http_request("/webhooks/twilio?y=2");
        assert_eq!(given.uri(), "/webhooks/twilio?y=2");
    }
}
