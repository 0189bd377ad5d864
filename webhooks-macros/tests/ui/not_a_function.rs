use webhooks::webhook_listener;

#[webhook_listener(source = "stripe", event = "invoice.paid")]
struct InvoicePaid {
    id: String,
}

fn main() {}
