//! The processor without HTTP: feed it deliveries from any transport (a
//! queue consumer, a Lambda handler, a test) and it verifies, deduplicates
//! and dispatches them just the same.
//!
//! `cargo run --example processor`

use webhooks::{
    BoxError, Headers, ProcessError, StripeSignatureValidator, WebhookEvent, WebhookProcessor,
    webhook_listener,
};

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(event: &WebhookEvent) -> Result<(), BoxError> {
    #[derive(serde::Deserialize)]
    struct Invoice {
        id: String,
    }
    let invoice: Invoice = event.json()?;
    println!(
        "listener: invoice {} paid (attempt {})",
        invoice.id,
        event.attempt()
    );
    Ok(())
}

const SECRET: &str = "whsec_example_only";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let processor = WebhookProcessor::builder()
        .register_validator("stripe", StripeSignatureValidator::new(SECRET))
        .build()?;

    let body = br#"{"id":"evt_123","type":"invoice.paid","data":{"object":{"id":"in_1"}}}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let signed = Headers::new().with(
        "Stripe-Signature",
        &StripeSignatureValidator::sign(SECRET.as_bytes(), now, body),
    );

    let first = processor
        .process("stripe", signed.clone(), body.as_slice().into())
        .await?;
    println!("first delivery: {first:?}");
    let again = processor
        .process("stripe", signed, body.as_slice().into())
        .await?;
    println!("redelivery:     {again:?}");

    let forged = Headers::new().with(
        "Stripe-Signature",
        &format!("t={now},v1={}", "0".repeat(64)),
    );
    match processor
        .process("stripe", forged, body.as_slice().into())
        .await
    {
        Err(error @ ProcessError::InvalidSignature(_)) => {
            println!("forged delivery refused ({}): {error}", error.status())
        }
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
