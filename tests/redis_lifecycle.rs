#![cfg(feature = "redis")]
//! The event lifecycle's promise on `provider = "redis"`, seen from outside:
//! over TCP, through `/readyz` and `/metrics`, with `redis-cli` on a Redis
//! of the test's own, and with child processes where a worker must die.
//!
//! - a claim outlives a short lease while its listener runs, and a
//!   completion that finds its claim taken is a 503, never a 2xx;
//! - a poison event that aborts every worker that takes it is
//!   dead-lettered after `max-attempts` takeovers ("worker lost N times");
//! - a worker whose renewal failed does not acknowledge or delete an entry
//!   another worker now holds;
//! - a bounded shutdown hands a stuck event back, and removes the
//!   instance's consumer name;
//! - the server starts while Redis is down and recovers by itself;
//! - a header that carries a secret (`X-Gitlab-Token`) is never stored.
//!
//! The poison test runs `examples/poison.rs`: `cargo test --all-features`
//! builds it; `cargo test --all-features --test redis_lifecycle` alone does
//! not (`cargo build --all-features --example poison` first). Unix only.
#![cfg(unix)]

mod redis_harness;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_harness::server::{
    Answer, Counter, GITHUB_SECRET, Gate, PATIENCE, TestServer, client, deliver, get, sample,
    wait_for_status,
};
use redis_harness::{RedisServer, TempDir, free_port, keys, redis_cli};
use tokio::sync::Semaphore;
use webhooks::{GitLabSignatureValidator, HmacSignatureValidator, WebhookEvent, WebhookListener};

const GITLAB_TOKEN: &str = "gitlab-token-Vq83-never-stored";
const PARTNER_SECRET: &str = "partner-lifecycle-secret-Rt55";

async fn start_redis() -> RedisServer {
    tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("start redis-server")
}

/// A configuration on the Redis at `url` with keys under `prefix`: `top`
/// goes into `[webhooks]`, `idempotency` into `[webhooks.idempotency]`,
/// `dispatch` into `[webhooks.dispatch]`; sources `github`, `gitlab`,
/// `partner`.
fn toml(url: &str, prefix: &str, top: &str, idempotency: &str, dispatch: &str) -> String {
    format!(
        r#"
[webhooks]
bind = "127.0.0.1:0"
{top}

[webhooks.idempotency]
provider = "redis"
{idempotency}

[webhooks.idempotency.redis]
url = "{url}"
key-prefix = "{prefix}"

[webhooks.dispatch]
{dispatch}

[webhooks.sources.github]
validator = "github"
secret = "{GITHUB_SECRET}"

[webhooks.sources.gitlab]
validator = "gitlab"
secret = "{GITLAB_TOKEN}"

[webhooks.sources.partner]
validator = "hmac"
secret = "{PARTNER_SECRET}"
"#
    )
}

/// A listener of one source that counts its runs and holds them (every run,
/// or only the first) until the test opens it.
#[derive(Debug, Clone)]
struct Held {
    source: &'static str,
    first_only: bool,
    runs: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    arrived: Arc<Semaphore>,
    open: Arc<Semaphore>,
}

impl Held {
    fn new(source: &'static str, first_only: bool) -> Self {
        Self {
            source,
            first_only,
            runs: Arc::default(),
            finished: Arc::default(),
            arrived: Arc::new(Semaphore::new(0)),
            open: Arc::new(Semaphore::new(0)),
        }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }

    /// Waits (bounded) until a held run arrived.
    async fn arrival(&self) {
        tokio::time::timeout(PATIENCE, self.arrived.acquire())
            .await
            .expect("the listener was not called")
            .expect("never closed")
            .forget();
    }

    fn open(&self) {
        self.open.add_permits(1 << 20);
    }
}

impl WebhookListener for Held {
    type Error = std::convert::Infallible;

    fn source(&self) -> &str {
        self.source
    }

    fn event(&self) -> &str {
        "*"
    }

    async fn handle(&self, _event: &WebhookEvent) -> Result<(), Self::Error> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        if run == 0 || !self.first_only {
            self.arrived.add_permits(1);
            self.open.acquire().await.expect("never closed").forget();
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Redis, seen with redis-cli, whatever the key layout.

fn cli(redis: &RedisServer, args: &[&str]) -> String {
    tokio::task::block_in_place(|| redis_cli(redis.port(), args))
}

/// Every key under `prefix` with its type and its whole content as text.
fn dump(redis: &RedisServer, prefix: &str) -> Vec<(String, String, String)> {
    tokio::task::block_in_place(|| {
        keys(redis.port(), prefix)
            .into_iter()
            .map(|key| {
                let kind = redis_cli(redis.port(), &["TYPE", &key]).trim().to_owned();
                let read: &[&str] = match kind.as_str() {
                    "string" => &["GET"],
                    "hash" => &["HGETALL"],
                    "stream" => &["XRANGE", "-", "+"],
                    "zset" => &["ZRANGE", "0", "-1", "WITHSCORES"],
                    "list" => &["LRANGE", "0", "-1"],
                    "set" => &["SMEMBERS"],
                    _ => &[],
                };
                let content = match read.split_first() {
                    Some((command, rest)) => {
                        let mut args = vec![*command, key.as_str()];
                        args.extend_from_slice(rest);
                        redis_cli(redis.port(), &args)
                    }
                    None => String::new(),
                };
                (key, kind, content)
            })
            .collect()
    })
}

fn shown(dump: &[(String, String, String)]) -> String {
    dump.iter()
        .map(|(key, kind, content)| format!("{key} ({kind}):\n{content}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The values of the `name` fields of a raw (non-tty) `XINFO …` answer.
fn names(raw: &str) -> Vec<String> {
    let lines: Vec<&str> = raw.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|pair| pair[0] == "name")
        .map(|pair| pair[1].to_owned())
        .collect()
}

/// Every stream under `prefix` that has a consumer group, with its groups.
fn groups(redis: &RedisServer, prefix: &str) -> Vec<(String, Vec<String>)> {
    dump(redis, prefix)
        .into_iter()
        .filter(|(_, kind, _)| kind == "stream")
        .map(|(key, _, _)| {
            let groups = names(&cli(redis, &["XINFO", "GROUPS", &key]));
            (key, groups)
        })
        .filter(|(_, groups)| !groups.is_empty())
        .collect()
}

/// A pending entry: stream, group, entry id, consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    stream: String,
    group: String,
    id: String,
    consumer: String,
}

/// Every pending entry of every group under `prefix`.
fn pending(redis: &RedisServer, prefix: &str) -> Vec<Pending> {
    let mut all = Vec::new();
    for (stream, groups) in groups(redis, prefix) {
        for group in groups {
            let raw = cli(redis, &["XPENDING", &stream, &group, "-", "+", "100"]);
            let lines: Vec<&str> = raw.lines().map(str::trim).collect();
            // Raw answers are flat: id, consumer, idle ms, deliveries.
            for entry in lines.chunks(4).filter(|entry| entry.len() == 4) {
                all.push(Pending {
                    stream: stream.clone(),
                    group: group.clone(),
                    id: entry[0].to_owned(),
                    consumer: entry[1].to_owned(),
                });
            }
        }
    }
    all
}

/// Polls `check` until it holds; fails naming `what` after `limit`.
async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------
// A claim is kept while its listener runs; a lost one is never a 2xx.

/// Inline, `lease-seconds = 1`: redeliveries while the first run is held
/// for twice the lease get 409; the listener runs once; then `duplicate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_listener_outlives_a_short_lease_on_redis_and_runs_once() {
    let redis = start_redis().await;
    let held = Held::new("github", true);
    let listener = held.clone();
    let config = toml(&redis.url(), "lease", "", "lease-seconds = 1", "");
    let server = TestServer::start(&config, move |b| b.listener(listener)).await;
    let client = client();
    let hook = server.url("/webhooks/github");

    let first = tokio::spawn({
        let (client, hook) = (client.clone(), hook.clone());
        async move { deliver(&client, &hook, "lease-1").await }
    });
    held.arrival().await;
    for round in 1..=2 {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let again = deliver(&client, &hook, "lease-1").await;
        assert!(
            again.is_in_progress(),
            "redelivery {round}, {} ms into a run with a 1 s lease: expected 409 in progress, \
             got {again:?} (listener runs so far: {})",
            round * 1_500,
            held.runs()
        );
    }
    assert_eq!(held.runs(), 1, "the listener ran again while it ran");
    held.open();
    let answer = tokio::time::timeout(PATIENCE, first)
        .await
        .expect("the first delivery hung")
        .expect("the delivery task");
    assert!(answer.is_accepted(), "{answer:?}");
    let again = deliver(&client, &hook, "lease-1").await;
    assert!(again.is_duplicate(), "{again:?}");
    assert_eq!(held.runs(), 1);
    server.stop().await;
}

/// Inline: while the listener runs, another holder takes the delivery's
/// claim (its key is overwritten in Redis). The completion finds the claim
/// lost: 503 with `Retry-After`, never 200; and the other holder keeps it
/// (a redelivery is 409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_that_finds_its_claim_taken_answers_503_not_200() {
    let redis = start_redis().await;
    let prefix = "lost";
    let held = Held::new("github", true);
    let listener = held.clone();
    let config = toml(&redis.url(), prefix, "", "", "");
    let server = TestServer::start(&config, move |b| b.listener(listener)).await;
    let client = client();
    let hook = server.url("/webhooks/github");

    let first = tokio::spawn({
        let (client, hook) = (client.clone(), hook.clone());
        async move { deliver(&client, &hook, "lost-claim-1").await }
    });
    held.arrival().await;
    let claims: Vec<String> = dump(&redis, prefix)
        .into_iter()
        .filter(|(key, kind, _)| key.contains("lost-claim-1") && kind == "string")
        .map(|(key, _, _)| key)
        .collect();
    assert!(
        !claims.is_empty(),
        "no claim key naming the delivery:\n{}",
        shown(&dump(&redis, prefix))
    );
    for key in &claims {
        cli(&redis, &["SET", key, "another-holder", "PX", "60000"]);
    }
    held.open();
    let answer = tokio::time::timeout(PATIENCE, first)
        .await
        .expect("the delivery hung")
        .expect("the delivery task");
    assert!(
        answer.is_unavailable(),
        "the listeners ran but the claim was lost: expected 503 with Retry-After, got {answer:?}"
    );
    assert_eq!(held.runs(), 1);
    let again = deliver(&client, &hook, "lost-claim-1").await;
    assert!(again.is_in_progress(), "{again:?}");
    server.stop().await;
}

// ---------------------------------------------------------------------------
// A worker that lost its entry does not settle it.

/// Queued, `visibility-timeout-seconds = 1`: the worker's listener is held;
/// Redis freezes (SIGSTOP) for longer than the visibility timeout, so the
/// worker's renewals fail; then another consumer takes the entry over
/// (`XCLAIM`). When the stale worker's listener ends, it must neither
/// acknowledge nor delete the entry or its job: they belong to the new
/// holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_renewal_failed_does_not_ack_or_delete_the_entry() {
    let redis = start_redis().await;
    let prefix = "stale";
    let gate = Gate::new();
    let listener = gate.clone();
    let dispatch = "mode = \"queued\"\nvisibility-timeout-seconds = 1\nbackoff-initial-ms = 20";
    let config = toml(&redis.url(), prefix, "", "", dispatch);
    let server = TestServer::start(&config, move |b| b.listener(listener)).await;
    let client = client();
    let hook = server.url("/webhooks/github");

    let entered = gate.entered.notified();
    assert!(deliver(&client, &hook, "stale-1").await.is_accepted());
    tokio::time::timeout(PATIENCE, entered)
        .await
        .expect("the listener was not called");
    let taken = pending(&redis, prefix);
    assert_eq!(
        taken.len(),
        1,
        "{taken:?}\n{}",
        shown(&dump(&redis, prefix))
    );
    let entry = taken[0].clone();

    // The worker's renewals fail while Redis is frozen past the timeout.
    redis.pause();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    redis.resume();
    // Another instance takes the entry over, as after a visibility timeout.
    let claimed = cli(
        &redis,
        &[
            "XCLAIM",
            &entry.stream,
            &entry.group,
            "thief",
            "0",
            &entry.id,
            "JUSTID",
        ],
    );
    assert!(claimed.contains(&entry.id), "XCLAIM: {claimed:?}");
    let jobs_before: Vec<String> = dump(&redis, prefix)
        .into_iter()
        .filter(|(key, _, content)| key != &entry.stream && content.contains("stale-1"))
        .map(|(key, _, _)| key)
        .collect();

    gate.open();
    // A graceful stop waits until the worker settled what it ran.
    server.stop().await;
    let now = pending(&redis, prefix);
    assert!(
        now.iter()
            .any(|p| p.id == entry.id && p.consumer == "thief"),
        "the stale worker acknowledged an entry another consumer held: pending now {now:?}\n{}",
        shown(&dump(&redis, prefix))
    );
    let still = cli(&redis, &["XRANGE", &entry.stream, &entry.id, &entry.id]);
    assert!(
        still.contains(&entry.id),
        "the stale worker deleted the entry another consumer held:\n{}",
        shown(&dump(&redis, prefix))
    );
    let left = dump(&redis, prefix);
    for key in jobs_before {
        assert!(
            left.iter().any(|(k, _, _)| *k == key),
            "the stale worker deleted {key}, which another consumer's entry needs:\n{}",
            shown(&left)
        );
    }
}

// ---------------------------------------------------------------------------
// Bounded shutdown; consumer names removed.

/// Queued, `shutdown-timeout-seconds = 1`: an instance whose listener never
/// returns still stops; the event is handed back (still in Redis, not
/// acknowledged), and another instance takes it over and handles it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_shutdown_hands_a_stuck_event_back_to_another_instance() {
    let redis = start_redis().await;
    let prefix = "handback";
    let gate = Gate::new();
    let stuck = gate.clone();
    let dispatch = "mode = \"queued\"\nvisibility-timeout-seconds = 1\nbackoff-initial-ms = 20";
    let top = "shutdown-timeout-seconds = 1";
    let config = toml(&redis.url(), prefix, top, "", dispatch);
    let first = TestServer::start(&config, move |b| b.listener(stuck)).await;
    let client = client();

    let entered = gate.entered.notified();
    let answer = deliver(&client, &first.url("/webhooks/github"), "handback-1").await;
    assert!(answer.is_accepted(), "{answer:?}");
    tokio::time::timeout(PATIENCE, entered)
        .await
        .expect("the listener was not called");
    // Returns within PATIENCE (15 s): a hang guard, far above 1 s.
    first.stop().await;
    let left = dump(&redis, prefix);
    // The queue's keys: the event log's (`{events}`) name it too.
    assert!(
        left.iter()
            .any(|(key, _, content)| !key.contains("{events}") && content.contains("handback-1")),
        "the unfinished event is not left in Redis for another instance:\n{}",
        shown(&left)
    );

    let counter = Counter::default();
    let listener = counter.clone();
    let second = TestServer::start(&config, move |b| b.listener(listener)).await;
    eventually(
        "the second instance to handle the handed-back event",
        PATIENCE,
        || counter.runs() == 1,
    )
    .await;
    let again = deliver(&client, &second.url("/webhooks/github"), "handback-1").await;
    assert!(again.is_duplicate(), "{again:?}");
    second.stop().await;
    assert_eq!(counter.runs(), 1);
}

/// Queued: after a graceful shutdown, the instance's consumer name is gone
/// from the group (no consumer accumulates per restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_names_are_removed_on_graceful_shutdown() {
    let redis = start_redis().await;
    let prefix = "consumers";
    let counter = Counter::default();
    let listener = counter.clone();
    let dispatch = "mode = \"queued\"\nbackoff-initial-ms = 20";
    let config = toml(&redis.url(), prefix, "", "", dispatch);
    let server = TestServer::start(&config, move |b| b.listener(listener)).await;
    let client = client();
    let answer = deliver(&client, &server.url("/webhooks/github"), "consumer-1").await;
    assert!(answer.is_accepted(), "{answer:?}");
    eventually("the event to be handled", PATIENCE, || counter.runs() == 1).await;
    server.stop().await;

    let groups = groups(&redis, prefix);
    assert!(!groups.is_empty(), "{}", shown(&dump(&redis, prefix)));
    for (stream, groups) in groups {
        for group in groups {
            let consumers = names(&cli(&redis, &["XINFO", "CONSUMERS", &stream, &group]));
            assert!(
                consumers.is_empty(),
                "consumers of {stream}/{group} left after a graceful shutdown: {consumers:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Start-up while Redis is down.

/// Queued: Redis is down when the server starts. It starts anyway: readyz
/// 503, deliveries 503 with `Retry-After`; once Redis is up, without a
/// restart, readyz 200 and deliveries are accepted and handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_starts_while_redis_is_down_and_recovers_alone() {
    let mut redis = start_redis().await;
    tokio::task::block_in_place(|| redis.stop());
    let counter = Counter::default();
    let listener = counter.clone();
    let dispatch = "mode = \"queued\"\nbackoff-initial-ms = 20";
    let config = toml(&redis.url(), "late", "", "", dispatch);
    let server = tokio::time::timeout(
        PATIENCE,
        TestServer::start(&config, move |b| b.listener(listener)),
    )
    .await
    .expect("start-up hung while Redis is down");
    let client = client();
    let hook = server.url("/webhooks/github");

    let ready = get(&client, &server.url("/readyz")).await;
    assert_eq!(ready.status, 503, "{ready:?}");
    let refused = deliver(&client, &hook, "late-1").await;
    assert!(refused.is_unavailable(), "{refused:?}");

    tokio::task::block_in_place(|| redis.restart());
    wait_for_status(&client, &server.url("/readyz"), 200).await;
    let answer = deliver(&client, &hook, "late-1").await;
    assert!(answer.is_accepted(), "{answer:?}");
    eventually("the event to be handled", PATIENCE, || counter.runs() == 1).await;
    let metrics = get(&client, &server.url("/metrics")).await.body;
    let labels = r#"event_type="push",outcome="unavailable",source="github""#;
    assert_eq!(sample(&metrics, "webhooks_received_total", labels), 1.0);
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Secrets in headers are not stored.

/// Queued: a GitLab delivery's `X-Gitlab-Token` (the secret itself) is not
/// written to Redis with the event; the event is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_that_carries_the_secret_is_not_stored() {
    let redis = start_redis().await;
    let prefix = "secrets";
    let held = Held::new("gitlab", false);
    let listener = held.clone();
    let dispatch = "mode = \"queued\"\nbackoff-initial-ms = 20";
    let config = toml(&redis.url(), prefix, "", "", dispatch);
    let server = TestServer::start(&config, move |b| b.listener(listener)).await;
    let client = client();

    let body = r#"{"object_kind":"push","ref":"refs/heads/main"}"#;
    let response = client
        .post(server.url("/webhooks/gitlab"))
        .header("Content-Type", "application/json")
        .header(
            "X-Gitlab-Token",
            GitLabSignatureValidator::sign(GITLAB_TOKEN),
        )
        .header("X-Gitlab-Event", "Push Hook")
        .header("X-Gitlab-Event-UUID", "gitlab-delivery-5d1e")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status().as_u16(), 200);
    // Held: the event sits in Redis now.
    held.arrival().await;
    let stored = dump(&redis, prefix);
    let all = shown(&stored);
    assert!(
        all.contains("refs/heads/main"),
        "the event is not in Redis:\n{all}"
    );
    assert!(
        !all.contains(GITLAB_TOKEN),
        "the X-Gitlab-Token secret is stored in Redis:\n{all}"
    );
    held.open();
    server.stop().await;
}

// ---------------------------------------------------------------------------
// A poison event, with child processes that die on it.

const MAX_ATTEMPTS: usize = 2;
const POISON_PREFIX: &str = "poison";
/// Hang guards, never assertions on time.
const PROCESS_WAIT: Duration = Duration::from_secs(30);
const POISON_WAIT: Duration = Duration::from_secs(60);

/// A running poison example; killed on drop.
struct Worker {
    child: Child,
    bind: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    fn spawn(binary: &Path, config: &Path, dir: &Path, bind: &str) -> Self {
        let mut child = Command::new(binary)
            .current_dir(dir)
            .env("WEBHOOKS_CONFIG", config)
            .env("WEBHOOKS_BIND", bind)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));
        let lines = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("piped"), Arc::clone(&lines));
        collect(child.stderr.take().expect("piped"), Arc::clone(&lines));
        let mut worker = Self {
            child,
            bind: bind.to_owned(),
            lines,
        };
        let deadline = Instant::now() + PROCESS_WAIT;
        while !worker.logged("listening on") {
            if let Ok(Some(status)) = worker.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the poison example exited before listening ({status}):\n{}",
                    worker.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the poison example did not listen within {PROCESS_WAIT:?}:\n{}",
                worker.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        worker
    }

    fn logged(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.bind)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
}

async fn deliver_partner(client: &reqwest::Client, url: &str, id: &str, body: &str) -> Answer {
    let signature = HmacSignatureValidator::sign(PARTNER_SECRET.as_bytes(), body.as_bytes());
    let response = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Signature", format!("sha256={signature}"))
        .header("X-Event-Id", id)
        .body(body.to_owned())
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {id}: {error}"));
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        retry_after: None,
        body,
    }
}

/// Two instances of the poison example, queued on one Redis with
/// `max-attempts = 2` and a 1 s visibility timeout. A poison event aborts
/// each worker that takes it; every dead instance is restarted. After
/// `max-attempts` takeovers it is dead-lettered with the reason "worker
/// lost …" instead of killing workers forever, and other events are still
/// handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_that_aborts_its_worker_is_dead_lettered_after_max_attempts() {
    let binary = redis_harness::example_binary("poison");
    let redis = start_redis().await;
    let dir = TempDir::new("poison");
    let config_path = dir.path().join("webhooks.toml");
    let config = toml(
        &redis.url(),
        POISON_PREFIX,
        "",
        "",
        &format!(
            "mode = \"queued\"\nmax-attempts = {MAX_ATTEMPTS}\nvisibility-timeout-seconds = 1\n\
             backoff-initial-ms = 50"
        ),
    );
    std::fs::write(&config_path, config).expect("write the config");
    let binds = [free_port(), free_port()].map(|port| format!("127.0.0.1:{port}"));
    let mut workers: Vec<Worker> = tokio::task::block_in_place(|| {
        binds
            .iter()
            .map(|bind| Worker::spawn(&binary, &config_path, dir.path(), bind))
            .collect()
    });
    let client = client();

    let ok = deliver_partner(
        &client,
        &workers[0].url("/webhooks/partner"),
        "ok-1",
        r#"{"type":"order.created"}"#,
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let poison = r#"{"type":"order.created","poison":true}"#;
    let answer = deliver_partner(
        &client,
        &workers[0].url("/webhooks/partner"),
        "poison-1",
        poison,
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");

    // Restart whatever dies, until the poison event is dead-lettered (or it
    // killed clearly more workers than max-attempts allows).
    let mut aborts = 0;
    let mut logs = Vec::new();
    let deadline = Instant::now() + POISON_WAIT;
    let dead_lettered = loop {
        for worker in &mut workers {
            let Ok(Some(status)) = worker.child.try_wait() else {
                continue;
            };
            std::thread::sleep(Duration::from_millis(50));
            logs.push(worker.log());
            assert_eq!(
                status.signal(),
                Some(6),
                "a worker ended otherwise than by the poison's abort ({status}):\n{}",
                worker.log()
            );
            aborts += 1;
            let bind = worker.bind.clone();
            *worker = tokio::task::block_in_place(|| {
                Worker::spawn(&binary, &config_path, dir.path(), &bind)
            });
        }
        // The dump lists the keys, then reads each: not a snapshot. The
        // script that dead-letters writes the job's reason and creates the
        // dead-letter stream at once, but a dump can list the keys just
        // before and read the job just after; so wait until it shows both.
        let stored = dump(&redis, POISON_PREFIX);
        let lost = stored
            .iter()
            .any(|(_, _, content)| content.contains("worker lost"));
        let dead = stored
            .iter()
            .any(|(key, _, content)| key.contains("dead") && !content.trim().is_empty());
        if lost && dead {
            break stored;
        }
        assert!(
            aborts <= MAX_ATTEMPTS + 2,
            "the poison event aborted {aborts} workers with max-attempts = {MAX_ATTEMPTS} and \
             is not dead-lettered (nothing in Redis says \"worker lost\"):\n{}",
            shown(&stored)
        );
        assert!(
            Instant::now() < deadline,
            "after {POISON_WAIT:?} ({aborts} aborts) the poison event is not dead-lettered:\n{}",
            shown(&stored)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        aborts, MAX_ATTEMPTS,
        "each of max-attempts deliveries killed a worker, and no more ran it"
    );
    let reason = dead_lettered
        .iter()
        .find(|(_, _, content)| content.contains("worker lost"))
        .map(|(key, _, content)| format!("{key}: {content}"))
        .unwrap_or_default();
    assert!(
        reason.contains(&format!("worker lost {MAX_ATTEMPTS} times")),
        "the reason names the count: {reason}"
    );
    assert!(
        dead_lettered
            .iter()
            .any(|(key, _, content)| key.contains("dead") && !content.trim().is_empty()),
        "no dead-letter key holds it:\n{}",
        shown(&dead_lettered)
    );
    // The operator sees it on /metrics.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut most = 0.0_f64;
        for worker in &workers {
            let metrics = get(&client, &worker.url("/metrics")).await.body;
            most = most.max(sample(
                &metrics,
                "webhooks_dead_letters",
                r#"source="partner""#,
            ));
        }
        if most == 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "webhooks_dead_letters{{source=\"partner\"}} is {most}, not 1:\n{}",
            workers
                .iter()
                .map(Worker::log)
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The workers live on and handle other events.
    let ok = deliver_partner(
        &client,
        &workers[1].url("/webhooks/partner"),
        "ok-2",
        r#"{"type":"order.created"}"#,
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    eventually("ok-2 to be handled", PATIENCE, || {
        workers
            .iter()
            .any(|w| w.logged("partner event handled") && w.logged("\"ok-2\""))
    })
    .await;
    for worker in &mut workers {
        assert!(
            matches!(worker.child.try_wait(), Ok(None)),
            "a worker died after the poison event was dead-lettered:\n{}",
            worker.log()
        );
    }
    let handled_ok_1 = workers.iter().any(|w| w.logged("\"ok-1\""))
        || logs.iter().any(|log| log.contains("\"ok-1\""));
    assert!(handled_ok_1, "ok-1 was never handled");
}
