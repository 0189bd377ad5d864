use webhooks::{WebhookEvent, webhook_listener};

const STRIPE: &str = "stripe";

#[webhook_listener(source = STRIPE, event = "invoice.paid")]
async fn invoice_paid(_event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
