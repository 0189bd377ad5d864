//! Standard Webhooks and Svix: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64> v1a,<base64> …` (or the `svix-*` names).

use std::sync::Arc;

use super::hmac::hmac_sha256;
use super::keys::{
    StandardKey, decode_base64, ed25519_sign, ed25519_verifies, encode_base64, parse_standard_key,
    standard_signing_seed,
};
use super::{
    BodyHasher, Clock, EventMeta, EventParseError, Freshness, SignatureError, SignatureValidator,
    SignedRequest, any_digest_equal, body_mac, body_sha256_key, count_signature,
    freshness_builders, header_value, pick_json, signature_entries,
};
use crate::InvalidSecret;
use crate::{Headers, Secret, Secrets};

/// The header names of one family.
struct Names {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const STANDARD: Names = Names {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

const SVIX: Names = Names {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

/// The `webhook-*` names, or `svix-*` when only Svix's signature is there.
fn names(headers: &Headers) -> &'static Names {
    // Raw bytes: a flooded signature header is not read whole here.
    let present = |name| {
        headers
            .get_bytes(name)
            .is_some_and(|value| !value.trim_ascii().is_empty())
    };
    if !present(STANDARD.signature) && present(SVIX.signature) {
        &SVIX
    } else {
        &STANDARD
    }
}

/// Verifies [Standard Webhooks](https://www.standardwebhooks.com/) (Svix's
/// scheme): each space-separated `v1,<base64>` entry of `webhook-signature`
/// is an HMAC-SHA256 of `"{id}.{timestamp}.{body}"`, and each `v1a,<base64>`
/// entry an Ed25519 signature of the same content.
///
/// A secret is either `whsec_<base64>` (the prefix optional, padding
/// optional), the HMAC key, or `whpk_<base64>`, the sender's Ed25519 public
/// key. Any entry matching any secret passes; unknown versions are ignored,
/// but count towards the [`MAX_SIGNATURES`](crate::MAX_SIGNATURES) a header
/// may hold. The timestamp must be within the tolerance (300 s by default)
/// of the clock, both ways; as in the Standard Webhooks libraries, it is
/// checked before the signatures, so a replay costs no cryptography. The `svix-id`, `svix-timestamp` and `svix-signature`
/// headers are accepted too. The delivery id is the `webhook-id` header, the
/// event type the payload's `type`.
///
/// ```
/// use webhooks_core::{Clock, Headers, SignatureValidator, SignedRequest, StandardSignatureValidator};
///
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// let body = br#"{"type":"invoice.paid"}"#;
/// let signature = StandardSignatureValidator::sign(secret, "msg_1", 1_700_000_000, body).unwrap();
/// let headers = Headers::new()
///     .with("webhook-id", "msg_1")
///     .with("webhook-timestamp", "1700000000")
///     .with("webhook-signature", &signature);
/// let validator = StandardSignatureValidator::new(secret)?.clock(Clock::fixed(1_700_000_030));
/// let request = SignedRequest::new(&headers, body);
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().id, "msg_1");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct StandardSignatureValidator {
    keys: Arc<[StandardKey]>,
    freshness: Freshness,
}

impl StandardSignatureValidator {
    /// The tolerance of the Standard Webhooks libraries: 300 seconds.
    pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

    /// A validator accepting any of these secrets, or which one is unusable:
    /// none given, an empty one, or one that is neither `whsec_<base64>`
    /// nor a valid `whpk_<base64>` public key.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        let keys = secrets
            .into()
            .non_empty()?
            .iter()
            .enumerate()
            .map(|(index, secret)| parse_standard_key(index, secret))
            .collect::<Result<Arc<[StandardKey]>, _>>()?;
        Ok(Self {
            keys,
            freshness: Freshness::new(Self::DEFAULT_TOLERANCE_SECONDS),
        })
    }

    freshness_builders!();

    /// The `webhook-signature` value (`v1,<base64>`) a sender with this
    /// `whsec_` secret sends for message `msg_id` at `timestamp`.
    pub fn sign(
        secret: &str,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String, InvalidSecret> {
        let StandardKey::Hmac(key) = parse_standard_key(0, &Secret::from(secret))? else {
            return Err(InvalidSecret::unusable(0, "expected a `whsec_` secret"));
        };
        let timestamp = timestamp.to_string();
        let digest = hmac_sha256(
            key.expose(),
            &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
        );
        Ok(format!("v1,{}", encode_base64(&digest)))
    }

    /// The `webhook-signature` value (`v1a,<base64>`) a sender with this
    /// `whsk_<base64>` Ed25519 signing key sends.
    pub fn sign_ed25519(
        signing_key: &str,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<String, InvalidSecret> {
        let timestamp = timestamp.to_string();
        let parts: [&[u8]; 5] = [msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
        let (signature, _) = ed25519_sign(&standard_signing_seed(signing_key)?, &parts);
        Ok(format!("v1a,{}", encode_base64(&signature)))
    }

    /// The `whpk_<base64>` public key of a `whsk_<base64>` signing key: what
    /// a receiver configures.
    pub fn public_key(signing_key: &str) -> Result<String, InvalidSecret> {
        let (_, public) = ed25519_sign(&standard_signing_seed(signing_key)?, &[]);
        Ok(format!("whpk_{}", encode_base64(&public)))
    }

    /// What the headers say: the id and timestamp as sent, the timestamp
    /// checked to be fresh, and the signatures decoded; or why the headers
    /// alone refuse the request.
    fn signed<'h>(&self, headers: &'h Headers) -> Result<Signed<'h>, SignatureError> {
        let names = names(headers);
        let required = |name: &'static str| {
            header_value(headers, name).ok_or_else(|| SignatureError::MissingHeader(name.into()))
        };
        let entries = signature_entries(headers, names.signature, None)?;
        let id = required(names.id)?;
        let timestamp_text = required(names.timestamp)?;
        let timestamp: i64 =
            timestamp_text
                .parse()
                .map_err(|_| SignatureError::MalformedHeader {
                    header: names.timestamp.into(),
                    reason: "timestamp is not an integer",
                })?;
        // The signatures as sent, decoded only once the header is read.
        let (mut count, mut v1, mut v1a) = (0, Vec::new(), Vec::new());
        for entry in entries {
            count_signature(&mut count, names.signature)?;
            match entry?.split_once(',') {
                Some(("v1", signature)) => v1.push(signature),
                Some(("v1a", signature)) => v1a.push(signature),
                _ => {}
            }
        }
        if v1.is_empty() && v1a.is_empty() {
            return Err(SignatureError::MalformedHeader {
                header: names.signature.into(),
                reason: "no `v1,` or `v1a,` signature",
            });
        }
        self.freshness.check(timestamp)?;
        let decode = |signatures: Vec<&str>| -> Vec<Vec<u8>> {
            signatures.into_iter().filter_map(decode_base64).collect()
        };
        let (v1, v1a) = (decode(v1), decode(v1a));
        Ok(Signed {
            id,
            timestamp: timestamp_text,
            v1,
            v1a,
        })
    }
}

/// A request's id, timestamp and signatures, read from its headers.
struct Signed<'h> {
    id: &'h str,
    timestamp: &'h str,
    v1: Vec<Vec<u8>>,
    v1a: Vec<Vec<u8>>,
}

impl<'h> Signed<'h> {
    /// What is signed before the body: `{id}.{timestamp}.`.
    fn prefix(&self) -> [&'h [u8]; 4] {
        [self.id.as_bytes(), b".", self.timestamp.as_bytes(), b"."]
    }
}

impl SignatureValidator for StandardSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let signed = self.signed(request.headers())?;
        let prefix = signed.prefix();
        // Ed25519 reads its message whole: built once, on the first key
        // that needs it, whatever the number of keys and signatures.
        let mut message = None;
        let matches = self.keys.iter().any(|key| match key {
            StandardKey::Hmac(secret) => {
                any_digest_equal(&body_mac(secret, &prefix, request), &signed.v1)
            }
            StandardKey::Ed25519(public) => {
                !signed.v1a.is_empty() && {
                    let message: &[u8] = message.get_or_insert_with(|| {
                        let mut message = prefix.concat();
                        message.extend_from_slice(request.body());
                        message
                    });
                    signed
                        .v1a
                        .iter()
                        .any(|given| ed25519_verifies(public, message, given))
                }
            }
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::NoMatchingSignature)
        }
    }

    /// The HMAC keys' states; the Ed25519 keys read the body whole.
    fn body_hasher(&self, headers: &Headers, _url: Option<&str>) -> Option<BodyHasher> {
        let signed = self.signed(headers).ok()?;
        let secrets: Vec<&Secret> = self
            .keys
            .iter()
            .filter_map(|key| match key {
                StandardKey::Hmac(secret) => Some(secret),
                StandardKey::Ed25519(_) => None,
            })
            .collect();
        (!secrets.is_empty()).then(|| BodyHasher::new(secrets, &signed.prefix()))
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let id = header_value(request.headers(), names(request.headers()).id)
            .map_or_else(|| body_sha256_key(request.body()), str::to_owned);
        let [event_type] = pick_json(request.body(), ["type"])?;
        let event_type = event_type.ok_or_else(|| EventParseError::MissingField("type".into()))?;
        Ok(EventMeta { id, event_type })
    }

    fn scheme(&self) -> &'static str {
        "standard"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // standard-webhooks, libraries/python/tests/test_webhooks.py: DEFAULT_MSG_ID,
    // DEFAULT_PAYLOAD, DEFAULT_SECRET, and test_sign_function's expected
    // signature at timestamp 1614265330 (the svix SDKs carry the same vector).
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const SECRET: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const TIMESTAMP: i64 = 1_614_265_330;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    // standard-webhooks, libraries/go/webhook_asymmetric_test.go,
    // TestAsymmetricWebhookSign: the same message signed (v1a) with this
    // Ed25519 seed. Its public key was derived with PyNaCl.
    const SIGNING_KEY: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
    const PUBLIC_KEY: &str = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=";
    const V1A: &str = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";

    fn headers(family: &Names, signature: &str, timestamp: &str) -> Headers {
        Headers::new()
            .with(family.id, MSG_ID)
            .with(family.timestamp, timestamp)
            .with(family.signature, signature)
    }

    fn check(
        secrets: impl Into<Secrets>,
        headers: &Headers,
        now: i64,
    ) -> Result<(), SignatureError> {
        StandardSignatureValidator::new(secrets)
            .unwrap()
            .clock(Clock::fixed(now))
            .verify(&SignedRequest::new(headers, PAYLOAD))
    }

    /// `webhook-*` headers with this signature, signed at TIMESTAMP, checked then.
    fn check_signature(secrets: impl Into<Secrets>, signature: &str) -> Result<(), SignatureError> {
        check(
            secrets,
            &headers(&STANDARD, signature, &TIMESTAMP.to_string()),
            TIMESTAMP,
        )
    }

    #[test]
    fn published_vectors() {
        let prefixed = format!("whsec_{SECRET}");
        let sign = StandardSignatureValidator::sign(&prefixed, MSG_ID, TIMESTAMP, PAYLOAD);
        assert_eq!(sign.unwrap(), SIGNATURE);
        let sign =
            StandardSignatureValidator::sign_ed25519(SIGNING_KEY, MSG_ID, TIMESTAMP, PAYLOAD);
        assert_eq!(sign.unwrap(), V1A);
        assert_eq!(
            StandardSignatureValidator::public_key(SIGNING_KEY).unwrap(),
            PUBLIC_KEY
        );
        let ts = TIMESTAMP.to_string();
        for family in [&STANDARD, &SVIX] {
            for secret in [SECRET, prefixed.as_str()] {
                assert_eq!(
                    check(secret, &headers(family, SIGNATURE, &ts), TIMESTAMP),
                    Ok(())
                );
            }
            assert_eq!(
                check(PUBLIC_KEY, &headers(family, V1A, &ts), TIMESTAMP),
                Ok(())
            );
        }
    }

    #[test]
    fn unpadded_secret_and_rotation() {
        // 25 key bytes: padded base64 ends in "==".
        let padded = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ubw==";
        let signature = StandardSignatureValidator::sign(padded, MSG_ID, TIMESTAMP, PAYLOAD);
        let signature = signature.unwrap();
        let unpadded = padded.trim_end_matches('=');
        assert_eq!(check_signature(unpadded, &signature), Ok(()));
        assert_eq!(check_signature([PUBLIC_KEY, unpadded], &signature), Ok(()));
        assert_eq!(check_signature([PUBLIC_KEY, unpadded], V1A), Ok(()));
    }

    #[test]
    fn negative_signatures() {
        let decoy = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
        // test_multi_sig_payload_is_valid: decoys around the valid entry.
        let decoys = format!("{decoy} v2,{} {SIGNATURE} {decoy}", &decoy[3..]);
        assert_eq!(check_signature(SECRET, &decoys), Ok(()));
        let other = "whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ubw";
        let no_match = [
            // test_invalid_signature_raises_error: the last character changed.
            (SECRET, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
            // The Go library's "partial signature is invalid".
            (SECRET, "v1,"),
            (PUBLIC_KEY, "v1a,"),
            (SECRET, &SIGNATURE[..SIGNATURE.len() - 4]),
            (SECRET, decoy),
            (other, SIGNATURE),
            // A v1a signature does not pass an HMAC secret, nor v1 a public key.
            (SECRET, V1A),
            (PUBLIC_KEY, SIGNATURE),
        ];
        for (secret, signature) in no_match {
            let result = check_signature(secret, signature);
            assert_eq!(
                result,
                Err(SignatureError::NoMatchingSignature),
                "{signature}"
            );
        }
        let v2_only = check_signature(SECRET, &format!("v2,{}", &decoy[3..]));
        assert!(matches!(
            v2_only,
            Err(SignatureError::MalformedHeader { .. })
        ));
    }

    #[test]
    fn negative_headers_and_timestamps() {
        let ts = TIMESTAMP.to_string();
        // The timestamp is signed.
        let moved = headers(&STANDARD, SIGNATURE, &(TIMESTAMP + 1).to_string());
        assert_eq!(
            check(SECRET, &moved, TIMESTAMP),
            Err(SignatureError::NoMatchingSignature)
        );
        // test_invalid_timestamp_raises_error.
        let result = check(SECRET, &headers(&STANDARD, SIGNATURE, "hello"), TIMESTAMP);
        assert!(matches!(
            result,
            Err(SignatureError::MalformedHeader {
                reason: "timestamp is not an integer",
                ..
            })
        ));
        // test_old_timestamp_fails / test_new_timestamp_fails: 5 minutes both ways.
        let signed = headers(&STANDARD, SIGNATURE, &ts);
        for now in [TIMESTAMP + 301, TIMESTAMP - 301] {
            let result = check(SECRET, &signed, now);
            assert!(matches!(
                result,
                Err(SignatureError::TimestampOutsideTolerance {
                    tolerance_seconds: 300,
                    ..
                })
            ));
        }
        assert_eq!(check(SECRET, &signed, TIMESTAMP - 300), Ok(()));
        let lenient = StandardSignatureValidator::new(SECRET)
            .unwrap()
            .tolerance_seconds(600);
        let lenient = lenient.clock(Clock::fixed(TIMESTAMP + 599));
        assert_eq!(
            lenient.verify(&SignedRequest::new(&signed, PAYLOAD)),
            Ok(())
        );
        // test_missing_{id,timestamp,signature}_raises_error.
        for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let mut partial = Headers::new();
            for (name, value) in signed.iter().filter(|(name, _)| *name != missing) {
                partial.append_bytes(name, value).unwrap();
            }
            let result = check(SECRET, &partial, TIMESTAMP);
            assert_eq!(result, Err(SignatureError::MissingHeader(missing.into())));
        }
    }

    #[test]
    fn at_most_ten_signatures_each_checked_against_one_message() {
        let ts = TIMESTAMP.to_string();
        let decoy = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8AA==";
        // Nine forged Ed25519 signatures (one of them of another version),
        // then the genuine one: verified.
        let header = |decoys: usize| {
            let mut value = "v2,x ".to_owned();
            value.push_str(&format!("{decoy} ").repeat(decoys - 1));
            value + V1A
        };
        let ten = headers(&STANDARD, &header(9), &ts);
        assert_eq!(check(PUBLIC_KEY, &ten, TIMESTAMP), Ok(()));
        assert_eq!(check([SECRET, PUBLIC_KEY], &ten, TIMESTAMP), Ok(()));
        // Eleven: malformed, before any signature is checked.
        let eleven = headers(&STANDARD, &header(10), &ts);
        assert_eq!(
            check(PUBLIC_KEY, &eleven, TIMESTAMP),
            Err(SignatureError::MalformedHeader {
                header: "webhook-signature".into(),
                reason: "too many signatures (more than 10)"
            })
        );
        // A stale forgery is refused for its timestamp, as the libraries do.
        let stale = headers(&STANDARD, decoy, &ts);
        assert!(matches!(
            check(PUBLIC_KEY, &stale, TIMESTAMP + 301),
            Err(SignatureError::TimestampOutsideTolerance { .. })
        ));
    }

    #[test]
    fn an_empty_secret_is_refused() {
        for empty in ["", "whsec_"] {
            assert_eq!(
                StandardSignatureValidator::new([SECRET, empty]).unwrap_err(),
                InvalidSecret::Empty { number: 2 }
            );
        }
        let none = Secrets::from_iter::<[&str; 0]>([]);
        assert_eq!(
            StandardSignatureValidator::new(none).unwrap_err(),
            InvalidSecret::NoSecrets
        );
    }

    #[test]
    fn describe_reads_the_id_header_and_payload_type() {
        let validator = StandardSignatureValidator::new(SECRET).unwrap();
        let headers = Headers::new()
            .with("svix-id", "msg_2")
            .with("svix-signature", "v1,x");
        let meta = validator
            .describe(&SignedRequest::new(
                &headers,
                br#"{"type":"user.created","data":{}}"#,
            ))
            .unwrap();
        assert_eq!(meta, EventMeta::new("msg_2", "user.created"));
        assert!(matches!(
            validator.describe(&SignedRequest::new(&headers, PAYLOAD)),
            Err(EventParseError::MissingField(field)) if field == "type"
        ));
    }
}
