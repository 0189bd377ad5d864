//! `webhooks send` against the real server: each scheme signed as the
//! server verifies it, a wrong secret refused, the exit codes.

mod common;

use common::{TestServer, config_file, webhooks, webhooks_with_input};
use webhooks_core::{DiscordSignatureValidator, StandardSignatureValidator};

const STRIPE: &str = "whsec_cli_test_stripe_Qm31";
const STRIPE_OLD: &str = "whsec_cli_test_stripe_old_Lp09";
const GITHUB: &str = "cli-test-github-Rb72";
const PARTNER: &str = "cli-test-partner-Tx55";
const STANDARD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STANDARD_SIGNING_KEY: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
const DISCORD_SEED: [u8; 32] = [7; 32];

/// Every scheme; `github` comes from `github_secret`, the rest is inline.
fn all_schemes(stripe: &str, github_secret: &str) -> String {
    let whpk = StandardSignatureValidator::public_key(STANDARD_SIGNING_KEY).unwrap();
    let discord = DiscordSignatureValidator::public_key(&DISCORD_SEED);
    format!(
        r#"
[webhooks]
bind = "127.0.0.1:0"

[webhooks.sources.stripe]
validator = "stripe"
secrets = ["{stripe}", "{STRIPE_OLD}"]

[webhooks.sources.github]
validator = "github"
{github_secret}

[webhooks.sources.partner]
validator = "hmac"
secret = "{PARTNER}"

[webhooks.sources.partner-ts]
validator = "hmac"
secret = "{PARTNER}"
header = "X-Partner-Signature"
prefix = "v1="
timestamp-header = "X-Partner-Timestamp"
signed-payload = "{{timestamp}}:{{body}}"
idempotency-header = "X-Delivery"
event-type-field = "event.kind"

[webhooks.sources.svix]
validator = "standard"
secret = "{STANDARD}"

[webhooks.sources.svix-ed25519]
validator = "standard"
secret = "{whpk}"

[webhooks.sources.shopify]
validator = "shopify"
secret = "cli-test-shopify-Hh20"

[webhooks.sources.slack]
validator = "slack"
secret = "cli-test-slack-Ue64"

[webhooks.sources.gitlab]
validator = "gitlab"
secret = "cli-test-gitlab-Jn83"

[webhooks.sources.twilio]
validator = "twilio"
secret = "cli-test-twilio-Aa11"

[webhooks.sources.square]
validator = "square"
secret = "cli-test-square-Bb22"
public-url = "https://hooks.example.com"

[webhooks.sources.paddle]
validator = "paddle"
secret = "pdl_ntfset_cli_test_Cc33"

[webhooks.sources.linear]
validator = "linear"
secret = "lin_wh_cli_test_Dd44"

[webhooks.sources.discord]
validator = "discord"
secret = "{discord}"

[webhooks.sources.open]
validator = "none"
"#
    )
}

fn inline_github() -> String {
    format!("secret = \"{GITHUB}\"")
}

#[test]
fn send_stripe_sample_is_accepted_and_each_send_is_a_new_event() {
    let server = TestServer::start(&all_schemes(STRIPE, &inline_github()));
    let file = config_file(&all_schemes(STRIPE, &inline_github()));
    let url = server.url("stripe");
    let args = [
        "send",
        "stripe",
        "--event",
        "payment_intent.succeeded",
        "--config",
        file.to_str().unwrap(),
        "--url",
        &url,
    ];
    let first = webhooks(&args, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stdout.starts_with("HTTP 200\n"), "{first:?}");
    assert!(first.stdout.contains(r#""status":"accepted""#), "{first:?}");
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let second = webhooks(&json_args, &[]).json();
    assert_eq!(second["status"], 200, "{second}");
    assert_eq!(second["answer"]["status"], "accepted", "{second}");
    assert!(second["answer"]["id"].as_str().unwrap().starts_with("evt_"));
    assert!(
        !first
            .stdout
            .contains(second["answer"]["id"].as_str().unwrap())
    );
    // Without --url: http://{bind}/webhooks/stripe, WEBHOOKS_BIND first.
    let bind = server.addr.to_string();
    let config = file.to_str().unwrap();
    let third = webhooks(
        &["send", "stripe", "--config", config],
        &[("WEBHOOKS_BIND", &bind)],
    );
    assert_eq!(third.code, 0, "{third:?}");
    assert_eq!(server.seen.lock().unwrap().len(), 3);
    for run in [&first.stdout, &first.stderr] {
        assert!(!run.contains(STRIPE), "{run}");
    }
}

#[test]
fn a_wrong_secret_exits_1_with_the_servers_401() {
    let server = TestServer::start(&all_schemes(STRIPE, &inline_github()));
    let file = config_file(&all_schemes("whsec_not_the_servers_Zz99", &inline_github()));
    let url = server.url("stripe");
    let run = webhooks(
        &[
            "send",
            "stripe",
            "--config",
            file.to_str().unwrap(),
            "--url",
            &url,
        ],
        &[],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.starts_with("HTTP 401\n"), "{run:?}");
    assert!(!run.stdout.contains("whsec_not_the_servers"), "{run:?}");
}

#[test]
fn every_scheme_is_signed_as_the_server_verifies_it() {
    let server = TestServer::start(&all_schemes(STRIPE, &inline_github()));
    // The command line reads GitHub's secret from the environment.
    let file = config_file(&all_schemes(
        STRIPE,
        "secret-env = \"CLI_TEST_GITHUB_SECRET\"",
    ));
    let config = file.to_str().unwrap();
    let discord_seed: String = DISCORD_SEED.iter().map(|b| format!("{b:02x}")).collect();
    let env = [
        ("CLI_TEST_GITHUB_SECRET", GITHUB),
        ("CLI_TEST_SIGNING_KEY_STANDARD", STANDARD_SIGNING_KEY),
        ("CLI_TEST_SIGNING_KEY_DISCORD", discord_seed.as_str()),
    ];
    // Each send, and the event type the server read from it.
    let sends: &[(&str, &[&str], &str)] = &[
        ("stripe", &[], "payment_intent.succeeded"),
        ("github", &["--event", "push"], "push"),
        ("github", &["--event", "issues.opened"], "issues.opened"),
        ("partner", &["--event", "order.shipped"], "order.shipped"),
        ("partner-ts", &[], "order.paid"),
        ("svix", &["--event", "invoice.paid"], "invoice.paid"),
        (
            "svix-ed25519",
            &["--signing-key-env", "CLI_TEST_SIGNING_KEY_STANDARD"],
            "invoice.paid",
        ),
        ("shopify", &["--event", "orders/paid"], "orders/paid"),
        ("slack", &[], "app_mention"),
        ("gitlab", &[], "Push Hook"),
        ("twilio", &[], ""), // Twilio sends no event type
        ("square", &[], "payment.updated"),
        ("paddle", &[], "transaction.completed"),
        ("linear", &[], "Issue.create"),
        (
            "discord",
            &["--signing-key-env", "CLI_TEST_SIGNING_KEY_DISCORD"],
            "APPLICATION_AUTHORIZED",
        ),
        ("open", &[], "order.paid"),
    ];
    for (source, extra, event_type) in sends {
        let url = server.url(source);
        let mut args = vec!["send", source, "--config", config, "--url", &url, "--json"];
        args.extend_from_slice(extra);
        let run = webhooks(&args, &env);
        assert_eq!(run.code, 0, "{source} {extra:?}: {run:?}");
        let answer = &run.json()["answer"];
        assert_eq!(answer["status"], "accepted", "{source}: {run:?}");
        // Inline dispatch: the listener ran before the answer.
        let last = server.seen.lock().unwrap().last().cloned();
        let expected = (
            source.to_string(),
            event_type.to_string(),
            answer["id"].as_str().unwrap().to_owned(),
        );
        assert_eq!(last, Some(expected), "{source} {extra:?}");
    }
    assert_eq!(server.seen.lock().unwrap().len(), sends.len());
}

#[test]
fn a_body_file_and_headers_are_sent_as_given() {
    let server = TestServer::start(&all_schemes(STRIPE, &inline_github()));
    let file = config_file(&all_schemes(STRIPE, &inline_github()));
    let body = config_file(r#"{"type":"order.paid","order":42}"#);
    let url = server.url("partner");
    let args = [
        "send",
        "partner",
        "--config",
        file.to_str().unwrap(),
        "--url",
        &url,
        "--body",
        body.to_str().unwrap(),
        "--header",
        "X-Idempotency-Key: order-42",
        "--json",
    ];
    let first = webhooks(&args, &[]).json();
    assert_eq!(
        first["answer"],
        serde_json::json!({"status": "accepted", "id": "order-42"})
    );
    let again = webhooks(&args, &[]).json();
    assert_eq!(
        again["answer"],
        serde_json::json!({"status": "duplicate", "id": "order-42"})
    );

    // `--body -`: standard input, here Twilio's form, signed as posted.
    let url = server.url("twilio");
    let args = [
        "send",
        "twilio",
        "--config",
        file.to_str().unwrap(),
        "--url",
        &url,
        "--body",
        "-",
        "--json",
    ];
    let form = b"MessageSid=SM42&From=%2B15005550006&Body=hi+there";
    let run = webhooks_with_input(&args, &[], form);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["answer"]["status"], "accepted", "{run:?}");
    let tls = webhooks(
        &[
            "send",
            "stripe",
            "--config",
            file.to_str().unwrap(),
            "--url",
            "https://example.com/webhooks/stripe",
        ],
        &[],
    );
    assert_eq!(tls.code, 2, "{tls:?}");
    assert!(tls.stderr.contains("plain HTTP"), "{tls:?}");
}

#[test]
fn usage_errors_exit_2_and_an_unreachable_server_exits_3() {
    let file = config_file(&all_schemes(STRIPE, &inline_github()));
    let config = file.to_str().unwrap();
    let unknown = webhooks(&["send", "nope", "--config", config], &[]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("no source `nope`"), "{unknown:?}");
    let bad_header = webhooks(
        &["send", "stripe", "--config", config, "--header", "x"],
        &[],
    );
    assert_eq!(bad_header.code, 2, "{bad_header:?}");
    let bad_event = webhooks(
        &["send", "github", "--config", config, "--event", "push\n"],
        &[],
    );
    assert_eq!(bad_event.code, 2, "{bad_event:?}");
    let no_key = webhooks(&["send", "discord", "--config", config], &[]);
    assert_eq!(no_key.code, 2, "{no_key:?}");
    assert!(no_key.stderr.contains("--signing-key-env"), "{no_key:?}");

    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhooks/stripe", closed.local_addr().unwrap());
    drop(closed);
    let down = webhooks(
        &[
            "send", "stripe", "--config", config, "--url", &url, "--json",
        ],
        &[],
    );
    assert_eq!(down.code, 3, "{down:?}");
    assert!(
        down.json()["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{down:?}"
    );
}
