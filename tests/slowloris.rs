//! Slowloris against the `server` example run as a child process (so its
//! descriptors are counted apart from the test's): thousands of sockets
//! that say nothing or trickle a head or a body byte by byte, while a real
//! signed delivery still gets its 200; the server's descriptors and memory
//! stay bounded, `max-connections` holds, and `request-timeout-seconds`
//! cuts every such socket. Linux only (`/proc`). Every wait is bounded;
//! latencies are printed, never asserted.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The bound of every wait: a broken server fails the test, never hangs it.
const GUARD: Duration = Duration::from_secs(90);
const GITHUB_SECRET: &str = "slowloris-github-secret";
/// What the example binary is built from, under the package root.
const BUILT_FROM: &[&str] = &[
    "examples/server.rs",
    "src",
    "webhooks-core/src",
    "webhooks-hyper/src",
    "webhooks-macros/src",
];

/// The `server` example, killed on drop; its output collected as it comes.
struct ServerProcess {
    child: Child,
    port: u16,
    output: Arc<Mutex<Vec<String>>>,
    config: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

impl ServerProcess {
    /// Starts the example with the three sources it needs and `keys` in
    /// `[webhooks]`, and waits until it listens.
    fn start(keys: &str) -> Self {
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = free.local_addr().expect("an address").port();
        drop(free);
        let config = std::env::temp_dir().join(format!(
            "webhooks-slowloris-{}-{port}.toml",
            std::process::id()
        ));
        let text = format!(
            "[webhooks]\n{keys}\n\
             [webhooks.sources.stripe]\nvalidator = \"stripe\"\nsecret = \"whsec_slowloris\"\n\
             [webhooks.sources.github]\nvalidator = \"github\"\nsecret = \"{GITHUB_SECRET}\"\n\
             [webhooks.sources.partner]\nvalidator = \"hmac\"\nsecret = \"slowloris-partner\"\n"
        );
        std::fs::write(&config, text).expect("write the config");
        let mut child = Command::new(server_binary())
            .env("WEBHOOKS_CONFIG", &config)
            .env("WEBHOOKS_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let output = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), &output);
        collect(child.stderr.take().expect("stderr"), &output);
        let server = Self {
            child,
            port,
            output,
            config,
        };
        server.wait_for_line(&format!("listening on http://127.0.0.1:{port}"));
        server
    }

    fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits (bounded) until an output line contains `needle`.
    fn wait_for_line(&self, needle: &str) {
        let deadline = Instant::now() + GUARD;
        while Instant::now() < deadline {
            let output = self.output.lock().unwrap();
            if output.iter().any(|line| line.contains(needle)) {
                return;
            }
            drop(output);
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no `{needle}` in:\n{}",
            self.output.lock().unwrap().join("\n")
        );
    }

    /// Its open file descriptors.
    fn fds(&self) -> usize {
        let dir = format!("/proc/{}/fd", self.child.id());
        std::fs::read_dir(dir).expect("/proc/<pid>/fd").count()
    }

    /// Its resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status");
        let line = status.lines().find(|line| line.starts_with("VmRSS:"));
        let value = line.and_then(|line| line.split_whitespace().nth(1));
        value
            .and_then(|kib| kib.parse().ok())
            .expect("a VmRSS line")
    }

    /// Waits (bounded, async) until `check` holds for the server.
    async fn until(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + GUARD;
        while !check(self) {
            let fds = self.fds();
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what} ({fds} descriptors open)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn collect(stream: impl Read + Send + 'static, output: &Arc<Mutex<Vec<String>>>) {
    let output = Arc::clone(output);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            output.lock().unwrap().push(line);
        }
    });
}

/// The example next to this test, refused if older than its sources
/// (`cargo build --all-features --examples` first).
fn server_binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test's path");
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let binary = profile.join("examples/server");
    let built = std::fs::metadata(&binary).and_then(|meta| meta.modified());
    let built =
        built.unwrap_or_else(|_| panic!("{} is missing: build the examples", binary.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for source in BUILT_FROM {
        let newer = newest(&root.join(source)) > built;
        assert!(
            !newer,
            "{} is older than {source}: build the examples",
            binary.display()
        );
    }
    binary
}

fn newest(path: &Path) -> SystemTime {
    let Ok(entries) = std::fs::read_dir(path) else {
        let modified = std::fs::metadata(path).and_then(|meta| meta.modified());
        return modified.expect("a modification time");
    };
    let entries = entries.map(|entry| newest(&entry.expect("an entry").path()));
    entries.max().unwrap_or(UNIX_EPOCH)
}

/// How a hostile socket ended.
#[derive(Debug, Default)]
struct Ends {
    /// Closed with no answer (idle sockets).
    quiet: AtomicUsize,
    /// Answered 408, then closed (trickling sockets).
    timed_out: AtomicUsize,
    /// Anything else: another answer, or a reset before any.
    other: AtomicUsize,
}

/// One hostile socket: sends `head`, then one byte of `drip` every second
/// (nothing if it is empty) until the server answers or closes.
async fn hostile(stream: TcpStream, head: String, drip: &'static [u8], ends: Arc<Ends>) {
    let mut stream = stream;
    if !head.is_empty() && stream.write_all(head.as_bytes()).await.is_err() {
        ends.other.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 1024];
    let mut drops = drip.iter().cycle();
    let ended = loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(n @ 1..) => answer.extend_from_slice(&buffer[..n]),
                Ok(0) => break true,
                Err(_) => break false,
            },
            () = tokio::time::sleep(Duration::from_secs(1)), if !drip.is_empty() && answer.is_empty() => {
                let byte = *drops.next().expect("cycles");
                let _ = stream.write_all(&[byte]).await;
            }
        }
    };
    let counter = match (ended, answer.starts_with(b"HTTP/1.1 408")) {
        (true, false) if answer.is_empty() => &ends.quiet,
        (_, true) => &ends.timed_out,
        _ => &ends.other,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Opens `count` sockets, 100 connects at a time, and hands each to
/// [`hostile`] with the head and drip `kind(index)` gives.
async fn open_hostile(
    addr: std::net::SocketAddr,
    count: usize,
    kind: impl Fn(usize) -> (String, &'static [u8]),
    ends: &Arc<Ends>,
) -> JoinSet<()> {
    let mut sockets = JoinSet::new();
    for start in (0..count).step_by(100) {
        let mut connects = JoinSet::new();
        for index in start..(start + 100).min(count) {
            connects.spawn(async move { (index, TcpStream::connect(addr).await) });
        }
        while let Some(joined) = connects.join_next().await {
            let (index, stream) = joined.expect("a connect task");
            let stream = stream.expect("connect to the server");
            let (head, drip) = kind(index);
            sockets.spawn(hostile(stream, head, drip, Arc::clone(ends)));
        }
    }
    sockets
}

/// A signed GitHub `push`, posted on a fresh connection: its status and
/// how long it took (printed by the caller, never asserted).
async fn deliver(addr: std::net::SocketAddr, id: &str) -> (u16, Duration) {
    let body = r#"{"ref":"refs/heads/main"}"#;
    let event =
        webhooks::testing::github(GITHUB_SECRET, "push", body).with_header("X-GitHub-Delivery", id);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(GUARD)
        .build()
        .expect("a client");
    let mut request = client
        .post(format!("http://{addr}/webhooks/github"))
        .body(event.body().to_vec());
    for (name, value) in event.headers().iter() {
        request = request.header(name, value);
    }
    let started = Instant::now();
    let response = request.send().await.expect("the delivery is answered");
    (response.status().as_u16(), started.elapsed())
}

/// A third of the sockets say nothing, a third trickle a head, a third
/// declare a 1000-byte body and trickle it.
fn slowloris(addr: std::net::SocketAddr) -> impl Fn(usize) -> (String, &'static [u8]) {
    move |index| match index % 3 {
        0 => (String::new(), b""),
        1 => (
            format!("POST /webhooks/github HTTP/1.1\r\nHost: {addr}\r\nX-Slow: "),
            b"abcdefghij",
        ),
        _ => (
            format!(
                "POST /webhooks/github HTTP/1.1\r\nHost: {addr}\r\n\
                 X-Hub-Signature-256: sha256=00\r\nContent-Length: 1000\r\n\r\n"
            ),
            b" ",
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_idle_or_trickling_sockets_do_not_starve_a_signed_delivery() {
    const SOCKETS: usize = 5_000;
    // Long enough to open every socket before the first is cut.
    let server = ServerProcess::start("request-timeout-seconds = 20");
    let (fds_before, rss_before) = (server.fds(), server.rss_kib());
    let ends = Arc::new(Ends::default());
    let opened = Instant::now();
    let mut sockets = open_hostile(server.addr(), SOCKETS, slowloris(server.addr()), &ends).await;
    server
        .until("the server to hold every socket", |s| {
            s.fds() >= fds_before + SOCKETS
        })
        .await;
    let (fds, rss) = (server.fds(), server.rss_kib());
    let (status, latency) = deliver(server.addr(), "d-under-siege").await;
    println!(
        "{SOCKETS} sockets opened in {:?}; server fds {fds_before} -> {fds}, \
         VmRSS {rss_before} -> {rss} KiB; the signed delivery: {status} in {latency:?}",
        opened.elapsed()
    );
    assert_eq!(status, 200);
    // One descriptor per connection, and a few KiB of memory each.
    assert!(fds <= fds_before + SOCKETS + 16, "{fds} descriptors");
    let per_socket = rss.saturating_sub(rss_before) * 1024 / SOCKETS as u64;
    assert!(per_socket <= 64 * 1024, "{per_socket} bytes per socket");
    // The request timeout cuts them all: idle ones quietly, tricklers with 408.
    server
        .until("every hostile socket to be cut", |s| {
            s.fds() <= fds_before + 1
        })
        .await;
    let all_ended = tokio::time::timeout(GUARD, async {
        while sockets.join_next().await.is_some() {}
    });
    all_ended.await.expect("every hostile socket saw its end");
    let quiet = ends.quiet.load(Ordering::Relaxed);
    let timed_out = ends.timed_out.load(Ordering::Relaxed);
    let other = ends.other.load(Ordering::Relaxed);
    println!("ends: {quiet} closed quietly, {timed_out} answered 408, {other} otherwise");
    assert_eq!(
        quiet,
        SOCKETS.div_ceil(3),
        "every idle socket closed quietly"
    );
    assert_eq!(timed_out, SOCKETS - quiet, "every trickler answered 408");
    assert_eq!(other, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_new_ones_wait_and_descriptors_stay_bounded() {
    const LIMIT: usize = 100;
    let keys = format!("max-connections = {LIMIT}\nrequest-timeout-seconds = 60");
    let server = ServerProcess::start(&keys);
    let fds_before = server.fds();
    let ends = Arc::new(Ends::default());
    let idle = |_| (String::new(), &b""[..]);
    let mut sockets = open_hostile(server.addr(), 3 * LIMIT, idle, &ends).await;
    server.wait_for_line("the most max-connections allows");
    let fds = server.fds();
    println!(
        "{} idle sockets, limit {LIMIT}: server fds {fds_before} -> {fds}",
        3 * LIMIT
    );
    assert!(fds <= fds_before + LIMIT, "{fds} descriptors");
    // A delivery waits in the backlog until slots free up, then is served.
    let delivery = tokio::spawn(deliver(server.addr(), "d-after-the-crowd"));
    sockets.abort_all();
    let (status, latency) = tokio::time::timeout(GUARD, delivery)
        .await
        .expect("the delivery is answered")
        .expect("the delivery task");
    println!("the waiting delivery: {status} in {latency:?}");
    assert_eq!(status, 200);
}
