use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(_event: &WebhookEvent) -> Result<(), webhooks::BoxError>
where
    String: Clone,
{
    Ok(())
}

fn main() {}
