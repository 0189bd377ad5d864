use webhooks::{WebhookEvent, webhook_listener};

struct Invoices;

impl Invoices {
    #[webhook_listener(source = "stripe", event = "invoice.paid")]
    async fn invoice_paid(&self, _event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
        Ok(())
    }
}

fn main() {}
