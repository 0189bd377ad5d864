//! Arbitrary headers and body through `WebhookProcessor`, on an unverified
//! source (`none`, so the fuzzer reaches the key, the type and the store)
//! and on the signed ones: never panics, and an accepted delivery sent
//! again at once is a duplicate.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use webhooks_core::{Processed, WebhookProcessor};
use webhooks_fuzz::{Delivery, validators};

struct Harness {
    runtime: tokio::runtime::Runtime,
    processor: WebhookProcessor,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let processor = runtime.block_on(async {
            let mut builder = WebhookProcessor::builder();
            for (name, validator) in validators() {
                builder = builder.register_validator(*name, validator.clone());
            }
            builder.build().expect("the fuzz processor builds")
        });
        Harness { runtime, processor }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(delivery) = Delivery::parse(data) else {
        return;
    };
    let Harness { runtime, processor } = harness();
    let all = validators();
    let source = all[usize::from(delivery.selector) % all.len()].0;
    let Some(route) = processor.route(source) else {
        return;
    };
    runtime.block_on(async {
        let send = || {
            route.process(
                delivery.body.to_vec(),
                delivery.headers.clone(),
                delivery.url.as_deref(),
            )
        };
        if let Ok(Processed::Accepted { id }) = send().await {
            match send().await {
                Ok(Processed::Duplicate { id: again }) => assert_eq!(again, id),
                other => panic!("a redelivery of an accepted event gave {other:?}"),
            }
        }
    });
});
