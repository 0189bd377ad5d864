//! `testing::processor` and `ProcessorBuilder::ignore_other_sources`: in a
//! program with `#[webhook_listener]` functions for `stripe` and `github`,
//! a processor for `stripe` alone builds and runs stripe's listeners only,
//! while the default builder and the server still refuse a listener for a
//! source nothing configures.
#![cfg(all(feature = "testing", feature = "macros", feature = "hyper"))]

use std::sync::Mutex;

use webhooks::testing;
use webhooks::{
    BoxError, BuildError, Config, Processed, ServeError, Server, StripeSignatureValidator,
    WebhookEvent, WebhookListener, WebhookProcessor, webhook_listener,
};

const STRIPE: &str = "whsec_testing_processor_Tm31";

/// The events the application's listeners saw: (listener, event id).
static SEEN: Mutex<Vec<(&str, String)>> = Mutex::new(Vec::new());

fn seen(listener: &str, id: &str) -> bool {
    let seen = SEEN.lock().unwrap();
    seen.iter()
        .any(|(name, seen)| *name == listener && seen == id)
}

#[webhook_listener(source = "stripe", event = "invoice.paid")]
async fn invoice_paid(event: &WebhookEvent) -> Result<(), BoxError> {
    SEEN.lock()
        .unwrap()
        .push(("invoice_paid", event.id().to_owned()));
    Ok(())
}

/// The application's other source: no test here configures it.
#[webhook_listener(source = "github", event = "push")]
async fn pushed(event: &WebhookEvent) -> Result<(), BoxError> {
    SEEN.lock().unwrap().push(("pushed", event.id().to_owned()));
    Ok(())
}

fn validator() -> StripeSignatureValidator {
    StripeSignatureValidator::new(STRIPE).unwrap()
}

fn invoice(id: &str) -> testing::SignedEvent {
    testing::stripe(STRIPE, format!(r#"{{"id":"{id}","type":"invoice.paid"}}"#))
}

/// Records the ids it is given, as a test's mock.
#[derive(Debug, Default)]
struct Mock(Mutex<Vec<String>>);

impl WebhookListener for &'static Mock {
    type Error = BoxError;

    fn source(&self) -> &str {
        "stripe"
    }

    fn event(&self) -> &str {
        "*"
    }

    async fn handle(&self, event: &WebhookEvent) -> Result<(), BoxError> {
        self.0.lock().unwrap().push(event.id().to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn a_processor_for_one_source_runs_that_sources_listeners_only() {
    let processor = testing::processor("stripe", validator()).build().unwrap();
    assert_eq!(processor.sources().collect::<Vec<_>>(), ["stripe"]);
    let processed = invoice("evt_only_stripe")
        .send_to(&processor, "stripe")
        .await;
    assert_eq!(
        processed.unwrap(),
        Processed::Accepted {
            id: "evt_only_stripe".into()
        }
    );
    assert!(seen("invoice_paid", "evt_only_stripe"));
    assert!(
        !SEEN
            .lock()
            .unwrap()
            .iter()
            .any(|(name, _)| *name == "pushed")
    );
}

#[tokio::test]
async fn the_builder_option_is_what_the_shorthand_sets() {
    let processor = WebhookProcessor::builder()
        .register_validator("stripe", validator())
        .ignore_other_sources()
        .build()
        .unwrap();
    invoice("evt_builder")
        .send_to(&processor, "stripe")
        .await
        .unwrap();
    assert!(seen("invoice_paid", "evt_builder"));
}

#[tokio::test]
async fn without_registered_listeners_only_the_mocks_run() {
    static MOCK: Mock = Mock(Mutex::new(Vec::new()));
    let processor = testing::processor("stripe", validator())
        .registered_listeners(false)
        .listener(&MOCK)
        .build()
        .unwrap();
    invoice("evt_mocked")
        .send_to(&processor, "stripe")
        .await
        .unwrap();
    assert_eq!(*MOCK.0.lock().unwrap(), ["evt_mocked"]);
    assert!(!seen("invoice_paid", "evt_mocked"));
}

#[test]
fn a_listener_given_by_hand_for_an_unconfigured_source_is_still_refused() {
    static MOCK: Mock = Mock(Mutex::new(Vec::new()));
    let refused = testing::processor(
        "github",
        webhooks::GitHubSignatureValidator::new("s").unwrap(),
    )
    .registered_listeners(false)
    .listener(&MOCK)
    .build()
    .unwrap_err();
    assert!(
        matches!(&refused, BuildError::UnconfiguredSource { source_name, .. } if source_name == "stripe"),
        "{refused}"
    );
}

#[test]
fn the_default_builder_refuses_a_listener_of_an_unconfigured_source() {
    let refused = WebhookProcessor::builder()
        .register_validator("stripe", validator())
        .build()
        .unwrap_err();
    assert_eq!(
        refused,
        BuildError::UnconfiguredSource {
            listener: "testing_processor::pushed".into(),
            source_name: "github".into(),
        }
    );
}

#[tokio::test]
async fn the_server_stays_strict() {
    let config = Config::from_toml(&format!(
        "[webhooks]\nbind = \"127.0.0.1:0\"\n[webhooks.sources.stripe]\nvalidator = \"stripe\"\nsecret = \"{STRIPE}\"\n"
    ))
    .unwrap();
    let refused = Server::from_config(config.webhooks)
        .bind()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &refused,
            ServeError::Build(BuildError::UnconfiguredSource { source_name, .. }) if source_name == "github"
        ),
        "{refused}"
    );
}
