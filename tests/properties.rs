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
        (
            "stripe",
            Arc::new(StripeSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "github",
            Arc::new(GitHubSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "hmac",
            Arc::new(HmacSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "standard",
            Arc::new(StandardSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "standard-ed25519",
            Arc::new(StandardSignatureValidator::new(PUBLIC_KEY).expect("a usable secret")),
        ),
        (
            "shopify",
            Arc::new(ShopifySignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "slack",
            Arc::new(SlackSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "gitlab",
            Arc::new(GitLabSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "twilio",
            Arc::new(TwilioSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "square",
            Arc::new(SquareSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "paddle",
            Arc::new(PaddleSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "linear",
            Arc::new(LinearSignatureValidator::new(SECRET).expect("a usable secret")),
        ),
        (
            "discord",
            Arc::new(
                DiscordSignatureValidator::new(discord_key.as_str()).expect("a usable secret"),
            ),
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
        let validator = TwilioSignatureValidator::new(SECRET).expect("a usable secret");
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
        let meta = StripeSignatureValidator::new(SECRET).expect("a usable secret")
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

    /// However many forgeries sit beside the genuine signature, and in
    /// whatever order, a header verifies exactly when it holds at most
    /// `MAX_SIGNATURES` entries: no more are ever checked.
    #[test]
    fn at_most_max_signatures_are_read(
        scheme in prop::sample::select(vec!["stripe", "standard", "standard-ed25519"]),
        forgeries in 0usize..16,
        at in any::<prop::sample::Index>(),
    ) {
        let body = br#"{"id":"evt_1","type":"a.b"}"#;
        let event = signed(scheme, body);
        let (name, genuine) = match scheme {
            "stripe" => ("Stripe-Signature", event.headers().get("Stripe-Signature").unwrap().to_owned()),
            _ => ("webhook-signature", event.headers().get("webhook-signature").unwrap().to_owned()),
        };
        let (lead, genuine) = match scheme {
            "stripe" => {
                let (t, v1) = genuine.split_once(',').unwrap();
                (format!("{t},"), v1.to_owned())
            }
            _ => (String::new(), genuine),
        };
        let forged = match scheme {
            "stripe" => format!("v1={}", "0".repeat(64)),
            "standard" => format!("v1,{}", "A".repeat(44)),
            _ => format!("v1a,{}==", "A".repeat(86)),
        };
        let mut entries = vec![forged; forgeries];
        entries.insert(at.index(forgeries + 1), genuine);
        let separator = if scheme == "stripe" { "," } else { " " };
        let header = format!("{lead}{}", entries.join(separator));
        let forged_event = event.with_header(name, &header);
        let validator = validators().into_iter().find(|(n, _)| *n == scheme).unwrap().1;
        let verified = validator.verify(&forged_event.request());
        if forgeries < webhooks::MAX_SIGNATURES {
            prop_assert_eq!(verified, Ok(()));
        } else {
            prop_assert!(verified.is_err(), "{} entries verified", forgeries + 1);
        }
    }

    /// No `Host` header moves the path or the query a URL-signing scheme
    /// verifies: the rebuilt URL ends with the request line's path and
    /// query, exactly.
    #[test]
    fn no_host_header_moves_the_signed_path(
        host in prop_oneof!["[ -~]{0,24}", "[a-z0-9.-]{1,16}(:[0-9]{1,5})?"],
        path in "/[a-z/]{0,12}(\\?[a-z=&]{0,12})?",
    ) {
        let url = webhooks::request_url(Some(&host), &path);
        prop_assert!(url.ends_with(&path), "{url} from host {host:?}");
        let rest = &url[..url.len() - path.len()];
        let plain = format!("http://{host}");
        prop_assert!(rest.is_empty() || rest == plain, "{url} from host {host:?}");
        let authority = rest.strip_prefix("http://").unwrap_or(rest);
        prop_assert!(!authority.contains(['?', '#', '/', '@', ' ']), "{url} from host {host:?}");
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
