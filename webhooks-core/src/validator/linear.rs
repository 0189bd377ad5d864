//! Linear: `Linear-Signature: <hex>` and the payload's `webhookTimestamp`.

use super::hmac::{hmac_sha256, verify_hmac_sha256};
use super::{
    BodyHasher, Clock, EventMeta, EventParseError, Freshness, SignatureError, SignatureValidator,
    SignedRequest, body_sha256_key, decode_hex_digest, freshness_builders, header_value, pick_json,
};
use crate::{Headers, InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "Linear-Signature";
const TIMESTAMP_FIELD: &str = "webhookTimestamp";

/// Verifies Linear's `Linear-Signature` header, the hex HMAC-SHA256 of the
/// raw body under the webhook's signing secret, then, as Linear's SDK does,
/// that the signed payload's `webhookTimestamp` (milliseconds) is within the
/// tolerance of the clock, both ways: 60 seconds by default.
///
/// The delivery id is the `Linear-Delivery` header; the event type is the
/// payload's `type` (else the `Linear-Event` header) joined with its
/// `action` when there is one (`Issue.create`), and a listener for `Issue`
/// receives every `Issue.*` event.
///
/// ```
/// use webhooks_core::{Clock, Headers, LinearSignatureValidator, SignatureValidator, SignedRequest};
///
/// let body = br#"{"action":"create","type":"Issue","data":{},"webhookTimestamp":1700000000000}"#;
/// let headers = Headers::new()
///     .with("Linear-Signature", &LinearSignatureValidator::sign(b"lin_wh_secret", body))
///     .with("Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72");
/// let validator = LinearSignatureValidator::new("lin_wh_secret")?.clock(Clock::fixed(1_700_000_010));
/// let request = SignedRequest::new(&headers, body);
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().event_type, "Issue.create");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinearSignatureValidator {
    secrets: Secrets,
    freshness: Freshness,
}

impl LinearSignatureValidator {
    /// The window of Linear's SDK: 60 seconds.
    pub const DEFAULT_TOLERANCE_SECONDS: u64 = 60;

    /// A validator accepting any of these signing secrets; an error when
    /// none is given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
            freshness: Freshness::new(Self::DEFAULT_TOLERANCE_SECONDS),
        })
    }

    freshness_builders!();

    /// The `Linear-Signature` value Linear sends for `body`.
    pub fn sign(secret: &[u8], body: &[u8]) -> String {
        hex::encode(hmac_sha256(secret, &[body]))
    }

    /// The digest the signature header gives, or why it cannot be checked.
    fn given(headers: &Headers) -> Result<[u8; 32], SignatureError> {
        let value = headers
            .get(SIGNATURE_HEADER)
            .ok_or_else(|| SignatureError::MissingHeader(SIGNATURE_HEADER.into()))?;
        decode_hex_digest(value).ok_or(SignatureError::MalformedHeader {
            header: SIGNATURE_HEADER.into(),
            reason: "expected 64 hex digits",
        })
    }
}

impl SignatureValidator for LinearSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let given = Self::given(request.headers())?;
        verify_hmac_sha256(&self.secrets, &[], request, &[given])?;
        // Signed, so trusted: Linear's SDK checks it when it is there.
        let Ok([Some(millis)]) = pick_json(request.body(), [TIMESTAMP_FIELD]) else {
            return Ok(());
        };
        let millis: i64 = millis
            .parse()
            .map_err(|_| SignatureError::MalformedHeader {
                header: TIMESTAMP_FIELD.into(),
                reason: "the payload's timestamp is not whole milliseconds",
            })?;
        self.freshness.check(millis.div_euclid(1000))
    }

    /// The timestamp is in the body, so it is checked after the MAC, as
    /// without the hasher.
    fn body_hasher(&self, headers: &Headers, _url: Option<&str>) -> Option<BodyHasher> {
        Self::given(headers).ok()?;
        Some(BodyHasher::new(self.secrets.iter(), &[]))
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let headers = request.headers();
        let id = header_value(headers, "Linear-Delivery")
            .map_or_else(|| body_sha256_key(request.body()), str::to_owned);
        let [kind, action] = pick_json(request.body(), ["type", "action"])?;
        let kind = kind
            .or_else(|| header_value(headers, "Linear-Event").map(str::to_owned))
            .ok_or_else(|| EventParseError::NoEventType {
                field: "type".into(),
                header: "Linear-Event".into(),
            })?;
        let event_type = match action {
            Some(action) => format!("{kind}.{action}"),
            None => kind,
        };
        Ok(EventMeta { id, event_type })
    }

    fn event_families(&self) -> bool {
        true
    }

    fn scheme(&self) -> &'static str {
        "linear"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // Linear publishes no fixed vector (its SDK's LinearWebhookClient.verify
    // compares the hex HMAC-SHA256 of the raw body and checks
    // |now - webhookTimestamp| <= 60 000 ms). This payload follows the docs'
    // example; the signature was computed independently of this code:
    // printf '%s' "$BODY" | openssl dgst -sha256 -hmac lin_wh_test_secret
    const SECRET: &str = "lin_wh_test_secret";
    const BODY: &[u8] = br#"{"action":"create","type":"Issue","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","title":"Foo"},"url":"https://linear.app/issue/LIN-1778/foo-bar","createdAt":"2023-02-10T19:22:20.508Z","webhookTimestamp":1676056940508,"webhookId":"000042e3-d123-4980-b49f-8e140eef9329"}"#;
    const SIGNATURE: &str = "0b32ea4684550ae4533aa9c711d754dfd519c087c590bbc98965730792a3b161";
    const NOW: i64 = 1_676_056_940;

    fn check(
        secrets: impl Into<Secrets>,
        signature: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let headers = Headers::new().with(SIGNATURE_HEADER, signature);
        LinearSignatureValidator::new(secrets)
            .unwrap()
            .clock(Clock::fixed(now))
            .verify(&SignedRequest::new(&headers, body))
    }

    #[test]
    fn independent_vector() {
        assert_eq!(
            LinearSignatureValidator::sign(SECRET.as_bytes(), BODY),
            SIGNATURE
        );
        assert_eq!(check(SECRET, SIGNATURE, BODY, NOW), Ok(()));
        assert_eq!(
            check(["rotated", SECRET], SIGNATURE, BODY, NOW + 60),
            Ok(())
        );
        assert_eq!(check(SECRET, SIGNATURE, BODY, NOW - 59), Ok(()));
        // Without a webhookTimestamp there is nothing to check, as in the SDK.
        let untimed = br#"{"action":"remove","type":"Comment"}"#;
        let signature = LinearSignatureValidator::sign(SECRET.as_bytes(), untimed);
        assert_eq!(check(SECRET, &signature, untimed, 0), Ok(()));
    }

    #[test]
    fn negative_cases() {
        let no_match = Err(SignatureError::NoMatchingSignature);
        assert_eq!(check("wrong", SIGNATURE, BODY, NOW), no_match);
        let forged = String::from_utf8_lossy(BODY).replace("Foo", "Bar");
        assert_eq!(check(SECRET, SIGNATURE, forged.as_bytes(), NOW), no_match);
        let decoy = LinearSignatureValidator::sign(SECRET.as_bytes(), b"{}");
        assert_eq!(check(SECRET, &decoy, BODY, NOW), no_match);
        for malformed in [&SIGNATURE[..63], "sha256=0b32", ""] {
            assert!(matches!(
                check(SECRET, malformed, BODY, NOW),
                Err(SignatureError::MalformedHeader { .. })
            ));
        }
        // An old delivery replayed: its signed timestamp is 61 s off.
        assert_eq!(
            check(SECRET, SIGNATURE, BODY, NOW + 61),
            Err(SignatureError::TimestampOutsideTolerance {
                tolerance_seconds: 60,
                skew_seconds: 61
            })
        );
        assert!(check(SECRET, SIGNATURE, BODY, NOW - 61).is_err());
        let text = br#"{"type":"Issue","webhookTimestamp":"soon"}"#;
        let signature = LinearSignatureValidator::sign(SECRET.as_bytes(), text);
        assert!(matches!(
            check(SECRET, &signature, text, NOW),
            Err(SignatureError::MalformedHeader { .. })
        ));
        let validator = LinearSignatureValidator::new(SECRET).unwrap();
        assert_eq!(
            validator.verify(&SignedRequest::new(&Headers::new(), BODY)),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER.into()))
        );
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(
            LinearSignatureValidator::new("").unwrap_err(),
            InvalidSecret::Empty { number: 1 }
        );
    }

    #[test]
    fn describe_joins_type_and_action() {
        let validator = LinearSignatureValidator::new(SECRET).unwrap();
        let headers = Headers::new()
            .with("Linear-Delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72")
            .with("Linear-Event", "Issue");
        let meta = validator
            .describe(&SignedRequest::new(&headers, BODY))
            .unwrap();
        assert_eq!(
            meta,
            EventMeta::new("234d1a4e-b617-4388-90fe-adc3633d6b72", "Issue.create")
        );
        let no_action = validator
            .describe(&SignedRequest::new(&headers, b"{}"))
            .unwrap();
        assert_eq!(no_action.event_type, "Issue");
        assert!(validator.event_families());
        assert!(
            validator
                .describe(&SignedRequest::new(&Headers::new(), b"{}"))
                .is_err()
        );
    }
}
