//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`.

use super::hmac::{hmac_sha256, verify_hmac_sha256};
use super::{
    BodyHasher, Clock, EventMeta, EventParseError, Freshness, SignatureError, SignatureValidator,
    SignedRequest, count_signature, decode_hex_digest, freshness_builders, pick_json,
    signature_entries,
};
use crate::{Headers, InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// Verifies Stripe's `Stripe-Signature` header: the hex HMAC-SHA256 of
/// `"{t}.{body}"` under the endpoint secret, used whole (`whsec_` included).
///
/// Any matching `v1` entry passes (Stripe sends several while a secret is
/// rolled); `v0` and unknown schemes are ignored, but count towards the
/// [`MAX_SIGNATURES`](crate::MAX_SIGNATURES) a header may hold. The
/// timestamp must be within the tolerance (300 s by default) of the clock,
/// both ways; it is checked before the signatures, as Stripe's libraries
/// refuse a stale one too, so a replayed delivery costs no HMAC. The
/// delivery id is the payload's `id`, the event type its `type`.
///
/// ```
/// use webhooks_core::{Clock, Headers, SignatureValidator, SignedRequest, StripeSignatureValidator};
///
/// let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
/// let header = StripeSignatureValidator::sign(b"whsec_test", 1_700_000_000, body);
/// let validator = StripeSignatureValidator::new("whsec_test")?.clock(Clock::fixed(1_700_000_010));
/// let headers = Headers::new().with("Stripe-Signature", &header);
/// let request = SignedRequest::new(&headers, body);
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().event_type, "payment_intent.succeeded");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct StripeSignatureValidator {
    secrets: Secrets,
    freshness: Freshness,
}

impl StripeSignatureValidator {
    /// The tolerance Stripe's own libraries use: 300 seconds.
    pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

    /// A validator accepting any of these endpoint secrets; an error when
    /// none is given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
            freshness: Freshness::new(Self::DEFAULT_TOLERANCE_SECONDS),
        })
    }

    freshness_builders!();

    /// The `Stripe-Signature` value Stripe sends for `body` at `timestamp`.
    pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
        let digest = hmac_sha256(secret, &[timestamp.to_string().as_bytes(), b".", body]);
        format!("t={timestamp},v1={}", hex::encode(digest))
    }

    /// The digests the signature header gives and the timestamp they sign,
    /// checked to be fresh, or why the headers alone refuse the request.
    fn signed(&self, headers: &Headers) -> Result<(Vec<[u8; 32]>, String), SignatureError> {
        let entries = signature_entries(headers, SIGNATURE_HEADER, Some(b','))?;
        let malformed = |reason| SignatureError::MalformedHeader {
            header: SIGNATURE_HEADER.into(),
            reason,
        };
        let mut timestamp = None;
        // The v1 signatures as sent, decoded only once the header is read.
        let (mut count, mut v1) = (0, Vec::new());
        for item in entries {
            let (scheme, content) = item?
                .split_once('=')
                .ok_or_else(|| malformed("expected `key=value` items"))?;
            if scheme == "t" {
                let parsed: i64 = content
                    .parse()
                    .map_err(|_| malformed("timestamp is not an integer"))?;
                if timestamp.replace(parsed).is_some() {
                    return Err(malformed("more than one timestamp"));
                }
                continue;
            }
            count_signature(&mut count, SIGNATURE_HEADER)?;
            if scheme == "v1" {
                v1.push(content);
            }
        }
        let timestamp = timestamp.ok_or_else(|| malformed("no timestamp"))?;
        if v1.is_empty() {
            return Err(malformed("no v1 signature"));
        }
        self.freshness.check(timestamp)?;
        let given: Vec<[u8; 32]> = v1.into_iter().filter_map(decode_hex_digest).collect();
        Ok((given, timestamp.to_string()))
    }
}

impl SignatureValidator for StripeSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let (given, timestamp) = self.signed(request.headers())?;
        let prefix: [&[u8]; 2] = [timestamp.as_bytes(), b"."];
        verify_hmac_sha256(&self.secrets, &prefix, request, &given)
    }

    fn body_hasher(&self, headers: &Headers, _url: Option<&str>) -> Option<BodyHasher> {
        let (_, timestamp) = self.signed(headers).ok()?;
        let prefix: [&[u8]; 2] = [timestamp.as_bytes(), b"."];
        Some(BodyHasher::new(self.secrets.iter(), &prefix))
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let [id, event_type] = pick_json(request.body(), ["id", "type"])?;
        Ok(EventMeta {
            id: id.ok_or_else(|| EventParseError::MissingField("id".into()))?,
            event_type: event_type.ok_or_else(|| EventParseError::MissingField("type".into()))?,
        })
    }

    fn scheme(&self) -> &'static str {
        "stripe"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // stripe-python, tests/test_webhook.py: DUMMY_WEBHOOK_SECRET and
    // DUMMY_WEBHOOK_PAYLOAD, and its generate_header(), which signs
    // "%d.%s" % (timestamp, payload) with HMAC-SHA256 and sends
    // "t=%d,%s=%s" % (timestamp, scheme, signature).
    const SECRET: &str = "whsec_test_secret";
    const PAYLOAD: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
    const NOW: i64 = 1_700_000_000;

    fn check(header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let validator = StripeSignatureValidator::new(SECRET)
            .unwrap()
            .clock(Clock::fixed(now));
        let headers = Headers::new().with(SIGNATURE_HEADER, header);
        validator.verify(&SignedRequest::new(&headers, body))
    }

    fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
        hex::encode(hmac_sha256(
            secret.as_bytes(),
            &[timestamp.to_string().as_bytes(), b".", body],
        ))
    }

    #[test]
    fn fixed_vector() {
        // Computed independently of this code with:
        // printf '1700000000.<PAYLOAD>' | openssl dgst -sha256 -hmac whsec_test_secret
        assert_eq!(
            StripeSignatureValidator::sign(SECRET.as_bytes(), NOW, PAYLOAD),
            "t=1700000000,v1=4f1cd7feda9826e746b7d482c4badebb657398df1099e1046364f6196a230150"
        );
    }

    #[test]
    fn valid_header_and_several_signatures() {
        let header = StripeSignatureValidator::sign(SECRET.as_bytes(), NOW, PAYLOAD);
        assert_eq!(check(&header, PAYLOAD, NOW), Ok(()));
        // stripe-python test_timestamp_with_multiple_signatures: one bad v1
        // and one good among them passes; v0 is ignored.
        let good = signature(SECRET, NOW, PAYLOAD);
        let header = format!("t={NOW},v1=bad_signature,v1={good},v0=bad");
        assert_eq!(check(&header, PAYLOAD, NOW + 10), Ok(()));
    }

    #[test]
    fn each_failure_has_its_cause() {
        let good = signature(SECRET, NOW, PAYLOAD);
        assert!(matches!(
            check("garbage", PAYLOAD, NOW),
            Err(SignatureError::MalformedHeader {
                reason: "expected `key=value` items",
                ..
            })
        ));
        assert!(matches!(
            check(&format!("v1={good}"), PAYLOAD, NOW),
            Err(SignatureError::MalformedHeader {
                reason: "no timestamp",
                ..
            })
        ));
        // stripe-python test_raise_on_no_signatures_with_expected_scheme.
        assert!(matches!(
            check(&format!("t={NOW},v0={good}"), PAYLOAD, NOW),
            Err(SignatureError::MalformedHeader {
                reason: "no v1 signature",
                ..
            })
        ));
        // stripe-python test_raise_on_no_valid_signatures_for_payload.
        assert_eq!(
            check(&format!("t={NOW},v1=bad_signature"), PAYLOAD, NOW),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            check(
                &format!("t={NOW},v1={}", signature("whsec_other", NOW, PAYLOAD)),
                PAYLOAD,
                NOW
            ),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            check(
                &format!("t={NOW},v1={good}"),
                b"{\"id\":\"evt_tampered\"}",
                NOW
            ),
            Err(SignatureError::NoMatchingSignature)
        );
        // The timestamp is part of what is signed.
        assert_eq!(
            check(&format!("t={},v1={good}", NOW + 1), PAYLOAD, NOW),
            Err(SignatureError::NoMatchingSignature)
        );
        // stripe-python test_raise_on_timestamp_outside_tolerance (10 s tolerance
        // there; 300 s default here) and the future side.
        assert_eq!(
            check(&format!("t={NOW},v1={good}"), PAYLOAD, NOW + 301),
            Err(SignatureError::TimestampOutsideTolerance {
                tolerance_seconds: 300,
                skew_seconds: 301
            })
        );
        assert!(matches!(
            check(&format!("t={NOW},v1={good}"), PAYLOAD, NOW - 301),
            Err(SignatureError::TimestampOutsideTolerance { .. })
        ));
        assert_eq!(
            check(&format!("t={NOW},v1={good}"), PAYLOAD, NOW + 300),
            Ok(())
        );
    }

    #[test]
    fn rotation_and_missing_header() {
        let validator = StripeSignatureValidator::new(["whsec_new", SECRET])
            .unwrap()
            .clock(Clock::fixed(NOW));
        let headers = Headers::new().with(
            SIGNATURE_HEADER,
            &StripeSignatureValidator::sign(SECRET.as_bytes(), NOW, PAYLOAD),
        );
        assert_eq!(
            validator.verify(&SignedRequest::new(&headers, PAYLOAD)),
            Ok(())
        );
        assert_eq!(
            validator.verify(&SignedRequest::new(&Headers::new(), PAYLOAD)),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER.into()))
        );
    }

    #[test]
    fn at_most_ten_signatures_and_a_stale_timestamp_before_any_hmac() {
        let good = signature(SECRET, NOW, PAYLOAD);
        // `decoys` entries (v0 ones count too), then the genuine one.
        let header = |decoys: usize| {
            let mut value = format!("t={NOW},v0=00");
            value.push_str(&",v1=bad_signature".repeat(decoys - 1));
            value + ",v1=" + &good
        };
        assert_eq!(check(&header(9), PAYLOAD, NOW), Ok(()));
        // Eleven: refused as malformed, the genuine one never reached.
        assert_eq!(
            check(&header(10), PAYLOAD, NOW),
            Err(SignatureError::MalformedHeader {
                header: SIGNATURE_HEADER.into(),
                reason: "too many signatures (more than 10)"
            })
        );
        // A stale forgery is refused for its timestamp.
        assert!(matches!(
            check(&format!("t={NOW},v1=bad_signature"), PAYLOAD, NOW + 301),
            Err(SignatureError::TimestampOutsideTolerance { .. })
        ));
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(
            StripeSignatureValidator::new("").unwrap_err(),
            InvalidSecret::Empty { number: 1 }
        );
        let none = Secrets::from_iter::<[&str; 0]>([]);
        assert_eq!(
            StripeSignatureValidator::new(none).unwrap_err(),
            InvalidSecret::NoSecrets
        );
    }

    #[test]
    fn describe_reads_id_and_type() {
        let validator = StripeSignatureValidator::new(SECRET).unwrap();
        let headers = Headers::new();
        let meta = validator
            .describe(&SignedRequest::new(&headers, br#"{"id":"evt_1","object":"event","data":{"object":{"id":"pi_1","type":"x"}},"type":"payment_intent.succeeded"}"#))
            .unwrap();
        assert_eq!(meta, EventMeta::new("evt_1", "payment_intent.succeeded"));
        assert!(matches!(
            validator.describe(&SignedRequest::new(&headers, PAYLOAD)),
            Err(EventParseError::MissingField(field)) if field == "type"
        ));
        assert!(matches!(
            validator.describe(&SignedRequest::new(&headers, b"not json")),
            Err(EventParseError::InvalidJson(_))
        ));
    }
}
