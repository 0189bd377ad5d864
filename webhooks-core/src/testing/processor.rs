//! A processor for the sources a test is about.

use crate::{ProcessorBuilder, SignatureValidator, WebhookProcessor};

/// A builder of a processor for `source`, verified by `validator`, with the
/// application's `#[webhook_listener]` functions for that source and
/// without those of its other sources
/// ([`ProcessorBuilder::ignore_other_sources`]): a test of one source in an
/// application that listens to several. Add sources with
/// [`ProcessorBuilder::register_validator`], mocks with
/// [`ProcessorBuilder::listener`] (after `.registered_listeners(false)`, only
/// them).
///
/// ```
/// use webhooks_core::{Processed, StripeSignatureValidator, testing};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let validator = StripeSignatureValidator::new("whsec_test").unwrap();
/// let processor = testing::processor("stripe", validator).build().unwrap();
/// let event = testing::stripe("whsec_test", r#"{"id":"evt_1","type":"invoice.paid"}"#);
/// let processed = event.send_to(&processor, "stripe").await;
/// assert_eq!(processed.unwrap(), Processed::Accepted { id: "evt_1".into() });
/// # });
/// ```
pub fn processor(source: &str, validator: impl SignatureValidator) -> ProcessorBuilder {
    WebhookProcessor::builder()
        .register_validator(source, validator)
        .ignore_other_sources()
}
