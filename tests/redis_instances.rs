//! Two instances of the server share one Redis (the reason to use it): a
//! delivery is handled once in total, wherever the provider's concurrent
//! retries and redeliveries land. In process, and as two processes of the
//! `server` example.
#![cfg(feature = "redis")]

mod redis_harness;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redis_harness::server::{
    Answer, Counter, GITHUB_SECRET, Gate, PATIENCE, TestServer, client, config, deliver, get,
    sample,
};
use redis_harness::{RedisServer, TempDir, free_port};

const DELIVERIES: usize = 200;

async fn start_redis() -> RedisServer {
    tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server")
}

/// Sends `DELIVERIES` concurrent copies of one delivery, alternating between
/// `hooks`, and returns every answer.
async fn deliver_concurrently(hooks: &[String], id: &str) -> Vec<Answer> {
    let client = client();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(DELIVERIES));
    let tasks: Vec<_> = (0..DELIVERIES)
        .map(|i| {
            let (client, start) = (client.clone(), start.clone());
            let hook = hooks[i % hooks.len()].clone();
            let id = id.to_owned();
            tokio::spawn(async move {
                start.wait().await;
                deliver(&client, &hook, &id).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("a delivery task panicked"));
    }
    answers
}

/// Exactly one answer is `accepted`; every other one is `duplicate` or
/// `409 in progress`.
fn assert_one_accepted(answers: &[Answer]) {
    let accepted = answers.iter().filter(|a| a.is_accepted()).count();
    let others: Vec<_> = answers
        .iter()
        .filter(|a| !a.is_accepted() && !a.is_duplicate() && !a.is_in_progress())
        .collect();
    assert!(others.is_empty(), "unexpected answers: {others:?}");
    let duplicate = answers.iter().filter(|a| a.is_duplicate()).count();
    let in_progress = answers.iter().filter(|a| a.is_in_progress()).count();
    eprintln!("{accepted} accepted, {duplicate} duplicate, {in_progress} in progress");
    assert_eq!(accepted, 1, "accepted answers out of {}", answers.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_copies_across_two_instances_are_handled_once() {
    let redis = start_redis().await;
    let toml = config(&redis.url(), "instances");
    let (a_count, b_count) = (
        Counter {
            hold: Duration::from_millis(20),
            ..Counter::default()
        },
        Counter {
            hold: Duration::from_millis(20),
            ..Counter::default()
        },
    );
    let (a_listener, b_listener) = (a_count.clone(), b_count.clone());
    let a = TestServer::start(&toml, move |builder| builder.listener(a_listener)).await;
    let b = TestServer::start(&toml, move |builder| builder.listener(b_listener)).await;
    let hooks = [a.url("/webhooks/github"), b.url("/webhooks/github")];

    let answers = deliver_concurrently(&hooks, "race-1").await;
    assert_one_accepted(&answers);
    assert_eq!(
        a_count.runs() + b_count.runs(),
        1,
        "listener runs on A and B"
    );
    // Both instances saw part of the race.
    let a_metrics = get(&client(), &a.url("/metrics")).await.body;
    let b_metrics = get(&client(), &b.url("/metrics")).await.body;
    let received = |metrics: &str| {
        ["accepted", "duplicate", "in_progress"]
            .iter()
            .map(|outcome| {
                let labels = format!(r#"event_type="push",outcome="{outcome}",source="github""#);
                sample(metrics, "webhooks_received_total", &labels)
            })
            .sum::<f64>()
    };
    assert_eq!(received(&a_metrics), (DELIVERIES / 2) as f64, "{a_metrics}");
    assert_eq!(received(&b_metrics), (DELIVERIES / 2) as f64, "{b_metrics}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_to_the_other_instance_is_a_duplicate() {
    let redis = start_redis().await;
    let toml = config(&redis.url(), "instances");
    let gate = Gate::new();
    let listener = gate.clone();
    let a = TestServer::start(&toml, move |builder| builder.listener(listener)).await;
    let b_count = Counter::default();
    let b_listener = b_count.clone();
    let b = TestServer::start(&toml, move |builder| builder.listener(b_listener)).await;
    let client = client();
    let (a_hook, b_hook) = (a.url("/webhooks/github"), b.url("/webhooks/github"));

    // While A handles it, B answers 409 in progress.
    let entered = gate.entered.notified();
    let on_a = tokio::spawn({
        let (client, hook) = (client.clone(), a_hook.clone());
        async move { deliver(&client, &hook, "redelivered-1").await }
    });
    tokio::time::timeout(PATIENCE, entered)
        .await
        .expect("A's listener was not called");
    let during = deliver(&client, &b_hook, "redelivered-1").await;
    assert!(during.is_in_progress(), "B while A handles it: {during:?}");
    gate.open();
    let first = tokio::time::timeout(PATIENCE, on_a)
        .await
        .expect("A's answer hung")
        .expect("the delivery task panicked");
    assert!(first.is_accepted(), "A: {first:?}");

    // Afterwards, B answers duplicate and does not handle it again.
    let again = deliver(&client, &b_hook, "redelivered-1").await;
    assert!(again.is_duplicate(), "B after A: {again:?}");
    assert_eq!(gate.runs.load(Ordering::SeqCst), 1);
    assert_eq!(b_count.runs(), 0);
    // And the other way round.
    assert!(
        deliver(&client, &b_hook, "redelivered-2")
            .await
            .is_accepted()
    );
    assert!(
        deliver(&client, &a_hook, "redelivered-2")
            .await
            .is_duplicate()
    );
    a.stop().await;
    b.stop().await;
}

// ---------------------------------------------------------------------------
// Two processes of the `server` example.

/// How long a child may take to start listening; a hang guard.
const START_WAIT: Duration = Duration::from_secs(60);
const BUILD: &str = "build it first: cargo build --all-features --examples";

/// A child process of the example, killed on drop.
struct ExampleServer {
    child: Child,
    port: u16,
    lines: Receiver<String>,
    output: Vec<String>,
}

impl ExampleServer {
    /// Starts the example with `config` as `WEBHOOKS_CONFIG` and waits
    /// until it logs that it listens.
    fn start(config: &Path, dir: &Path) -> Self {
        let port = free_port();
        let mut child = Command::new(redis_harness::example_binary("server"))
            .current_dir(dir)
            .env("WEBHOOKS_CONFIG", config)
            .env("WEBHOOKS_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let (sender, lines) = mpsc::channel();
        forward(child.stdout.take().expect("piped stdout"), sender.clone());
        forward(child.stderr.take().expect("piped stderr"), sender);
        let mut server = Self {
            child,
            port,
            lines,
            output: Vec::new(),
        };
        let listening = format!("listening on http://127.0.0.1:{port}");
        if !server.read_until(&listening) {
            let output = server.output.join("\n");
            if output.contains("needs the `redis` feature") {
                panic!("the example was built without the `redis` feature: {BUILD}\n{output}");
            }
            panic!("the example exited before `{listening}`:\n{output}");
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Collects output until a line contains `needle` (true) or the output
    /// ends (false); bounded by [`START_WAIT`].
    fn read_until(&mut self, needle: &str) -> bool {
        let deadline = Instant::now() + START_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.output.push(line);
                    if found {
                        return true;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return false,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no `{needle}` within {START_WAIT:?}:\n{}",
                    self.output.join("\n")
                ),
            }
        }
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward(stream: impl Read + Send + 'static, lines: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
            let _ = lines.send(String::from_utf8_lossy(&line).into_owned());
        }
    });
}

/// The configuration of the example's three sources on the Redis store.
fn example_config(redis_url: &str) -> String {
    format!(
        r#"
[webhooks]
bind = "127.0.0.1:3000"

[webhooks.idempotency]
provider = "redis"

[webhooks.idempotency.redis]
url = "{redis_url}"
key-prefix = "example-instances"

[webhooks.sources.stripe]
validator = "stripe"
secret = "whsec_redis_instances_test"

[webhooks.sources.github]
validator = "github"
secret = "{GITHUB_SECRET}"

[webhooks.sources.partner]
validator = "hmac"
secret = "partner-redis-instances-test"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_example_processes_handle_one_event_once() {
    let binary = redis_harness::example_binary("server");
    assert!(binary.exists());
    let redis = start_redis().await;
    let dir = TempDir::new("example");
    let config = dir.path().join("webhooks.toml");
    std::fs::write(&config, example_config(&redis.url())).expect("write the config");
    let (a, b) = tokio::task::spawn_blocking({
        let (config, cwd) = (config.clone(), dir.path().to_owned());
        move || {
            (
                ExampleServer::start(&config, &cwd),
                ExampleServer::start(&config, &cwd),
            )
        }
    })
    .await
    .expect("start the two examples");
    let hooks = [a.url("/webhooks/github"), b.url("/webhooks/github")];

    let answers = deliver_concurrently(&hooks, "example-race-1").await;
    assert_one_accepted(&answers);

    let client = client();
    let handled = r#"event_type="push",listener="server::pushed",outcome="ok",source="github""#;
    let accepted = r#"event_type="push",outcome="accepted",source="github""#;
    let mut handled_total = 0.0;
    let mut accepted_total = 0.0;
    for server in [&a, &b] {
        let metrics = get(&client, &server.url("/metrics")).await.body;
        handled_total += sample(&metrics, "webhooks_handled_total", handled);
        accepted_total += sample(&metrics, "webhooks_received_total", accepted);
    }
    assert_eq!(handled_total, 1.0, "the `push` listener ran on A and B");
    assert_eq!(accepted_total, 1.0, "accepted on A and B");
}
