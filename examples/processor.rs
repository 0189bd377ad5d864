//! The processor without HTTP: feed it deliveries from any transport (a
//! queue consumer, a Lambda handler, a test) and it verifies, deduplicates
//! and dispatches them just the same.
//!
//! `cargo run --example processor`

use webhooks::{
    BoxError, Headers, Json, ProcessError, StripeSignatureValidator, WebhookEvent,
    WebhookProcessor, webhook_listener,
};

/// The part of Stripe's `invoice.paid` event this listener needs.
#[derive(serde::Deserialize)]
struct InvoicePaid {
    data: InvoiceData,
}

#[derive(serde::Deserialize)]
struct InvoiceData {
    object: Invoice,
}

#[derive(serde::Deserialize)]
struct Invoice {
    id: String,
    amount_paid: u64,
}

/// A typed listener: the body is deserialized into `InvoicePaid` when it
/// runs; a body that does not fit fails this listener only.
#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(event: &WebhookEvent, Json(paid): Json<InvoicePaid>) -> Result<(), BoxError> {
    let invoice = paid.data.object;
    println!(
        "listener: invoice {} paid {} (event {}, attempt {})",
        invoice.id,
        invoice.amount_paid,
        event.id(),
        event.attempt()
    );
    Ok(())
}

const SECRET: &str = "whsec_example_only";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let processor = WebhookProcessor::builder()
        .register_validator("stripe", StripeSignatureValidator::new(SECRET)?)
        .build()?;

    let body = br#"{"id":"evt_123","type":"invoice.paid","data":{"object":{"id":"in_1","amount_paid":2000}}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let signed = Headers::new().with(
        "Stripe-Signature",
        &StripeSignatureValidator::sign(SECRET.as_bytes(), now, body),
    );

    let first = processor
        .process("stripe", body.as_slice(), signed.clone())
        .await?;
    println!("first delivery: {first:?}");
    let again = processor.process("stripe", body.as_slice(), signed).await?;
    println!("redelivery:     {again:?}");

    let forged = Headers::new().with(
        "Stripe-Signature",
        &format!("t={now},v1={}", "0".repeat(64)),
    );
    match processor.process("stripe", body.as_slice(), forged).await {
        Err(error @ ProcessError::InvalidSignature(_)) => {
            println!("forged delivery refused: {error}")
        }
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
