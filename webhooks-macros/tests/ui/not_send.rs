use std::rc::Rc;

use webhooks::{WebhookEvent, webhook_listener};

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
    let id = Rc::new(event.id().to_owned());
    std::future::ready(()).await;
    println!("{id}");
    Ok(())
}

fn main() {}
