use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice*")]
async fn invoice_any(_event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
