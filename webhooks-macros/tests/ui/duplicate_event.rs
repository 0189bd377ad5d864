use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice.paid", event = "invoice.created")]
async fn invoice_paid(_event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
