use webhooks::{Json, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(_payload: Json) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
