//! Every validator's `verify` and `describe` on the same GitHub `push` bytes
//! (1 KiB, 64 KiB, 1 MiB), beside the raw HMAC-SHA256 of those bytes as the
//! reference, and a signature header flooded with forgeries against one
//! genuine signature: `cargo bench --bench validators`.

#[path = "common/payload.rs"]
#[allow(dead_code)]
mod payload;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use webhooks::{
    Clock, DiscordSignatureValidator, GitHubSignatureValidator, GitLabSignatureValidator, Headers,
    HmacSignatureValidator, LinearSignatureValidator, NoOpSignatureValidator,
    PaddleSignatureValidator, ShopifySignatureValidator, SignatureValidator, SignedRequest,
    SlackSignatureValidator, SquareSignatureValidator, StandardSignatureValidator,
    StripeSignatureValidator, TwilioSignatureValidator,
};

use payload::SECRET;

const SIZES: [usize; 3] = [1024, 64 * 1024, 1024 * 1024];

/// When every delivery below was signed; each clock reads one second later.
const SIGNED_AT: i64 = 1_700_000_000;

/// Fields that the providers other than GitHub read from the payload,
/// placed first, so one body serves every validator.
const EXTRA_FIELDS: &str = concat!(
    r#""id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","type":"payment_intent.succeeded","#,
    r#""event_id":"Ev08MFMKH6J7","event_type":"transaction.completed","#,
    r#""webhookTimestamp":1700000000000,"#
);

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const DISCORD_SIGNING_KEY: [u8; 32] = [7; 32];
/// standard-webhooks' Go tests' Ed25519 signing key; sources configure its
/// `whpk_` public key.
const STANDARD_SIGNING_KEY: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";

/// Signatures in one header: what a provider sends, and what fits in a
/// 1 MB request head (an attacker's, every one forged).
const FLOOD: [usize; 2] = [1, 11_000];

/// A validator and a delivery it accepts.
struct Case {
    name: &'static str,
    validator: Box<dyn SignatureValidator>,
    headers: Headers,
    url: Option<String>,
}

impl Case {
    fn request<'a>(&'a self, body: &'a [u8]) -> SignedRequest<'a> {
        let request = SignedRequest::new(&self.headers, body);
        match &self.url {
            Some(url) => request.with_url(url),
            None => request,
        }
    }
}

fn clock() -> Clock {
    Clock::fixed(SIGNED_AT + 1)
}

/// Every validator of the crate, each with a delivery signed its way.
fn cases(body: &[u8]) -> Vec<Case> {
    let secret = SECRET.as_bytes();
    let case = |name, validator: Box<dyn SignatureValidator>, headers: &[(&str, &str)]| Case {
        name,
        validator,
        headers: headers.iter().copied().collect(),
        url: None,
    };
    let stamp = SIGNED_AT.to_string();
    let github = GitHubSignatureValidator::sign(secret, body);
    let hmac = format!("sha256={}", HmacSignatureValidator::sign(secret, body));
    let stripe = StripeSignatureValidator::sign(secret, SIGNED_AT, body);
    let standard = StandardSignatureValidator::sign(STANDARD_SECRET, "msg_1", SIGNED_AT, body)
        .expect("a valid whsec_ secret");
    let shopify = ShopifySignatureValidator::sign(secret, body);
    let slack = SlackSignatureValidator::sign(secret, SIGNED_AT, body);
    let gitlab = GitLabSignatureValidator::sign(SECRET);
    let paddle = PaddleSignatureValidator::sign(secret, SIGNED_AT, body);
    let linear = LinearSignatureValidator::sign(secret, body);
    let discord = DiscordSignatureValidator::sign(&DISCORD_SIGNING_KEY, SIGNED_AT, body);
    let square_url = "https://example.com/webhooks/square";
    let square = SquareSignatureValidator::sign(secret, square_url, body);
    let (twilio_url, twilio) =
        TwilioSignatureValidator::sign_json(secret, "http://127.0.0.1:3000/webhooks/twilio", body);
    let mut cases = vec![
        case(
            "github",
            Box::new(GitHubSignatureValidator::new(SECRET).unwrap()),
            &[
                ("X-Hub-Signature-256", &github),
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", DELIVERY),
            ],
        ),
        case(
            "hmac",
            Box::new(HmacSignatureValidator::new(SECRET).unwrap()),
            &[("X-Signature", &hmac), ("X-Event-Id", DELIVERY)],
        ),
        case(
            "stripe",
            Box::new(
                StripeSignatureValidator::new(SECRET)
                    .unwrap()
                    .clock(clock()),
            ),
            &[("Stripe-Signature", &stripe)],
        ),
        case(
            "standard",
            Box::new(
                StandardSignatureValidator::new(STANDARD_SECRET)
                    .unwrap()
                    .clock(clock()),
            ),
            &[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &stamp),
                ("webhook-signature", &standard),
            ],
        ),
        case(
            "shopify",
            Box::new(ShopifySignatureValidator::new(SECRET).unwrap()),
            &[
                ("X-Shopify-Hmac-Sha256", &shopify),
                ("X-Shopify-Topic", "orders/create"),
                ("X-Shopify-Webhook-Id", DELIVERY),
            ],
        ),
        case(
            "slack",
            Box::new(SlackSignatureValidator::new(SECRET).unwrap().clock(clock())),
            &[
                ("X-Slack-Request-Timestamp", &stamp),
                ("X-Slack-Signature", &slack),
            ],
        ),
        case(
            "gitlab",
            Box::new(GitLabSignatureValidator::new(SECRET).unwrap()),
            &[
                ("X-Gitlab-Token", &gitlab),
                ("X-Gitlab-Event", "Push Hook"),
                ("Idempotency-Key", DELIVERY),
            ],
        ),
        case(
            "paddle",
            Box::new(
                PaddleSignatureValidator::new(SECRET)
                    .unwrap()
                    .clock(clock()),
            ),
            &[("Paddle-Signature", &paddle)],
        ),
        case(
            "linear",
            Box::new(
                LinearSignatureValidator::new(SECRET)
                    .unwrap()
                    .clock(clock()),
            ),
            &[("Linear-Signature", &linear), ("Linear-Delivery", DELIVERY)],
        ),
        case(
            "discord",
            Box::new(
                DiscordSignatureValidator::new(
                    DiscordSignatureValidator::public_key(&DISCORD_SIGNING_KEY).as_str(),
                )
                .unwrap()
                .clock(clock()),
            ),
            &[
                ("X-Signature-Timestamp", &stamp),
                ("X-Signature-Ed25519", &discord),
            ],
        ),
        case(
            "square",
            Box::new(
                SquareSignatureValidator::new(SECRET)
                    .unwrap()
                    .public_url("https://example.com"),
            ),
            &[("x-square-hmacsha256-signature", &square)],
        ),
        case(
            "twilio",
            Box::new(TwilioSignatureValidator::new(SECRET).unwrap()),
            &[
                ("X-Twilio-Signature", &twilio),
                ("I-Twilio-Idempotency-Token", DELIVERY),
            ],
        ),
        case(
            "none",
            Box::new(NoOpSignatureValidator::new()),
            &[("X-Event-Id", DELIVERY)],
        ),
    ];
    for case in &mut cases {
        case.url = match case.name {
            "square" => Some("http://127.0.0.1:3000/webhooks/square".into()),
            "twilio" => Some(twilio_url.clone()),
            _ => None,
        };
    }
    for case in &cases {
        let request = case.request(body);
        if let Err(error) = case.validator.verify(&request) {
            panic!("{} refuses its own delivery: {error}", case.name);
        }
        if let Err(error) = case.validator.describe(&request) {
            panic!("{} cannot describe its delivery: {error}", case.name);
        }
    }
    cases
}

fn raw_hmac(body: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn size_name(size: usize) -> String {
    if size >= 1024 * 1024 {
        format!("{}MiB", size / 1024 / 1024)
    } else {
        format!("{}KiB", size / 1024)
    }
}

fn validators(c: &mut Criterion) {
    for size in SIZES {
        let body = payload::push_body(size, EXTRA_FIELDS);
        let cases = cases(&body);
        let name = size_name(size);
        let mut group = c.benchmark_group(format!("verify/{name}"));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function("raw-hmac-sha256", |b| {
            b.iter(|| raw_hmac(black_box(&body)));
        });
        for case in &cases {
            let request = case.request(&body);
            group.bench_function(BenchmarkId::from_parameter(case.name), |b| {
                b.iter(|| case.validator.verify(black_box(&request)));
            });
        }
        group.finish();
        let mut group = c.benchmark_group(format!("describe/{name}"));
        group.throughput(Throughput::Bytes(size as u64));
        for case in &cases {
            let request = case.request(&body);
            group.bench_function(BenchmarkId::from_parameter(case.name), |b| {
                b.iter(|| case.validator.describe(black_box(&request)));
            });
        }
        group.finish();
    }
}

/// One signature header of `count` entries joined by `separator`: the
/// genuine one alone, or `count` forgeries. A forgery is a valid signature
/// of another message, so that checking it costs what a genuine one does.
fn flood(count: usize, genuine: &str, forged: &str, separator: &str) -> String {
    if count == 1 {
        genuine.to_owned()
    } else {
        vec![forged; count].join(separator)
    }
}

/// `standard` with a `whpk_` Ed25519 key and `stripe`, each given one
/// genuine signature, then a header full of forged ones.
fn signature_flood(c: &mut Criterion) {
    let body = payload::push_body(1024, EXTRA_FIELDS);
    let stamp = SIGNED_AT.to_string();
    let public_key =
        StandardSignatureValidator::public_key(STANDARD_SIGNING_KEY).expect("a whsk_ key");
    let standard = StandardSignatureValidator::new(public_key.as_str())
        .unwrap()
        .clock(clock());
    let sign = |msg_id: &str| {
        StandardSignatureValidator::sign_ed25519(STANDARD_SIGNING_KEY, msg_id, SIGNED_AT, &body)
            .expect("a whsk_ key")
    };
    let (genuine, forged) = (sign("msg_1"), sign("msg_other"));
    let stripe = StripeSignatureValidator::new(SECRET)
        .unwrap()
        .clock(clock());
    let stripe_genuine = StripeSignatureValidator::sign(SECRET.as_bytes(), SIGNED_AT, &body);
    let stripe_forged = StripeSignatureValidator::sign(b"another-secret", SIGNED_AT, &body);
    let v1 = |header: &str| header.split_once(',').expect("t=..,v1=..").1.to_owned();
    let (genuine_v1, forged_v1) = (v1(&stripe_genuine), v1(&stripe_forged));
    let mut group = c.benchmark_group("signature-flood");
    group.sample_size(10);
    for count in FLOOD {
        let headers: Headers = [
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", stamp.as_str()),
            ("webhook-signature", &flood(count, &genuine, &forged, " ")),
        ]
        .into_iter()
        .collect();
        let request = SignedRequest::new(&headers, &body);
        assert_eq!(standard.verify(&request).is_ok(), count == 1);
        group.bench_function(BenchmarkId::new("standard-ed25519", count), |b| {
            b.iter(|| standard.verify(black_box(&request)));
        });
        let value = format!(
            "t={SIGNED_AT},{}",
            flood(count, &genuine_v1, &forged_v1, ",")
        );
        let headers: Headers = [("Stripe-Signature", value.as_str())].into_iter().collect();
        let request = SignedRequest::new(&headers, &body);
        assert_eq!(stripe.verify(&request).is_ok(), count == 1);
        group.bench_function(BenchmarkId::new("stripe", count), |b| {
            b.iter(|| stripe.verify(black_box(&request)));
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();
    validators(&mut criterion);
    signature_flood(&mut criterion);
    criterion.final_summary();
}
