//! Typed listeners: `Json<T>` is deserialized from the body at each run, and
//! a body that does not fit `T` fails that listener only, not the delivery
//! nor the other listeners of the event.

use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Deserialize;
use webhooks::{
    Headers, HmacSignatureValidator, Json, Processed, WebhookEvent, WebhookProcessor,
    webhook_listener,
};

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Invoice {
    id: String,
    amount_paid: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Subscription {
    #[serde(rename = "type")]
    event_type: String,
    status: String,
}

/// What each listener saw, as `(listener, event id, detail)`; the tests run
/// in parallel, so each looks only at its own event ids.
static SEEN: Mutex<Vec<(&str, String, String)>> = Mutex::new(Vec::new());

fn saw(listener: &'static str, id: &str, detail: impl ToString) {
    SEEN.lock()
        .unwrap()
        .push((listener, id.to_owned(), detail.to_string()));
}

/// The listeners that saw event `id`, with what they saw, in name order.
fn seen(id: &str) -> Vec<(&'static str, String)> {
    let mut seen: Vec<_> = SEEN
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, seen_id, _)| seen_id == id)
        .map(|(listener, _, detail)| (*listener, detail.clone()))
        .collect();
    seen.sort();
    seen
}

/// The typed body alone, destructured in the argument.
#[webhook_listener(source = "billing", event = "invoice.paid")]
async fn typed(Json(invoice): Json<Invoice>) -> Result<(), webhooks::BoxError> {
    // No event here, so the invoice's id stands for it.
    saw("typed", &invoice.id, invoice.amount_paid);
    Ok(())
}

/// The event and the typed body, through the full path.
#[webhook_listener(source = "billing", event = "invoice.paid")]
async fn with_event(
    event: &WebhookEvent,
    invoice: webhooks::Json<Invoice>,
) -> Result<(), std::io::Error> {
    saw("with_event", event.id(), &invoice.id);
    Ok(())
}

/// The other order, with the event by value.
#[webhook_listener(source = "billing", event = "invoice.paid")]
async fn body_first(invoice: Json<Invoice>, event: WebhookEvent) -> Result<(), webhooks::BoxError> {
    saw("body_first", event.id(), invoice.into_inner().amount_paid);
    Ok(())
}

/// An untyped listener of the same event.
#[webhook_listener(source = "billing", event = "invoice.paid")]
async fn untyped(event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    saw("untyped", event.id(), event.event_type());
    Ok(())
}

/// A typed listener of a prefix.
#[webhook_listener(source = "stripe", event = "customer.subscription.*")]
async fn subscription(
    event: &WebhookEvent,
    Json(subscription): Json<Subscription>,
) -> Result<(), webhooks::BoxError> {
    assert_eq!(subscription.event_type, event.event_type());
    saw("subscription", event.id(), subscription.status);
    Ok(())
}

/// A typed listener of every event, through a renamed crate path.
mod renamed {
    use webhooks as hooks;
    use webhooks::webhook_listener;

    #[webhook_listener(source = "stripe", event = "*", crate = "crate::renamed::hooks")]
    async fn any(
        event: hooks::WebhookEvent,
        hooks::Json(value): hooks::Json<serde_json::Value>,
    ) -> Result<(), hooks::BoxError> {
        super::saw("any", event.id(), &value["type"]);
        Ok(())
    }
}

fn processor() -> WebhookProcessor {
    WebhookProcessor::builder()
        .register_validator(
            "billing",
            HmacSignatureValidator::new("billing-secret").unwrap(),
        )
        .register_validator(
            "stripe",
            HmacSignatureValidator::new("stripe-secret").unwrap(),
        )
        .build()
        .unwrap()
}

/// A delivery signed as `X-Signature: sha256=<hex>`; the validator takes
/// the type from the body's `type`.
fn signed(secret: &str, id: &str, body: &str) -> (Headers, Bytes) {
    let signature = HmacSignatureValidator::sign(secret.as_bytes(), body.as_bytes());
    let headers = Headers::new()
        .with("X-Signature", &format!("sha256={signature}"))
        .with("X-Event-Id", id);
    (headers, Bytes::from(body.to_owned()))
}

#[tokio::test]
async fn a_typed_listener_receives_its_struct() {
    let processor = processor();
    let body = r#"{"type":"invoice.paid","id":"in_fits","amount_paid":900}"#;
    let (headers, body) = signed("billing-secret", "evt_fits", body);
    let processed = processor.process("billing", body, headers).await.unwrap();
    assert_eq!(
        processed,
        Processed::Accepted {
            id: "evt_fits".into()
        }
    );
    assert_eq!(
        seen("evt_fits"),
        [
            ("body_first", "900".into()),
            ("untyped", "invoice.paid".into()),
            ("with_event", "in_fits".into()),
        ]
    );
    assert_eq!(seen("in_fits"), [("typed", "900".into())]);
}

#[tokio::test]
async fn a_body_that_does_not_fit_fails_only_the_typed_listeners() {
    let logs = Logs::default();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish(),
    );
    let processor = processor();

    // `amount_paid` is a string, and it is private.
    let body = r#"{"type":"invoice.paid","id":"in_unfit","amount_paid":"secret-amount"}"#;
    let (headers, body) = signed("billing-secret", "evt_unfit", body);
    // A body that does not fit is a permanent failure: recorded as failed,
    // answered 200 `failed`, not retried.
    let processed = processor.process("billing", body, headers).await;
    assert!(
        matches!(&processed, Ok(Processed::Failed { id }) if id == "evt_unfit"),
        "{processed:?}"
    );
    // The untyped listener of the same event still ran; the typed ones did not.
    assert_eq!(seen("evt_unfit"), [("untyped", "invoice.paid".into())]);
    assert_eq!(seen("in_unfit"), []);

    // Each typed listener's failure went to its `on_error`, the default
    // warning, which names the listener, the type and serde's reason.
    let logs = logs.text();
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("webhook listener failed"))
        .collect();
    assert_eq!(warnings.len(), 3, "{logs}");
    for listener in ["typed::typed", "typed::with_event", "typed::body_first"] {
        let warning = warnings
            .iter()
            .find(|line| line.contains(&format!("listener=\"{listener}\"")))
            .unwrap_or_else(|| panic!("no warning for {listener}: {logs}"));
        assert!(warning.contains("id=\"evt_unfit\""), "{warning}");
        assert!(
            warning.contains(
                "the event body does not deserialize into `typed::Invoice`: \
                 invalid type: string"
            ),
            "{warning}"
        );
    }
    assert!(
        !logs.contains("secret-amount"),
        "the body is not logged: {logs}"
    );

    // Recorded as done: the provider's redelivery is a duplicate, and no
    // listener runs again.
    let body = r#"{"type":"invoice.paid","id":"in_unfit","amount_paid":100}"#;
    let (headers, body) = signed("billing-secret", "evt_unfit", body);
    let again = processor.process("billing", body, headers).await.unwrap();
    assert_eq!(
        again,
        Processed::Duplicate {
            id: "evt_unfit".into()
        }
    );
    assert_eq!(seen("in_unfit"), []);
}

#[tokio::test]
async fn a_prefix_pattern_receives_only_its_events() {
    let processor = processor();

    let body = r#"{"type":"customer.subscription.updated","status":"active"}"#;
    let (headers, body) = signed("stripe-secret", "evt_sub_updated", body);
    processor.process("stripe", body, headers).await.unwrap();
    assert_eq!(
        seen("evt_sub_updated"),
        [
            ("any", "\"customer.subscription.updated\"".into()),
            ("subscription", "active".into()),
        ]
    );

    // Not under the prefix: only the `*` listener runs, so a body that
    // would not fit `Subscription` is no failure.
    let body = r#"{"type":"customer.created","email":"a@example.com"}"#;
    let (headers, body) = signed("stripe-secret", "evt_customer_created", body);
    let processed = processor.process("stripe", body, headers).await.unwrap();
    assert_eq!(
        processed,
        Processed::Accepted {
            id: "evt_customer_created".into()
        }
    );
    assert_eq!(
        seen("evt_customer_created"),
        [("any", "\"customer.created\"".into())]
    );
}

#[tokio::test]
async fn the_typed_function_stays_callable() {
    let invoice = Invoice {
        id: "in_direct".into(),
        amount_paid: 1,
    };
    typed(Json(invoice.clone())).await.unwrap();
    let event = WebhookEvent::new("billing", "invoice.paid", "evt_direct", "{}");
    body_first(Json(invoice), event).await.unwrap();
    assert_eq!(seen("in_direct"), [("typed", "1".into())]);
    assert_eq!(seen("evt_direct"), [("body_first", "1".into())]);
}

/// A log writer that keeps what it is given.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}
