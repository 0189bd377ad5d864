use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid<E: Into<webhooks::BoxError>>(_event: &WebhookEvent) -> Result<(), E> {
    Ok(())
}

fn main() {}
