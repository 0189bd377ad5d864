//! The metrics' unit tests.

use super::*;

#[test]
fn outcome_order_matches_the_counter_slots() {
    for (index, outcome) in RECEIVED.iter().enumerate() {
        assert_eq!(*outcome as usize, index);
    }
    for (index, outcome) in HANDLED.iter().enumerate() {
        assert_eq!(*outcome as usize, index);
    }
}

/// The `webhooks_received_total` counts of `source`, by event type.
fn received_by_type(metrics: &Metrics, source: &str) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for family in metrics.families() {
        if family.name() != "webhooks_received_total" {
            continue;
        }
        for metric in family.get_metric() {
            let label = |name: &str| {
                let pair = metric.get_label().iter().find(|p| p.name() == name);
                pair.map(|p| p.value().to_owned()).unwrap_or_default()
            };
            if label("source") == source {
                *counts.entry(label("event_type")).or_default() +=
                    metric.get_counter().get_value() as u64;
            }
        }
    }
    counts
}

#[test]
fn event_types_past_the_cap_are_counted_as_other() {
    let metrics = Metrics::new();
    metrics.received("github", UNKNOWN, Received::InvalidSignature);
    for n in 0..150 {
        let event_type = format!("type-{n}");
        metrics.received("github", &event_type, Received::Accepted);
        metrics.handled("github", &event_type, 0, Handled::Ignored);
        metrics.observe_processing("github", &event_type, 0.001);
    }
    // A type seen before keeps its label; a new one is `other`, on
    // every thread (each has its own cache).
    std::thread::scope(|scope| {
        scope.spawn(|| {
            metrics.received("github", "type-7", Received::Duplicate);
            metrics.received("github", "type-150", Received::Accepted);
        });
    });
    metrics.received("github", UNKNOWN, Received::BadRequest);
    metrics.received("stripe", "invoice.paid", Received::Accepted);
    let counts = received_by_type(&metrics, "github");
    assert_eq!(counts.len(), Metrics::MAX_EVENT_TYPES + 2, "{counts:?}");
    assert_eq!(counts["other"], 51);
    assert_eq!(counts["type-7"], 2);
    assert_eq!(counts["type-99"], 1);
    assert!(!counts.contains_key("type-100"), "{counts:?}");
    assert_eq!(counts[UNKNOWN], 2);
    assert_eq!(counts.values().sum::<u64>(), 154);
    assert_eq!(received_by_type(&metrics, "stripe")["invoice.paid"], 1);
    let text = metrics.encode();
    for line in [
        r#"webhooks_handled_total{event_type="other",listener="",outcome="ignored",source="github"} 50"#,
        r#"webhooks_processing_seconds_count{event_type="other",source="github"} 50"#,
    ] {
        assert!(text.contains(line), "no {line} in\n{text}");
    }
}

#[test]
fn shards_of_every_thread_are_summed() {
    let metrics = Metrics::new();
    metrics.describe_source("github", ["app::on_push"], false);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            let metrics = &metrics;
            scope.spawn(move || {
                for _ in 0..1000 {
                    metrics.received("github", "push", Received::Accepted);
                    metrics.received("github", "issues.opened", Received::Duplicate);
                    metrics.handled("github", "push", 1, Handled::Ok);
                    metrics.observe_processing("github", "push", 0.003);
                }
            });
        }
    });
    let text = metrics.encode();
    for line in [
        r#"webhooks_received_total{event_type="push",outcome="accepted",source="github"} 4000"#,
        r#"webhooks_received_total{event_type="issues.opened",outcome="duplicate",source="github"} 4000"#,
        r#"webhooks_handled_total{event_type="push",listener="app::on_push",outcome="ok",source="github"} 4000"#,
        r#"webhooks_processing_seconds_bucket{event_type="push",source="github",le="0.0025"} 0"#,
        r#"webhooks_processing_seconds_bucket{event_type="push",source="github",le="0.005"} 4000"#,
        r#"webhooks_processing_seconds_bucket{event_type="push",source="github",le="+Inf"} 4000"#,
        r#"webhooks_processing_seconds_count{event_type="push",source="github"} 4000"#,
        "# TYPE webhooks_processing_seconds histogram",
        "# TYPE webhooks_received_total counter",
    ] {
        assert!(text.contains(line), "no {line} in\n{text}");
    }
    let sum = text
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                r#"webhooks_processing_seconds_sum{event_type="push",source="github"} "#,
            )
        })
        .expect("a sum line");
    assert!((sum.parse::<f64>().unwrap() - 12.0).abs() < 1e-6, "{sum}");
    // Two processors keep their own series, even on one thread.
    let other = Metrics::new();
    other.received("github", "push", Received::Accepted);
    assert!(other.encode().contains(r#"source="github"} 1"#));
    assert!(metrics.encode().contains(r#"source="github"} 4000"#));
}

/// The lines of `text` that start with `name{` or `name `.
fn lines_of(text: &str, name: &str) -> Vec<String> {
    text.lines()
        .filter(|line| {
            line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn listener_runs_and_retries_are_labelled_with_the_listener_name() {
    let metrics = Metrics::new();
    metrics.describe_source("github", ["app::on_push", "app::audit"], true);
    metrics.describe_source("stripe", ["app::on_paid"], false);
    metrics.handled("github", "push", 1, Handled::Ok);
    metrics.handled("github", "push", 2, Handled::Error);
    metrics.retried("github", "push", 2);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            metrics.handled("github", "push", 1, Handled::Ok);
            metrics.handled("github", "push", 2, Handled::Ok);
            metrics.retried("github", "issues.opened", 2);
        });
    });
    metrics.handled("github", "ping", 0, Handled::Ignored);
    metrics.handled("stripe", "invoice.paid", 1, Handled::Ok);
    // A slot past the source's listeners is not counted anywhere.
    metrics.handled("stripe", "invoice.paid", 2, Handled::Ok);
    metrics.retried("stripe", "invoice.paid", 9);
    let text = metrics.encode();
    assert_eq!(
        lines_of(&text, "webhooks_handled_total"),
        [
            r#"webhooks_handled_total{event_type="invoice.paid",listener="app::on_paid",outcome="ok",source="stripe"} 1"#,
            r#"webhooks_handled_total{event_type="ping",listener="",outcome="ignored",source="github"} 1"#,
            r#"webhooks_handled_total{event_type="push",listener="app::on_push",outcome="ok",source="github"} 2"#,
            r#"webhooks_handled_total{event_type="push",listener="app::audit",outcome="ok",source="github"} 1"#,
            r#"webhooks_handled_total{event_type="push",listener="app::audit",outcome="error",source="github"} 1"#,
        ],
        "{text}"
    );
    // Summed over the event types: the labels are source and listener.
    assert_eq!(
        lines_of(&text, "webhooks_retries_total"),
        [r#"webhooks_retries_total{listener="app::audit",source="github"} 2"#],
        "{text}"
    );
    assert!(
        text.contains("# TYPE webhooks_retries_total counter"),
        "{text}"
    );
}

#[test]
fn queue_depth_sums_every_thread_and_type_and_returns_to_zero() {
    let metrics = Metrics::new();
    metrics.describe_source("github", ["app::on_push"], true);
    metrics.describe_source("partner", [], true);
    metrics.describe_source("stripe", [], false);
    // Queued sources show 0 before their first event; inline ones nothing.
    assert_eq!(
        lines_of(&metrics.encode(), "webhooks_queue_depth"),
        [
            r#"webhooks_queue_depth{source="github"} 0"#,
            r#"webhooks_queue_depth{source="partner"} 0"#,
        ]
    );
    metrics.received("stripe", "invoice.paid", Received::Accepted);
    for _ in 0..3 {
        metrics.queue_moved("github", "push", 1);
    }
    metrics.queue_moved("github", "issues.opened", 1);
    // Settled on other threads than the ones that queued.
    std::thread::scope(|scope| {
        scope.spawn(|| metrics.queue_moved("github", "push", -1));
    });
    let text = metrics.encode();
    assert_eq!(
        lines_of(&text, "webhooks_queue_depth"),
        [
            r#"webhooks_queue_depth{source="github"} 3"#,
            r#"webhooks_queue_depth{source="partner"} 0"#,
        ],
        "{text}"
    );
    assert!(text.contains("# TYPE webhooks_queue_depth gauge"), "{text}");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            metrics.queue_moved("github", "push", -1);
            metrics.queue_moved("github", "issues.opened", -1);
        });
    });
    metrics.queue_moved("github", "push", -1);
    assert_eq!(
        lines_of(&metrics.encode(), "webhooks_queue_depth"),
        [
            r#"webhooks_queue_depth{source="github"} 0"#,
            r#"webhooks_queue_depth{source="partner"} 0"#,
        ]
    );
}

#[test]
fn dead_letters_are_a_gauge_per_source() {
    let metrics = Metrics::new();
    metrics.set_dead_letters([("github", 2), ("stripe", 0)]);
    metrics.set_dead_letters([("github", 1), ("stripe", 0)]);
    assert_eq!(
        lines_of(&metrics.encode(), "webhooks_dead_letters"),
        [
            r#"webhooks_dead_letters{source="github"} 1"#,
            r#"webhooks_dead_letters{source="stripe"} 0"#,
        ]
    );
}
