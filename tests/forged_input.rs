//! Forged input against the validators, over TCP against the real server:
//! signature headers flooded with forgeries, `Host` headers that would move
//! the signed URL, oversized Twilio forms, replayed timestamps.

mod common;

use common::*;
use webhooks::testing::{self, SignedEvent};
use webhooks::{SignedPayload, StandardSignatureValidator};

/// standard-webhooks' Go tests' Ed25519 signing key; the source is
/// configured with its public key.
const SIGNING_KEY: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
const TWILIO_TOKEN: &str = "twilio-test-token-Lm52qP";
const STAMPED_SECRET: &str = "stamped-test-secret-Rt38vD";

/// The common sources, plus `svix` (Standard Webhooks with an Ed25519
/// public key), `twilio` (its URL rebuilt from `Host`), `twilio-public`
/// (behind `https://example.com`) and `stamped` (hmac with a timestamp).
fn sources() -> String {
    let public_key = StandardSignatureValidator::public_key(SIGNING_KEY).expect("a whsk_ key");
    format!(
        r#"
[webhooks.sources.svix]
validator = "standard"
secret = "{public_key}"

[webhooks.sources.twilio]
validator = "twilio"
secret = "{TWILIO_TOKEN}"

[webhooks.sources.twilio-public]
validator = "twilio"
secret = "{TWILIO_TOKEN}"
public-url = "https://example.com"

[webhooks.sources.stamped]
validator = "hmac"
secret = "{STAMPED_SECRET}"
timestamp-header = "X-Webhook-Timestamp"
"#
    )
}

async fn start() -> TestServer {
    TestServer::start(config("", &sources()), |builder| builder).await
}

/// A `svix` delivery whose `webhook-signature` holds `forged` forgeries
/// (valid Ed25519 signatures of another message, as costly to check as a
/// genuine one), then the genuine signature.
fn svix_with_forgeries(forged: usize) -> Signed {
    let event = testing::standard_ed25519(SIGNING_KEY, r#"{"type":"invoice.paid"}"#);
    let genuine = event.headers().get("webhook-signature").expect("signed");
    let timestamp: i64 = event
        .headers()
        .get("webhook-timestamp")
        .expect("stamped")
        .parse()
        .expect("an integer");
    let forgery =
        StandardSignatureValidator::sign_ed25519(SIGNING_KEY, "msg_other", timestamp, event.body())
            .expect("a whsk_ key");
    let mut value = format!("{forgery} ").repeat(forged);
    value.push_str(genuine);
    Signed::from_event("svix", &event).with_header("webhook-signature", &value)
}

#[tokio::test]
async fn a_head_full_of_ed25519_forgeries_is_refused_before_any_is_checked() {
    // A head limit that lets the flood through to the validator; the
    // default (16 KiB) answers 431 long before.
    let server = TestServer::start(
        config("max-header-bytes = 2097152", &sources()),
        |builder| builder,
    )
    .await;
    // About 1 MB of `v1a,` entries: what once cost a CPU-second per request.
    let flood = svix_with_forgeries(11_000);
    assert!(flood.header("webhook-signature").len() > 1_000_000);
    let reply = server.post(&flood).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    let error = reply.error();
    assert!(
        error.contains("`webhook-signature`") && error.contains("too many signatures"),
        "{error}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn ten_signatures_verify_and_eleven_are_malformed() {
    let server = start().await;
    let ten = svix_with_forgeries(9);
    let reply = server.post(&ten).await;
    assert_eq!(reply.json()["status"], "accepted", "{}", reply.body);
    let eleven = svix_with_forgeries(10);
    let reply = server.post(&eleven).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(reply.error().contains("too many signatures (more than 10)"));
    server.shutdown().await;
}

/// POSTs a Twilio delivery to `path` over a raw connection with this `Host`
/// header, and returns the status and body of the answer.
async fn post_with_host(
    server: &TestServer,
    path: &str,
    host: &str,
    event: &SignedEvent,
) -> (u16, String) {
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in event.headers().iter() {
        let value = std::str::from_utf8(value).expect("signed headers are ASCII");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", event.body().len()));
    let answer = raw_exchange(server.addr, &head, &[event.body().to_vec()]).await;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, body.to_owned())
}

#[tokio::test]
async fn a_host_header_cannot_move_the_url_twilio_verifies() {
    let server = start().await;
    let params = [("MessageSid", "SM1"), ("Body", "hi")];
    // Without public-url: `Host: x?a=` once made the rebuilt URL
    // `http://x?a=/webhooks/twilio`, a path and query of the attacker's
    // choosing; a request signed for that URL was accepted.
    let moved = testing::twilio(TWILIO_TOKEN, "http://x?a=/webhooks/twilio", &params);
    let (status, body) = post_with_host(&server, "/webhooks/twilio", "x?a=", &moved).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.contains("the request URL cannot be verified"),
        "{body}"
    );
    // Nor can `/` in the Host header prepend a path of its own.
    let prefixed = testing::twilio(TWILIO_TOKEN, "http://x/other?/webhooks/twilio", &params);
    let (status, body) = post_with_host(&server, "/webhooks/twilio", "x/other?", &prefixed).await;
    assert_eq!(status, 401, "{body}");
    // A plain Host is the URL's host, as before.
    let host = server.addr.to_string();
    let direct = testing::twilio(
        TWILIO_TOKEN,
        &format!("http://{host}/webhooks/twilio"),
        &params,
    );
    let (status, body) = post_with_host(&server, "/webhooks/twilio", &host, &direct).await;
    assert_eq!(status, 200, "{body}");

    // With public-url: the same Host once gave `https://example.com/?a=/webhooks/twilio-public`.
    let moved = testing::twilio(
        TWILIO_TOKEN,
        "https://example.com/?a=/webhooks/twilio-public",
        &params,
    );
    let (status, body) = post_with_host(&server, "/webhooks/twilio-public", "x?a=", &moved).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("no signature matches"), "{body}");
    // The Host header plays no part: the genuine URL verifies whatever it says.
    let genuine = testing::twilio(
        TWILIO_TOKEN,
        "https://example.com/webhooks/twilio-public",
        &params,
    );
    for hostile in ["x?a=", "x/other?", "u@x", "internal:3000"] {
        let genuine = genuine
            .clone()
            .with_header("I-Twilio-Idempotency-Token", &format!("t-{hostile}"));
        let (status, body) =
            post_with_host(&server, "/webhooks/twilio-public", hostile, &genuine).await;
        assert_eq!(status, 200, "Host {hostile}: {body}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_twilio_form_of_more_than_1000_parameters_is_refused() {
    let server = start().await;
    let names: Vec<String> = (0..1001).map(|index| format!("P{index}")).collect();
    let params: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "x")).collect();
    let url = format!("http://{}/webhooks/twilio", server.addr);
    // Signed as Twilio would sign it: only its size is refused.
    let oversized = Signed::from_event("twilio", &testing::twilio(TWILIO_TOKEN, &url, &params));
    let reply = server.post(&oversized).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(
        reply.error(),
        "the body cannot be verified: more than 1000 form parameters"
    );
    let largest = Signed::from_event(
        "twilio",
        &testing::twilio(TWILIO_TOKEN, &url, &params[..1000]),
    );
    assert_eq!(server.post(&largest).await.json()["status"], "accepted");
    server.shutdown().await;
}

#[tokio::test]
async fn a_timestamped_hmac_delivery_is_accepted_fresh_and_refused_replayed() {
    let server = start().await;
    let body = r#"{"type":"order.paid"}"#;
    let signed = |key: &str, at: i64| {
        let event = testing::hmac_timestamped(
            STAMPED_SECRET,
            "X-Webhook-Timestamp",
            &SignedPayload::default(),
            body,
        )
        .with_header("X-Idempotency-Key", key)
        .with_timestamp(at);
        Signed::from_event("stamped", &event)
    };
    server
        .post(&signed("order-fresh", unix_now()))
        .await
        .accepted("order-fresh");
    // A delivery captured an hour ago, replayed with its own signature.
    let replayed = server.post(&signed("order-old", unix_now() - 3600)).await;
    assert_eq!(replayed.status, 401, "{}", replayed.body);
    assert!(
        replayed
            .error()
            .starts_with("timestamp outside the tolerance of 300 s"),
        "{}",
        replayed.body
    );
    // Its timestamp moved to now: the signature no longer matches.
    let moved = signed("order-old", unix_now() - 3600)
        .with_header("X-Webhook-Timestamp", &unix_now().to_string());
    let reply = server.post(&moved).await;
    assert_eq!(
        (reply.status, reply.error()),
        (401, "no signature matches the body".to_owned())
    );
    let unstamped = signed("order-bare", unix_now()).without_header("X-Webhook-Timestamp");
    let reply = server.post(&unstamped).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(reply.error().contains("`X-Webhook-Timestamp`"));
    server.shutdown().await;
}
