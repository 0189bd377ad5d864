use webhooks::webhook_listener;

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(_amount: u32) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
