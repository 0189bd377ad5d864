//! What a client controls without a signature, over TCP against the real
//! server: GitHub signs neither `X-GitHub-Event` nor `X-GitHub-Delivery`, so
//! a captured delivery can be replayed with any values there. They must not
//! grow the metrics, be stored at any length, or be echoed back.

mod common;

use std::collections::BTreeMap;

use common::{TestServer, config, github, partner};
use serde_json::json;

/// The `webhooks_received_total` counts of `source`, by event type, then
/// outcome, read from `/metrics`.
fn received(metrics: &str, source: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut counts: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("webhooks_received_total{") else {
            continue;
        };
        let (labels, value) = rest.split_once("} ").expect("labels, then a value");
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\"")).expect("the label") + name.len() + 2;
            let end = labels[start..].find('"').expect("a closing quote") + start;
            labels[start..end].to_owned()
        };
        if label("source") == source {
            let value: f64 = value.parse().expect("a number");
            let by_outcome = counts.entry(label("event_type")).or_default();
            *by_outcome.entry(label("outcome")).or_default() += value;
        }
    }
    counts
}

#[tokio::test]
async fn replayed_github_deliveries_with_random_event_types_are_capped_as_other() {
    let server = TestServer::start(config("", ""), |builder| builder).await;
    // One captured delivery: its signature covers the body only.
    let captured = github("d-captured", "push", r#"{"ref":"refs/heads/main"}"#);
    server.post(&captured).await.accepted("d-captured");
    for n in 0..150_u64 {
        let random = format!(
            "forged-{n}-{:016x}",
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15_u64)
        );
        let replayed = captured
            .with_header("X-GitHub-Event", &random)
            .with_header("X-GitHub-Delivery", &format!("d-replay-{n}"));
        server
            .post(&replayed)
            .await
            .accepted(&format!("d-replay-{n}"));
    }
    // A type seen before the cap keeps its own label afterwards.
    let again = captured.with_header("X-GitHub-Delivery", "d-push-again");
    server.post(&again).await.accepted("d-push-again");
    // Nothing sent before the signature is verified becomes a label.
    let unsigned = captured
        .with_header("X-GitHub-Event", "forged-unsigned")
        .with_body(r#"{"ref":"refs/heads/evil"}"#);
    assert_eq!(server.post(&unsigned).await.status, 401);
    // A forged source path is no label at all.
    let elsewhere = captured.sent_to("forged-source");
    assert_eq!(server.post(&elsewhere).await.status, 404);

    let metrics = server.metrics().await;
    let counts = received(&metrics, "github");
    let types: Vec<_> = counts
        .keys()
        .filter(|t| !["other", "unknown"].contains(&t.as_str()))
        .collect();
    assert!(types.len() <= 100, "{} event types: {types:?}", types.len());
    assert_eq!(counts["push"]["accepted"], 2.0, "{counts:?}");
    let other = counts.get("other").expect("an `other` series");
    let total: f64 = counts.values().flat_map(BTreeMap::values).sum();
    assert_eq!(total, 153.0, "every delivery counted once: {counts:?}");
    assert_eq!(counts["unknown"]["invalid_signature"], 1.0, "{counts:?}");
    // Every forged type has its own label or is `other`; `push` came first.
    assert_eq!(other["accepted"] + (types.len() - 1) as f64, 150.0);
    assert!(!metrics.contains("forged-source"), "{metrics}");
    assert!(!metrics.contains("forged-unsigned"), "{metrics}");
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_key_or_event_type_is_a_400_that_does_not_echo_it() {
    let server = TestServer::start(config("", ""), |builder| builder).await;
    let body = r#"{"ref":"refs/heads/main"}"#;
    let long_key = format!("key-{}", "k".repeat(253));
    let long_type = format!("type-{}", "t".repeat(124));
    for (delivery, event) in [(long_key.as_str(), "push"), ("d-long-type", &long_type)] {
        let reply = server.post(&github(delivery, event, body)).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        let error = reply.error();
        assert!(error.contains("too long"), "{error}");
        assert!(!reply.body.contains("kkkk") && !reply.body.contains("tttt"));
    }
    // Nothing was claimed: the same key, shortened to the limit, is new.
    let at_limit = &long_key[..256];
    let reply = server.post(&github(at_limit, "push", body)).await;
    reply.accepted(at_limit);
    let typed = &long_type[..128];
    let reply = server.post(&github("d-type-at-limit", typed, body)).await;
    reply.accepted("d-type-at-limit");
    // The same for a key the client names in a header of its own.
    let hmac = partner(Some(&long_key), r#"{"type":"order.created"}"#);
    let reply = server.post(&hmac).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"error": "idempotency key too long: 257 bytes, at most 256"})
    );

    let metrics = server.metrics().await;
    let github = received(&metrics, "github");
    assert_eq!(github["unknown"]["bad_request"], 2.0, "{github:?}");
    assert_eq!(github["push"]["accepted"], 1.0, "{github:?}");
    assert!(!metrics.contains(&long_type), "{metrics}");
    let partner = received(&metrics, "partner");
    assert_eq!(partner["unknown"]["bad_request"], 1.0, "{partner:?}");
    server.shutdown().await;
}
