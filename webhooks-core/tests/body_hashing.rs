//! Hashing the body as it arrives: for every scheme, verification with the
//! MACs computed frame by frame decides exactly as verification of the
//! whole body (the body split anywhere, wrong and rotated secrets, tampered
//! bodies, MACs meant for another request), and uses them when they fit.
//! Over real TCP: the workspace's `tests/body_hashing.rs`.

use std::time::{SystemTime, UNIX_EPOCH};

use webhooks_core::testing::{self, SignedEvent};
use webhooks_core::{
    DiscordSignatureValidator, GitHubSignatureValidator, GitLabSignatureValidator,
    HmacSignatureValidator, LinearSignatureValidator, PaddleSignatureValidator, ProcessError,
    Processed, Secrets, ShopifySignatureValidator, SignatureError, SignatureValidator,
    SignedPayload, SignedRequest, SlackSignatureValidator, SquareSignatureValidator,
    StandardSignatureValidator, StripeSignatureValidator, TwilioSignatureValidator,
    WebhookProcessor,
};

const BODY: &str = r#"{"id":"evt_1","type":"invoice.paid","event_id":"e1","event_type":"x"}"#;
const SQUARE_URL: &str = "https://example.com/webhooks/square";
const TWILIO_URL: &str = "https://example.com/webhooks/twilio";
const STANDARD_RIGHT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STANDARD_WRONG: &str = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY";
const ED25519_SIGNING: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";

/// A scheme: its validator for some secrets, a delivery signed with the
/// secret `right`, and whether it hashes the body as it arrives.
struct Case {
    name: &'static str,
    validator: fn(&[&str]) -> Box<dyn SignatureValidator>,
    right: String,
    wrong: String,
    event: SignedEvent,
    streams: bool,
}

fn unix_now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_secs()).expect("fits")
}

fn secrets(secrets: &[&str]) -> Secrets {
    secrets.iter().copied().collect()
}

fn timestamped(template: &str) -> impl Fn(&[&str]) -> Box<dyn SignatureValidator> {
    let payload: SignedPayload = template.parse().unwrap();
    move |keys| {
        Box::new(
            HmacSignatureValidator::new(secrets(keys))
                .unwrap()
                .timestamp_header("X-Webhook-Timestamp")
                .signed_payload(payload.clone()),
        )
    }
}

fn case(
    name: &'static str,
    validator: fn(&[&str]) -> Box<dyn SignatureValidator>,
    right: &str,
    wrong: &str,
    event: SignedEvent,
    streams: bool,
) -> Case {
    Case {
        name,
        validator,
        right: right.into(),
        wrong: wrong.into(),
        event,
        streams,
    }
}

fn cases() -> Vec<Case> {
    let discord_right = DiscordSignatureValidator::public_key(&[7; 32]);
    let discord_wrong = DiscordSignatureValidator::public_key(&[8; 32]);
    let ed25519_public = StandardSignatureValidator::public_key(ED25519_SIGNING).unwrap();
    vec![
        case(
            "github",
            |k| Box::new(GitHubSignatureValidator::new(secrets(k)).unwrap()),
            "gh",
            "gh-wrong",
            testing::github("gh", "push", BODY),
            true,
        ),
        case(
            "stripe",
            |k| Box::new(StripeSignatureValidator::new(secrets(k)).unwrap()),
            "whsec_s",
            "whsec_wrong",
            testing::stripe("whsec_s", BODY),
            true,
        ),
        case(
            "hmac",
            |k| Box::new(HmacSignatureValidator::new(secrets(k)).unwrap()),
            "h",
            "h-wrong",
            testing::hmac("h", BODY),
            true,
        ),
        case(
            "hmac {timestamp}.{body}",
            |k| timestamped("{timestamp}.{body}")(k),
            "h",
            "h-wrong",
            testing::hmac_timestamped("h", "X-Webhook-Timestamp", &SignedPayload::default(), BODY),
            true,
        ),
        case(
            "hmac {body}.{timestamp}",
            |k| timestamped("{body}.{timestamp}")(k),
            "h",
            "h-wrong",
            testing::hmac_timestamped(
                "h",
                "X-Webhook-Timestamp",
                &"{body}.{timestamp}".parse().unwrap(),
                BODY,
            ),
            false,
        ),
        case(
            "standard",
            |k| Box::new(StandardSignatureValidator::new(secrets(k)).unwrap()),
            STANDARD_RIGHT,
            STANDARD_WRONG,
            testing::standard(STANDARD_RIGHT, BODY),
            true,
        ),
        case(
            "standard ed25519",
            |k| Box::new(StandardSignatureValidator::new(secrets(k)).unwrap()),
            &ed25519_public,
            STANDARD_WRONG,
            testing::standard_ed25519(ED25519_SIGNING, BODY),
            // Ed25519 reads its message whole; the wrong secret, an HMAC
            // key, is hashed as the body arrives.
            false,
        ),
        case(
            "shopify",
            |k| Box::new(ShopifySignatureValidator::new(secrets(k)).unwrap()),
            "sh",
            "sh-wrong",
            testing::shopify("sh", "orders/create", BODY),
            true,
        ),
        case(
            "slack",
            |k| Box::new(SlackSignatureValidator::new(secrets(k)).unwrap()),
            "sl",
            "sl-wrong",
            testing::slack("sl", BODY),
            true,
        ),
        case(
            "paddle",
            // Paddle's 5 s would not outlast the checks of a debug build.
            |k| {
                Box::new(
                    PaddleSignatureValidator::new(secrets(k))
                        .unwrap()
                        .tolerance_seconds(300),
                )
            },
            "pdl",
            "pdl-wrong",
            testing::paddle("pdl", BODY),
            true,
        ),
        case(
            "linear",
            |k| Box::new(LinearSignatureValidator::new(secrets(k)).unwrap()),
            "lin",
            "lin-wrong",
            testing::linear("lin", BODY),
            true,
        ),
        case(
            "square",
            |k| Box::new(SquareSignatureValidator::new(secrets(k)).unwrap()),
            "sq",
            "sq-wrong",
            testing::square("sq", SQUARE_URL, BODY),
            true,
        ),
        case(
            "gitlab",
            |k| Box::new(GitLabSignatureValidator::new(secrets(k)).unwrap()),
            "gl",
            "gl-wrong",
            testing::gitlab("gl", "Push Hook", BODY),
            false,
        ),
        case(
            "twilio",
            |k| Box::new(TwilioSignatureValidator::new(secrets(k)).unwrap()),
            "tw",
            "tw-wrong",
            testing::twilio("tw", TWILIO_URL, &[("MessageSid", "SM1"), ("Body", "hi")]),
            false,
        ),
        case(
            "discord",
            |k| Box::new(DiscordSignatureValidator::new(secrets(k)).unwrap()),
            &discord_right,
            &discord_wrong,
            testing::discord(&[7; 32], BODY),
            false,
        ),
    ]
}

/// The request of `event`'s headers and URL with `body`.
fn request<'a>(event: &'a SignedEvent, body: &'a [u8]) -> SignedRequest<'a> {
    let request = SignedRequest::new(event.headers(), body);
    match event.url() {
        Some(url) => request.with_url(url),
        None => request,
    }
}

/// `verify` of `body` with the MACs `hashing` computed from `event`'s
/// headers, fed the body cut at `cuts`; `None` when it offers no hasher.
fn streamed(
    hashing: &dyn SignatureValidator,
    verifying: &dyn SignatureValidator,
    event: &SignedEvent,
    body: &[u8],
    cuts: &[usize],
) -> Option<Result<(), SignatureError>> {
    let mut hasher = hashing.body_hasher(event.headers(), event.url())?;
    let mut from = 0;
    for &cut in cuts {
        hasher.update(&body[from..cut]);
        from = cut;
    }
    hasher.update(&body[from..]);
    let macs = hasher.finish();
    Some(verifying.verify(&request(event, body).with_body_macs(&macs)))
}

/// The body with one byte changed: same length.
fn flipped(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    let middle = body.len() / 2;
    body[middle] ^= 0x01;
    body
}

#[test]
fn every_scheme_decides_the_same_with_the_body_hashed_as_it_arrives() {
    for case in cases() {
        let name = case.name;
        let (right, wrong) = (case.right.as_str(), case.wrong.as_str());
        let validators = [
            ("right", (case.validator)(&[right])),
            ("wrong", (case.validator)(&[wrong])),
            ("rotated, right last", (case.validator)(&[wrong, right])),
            ("rotated, right first", (case.validator)(&[right, wrong])),
        ];
        let genuine = case.event.body().to_vec();
        let tampered = case.event.clone().tampered().body().to_vec();
        let bodies = [
            ("genuine", genuine.clone()),
            ("tampered", tampered),
            ("flipped", flipped(&genuine)),
            ("empty", Vec::new()),
        ];
        for (secrets, validator) in &validators {
            let offers = validator
                .body_hasher(case.event.headers(), case.event.url())
                .is_some();
            let hmac_key = name == "standard ed25519" && *secrets != "right";
            assert_eq!(offers, case.streams || hmac_key, "{name}, {secrets}");
            for (kind, body) in &bodies {
                let whole = validator.verify(&request(&case.event, body));
                // A GitLab token signs no body.
                let body_checked = *kind == "genuine" || name == "gitlab";
                let accepted = body_checked && *secrets != "wrong";
                assert_eq!(
                    whole.is_ok(),
                    accepted,
                    "{name}, {secrets}, {kind}: {whole:?}"
                );
                let mut cuttings: Vec<Vec<usize>> = (0..=body.len()).map(|cut| vec![cut]).collect();
                cuttings.push((1..body.len()).collect());
                cuttings.push((0..body.len()).step_by(7).collect());
                for cuts in &cuttings {
                    let framed = streamed(&**validator, &**validator, &case.event, body, cuts);
                    if let Some(framed) = framed {
                        assert_eq!(framed, whole, "{name}, {secrets}, {kind}, cut at {cuts:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn macs_meant_for_another_request_or_secret_change_no_answer() {
    for case in cases().into_iter().filter(|case| case.streams) {
        let name = case.name;
        let right = (case.validator)(&[case.right.as_str()]);
        let wrong = (case.validator)(&[case.wrong.as_str()]);
        // Configured again from the same text: the same bytes, another key.
        let twin = (case.validator)(&[case.right.as_str()]);
        let body = case.event.body();
        for (hashing, verifying) in [(&wrong, &right), (&right, &wrong), (&twin, &right)] {
            let whole = verifying.verify(&request(&case.event, body));
            if let Some(framed) = streamed(&**hashing, &**verifying, &case.event, body, &[3]) {
                assert_eq!(framed, whole, "{name}");
            }
        }
        // MACs of a shorter body, or of another body of the same length,
        // hashed by the right secret: the same answers as without them.
        let mut hasher = right.body_hasher(case.event.headers(), case.event.url());
        if let Some(hasher) = &mut hasher {
            hasher.update(&body[1..]);
        }
        if let Some(hasher) = hasher {
            let macs = hasher.finish();
            let verdict = right.verify(&request(&case.event, body).with_body_macs(&macs));
            assert_eq!(
                verdict,
                Ok(()),
                "{name}: MACs of another length are not used"
            );
        }
        let other = flipped(body);
        if let Some(framed) = streamed(&*right, &*right, &case.event, &other, &[]) {
            assert_eq!(
                framed,
                right.verify(&request(&case.event, &other)),
                "{name}"
            );
        }
    }
    // A Stripe delivery signed at another time: its prefix differs, so the
    // MACs of the first are not the second's.
    let validator = StripeSignatureValidator::new("whsec_s").unwrap();
    let first = testing::stripe("whsec_s", BODY);
    let second = first.clone().with_timestamp(unix_now() - 10);
    let macs = {
        let mut hasher = validator.body_hasher(first.headers(), None).unwrap();
        hasher.update(BODY.as_bytes());
        hasher.finish()
    };
    let request = SignedRequest::new(second.headers(), BODY.as_bytes()).with_body_macs(&macs);
    assert_eq!(validator.verify(&request), Ok(()));
}

#[test]
fn refusals_from_the_headers_alone_offer_no_hasher() {
    let stripe = StripeSignatureValidator::new("whsec_s").unwrap();
    let stale = testing::stripe("whsec_s", BODY).with_timestamp(unix_now() - 3600);
    assert!(stripe.body_hasher(stale.headers(), None).is_none());
    assert!(matches!(
        stripe.verify(&stale.request()),
        Err(SignatureError::TimestampOutsideTolerance { .. })
    ));
    let github = GitHubSignatureValidator::new("gh").unwrap();
    let unsigned = testing::github("gh", "push", BODY).without_header("X-Hub-Signature-256");
    assert!(github.body_hasher(unsigned.headers(), None).is_none());
    let malformed =
        testing::github("gh", "push", BODY).with_header("X-Hub-Signature-256", "sha256=00");
    assert!(github.body_hasher(malformed.headers(), None).is_none());
    let square = SquareSignatureValidator::new("sq").unwrap();
    let event = testing::square("sq", SQUARE_URL, BODY);
    assert!(square.body_hasher(event.headers(), None).is_none());
    assert!(
        square
            .body_hasher(event.headers(), Some(SQUARE_URL))
            .is_some()
    );
}

/// The MACs are what `verify` checks when they fit: a transport must feed
/// the hasher the very bytes it then passes as the body. Shown with MACs of
/// the signed body given with another body of the same length, which the
/// body alone would refuse.
#[test]
fn macs_that_fit_are_used_instead_of_the_body() {
    for case in cases().into_iter().filter(|case| case.streams) {
        let name = case.name;
        let validator = (case.validator)(&[case.right.as_str()]);
        let body = case.event.body();
        let other = flipped(body);
        let Some(verdict) = streamed(&*validator, &*validator, &case.event, body, &[5]) else {
            panic!("{name}: no hasher");
        };
        assert_eq!(verdict, Ok(()), "{name}");
        let mut hasher = validator
            .body_hasher(case.event.headers(), case.event.url())
            .unwrap();
        hasher.update(body);
        let macs = hasher.finish();
        let whole = validator.verify(&request(&case.event, &other));
        assert!(whole.is_err(), "{name}: {whole:?}");
        let hashed = validator.verify(&request(&case.event, &other).with_body_macs(&macs));
        assert_eq!(hashed, Ok(()), "{name}: the MACs were not used");
    }
}

/// What a transport does through a processor's route: the source's
/// validator offers the hasher, and `process_hashed` decides with the MACs
/// it is given, exactly as `process` decides without them.
#[tokio::test]
async fn a_route_hashes_for_its_source_and_processes_with_the_macs() {
    let processor = WebhookProcessor::builder()
        .register_validator("github", GitHubSignatureValidator::new("gh").unwrap())
        .build()
        .unwrap();
    let route = processor.route("github").unwrap();
    let event = testing::github("gh", "ping", r#"{"zen":"Practicality beats purity."}"#);
    let id = event.headers().get("X-GitHub-Delivery").unwrap().to_owned();
    let unsigned = event.clone().without_header("X-Hub-Signature-256");
    assert!(route.body_hasher(unsigned.headers(), None).is_none());
    let hashed = |body: &[u8]| {
        let mut hasher = route.body_hasher(event.headers(), None).expect("a hasher");
        for frame in body.chunks(5) {
            hasher.update(frame);
        }
        hasher.finish()
    };
    let process = |body: &[u8], macs| {
        let body = body.to_vec();
        route.process_hashed(body, event.headers().clone(), None, macs)
    };
    let refused = |processed| {
        matches!(
            processed,
            Err(ProcessError::InvalidSignature(
                SignatureError::NoMatchingSignature
            ))
        )
    };
    let genuine = event.body();
    let tampered = event.clone().tampered().body().to_vec();
    assert!(refused(process(&tampered, None).await));
    assert!(refused(process(&tampered, Some(hashed(&tampered))).await));
    // The MACs of another body of the same length: they fit, so they are
    // what is checked, and the genuine body is refused with them.
    let other = flipped(genuine);
    assert!(refused(process(genuine, Some(hashed(&other))).await));
    let accepted = process(genuine, Some(hashed(genuine))).await.unwrap();
    assert_eq!(accepted, Processed::Accepted { id: id.clone() });
    let again = process(genuine, Some(hashed(genuine))).await.unwrap();
    assert_eq!(again, Processed::Duplicate { id });
}
