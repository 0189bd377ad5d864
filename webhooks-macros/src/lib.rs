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
/// (`WebhookEvent`, then cloned for it), and returns `Result<(), E>` where
/// `E: Into<webhooks::BoxError>`; an error or a panic is a failed delivery,
/// retried. It may not be generic or a method.
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
