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

#[tokio::test]
async fn a_dead_letter_leaves_the_queue_and_a_requeued_one_comes_back_until_it_runs() {
    let gate = Gate::default();
    let gate_in_listener = gate.clone();
    let fails_once = Probe::new("github", "push")
        .named("app::on_push")
        .with(move |_, calls| {
            let gate = gate_in_listener.clone();
            async move {
                if calls == 0 {
                    return Err("the build farm is down".into());
                }
                gate.pass().await;
                Ok(())
            }
        });
    let tables = queued("max-attempts = 1\nworkers = 1");
    let server = TestServer::start(config("", &tables), |b| b.listener(fails_once)).await;
    server
        .post(&github("gh-dead", "push", "{}"))
        .await
        .accepted("gh-dead");
    let gauge = |text: &str, name: &str| metric(text, name, &[("source", "github")]);
    let dead = |text: &str| gauge(text, "webhooks_dead_letters") == 1.0;
    let text = metrics_once(&server, "the event to be dead-lettered", dead).await;
    assert_eq!(gauge(&text, "webhooks_queue_depth"), 0.0, "{text}");
    // One attempt only: a failure that is not retried is no retry.
    assert!(!text.contains("webhooks_retries_total"), "{text}");

    let letters = server.processor.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert!(
        server
            .processor
            .requeue_dead_letter(&letters[0].id)
            .await
            .unwrap()
    );
    gate.arrivals(1).await;
    let text = server.metrics().await;
    assert_eq!(gauge(&text, "webhooks_queue_depth"), 1.0, "{text}");
    assert_eq!(gauge(&text, "webhooks_dead_letters"), 0.0, "{text}");
    gate.open();
    let drained = |text: &str| gauge(text, "webhooks_queue_depth") == 0.0;
    let text = metrics_once(&server, "the requeued event to run", drained).await;
    let handled = |outcome| {
        let labels = [
            ("source", "github"),
            ("event_type", "push"),
            ("listener", "app::on_push"),
            ("outcome", outcome),
        ];
        metric(&text, "webhooks_handled_total", &labels)
    };
    assert_eq!((handled("error"), handled("ok")), (1.0, 1.0), "{text}");
    assert_eq!(gauge(&text, "webhooks_dead_letters"), 0.0, "{text}");
    server.shutdown().await;
}
