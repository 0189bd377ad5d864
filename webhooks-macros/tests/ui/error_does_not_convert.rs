use webhooks::{WebhookEvent, webhook_listener};

/// Not an `std::error::Error`, so not `Into<webhooks::BoxError>`.
#[derive(Debug)]
struct InvoiceError;

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(_event: &WebhookEvent) -> Result<(), InvoiceError> {
    Err(InvoiceError)
}

fn main() {}
