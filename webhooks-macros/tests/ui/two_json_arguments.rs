use webhooks::{Json, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(
    _invoice: Json<serde_json::Value>,
    _again: Json<serde_json::Value>,
) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
