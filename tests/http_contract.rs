//! The contract's HTTP table, row by row, against the real server over TCP.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test]
async fn a_new_event_is_accepted_under_the_sources_key() {
    let on_stripe = Probe::new("stripe", "payment_intent.succeeded");
    let on_github = Probe::new("github", "push");
    let on_partner = Probe::new("partner", "*");
    let seen = [on_stripe.seen(), on_github.seen(), on_partner.seen()];
    let server = TestServer::start(config("", ""), |b| {
        b.listener(on_stripe)
            .listener(on_github)
            .listener(on_partner)
    })
    .await;

    // Stripe: payload `id` and `type`.
    let paid = stripe("evt_new_1", "payment_intent.succeeded");
    server.post(&paid).await.accepted("evt_new_1");
    // GitHub: X-GitHub-Delivery and X-GitHub-Event.
    let push = github("72d3162e-cc78", "push", r#"{"ref":"refs/heads/main"}"#);
    server.post(&push).await.accepted("72d3162e-cc78");
    // hmac: X-Idempotency-Key, else X-Event-Id, else the body's SHA-256.
    let keyed = partner(Some("order-key-1"), r#"{"type":"order.created"}"#);
    server.post(&keyed).await.accepted("order-key-1");
    let event_id = partner(None, r#"{"type":"order.paid"}"#).with_header("X-Event-Id", "ev-9");
    server.post(&event_id).await.accepted("ev-9");
    let body = r#"{"type":"order.shipped","n":1}"#;
    let hash_key = format!("sha256:{}", hex::encode(Sha256::digest(body)));
    server.post(&partner(None, body)).await.accepted(&hash_key);

    assert_eq!(seen[0].ids(), ["evt_new_1"]);
    assert_eq!(seen[0].types(), ["payment_intent.succeeded"]);
    assert_eq!(seen[1].ids(), ["72d3162e-cc78"]);
    assert_eq!(seen[1].types(), ["push"]);
    assert_eq!(seen[2].ids(), ["order-key-1", "ev-9", hash_key.as_str()]);
    let types = ["order.created", "order.paid", "order.shipped"];
    assert_eq!(seen[2].types(), types);
    server.shutdown().await;
}

#[tokio::test]
async fn a_redelivery_is_a_duplicate_and_not_handled_again() {
    let probe = Probe::new("stripe", "*");
    let seen = probe.seen();
    let server = TestServer::start(config("", ""), |b| b.listener(probe)).await;
    let delivery = stripe("evt_dup", "charge.succeeded");
    server.post(&delivery).await.accepted("evt_dup");
    // The provider's retry, and the same event signed again later.
    for again in [delivery, stripe("evt_dup", "charge.succeeded")] {
        server.post(&again).await.duplicate("evt_dup");
    }
    assert_eq!(seen.count(), 1);
    // Keyed by the body's hash: a byte-identical redelivery is caught too.
    let keyless = partner(None, r#"{"type":"x"}"#);
    assert_eq!(server.post(&keyless).await.json()["status"], "accepted");
    assert_eq!(server.post(&keyless).await.json()["status"], "duplicate");
    server.shutdown().await;
}

#[tokio::test]
async fn a_delivery_still_in_progress_gets_409_with_retry_after() {
    let gate = Gate::default();
    let probe = Probe::new("stripe", "*").gated(&gate);
    let seen = probe.seen();
    let server = TestServer::start(config("", ""), |b| b.listener(probe)).await;
    let delivery = stripe("evt_slow", "charge.succeeded");
    let first = tokio::spawn({
        let (client, delivery) = (server.client(), delivery.clone());
        async move { client.post(&delivery).await }
    });
    gate.arrivals(1).await;

    let second = server.post(&delivery).await;
    second.expect(409, json!({"error": "in progress"}));
    second.expect_retry_later(409);

    gate.open();
    within("the first answer", first)
        .await
        .unwrap()
        .accepted("evt_slow");
    server.post(&delivery).await.duplicate("evt_slow");
    assert_eq!(seen.count(), 1);
    server.shutdown().await;
}

const MISSING: &str = "missing signature header";
const MALFORMED: &str = "malformed signature header";
const NO_MATCH: &str = "no signature matches the body";

#[tokio::test]
async fn a_missing_malformed_wrong_or_stale_signature_gets_401_saying_why() {
    let probes = ["stripe", "github", "partner"].map(|source| Probe::new(source, "*"));
    let seen = probes.each_ref().map(Probe::seen);
    let server = TestServer::start(config("", ""), |b| {
        probes.into_iter().fold(b, |b, probe| b.listener(probe))
    })
    .await;
    let body = r#"{"id":"evt_sig","object":"event","type":"charge.succeeded"}"#;
    let st = stripe_at(body, unix_now());
    let gh = github("gh-sig", "push", "{}");
    let pa = partner(Some("pa-sig"), r#"{"type":"t"}"#);
    let forged = st.with_body(body.replace("evt_sig", "evt_forged"));
    let stale = stripe_at(body, unix_now() - 600);
    let (st_sig, gh_sig, pa_sig) = ("Stripe-Signature", "X-Hub-Signature-256", "X-Signature");
    let cases = [
        (st.without_header(st_sig), MISSING),
        (st.with_header(st_sig, "garbage"), MALFORMED),
        (forged, NO_MATCH),
        (stale, "timestamp outside the tolerance of 300 s"),
        (gh.without_header(gh_sig), MISSING),
        (gh.with_header(gh_sig, "sha1=abc"), MALFORMED),
        (gh.with_body(r#"{"forged":true}"#), NO_MATCH),
        (pa.without_header(pa_sig), MISSING),
        (pa.with_header(pa_sig, "sha256=zz"), MALFORMED),
        (pa.sent_to("github"), MISSING),
    ];
    for (delivery, why) in cases {
        let reply = server.post(&delivery).await;
        assert_eq!(reply.status, 401, "{why}: {}", reply.body);
        let error = reply.error();
        assert!(error.starts_with(why), "{error:?} should say {why:?}");
        if why == MISSING || why == MALFORMED {
            let header = match delivery.source.as_str() {
                "stripe" => st_sig,
                "github" => gh_sig,
                _ => pa_sig,
            };
            assert!(
                error.contains(&format!("`{header}`")),
                "{error:?} names {header}"
            );
        }
        assert!(SECRETS.iter().all(|secret| !error.contains(secret)));
    }
    assert!(
        seen.iter().all(|s| s.count() == 0),
        "a refused delivery ran"
    );
    // The unchanged deliveries pass: each refusal was the change's doing.
    for delivery in [st, gh, pa] {
        assert_eq!(server.post(&delivery).await.json()["status"], "accepted");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_verified_body_the_source_cannot_parse_gets_400() {
    let probe = Probe::new("stripe", "*");
    let seen = probe.seen();
    let server = TestServer::start(config("", ""), |b| b.listener(probe)).await;
    let no_type = stripe_at(r#"{"id":"evt_no_type","object":"event"}"#, unix_now());
    let no_event = github("gh-400", "push", "{}").without_header("X-GitHub-Event");
    let cases = [
        (no_type, "`type`"),
        (stripe_at("not json", unix_now()), "JSON"),
        (no_event, "X-GitHub-Event"),
    ];
    for (delivery, why) in cases {
        let reply = server.post(&delivery).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert!(
            reply.error().contains(why),
            "{} should name {why}",
            reply.body
        );
    }
    assert_eq!(seen.count(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn an_unknown_source_gets_404_and_a_non_post_gets_405_with_allow() {
    let server = TestServer::start(config("", ""), |b| b).await;
    let nowhere = stripe("evt_404", "x").sent_to("nope");
    server
        .post(&nowhere)
        .await
        .expect(404, json!({"error": "unknown source"}));
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let reply = server.request(method.clone(), "/webhooks/stripe").await;
        assert_eq!(reply.status, 405, "{method}: {}", reply.body);
        assert_eq!(reply.header("allow"), Some("POST"), "{method}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_declared_or_streamed_and_unread() {
    let probe = Probe::new("stripe", "*");
    let seen = probe.seen();
    let keys = "max-body-bytes = 1024";
    let server = TestServer::start(config(keys, ""), |b| b.listener(probe)).await;
    let addr = server.addr;
    let head = |signed: &Signed, framing: &str| {
        let signature = signed.header("Stripe-Signature");
        format!(
            "POST /webhooks/stripe HTTP/1.1\r\nHost: {addr}\r\nStripe-Signature: {signature}\r\n\
             Content-Type: application/json\r\nConnection: close\r\n{framing}\r\n"
        )
    };
    let (big, chunked) = (stripe("evt_big", "x"), "Transfer-Encoding: chunked\r\n");

    // 100 MB declared, not one byte sent: answered from the headers alone.
    let declared = head(&big, "Content-Length: 104857600\r\n");
    let answer = raw_exchange(addr, &declared, &[]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // One byte over, with its true length, through a real client.
    assert_eq!(
        server.post(&big.with_body(vec![b' '; 1025])).await.status,
        413
    );
    // Chunked, no length: 1200 bytes streamed and the body never finished,
    // so the answer cannot have waited for its end.
    let over = [chunk(&[b' '; 600]), chunk(&[b' '; 600])];
    let answer = raw_exchange(addr, &head(&big, chunked), &over).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // A chunked body within the limit is read and accepted.
    let body = r#"{"id":"evt_chunked","object":"event","type":"x"}"#;
    let (start, rest) = body.as_bytes().split_at(10);
    let chunks = [chunk(start), chunk(rest), chunk(b"")];
    let answer = raw_exchange(addr, &head(&stripe_at(body, unix_now()), chunked), &chunks).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with(r#"{"status":"accepted","id":"evt_chunked"}"#),
        "{answer}"
    );
    assert_eq!(seen.ids(), ["evt_chunked"]);
    let text = server.metrics().await;
    let too_large = counter(
        &text,
        "webhooks_received_total",
        "stripe",
        "unknown",
        "too_large",
    );
    assert_eq!(too_large, 3.0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_large_body_sent_in_pieces_is_verified_and_handed_over_byte_for_byte() {
    let probe = Probe::new("stripe", "*");
    let seen = probe.seen();
    let server = TestServer::start(config("max-body-bytes = 1048576", ""), |b| {
        b.listener(probe)
    })
    .await;
    let addr = server.addr;
    // About 600 KB with its Content-Length, written in 64 KB pieces: the
    // server reads it in several frames and joins them before verifying.
    let padding = "p".repeat(600 * 1024);
    let body = format!(r#"{{"id":"evt_large","object":"event","type":"x","padding":"{padding}"}}"#);
    let signed = stripe_at(&body, unix_now());
    let head = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: {addr}\r\nStripe-Signature: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        signed.header("Stripe-Signature"),
        body.len()
    );
    let pieces: Vec<Vec<u8>> = body
        .as_bytes()
        .chunks(64 * 1024)
        .map(<[u8]>::to_vec)
        .collect();
    let answer = raw_exchange(addr, &head, &pieces).await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert!(answer.ends_with(r#"{"status":"accepted","id":"evt_large"}"#));
    assert_eq!(seen.bodies(), [bytes::Bytes::from(body)]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_store_outage_gets_503_records_nothing_and_readyz_follows_it() {
    let store = FlakyStore::default();
    let probe = Probe::new("stripe", "*");
    let seen = probe.seen();
    let server = TestServer::start(config("", ""), {
        let store = store.clone();
        move |b| b.store(store).listener(probe)
    })
    .await;
    assert_eq!(server.get("/readyz").await.status, 200);

    store.set_down(true);
    let delivery = stripe("evt_outage", "charge.succeeded");
    let refused = server.post(&delivery).await;
    refused.expect_retry_later(503);
    assert!(!refused.error().is_empty());
    assert_eq!(server.get("/readyz").await.status, 503);
    assert_eq!(server.get("/healthz").await.status, 200);
    assert_eq!(seen.count(), 0);

    store.set_down(false);
    assert_eq!(server.get("/readyz").await.status, 200);
    server.post(&delivery).await.accepted("evt_outage");
    assert_eq!(seen.count(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn an_inline_listener_failure_gets_500_and_the_retry_is_processed() {
    let probe = Probe::new("stripe", "charge.failed").with(|_, calls| async move {
        match calls {
            0 => Err("card processor down".into()),
            _ => Ok(()),
        }
    });
    let seen = probe.seen();
    let server = TestServer::start(config("", ""), |b| b.listener(probe)).await;
    let delivery = stripe("evt_fail_once", "charge.failed");
    let failed = server.post(&delivery).await;
    failed.expect(500, json!({"error": "listener failed"}));
    server.post(&delivery).await.accepted("evt_fail_once");
    server.post(&delivery).await.duplicate("evt_fail_once");
    assert_eq!(seen.count(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_listener_gets_500_and_the_events_other_listeners_still_run() {
    let panics = Probe::new("stripe", "charge.refunded").with(|_, _| async { panic!("boom") });
    let other = Probe::new("stripe", "charge.refunded");
    let (panicked, ran) = (panics.seen(), other.seen());
    let server = TestServer::start(config("", ""), |b| b.listener(panics).listener(other)).await;
    let delivery = stripe("evt_panic", "charge.refunded");
    for round in 1..=2 {
        let reply = server.post(&delivery).await;
        reply.expect(500, json!({"error": "listener failed"}));
        assert_eq!((panicked.count(), ran.count()), (round, round));
    }
    assert_eq!(server.get("/healthz").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn health_readiness_and_metrics_after_a_known_sequence() {
    let ok = Probe::new("stripe", "payment_intent.succeeded").named("on_payment");
    let fails = Probe::new("stripe", "invoice.payment_failed")
        .named("on_failed_invoice")
        .with(|_, _| async { Err("no".into()) });
    let server = TestServer::start(config("max-body-bytes = 1024", ""), |b| {
        b.listener(ok).listener(fails)
    })
    .await;
    assert_eq!(server.get("/healthz").await.status, 200);
    assert_eq!(server.get("/readyz").await.status, 200);

    let first = stripe("evt_m1", "payment_intent.succeeded");
    let sequence = [
        (first.clone(), 200),
        (first.clone(), 200), // duplicate
        (stripe("evt_m2", "payment_intent.succeeded"), 200),
        (first.with_body("{}"), 401),
        (first.with_body(vec![b' '; 2048]), 413),
        (stripe("evt_m3", "invoice.payment_failed"), 500),
        (stripe("evt_m4", "customer.created"), 200), // no listener: ignored
    ];
    for (delivery, status) in sequence {
        assert_eq!(server.post(&delivery).await.status, status);
    }

    let reply = server.get("/metrics").await;
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = reply.body;
    let received = |t: &str, o: &str| counter(&text, "webhooks_received_total", "stripe", t, o);
    let handled = |t: &str, l: &str, o: &str| {
        let labels = [
            ("source", "stripe"),
            ("event_type", t),
            ("listener", l),
            ("outcome", o),
        ];
        metric(&text, "webhooks_handled_total", &labels)
    };
    // A listener's label is its name (a `WebhookListener`'s `name()`).
    let (paid, failing) = ("on_payment", "on_failed_invoice");
    assert_eq!(received("payment_intent.succeeded", "accepted"), 2.0);
    assert_eq!(received("payment_intent.succeeded", "duplicate"), 1.0);
    assert_eq!(received("unknown", "invalid_signature"), 1.0);
    assert_eq!(received("unknown", "too_large"), 1.0);
    assert_eq!(received("customer.created", "accepted"), 1.0);
    assert_eq!(received("invoice.payment_failed", "accepted"), 0.0);
    assert_eq!(handled("payment_intent.succeeded", paid, "ok"), 2.0);
    assert_eq!(handled("invoice.payment_failed", failing, "error"), 1.0);
    assert_eq!(handled("customer.created", "", "ignored"), 1.0);
    assert_eq!(handled("customer.created", paid, "ok"), 0.0);
    // Inline dispatch: a failure is the provider's to retry, not ours.
    assert!(!text.contains("webhooks_retries_total"), "{text}");
    assert!(!text.contains("webhooks_queue_depth"), "{text}");
    assert!(
        text.contains("# TYPE webhooks_processing_seconds histogram"),
        "{text}"
    );
    assert!(!text.contains("webhook_processing_seconds"), "{text}");
    let timed = [
        ("source", "stripe"),
        ("event_type", "payment_intent.succeeded"),
    ];
    assert_eq!(
        metric(&text, "webhooks_processing_seconds_count", &timed),
        3.0
    );
    let inf = [timed[0], timed[1], ("le", "+Inf")];
    assert_eq!(
        metric(&text, "webhooks_processing_seconds_bucket", &inf),
        3.0
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_github_family_listener_gets_every_action_and_an_exact_one_only_its_own() {
    let family = Probe::new("github", "issues");
    let opened = Probe::new("github", "issues.opened");
    let (family_seen, opened_seen) = (family.seen(), opened.seen());
    let server = TestServer::start(config("", ""), |b| b.listener(family).listener(opened)).await;
    for (delivery, action) in [("gh-1", "opened"), ("gh-2", "closed")] {
        let body = format!(r#"{{"action":"{action}","issue":{{"number":1}}}}"#);
        server
            .post(&github(delivery, "issues", &body))
            .await
            .accepted(delivery);
    }
    assert_eq!(family_seen.types(), ["issues.opened", "issues.closed"]);
    assert_eq!(opened_seen.types(), ["issues.opened"]);
    server.shutdown().await;
}

#[tokio::test]
async fn disabled_mounts_no_webhook_route_but_stays_healthy() {
    let server = TestServer::start(config("enabled = false", ""), |b| b).await;
    // `stripe` is configured, but nothing is mounted.
    let delivery = stripe("evt_off", "x");
    for delivery in [delivery.clone(), delivery.sent_to("x")] {
        let reply = server.post(&delivery).await;
        reply.expect(404, json!({"error": "unknown source"}));
    }
    assert_eq!(server.get("/healthz").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn no_answer_ever_contains_a_secret() {
    // Every answer is checked for the secrets as it is read (`Client::send`);
    // here each kind of answer is produced, with the secrets in play.
    let server = TestServer::start(config("max-body-bytes = 256", ""), |b| {
        b.listener(Probe::new("stripe", "boom").with(|_, _| async { Err(STRIPE_SECRET.into()) }))
    })
    .await;
    let forged_v1 = format!("t=1,v1={GITHUB_SECRET}");
    let mut answers = Vec::new();
    for delivery in [
        stripe("evt_s1", "x"),
        stripe("evt_s1", "x"),
        stripe("evt_s2", "boom"),
        stripe("evt_s3", "x").with_header("Stripe-Signature", STRIPE_SECRET),
        stripe("evt_s3", "x").with_header("Stripe-Signature", &forged_v1),
        stripe("evt_s3", "x").with_body(STRIPE_SECRET),
        stripe_at(r#"{"id":"evt_s4","type":"x"}"#, 1),
        stripe_at(PARTNER_SECRET, unix_now()),
        github("gh-s", "push", "{}").with_header("X-Hub-Signature-256", GITHUB_SECRET),
        partner(Some("pa-s"), "{}").with_header("X-Signature", PARTNER_SECRET),
        partner(Some("pa-s"), "{}").with_body(vec![b'x'; 300]),
        partner(Some("pa-s"), "{}").sent_to("nope"),
    ] {
        answers.push(server.post(&delivery).await);
    }
    answers.push(server.get("/metrics").await);
    answers.push(server.get("/readyz").await);
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    let expected = [
        200, 200, 500, 401, 401, 401, 401, 400, 401, 401, 413, 404, 200, 200,
    ];
    assert_eq!(statuses, expected);
    for answer in &answers {
        for secret in SECRETS {
            assert!(!answer.body.contains(secret), "{}", answer.body);
        }
    }
    server.shutdown().await;
}
