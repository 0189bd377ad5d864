//! Every delivery leaves one `webhook` span with its id, as any tracing
//! subscriber sees it (`tracing-opentelemetry` is one such layer): the
//! fields are recorded on the span itself, a listener's run is a child
//! span, and nothing secret is in either.
//!
//! One test binary, one current-thread runtime: the subscriber set as the
//! thread's default sees the server's tasks too.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use common::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use webhooks::{BoxError, WebhookEvent, WebhookListener};

/// One span as a subscriber saw it: its name, its fields, its parent's name.
#[derive(Debug, Clone, Default)]
struct Seen {
    name: String,
    fields: BTreeMap<String, String>,
    parent: Option<String>,
}

#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<BTreeMap<u64, Seen>>>,
    events: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut seen = Seen {
            name: attrs.metadata().name().to_owned(),
            parent: ctx
                .span(id)
                .and_then(|span| span.parent())
                .map(|p| p.name().to_owned()),
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        self.spans.lock().unwrap().insert(id.into_u64(), seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        if let Some(seen) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Fields(&mut seen.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        if let Some(span) = ctx.event_span(event) {
            fields.insert("in_span".into(), span.name().to_owned());
        }
        fields.insert("level".into(), event.metadata().level().to_string());
        self.events.lock().unwrap().push(fields);
    }
}

impl Recorder {
    fn webhook_spans(&self) -> Vec<Seen> {
        let spans = self.spans.lock().unwrap();
        spans
            .values()
            .filter(|s| s.name == "webhook")
            .cloned()
            .collect()
    }
}

struct Fine;

impl WebhookListener for Fine {
    type Error = BoxError;
    fn source(&self) -> &str {
        "github"
    }
    fn event(&self) -> &str {
        "push"
    }
    async fn handle(&self, _: &WebhookEvent) -> Result<(), BoxError> {
        tracing::info!("inside the listener");
        Ok(())
    }
    fn name(&self) -> &str {
        "app::on_push"
    }
}

#[tokio::test]
async fn every_delivery_leaves_one_span_with_its_id_and_outcome() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(recorder.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = TestServer::start(config("", ""), |builder| builder.listener(Fine)).await;
    let push = github("d-span-1", "push", r#"{"ref":"refs/heads/main"}"#);
    server.post(&push).await.accepted("d-span-1");
    server.post(&push).await.duplicate("d-span-1");
    let forged = push.with_body(r#"{"forged":true}"#);
    let reply = server
        .post(&forged.with_header("X-GitHub-Delivery", "d-span-forged"))
        .await;
    assert_eq!(reply.status, 401);
    server.shutdown().await;

    let spans = recorder.webhook_spans();
    assert_eq!(spans.len(), 3, "one span per delivery: {spans:#?}");
    let accepted: Vec<_> = spans
        .iter()
        .filter(|s| s.fields.get("id").is_some_and(|id| id == "d-span-1"))
        .collect();
    assert_eq!(accepted.len(), 2, "{spans:#?}");
    for span in &accepted {
        assert_eq!(span.fields["source"], "github");
        assert_eq!(span.fields["event_type"], "push");
        assert_eq!(span.fields["attempt"], "1");
        assert_eq!(span.fields["client"], "127.0.0.1");
    }
    let outcomes: Vec<&str> = accepted
        .iter()
        .map(|s| s.fields["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["accepted", "duplicate"]);
    let refused = spans.iter().find(|s| {
        s.fields
            .get("outcome")
            .is_some_and(|o| o == "invalid_signature")
    });
    let refused = refused.unwrap_or_else(|| panic!("{spans:#?}"));
    assert!(
        !refused.fields.contains_key("id"),
        "no id is believed before the signature"
    );

    let listeners: Vec<Seen> = recorder
        .spans
        .lock()
        .unwrap()
        .values()
        .filter(|s| s.name == "webhook_listener")
        .cloned()
        .collect();
    assert_eq!(
        listeners.len(),
        1,
        "the duplicate ran no listener: {listeners:#?}"
    );
    assert_eq!(listeners[0].fields["listener"], "app::on_push");
    assert_eq!(listeners[0].fields["outcome"], "ok");
    assert!(listeners[0].fields.contains_key("duration_ms"));
    assert_eq!(listeners[0].parent.as_deref(), Some("webhook"));

    let events = recorder.events.lock().unwrap().clone();
    let inside = events
        .iter()
        .find(|e| e.get("message").is_some_and(|m| m == "inside the listener"));
    assert_eq!(inside.unwrap()["in_span"], "webhook_listener");
    let refusal = events
        .iter()
        .find(|e| e.get("message").is_some_and(|m| m == "webhook refused"));
    let refusal = refusal.unwrap_or_else(|| panic!("{events:#?}"));
    assert_eq!(
        (refusal["level"].as_str(), refusal["outcome"].as_str()),
        ("INFO", "invalid_signature")
    );
    let accepted_log = events
        .iter()
        .find(|e| e.get("message").is_some_and(|m| m == "webhook accepted"));
    assert_eq!(accepted_log.unwrap()["level"], "DEBUG");
    let everything = format!("{spans:?}{listeners:?}{events:?}");
    assert!(
        !everything.contains(GITHUB_SECRET),
        "no secret in a span or an event"
    );
    assert!(
        !everything.contains("sha256="),
        "no signature in a span or an event"
    );
}

#[tokio::test]
async fn a_queued_run_has_its_own_span_with_its_attempt() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(recorder.clone())
        .with(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start(config("", &queued("")), |builder| builder.listener(Fine)).await;
    server
        .post(&github("d-span-q", "push", r#"{"ref":"refs/heads/main"}"#))
        .await
        .accepted("d-span-q");
    server.shutdown().await;
    let spans: Vec<Seen> = recorder
        .webhook_spans()
        .into_iter()
        .filter(|s| s.fields.get("id").is_some_and(|id| id == "d-span-q"))
        .collect();
    assert_eq!(spans.len(), 2, "the delivery's and the run's: {spans:#?}");
    let run = spans
        .iter()
        .find(|s| s.fields.get("mode").is_some_and(|m| m == "queued"))
        .unwrap();
    assert_eq!(
        (
            run.fields["attempt"].as_str(),
            run.fields["outcome"].as_str()
        ),
        ("1", "succeeded")
    );
}
