//! `#[webhook_listener]` functions are registered at link time, under their
//! full path, and the processor runs them with no registration call.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use webhooks::__private::registered_listeners;
use webhooks::{
    Headers, HmacSignatureValidator, ProcessError, Processed, WebhookEvent, WebhookProcessor,
    webhook_listener,
};

static A_CALLS: AtomicUsize = AtomicUsize::new(0);
static B_CALLS: AtomicUsize = AtomicUsize::new(0);
static BY_VALUE_CALLS: AtomicUsize = AtomicUsize::new(0);
static RENAMED_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Two listeners with the same function name, in two modules.
mod a {
    use super::*;

    #[webhook_listener(source = "partner", event = "order.created")]
    pub(crate) async fn on_event(event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
        assert_eq!(event.source(), "partner");
        assert_eq!(event.event_type(), "order.created");
        A_CALLS.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

mod b {
    use super::*;

    /// A path type, a prefix pattern and an error that is not `BoxError`.
    #[webhook_listener(source = "partner", event = "order.*")]
    async fn on_event(event: &webhooks::WebhookEvent) -> Result<(), std::io::Error> {
        B_CALLS.fetch_add(1, Ordering::SeqCst);
        if event.event_type() == "order.failed" {
            return Err(std::io::Error::other("the order failed"));
        }
        Ok(())
    }
}

/// The event taken by value.
#[webhook_listener(source = "partner", event = "*")]
async fn by_value(event: WebhookEvent) -> Result<(), std::convert::Infallible> {
    let payload: serde_json::Value = event.json().unwrap();
    assert_eq!(payload["type"], event.event_type());
    BY_VALUE_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// The crate through another path, as for a renamed dependency.
mod renamed {
    pub(crate) use webhooks as hooks;
    use webhooks::webhook_listener;

    #[webhook_listener(
        source = "billing",
        event = "invoice.paid",
        crate = "crate::renamed::hooks"
    )]
    async fn on_invoice(_event: &hooks::WebhookEvent) -> Result<(), hooks::BoxError> {
        super::RENAMED_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    #[webhook_listener(source = "billing", event = "invoice.*", crate = "::webhooks")]
    async fn on_invoice_family(_event: &hooks::WebhookEvent) -> Result<(), hooks::BoxError> {
        Ok(())
    }
}

#[test]
fn listeners_are_registered_under_their_paths() {
    let names: Vec<&str> = registered_listeners()
        .unwrap()
        .iter()
        .map(|registration| registration.name())
        .collect();
    assert_eq!(
        names,
        [
            "registry::a::on_event",
            "registry::b::on_event",
            "registry::by_value",
            "registry::renamed::on_invoice",
            "registry::renamed::on_invoice_family",
        ]
    );
}

#[tokio::test]
async fn the_function_stays_callable() {
    let event = WebhookEvent::new("partner", "order.created", "direct", "{}");
    let before = A_CALLS.load(Ordering::SeqCst);
    a::on_event(&event).await.unwrap();
    assert!(A_CALLS.load(Ordering::SeqCst) > before);
}

fn processor() -> WebhookProcessor {
    WebhookProcessor::builder()
        .register_validator(
            "partner",
            HmacSignatureValidator::new("partner-secret").unwrap(),
        )
        .register_validator(
            "billing",
            HmacSignatureValidator::new("billing-secret").unwrap(),
        )
        .build()
        .unwrap()
}

/// A delivery signed as `X-Signature: sha256=<hex>`.
fn signed(secret: &str, id: &str, body: &'static str) -> (Headers, Bytes) {
    let signature = HmacSignatureValidator::sign(secret.as_bytes(), body.as_bytes());
    let headers = Headers::new()
        .with("X-Signature", &format!("sha256={signature}"))
        .with("X-Event-Id", id);
    (headers, Bytes::from_static(body.as_bytes()))
}

#[tokio::test]
async fn a_signed_delivery_runs_the_annotated_functions() {
    let processor = processor();

    let (headers, body) = signed("partner-secret", "evt_1", r#"{"type":"order.created"}"#);
    let b_before = B_CALLS.load(Ordering::SeqCst);
    let by_value_before = BY_VALUE_CALLS.load(Ordering::SeqCst);
    let processed = processor.process("partner", body, headers).await.unwrap();
    assert_eq!(processed, Processed::Accepted { id: "evt_1".into() });
    // `a::on_event` is also called by the test above; the others only here.
    assert!(A_CALLS.load(Ordering::SeqCst) >= 1);
    assert_eq!(B_CALLS.load(Ordering::SeqCst), b_before + 1);
    assert_eq!(BY_VALUE_CALLS.load(Ordering::SeqCst), by_value_before + 1);

    let (headers, body) = signed("billing-secret", "in_1", r#"{"type":"invoice.paid"}"#);
    processor.process("billing", body, headers).await.unwrap();
    assert_eq!(RENAMED_CALLS.load(Ordering::SeqCst), 1);

    // An error, converted to a `BoxError`, fails the delivery.
    let (headers, body) = signed("partner-secret", "evt_2", r#"{"type":"order.failed"}"#);
    let error = processor
        .process("partner", body, headers)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProcessError::ListenerFailed { id } if id == "evt_2"),
        "{error:?}"
    );
    assert_eq!(B_CALLS.load(Ordering::SeqCst), b_before + 2);
}
