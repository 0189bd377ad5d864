#![cfg(feature = "redis")]
//! The durable Redis queue of `mode = "queued"`, through the real server in
//! process: an event is in the stream before the 2xx and gone once its
//! listeners succeeded; failing listeners are retried (and only they) with
//! their attempt number, then dead-lettered and requeued; a full queue
//! refuses with 503 and records nothing; instances on one Redis share the
//! work and handle each event once; a dead worker's event is taken over after
//! the visibility timeout; a graceful shutdown finishes what runs and leaves
//! the rest in Redis for the next instance.
//!
//! Every test starts a `redis-server` of its own (never the machine's 6379)
//! and uses a key prefix of its own. Waits are bounded polls, hang guards
//! only: nothing asserts how long anything took.

mod redis_harness;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_harness::{RedisServer, keys, redis_cli};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use webhooks::testing;
use webhooks::{
    BoxError, BoxFuture, ProcessorBuilder, ServeError, WebhookEvent, WebhookListener,
    WebhookProcessor,
};

const SECRET: &str = "partner-queue-secret";
/// Upper bound of every wait; a hang guard, never an assertion on time.
const PATIENCE: Duration = Duration::from_secs(30);
/// The queue's consumer group.
const GROUP: &str = "workers";

// ---------------------------------------------------------------------------
// Listeners

/// What a probe saw: one entry per start and per successful end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    listener: String,
    id: String,
    attempt: u32,
    finished: bool,
}

/// Every call of every probe of a test, in order.
#[derive(Clone, Default)]
struct Calls(Arc<Mutex<Vec<Call>>>);

impl Calls {
    fn push(&self, call: Call) {
        self.0.lock().unwrap().push(call);
    }

    fn all(&self) -> Vec<Call> {
        self.0.lock().unwrap().clone()
    }

    /// How many runs of `listener` (any, with `None`) started for `id`.
    fn started(&self, listener: Option<&str>, id: &str) -> usize {
        self.count(listener, id, false)
    }

    /// How many runs of `listener` (any, with `None`) succeeded for `id`.
    fn finished(&self, listener: Option<&str>, id: &str) -> usize {
        self.count(listener, id, true)
    }

    fn count(&self, listener: Option<&str>, id: &str, finished: bool) -> usize {
        self.all()
            .iter()
            .filter(|call| {
                call.finished == finished
                    && call.id == id
                    && listener.is_none_or(|name| call.listener == name)
            })
            .count()
    }

    /// The attempts of the runs `listener` started for `id`, in order.
    fn attempts(&self, listener: &str, id: &str) -> Vec<u32> {
        self.all()
            .iter()
            .filter(|call| !call.finished && call.listener == listener && call.id == id)
            .map(|call| call.attempt)
            .collect()
    }

    /// Successful runs per event id, across the probes that share this log.
    fn finished_per_id(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for call in self.all().into_iter().filter(|call| call.finished) {
            *counts.entry(call.id).or_insert(0) += 1;
        }
        counts
    }
}

type Behavior = Arc<dyn Fn(WebhookEvent) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync>;

/// A listener for every `partner` event that records its calls and then
/// does what its behaviour says (by default: succeed).
struct Probe {
    name: String,
    calls: Calls,
    behavior: Behavior,
}

impl Probe {
    fn new(name: &str, calls: &Calls) -> Self {
        Self {
            name: name.to_owned(),
            calls: calls.clone(),
            behavior: Arc::new(|_| Box::pin(async { Ok(()) })),
        }
    }

    fn with<F, Fut>(mut self, behavior: F) -> Self
    where
        F: Fn(WebhookEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.behavior = Arc::new(move |event| Box::pin(behavior(event)));
        self
    }

    /// Every run waits for `gate` before it succeeds.
    fn gated(self, gate: &Gate) -> Self {
        let gate = gate.clone();
        self.with(move |_| {
            let gate = gate.clone();
            async move {
                gate.pass().await;
                Ok(())
            }
        })
    }
}

impl WebhookListener for Probe {
    type Error = BoxError;

    fn source(&self) -> &str {
        "partner"
    }

    fn event(&self) -> &str {
        "*"
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn handle(&self, event: &WebhookEvent) -> Result<(), BoxError> {
        let call = |finished| Call {
            listener: self.name.clone(),
            id: event.id().to_owned(),
            attempt: event.attempt(),
            finished,
        };
        self.calls.push(call(false));
        (self.behavior)(event.clone()).await?;
        self.calls.push(call(true));
        Ok(())
    }
}

/// Closed until opened; then every waiter passes, at once and from then on.
#[derive(Clone)]
struct Gate(Arc<Semaphore>);

impl Gate {
    fn new() -> Self {
        Self(Arc::new(Semaphore::new(0)))
    }

    async fn pass(&self) {
        // No permit is ever added: `acquire` returns only once closed.
        let _ = self.0.acquire().await;
    }

    fn open(&self) {
        self.0.close();
    }
}

// ---------------------------------------------------------------------------
// Servers

/// A `[webhooks]` configuration: Redis provider and queued dispatch on
/// `redis` with key prefix `prefix`, a `partner` hmac source, and further
/// `[webhooks.dispatch]` keys.
fn config(redis: &RedisServer, prefix: &str, dispatch: &str) -> webhooks::config::WebhooksConfig {
    let text = format!(
        r#"
[webhooks]
bind = "127.0.0.1:0"

[webhooks.idempotency]
provider = "redis"

[webhooks.idempotency.redis]
url = "{url}"
key-prefix = "{prefix}"

[webhooks.sources.partner]
validator = "hmac"
secret = "{SECRET}"

[webhooks.dispatch]
mode = "queued"
backoff-initial-ms = 20
{dispatch}
"#,
        url = redis.url(),
    );
    webhooks::Config::from_toml(&text)
        .unwrap_or_else(|error| panic!("the test config does not parse: {error}\n{text}"))
        .webhooks
}

/// A server serving in a task of the current runtime.
struct Instance {
    addr: SocketAddr,
    processor: WebhookProcessor,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl Instance {
    async fn start(
        config: webhooks::config::WebhooksConfig,
        configure: impl FnOnce(ProcessorBuilder) -> ProcessorBuilder + Send + 'static,
    ) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let bound = webhooks::Server::from_config(config)
            .configure(configure)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .bind()
            .await
            .expect("the server binds");
        let addr = bound.local_addr();
        let processor = bound.processor().clone();
        assert!(processor.is_queued());
        let task = tokio::spawn(bound.into_future());
        Self {
            addr,
            processor,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Sends the shutdown signal; the serving task keeps running until it
    /// has drained.
    fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    fn has_stopped(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits (bounded) until the serving task has returned, and checks it
    /// returned `Ok`.
    async fn stopped(&mut self) {
        let task = self.task.take().expect("not awaited yet");
        let result = tokio::time::timeout(PATIENCE, task)
            .await
            .expect("the server stops within the patience")
            .expect("the server task does not panic");
        result.expect("the server stops without an error");
    }

    async fn shutdown(mut self) {
        self.begin_shutdown();
        self.stopped().await;
    }
}

// ---------------------------------------------------------------------------
// Deliveries

/// A client with bounded timeouts, talking only to 127.0.0.1.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("a client")
}

#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: serde_json::Value,
}

/// POSTs a signed `order.created` partner event with `X-Event-Id: id`.
async fn deliver(client: &reqwest::Client, addr: SocketAddr, id: &str) -> Answer {
    let body = serde_json::json!({"type": "order.created", "order": id}).to_string();
    let event = testing::hmac(SECRET, &body).with_header("X-Event-Id", id);
    let response = client
        .post(format!("http://{addr}/webhooks/partner"))
        .header("Content-Type", "application/json")
        .headers(event.headers().clone().into())
        .body(body)
        .send()
        .await
        .unwrap_or_else(|error| panic!("POST {id} to {addr}: {error}"));
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Answer {
        status,
        retry_after,
        body,
    }
}

/// Delivers `id` and checks the answer is `200 accepted`.
async fn accepted(client: &reqwest::Client, addr: SocketAddr, id: &str) {
    let answer = deliver(client, addr, id).await;
    assert_eq!(
        (answer.status, &answer.body),
        (200, &serde_json::json!({"status": "accepted", "id": id})),
        "delivery {id}"
    );
}

// ---------------------------------------------------------------------------
// Redis, seen from outside

/// The queue's keys of one prefix on one server, read with `redis-cli`.
struct Queue {
    port: u16,
    prefix: String,
}

impl Queue {
    fn new(redis: &RedisServer, prefix: &str) -> Self {
        Self {
            port: redis.port(),
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{{queue}}:{name}", self.prefix)
    }

    fn cli(&self, args: &[&str]) -> String {
        // A short blocking call; the tests run on a multi-threaded runtime.
        tokio::task::block_in_place(|| redis_cli(self.port, args))
    }

    fn number(&self, args: &[&str]) -> u64 {
        let answer = self.cli(args);
        let first = answer.lines().next().unwrap_or_default().trim();
        if first.starts_with("NOGROUP") {
            return 0;
        }
        first
            .parse()
            .unwrap_or_else(|_| panic!("{args:?}: {answer:?}"))
    }

    /// Entries in the stream: waiting, or taken and not yet settled.
    fn stream_len(&self) -> u64 {
        self.number(&["XLEN", &self.key("stream")])
    }

    /// Entries the group delivered and nobody acknowledged yet.
    fn pending(&self) -> u64 {
        self.number(&["XPENDING", &self.key("stream"), GROUP])
    }

    /// The pending entries per consumer.
    fn pending_per_consumer(&self) -> String {
        self.cli(&["XPENDING", &self.key("stream"), GROUP, "-", "+", "100"])
    }

    fn dead_len(&self) -> u64 {
        self.number(&["XLEN", &self.key("dead")])
    }

    fn delayed_len(&self) -> u64 {
        self.number(&["ZCARD", &self.key("delayed")])
    }

    /// The job hashes that still exist.
    fn jobs(&self) -> Vec<String> {
        let prefix = self.key("job:");
        tokio::task::block_in_place(|| keys(self.port, &prefix))
    }

    /// Nothing waits, runs, is retried or dead: every job is settled.
    fn is_drained(&self) -> bool {
        self.stream_len() == 0
            && self.pending() == 0
            && self.delayed_len() == 0
            && self.jobs().is_empty()
    }

    fn describe(&self) -> String {
        format!(
            "stream {} pending {} delayed {} dead {} jobs {:?}\n{}",
            self.stream_len(),
            self.pending(),
            self.delayed_len(),
            self.dead_len(),
            self.jobs(),
            self.pending_per_consumer()
        )
    }
}

/// Polls `condition` until it holds; fails the test (naming `what`) after
/// [`PATIENCE`]. A hang guard, not an assertion on time.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------
// (1) Recorded before the 2xx, acknowledged and deleted after the listener.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_accepted_event_is_in_the_stream_before_its_listener_runs_and_gone_after() {
    let redis = RedisServer::start();
    let prefix = "rq-accept";
    let queue = Queue::new(&redis, prefix);
    let calls = Calls::default();
    let gate = Gate::new();
    let probe = Probe::new("blocked", &calls).gated(&gate);
    let server = Instance::start(config(&redis, prefix, ""), |b| b.listener(probe)).await;
    let client = client();

    // The answer comes while the listener cannot have finished.
    accepted(&client, server.addr, "acc-1").await;
    eventually("the listener to start", || {
        calls.started(None, "acc-1") == 1
    })
    .await;
    assert_eq!(calls.finished(None, "acc-1"), 0);
    // Durable before the 2xx: the entry is in the stream, taken by a worker
    // (pending), and its job hash holds the event.
    assert_eq!(queue.stream_len(), 1, "{}", queue.describe());
    assert_eq!(queue.pending(), 1, "{}", queue.describe());
    let jobs = queue.jobs();
    assert_eq!(jobs.len(), 1, "{}", queue.describe());
    let id = queue.cli(&["HGET", &jobs[0], "id"]);
    assert_eq!(id.trim(), "acc-1");

    gate.open();
    eventually("the listener to finish", || {
        calls.finished(None, "acc-1") == 1
    })
    .await;
    eventually("the entry to be acknowledged and deleted", || {
        queue.is_drained()
    })
    .await;
    assert_eq!(queue.dead_len(), 0);
    assert_eq!(calls.started(None, "acc-1"), 1);

    // A redelivery is a duplicate, not a second run.
    let again = deliver(&client, server.addr, "acc-1").await;
    assert_eq!(
        (again.status, again.body),
        (
            200,
            serde_json::json!({"status": "duplicate", "id": "acc-1"})
        )
    );
    server.shutdown().await;
    assert_eq!(calls.started(None, "acc-1"), 1);
    assert!(queue.is_drained(), "{}", queue.describe());
}

// ---------------------------------------------------------------------------
// (2) Only the failing listener is retried, with its attempt number.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_listener_is_retried_with_backoff_and_the_succeeded_one_is_not_rerun() {
    let redis = RedisServer::start();
    let prefix = "rq-retry";
    let queue = Queue::new(&redis, prefix);
    let calls = Calls::default();
    let flaky = Probe::new("flaky", &calls).with({
        let calls = calls.clone();
        move |event| {
            let calls = calls.clone();
            async move {
                // Fails on its first two runs.
                if calls.started(Some("flaky"), event.id()) <= 2 {
                    return Err(format!("flaky attempt {}", event.attempt()).into());
                }
                Ok(())
            }
        }
    });
    let steady = Probe::new("steady", &calls);
    let server = Instance::start(config(&redis, prefix, "max-attempts = 5"), |b| {
        b.listener(flaky).listener(steady)
    })
    .await;
    let client = client();

    accepted(&client, server.addr, "retry-1").await;
    eventually("the third, successful run of the flaky listener", || {
        calls.finished(Some("flaky"), "retry-1") == 1
    })
    .await;
    eventually("the event to be acknowledged and deleted", || {
        queue.is_drained()
    })
    .await;
    assert_eq!(calls.attempts("flaky", "retry-1"), [1, 2, 3]);
    // The listener that succeeded on attempt 1 was skipped by the retries.
    assert_eq!(calls.attempts("steady", "retry-1"), [1]);
    assert_eq!(calls.finished(Some("steady"), "retry-1"), 1);
    assert_eq!(queue.dead_len(), 0);
    assert!(server.processor.dead_letters().await.unwrap().is_empty());
    server.shutdown().await;
    assert_eq!(calls.attempts("flaky", "retry-1"), [1, 2, 3]);
    assert_eq!(calls.attempts("steady", "retry-1"), [1]);
}

// ---------------------------------------------------------------------------
// (3) Dead-lettered after the last attempt, then requeued.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_always_failing_listener_is_dead_lettered_and_can_be_requeued() {
    let redis = RedisServer::start();
    let prefix = "rq-dead";
    let queue = Queue::new(&redis, prefix);
    let calls = Calls::default();
    let healed = Arc::new(AtomicBool::new(false));
    let doomed = Probe::new("doomed", &calls).with({
        let healed = Arc::clone(&healed);
        move |event| {
            let healed = healed.load(Ordering::SeqCst);
            async move {
                if healed {
                    return Ok(());
                }
                Err(format!("boom on attempt {}", event.attempt()).into())
            }
        }
    });
    let steady = Probe::new("steady", &calls);
    let server = Instance::start(config(&redis, prefix, "max-attempts = 3"), |b| {
        b.listener(doomed).listener(steady)
    })
    .await;
    let processor = server.processor.clone();
    let client = client();

    accepted(&client, server.addr, "dead-1").await;
    eventually("the event to be dead-lettered", || queue.dead_len() == 1).await;
    let letters = processor.dead_letters().await.expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.event.id(), "dead-1");
    assert_eq!(letter.event.source(), "partner");
    assert_eq!(letter.event.event_type(), "order.created");
    assert_eq!(letter.reason, "boom on attempt 3 (listeners: doomed)");
    assert_eq!(
        letter.state.last_error.as_deref(),
        Some("boom on attempt 3")
    );
    assert_eq!(calls.attempts("doomed", "dead-1"), [1, 2, 3]);
    assert_eq!(calls.attempts("steady", "dead-1"), [1]);
    let gauge = r#"webhooks_dead_letters{source="partner"} 1"#;
    eventually("the dead-letter gauge", || {
        processor.metrics().encode().contains(gauge)
    })
    .await;
    // Out of the stream, not retried any more; the dead-letter stream and
    // the job hash hold it.
    assert_eq!(queue.stream_len(), 0, "{}", queue.describe());
    assert_eq!(queue.pending(), 0, "{}", queue.describe());
    assert_eq!(queue.delayed_len(), 0, "{}", queue.describe());
    assert_eq!(queue.jobs().len(), 1, "{}", queue.describe());

    // Fixed: the requeued letter runs again, with fresh attempts, and only
    // the listener that failed.
    healed.store(true, Ordering::SeqCst);
    let id = letter.id.clone();
    assert!(processor.requeue_dead_letter(&id).await.expect("requeue"));
    eventually("the requeued event to succeed", || {
        calls.finished(Some("doomed"), "dead-1") == 1
    })
    .await;
    eventually("the requeued event to be settled", || queue.is_drained()).await;
    assert_eq!(calls.attempts("doomed", "dead-1"), [1, 2, 3, 1]);
    assert_eq!(calls.attempts("steady", "dead-1"), [1]);
    assert!(processor.dead_letters().await.unwrap().is_empty());
    assert_eq!(queue.dead_len(), 0, "{}", queue.describe());
    // Requeued once: the id is gone.
    assert!(!processor.requeue_dead_letter(&id).await.expect("requeue"));
    assert!(
        !processor
            .requeue_dead_letter("0-1")
            .await
            .expect("requeue an unknown id")
    );
    server.shutdown().await;
}

// ---------------------------------------------------------------------------
// (4) Full: 503 with Retry-After, nothing recorded.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_queue_refuses_with_503_and_records_nothing() {
    let redis = RedisServer::start();
    let prefix = "rq-full";
    let queue = Queue::new(&redis, prefix);
    let calls = Calls::default();
    let gate = Gate::new();
    let probe = Probe::new("blocked", &calls).gated(&gate);
    let dispatch = "queue-capacity = 2\nworkers = 1";
    let server = Instance::start(config(&redis, prefix, dispatch), |b| b.listener(probe)).await;
    let client = client();

    accepted(&client, server.addr, "full-1").await;
    eventually("the first listener run", || {
        calls.started(None, "full-1") == 1
    })
    .await;
    accepted(&client, server.addr, "full-2").await;
    let refused = deliver(&client, server.addr, "full-3").await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(
        refused.retry_after.is_some(),
        "a 503 carries Retry-After: {refused:?}"
    );
    // Nothing of it was recorded: neither in the queue nor as a claimed id.
    // Only the event log (`{events}` keys) says what became of it: refused.
    assert_eq!(queue.stream_len(), 2, "{}", queue.describe());
    assert_eq!(queue.jobs().len(), 2, "{}", queue.describe());
    let leftovers: Vec<String> = tokio::task::block_in_place(|| keys(redis.port(), prefix))
        .into_iter()
        .filter(|key| key.contains("full-3") && !key.contains("{events}"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let logged = server
        .processor
        .event("partner", "full-3")
        .await
        .expect("the event log answers")
        .expect("the refusal is in the event log");
    assert_eq!(logged.status, webhooks::EventStatus::Failed, "{logged:?}");
    assert_eq!(calls.started(None, "full-3"), 0);

    gate.open();
    eventually("the two accepted events to be handled", || {
        calls.finished(None, "full-1") == 1 && calls.finished(None, "full-2") == 1
    })
    .await;
    eventually("the queue to drain", || queue.is_drained()).await;
    // The provider's retry is processed as new.
    accepted(&client, server.addr, "full-3").await;
    eventually("the retried event to be handled", || {
        calls.finished(None, "full-3") == 1
    })
    .await;
    eventually("the queue to drain again", || queue.is_drained()).await;
    server.shutdown().await;
    assert_eq!(
        calls.finished_per_id(),
        BTreeMap::from([
            ("full-1".to_owned(), 1),
            ("full-2".to_owned(), 1),
            ("full-3".to_owned(), 1)
        ])
    );
}

// ---------------------------------------------------------------------------
// (5) Two instances on one Redis: each event handled exactly once.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_the_queue_and_handle_each_event_once() {
    const EVENTS: usize = 50;
    const A_WORKERS: usize = 2;
    let redis = RedisServer::start();
    let prefix = "rq-pair";
    let queue = Queue::new(&redis, prefix);
    let calls = Calls::default();
    let gate = Gate::new();
    // The renewal of A's blocked entries is what keeps B off them: a short
    // visibility timeout puts it to work.
    let dispatch = format!("workers = {A_WORKERS}\nvisibility-timeout-seconds = 1");
    let dispatch = dispatch.as_str();
    let a_probe = Probe::new("a", &calls).gated(&gate);
    let b_probe = Probe::new("b", &calls);
    let a = Instance::start(config(&redis, prefix, dispatch), |b| b.listener(a_probe)).await;
    let client = client();
    let ids: Vec<String> = (0..EVENTS).map(|n| format!("pair-{n:03}")).collect();
    let finished_by = |listener: &str| {
        calls
            .all()
            .iter()
            .filter(|call| call.finished && call.listener == listener)
            .count()
    };

    // A alone first: both its workers take an event and block.
    for id in &ids[..A_WORKERS] {
        accepted(&client, a.addr, id).await;
    }
    eventually("A's workers to be busy", || calls.all().len() == A_WORKERS).await;
    // B, free, joins; the rest is delivered to A, whose workers are busy.
    let b = Instance::start(config(&redis, prefix, dispatch), |b| b.listener(b_probe)).await;
    for id in &ids[A_WORKERS..] {
        accepted(&client, a.addr, id).await;
    }
    // Redeliveries, to either instance, are duplicates.
    for id in ids.iter().step_by(10) {
        let again = deliver(&client, b.addr, id).await;
        assert_eq!(again.body["status"], "duplicate", "{id}: {again:?}");
    }
    eventually("B to handle what A could not take", || {
        finished_by("b") == EVENTS - A_WORKERS
    })
    .await;
    // Longer than the visibility timeout, twice over: A's entries are
    // renewed while its listener runs, so B must not take them over.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    gate.open();
    eventually("every event to be handled", || {
        calls.finished_per_id().len() == EVENTS
    })
    .await;
    eventually("the queue to drain", || queue.is_drained()).await;
    a.shutdown().await;
    b.shutdown().await;

    let per_id = calls.finished_per_id();
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    assert_eq!(per_id.len(), EVENTS);
    let started: BTreeMap<String, usize> = ids
        .iter()
        .map(|id| (id.clone(), calls.started(None, id)))
        .collect();
    let restarted: Vec<_> = started.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        restarted.is_empty(),
        "runs started more than once: {restarted:?}"
    );
    // A took nothing while its workers were busy, and B nothing of A's.
    assert_eq!(finished_by("a"), A_WORKERS, "{:?}", calls.all());
    assert_eq!(finished_by("b"), EVENTS - A_WORKERS, "{:?}", calls.all());
}

/// An entry a busy instance read but could not start yet must not be taken
/// over by another instance and then run by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_waiting_for_a_busy_worker_is_not_run_twice() {
    let redis = RedisServer::start();
    let prefix = "rq-busy";
    let queue = Queue::new(&redis, prefix);
    let calls = Calls::default();
    let a_gate = Gate::new();
    let b_gate = Gate::new();
    let dispatch = "workers = 1\nvisibility-timeout-seconds = 1";
    let a_probe = Probe::new("a", &calls).gated(&a_gate);
    let b_probe = Probe::new("b", &calls).gated(&b_gate);
    let a = Instance::start(config(&redis, prefix, dispatch), |b| b.listener(a_probe)).await;
    let client = client();

    accepted(&client, a.addr, "busy-1").await;
    eventually("A to run the first event", || {
        calls.started(Some("a"), "busy-1") == 1
    })
    .await;
    accepted(&client, a.addr, "busy-2").await;
    // A's only worker is busy. Give A's reader time to read the second
    // event if it reads ahead, and that entry time to go idle past the
    // visibility timeout (a chance for the fault; not an assertion on time).
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let b = Instance::start(config(&redis, prefix, dispatch), |b| b.listener(b_probe)).await;
    eventually("B to run the second event", || {
        calls.started(Some("b"), "busy-2") == 1
    })
    .await;
    // A's worker frees up while B still runs the second event.
    a_gate.open();
    eventually("A to finish the first event", || {
        calls.finished(Some("a"), "busy-1") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    b_gate.open();
    eventually("the queue to drain", || queue.is_drained()).await;
    a.shutdown().await;
    b.shutdown().await;
    assert_eq!(
        calls.started(None, "busy-2"),
        1,
        "the second event ran more than once: {:?}",
        calls.all()
    );
    assert_eq!(calls.started(None, "busy-1"), 1, "{:?}", calls.all());
    assert_eq!(
        calls.finished_per_id(),
        BTreeMap::from([("busy-1".to_owned(), 1), ("busy-2".to_owned(), 1)])
    );
}

// ---------------------------------------------------------------------------
// (6) A worker that dies: its entry is taken over after the visibility
// timeout.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_of_a_dead_worker_is_taken_over_after_the_visibility_timeout() {
    let redis = RedisServer::start();
    let prefix = "rq-takeover";
    let queue = Queue::new(&redis, prefix);
    let calls = Calls::default();
    let dispatch = "visibility-timeout-seconds = 1";

    // Instance A runs in a runtime of its own, so it can die without a
    // graceful shutdown: every task of it (server, queue reader, workers,
    // Redis connections) is dropped mid-flight.
    let a_config = config(&redis, prefix, dispatch);
    let a_probe = Probe::new("a", &calls).with(|_| std::future::pending());
    let (ready, a_addr) = std::sync::mpsc::channel();
    let (kill, killed) = std::sync::mpsc::channel::<()>();
    let a_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for A");
        let instance = runtime.block_on(Instance::start(a_config, |b| b.listener(a_probe)));
        ready.send(instance.addr).expect("the test waits for A");
        // Until the test says so, or gave up (its sender dropped).
        let _ = killed.recv();
        runtime.shutdown_background();
        // Only now: dropping the stop sender before would shut A down gracefully.
        drop(instance);
    });
    let a_addr = a_addr.recv_timeout(PATIENCE).expect("instance A starts");
    let client = client();

    accepted(&client, a_addr, "orphan-1").await;
    eventually("A to take the event", || {
        calls.started(Some("a"), "orphan-1") == 1
    })
    .await;
    assert_eq!(queue.pending(), 1, "{}", queue.describe());
    kill.send(()).expect("A's thread waits");
    tokio::task::block_in_place(|| a_thread.join()).expect("A's thread ends");
    // A is gone: its port stops answering once its runtime's threads have
    // dropped its tasks (`shutdown_background` does not wait for them).
    let deadline = Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(a_addr).await.is_ok() {
        assert!(Instant::now() < deadline, "A still accepts connections");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The entry is still pending, for A's consumer.
    assert_eq!(queue.pending(), 1, "{}", queue.describe());
    assert_eq!(queue.stream_len(), 1, "{}", queue.describe());

    let b_probe = Probe::new("b", &calls);
    let b = Instance::start(config(&redis, prefix, dispatch), |b| b.listener(b_probe)).await;
    eventually("B to take over and handle the event", || {
        calls.finished(Some("b"), "orphan-1") == 1
    })
    .await;
    eventually("the queue to drain", || queue.is_drained()).await;
    // Still a duplicate for the provider.
    let again = deliver(&client, b.addr, "orphan-1").await;
    assert_eq!(again.body["status"], "duplicate", "{again:?}");
    b.shutdown().await;
    assert_eq!(calls.started(Some("b"), "orphan-1"), 1);
    assert_eq!(calls.finished(Some("a"), "orphan-1"), 0);
    assert_eq!(calls.finished_per_id().get("orphan-1"), Some(&1));
}

// ---------------------------------------------------------------------------
// (7) Graceful shutdown: finish the running listener, leave the rest.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_finishes_the_running_event_and_leaves_the_rest_in_redis() {
    const WAITING: usize = 4;
    let redis = RedisServer::start();
    let prefix = "rq-drain";
    let queue = Queue::new(&redis, prefix);
    let calls = Calls::default();
    let gate = Gate::new();
    let dispatch = "workers = 1";
    // A blocks on its first event until the gate opens; the others pass.
    let a_probe = Probe::new("a", &calls).with({
        let gate = gate.clone();
        move |event| {
            let gate = gate.clone();
            async move {
                if event.id() == "drain-first" {
                    gate.pass().await;
                }
                Ok(())
            }
        }
    });
    let mut a = Instance::start(config(&redis, prefix, dispatch), |b| b.listener(a_probe)).await;
    let client = client();

    accepted(&client, a.addr, "drain-first").await;
    eventually("A to run the first event", || {
        calls.started(Some("a"), "drain-first") == 1
    })
    .await;
    let waiting: Vec<String> = (0..WAITING).map(|n| format!("drain-{n}")).collect();
    for id in &waiting {
        accepted(&client, a.addr, id).await;
    }

    a.begin_shutdown();
    // While the listener runs, the shutdown waits for it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !a.has_stopped(),
        "the server stopped while a listener still ran"
    );
    assert_eq!(calls.finished(Some("a"), "drain-first"), 0);
    gate.open();
    a.stopped().await;
    assert_eq!(
        calls.finished(Some("a"), "drain-first"),
        1,
        "the running event was finished before the server returned"
    );
    // What A did not run waits in Redis, not pending for A's consumer.
    let handled_by_a = calls
        .all()
        .iter()
        .filter(|call| call.finished && call.listener == "a")
        .count();
    let left = queue.stream_len();
    assert_eq!(
        left as usize + handled_by_a,
        WAITING + 1,
        "{}",
        queue.describe()
    );
    assert!(left >= 1, "A ran every event: {:?}", calls.all());
    assert_eq!(queue.pending(), 0, "{}", queue.describe());

    let b_probe = Probe::new("b", &calls);
    let b = Instance::start(config(&redis, prefix, dispatch), |b| b.listener(b_probe)).await;
    eventually("B to handle what A left", || {
        calls.finished_per_id().len() == WAITING + 1
    })
    .await;
    eventually("the queue to drain", || queue.is_drained()).await;
    b.shutdown().await;
    let per_id = calls.finished_per_id();
    assert!(per_id.values().all(|n| *n == 1), "{per_id:?}");
    assert_eq!(per_id.len(), WAITING + 1);
    let handled_by_b = calls
        .all()
        .iter()
        .filter(|call| call.finished && call.listener == "b")
        .count();
    assert_eq!(handled_by_b as u64, left);
}
