//! The `#[webhook_listener]` attribute of the [`webhooks`] framework.
//!
//! Use it through the `webhooks` crate, which re-exports it:
//!
//! ```
//! use webhooks::{WebhookEvent, webhook_listener};
//!
//! #[webhook_listener(source = "stripe", event = "payment_intent.succeeded")]
//! async fn payment_succeeded(event: &WebhookEvent) -> Result<(), webhooks::BoxError> {
//!     let payload: serde_json::Value = event.json()?;
//!     println!("paid: {}", payload["data"]["object"]["id"]);
//!     Ok(())
//! }
//!
//! // Every `customer.subscription.…` event, taking the event by value.
//! #[webhook_listener(source = "stripe", event = "customer.subscription.*")]
//! async fn subscription_changed(event: WebhookEvent) -> Result<(), std::io::Error> {
//!     println!("{} {}", event.event_type(), event.id());
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! A typed listener takes `Json<T>` for any `T: serde::de::DeserializeOwned`,
//! alone or after the event; the body is deserialized each time it runs:
//!
//! ```
//! use serde::Deserialize;
//! use webhooks::{Json, WebhookEvent, webhook_listener};
//!
//! #[derive(Deserialize)]
//! struct Invoice {
//!     id: String,
//!     amount_paid: u64,
//! }
//!
//! #[webhook_listener(source = "billing", event = "invoice.paid")]
//! async fn invoice_paid(Json(invoice): Json<Invoice>) -> Result<(), webhooks::BoxError> {
//!     println!("{} paid {}", invoice.id, invoice.amount_paid);
//!     Ok(())
//! }
//!
//! #[derive(Deserialize)]
//! struct Subscription {
//!     status: String,
//! }
//!
//! /// The event too, for its id or its attempt.
//! #[webhook_listener(source = "stripe", event = "customer.subscription.*")]
//! async fn subscription(
//!     event: &WebhookEvent,
//!     Json(subscription): Json<Subscription>,
//! ) -> Result<(), webhooks::BoxError> {
//!     println!("{}: {} is {}", event.attempt(), event.id(), subscription.status);
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! A body that does not fit `T` fails that listener alone, like an error it
//! returned: its `on_error` is called (by default, a warning naming the
//! listener, the type and serde's reason), the event's other listeners still
//! run, and the event is retried. The delivery itself is not refused.
//!
//! The function stays as written, callable as usual; the attribute also
//! registers it at link time, so `webhooks::Server` and
//! `WebhookProcessor::builder()` find it with no registration call.
//!
//! [`webhooks`]: https://docs.rs/webhooks

mod attr;
mod expand;

use proc_macro::TokenStream;

/// Registers an `async fn` as the listener of a source's events.
///
/// ```text
/// #[webhook_listener(source = "<source name>", event = "<event pattern>")]
/// async fn name(event: &WebhookEvent) -> Result<(), E>
/// async fn name(payload: Json<T>) -> Result<(), E>
/// async fn name(event: &WebhookEvent, payload: Json<T>) -> Result<(), E>
/// ```
///
/// - `source`: the configured source name (the path segment the deliveries
///   arrive on): letters, digits, `-`, `_` and `.`.
/// - `event`: an event type (`invoice.paid`), every type under a prefix
///   (`customer.subscription.*`), or every event (`*`).
/// - `crate` (optional): the path of the `webhooks` crate when the
///   dependency is renamed, as in `crate = "my_webhooks"`.
///
/// The function takes the event by reference (`&WebhookEvent`) or by value
/// (`WebhookEvent`, then cloned for it), its body as `Json<T>` for any
/// `T: DeserializeOwned` (recognized by the last segment of its path, so
/// `webhooks::Json<T>` too), or both, the event first. It returns
/// `Result<(), E>` where `E: Into<webhooks::BoxError>`; an error, a panic
/// or a body that does not fit `T` is that listener's failure, retried. It
/// may not be generic or a method.
#[proc_macro_attribute]
pub fn webhook_listener(args: TokenStream, item: TokenStream) -> TokenStream {
    let expanded = syn::parse::<attr::Args>(args)
        .and_then(|args| expand::expand(&args, syn::parse(item.clone())?));
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            // Keep the item, so that one mistake is one error and not also
            // "cannot find function" at every call, or "never used".
            let mut tokens = error.into_compile_error();
            tokens.extend(quote::quote!(#[allow(dead_code)]));
            tokens.extend(proc_macro2::TokenStream::from(item));
            tokens.into()
        }
    }
}
