//! Slack: `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`.

use super::hmac::{hmac_sha256, verify_hmac_sha256};
use super::url::parse_form;
use super::{
    BodyHasher, Clock, EventMeta, EventParseError, Freshness, Handshake, SignatureError,
    SignatureValidator, SignedRequest, body_sha256_key, decode_hex_digest, freshness_builders,
    header_value, pick_json,
};
use crate::{Headers, InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "X-Slack-Signature";
const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";

/// Verifies Slack's signed requests: `X-Slack-Signature: v0=<hex>`, the
/// HMAC-SHA256 of `"v0:{X-Slack-Request-Timestamp}:{body}"` under the app's
/// signing secret, with the timestamp within five minutes (the tolerance) of
/// the clock, both ways; as in Slack's SDKs, the timestamp is checked first.
///
/// The delivery id is the payload's `event_id` (Events API), else the body's
/// SHA-256; the event type is the payload's `event.type`, else its `type`
/// (`url_verification`). Form-encoded requests are read too: the `type` of
/// an interactivity `payload`, else a slash command's `command`.
///
/// ```
/// use webhooks_core::{Clock, Headers, SignatureValidator, SignedRequest, SlackSignatureValidator};
///
/// let body = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
/// let headers = Headers::new()
///     .with("X-Slack-Request-Timestamp", "1700000000")
///     .with("X-Slack-Signature", &SlackSignatureValidator::sign(b"signing-secret", 1_700_000_000, body));
/// let validator = SlackSignatureValidator::new("signing-secret")?.clock(Clock::fixed(1_700_000_060));
/// let request = SignedRequest::new(&headers, body);
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().event_type, "app_mention");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct SlackSignatureValidator {
    secrets: Secrets,
    freshness: Freshness,
}

impl SlackSignatureValidator {
    /// Slack's window: five minutes.
    pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

    /// A validator accepting any of these signing secrets; an error when
    /// none is given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
            freshness: Freshness::new(Self::DEFAULT_TOLERANCE_SECONDS),
        })
    }

    freshness_builders!();

    /// The `X-Slack-Signature` value Slack sends for `body` at `timestamp`
    /// (sent as `X-Slack-Request-Timestamp`).
    pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
        let timestamp = timestamp.to_string();
        let digest = hmac_sha256(secret, &[b"v0:", timestamp.as_bytes(), b":", body]);
        format!("v0={}", hex::encode(digest))
    }

    /// The digest the signature header gives and the timestamp it signs,
    /// checked to be fresh, or why the headers alone refuse the request.
    fn signed<'h>(&self, headers: &'h Headers) -> Result<([u8; 32], &'h str), SignatureError> {
        let signature = header_value(headers, SIGNATURE_HEADER)
            .ok_or_else(|| SignatureError::MissingHeader(SIGNATURE_HEADER.into()))?;
        let timestamp_text = header_value(headers, TIMESTAMP_HEADER)
            .ok_or_else(|| SignatureError::MissingHeader(TIMESTAMP_HEADER.into()))?;
        let timestamp: i64 =
            timestamp_text
                .parse()
                .map_err(|_| SignatureError::MalformedHeader {
                    header: TIMESTAMP_HEADER.into(),
                    reason: "timestamp is not an integer",
                })?;
        let given = signature
            .strip_prefix("v0=")
            .and_then(decode_hex_digest)
            .ok_or(SignatureError::MalformedHeader {
                header: SIGNATURE_HEADER.into(),
                reason: "expected `v0=` and 64 hex digits",
            })?;
        self.freshness.check(timestamp)?;
        Ok((given, timestamp_text))
    }
}

impl SignatureValidator for SlackSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let (given, timestamp) = self.signed(request.headers())?;
        let prefix: [&[u8]; 3] = [b"v0:", timestamp.as_bytes(), b":"];
        verify_hmac_sha256(&self.secrets, &prefix, request, &[given])
    }

    fn body_hasher(&self, headers: &Headers, _url: Option<&str>) -> Option<BodyHasher> {
        let (_, timestamp) = self.signed(headers).ok()?;
        let prefix: [&[u8]; 3] = [b"v0:", timestamp.as_bytes(), b":"];
        Some(BodyHasher::new(self.secrets.iter(), &prefix))
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let body = request.body();
        let json_error = match pick_json(body, ["event_id", "event.type", "type"]) {
            Ok([id, nested, kind]) => {
                let event_type = nested
                    .or(kind)
                    .ok_or_else(|| EventParseError::MissingField("type".into()))?;
                let id = id.unwrap_or_else(|| body_sha256_key(body));
                return Ok(EventMeta { id, event_type });
            }
            Err(error) => error,
        };
        // Slash commands and interactivity post forms.
        let form = parse_form(body);
        let field = |name: &str| {
            form.iter()
                .find_map(|(key, value)| (key == name).then_some(value.as_str()))
        };
        let event_type = field("payload")
            .and_then(|payload| pick_json(payload.as_bytes(), ["type"]).ok())
            .and_then(|[kind]| kind)
            .or_else(|| field("command").map(str::to_owned))
            .ok_or(json_error)?;
        Ok(EventMeta::new(body_sha256_key(body), event_type))
    }

    fn scheme(&self) -> &'static str {
        "slack"
    }

    /// Slack checks a new Events API Request URL with a signed
    /// `url_verification` event and expects its `challenge` back (Slack API
    /// docs, "url_verification event"): `{"challenge":"…"}`.
    fn handshake(&self, request: &SignedRequest<'_>, meta: &EventMeta) -> Option<Handshake> {
        if meta.event_type != "url_verification" {
            return None;
        }
        let [challenge] = pick_json(request.body(), ["challenge"]).ok()?;
        let mut body = b"{\"challenge\":".to_vec();
        serde_json::to_writer(&mut body, &challenge?).ok()?;
        body.push(b'}');
        Some(Handshake::json(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // Slack API docs, "Verifying requests from Slack", the walk-through:
    // signing secret, X-Slack-Request-Timestamp, the slash command's raw body
    // and the resulting X-Slack-Signature (slack_sdk's SignatureVerifier gives
    // the same).
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: i64 = 1_531_420_618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn check(
        secrets: impl Into<Secrets>,
        signature: &str,
        timestamp: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let headers = Headers::new()
            .with(SIGNATURE_HEADER, signature)
            .with(TIMESTAMP_HEADER, timestamp);
        SlackSignatureValidator::new(secrets)
            .unwrap()
            .clock(Clock::fixed(now))
            .verify(&SignedRequest::new(&headers, body))
    }

    #[test]
    fn slack_docs_vector() {
        assert_eq!(
            SlackSignatureValidator::sign(SECRET.as_bytes(), TIMESTAMP, BODY),
            SIGNATURE
        );
        let ts = TIMESTAMP.to_string();
        assert_eq!(check(SECRET, SIGNATURE, &ts, BODY, TIMESTAMP), Ok(()));
        assert_eq!(
            check(
                ["new-secret", SECRET],
                SIGNATURE,
                &ts,
                BODY,
                TIMESTAMP + 300
            ),
            Ok(())
        );
        assert_eq!(
            check(
                SECRET,
                &SIGNATURE.to_uppercase().replace("V0=", "v0="),
                &ts,
                BODY,
                TIMESTAMP
            ),
            Ok(())
        );
    }

    /// The handshake of a body, given what `describe` found in it.
    fn answer(validator: &SlackSignatureValidator, body: &[u8]) -> Option<Handshake> {
        let headers = Headers::new();
        let request = SignedRequest::new(&headers, body);
        let meta = validator.describe(&request).expect("a body Slack sends");
        validator.handshake(&request, &meta)
    }

    #[test]
    fn url_verification_is_answered_with_its_challenge() {
        let validator = SlackSignatureValidator::new("secret").unwrap();
        // The payload of Slack's docs, "url_verification event".
        let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let handshake = answer(&validator, body).expect("a url_verification is a handshake");
        assert_eq!(handshake.status(), 200);
        assert_eq!(
            handshake.body(),
            br#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
        );
        let event = br#"{"type":"event_callback","challenge":"x","event":{"type":"app_mention"}}"#;
        assert_eq!(answer(&validator, event), None);
        assert_eq!(answer(&validator, b"command=/x"), None);
    }

    #[test]
    fn negative_cases() {
        let ts = TIMESTAMP.to_string();
        let no_match = Err(SignatureError::NoMatchingSignature);
        assert_eq!(
            check("wrong-secret", SIGNATURE, &ts, BODY, TIMESTAMP),
            no_match
        );
        assert_eq!(
            check(SECRET, SIGNATURE, &ts, b"token=forged", TIMESTAMP),
            no_match
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = (TIMESTAMP + 1).to_string();
        assert_eq!(check(SECRET, SIGNATURE, &moved, BODY, TIMESTAMP), no_match);
        for malformed in [
            &SIGNATURE[..60],
            "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
            "v1=00",
            "v0=",
        ] {
            assert!(matches!(
                check(SECRET, malformed, &ts, BODY, TIMESTAMP),
                Err(SignatureError::MalformedHeader { .. })
            ));
        }
        assert!(matches!(
            check(SECRET, SIGNATURE, "yesterday", BODY, TIMESTAMP),
            Err(SignatureError::MalformedHeader {
                reason: "timestamp is not an integer",
                ..
            })
        ));
        // Five-minute window, both ways.
        assert_eq!(
            check(SECRET, SIGNATURE, &ts, BODY, TIMESTAMP + 301),
            Err(SignatureError::TimestampOutsideTolerance {
                tolerance_seconds: 300,
                skew_seconds: 301
            })
        );
        assert!(matches!(
            check(SECRET, SIGNATURE, &ts, BODY, TIMESTAMP - 301),
            Err(SignatureError::TimestampOutsideTolerance { .. })
        ));
        let validator = SlackSignatureValidator::new(SECRET).unwrap();
        let only_signature = Headers::new().with(SIGNATURE_HEADER, SIGNATURE);
        assert_eq!(
            validator.verify(&SignedRequest::new(&only_signature, BODY)),
            Err(SignatureError::MissingHeader(TIMESTAMP_HEADER.into()))
        );
        assert_eq!(
            validator.verify(&SignedRequest::new(&Headers::new(), BODY)),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER.into()))
        );
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(
            SlackSignatureValidator::new("").unwrap_err(),
            InvalidSecret::Empty { number: 1 }
        );
    }

    #[test]
    fn describe_json_events_and_forms() {
        let validator = SlackSignatureValidator::new(SECRET).unwrap();
        let headers = Headers::new();
        let describe = |body: &[u8]| validator.describe(&SignedRequest::new(&headers, body));
        let event = br#"{"token":"x","team_id":"T1","event":{"type":"reaction_added","user":"U1"},"type":"event_callback","event_id":"Ev08MFMKH6","event_time":1234567890}"#;
        assert_eq!(
            describe(event).unwrap(),
            EventMeta::new("Ev08MFMKH6", "reaction_added")
        );
        let challenge = br#"{"token":"x","challenge":"3eZbrw1aB","type":"url_verification"}"#;
        let meta = describe(challenge).unwrap();
        assert_eq!(
            meta,
            EventMeta::new(body_sha256_key(challenge), "url_verification")
        );
        assert_eq!(describe(BODY).unwrap().event_type, "/webhook-collect");
        let interaction = b"payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D";
        assert_eq!(describe(interaction).unwrap().event_type, "block_actions");
        assert!(matches!(
            describe(b"neither=json"),
            Err(EventParseError::InvalidJson(_))
        ));
        assert!(matches!(
            describe(b"{}"),
            Err(EventParseError::MissingField(_))
        ));
    }
}
