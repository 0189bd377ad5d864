//! `webhooks events …` and `webhooks dead …` against the real server's
//! admin API: the new user's first hour (send, see it succeed, see a
//! failure go dead, replay it after the fix), bulk replays, the exit codes.
//!
//! Waits are bounded (hang guards); nothing asserts how long anything took.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Run, TestServer, config_file, webhooks};
use serde_json::Value;

const STRIPE: &str = "whsec_cli_admin_test_Vb81";
const TOKEN: &str = "cli-admin-token-0123456789abcdef";
const PATIENCE: Duration = Duration::from_secs(15);

fn config() -> String {
    format!(
        r#"
[webhooks]
bind = "127.0.0.1:0"

[webhooks.dispatch]
mode = "queued"
max-attempts = 2
backoff-initial-ms = 10

[webhooks.admin]
bind = "127.0.0.1:0"
token-env = "CLI_TEST_ADMIN_TOKEN"

[webhooks.sources.stripe]
validator = "stripe"
secret = "{STRIPE}"
"#
    )
}

struct Fixture {
    server: TestServer,
    file: String,
    admin_url: String,
}

impl Fixture {
    fn start() -> Self {
        let text = config();
        let server = TestServer::start_with_admin(&text, Some(TOKEN));
        let admin_url = format!("http://{}", server.admin.expect("an admin listener"));
        let file = config_file(&text).display().to_string();
        Self {
            server,
            file,
            admin_url,
        }
    }

    /// `webhooks --config F --admin-url U args…`, the token in its variable.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with_token(args, TOKEN)
    }

    fn run_with_token(&self, args: &[&str], token: &str) -> Run {
        let mut all = vec!["--config", &self.file, "--admin-url", &self.admin_url];
        all.extend_from_slice(args);
        webhooks(&all, &[("CLI_TEST_ADMIN_TOKEN", token)])
    }

    /// `webhooks send stripe --event TYPE`, its id.
    fn send(&self) -> String {
        let url = self.server.url("stripe");
        let args = [
            "--config",
            &self.file,
            "--json",
            "send",
            "stripe",
            "--event",
            "payment_intent.succeeded",
            "--url",
            &url,
        ];
        let sent = webhooks(&args, &[]);
        assert_eq!(sent.code, 0, "{sent:?}");
        let answer = sent.json()["answer"].clone();
        assert_eq!(answer["status"], "accepted", "{sent:?}");
        answer["id"].as_str().unwrap().to_owned()
    }

    /// Polls `events show` until the event is in `status`; its record.
    fn until(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let shown = self.run(&["--json", "events", "show", "stripe", id]);
            if shown.code == 0 && shown.json()["status"] == status {
                return shown.json();
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {status}: {shown:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn send_see_it_succeed_see_a_failure_die_and_replay_it_after_the_fix() {
    let fixture = Fixture::start();
    let ok = fixture.send();
    let record = fixture.until(&ok, "succeeded");
    assert_eq!(record["type"], "payment_intent.succeeded");
    assert_eq!(record["listeners"][0]["listener"], "recorder");
    assert_eq!(record["listeners"][0]["ok"], true);

    let table = fixture.run(&["events", "list"]);
    assert_eq!(table.code, 0, "{table:?}");
    assert!(table.stdout.starts_with("RECEIVED"), "{}", table.stdout);
    let line = table.stdout.lines().find(|l| l.contains(&ok)).unwrap();
    assert!(
        line.contains("succeeded") && line.contains("recorder ok"),
        "{line}"
    );

    fixture.server.failing.store(true, Ordering::SeqCst);
    let bad = fixture.send();
    let dead = fixture.until(&bad, "dead");
    assert_eq!(dead["attempts"], 2);
    assert!(
        dead["error"]
            .as_str()
            .unwrap()
            .contains("the ledger is down"),
        "{dead}"
    );
    let letters = fixture.run(&["dead", "list"]);
    assert!(
        letters.stdout.contains(&bad) && letters.stdout.contains("the ledger is down"),
        "{letters:?}"
    );
    let shown = fixture.run(&["events", "show", "stripe", &bad]);
    assert!(
        shown.stdout.contains("status        dead"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("\"object\": \"event\""),
        "the body, pretty: {}",
        shown.stdout
    );

    fixture.server.failing.store(false, Ordering::SeqCst);
    let replayed = fixture.run(&["events", "replay", "stripe", &bad]);
    assert_eq!(replayed.code, 0, "{replayed:?}");
    assert!(
        replayed.stdout.contains(&format!("replaying stripe {bad}")),
        "{replayed:?}"
    );
    let fixed = fixture.until(&bad, "succeeded");
    assert_eq!(
        (fixed["attempts"].as_u64(), fixed["replays"].as_u64()),
        (Some(3), Some(1))
    );
}

#[test]
fn a_bulk_replay_lists_with_dry_run_and_replays_every_dead_event_of_a_source() {
    let fixture = Fixture::start();
    fixture.server.failing.store(true, Ordering::SeqCst);
    let ids: Vec<String> = (0..3).map(|_| fixture.send()).collect();
    for id in &ids {
        fixture.until(id, "dead");
    }
    let dry = fixture.run(&[
        "--json",
        "events",
        "replay",
        "--source",
        "stripe",
        "--dry-run",
    ]);
    assert_eq!(dry.code, 0, "{dry:?}");
    let listed = dry.json()["would_replay"].as_array().unwrap().len();
    assert_eq!(listed, 3, "{dry:?}");
    fixture.until(&ids[0], "dead");

    fixture.server.failing.store(false, Ordering::SeqCst);
    let bulk = fixture.run(&[
        "--json", "events", "replay", "--source", "stripe", "--since", "1h",
    ]);
    assert_eq!(bulk.code, 0, "{bulk:?}");
    assert_eq!(bulk.json()["replayed"].as_array().unwrap().len(), 3);
    for id in &ids {
        fixture.until(id, "succeeded");
    }
    let none = fixture.run(&["events", "replay", "--source", "stripe", "--dry-run"]);
    assert!(
        none.stdout.contains("0 event(s) would be replayed"),
        "{none:?}"
    );
}

#[test]
fn a_dead_letter_requeued_from_the_command_line_runs_again() {
    let fixture = Fixture::start();
    fixture.server.failing.store(true, Ordering::SeqCst);
    let id = fixture.send();
    fixture.until(&id, "dead");
    fixture.server.failing.store(false, Ordering::SeqCst);
    let requeued = fixture.run(&["dead", "requeue", "stripe", &id]);
    assert_eq!(requeued.code, 0, "{requeued:?}");
    fixture.until(&id, "succeeded");
    let empty = fixture.run(&["--json", "dead", "list"]);
    assert_eq!(empty.json()["dead"].as_array().unwrap().len(), 0);
    let again = fixture.run(&["dead", "requeue", "stripe", &id]);
    assert_eq!(again.code, 1, "no such dead letter any more: {again:?}");
}

#[test]
fn exit_codes_tell_a_refused_token_a_missing_event_and_an_unreachable_server() {
    let fixture = Fixture::start();
    let wrong = fixture.run_with_token(&["events", "list"], "not-the-admin-token-at-all");
    assert_eq!(wrong.code, 4, "{wrong:?}");
    assert!(wrong.stderr.contains("401"), "{wrong:?}");
    assert!(!wrong.stderr.contains("not-the-admin-token"), "{wrong:?}");
    let missing = fixture.run(&["events", "show", "stripe", "evt_nope"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    let bad_time = fixture.run(&["events", "list", "--since", "yesterday"]);
    assert_eq!(bad_time.code, 2, "{bad_time:?}");
    let unset = webhooks(
        &[
            "--config",
            &fixture.file,
            "--admin-url",
            &fixture.admin_url,
            "events",
            "list",
        ],
        &[],
    );
    assert_eq!(unset.code, 2, "{unset:?}");
    assert!(unset.stderr.contains("CLI_TEST_ADMIN_TOKEN"), "{unset:?}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let unreachable = webhooks(
        &[
            "--config",
            &fixture.file,
            "--admin-url",
            &nowhere,
            "events",
            "list",
        ],
        &[("CLI_TEST_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
}
