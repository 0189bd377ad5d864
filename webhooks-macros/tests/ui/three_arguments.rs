use webhooks::{Json, WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(
    _event: &WebhookEvent,
    _invoice: Json<serde_json::Value>,
    _attempt: u32,
) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
