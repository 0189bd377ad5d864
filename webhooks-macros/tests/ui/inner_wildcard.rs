use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe", event = "customer.*.updated")]
async fn customer_updated(_event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
