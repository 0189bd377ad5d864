//! What the HTTP behaviour tests share: a real server on 127.0.0.1:0, a
//! real client, deliveries signed by `webhooks::testing`, recording
//! listeners, a gate to hold a listener, a store that can be switched off,
//! and a metrics reader.
#![allow(dead_code, unreachable_pub)]

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use webhooks::config::WebhooksConfig;
use webhooks::testing::{self, SignedEvent};
use webhooks::{
    BoxError, BoxFuture, Claim, IdempotencyStore, InMemoryWebhookEventStore, Lease,
    ProcessorBuilder, ServeError, Server, StoreError, WebhookEvent, WebhookListener,
    WebhookProcessor,
};

pub const STRIPE_SECRET: &str = "whsec_stripe_test_Zq81vT";
pub const GITHUB_SECRET: &str = "github-test-secret-Kp42wL";
pub const PARTNER_SECRET: &str = "partner-test-secret-Xw97nB";
pub const SECRETS: [&str; 3] = [STRIPE_SECRET, GITHUB_SECRET, PARTNER_SECRET];

/// How long any wait may last: a broken feature fails the test instead of
/// hanging it. Never an assertion about how long something took.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// Awaits `future`, failing the test if it does not finish within [`PATIENCE`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}

/// Waits until `check` holds, failing the test if it does not within
/// [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    within(what, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// A configuration with the `stripe`, `github` and `partner` (hmac) sources,
/// bound to 127.0.0.1:0; `keys` go into `[webhooks]`, `tables` after it.
pub fn config(keys: &str, tables: &str) -> WebhooksConfig {
    let text = format!(
        r#"
[webhooks]
bind = "127.0.0.1:0"
{keys}

[webhooks.sources.stripe]
validator = "stripe"
secret = "{STRIPE_SECRET}"

[webhooks.sources.github]
validator = "github"
secret = "{GITHUB_SECRET}"

[webhooks.sources.partner]
validator = "hmac"
secret = "{PARTNER_SECRET}"

{tables}
"#
    );
    webhooks::Config::from_toml(&text)
        .expect("the test configuration is valid")
        .webhooks
}

/// The `[webhooks.dispatch]` table of queued mode, with `keys`.
pub fn queued(keys: &str) -> String {
    format!("[webhooks.dispatch]\nmode = \"queued\"\n{keys}")
}

/// A real server, serving in a task until [`TestServer::shutdown`].
pub struct TestServer {
    pub addr: SocketAddr,
    /// The admin API's address, when the configuration has `[webhooks.admin]`.
    pub admin_addr: Option<SocketAddr>,
    pub client: Client,
    /// The processor the server serves (shares its queue and dead letters).
    pub processor: WebhookProcessor,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// Binds `config` (its `bind` must be 127.0.0.1:0) with the listeners
    /// and store `configure` adds, and serves it.
    pub async fn start(
        config: WebhooksConfig,
        configure: impl FnOnce(ProcessorBuilder) -> ProcessorBuilder + Send + 'static,
    ) -> Self {
        assert_eq!(config.bind, "127.0.0.1:0");
        Self::start_with(Server::from_config(config), configure).await
    }

    /// Like [`TestServer::start`], from a server the test has set up further
    /// (its configuration must bind 127.0.0.1:0).
    pub async fn start_with(
        server: Server,
        configure: impl FnOnce(ProcessorBuilder) -> ProcessorBuilder + Send + 'static,
    ) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let server = server
            .configure(move |builder| configure(builder.registered_listeners(false)))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .bind()
            .await
            .expect("the server binds");
        let addr = server.local_addr();
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
        let admin_addr = server.admin_addr();
        let processor = server.processor().clone();
        let task = tokio::spawn(server.into_future());
        Self {
            addr,
            admin_addr,
            client: Client::new(addr),
            processor,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A client of this server, to move into other tasks.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Sends the shutdown signal without waiting.
    pub fn signal_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Whether the serving task has returned.
    pub fn has_stopped(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Signals shutdown and waits until the server returned: open requests
    /// answered and, in queued mode, the queue drained.
    pub async fn shutdown(mut self) {
        self.signal_shutdown();
        let task = self.task.take().expect("shut down once");
        within("the server to stop", task)
            .await
            .expect("the server task did not panic")
            .expect("the server stopped cleanly");
    }
}

impl Deref for TestServer {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// A real HTTP client of one server.
#[derive(Clone, Debug)]
pub struct Client {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(PATIENCE)
            .build()
            .expect("a client");
        Self { addr, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `delivery` to `/webhooks/<its source>`.
    pub async fn post(&self, delivery: &Signed) -> Reply {
        self.post_to(&format!("/webhooks/{}", delivery.source), delivery)
            .await
    }

    /// POSTs `delivery`'s headers and body to `path`.
    pub async fn post_to(&self, path: &str, delivery: &Signed) -> Reply {
        let mut request = self.http.post(self.url(path)).body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        self.send(request).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.http.get(self.url(path))).await
    }

    /// A bodiless request with any method.
    pub async fn request(&self, method: reqwest::Method, path: &str) -> Reply {
        self.send(self.http.request(method, self.url(path))).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.expect("the answer's body");
        for secret in SECRETS {
            assert!(!body.contains(secret), "a secret in an answer: {body}");
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let reply = self.get("/metrics").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }
}

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ASCII"))
    }

    /// Asserts the status and the exact JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16, body: Value) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.json(), body);
        assert_eq!(self.header("content-type"), Some("application/json"));
    }

    /// Asserts `200 {"status":"accepted","id":<id>}`.
    #[track_caller]
    pub fn accepted(&self, id: &str) {
        self.expect(200, serde_json::json!({"status": "accepted", "id": id}));
    }

    /// Asserts `200 {"status":"duplicate","id":<id>}`.
    #[track_caller]
    pub fn duplicate(&self, id: &str) {
        self.expect(200, serde_json::json!({"status": "duplicate", "id": id}));
    }

    /// Asserts the status and a `Retry-After` of a positive number of seconds.
    #[track_caller]
    pub fn expect_retry_later(&self, status: u16) {
        assert_eq!(self.status, status, "body: {}", self.body);
        let after = self.header("retry-after").expect("a Retry-After header");
        assert!(after.parse::<u64>().is_ok_and(|s| s > 0), "{after}");
    }

    /// The `error` text of an error answer.
    #[track_caller]
    pub fn error(&self) -> String {
        let json = self.json();
        assert_eq!(json.as_object().map(|o| o.len()), Some(1), "{json}");
        json["error"].as_str().expect("an error text").to_owned()
    }
}

/// A delivery as a provider would send it, as raw parts a test can break:
/// the copy methods below never sign again.
#[derive(Debug, Clone)]
pub struct Signed {
    pub source: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Signed {
    pub fn new(source: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            source: source.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// `event`, signed by `webhooks::testing`, as a JSON delivery to `source`.
    pub fn from_event(source: &str, event: &SignedEvent) -> Self {
        let mut signed = Self::new(source, event.body());
        for (name, value) in event.headers().iter() {
            let value = std::str::from_utf8(value).expect("signed headers are ASCII");
            signed = signed.with_header(name, value);
        }
        signed
    }

    /// A copy with this header set, replacing one of the same name.
    pub fn with_header(&self, name: &str, value: &str) -> Self {
        let mut copy = self.without_header(name);
        copy.headers.push((name.into(), value.into()));
        copy
    }

    /// A copy without this header.
    pub fn without_header(&self, name: &str) -> Self {
        let mut copy = self.clone();
        copy.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        copy
    }

    /// A copy with the same headers (and signature) and another body.
    pub fn with_body(&self, body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            ..self.clone()
        }
    }

    /// The value of a header it carries.
    pub fn header(&self, name: &str) -> String {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.clone()).expect("the header is set")
    }

    /// A copy sent to another path segment.
    pub fn sent_to(&self, source: &str) -> Self {
        Self {
            source: source.into(),
            ..self.clone()
        }
    }
}

pub fn unix_now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_secs()).expect("fits")
}

/// A Stripe delivery of `body`, signed at `timestamp`.
pub fn stripe_at(body: &str, timestamp: i64) -> Signed {
    let event = testing::stripe(STRIPE_SECRET, body).with_timestamp(timestamp);
    Signed::from_event("stripe", &event)
}

/// A Stripe event `{"id","object","type"}`, signed now.
pub fn stripe(id: &str, event_type: &str) -> Signed {
    let body = serde_json::json!({"id": id, "object": "event", "type": event_type});
    stripe_at(&body.to_string(), unix_now())
}

/// A GitHub delivery of `event` with `body`.
pub fn github(delivery: &str, event: &str, body: &str) -> Signed {
    let event =
        testing::github(GITHUB_SECRET, event, body).with_header("X-GitHub-Delivery", delivery);
    Signed::from_event("github", &event)
}

/// A `partner` (hmac) delivery of `body`, with `X-Idempotency-Key` if given.
pub fn partner(key: Option<&str>, body: &str) -> Signed {
    let event = testing::hmac(PARTNER_SECRET, body);
    let event = match key {
        Some(key) => event.with_header("X-Idempotency-Key", key),
        None => event,
    };
    Signed::from_event("partner", &event)
}

/// The events a [`Probe`] was called with, in order.
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<WebhookEvent>>>);

impl Seen {
    fn push(&self, event: &WebhookEvent) -> usize {
        let mut events = self.0.lock().unwrap();
        events.push(event.clone());
        events.len() - 1
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn ids(&self) -> Vec<String> {
        self.map(|e| e.id().to_owned())
    }
    pub fn types(&self) -> Vec<String> {
        self.map(|e| e.event_type().to_owned())
    }
    pub fn attempts(&self) -> Vec<u32> {
        self.map(WebhookEvent::attempt)
    }
    pub fn bodies(&self) -> Vec<bytes::Bytes> {
        self.map(|e| e.body().clone())
    }
    fn map<T>(&self, f: impl Fn(&WebhookEvent) -> T) -> Vec<T> {
        self.0.lock().unwrap().iter().map(f).collect()
    }
}

type Handler =
    Arc<dyn Fn(WebhookEvent, usize) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// A listener that records every call, then runs its handler (by default:
/// succeed).
pub struct Probe {
    source: String,
    event: String,
    name: String,
    seen: Seen,
    handler: Handler,
}

impl Probe {
    pub fn new(source: &str, event: &str) -> Self {
        Self {
            source: source.into(),
            event: event.into(),
            name: format!("probe {source}/{event}"),
            seen: Seen::default(),
            handler: Arc::new(|_, _| Box::pin(async { Ok(()) })),
        }
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    /// Runs `handler(event, earlier calls)` on each call.
    pub fn with<F, Fut>(mut self, handler: F) -> Self
    where
        F: Fn(WebhookEvent, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.handler = Arc::new(move |event, calls| Box::pin(handler(event, calls)));
        self
    }

    /// Waits at `gate` on each call, then succeeds.
    pub fn gated(self, gate: &Gate) -> Self {
        let gate = gate.clone();
        self.with(move |_, _| {
            let gate = gate.clone();
            async move {
                gate.pass().await;
                Ok(())
            }
        })
    }

    pub fn seen(&self) -> Seen {
        self.seen.clone()
    }
}

impl WebhookListener for Probe {
    type Error = BoxError;

    fn source(&self) -> &str {
        &self.source
    }

    fn event(&self) -> &str {
        &self.event
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn handle(&self, event: &WebhookEvent) -> Result<(), BoxError> {
        let calls = self.seen.push(event);
        (self.handler)(event.clone(), calls).await
    }
}

/// Holds listeners until the test lets them through.
#[derive(Debug, Clone)]
pub struct Gate {
    arrived: Arc<Semaphore>,
    through: Arc<Semaphore>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            arrived: Arc::new(Semaphore::new(0)),
            through: Arc::new(Semaphore::new(0)),
        }
    }
}

impl Gate {
    /// In a listener: tells the test it arrived, then waits to be let through.
    pub async fn pass(&self) {
        self.arrived.add_permits(1);
        if let Ok(permit) = self.through.acquire().await {
            permit.forget();
        }
    }

    /// Waits until `n` more listener runs arrived at the gate.
    pub async fn arrivals(&self, n: u32) {
        within(
            "listeners to arrive at the gate",
            self.arrived.acquire_many(n),
        )
        .await
        .expect("never closed")
        .forget();
    }

    /// Lets `n` waiting or future runs through.
    pub fn let_through(&self, n: usize) {
        self.through.add_permits(n);
    }

    /// Lets every run through, now and later.
    pub fn open(&self) {
        self.through.close();
    }
}

/// The in-memory store, which answers "down" to everything while switched
/// off, and, if sluggish, yields a while before completing a claim.
#[derive(Debug, Clone, Default)]
pub struct FlakyStore {
    inner: Arc<InMemoryWebhookEventStore>,
    down: Arc<AtomicBool>,
    sluggish: bool,
}

impl FlakyStore {
    /// A store whose `complete` lets other tasks run first, so concurrent
    /// claims of a key overlap its holder's.
    pub fn sluggish() -> Self {
        Self {
            sluggish: true,
            ..Self::default()
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new("down"));
        }
        Ok(())
    }
}

impl IdempotencyStore for FlakyStore {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        self.check()?;
        self.inner.claim(key, lease).await
    }

    async fn renew(
        &self,
        key: &str,
        lease: &Lease,
        duration: Duration,
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.renew(key, lease, duration).await
    }

    async fn complete(&self, key: &str, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        self.check()?;
        if self.sluggish {
            for _ in 0..50 {
                tokio::task::yield_now().await;
            }
        }
        self.inner.complete(key, lease, ttl).await
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        self.check()?;
        self.inner.release(key, lease).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check()
    }
}

/// Writes `head` then each of `parts` on a fresh connection (ignoring write
/// errors: the server may answer and close early), and returns what the
/// server sent until it closed the connection.
pub async fn raw_exchange(addr: SocketAddr, head: &str, parts: &[Vec<u8>]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut written = stream.write_all(head.as_bytes()).await;
    for part in parts {
        if written.is_err() {
            break;
        }
        written = stream.write_all(part).await;
    }
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    within("the server to answer and close", async {
        // A reset after the answer ends the read like a close does.
        while let Ok(n @ 1..) = stream.read(&mut buffer).await {
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// One chunk of a `Transfer-Encoding: chunked` body.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The value of `name{source,event_type,outcome}`, a counter of the contract.
pub fn counter(text: &str, name: &str, source: &str, event_type: &str, outcome: &str) -> f64 {
    let labels = [
        ("source", source),
        ("event_type", event_type),
        ("outcome", outcome),
    ];
    metric(text, name, &labels)
}

/// The value of the series `name{labels}` in a Prometheus text exposition
/// (0 when absent); `labels` must be the series' whole label set.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    wanted.sort();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, label_text) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').unwrap_or(rest)),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let mut found: Vec<(String, String)> = label_text
            .split(',')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        found.sort();
        if found == wanted {
            return value.parse().expect("a number");
        }
    }
    0.0
}
