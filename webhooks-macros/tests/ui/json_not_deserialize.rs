use webhooks::{Json, webhook_listener};

/// Does not derive `serde::Deserialize`.
#[derive(Debug)]
struct Invoice {
    _id: String,
}

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(_invoice: Json<Invoice>) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
