use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe")]
async fn invoice_paid(_event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
