//! The ready server as its users run it: the `server` example binary as a
//! child process, configured through `WEBHOOKS_CONFIG` / `WEBHOOKS_BIND` and
//! the environment, driven over HTTP on 127.0.0.1 and stopped with SIGTERM.
//!
//! `cargo test` builds the examples; the binary is looked up next to this
//! test's own executable. Unix only: the tests send SIGTERM with `kill`.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use webhooks::testing::{self, SignedEvent};

/// Upper bound of every wait, only so that a broken server cannot hang the
/// suite: start-up, exit, and the end of the output.
const WAIT: Duration = Duration::from_secs(60);

/// What an example binary is built from besides its own file, under the
/// package root.
const BUILT_FROM: &str = "src webhooks-core/src webhooks-hyper/src webhooks-macros/src";
/// The built-in development secrets (webhooks-hyper/src/dev.rs).
const DEV_SECRETS: [&str; 2] = ["whsec_development_only", "development-only"];
const PAYMENT: &str = r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":100}}}"#;
/// The three sources the example's listeners need.
const SOURCES: &str = r#"
[webhooks.sources.stripe]
validator = "stripe"
secret = "whsec_file_secret_test"

[webhooks.sources.github]
validator = "github"
secret-env = "SERVER_PROCESS_GITHUB_SECRET"

[webhooks.sources.partner]
validator = "hmac"
secret = "partner-file-secret-test"
"#;
const STRIPE_SECRET: &str = "whsec_file_secret_test";
const PARTNER_SECRET: &str = "partner-file-secret-test";
const GITHUB_ENV: &str = "SERVER_PROCESS_GITHUB_SECRET";
const GITHUB_SECRET: &str = "github-env-secret-test";

/// A file or directory under the temp dir, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(kind: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("webhooks-server-process-{}-{n}-{kind}", std::process::id());
        Self(std::env::temp_dir().join(name))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running example; killed on drop whatever happened.
struct Server {
    child: Child,
    port: u16,
    lines: Receiver<String>,
    output: Vec<String>,
    _files: Vec<TempPath>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example `name` next to this test. `cargo test` builds it, but
/// `cargo test --test server_process` alone does not: a binary older than its
/// sources is refused rather than tested.
fn example_binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test's own path");
    // …/target/debug/deps/server_process-xxxx → …/target/debug/examples/<name>
    let profile = test.parent().and_then(Path::parent);
    let binary = profile
        .expect("target/<profile>")
        .join("examples")
        .join(name);
    let (shown, build) = (binary.display(), "run `cargo build --examples` first");
    let built = std::fs::metadata(&binary).and_then(|meta| meta.modified());
    let built = built.unwrap_or_else(|_| panic!("{shown} is missing: {build}"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let own = format!("examples/{name}.rs");
    for source in BUILT_FROM.split(' ').chain([own.as_str()]) {
        let newer = newest(&root.join(source)) > built;
        assert!(!newer, "{shown} is older than {source}: {build}");
    }
    binary
}

/// The latest modification time of `path` or of any file under it.
fn newest(path: &Path) -> SystemTime {
    let Ok(entries) = std::fs::read_dir(path) else {
        let modified = std::fs::metadata(path).and_then(|meta| meta.modified());
        return modified.expect("a modification time");
    };
    let entries = entries.map(|entry| newest(&entry.expect("a dir entry").path()));
    entries.max().unwrap_or(UNIX_EPOCH)
}

fn forward(stream: impl Read + Send + 'static, lines: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).split(b'\n').map_while(Result::ok) {
            let _ = lines.send(String::from_utf8_lossy(&line).into_owned());
        }
    });
}

impl Server {
    /// Starts the `server` example in a fresh empty directory (no
    /// `./webhooks.toml`), with `config` as `WEBHOOKS_CONFIG` when given,
    /// else the built-in development configuration.
    fn spawn(config: Option<&str>, env: &[(&str, &str)]) -> Self {
        Self::spawn_example("server", config, env)
    }

    /// [`Server::spawn`] for the example `name`.
    fn spawn_example(name: &str, config: Option<&str>, env: &[(&str, &str)]) -> Self {
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = free.local_addr().expect("a local address").port();
        drop(free);
        let dir = TempPath::new("cwd");
        std::fs::create_dir(&dir.0).expect("create the temp working dir");
        let mut command = Command::new(example_binary(name));
        command
            .current_dir(&dir.0)
            .env("WEBHOOKS_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("WEBHOOKS_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for source in ["STRIPE", "GITHUB", "PARTNER"] {
            command.env_remove(format!("{source}_WEBHOOK_SECRET"));
        }
        let mut files = vec![dir];
        if let Some(text) = config {
            let file = TempPath::new("config.toml");
            std::fs::write(&file.0, text).expect("write the temp config");
            command.env("WEBHOOKS_CONFIG", &file.0);
            files.push(file);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("start the example");
        let (sender, lines) = mpsc::channel();
        forward(child.stdout.take().expect("piped stdout"), sender.clone());
        forward(child.stderr.take().expect("piped stderr"), sender);
        let output = Vec::new();
        Self {
            child,
            port,
            lines,
            output,
            _files: files,
        }
    }

    /// Like `spawn`, then waits until it logs that it listens.
    fn start(config: Option<&str>, env: &[(&str, &str)]) -> Self {
        let mut server = Self::spawn(config, env);
        let listening = format!("listening on http://127.0.0.1:{}", server.port);
        let found = server.read_until(Some(&listening));
        assert!(found, "it exited before `{listening}`:\n{}", server.text());
        server
    }

    /// Collects output until a line contains `needle` (true) or the output
    /// ends (false); bounded.
    fn read_until(&mut self, needle: Option<&str>) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = needle.is_some_and(|needle| line.contains(needle));
                    self.output.push(line);
                    if found {
                        return true;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return false,
                Err(RecvTimeoutError::Timeout) => panic!("{needle:?} timed out:\n{}", self.text()),
            }
        }
    }

    fn text(&self) -> String {
        self.output.join("\n")
    }

    /// Asserts that an output line contains every one of `parts`.
    fn line_with(&self, parts: &[&str]) {
        let mut lines = self.output.iter();
        let found = lines.any(|line| parts.iter().all(|part| line.contains(part)));
        assert!(found, "no line with {parts:?} in:\n{}", self.text());
    }

    /// Waits (bounded) for the output to end and the process to exit.
    fn wait_exit(&mut self) -> ExitStatus {
        self.read_until(None);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("still running after {WAIT:?}:\n{}", self.text());
    }

    /// SIGTERM, then waits for the exit.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(kill.expect("run kill").success(), "kill -TERM {pid} failed");
        self.wait_exit()
    }

    /// SIGTERM; asserts a clean exit, and that no line holds a secret.
    fn stop(&mut self, secrets: &[&str]) {
        let status = self.terminate();
        let text = self.text();
        assert!(status.success(), "{status} after SIGTERM:\n{text}");
        for secret in secrets {
            assert!(!text.contains(secret), "a secret, {secret:?}, in:\n{text}");
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn post(&self, source: &str, headers: &[(String, String)], body: &str) -> (u16, String) {
        let url = self.url(&format!("/webhooks/{source}"));
        let mut request = client().post(url).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        answer(request).await
    }

    async fn get(&self, path: &str) -> (u16, String) {
        answer(client().get(self.url(path))).await
    }

    /// `/metrics` counts one handled run for each `(source, event type,
    /// listener, outcome)`; a `#[webhook_listener]` function's listener
    /// label is its path, `server::<function>` in the example.
    async fn assert_handled_once(&self, runs: &[(&str, &str, &str, &str)]) {
        let (status, metrics) = self.get("/metrics").await;
        assert_eq!(status, 200);
        for (source, event_type, listener, outcome) in runs {
            // The prometheus crate prints the labels sorted by name.
            let labels = format!(
                r#"event_type="{event_type}",listener="{listener}",outcome="{outcome}",source="{source}""#
            );
            let line = format!("webhooks_handled_total{{{labels}}} 1");
            assert!(metrics.lines().any(|l| l == line), "{line}?\n{metrics}");
        }
    }
}

/// Starts the example with `config`, which must make start-up fail; the output.
fn start_up_error(config: &str) -> String {
    refused_to_start(Server::spawn(Some(config), &[(GITHUB_ENV, GITHUB_SECRET)]))
}

/// Waits for `server` to exit, which it must do with a failure before it
/// listens; its output.
fn refused_to_start(mut server: Server) -> String {
    let status = server.wait_exit();
    let output = server.text();
    assert!(!status.success(), "started:\n{output}");
    assert!(!output.contains("listening on"), "{output}");
    output
}

fn client() -> reqwest::Client {
    let client = reqwest::Client::builder().no_proxy().timeout(WAIT);
    client.build().expect("an HTTP client")
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("an HTTP answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("the answer's body"))
}

/// The 200 answer for a recorded event.
fn ok(status: &str, id: &str) -> (u16, String) {
    (200, format!(r#"{{"status":"{status}","id":"{id}"}}"#))
}

/// The headers of an event signed by `webhooks::testing`, to send with any body.
fn headers(event: &SignedEvent) -> Vec<(String, String)> {
    event
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = std::str::from_utf8(value).expect("signed headers are ASCII");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn stripe_signed(secret: &str, body: &str) -> Vec<(String, String)> {
    headers(&testing::stripe(secret, body))
}

fn github_signed(event: &str, delivery: &str, body: &str) -> Vec<(String, String)> {
    headers(&testing::github(GITHUB_SECRET, event, body).with_header("X-GitHub-Delivery", delivery))
}

#[tokio::test]
async fn development_config_names_its_sources_and_secret_origins_never_the_secrets() {
    let mut server = Server::start(None, &[]);
    for source in ["stripe", "github", "partner"] {
        let var = format!("{}_WEBHOOK_SECRET", source.to_uppercase());
        let named = format!("development source {source}:");
        server.line_with(&[&named, "the built-in development secret", &var]);
    }
    // The hint names the address listened on, after WEBHOOKS_BIND.
    let hint = format!("curl -i http://127.0.0.1:{}/webhooks/partner", server.port);
    server.line_with(&[&hint]);
    let signed = stripe_signed(DEV_SECRETS[0], PAYMENT);
    let answer = server.post("stripe", &signed, PAYMENT).await;
    assert_eq!(answer, ok("accepted", "evt_1"));
    server.stop(&DEV_SECRETS);
    // There is no configuration file to name as the secrets' origin.
    let text = server.text();
    assert!(!text.contains("the configuration file"), "{text}");

    let from_env = "whsec_from_env_test";
    let mut server = Server::start(None, &[("STRIPE_WEBHOOK_SECRET", from_env)]);
    let stripe = "development source stripe:";
    server.line_with(&[stripe, "environment variable STRIPE_WEBHOOK_SECRET"]);
    server.line_with(&[
        "development source github:",
        "the built-in development secret",
    ]);
    let signed = stripe_signed(from_env, PAYMENT);
    let answer = server.post("stripe", &signed, PAYMENT).await;
    assert_eq!(answer, ok("accepted", "evt_1"));
    let answer = server.post("stripe", &signed, PAYMENT).await;
    assert_eq!(answer, ok("duplicate", "evt_1"));
    let tampered = PAYMENT.replace("100", "100000");
    assert_eq!(server.post("stripe", &signed, &tampered).await.0, 401);
    // The variable replaces the development secret.
    let other = PAYMENT.replace("evt_1", "evt_2");
    let old = stripe_signed(DEV_SECRETS[0], &other);
    assert_eq!(server.post("stripe", &old, &other).await.0, 401);
    let handled = (
        "stripe",
        "payment_intent.succeeded",
        "server::payment_succeeded",
        "ok",
    );
    server.assert_handled_once(&[handled]).await;
    server.stop(&[from_env, DEV_SECRETS[0], DEV_SECRETS[1]]);
    server.line_with(&["payment succeeded", "evt_1"]);
}

#[tokio::test]
async fn a_config_file_routes_events_to_the_examples_listeners() {
    let config = format!("[webhooks]\nbind = \"127.0.0.1:9\"\n{SOURCES}");
    let mut server = Server::start(Some(&config), &[(GITHUB_ENV, GITHUB_SECRET)]);
    let from_env = format!("secret from environment variable {GITHUB_ENV}");
    server.line_with(&["source github:", &from_env]);
    server.line_with(&["source stripe:", "secret from the configuration file"]);

    let push = r#"{"ref":"refs/heads/main"}"#;
    let answer = server
        .post("github", &github_signed("push", "d-push", push), push)
        .await;
    assert_eq!(answer, ok("accepted", "d-push"));
    for (delivery, action) in [("d-opened", "opened"), ("d-closed", "closed")] {
        let issue = format!(r#"{{"action":"{action}","issue":{{"title":"t"}}}}"#);
        let signed = github_signed("issues", delivery, &issue);
        let answer = server.post("github", &signed, &issue).await;
        assert_eq!(answer, ok("accepted", delivery));
    }
    let order = r#"{"type":"order.created","id":"o1"}"#;
    let signed = headers(&testing::hmac(PARTNER_SECRET, order).with_header("X-Event-Id", "ord-1"));
    let answer = server.post("partner", &signed, order).await;
    assert_eq!(answer, ok("accepted", "ord-1"));

    server
        .assert_handled_once(&[
            ("github", "push", "server::pushed", "ok"),
            ("github", "issues.opened", "server::issue_opened", "ok"),
            ("github", "issues.closed", "", "ignored"),
            ("partner", "order.created", "server::partner_event", "ok"),
        ])
        .await;
    server.stop(&[GITHUB_SECRET, PARTNER_SECRET, STRIPE_SECRET]);
    server.line_with(&["partner event", "ord-1"]);
}

#[tokio::test]
async fn sigterm_stops_it_gracefully_with_status_0() {
    let mut server = Server::start(None, &[]);
    assert_eq!(server.get("/healthz").await.0, 200);
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{}", server.text());
    server.line_with(&["shutting down"]);
    server.line_with(&["stopped"]);
}

#[test]
fn the_development_config_refuses_a_non_loopback_address() {
    let server = Server::spawn(None, &[("WEBHOOKS_BIND", "0.0.0.0:0")]);
    let output = refused_to_start(server);
    assert!(
        output.contains("loopback addresses only, not 0.0.0.0:0"),
        "{output}"
    );
    assert!(output.contains("WEBHOOKS_CONFIG"), "{output}");
    // It still said where each secret comes from, and never a secret.
    let named = "development source github:";
    assert!(output.contains(named), "{output}");
    for secret in DEV_SECRETS {
        assert!(!output.contains(secret), "{output}");
    }
}

/// The `poison` example serves with the library's `Server::from_env()`,
/// as an application would: without a file it must not fall back to the
/// development configuration and its published secrets.
#[test]
fn the_librarys_from_env_without_a_file_is_a_start_up_error_naming_webhooks_config() {
    let output = refused_to_start(Server::spawn_example("poison", None, &[]));
    assert!(output.contains("no configuration file"), "{output}");
    assert!(output.contains("set WEBHOOKS_CONFIG"), "{output}");
    assert!(!output.contains("development source"), "{output}");
}

#[test]
fn an_unknown_key_is_a_start_up_error_naming_it() {
    let output = start_up_error(&format!("[webhooks]\nmax-body-byte = 5\n{SOURCES}"));
    assert!(output.contains("max-body-byte"), "{output}");
}

#[test]
fn a_toml_error_is_located_without_printing_the_line_that_holds_a_secret() {
    let live = "whsec_live_abc";
    let unquoted = format!("[webhooks.sources.billing]\nvalidator = \"stripe\"\nsecret = {live}\n");
    let output = start_up_error(&format!("{unquoted}{SOURCES}"));
    assert!(!output.contains(live), "{output}");
    assert!(output.contains("line 3, column 10"), "{output}");
    // A misspelled key on the same line as a secret: named, the line not shown.
    let billing =
        format!("billing = {{ validator = \"stripe\", secret = \"{live}\", secert = \"x\" }}");
    let output = start_up_error(&format!("{SOURCES}[webhooks.sources]\n{billing}\n"));
    assert!(!output.contains(live), "{output}");
    assert!(
        output.contains("`webhooks.sources.billing.secert`"),
        "{output}"
    );
    let line = SOURCES.lines().count() + 2;
    let column = billing.find("secert").expect("the misspelled key") + 1;
    let at = format!("line {line}, column {column}");
    assert!(output.contains(&at), "{at}?\n{output}");
}

#[test]
fn a_source_without_a_secret_is_a_start_up_error_naming_the_key() {
    let billing = "[webhooks.sources.billing]\nvalidator = \"stripe\"\n";
    let output = start_up_error(&format!("{SOURCES}{billing}"));
    assert!(
        output.contains("webhooks.sources.billing.secret"),
        "{output}"
    );
}

/// Values that would break something are refused before the server listens,
/// each naming its key: an empty secret (a key anybody has), a tolerance of
/// 0 (nothing verifies), a Cluster hash tag in the key prefix (every key in
/// one slot), a TTL that overflows Redis's `PX`.
#[test]
fn unusable_values_are_start_up_errors_naming_their_key() {
    let billing = "[webhooks.sources.billing]\nvalidator = \"stripe\"\n";
    let cases = [
        (
            format!("{billing}secret = \"\"\n"),
            "webhooks.sources.billing.secret",
        ),
        (
            format!("{billing}secret = \"whsec_x\"\ntolerance-seconds = 0\n"),
            "webhooks.sources.billing.tolerance-seconds",
        ),
        (
            "[webhooks.idempotency.redis]\nurl = \"redis://127.0.0.1:1/0\"\nkey-prefix = \"{webhooks}:\"\n".to_owned(),
            "webhooks.idempotency.redis.key-prefix",
        ),
        (
            "[webhooks.idempotency]\nttl-seconds = 9300000000000000\n".to_owned(),
            "webhooks.idempotency.ttl-seconds",
        ),
    ];
    for (table, key) in cases {
        let output = start_up_error(&format!("{SOURCES}{table}"));
        assert!(output.contains(key), "{table}: {output}");
    }
}

#[test]
fn a_listener_for_an_unconfigured_source_is_a_start_up_error() {
    let without_partner = SOURCES.split("[webhooks.sources.partner]").next();
    let output = start_up_error(without_partner.expect("the sources before partner"));
    assert!(output.contains("source `partner`"), "{output}");
}

#[tokio::test]
async fn validator_none_starts_and_warns() {
    let config = format!("{SOURCES}[webhooks.sources.open]\nvalidator = \"none\"\n");
    let mut server = Server::start(Some(&config), &[(GITHUB_ENV, GITHUB_SECRET)]);
    server.line_with(&["WARN", "source open", "NOT verified"]);
    assert_eq!(server.post("open", &[], r#"{"type":"any"}"#).await.0, 200);
    server.stop(&[]);
}

#[tokio::test]
async fn disabled_mounts_no_webhook_route() {
    let config = format!("[webhooks]\nenabled = false\n{SOURCES}");
    let mut server = Server::start(Some(&config), &[(GITHUB_ENV, GITHUB_SECRET)]);
    server.line_with(&["enabled = false"]);
    let signed = stripe_signed(STRIPE_SECRET, PAYMENT);
    assert_eq!(server.post("stripe", &signed, PAYMENT).await.0, 404);
    assert_eq!(server.get("/healthz").await.0, 200);
    server.stop(&[]);
}

#[cfg(not(feature = "redis"))]
#[test]
fn the_redis_provider_without_the_feature_is_a_start_up_error() {
    let store = "[webhooks.idempotency]\nprovider = \"redis\"\n\n[webhooks.idempotency.redis]\n";
    let output = start_up_error(&format!(
        "{store}url = \"redis://127.0.0.1:1/0\"\n{SOURCES}"
    ));
    assert!(output.contains("`redis` feature"), "{output}");
}

/// `WEBHOOKS__…` variables set any key over the file's, by one rule; a
/// `secret-file` is read at start-up without its trailing newline, and
/// `secrets-env` accepts each of its variables' secrets.
#[tokio::test]
async fn environment_variables_and_a_secret_file_override_the_file() {
    let mounted = "whsec_mounted_file_secret_test";
    let secret_file = TempPath::new("stripe-secret");
    std::fs::write(&secret_file.0, format!("{mounted}\n")).expect("write the secret file");
    let path = secret_file.0.to_str().expect("a UTF-8 temp path");
    let (new, old) = ("partner-new-secret-test", "partner-old-secret-test");
    let env = [
        (GITHUB_ENV, GITHUB_SECRET),
        ("WEBHOOKS__SOURCES__STRIPE__SECRET_FILE", path),
        ("WEBHOOKS__MAX_BODY_BYTES", "1024"),
        ("PARTNER_NEW_TEST", new),
        ("PARTNER_OLD_TEST", old),
        (
            "WEBHOOKS__SOURCES__PARTNER__SECRETS_ENV",
            r#"["PARTNER_NEW_TEST", "PARTNER_OLD_TEST"]"#,
        ),
    ];
    let mut server = Server::start(Some(SOURCES), &env);
    let overrides = "keys set by WEBHOOKS_BIND, WEBHOOKS__MAX_BODY_BYTES, \
                     WEBHOOKS__SOURCES__PARTNER__SECRETS_ENV, WEBHOOKS__SOURCES__STRIPE__SECRET_FILE";
    server.line_with(&["configuration from", overrides]);
    server.line_with(&["source stripe:", &format!("secret from file {path}")]);
    let partner = "secret from environment variables PARTNER_NEW_TEST, PARTNER_OLD_TEST";
    server.line_with(&["source partner:", partner]);

    let signed = stripe_signed(mounted, PAYMENT);
    let answer = server.post("stripe", &signed, PAYMENT).await;
    assert_eq!(answer, ok("accepted", "evt_1"));
    // The variable replaced the file's `secret`.
    let other = PAYMENT.replace("evt_1", "evt_2");
    let replaced = stripe_signed(STRIPE_SECRET, &other);
    assert_eq!(server.post("stripe", &replaced, &other).await.0, 401);
    // WEBHOOKS__MAX_BODY_BYTES over the default of 1 MiB.
    let large = format!(r#"{{"id":"evt_3","pad":"{}"}}"#, "x".repeat(2000));
    let signed = stripe_signed(mounted, &large);
    assert_eq!(server.post("stripe", &signed, &large).await.0, 413);
    for (secret, id) in [(new, "ord-new"), (old, "ord-old")] {
        let order = r#"{"type":"order.created"}"#;
        let signed = headers(&testing::hmac(secret, order).with_header("X-Event-Id", id));
        assert_eq!(
            server.post("partner", &signed, order).await,
            ok("accepted", id)
        );
    }
    server.stop(&[mounted, new, old, GITHUB_SECRET]);
}

/// An override's bad value, an empty secret file and an unset `url-env`
/// variable stop the start-up with an error naming the key and where its
/// value came from, never the value.
#[test]
fn environment_errors_name_the_key_and_the_variable() {
    let empty = TempPath::new("empty-secret");
    std::fs::write(&empty.0, "\n").expect("write the empty secret file");
    let empty_path = empty.0.to_str().expect("a UTF-8 temp path");
    let cases = [
        (
            vec![("WEBHOOKS__DISPATCH__MODE", "whsec_later")],
            "`webhooks.dispatch.mode`: unknown value, expected `inline` or `queued` \
             (from environment variable WEBHOOKS__DISPATCH__MODE)"
                .to_owned(),
        ),
        (
            vec![("WEBHOOKS__DISPATCH__MOED", "queued")],
            "`webhooks.dispatch.moed`: unknown field `moed`".to_owned(),
        ),
        (
            vec![("WEBHOOKS__SOURCES__PARTNER__SECRET_FILE", empty_path)],
            format!("`webhooks.sources.partner.secret-file`: secret file {empty_path}: empty"),
        ),
        (
            vec![
                ("WEBHOOKS__IDEMPOTENCY__PROVIDER", "redis"),
                (
                    "WEBHOOKS__IDEMPOTENCY__REDIS__URL_ENV",
                    "SERVER_PROCESS_UNSET_REDIS_URL",
                ),
            ],
            "`webhooks.idempotency.redis.url-env`: environment variable \
             SERVER_PROCESS_UNSET_REDIS_URL is not set or empty"
                .to_owned(),
        ),
    ];
    for (vars, expected) in cases {
        let mut env = vec![(GITHUB_ENV, GITHUB_SECRET)];
        env.extend(vars);
        let output = refused_to_start(Server::spawn(Some(SOURCES), &env));
        assert!(
            output.contains(&format!("error: invalid configuration: {expected}")),
            "{expected}?\n{output}"
        );
        assert!(!output.contains("whsec_later"), "{output}");
    }
}
