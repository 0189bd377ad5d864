//! What the command-line tests share: a real server on 127.0.0.1:0 in a
//! thread of its own, configuration files, and the `webhooks` binary run
//! as a process.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use webhooks_core::{Config, WebhookEvent, WebhookListener};

/// What a listener received: source, event type, delivery id.
pub type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// Records every event of one source; fails while `failing` is set.
struct Recorder {
    source: String,
    seen: Seen,
    failing: Arc<AtomicBool>,
}

impl WebhookListener for Recorder {
    type Error = String;

    fn source(&self) -> &str {
        &self.source
    }

    fn event(&self) -> &str {
        "*"
    }

    async fn handle(&self, event: &WebhookEvent) -> Result<(), Self::Error> {
        let seen = (
            event.source().to_owned(),
            event.event_type().to_owned(),
            event.id().to_owned(),
        );
        self.seen.lock().expect("not poisoned").push(seen);
        if self.failing.load(Ordering::SeqCst) {
            return Err("the ledger is down".into());
        }
        Ok(())
    }

    fn name(&self) -> &str {
        "recorder"
    }
}

/// A running server whose listeners record every event; dropping it shuts
/// it down.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Every event handled, in order (inline dispatch: before the answer).
    pub seen: Seen,
    /// The admin API's address, with `[webhooks.admin]`.
    pub admin: Option<SocketAddr>,
    /// While set, every listener fails.
    pub failing: Arc<AtomicBool>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Serves the configuration `text` (its `bind` is replaced by
    /// 127.0.0.1:0) until dropped.
    pub fn start(text: &str) -> Self {
        Self::start_with_admin(text, None)
    }

    /// [`TestServer::start`], with the admin API's token when the
    /// configuration has `[webhooks.admin]` (its `bind` replaced by
    /// 127.0.0.1:0 too).
    pub fn start_with_admin(text: &str, admin_token: Option<&str>) -> Self {
        let mut config = Config::from_toml(text)
            .expect("the server's configuration is valid")
            .webhooks;
        config.bind = "127.0.0.1:0".into();
        if let Some(admin) = &mut config.admin {
            admin.bind = "127.0.0.1:0".into();
        }
        let admin_token = admin_token.map(str::to_owned);
        let seen = Seen::default();
        let failing = Arc::new(AtomicBool::new(false));
        let recorders: Vec<Recorder> = config
            .sources
            .keys()
            .map(|source| Recorder {
                source: source.clone(),
                seen: seen.clone(),
                failing: Arc::clone(&failing),
            })
            .collect();
        let (shutdown, stop) = oneshot::channel::<()>();
        let (bound, addr) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async move {
                let mut server = webhooks_hyper::Server::from_config(config)
                    .configure(|builder| recorders.into_iter().fold(builder, |b, r| b.listener(r)))
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    });
                if let Some(token) = admin_token {
                    server = server.admin_token(token);
                }
                let server = server.bind().await.expect("the server binds");
                bound
                    .send((server.local_addr(), server.admin_addr()))
                    .expect("the test waits");
                server.await.expect("the server runs");
            });
        });
        let (addr, admin) = addr
            .recv_timeout(std::time::Duration::from_secs(15))
            .expect("the server is bound within 15 s");
        Self {
            addr,
            seen,
            admin,
            failing,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The webhook URL of `source`.
    pub fn url(&self, source: &str) -> String {
        format!("http://{}/webhooks/{source}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `text` to a fresh file under the target directory.
pub fn config_file(text: &str) -> PathBuf {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!(
        "cli-{}-{}.toml",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, text).expect("the file is written");
    path
}

/// What a run of `webhooks` left.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Standard output as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {self:?}"))
    }
}

/// Runs `webhooks args…` with `env` and no `WEBHOOKS_*` variable of the
/// test's own environment.
pub fn webhooks(args: &[&str], env: &[(&str, &str)]) -> Run {
    webhooks_with_input(args, env, b"")
}

/// [`webhooks`] with `input` on its standard input.
pub fn webhooks_with_input(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_webhooks"));
    command
        .args(args)
        .env_remove("WEBHOOKS_CONFIG")
        .env_remove("WEBHOOKS_BIND")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary runs");
    let mut stdin = child.stdin.take().expect("a piped stdin");
    stdin.write_all(input).expect("the input is written");
    drop(stdin);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("the binary exits");
    Run {
        code: status.code().expect("the binary exits"),
        stdout: String::from_utf8(stdout).expect("utf-8 output"),
        stderr: String::from_utf8(stderr).expect("utf-8 output"),
    }
}
