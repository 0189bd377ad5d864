use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice.paid", crate = "not a path")]
async fn invoice_paid(_event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
