use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "", event = "invoice.paid")]
async fn invoice_paid(_event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
