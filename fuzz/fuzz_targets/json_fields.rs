//! The JSON field picker, through each scheme's `describe`: never panics,
//! and where serde_json reads a Stripe event's `id` and `type` (a struct
//! refuses duplicate fields, so the document is unambiguous), the picker
//! reads the same strings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use webhooks_core::{Headers, SignedRequest};
use webhooks_fuzz::validators;

#[derive(Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

fuzz_target!(|body: &[u8]| {
    let headers = Headers::new();
    let request = SignedRequest::new(&headers, body);
    for (scheme, validator) in validators() {
        let described = validator.describe(&request);
        if *scheme != "stripe" {
            continue;
        }
        if let Ok(event) = serde_json::from_slice::<StripeEvent>(body) {
            let meta = described.expect("serde_json reads id and type; so must the picker");
            assert_eq!(meta.id, event.id);
            assert_eq!(meta.event_type, event.kind);
        }
    }
});
