//! Paddle Billing: `Paddle-Signature: ts=<unix>;h1=<hex>[;h1=<hex>…]`.

use super::hmac::{hmac_sha256, verify_hmac_sha256};
use super::{
    BodyHasher, Clock, EventMeta, EventParseError, Freshness, SignatureError, SignatureValidator,
    SignedRequest, body_sha256_key, count_signature, decode_hex_digest, freshness_builders,
    pick_json, signature_entries,
};
use crate::{Headers, InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "Paddle-Signature";

/// Verifies Paddle Billing's `Paddle-Signature` header: each `h1` is the hex
/// HMAC-SHA256 of `"{ts}:{body}"` under the notification destination's
/// secret key, used whole (`pdl_ntfset_…`).
///
/// Any matching `h1` passes (Paddle sends several while a secret is
/// rotated; at most [`MAX_SIGNATURES`](crate::MAX_SIGNATURES) entries). The
/// timestamp must be within the tolerance of the clock, both ways: 5
/// seconds by default, the window of Paddle's own SDKs, so the clock must
/// be synchronised. As in those SDKs, it is checked before the signatures. The delivery id is the payload's `event_id`
/// (else its `notification_id`), the event type its `event_type`.
///
/// ```
/// use webhooks_core::{Clock, Headers, PaddleSignatureValidator, SignatureValidator, SignedRequest};
///
/// let body = br#"{"event_id":"evt_01h","event_type":"transaction.completed","data":{}}"#;
/// let header = PaddleSignatureValidator::sign(b"pdl_ntfset_secret", 1_700_000_000, body);
/// let headers = Headers::new().with("Paddle-Signature", &header);
/// let validator = PaddleSignatureValidator::new("pdl_ntfset_secret")?.clock(Clock::fixed(1_700_000_002));
/// let request = SignedRequest::new(&headers, body);
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().event_type, "transaction.completed");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct PaddleSignatureValidator {
    secrets: Secrets,
    freshness: Freshness,
}

impl PaddleSignatureValidator {
    /// The window of Paddle's SDKs: 5 seconds.
    pub const DEFAULT_TOLERANCE_SECONDS: u64 = 5;

    /// A validator accepting any of these secret keys; an error when none
    /// is given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
            freshness: Freshness::new(Self::DEFAULT_TOLERANCE_SECONDS),
        })
    }

    freshness_builders!();

    /// The `Paddle-Signature` value Paddle sends for `body` at `timestamp`.
    pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
        let timestamp = timestamp.to_string();
        let digest = hmac_sha256(secret, &[timestamp.as_bytes(), b":", body]);
        format!("ts={timestamp};h1={}", hex::encode(digest))
    }

    /// The digests the signature header gives and the timestamp they sign,
    /// checked to be fresh, or why the headers alone refuse the request.
    fn signed<'h>(&self, headers: &'h Headers) -> Result<(Vec<[u8; 32]>, &'h str), SignatureError> {
        let entries = signature_entries(headers, SIGNATURE_HEADER, Some(b';'))?;
        let malformed = |reason| SignatureError::MalformedHeader {
            header: SIGNATURE_HEADER.into(),
            reason,
        };
        let mut timestamp = None;
        // The h1 signatures as sent, decoded only once the header is read.
        let (mut count, mut h1) = (0, Vec::new());
        for item in entries {
            let (key, content) = item?
                .split_once('=')
                .ok_or_else(|| malformed("expected `key=value` items"))?;
            match key {
                "ts" => {
                    let parsed: i64 = content
                        .parse()
                        .map_err(|_| malformed("timestamp is not an integer"))?;
                    if timestamp.replace((content, parsed)).is_some() {
                        return Err(malformed("more than one timestamp"));
                    }
                }
                scheme => {
                    count_signature(&mut count, SIGNATURE_HEADER)?;
                    if scheme == "h1" {
                        h1.push(content);
                    }
                }
            }
        }
        let (timestamp_text, timestamp) = timestamp.ok_or_else(|| malformed("no timestamp"))?;
        if h1.is_empty() {
            return Err(malformed("no h1 signature"));
        }
        self.freshness.check(timestamp)?;
        let given: Vec<[u8; 32]> = h1.into_iter().filter_map(decode_hex_digest).collect();
        Ok((given, timestamp_text))
    }
}

impl SignatureValidator for PaddleSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let (given, timestamp) = self.signed(request.headers())?;
        let prefix: [&[u8]; 2] = [timestamp.as_bytes(), b":"];
        verify_hmac_sha256(&self.secrets, &prefix, request, &given)
    }

    fn body_hasher(&self, headers: &Headers, _url: Option<&str>) -> Option<BodyHasher> {
        let (_, timestamp) = self.signed(headers).ok()?;
        let prefix: [&[u8]; 2] = [timestamp.as_bytes(), b":"];
        Some(BodyHasher::new(self.secrets.iter(), &prefix))
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let [event_id, notification_id, event_type] = pick_json(
            request.body(),
            ["event_id", "notification_id", "event_type"],
        )?;
        Ok(EventMeta {
            id: event_id
                .or(notification_id)
                .unwrap_or_else(|| body_sha256_key(request.body())),
            event_type: event_type
                .ok_or_else(|| EventParseError::MissingField("event_type".into()))?,
        })
    }

    fn scheme(&self) -> &'static str {
        "paddle"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // paddle-python-sdk, tests/Unit/Notification/test_Verifier.py
    // (test_validate_paddle_signature_header_integrity): the header with a
    // decoy `h1=dummy`, the body, and three secrets of which only the last
    // signed it.
    const HEADER: &str = "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02";
    const BODY: &[u8] = b"hello-world";
    const TIMESTAMP: i64 = 1_696_195_954;
    const WRONG_1: &str = "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL/4";
    const WRONG_2: &str = "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_vB/yIOnTOCWIvpBadM5jzBZPHc7OmdSo";
    const SECRET: &str = "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh";

    fn check(
        secrets: impl Into<Secrets>,
        header: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let headers = Headers::new().with(SIGNATURE_HEADER, header);
        PaddleSignatureValidator::new(secrets)
            .unwrap()
            .clock(Clock::fixed(now))
            .verify(&SignedRequest::new(&headers, body))
    }

    #[test]
    fn paddle_sdk_vector() {
        let signed = PaddleSignatureValidator::sign(SECRET.as_bytes(), TIMESTAMP, BODY);
        assert_eq!(signed, HEADER.replace("h1=dummy;", ""));
        assert_eq!(
            check([WRONG_1, WRONG_2, SECRET], HEADER, BODY, TIMESTAMP),
            Ok(())
        );
        assert_eq!(check(SECRET, HEADER, BODY, TIMESTAMP + 5), Ok(()));
    }

    #[test]
    fn negative_cases() {
        let no_match = Err(SignatureError::NoMatchingSignature);
        assert_eq!(check([WRONG_1, WRONG_2], HEADER, BODY, TIMESTAMP), no_match);
        assert_eq!(check(SECRET, HEADER, b"hello-world!", TIMESTAMP), no_match);
        assert_eq!(
            check(SECRET, "ts=1696195954;h1=dummy", BODY, TIMESTAMP),
            no_match
        );
        let truncated = &HEADER[..HEADER.len() - 2];
        assert_eq!(check(SECRET, truncated, BODY, TIMESTAMP), no_match);
        let moved = HEADER.replace("1696195954", "1696195955");
        assert_eq!(check(SECRET, &moved, BODY, TIMESTAMP), no_match);
        for (header, reason) in [
            (
                "h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02",
                "no timestamp",
            ),
            ("ts=1696195954", "no h1 signature"),
            ("ts=1696195954;h2=00", "no h1 signature"),
            ("ts=soon;h1=00", "timestamp is not an integer"),
            ("ts=1;ts=2;h1=00", "more than one timestamp"),
            ("garbage", "expected `key=value` items"),
        ] {
            assert_eq!(
                check(SECRET, header, BODY, TIMESTAMP),
                Err(SignatureError::MalformedHeader {
                    header: SIGNATURE_HEADER.into(),
                    reason
                }),
                "{header}"
            );
        }
        // Paddle's 5-second window, both ways here.
        assert_eq!(
            check(SECRET, HEADER, BODY, TIMESTAMP + 6),
            Err(SignatureError::TimestampOutsideTolerance {
                tolerance_seconds: 5,
                skew_seconds: 6
            })
        );
        assert!(check(SECRET, HEADER, BODY, TIMESTAMP - 6).is_err());
        let relaxed = PaddleSignatureValidator::new(SECRET)
            .unwrap()
            .tolerance_seconds(60)
            .clock(Clock::fixed(TIMESTAMP + 60));
        let headers = Headers::new().with(SIGNATURE_HEADER, HEADER);
        assert_eq!(relaxed.verify(&SignedRequest::new(&headers, BODY)), Ok(()));
        assert_eq!(
            relaxed.verify(&SignedRequest::new(&Headers::new(), BODY)),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER.into()))
        );
    }

    #[test]
    fn at_most_ten_signatures_and_an_empty_secret_is_refused() {
        // The SDK's header with its decoy, and decoys up to ten entries.
        let ten = HEADER.replace("h1=dummy;", &"h1=dummy;".repeat(9));
        assert_eq!(check(SECRET, &ten, BODY, TIMESTAMP), Ok(()));
        let eleven = HEADER.replace("h1=dummy;", &"h2=dummy;".repeat(10));
        assert_eq!(
            check(SECRET, &eleven, BODY, TIMESTAMP),
            Err(SignatureError::MalformedHeader {
                header: SIGNATURE_HEADER.into(),
                reason: "too many signatures (more than 10)"
            })
        );
        assert_eq!(
            PaddleSignatureValidator::new([SECRET, ""]).unwrap_err(),
            InvalidSecret::Empty { number: 2 }
        );
    }

    #[test]
    fn describe_reads_event_id_and_type() {
        let validator = PaddleSignatureValidator::new(SECRET).unwrap();
        let headers = Headers::new();
        let body = br#"{"event_id":"evt_01h8bzakzx3hm2fmen703n5q45","event_type":"transaction.completed","occurred_at":"2023-08-21T11:57:47.390028Z","notification_id":"ntf_01h8bzam1z32agrxjwhjgqk8w6","data":{"id":"txn_01h8bz7mwqhxv4h6dn2sz1ygq2"}}"#;
        let meta = validator
            .describe(&SignedRequest::new(&headers, body))
            .unwrap();
        assert_eq!(
            meta,
            EventMeta::new("evt_01h8bzakzx3hm2fmen703n5q45", "transaction.completed")
        );
        let no_event_id = br#"{"notification_id":"ntf_1","event_type":"x"}"#;
        assert_eq!(
            validator
                .describe(&SignedRequest::new(&headers, no_event_id))
                .unwrap()
                .id,
            "ntf_1"
        );
        assert!(
            validator
                .describe(&SignedRequest::new(&headers, BODY))
                .is_err()
        );
    }
}
