//! A client for tests of a running server (feature `testing`): it sends
//! [`SignedEvent`]s over a real HTTP/1.1 connection, the way a provider
//! does.
//!
//! ```
//! use std::future::IntoFuture;
//!
//! use webhooks_core::{Config, testing};
//! use webhooks_hyper::{Server, testing::TestClient};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let config = Config::from_toml(r#"
//!     [webhooks]
//!     bind = "127.0.0.1:0"
//!     [webhooks.sources.github]
//!     validator = "github"
//!     secret = "s3cret"
//! "#).unwrap();
//! let server = Server::from_config(config.webhooks).bind().await.unwrap();
//! let client = TestClient::new(server.local_addr());
//! tokio::spawn(server.with_graceful_shutdown(std::future::pending()).into_future());
//!
//! let event = testing::github("s3cret", "push", "{}");
//! assert_eq!(client.send("github", &event).await.json()["status"], "accepted");
//! assert_eq!(client.send("github", &event).await.json()["status"], "duplicate");
//! # });
//! ```

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use webhooks_core::Headers;
use webhooks_core::testing::SignedEvent;

/// Sends signed events to a server listening on an address, one HTTP/1.1
/// connection per request.
///
/// ```
/// let client = webhooks_hyper::testing::TestClient::new(([127, 0, 0, 1], 3000).into());
/// assert_eq!(client.addr().port(), 3000);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TestClient {
    addr: SocketAddr,
}

impl TestClient {
    /// A client of the server at `addr` (`BoundServer::local_addr`).
    ///
    /// ```
    /// use webhooks_hyper::testing::TestClient;
    ///
    /// let client = TestClient::new("127.0.0.1:3000".parse().unwrap());
    /// # let _ = client;
    /// ```
    pub fn new(addr: SocketAddr) -> Self {
        Self { addr }
    }

    /// The server's address.
    ///
    /// ```
    /// let addr = "127.0.0.1:3000".parse().unwrap();
    /// assert_eq!(webhooks_hyper::testing::TestClient::new(addr).addr(), addr);
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// POSTs `event` to `/webhooks/<source>` (with the query of the event's
    /// URL, if it has one) and reads the whole answer: the request of
    /// [`SignedEvent::to_http_request`], with `Host` the server's address.
    ///
    /// Without `public-url`, the server rebuilds the URL of Twilio and
    /// Square requests as `http://<addr>/webhooks/<source>`: sign that URL,
    /// or configure `public-url` and sign the public one.
    ///
    /// # Panics
    /// If the server cannot be reached or answers with something that is
    /// not HTTP: a test failure, not an answer to check.
    ///
    /// ```no_run
    /// # async fn run(client: webhooks_hyper::testing::TestClient) {
    /// let event = webhooks_core::testing::stripe("whsec_test", r#"{"id":"evt_1","type":"a"}"#);
    /// let response = client.send("stripe", &event).await;
    /// assert_eq!(response.status, 200);
    /// assert_eq!(response.body, r#"{"status":"accepted","id":"evt_1"}"#);
    /// # }
    /// ```
    pub async fn send(&self, source: &str, event: &SignedEvent) -> TestResponse {
        let mut request = event.to_http_request(&format!("/webhooks/{source}"));
        let host = HeaderValue::from_str(&self.addr.to_string()).expect("an address is a host");
        request.headers_mut().insert(header::HOST, host);
        self.exchange(request).await
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> TestResponse {
        let addr = self.addr;
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|error| panic!("cannot connect to {addr}: {error}"));
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap_or_else(|error| panic!("HTTP/1.1 handshake with {addr} failed: {error}"));
        let connection = tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .unwrap_or_else(|error| panic!("{addr} did not answer: {error}"));
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .unwrap_or_else(|error| panic!("cannot read the answer of {addr}: {error}"))
            .to_bytes();
        drop(sender);
        // The connection ends once the sender is gone; its outcome is moot.
        let _ = connection.await;
        TestResponse {
            status: parts.status.as_u16(),
            body: String::from_utf8_lossy(&body).into_owned(),
            headers: Headers::from(parts.headers),
        }
    }
}

/// A server's answer, read whole.
///
/// ```
/// # async fn run(client: webhooks_hyper::testing::TestClient, event: webhooks_core::testing::SignedEvent) {
/// let response = client.send("github", &event.tampered()).await;
/// assert_eq!(response.status, 401);
/// assert_eq!(response.headers.get("content-type"), Some("application/json"));
/// # }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TestResponse {
    /// The status code: 200, 401 …
    pub status: u16,
    /// The body, as text (invalid UTF-8 replaced).
    pub body: String,
    /// The headers.
    pub headers: Headers,
}

impl TestResponse {
    /// The body as JSON.
    ///
    /// # Panics
    /// If the body is not JSON.
    ///
    /// ```no_run
    /// # async fn run(client: webhooks_hyper::testing::TestClient, event: webhooks_core::testing::SignedEvent) {
    /// let answer = client.send("github", &event).await.json();
    /// assert_eq!(answer["status"], "accepted");
    /// # }
    /// ```
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("the answer is not JSON ({error}): {:?}", self.body))
    }
}
