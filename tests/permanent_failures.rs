//! Permanent failures over TCP: a listener that says no retry can help (a
//! `Permanent` error, or a body that does not fit its `Json<T>`) is not
//! retried. Inline, the event is recorded as failed and answered
//! `200 {"status":"failed"}`, so the provider stops resending it; queued,
//! it goes straight to the dead letters. A retryable failure is unchanged.
//!
//! Waits are bounded (hang guards); nothing asserts how long anything took.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use serde_json::json;
use webhooks::{BoxError, EventStatus, Json, Permanent, WebhookEvent, WebhookListener};

/// How a listener fails.
#[derive(Clone, Copy)]
enum Fails {
    Permanently,
    /// Through `Json<Refund>`, as a typed `#[webhook_listener]` does.
    OnItsBody,
    Retryably,
}

#[derive(serde::Deserialize)]
#[allow(dead_code, reason = "only its shape matters")]
struct Refund {
    amount: u64,
}

#[derive(Clone)]
struct Failing {
    how: Fails,
    name: &'static str,
    runs: Arc<AtomicU32>,
    errors_seen: Arc<AtomicU32>,
}

impl Failing {
    fn new(how: Fails, name: &'static str) -> Self {
        Self {
            how,
            name,
            runs: Arc::default(),
            errors_seen: Arc::default(),
        }
    }
}

impl WebhookListener for Failing {
    type Error = BoxError;

    fn source(&self) -> &str {
        "stripe"
    }

    fn event(&self) -> &str {
        "charge.refunded"
    }

    async fn handle(&self, event: &WebhookEvent) -> Result<(), BoxError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        match self.how {
            Fails::Permanently => Err(Permanent::new("refund of an unknown charge").into()),
            Fails::OnItsBody => {
                let Json(refund) = Json::<Refund>::from_event(event)?;
                let _ = refund;
                Ok(())
            }
            Fails::Retryably => Err("the ledger is down".into()),
        }
    }

    fn on_error(&self, _: &WebhookEvent, _: &BoxError) {
        self.errors_seen.fetch_add(1, Ordering::SeqCst);
    }

    fn name(&self) -> &str {
        self.name
    }
}

/// The dead letters, once there is one.
async fn first_dead_letters(server: &TestServer) -> Vec<webhooks::DeadLetter> {
    within("the dead letter", async {
        loop {
            let letters = server.processor.dead_letters().await.unwrap();
            if !letters.is_empty() {
                return letters;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
}

fn refund(id: &str) -> Signed {
    let body = json!({"id": id, "type": "charge.refunded", "data": {"object": {}}});
    stripe_at(&body.to_string(), unix_now())
}

#[tokio::test]
async fn inline_a_permanent_failure_is_answered_200_failed_and_not_retried() {
    for (how, id) in [
        (Fails::Permanently, "evt_perm_1"),
        (Fails::OnItsBody, "evt_perm_2"),
    ] {
        let listener = Failing::new(how, "refunds");
        let server = TestServer::start(config("", ""), {
            let listener = listener.clone();
            move |builder| builder.listener(listener)
        })
        .await;
        let reply = server.post(&refund(id)).await;
        reply.expect(200, json!({"status": "failed", "id": id}));
        server.post(&refund(id)).await.duplicate(id);
        assert_eq!(listener.runs.load(Ordering::SeqCst), 1, "not run again");
        assert_eq!(
            listener.errors_seen.load(Ordering::SeqCst),
            1,
            "on_error ran"
        );
        let record = server.processor.event("stripe", id).await.unwrap().unwrap();
        assert_eq!(record.status, EventStatus::Failed);
        let error = record.error.unwrap();
        assert!(
            error.starts_with("permanent failure, not retried"),
            "{error}"
        );
        assert_eq!(record.redeliveries, 1);
        let metrics = server.metrics().await;
        let handled = metrics.lines().find(|line| {
            line.starts_with("webhooks_handled_total")
                && line.contains("listener=\"refunds\"")
                && line.contains("outcome=\"error\"")
        });
        assert!(
            handled.is_some_and(|line| line.ends_with(" 1")),
            "{metrics}"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn inline_a_retryable_failure_is_still_a_500_for_the_providers_retry() {
    let listener = Failing::new(Fails::Retryably, "refunds");
    let server = TestServer::start(config("", ""), {
        let listener = listener.clone();
        move |builder| builder.listener(listener)
    })
    .await;
    let reply = server.post(&refund("evt_retry_1")).await;
    reply.expect(500, json!({"error": "listener failed"}));
    server.post(&refund("evt_retry_1")).await;
    assert_eq!(
        listener.runs.load(Ordering::SeqCst),
        2,
        "the retry ran it again"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn queued_a_permanent_failure_is_dead_after_one_attempt() {
    let listener = Failing::new(Fails::Permanently, "refunds");
    let dispatch = queued("max-attempts = 5\nbackoff-initial-ms = 10");
    let server = TestServer::start(config("", &dispatch), {
        let listener = listener.clone();
        move |builder| builder.listener(listener)
    })
    .await;
    server
        .post(&refund("evt_perm_q"))
        .await
        .accepted("evt_perm_q");
    let letters = first_dead_letters(&server).await;
    assert_eq!(letters[0].state.attempts, 1);
    assert!(
        letters[0]
            .reason
            .starts_with("permanent failure, not retried: refund of an unknown charge"),
        "{}",
        letters[0].reason
    );
    assert_eq!(listener.runs.load(Ordering::SeqCst), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn queued_a_permanent_and_a_retryable_failure_together_are_retried() {
    let permanent = Failing::new(Fails::Permanently, "refunds");
    let retryable = Failing::new(Fails::Retryably, "ledger");
    let dispatch = queued("max-attempts = 3\nbackoff-initial-ms = 10");
    let server = TestServer::start(config("", &dispatch), {
        let (permanent, retryable) = (permanent.clone(), retryable.clone());
        move |builder| builder.listener(permanent).listener(retryable)
    })
    .await;
    server
        .post(&refund("evt_mixed"))
        .await
        .accepted("evt_mixed");
    let letters = first_dead_letters(&server).await;
    assert_eq!(
        letters[0].state.attempts, 3,
        "retried for the retryable one"
    );
    assert_eq!(retryable.runs.load(Ordering::SeqCst), 3);
    server.shutdown().await;
}
