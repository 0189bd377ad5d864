#![cfg(feature = "redis")]
//! A crash under load, with real processes: the `server` example, queued on
//! a Redis of the test's own, is killed with `kill -9` while deliveries
//! stream in, and a new process on the same configuration takes over. Every
//! event that got a 2xx is handled (its listener's `partner event id="…"`
//! line appears in one of the two processes' logs), and none twice.
//!
//! `cargo test --all-features` builds the example with the `redis` feature;
//! `cargo test --test redis_crash` alone does not, so a missing or stale
//! binary is refused with the command that builds it. Unix only (`kill -9`).
#![cfg(unix)]

mod redis_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_harness::{RedisServer, TempDir, free_port, redis_cli};
use webhooks::testing;

const PARTNER_SECRET: &str = "partner-crash-secret";
const PREFIX: &str = "crash";
/// Deliveries in total, each with an id of its own.
const TOTAL: usize = 400;
/// Accepted deliveries after which the first process is killed.
const KILL_AFTER: usize = 100;
/// Concurrent senders.
const SENDERS: usize = 4;
/// Hang guards, never assertions on time.
const START_WAIT: Duration = Duration::from_secs(30);
const HANDLE_WAIT: Duration = Duration::from_secs(30);
const BUILD: &str = "run `cargo build --all-features --examples` first \
                     (or the whole `cargo test --all-features`)";

/// Drops ANSI escape sequences (`ESC [ … letter`), in case colours are on.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The event id of the example's partner listener line
/// (`… partner event id="crash-0001" event_type=… bytes=…`).
fn handled_id(line: &str) -> Option<&str> {
    let rest = &line[line.find("partner event ")? + "partner event ".len()..];
    let rest = &rest[rest.find("id=\"")? + "id=\"".len()..];
    Some(&rest[..rest.find('"')?])
}

/// The running example; killed (`kill -9`) on drop whatever happened.
struct ServerProcess {
    name: &'static str,
    child: Child,
    /// Every line of its stdout and stderr, in arrival order per stream.
    lines: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    fn spawn(name: &'static str, binary: &Path, config: &Path, bind: &str) -> Self {
        let mut child = Command::new(binary)
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
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        collect(stdout, Arc::clone(&lines));
        collect(stderr, Arc::clone(&lines));
        let mut process = Self { name, child, lines };
        process.wait_for_listening();
        process
    }

    fn wait_for_listening(&mut self) {
        let deadline = Instant::now() + START_WAIT;
        loop {
            if self
                .lines()
                .iter()
                .any(|line| line.contains("listening on"))
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Give the readers a moment to collect the last lines.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "server {} exited before listening ({status}); if it says the `redis` \
                     feature is missing, {BUILD}:\n{}",
                    self.name,
                    self.lines().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "server {} did not log `listening on` within {START_WAIT:?}:\n{}",
                self.name,
                self.lines().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The ids its partner listener handled, in order, repeats included.
    fn handled(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter_map(|line| handled_id(line).map(str::to_owned))
            .collect()
    }

    /// `kill -9`, and wait until it is gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `stream` line by line on a thread of its own into `lines`.
fn collect(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
            let line = strip_ansi(&String::from_utf8_lossy(&line));
            lines.lock().unwrap().push(line);
        }
    });
}

fn config_toml(redis: &RedisServer, bind: &str) -> String {
    format!(
        r#"
[webhooks]
bind = "{bind}"

[webhooks.idempotency]
provider = "redis"

[webhooks.idempotency.redis]
url = "{url}"
key-prefix = "{PREFIX}"

[webhooks.sources.stripe]
validator = "stripe"
secret = "whsec_crash_test"

[webhooks.sources.github]
validator = "github"
secret = "github-crash-test"

[webhooks.sources.partner]
validator = "hmac"
secret = "{PARTNER_SECRET}"

[webhooks.dispatch]
mode = "queued"
visibility-timeout-seconds = 2
"#,
        url = redis.url(),
    )
}

/// POSTs partner event `id`; whether the answer was a 2xx.
async fn deliver(client: &reqwest::Client, url: &str, id: &str) -> bool {
    let body = format!(r#"{{"type":"order.created","order":"{id}"}}"#);
    let event = testing::hmac(PARTNER_SECRET, &body).with_header("X-Event-Id", id);
    let sent = client
        .post(url)
        .header("Content-Type", "application/json")
        .headers(event.headers().clone().into())
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let ok = response.status().is_success();
            // Read the answer to its end, so the connection can be reused.
            let _ = response.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// What the senders share.
#[derive(Default)]
struct Sent {
    next: AtomicUsize,
    /// Ids answered with a 2xx, and by which process generation.
    accepted: Mutex<BTreeMap<String, usize>>,
    refused: AtomicUsize,
    /// Bumped by the test when it kills (1) and restarts (2) the server.
    generation: AtomicUsize,
    restarted: AtomicBool,
}

impl Sent {
    fn accepted(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

/// Sends ids `crash-0000` … until `TOTAL` were used, each once, pausing a
/// little after a refusal so the outage does not use every id up.
async fn sender(client: reqwest::Client, url: String, sent: Arc<Sent>) {
    loop {
        let n = sent.next.fetch_add(1, Ordering::SeqCst);
        if n >= TOTAL {
            return;
        }
        // The process that answers: 0 the first, 1 none (killed), 2 the new one.
        let generation = sent.generation.load(Ordering::SeqCst);
        let id = format!("crash-{n:04}");
        if deliver(&client, &url, &id).await {
            sent.accepted.lock().unwrap().insert(id, generation);
        } else {
            sent.refused.fetch_add(1, Ordering::SeqCst);
            let pause = if sent.restarted.load(Ordering::SeqCst) {
                5
            } else {
                50
            };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}

/// The event ids of the entries some worker took and did not acknowledge
/// (the group's pending list), read in one script.
fn pending_event_ids(redis: &RedisServer, stream: &str) -> BTreeSet<String> {
    const SCRIPT: &str = "local out = {} \
        for _, e in ipairs(redis.call('XPENDING', KEYS[1], 'workers', '-', '+', 100000)) do \
          local r = redis.call('XRANGE', KEYS[1], e[1], e[1]) \
          if r[1] then table.insert(out, redis.call('HGET', ARGV[1] .. r[1][2][2], 'id') or '?') end \
        end return out";
    let jobs = format!("{PREFIX}:{{queue}}:job:");
    redis_cli(redis.port(), &["EVAL", SCRIPT, "1", stream, &jobs])
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

fn queue_number(redis: &RedisServer, args: &[&str]) -> u64 {
    let answer = redis_cli(redis.port(), args);
    let first = answer.lines().next().unwrap_or_default().trim();
    if first.starts_with("NOGROUP") {
        return 0;
    }
    first
        .parse()
        .unwrap_or_else(|_| panic!("{args:?}: {answer:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_under_load_loses_no_accepted_event_and_handles_none_twice() {
    let binary = redis_harness::example_binary("server");
    let redis = RedisServer::start();
    let dir = TempDir::new("crash");
    let bind = format!("127.0.0.1:{}", free_port());
    let config = dir.path().join("webhooks.toml");
    std::fs::write(&config, config_toml(&redis, &bind)).expect("write the config");
    let url = format!("http://{bind}/webhooks/partner");

    let mut first =
        tokio::task::block_in_place(|| ServerProcess::spawn("first", &binary, &config, &bind));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .expect("a client");
    let sent = Arc::new(Sent::default());
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| tokio::spawn(sender(client.clone(), url.clone(), Arc::clone(&sent))))
        .collect();

    // Kill -9 partway, with deliveries in flight and events in the queue.
    let deadline = Instant::now() + START_WAIT;
    while sent.accepted() < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "only {} of {KILL_AFTER} deliveries accepted within {START_WAIT:?}:\n{}",
            sent.accepted(),
            first.lines().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill();
    sent.generation.store(1, Ordering::SeqCst);
    let accepted_by_first = sent.accepted();
    let stream = format!("{PREFIX}:{{queue}}:stream");
    // What the killed process had taken and not acknowledged.
    let unacked_at_kill = tokio::task::block_in_place(|| pending_event_ids(&redis, &stream));
    // Deliveries go on meanwhile and are refused; then a new process on the
    // same configuration and address takes over.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second =
        tokio::task::block_in_place(|| ServerProcess::spawn("second", &binary, &config, &bind));
    sent.generation.store(2, Ordering::SeqCst);
    sent.restarted.store(true, Ordering::SeqCst);
    for task in senders {
        tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .expect("the senders finish")
            .expect("a sender does not panic");
    }
    let accepted: BTreeMap<String, usize> = sent.accepted.lock().unwrap().clone();
    let refused = sent.refused.load(Ordering::SeqCst);
    let after_restart = accepted.values().filter(|g| **g == 2).count();
    eprintln!(
        "accepted {} (before the kill {accepted_by_first}, after the restart {after_restart}), \
         refused {refused}",
        accepted.len()
    );
    assert!(
        refused > 0,
        "no delivery was refused while the server was down"
    );
    assert!(after_restart > 0, "the new process accepted nothing");

    // Every accepted event gets handled, and the queue drains: the entries
    // the killed process held are taken over after the visibility timeout.
    let handled = |first: &ServerProcess, second: &ServerProcess| {
        let mut all = first.handled();
        all.extend(second.handled());
        all
    };
    let deadline = Instant::now() + HANDLE_WAIT;
    loop {
        let seen: BTreeSet<String> = handled(&first, &second).into_iter().collect();
        let missing = accepted.keys().filter(|id| !seen.contains(*id)).count();
        let waiting = tokio::task::block_in_place(|| {
            queue_number(&redis, &["XLEN", &stream])
                + queue_number(&redis, &["XPENDING", &stream, "workers"])
        });
        if missing == 0 && waiting == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {HANDLE_WAIT:?}: {missing} accepted events not handled, {waiting} entries \
             still in the queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let by_first = first.handled();
    let by_second = second.handled();
    let mut count: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for id in &by_first {
        count.entry(id).or_default().0 += 1;
    }
    for id in &by_second {
        count.entry(id).or_default().1 += 1;
    }
    let missing: Vec<&String> = accepted
        .keys()
        .filter(|id| !count.contains_key(id.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "accepted (2xx) but never handled: {missing:?}"
    );
    // Handled twice. By one process: a bug of the queue. By both, for an
    // event the first process logged as handled but had not acknowledged
    // when it was killed (still in the group's pending list right after the
    // kill): the kill fell between the listener's side effect and its XACK,
    // the one window at-least-once delivery cannot close; only that exact
    // case is let through, and it is reported loudly.
    let mut window = Vec::new();
    let mut twice = Vec::new();
    for (id, (a, b)) in count.iter().filter(|(_, (a, b))| a + b > 1) {
        let from_end = by_first.iter().rev().position(|seen| seen == id);
        let unacked = unacked_at_kill.contains(*id);
        let shown = format!(
            "{id}: {a}x by the first process ({from_end:?} lines from its last handled one), \
             {b}x by the second; unacknowledged right after the kill: {unacked}"
        );
        if *a == 1 && *b == 1 && unacked {
            window.push(shown);
        } else {
            twice.push(shown);
        }
    }
    assert!(
        twice.is_empty(),
        "handled more than once: {twice:#?}\nunacknowledged right after the kill: \
         {unacked_at_kill:?}\nlast lines of the first process:\n{}",
        first
            .lines()
            .iter()
            .rev()
            .take(20)
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    if !window.is_empty() {
        // Straight to stderr, past the test harness's capture: visible even
        // when the test passes.
        let _ = writeln!(
            std::io::stderr(),
            "NOTE redis_crash: handled twice because the kill -9 fell between the listener's \
             side effect and its XACK (at-least-once delivery): {window:#?}"
        );
    }
    eprintln!(
        "handled {} by the first process, {} by the second",
        by_first.len(),
        by_second.len()
    );
}
