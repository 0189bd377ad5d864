//! What the Redis tests share: a private `redis-server` (or a three-node
//! cluster) of the test's own on a free loopback port, stopped when the test
//! ends, and the one store suite that every idempotency store must pass.
//!
//! Never the machine's Redis on 6379: each server here is started by the
//! test, without persistence, and killed (`kill -9`) on drop, so a test can
//! also stop, pause or restart it to cause an outage.
#![allow(dead_code, unreachable_pub)]

pub mod server;
pub mod suite;

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Upper bound of every wait for a server: start-up, cluster forming. Only a
/// hang guard, never an assertion about how long something took.
pub const START_WAIT: Duration = Duration::from_secs(10);
/// How long a cluster may take to agree on its slots.
pub const CLUSTER_WAIT: Duration = Duration::from_secs(30);

const INSTALL: &str = "install it: apt-get install redis-server";

/// A directory under the temp dir, unique to this process and call, removed
/// on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(kind: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("webhooks-redis-test-{}-{n}-{kind}", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        Self(path)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("a local address").port();
    drop(listener);
    assert_ne!(port, 6379, "never the machine's own Redis");
    port
}

/// A `redis-server` of this test's own on 127.0.0.1, without persistence.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    extra: Vec<String>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`RedisServer::start`], with further `redis-server` arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        let extra: Vec<String> = extra.iter().map(|arg| (*arg).to_owned()).collect();
        // The free port may be taken between its probe and the server's bind:
        // then the server exits at once, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                port,
                child: None,
                extra: extra.clone(),
                dir: TempDir::new("server"),
            };
            if server.spawn_and_wait() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (`kill -9`, as a crash or a lost node would) and
    /// waits for it to be gone. Nothing it held survives: it persists nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        let started = (0..5).any(|_| self.spawn_and_wait());
        assert!(
            started,
            "redis-server did not restart on port {}:\n{}",
            self.port,
            self.log()
        );
    }

    /// Freezes the server (`SIGSTOP`): connections stay open and nothing
    /// answers, as with a hung node or a network partition.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().expect("the server runs");
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {pid}: {status}");
    }

    /// Runs `redis-cli` against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// Spawns the server on `self.port`; whether it answered `PING` in time.
    fn spawn_and_wait(&mut self) -> bool {
        let port = self.port.to_string();
        let mut args: Vec<String> = [
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect();
        args.push("--dir".into());
        args.push(self.dir.path().display().to_string());
        args.push("--logfile".into());
        args.push(self.dir.path().join("redis.log").display().to_string());
        args.extend(self.extra.iter().cloned());
        let child = spawn_redis_server(&args);
        self.child = Some(child);
        let deadline = Instant::now() + START_WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.exited() {
                // Most likely the port was taken meanwhile.
                eprintln!(
                    "redis-server on port {port} exited: {status}\n{}",
                    self.log()
                );
                self.child = None;
                return false;
            }
            if ping(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        panic!(
            "redis-server on port {port} did not answer PING within {START_WAIT:?}:\n{}",
            self.log()
        );
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A paused server must be able to die: SIGKILL works on a stopped
            // process, but continue it anyway so nothing is left frozen.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(self.pid().unwrap_or(0).to_string())
                .stderr(Stdio::null())
                .status();
        }
        self.stop();
    }
}

/// Spawns `redis-server` with `args`, failing the test with the way to
/// install it when it is not on the PATH.
fn spawn_redis_server(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                panic!("redis-server is not on the PATH; {INSTALL}");
            }
            panic!("could not start redis-server: {error}");
        })
}

/// Whether a server on `port` answers `PING` with `PONG` (a raw RESP
/// exchange, bounded by short timeouts).
pub fn ping(port: u16) -> bool {
    use std::io::Write;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    let mut read = 0;
    while read < answer.len() {
        match stream.read(&mut answer[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    &answer[..read] == b"+PONG\r\n"
}

/// Runs `redis-cli -p <port> <args>` (bounded) and returns its stdout.
pub fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = run_bounded(
        Command::new("redis-cli")
            .arg("-h")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string())
            .args(args),
        START_WAIT,
    );
    assert!(
        output.status.success(),
        "redis-cli -p {port} {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `command` to its end, killing it if it takes longer than `limit`.
fn run_bounded(command: &mut Command, limit: Duration) -> std::process::Output {
    let shown = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                panic!("{shown}: not on the PATH; {INSTALL}");
            }
            panic!("{shown}: {error}");
        });
    // Read the pipes on threads, so a chatty child cannot block on them.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stdout.read_to_end(&mut buffer);
        buffer
    });
    let err = std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stderr.read_to_end(&mut buffer);
        buffer
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{shown} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// A Redis Cluster of primaries only, each a [`RedisServer`] of this test's
/// own with `cluster-enabled`, its slots split evenly by
/// `redis-cli --cluster create`.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `size` (at least 3) nodes, forms the cluster and waits until
    /// every node reports `cluster_state:ok`.
    pub fn start(size: usize) -> Self {
        assert!(size >= 3, "a Redis Cluster needs at least three primaries");
        let nodes: Vec<RedisServer> = (0..size)
            .map(|_| {
                // Each node's config file lives in its own temp dir (`--dir`).
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let mut create = Command::new("redis-cli");
        create
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"]);
        let output = run_bounded(&mut create, CLUSTER_WAIT);
        assert!(
            output.status.success(),
            "redis-cli --cluster create {addresses:?}: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok();
        cluster
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + CLUSTER_WAIT;
        loop {
            let ok = self
                .nodes
                .iter()
                .filter(|node| node.pid().is_some())
                .all(|node| {
                    node.cli(&["cluster", "info"])
                        .lines()
                        .any(|line| line.trim() == "cluster_state:ok")
                });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach cluster_state:ok within {CLUSTER_WAIT:?}:\n{}",
                self.nodes[0].cli(&["cluster", "info"])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills node `index` (`kill -9`).
    pub fn stop_node(&mut self, index: usize) {
        self.nodes[index].stop();
    }

    /// Starts node `index` again on its port, with its cluster config file
    /// (so it rejoins with the same id and slots, but empty), and waits
    /// until the cluster is ok again.
    pub fn restart_node(&mut self, index: usize) {
        self.nodes[index].restart();
        self.wait_until_ok();
    }

    /// `redis://127.0.0.1:<port>` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("redis://127.0.0.1:{}", node.port()))
            .collect()
    }

    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}

/// Every key of the server on `port` that starts with `prefix`, sorted
/// (`redis-cli --scan`).
pub fn keys(port: u16, prefix: &str) -> Vec<String> {
    let pattern = format!("{prefix}*");
    let mut keys: Vec<String> = redis_cli(port, &["--scan", "--pattern", &pattern])
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

/// The key's remaining time to live in milliseconds (`PTTL`: -1 for no
/// expiry, -2 for no such key).
pub fn pttl(port: u16, key: &str) -> i64 {
    let answer = redis_cli(port, &["PTTL", key]);
    answer
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("PTTL {key}: {answer:?}"))
}

/// The example `name` (`server`, `poison`) next to the running test
/// (`…/target/<profile>/deps/<test>-x` → `…/target/<profile>/examples/<name>`),
/// for tests that run it as a child process with the `redis` feature.
///
/// `cargo test --all-features` builds the examples, but `cargo test --test
/// <one>` alone does not: a binary that is missing, built without the `redis`
/// feature, or older than a source it was built from (cargo's dep-info file
/// next to it lists them) is refused, with the command that builds it.
pub fn example_binary(name: &str) -> PathBuf {
    let build = format!(
        "run `cargo build --all-features --example {name}` first \
         (or the whole `cargo test --all-features`)"
    );
    let test = std::env::current_exe().expect("the test's own path");
    let examples = test
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test runs from target/<profile>/deps")
        .join("examples");
    let binary = examples.join(name);
    let shown = binary.display();
    let built = std::fs::metadata(&binary)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|_| panic!("the {name} example {shown} is missing: {build}"));
    let dep_info = std::fs::read_to_string(examples.join(format!("{name}.d")))
        .unwrap_or_else(|_| panic!("no dep-info next to {shown}: {build}"));
    let sources = built_from(&dep_info);
    assert!(
        sources
            .iter()
            .any(|source| source.contains("webhooks-redis")),
        "the {name} example {shown} was built without the `redis` feature: {build}"
    );
    for source in &sources {
        let modified = std::fs::metadata(source).and_then(|meta| meta.modified());
        // A source that is gone, or newer than the binary: not what it runs.
        assert!(
            modified.is_ok_and(|modified| modified <= built),
            "the {name} example {shown} is older than {source}: {build}"
        );
    }
    binary
}

/// The files of the first rule of a Makefile-style dep-info file
/// (`target: a.rs b.rs …`, spaces in names escaped as `\ `).
fn built_from(dep_info: &str) -> Vec<String> {
    let rule = dep_info.lines().next().unwrap_or_default();
    let Some((_, files)) = rule.split_once(": ") else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut name = String::new();
    let mut chars = files.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => name.extend(chars.next()),
            ' ' => names.extend((!name.is_empty()).then(|| std::mem::take(&mut name))),
            c => name.push(c),
        }
    }
    names.extend((!name.is_empty()).then_some(name));
    names
}

/// One `#[tokio::test]` per case of a backend suite, each against a fresh
/// backend from `$make` and bounded by the suite's `CASE_LIMIT`: what
/// `for_each_case!(backend_tests!(make))` expands to in the queue and the
/// event log suites.
#[allow(unused_macros, reason = "only the backend suites use it")]
macro_rules! backend_tests {
    ($make:path ; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let backend = $make().await;
                tokio::time::timeout(super::CASE_LIMIT, super::$case(&backend))
                    .await
                    .unwrap_or_else(|_| panic!("{} hung", stringify!($case)));
            }
        )*
    };
}
