//! The ready server in process, on the Redis store: configured from TOML
//! with `bind = "127.0.0.1:0"`, driven over real TCP with a real client, and
//! signed GitHub deliveries.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::task::JoinHandle;
use webhooks::testing;
use webhooks::{ProcessorBuilder, ServeError, Server, WebhookEvent, WebhookListener};

pub const GITHUB_SECRET: &str = "github-redis-test-secret-Hq27";
pub const PUSH: &str = r#"{"ref":"refs/heads/main","after":"0f3a"}"#;
/// Upper bound of one request: a hang guard, never a timing assertion.
pub const REQUEST_PATIENCE: Duration = Duration::from_secs(10);
/// Upper bound of a wait for the server to notice a change.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The configuration of a server on the Redis at `redis_url`.
pub fn config(redis_url: &str, prefix: &str) -> String {
    format!(
        r#"
[webhooks]
bind = "127.0.0.1:0"

[webhooks.idempotency]
provider = "redis"

[webhooks.idempotency.redis]
url = "{redis_url}"
key-prefix = "{prefix}"

[webhooks.sources.github]
validator = "github"
secret = "{GITHUB_SECRET}"
"#
    )
}

/// A server in this process, stopped gracefully (or aborted) on drop.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    /// Binds a server with the configuration `toml` and serves it.
    pub async fn start(
        toml: &str,
        configure: impl FnOnce(ProcessorBuilder) -> ProcessorBuilder + Send + 'static,
    ) -> Self {
        let config = webhooks::Config::from_toml(toml)
            .expect("a valid test configuration")
            .webhooks;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let bound = Server::from_config(config)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .configure(configure)
            .bind()
            .await
            .unwrap_or_else(|error| panic!("the server did not start: {error}"));
        let addr = bound.local_addr();
        let task = tokio::spawn(bound.into_future());
        Self {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops gracefully and checks that the server ended well.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("the server did not stop")
                .expect("the server task panicked")
                .expect("the server failed");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A client with no connection reuse limits and a per-request hang guard.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_PATIENCE)
        .build()
        .expect("a client")
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

impl Answer {
    /// The `status` field of a 2xx answer's JSON body.
    pub fn outcome(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|json| json["status"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn is_accepted(&self) -> bool {
        self.status == 200 && self.outcome() == "accepted"
    }

    pub fn is_duplicate(&self) -> bool {
        self.status == 200 && self.outcome() == "duplicate"
    }

    pub fn is_in_progress(&self) -> bool {
        self.status == 409 && self.body.contains("in progress") && self.retry_after.is_some()
    }

    pub fn is_unavailable(&self) -> bool {
        self.status == 503 && self.retry_after.is_some()
    }
}

/// Sends a signed GitHub `push` delivery `id` to `server_url`
/// (`http://…/webhooks/github`).
pub async fn deliver(client: &reqwest::Client, server_url: &str, id: &str) -> Answer {
    let event = testing::github(GITHUB_SECRET, "push", PUSH).with_header("X-GitHub-Delivery", id);
    let request = client
        .post(server_url)
        .header("Content-Type", "application/json")
        .headers(event.headers().clone().into())
        .body(PUSH)
        .send();
    let response = tokio::time::timeout(REQUEST_PATIENCE, request)
        .await
        .unwrap_or_else(|_| panic!("delivery {id} got no answer within {REQUEST_PATIENCE:?}"))
        .unwrap_or_else(|error| panic!("delivery {id}: {error}"));
    answer(response).await
}

/// `GET url`.
pub async fn get(client: &reqwest::Client, url: &str) -> Answer {
    let response = tokio::time::timeout(REQUEST_PATIENCE, client.get(url).send())
        .await
        .unwrap_or_else(|_| panic!("GET {url} got no answer within {REQUEST_PATIENCE:?}"))
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    answer(response).await
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = tokio::time::timeout(REQUEST_PATIENCE, response.text())
        .await
        .expect("the body within the hang guard")
        .expect("a body");
    Answer {
        status,
        retry_after,
        body,
    }
}

/// Polls `GET url` until it answers `status`; bounded by [`PATIENCE`].
pub async fn wait_for_status(client: &reqwest::Client, url: &str, status: u16) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = get(client, url).await;
        if answer.status == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "GET {url} was still {answer:?} after {PATIENCE:?}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of the sample `name{labels}` in a Prometheus text exposition
/// (0 when absent). `labels` is the exact, sorted label set.
pub fn sample(metrics: &str, name: &str, labels: &str) -> f64 {
    let series = format!("{name}{{{labels}}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

/// A listener for every `github` event that counts its runs.
#[derive(Debug, Clone, Default)]
pub struct Counter {
    pub runs: Arc<AtomicUsize>,
    /// Holds each run for a moment, so concurrent deliveries overlap.
    pub hold: Duration,
}

impl Counter {
    pub fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

impl WebhookListener for Counter {
    type Error = std::convert::Infallible;

    fn source(&self) -> &str {
        "github"
    }

    fn event(&self) -> &str {
        "*"
    }

    async fn handle(&self, _event: &WebhookEvent) -> Result<(), Self::Error> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if !self.hold.is_zero() {
            tokio::time::sleep(self.hold).await;
        }
        Ok(())
    }
}

/// A listener for every `github` event that waits, once entered, until the
/// test opens the gate.
#[derive(Debug, Clone)]
pub struct Gate {
    pub entered: Arc<Notify>,
    pub open: Arc<Semaphore>,
    pub runs: Arc<AtomicUsize>,
}

impl Gate {
    pub fn new() -> Self {
        Self {
            entered: Arc::new(Notify::new()),
            open: Arc::new(Semaphore::new(0)),
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Lets every run, present and future, through.
    pub fn open(&self) {
        self.open.add_permits(1 << 20);
    }
}

impl WebhookListener for Gate {
    type Error = std::convert::Infallible;

    fn source(&self) -> &str {
        "github"
    }

    fn event(&self) -> &str {
        "*"
    }

    async fn handle(&self, _event: &WebhookEvent) -> Result<(), Self::Error> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.entered.notify_one();
        let _permit = self.open.acquire().await.expect("the gate is never closed");
        Ok(())
    }
}
