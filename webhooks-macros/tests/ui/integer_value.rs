use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = 1, event = "invoice.paid")]
async fn invoice_paid(_event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
