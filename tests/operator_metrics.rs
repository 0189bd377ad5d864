//! `/metrics` over TCP after a known sequence of queued deliveries: each
//! listener run under its listener's name, the retry of a failed one, the
//! queue's depth while an event waits and once everything is settled, and
//! the processing-time histogram under its contract name.

mod common;

use common::*;

/// The lines of the exposition that are samples of `name`.
fn samples(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .map(str::to_owned)
        .collect()
}

/// Reads `/metrics` until `done` holds of it (bounded by [`within`]).
async fn metrics_once(server: &TestServer, what: &str, done: impl Fn(&str) -> bool) -> String {
    within(what, async {
        loop {
            let text = server.metrics().await;
            if done(&text) {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
}

#[tokio::test]
async fn metrics_name_each_listener_count_retries_and_the_queue_drains_to_zero() {
    let gate = Gate::default();
    let paid = Probe::new("stripe", "payment_intent.succeeded")
        .named("app::on_payment")
        .gated(&gate);
    let flaky = Probe::new("stripe", "invoice.payment_failed")
        .named("app::on_failed_invoice")
        .with(|_, calls| async move {
            match calls {
                0 => Err("the ledger is down".into()),
                _ => Ok(()),
            }
        });
    let (paid_seen, flaky_seen) = (paid.seen(), flaky.seen());
    let tables = queued("max-attempts = 3\nbackoff-initial-ms = 10\nworkers = 2");
    let server = TestServer::start(config("", &tables), |b| b.listener(paid).listener(flaky)).await;

    // While the payment's listener is held, its event is in the queue.
    server
        .post(&stripe("evt_paid", "payment_intent.succeeded"))
        .await
        .accepted("evt_paid");
    gate.arrivals(1).await;
    let text = server.metrics().await;
    let depth =
        |text: &str, source: &str| metric(text, "webhooks_queue_depth", &[("source", source)]);
    assert_eq!(depth(&text, "stripe"), 1.0, "{text}");
    assert_eq!(depth(&text, "github"), 0.0, "{text}");
    assert!(
        text.contains(r#"webhooks_queue_depth{source="github"} 0"#),
        "{text}"
    );
    gate.open();

    for (id, event_type) in [
        ("evt_invoice", "invoice.payment_failed"),
        ("evt_customer", "customer.created"),
    ] {
        server.post(&stripe(id, event_type)).await.accepted(id);
    }
    let drained = |text: &str| {
        depth(text, "stripe") == 0.0
            && samples(text, "webhooks_handled_total").len() == 4
            && text.contains("webhooks_retries_total{")
    };
    let text = metrics_once(&server, "the queue to drain", drained).await;
    assert_eq!((paid_seen.count(), flaky_seen.attempts()), (1, vec![1, 2]));

    assert_eq!(
        samples(&text, "webhooks_handled_total"),
        [
            r#"webhooks_handled_total{event_type="customer.created",listener="",outcome="ignored",source="stripe"} 1"#,
            r#"webhooks_handled_total{event_type="invoice.payment_failed",listener="app::on_failed_invoice",outcome="ok",source="stripe"} 1"#,
            r#"webhooks_handled_total{event_type="invoice.payment_failed",listener="app::on_failed_invoice",outcome="error",source="stripe"} 1"#,
            r#"webhooks_handled_total{event_type="payment_intent.succeeded",listener="app::on_payment",outcome="ok",source="stripe"} 1"#,
        ],
        "{text}"
    );
    assert_eq!(
        samples(&text, "webhooks_retries_total"),
        [r#"webhooks_retries_total{listener="app::on_failed_invoice",source="stripe"} 1"#],
        "{text}"
    );
    for source in ["github", "partner", "stripe"] {
        let line = format!(r#"webhooks_queue_depth{{source="{source}"}} 0"#);
        assert!(text.lines().any(|l| l == line), "{line}?\n{text}");
        let line = format!(r#"webhooks_dead_letters{{source="{source}"}} 0"#);
        assert!(text.lines().any(|l| l == line), "{line}?\n{text}");
    }
    for kind in [
        "# TYPE webhooks_queue_depth gauge",
        "# TYPE webhooks_dead_letters gauge",
        "# TYPE webhooks_retries_total counter",
        "# TYPE webhooks_processing_seconds histogram",
    ] {
        assert!(text.contains(kind), "{kind}?\n{text}");
    }
    assert!(!text.contains("webhook_processing_seconds"), "{text}");
    // Timed once per delivery: three deliveries, one of each type.
    let timed = samples(&text, "webhooks_processing_seconds_count");
    assert_eq!(timed.len(), 3, "{text}");
    assert!(timed.iter().all(|line| line.ends_with("} 1")), "{text}");
    server.shutdown().await;
}
