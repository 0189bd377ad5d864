//! Queued dispatch over HTTP: answer first, retry with backoff, dead-letter,
//! refuse when full, drain on shutdown.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

#[tokio::test]
async fn queued_answers_200_while_the_listener_is_still_blocked() {
    let gate = Gate::default();
    let finished = Arc::new(AtomicBool::new(false));
    let probe = Probe::new("stripe", "*").with({
        let (gate, finished) = (gate.clone(), Arc::clone(&finished));
        move |_, _| {
            let (gate, finished) = (gate.clone(), Arc::clone(&finished));
            async move {
                gate.pass().await;
                finished.store(true, Ordering::SeqCst);
                Ok(())
            }
        }
    });
    let seen = probe.seen();
    let server = TestServer::start(config("", &queued("")), |b| b.listener(probe)).await;

    // Inline dispatch would hold this answer until the gate opens: never.
    server
        .post(&stripe("evt_q1", "charge.succeeded"))
        .await
        .accepted("evt_q1");
    gate.arrivals(1).await;
    assert!(!finished.load(Ordering::SeqCst));
    assert_eq!(seen.ids(), ["evt_q1"]);

    gate.open();
    eventually("the listener to finish", || finished.load(Ordering::SeqCst)).await;
    assert_eq!(seen.count(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn only_the_failing_listener_is_retried_with_its_attempt_number() {
    let (attempts, mut attempted) = mpsc::unbounded_channel();
    let flaky = Probe::new("stripe", "invoice.paid")
        .named("flaky")
        .with(move |event, calls| {
            let _ = attempts.send(event.attempt());
            async move {
                if calls < 2 {
                    return Err(format!("failed attempt {}", event.attempt()).into());
                }
                Ok(())
            }
        });
    let steady = Probe::new("stripe", "invoice.paid").named("steady");
    let (flaky_seen, steady_seen) = (flaky.seen(), steady.seen());
    let tables = queued("max-attempts = 5\nbackoff-initial-ms = 10");
    let server =
        TestServer::start(config("", &tables), |b| b.listener(flaky).listener(steady)).await;
    let processor = server.processor.clone();

    server
        .post(&stripe("evt_retry", "invoice.paid"))
        .await
        .accepted("evt_retry");
    for expected in 1..=3 {
        let attempt = within("the next attempt", attempted.recv()).await;
        assert_eq!(attempt, Some(expected));
    }
    // A redelivery meanwhile is a duplicate, not a fourth run.
    assert_eq!(
        server
            .post(&stripe("evt_retry", "invoice.paid"))
            .await
            .json()["status"],
        "duplicate"
    );
    server.shutdown().await;

    assert_eq!(flaky_seen.attempts(), [1, 2, 3]);
    assert_eq!(flaky_seen.ids(), ["evt_retry"; 3]);
    assert_eq!(steady_seen.attempts(), [1]);
    assert!(processor.dead_letters().await.unwrap().is_empty());
    let text = processor.metrics().encode();
    let handled = |listener, outcome| {
        let labels = [
            ("source", "stripe"),
            ("event_type", "invoice.paid"),
            ("listener", listener),
            ("outcome", outcome),
        ];
        metric(&text, "webhooks_handled_total", &labels)
    };
    assert_eq!(
        (handled("flaky", "ok"), handled("flaky", "error")),
        (1.0, 2.0)
    );
    assert_eq!(
        (handled("steady", "ok"), handled("steady", "error")),
        (1.0, 0.0)
    );
    let retries = [("source", "stripe"), ("listener", "flaky")];
    assert_eq!(metric(&text, "webhooks_retries_total", &retries), 2.0);
}

#[tokio::test]
async fn a_listener_failing_every_attempt_is_dead_lettered_with_its_last_error() {
    let broken = Probe::new("stripe", "invoice.paid")
        .named("always-broken")
        .with(|event, _| async move {
            Err(format!("still broken at attempt {}", event.attempt()).into())
        });
    let steady = Probe::new("stripe", "invoice.paid").named("steady");
    let (broken_seen, steady_seen) = (broken.seen(), steady.seen());
    let tables = queued("max-attempts = 3\nbackoff-initial-ms = 10");
    let server =
        TestServer::start(config("", &tables), |b| b.listener(broken).listener(steady)).await;
    let processor = server.processor.clone();

    server
        .post(&stripe("evt_dead", "invoice.paid"))
        .await
        .accepted("evt_dead");
    let dead = within("the event to be dead-lettered", async {
        loop {
            let dead = processor.dead_letters().await.expect("the dead letters");
            if !dead.is_empty() {
                break dead;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;

    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(
        letter.reason,
        "still broken at attempt 3 (listeners: always-broken)"
    );
    assert_eq!(
        letter.state.last_error.as_deref(),
        Some("still broken at attempt 3")
    );
    assert_eq!(letter.event.id(), "evt_dead");
    assert_eq!(letter.event.event_type(), "invoice.paid");
    assert_eq!(letter.event.attempt(), 3, "attempts made");
    assert_eq!(broken_seen.attempts(), [1, 2, 3]);
    assert_eq!(steady_seen.attempts(), [1]);
    let gauge = r#"webhooks_dead_letters{source="stripe"} 1"#;
    let text = server.metrics().await;
    assert!(text.contains(gauge), "no {gauge} in\n{text}");
    server.shutdown().await;
    assert_eq!(broken_seen.count(), 3, "no run after the last attempt");
}

#[tokio::test]
async fn a_full_queue_gets_503_and_records_nothing() {
    let gate = Gate::default();
    let probe = Probe::new("stripe", "*").gated(&gate);
    let seen = probe.seen();
    // Capacity counts every event not yet done: the running one included.
    let tables = queued("queue-capacity = 2\nworkers = 1");
    let server = TestServer::start(config("", &tables), |b| b.listener(probe)).await;
    let delivery = |n: usize| stripe(&format!("evt_full_{n}"), "charge.succeeded");

    // The one worker holds the first event; the second waits in the queue's
    // last place.
    server.post(&delivery(1)).await.accepted("evt_full_1");
    gate.arrivals(1).await;
    server.post(&delivery(2)).await.accepted("evt_full_2");
    for n in [3, 4] {
        let refused = server.post(&delivery(n)).await;
        refused.expect_retry_later(503);
        assert!(!refused.error().is_empty());
    }
    let text = server.metrics().await;
    let name = "webhooks_received_total";
    let unavailable = counter(&text, name, "stripe", "charge.succeeded", "unavailable");
    assert_eq!(unavailable, 2.0);

    gate.open();
    eventually("the held events to run", || seen.count() == 2).await;
    // Nothing was recorded for the refused ones: their retries are new.
    // (One at a time: the queue has room for one.)
    for n in [3, 4] {
        let id = format!("evt_full_{n}");
        server.post(&delivery(n)).await.accepted(&id);
        eventually("the retried event to run", || seen.count() == n).await;
    }
    server.shutdown().await;
    assert_eq!(
        seen.ids(),
        ["evt_full_1", "evt_full_2", "evt_full_3", "evt_full_4"]
    );
}

#[tokio::test]
async fn shutdown_drains_the_queue_before_the_server_returns() {
    const N: usize = 8;
    let gate = Gate::default();
    let probe = Probe::new("partner", "*").gated(&gate);
    let seen = probe.seen();
    let tables = queued("workers = 1");
    let mut server = TestServer::start(config("", &tables), |b| b.listener(probe)).await;
    for n in 0..N {
        let key = format!("drain-{n}");
        server
            .post(&partner(Some(&key), r#"{"type":"job"}"#))
            .await
            .accepted(&key);
    }
    gate.arrivals(1).await;

    server.signal_shutdown();
    let addr = server.addr;
    within("the server to stop accepting", async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    // Stopped accepting, yet still running: the queue holds N - 1 events.
    assert!(!server.has_stopped());
    assert_eq!(seen.count(), 1);

    gate.open();
    server.shutdown().await;
    let mut ids = seen.ids();
    ids.sort();
    let expected: Vec<String> = (0..N).map(|n| format!("drain-{n}")).collect();
    assert_eq!(ids, expected);
}
