//! Property tests for every parser that sees attacker bytes: the same
//! properties as the fuzz targets in `fuzz/`, run in the normal test suite
//! so that CI exercises them on every change.

use std::sync::Arc;

use proptest::prelude::*;
use serde::Deserialize;
use webhooks::{
    DiscordSignatureValidator, GitHubSignatureValidator, GitLabSignatureValidator, Headers,
    HmacSignatureValidator, LinearSignatureValidator, NoOpSignatureValidator,
    PaddleSignatureValidator, Processed, ShopifySignatureValidator, SignatureValidator,
    SignedRequest, SlackSignatureValidator, SquareSignatureValidator, StandardSignatureValidator,
    StripeSignatureValidator, TwilioSignatureValidator, WebhookProcessor, testing,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SIGNING_KEY: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
const PUBLIC_KEY: &str = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=";
const DISCORD_SEED: [u8; 32] = [7; 32];
const URL: &str = "https://example.com/webhooks/x?a=1";

/// Every scheme, keyed with [`SECRET`] (or the matching public key).
fn validators() -> Vec<(&'static str, Arc<dyn SignatureValidator>)> {
    let discord_key = DiscordSignatureValidator::public_key(&DISCORD_SEED);
    vec![
        ("stripe", Arc::new(StripeSignatureValidator::new(SECRET))),
        ("github", Arc::new(GitHubSignatureValidator::new(SECRET))),
        ("hmac", Arc::new(HmacSignatureValidator::new(SECRET))),
        (
            "standard",
            Arc::new(StandardSignatureValidator::new(SECRET)),
        ),
        (
            "standard-ed25519",
            Arc::new(StandardSignatureValidator::new(PUBLIC_KEY)),
        ),
        ("shopify", Arc::new(ShopifySignatureValidator::new(SECRET))),
        ("slack", Arc::new(SlackSignatureValidator::new(SECRET))),
        ("gitlab", Arc::new(GitLabSignatureValidator::new(SECRET))),
        ("twilio", Arc::new(TwilioSignatureValidator::new(SECRET))),
        ("square", Arc::new(SquareSignatureValidator::new(SECRET))),
        ("paddle", Arc::new(PaddleSignatureValidator::new(SECRET))),
        ("linear", Arc::new(LinearSignatureValidator::new(SECRET))),
        (
            "discord",
            Arc::new(DiscordSignatureValidator::new(discord_key.as_str())),
        ),
        ("none", Arc::new(NoOpSignatureValidator::new())),
    ]
}

/// `scheme`'s signed delivery of `body`, as its provider sends it.
fn signed(scheme: &str, body: &[u8]) -> testing::SignedEvent {
    match scheme {
        "stripe" => testing::stripe(SECRET, body),
        "github" => testing::github(SECRET, "push", body),
        "hmac" => testing::hmac(SECRET, body),
        "standard" => testing::standard(SECRET, body),
        "standard-ed25519" => testing::standard_ed25519(SIGNING_KEY, body),
        "shopify" => testing::shopify(SECRET, "orders/create", body),
        "slack" => testing::slack(SECRET, body),
        "gitlab" => testing::gitlab(SECRET, "Push Hook", body),
        "square" => testing::square(SECRET, URL, body),
        "paddle" => testing::paddle(SECRET, body),
        "linear" => testing::linear(SECRET, body),
        "discord" => testing::discord(&DISCORD_SEED, body),
        other => unreachable!("no signer for {other}"),
    }
}

/// The header names the schemes read, and some others.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Stripe-Signature".to_owned()),
        Just("X-Hub-Signature-256".to_owned()),
        Just("X-Signature".to_owned()),
        Just("webhook-signature".to_owned()),
        Just("webhook-timestamp".to_owned()),
        Just("webhook-id".to_owned()),
        Just("X-Slack-Signature".to_owned()),
        Just("X-Slack-Request-Timestamp".to_owned()),
        Just("Paddle-Signature".to_owned()),
        Just("X-Twilio-Signature".to_owned()),
        Just("X-GitHub-Event".to_owned()),
        Just("X-Gitlab-Token".to_owned()),
        Just("X-Signature-Ed25519".to_owned()),
        Just("X-Signature-Timestamp".to_owned()),
        "[A-Za-z-]{1,20}",
    ]
}

/// Header values shaped like signature lists: separators, prefixes,
/// numbers and base64 or hex runs, in any order.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,120}",
        proptest::collection::vec(
            prop_oneof![
                Just("t=".to_owned()),
                Just("v1=".to_owned()),
                Just("v1,".to_owned()),
                Just("v1a,".to_owned()),
                Just("ts=".to_owned()),
                Just("h1=".to_owned()),
                Just("sha256=".to_owned()),
                Just("v0=".to_owned()),
                Just(",".to_owned()),
                Just(";".to_owned()),
                Just(" ".to_owned()),
                "[0-9]{1,20}",
                "[0-9a-f]{1,64}",
                "[A-Za-z0-9+/=]{1,88}",
            ],
            0..24,
        )
        .prop_map(|parts| parts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No header or body makes a scheme panic, and none verifies without a
    /// signature made with the secret.
    #[test]
    fn arbitrary_headers_never_verify_or_panic(
        scheme in 0usize..14,
        headers in proptest::collection::vec((header_name(), header_value()), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let (name, validator) = validators().swap_remove(scheme);
        let mut map = Headers::new();
        for (header, value) in &headers {
            let _ = map.append(header, value);
        }
        let request = SignedRequest::new(&map, &body).with_url(URL);
        let verified = validator.verify(&request);
        let _ = validator.describe(&request);
        if name != "none" {
            prop_assert!(verified.is_err(), "{name} verified forged headers {headers:?}");
        }
    }

    /// A delivery signed as its provider signs it verifies; the same
    /// signature over a body with one byte changed does not.
    #[test]
    fn a_signature_covers_every_byte_of_the_body(
        scheme in prop::sample::select(vec![
            "stripe", "github", "hmac", "standard", "standard-ed25519", "shopify",
            "slack", "square", "paddle", "linear", "discord",
        ]),
        fields in proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{0,16}", 0..4),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut object = serde_json::Map::new();
        object.insert("id".into(), "evt_1".into());
        object.insert("type".into(), "a.b".into());
        for (key, value) in fields {
            object.insert(key, value.into());
        }
        let body = serde_json::Value::Object(object).to_string();
        let event = signed(scheme, body.as_bytes());
        let validator = validators().into_iter().find(|(name, _)| *name == scheme).unwrap().1;
        prop_assert_eq!(validator.verify(&event.request()), Ok(()));
        let mut tampered = event.body().to_vec();
        let at = flip.index(tampered.len());
        tampered[at] ^= 0x01;
        let mut request = SignedRequest::new(event.headers(), &tampered);
        if let Some(url) = event.url() {
            request = request.with_url(url);
        }
        prop_assert!(validator.verify(&request).is_err(), "{scheme} accepted a changed byte at {at}");
    }

    /// Twilio signs the parameters, whatever they hold: any form signed for
    /// the URL verifies, and never for another URL.
    #[test]
    fn twilio_forms_verify_for_their_url_only(
        params in proptest::collection::vec(("[ -~]{0,12}", "[ -~]{0,24}"), 0..12),
    ) {
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let event = testing::twilio(SECRET, URL, &pairs);
        let validator = TwilioSignatureValidator::new(SECRET);
        prop_assert_eq!(validator.verify(&event.request()), Ok(()));
        let elsewhere = SignedRequest::new(event.headers(), event.body())
            .with_url("https://example.com/webhooks/x?a=2");
        prop_assert!(validator.verify(&elsewhere).is_err());
    }

    /// The JSON field picker reads what serde_json reads, escapes included,
    /// wherever the fields sit among others.
    #[test]
    fn the_field_picker_agrees_with_serde_json(
        id in "\\PC{0,24}",
        kind in "\\PC{0,24}",
        before in proptest::collection::btree_map("[a-z]{1,6}", any_json(), 0..4),
        after in proptest::collection::btree_map("[a-z]{1,6}", any_json(), 0..4),
        escape_all in any::<bool>(),
    ) {
        let mut text = String::from("{");
        for (key, value) in before.iter().filter(|(k, _)| *k != "id" && *k != "type") {
            text.push_str(&format!("{}:{},", json_string(key, false), value));
        }
        text.push_str(&format!("\"id\":{},\"type\" : {}", json_string(&id, escape_all), json_string(&kind, escape_all)));
        for (key, value) in after.iter().filter(|(k, _)| *k != "id" && *k != "type") {
            text.push_str(&format!(", {}:{}", json_string(key, false), value));
        }
        text.push('}');
        #[derive(Deserialize)]
        struct Event { id: String, #[serde(rename = "type")] kind: String }
        let expected: Event = serde_json::from_str(&text).unwrap();
        let headers = Headers::new();
        let meta = StripeSignatureValidator::new(SECRET)
            .describe(&SignedRequest::new(&headers, text.as_bytes()))
            .unwrap();
        prop_assert_eq!(meta.id, expected.id);
        prop_assert_eq!(meta.event_type, expected.kind);
    }

    /// A configuration error never quotes the file: a secret written wrongly
    /// (unquoted, unterminated, of the wrong type, beside a misspelled key,
    /// or where a name belongs) stays out of the message, which still says
    /// where the fault is.
    #[test]
    fn a_config_error_never_quotes_a_secret(
        secret in "whsec_[A-Za-z0-9]{12,24}",
        shape in 0usize..6,
    ) {
        let line = match shape {
            0 => format!("secret = {secret}"),
            1 => format!("secret = \"{secret}\"\ntolerance-secs = 5"),
            2 => format!("secret = \"{secret}"),
            3 => format!("secrets = [\"{secret}\", 5]"),
            4 => format!("secret = {{ value = \"{secret}\" }}"),
            _ => format!("secret = \"x\"\nheader = \"{secret}\"\nvalidator = \"{secret}\""),
        };
        let text = format!("[webhooks.sources.stripe]\nvalidator = \"stripe\"\n{line}\n");
        let error = webhooks::Config::from_toml(&text).expect_err("every shape is wrong").to_string();
        prop_assert!(!error.contains(&secret[6..]), "the error quotes the secret: {error}");
    }

    /// No text makes the configuration loader panic.
    #[test]
    fn the_config_loader_takes_any_text(text in "\\PC{0,300}") {
        let _ = webhooks::Config::from_toml(&text);
    }
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "\\PC{0,12}".prop_map(|s| json_string(&s, false)),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(("[a-z]{1,4}", inner), 0..4).prop_map(|v| {
                let fields: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// `s` as a JSON string; `escape_all`: every character as `\uXXXX`.
fn json_string(s: &str, escape_all: bool) -> String {
    if !escape_all {
        return serde_json::Value::from(s).to_string();
    }
    let mut out = String::from("\"");
    for unit in s.encode_utf16() {
        out.push_str(&format!("\\u{unit:04x}"));
    }
    out.push('"');
    out
}

/// An accepted delivery, sent again at once, is a duplicate: whatever its
/// headers and body, on a source that verifies nothing (so that every case
/// reaches the key and the store).
#[test]
fn an_accepted_delivery_is_a_duplicate_when_sent_again() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let processor = runtime.block_on(async {
        WebhookProcessor::builder()
            .register_validator("open", NoOpSignatureValidator::new())
            .build()
            .unwrap()
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
    let strategy = (
        proptest::collection::vec(("[A-Za-z-]{1,16}", "[ -~]{0,40}"), 0..4),
        proptest::collection::vec(any::<u8>(), 0..200),
    );
    runner
        .run(&strategy, |(headers, body)| {
            let mut map = Headers::new();
            for (name, value) in &headers {
                let _ = map.append(name, value);
            }
            runtime.block_on(async {
                let first = processor.process("open", body.clone(), map.clone()).await;
                if let Ok(Processed::Accepted { id }) = first {
                    let again = processor.process("open", body.clone(), map.clone()).await;
                    prop_assert!(
                        matches!(&again, Ok(Processed::Duplicate { id: same }) if *same == id),
                        "a redelivery gave {again:?}"
                    );
                }
                Ok(())
            })
        })
        .unwrap();
}
