use webhooks::webhook_listener;

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(_payload: &str) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
