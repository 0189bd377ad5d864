use webhooks::webhook_listener;

/// Another crate's `Json`, such as axum's.
mod other {
    pub struct Json<T>(pub T);
}

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(_invoice: other::Json<serde_json::Value>) -> Result<(), webhooks::BoxError> {
    Ok(())
}

fn main() {}
