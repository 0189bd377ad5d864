//! `webhooks::testing`: for every scheme, an event it signs is accepted by a
//! processor configured (from TOML) with the matching validator, then is a
//! duplicate; a tampered one is refused; and the `TestClient` gets the same
//! answers from a real server.
#![cfg(feature = "testing")]

use std::sync::{Arc, Mutex};

use webhooks::config::WebhooksConfig;
use webhooks::testing::{self, SignedEvent};
use webhooks::{
    Clock, Config, DiscordSignatureValidator, ProcessError, Processed, ProcessorBuilder,
    SignatureError, StandardSignatureValidator, WebhookEvent, WebhookListener, WebhookProcessor,
};

const STRIPE: &str = "whsec_stripe_testing_Qa71";
const GITHUB: &str = "github-testing-secret-Lm04";
const PARTNER: &str = "partner-testing-secret-Vc55";
// Standard Webhooks' own example secret (its README and test suites).
const STANDARD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
// standard-webhooks, libraries/go/webhook_asymmetric_test.go: a `whsk_` key.
const STANDARD_SIGNING_KEY: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
const SHOPIFY: &str = "shopify-testing-secret-Bn18";
const SLACK: &str = "slack-testing-secret-Hd62";
const GITLAB: &str = "gitlab-testing-token-Ty39";
const TWILIO: &str = "twilio-testing-token-Pw27";
const SQUARE: &str = "square-testing-key-Ke90";
const PADDLE: &str = "pdl_ntfset_testing_Rs46";
const LINEAR: &str = "lin_wh_testing_Ju13";
/// Discord's side: the application's private key seed.
const DISCORD_SIGNING_KEY: [u8; 32] = [0x5a; 32];
const PUBLIC_URL: &str = "https://example.com";

/// Every scheme's source, as a user configures it.
const SOURCES: [&str; 13] = [
    "stripe",
    "github",
    "partner",
    "standard",
    "standard-v1a",
    "shopify",
    "slack",
    "gitlab",
    "twilio",
    "square",
    "paddle",
    "linear",
    "discord",
];

fn config() -> WebhooksConfig {
    let standard_public_key = StandardSignatureValidator::public_key(STANDARD_SIGNING_KEY).unwrap();
    let discord_public_key = DiscordSignatureValidator::public_key(&DISCORD_SIGNING_KEY);
    let text = format!(
        r#"
[webhooks]
bind = "127.0.0.1:0"

[webhooks.sources.stripe]
validator = "stripe"
secret = "{STRIPE}"

[webhooks.sources.github]
validator = "github"
secret = "{GITHUB}"

[webhooks.sources.partner]
validator = "hmac"
secret = "{PARTNER}"

[webhooks.sources.standard]
validator = "standard"
secret = "{STANDARD}"

[webhooks.sources.standard-v1a]
validator = "standard"
secret = "{standard_public_key}"

[webhooks.sources.shopify]
validator = "shopify"
secret = "{SHOPIFY}"

[webhooks.sources.slack]
validator = "slack"
secret = "{SLACK}"

[webhooks.sources.gitlab]
validator = "gitlab"
secret = "{GITLAB}"

[webhooks.sources.twilio]
validator = "twilio"
secret = "{TWILIO}"
public-url = "{PUBLIC_URL}"

[webhooks.sources.twilio-direct]
validator = "twilio"
secret = "{TWILIO}"

[webhooks.sources.square]
validator = "square"
secret = "{SQUARE}"
public-url = "{PUBLIC_URL}"

[webhooks.sources.paddle]
validator = "paddle"
secret = "{PADDLE}"

[webhooks.sources.linear]
validator = "linear"
secret = "{LINEAR}"

[webhooks.sources.discord]
validator = "discord"
secret = "{discord_public_key}"
"#
    );
    Config::from_toml(&text)
        .expect("the configuration is valid")
        .webhooks
}

/// One delivery of `source`'s scheme, its idempotency key and event type.
fn event(source: &str) -> (SignedEvent, String, &'static str) {
    let header = |event: &SignedEvent, name: &str| {
        event
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{source}: no {name}"))
            .to_owned()
    };
    match source {
        "stripe" => {
            let body = r#"{"id":"evt_testing_1","type":"invoice.paid","data":{"object":{}}}"#;
            let event = testing::stripe(STRIPE, body);
            (event, "evt_testing_1".into(), "invoice.paid")
        }
        "github" => {
            let event = testing::github(GITHUB, "issues", r#"{"action":"opened"}"#)
                .with_header("X-GitHub-Delivery", "gh-delivery-1");
            (event, "gh-delivery-1".into(), "issues.opened")
        }
        "partner" => {
            let event = testing::hmac(PARTNER, r#"{"type":"order.paid"}"#)
                .with_header("X-Idempotency-Key", "order-7");
            (event, "order-7".into(), "order.paid")
        }
        "standard" => {
            // webhook-id is signed: setting it signs again.
            let event = testing::standard(STANDARD, r#"{"type":"invoice.paid"}"#)
                .with_header("webhook-id", "msg_testing_1");
            (event, "msg_testing_1".into(), "invoice.paid")
        }
        "standard-v1a" => {
            let event = testing::standard_ed25519(STANDARD_SIGNING_KEY, r#"{"type":"a.b"}"#);
            let id = header(&event, "webhook-id");
            (event, id, "a.b")
        }
        "shopify" => {
            let event = testing::shopify(SHOPIFY, "orders/create", r#"{"id":820982911946154508}"#);
            let id = header(&event, "X-Shopify-Webhook-Id");
            (event, id, "orders/create")
        }
        "slack" => {
            let body = r#"{"type":"event_callback","event_id":"Ev_testing_1","event":{"type":"app_mention"}}"#;
            (
                testing::slack(SLACK, body),
                "Ev_testing_1".into(),
                "app_mention",
            )
        }
        "gitlab" => {
            let event = testing::gitlab(GITLAB, "Push Hook", r#"{"object_kind":"push"}"#);
            let id = header(&event, "Idempotency-Key");
            (event, id, "Push Hook")
        }
        "twilio" => {
            let url = format!("{PUBLIC_URL}/webhooks/twilio");
            let params = [
                ("MessageSid", "SM1"),
                ("From", "+14158675309"),
                ("Body", "hi & bye"),
            ];
            let event = testing::twilio(TWILIO, &url, &params);
            let id = header(&event, "I-Twilio-Idempotency-Token");
            (event, id, "")
        }
        "square" => {
            let url = format!("{PUBLIC_URL}/webhooks/square");
            let body = r#"{"type":"payment.updated","event_id":"sq-testing-1"}"#;
            let event = testing::square(SQUARE, &url, body);
            (event, "sq-testing-1".into(), "payment.updated")
        }
        "paddle" => {
            let body = r#"{"event_id":"evt_paddle_1","event_type":"transaction.completed"}"#;
            (
                testing::paddle(PADDLE, body),
                "evt_paddle_1".into(),
                "transaction.completed",
            )
        }
        "linear" => {
            let millis = Clock::system().now() * 1000;
            let body =
                format!(r#"{{"type":"Issue","action":"create","webhookTimestamp":{millis}}}"#);
            let event = testing::linear(LINEAR, body);
            let id = header(&event, "Linear-Delivery");
            (event, id, "Issue.create")
        }
        "discord" => {
            // An application command (interaction type 2); type 1 is the
            // PING, a handshake rather than an event.
            let body = r#"{"id":"787053080478613555","type":2,"data":{"name":"hello"}}"#;
            let event = testing::discord(&DISCORD_SIGNING_KEY, body);
            (event, "787053080478613555".into(), "2")
        }
        other => panic!("no event for {other}"),
    }
}

/// What an attacker sends: the body changed under the provider's signature.
/// GitLab signs nothing (its token is a password), so there it is the token
/// that is wrong.
fn forged(source: &str, event: &SignedEvent) -> SignedEvent {
    match source {
        "gitlab" => testing::gitlab("not-the-token", "Push Hook", event.body()),
        _ => event.clone().tampered(),
    }
}

/// The application's listener under test: records what it is handed.
#[derive(Clone)]
struct Recorder {
    source: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Recorder {
    fn new(source: &str) -> Self {
        Self {
            source: source.into(),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

impl WebhookListener for Recorder {
    type Error = std::convert::Infallible;

    fn source(&self) -> &str {
        &self.source
    }

    fn event(&self) -> &str {
        "*"
    }

    fn name(&self) -> &str {
        &self.source
    }

    async fn handle(&self, event: &WebhookEvent) -> Result<(), Self::Error> {
        let seen = (event.id().to_owned(), event.event_type().to_owned());
        self.seen.lock().unwrap().push(seen);
        Ok(())
    }
}

/// A processor from the TOML configuration, with a recorder on `source`.
fn processor(source: &str) -> (WebhookProcessor, Recorder) {
    let recorder = Recorder::new(source);
    let processor = ProcessorBuilder::from_config(&config())
        .expect("the configuration builds")
        .registered_listeners(false)
        .listener(recorder.clone())
        .build()
        .expect("the processor builds");
    (processor, recorder)
}

async fn check_processor(source: &str) {
    let (processor, recorder) = processor(source);
    let (event, id, event_type) = event(source);

    let first = event.send_to(&processor, source).await;
    assert_eq!(
        first.unwrap(),
        Processed::Accepted { id: id.clone() },
        "{source}"
    );
    let again = event.send_to(&processor, source).await;
    assert_eq!(
        again.unwrap(),
        Processed::Duplicate { id: id.clone() },
        "{source}"
    );
    assert_eq!(recorder.seen(), [(id, event_type.to_owned())], "{source}");

    let refused = forged(source, &event)
        .send_to(&processor, source)
        .await
        .expect_err(source);
    assert!(
        matches!(refused, webhooks::ProcessError::InvalidSignature(_)),
        "{source}: {refused}"
    );
    assert!(
        matches!(
            refused,
            ProcessError::InvalidSignature(SignatureError::NoMatchingSignature)
        ),
        "{source}: {refused:?}"
    );
    assert_eq!(
        recorder.seen().len(),
        1,
        "{source}: a forged event was handled"
    );
}

macro_rules! processor_tests {
    ($($test:ident => $source:literal,)*) => {$(
        #[tokio::test]
        async fn $test() {
            check_processor($source).await;
        }
    )*};
}

processor_tests! {
    stripe_through_the_processor => "stripe",
    github_through_the_processor => "github",
    hmac_through_the_processor => "partner",
    standard_through_the_processor => "standard",
    standard_v1a_through_the_processor => "standard-v1a",
    shopify_through_the_processor => "shopify",
    slack_through_the_processor => "slack",
    gitlab_through_the_processor => "gitlab",
    twilio_through_the_processor => "twilio",
    square_through_the_processor => "square",
    paddle_through_the_processor => "paddle",
    linear_through_the_processor => "linear",
    discord_through_the_processor => "discord",
}

#[test]
fn every_source_has_a_case() {
    let config = config();
    for source in SOURCES {
        assert!(config.sources.contains_key(source), "{source}");
        let (event, _, _) = event(source);
        assert!(!event.headers().is_empty(), "{source}");
    }
}

#[tokio::test]
async fn gitlab_signs_no_body() {
    // What GitLab's scheme cannot catch, so that nobody relies on it: the
    // token passes whatever the body, and the key makes it a duplicate.
    let (processor, _) = processor("gitlab");
    let (event, id, _) = event("gitlab");
    event.send_to(&processor, "gitlab").await.unwrap();
    let changed = event.tampered().send_to(&processor, "gitlab").await;
    assert_eq!(changed.unwrap(), Processed::Duplicate { id });
}

#[tokio::test]
async fn stale_timestamps_are_refused() {
    let an_hour_ago = Clock::system().now() - 3600;
    for source in [
        "stripe",
        "standard",
        "standard-v1a",
        "slack",
        "paddle",
        "discord",
    ] {
        let (processor, recorder) = processor(source);
        let (event, _, _) = event(source);
        let refused = event
            .with_timestamp(an_hour_ago)
            .send_to(&processor, source)
            .await
            .expect_err(source);
        assert!(
            matches!(
                refused,
                ProcessError::InvalidSignature(SignatureError::TimestampOutsideTolerance { .. })
            ),
            "{source}: {refused:?}"
        );
        assert!(recorder.seen().is_empty(), "{source}");
    }
}

#[tokio::test]
async fn a_missing_signature_is_refused() {
    let (processor, _) = processor("github");
    let (event, _, _) = event("github");
    let refused = event
        .without_header("X-Hub-Signature-256")
        .send_to(&processor, "github")
        .await
        .expect_err("unsigned");
    assert!(matches!(
        refused,
        ProcessError::InvalidSignature(SignatureError::MissingHeader(_))
    ));
}

#[cfg(feature = "hyper")]
mod server {
    use std::future::IntoFuture;

    use tokio::sync::oneshot;
    use webhooks::Server;
    use webhooks::testing::TestClient;

    use super::*;

    #[tokio::test]
    async fn the_test_client_against_a_real_server() {
        let recorders: Vec<Recorder> = SOURCES
            .iter()
            .chain(&["twilio-direct"])
            .map(|source| Recorder::new(source))
            .collect();
        let listeners = recorders.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::from_config(config())
            .configure(move |builder| {
                listeners.into_iter().fold(
                    builder.registered_listeners(false),
                    ProcessorBuilder::listener,
                )
            })
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .bind()
            .await
            .expect("the server binds");
        let addr = server.local_addr();
        let task = tokio::spawn(server.into_future());
        let client = TestClient::new(addr);

        for (source, recorder) in SOURCES.iter().zip(&recorders) {
            let (event, id, event_type) = event(source);
            let first = client.send(source, &event).await;
            assert_eq!(first.status, 200, "{source}: {}", first.body);
            assert_eq!(
                first.body,
                format!(r#"{{"status":"accepted","id":"{id}"}}"#),
                "{source}"
            );
            let again = client.send(source, &event).await;
            assert_eq!(again.status, 200, "{source}: {}", again.body);
            assert_eq!(again.json()["status"], "duplicate", "{source}");
            assert_eq!(again.json()["id"], id.as_str(), "{source}");
            let refused = client.send(source, &forged(source, &event)).await;
            assert_eq!(refused.status, 401, "{source}: {}", refused.body);
            assert_eq!(
                refused.headers.get("content-type"),
                Some("application/json")
            );
            assert_eq!(recorder.seen(), [(id, event_type.to_owned())], "{source}");
        }

        // Without `public-url`, Twilio's URL is rebuilt from the Host header
        // the client sends: the server's address.
        let url = format!("http://{addr}/webhooks/twilio-direct?tenant=7");
        let event = testing::twilio(TWILIO, &url, &[("CallSid", "CA1")]);
        assert_eq!(
            client.send("twilio-direct", &event).await.json()["status"],
            "accepted"
        );
        assert_eq!(
            client.send("twilio-direct", &event).await.json()["status"],
            "duplicate"
        );
        let elsewhere = event
            .clone()
            .with_url("http://example.com/webhooks/twilio-direct");
        assert_eq!(client.send("twilio-direct", &elsewhere).await.status, 401);

        let unknown = client.send("nowhere", &event).await;
        assert_eq!(unknown.status, 404, "{}", unknown.body);

        // The providers' checks of the endpoint: verified, answered as each
        // provider expects, and neither recorded nor handed to a listener.
        let challenge = testing::slack(
            SLACK,
            r#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#,
        );
        let answered = client.send("slack", &challenge).await;
        assert_eq!(answered.status, 200, "{}", answered.body);
        assert_eq!(
            answered.body,
            r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
        );
        assert_eq!(
            client.send("slack", &challenge.tampered()).await.status,
            401
        );
        let pong = client
            .send(
                "discord",
                &testing::discord(
                    &DISCORD_SIGNING_KEY,
                    r#"{"id":"1","token":"t","type":1,"version":1}"#,
                ),
            )
            .await;
        assert_eq!((pong.status, pong.body.as_str()), (200, r#"{"type":1}"#));
        let ping = client
            .send(
                "discord",
                &testing::discord(
                    &DISCORD_SIGNING_KEY,
                    r#"{"version":1,"application_id":"1","type":0}"#,
                ),
            )
            .await;
        assert_eq!((ping.status, ping.body.as_str()), (204, ""));
        let slack = SOURCES
            .iter()
            .position(|source| *source == "slack")
            .expect("a slack source");
        let discord = SOURCES
            .iter()
            .position(|source| *source == "discord")
            .expect("a discord source");
        assert_eq!(
            recorders[slack].seen().len(),
            1,
            "only the event of the loop above"
        );
        assert_eq!(
            recorders[discord].seen().len(),
            1,
            "only the event of the loop above"
        );

        let _ = stop.send(());
        task.await
            .expect("the server task did not panic")
            .expect("the server stopped cleanly");
    }
}
