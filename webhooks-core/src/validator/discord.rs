//! Discord: `X-Signature-Ed25519` over `X-Signature-Timestamp` and the body.

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;

use super::keys::{decode_hex_array, ed25519_sign, ed25519_verifies, parse_discord_key};
use super::{
    Clock, EventMeta, EventParseError, Freshness, Handshake, SignatureError, SignatureValidator,
    SignedRequest, body_sha256_key, freshness_builders, header_value, pick_json,
};
use crate::{InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "X-Signature-Ed25519";
const TIMESTAMP_HEADER: &str = "X-Signature-Timestamp";

/// Verifies Discord's interaction and webhook-event requests:
/// `X-Signature-Ed25519` is the hex Ed25519 signature of the
/// `X-Signature-Timestamp` value followed by the raw body, made with the
/// application's key.
///
/// The "secret" is the application's **public key** as the Developer Portal
/// shows it (64 hex digits); several may be given. The timestamp must be
/// within the tolerance (300 s by default) of the clock, both ways. The
/// delivery id is the payload's `id` (interactions), else the body's
/// SHA-256; the event type is the payload's `event.type` (webhook events),
/// else its `type` (`1` for a PING). Discord expects a PING to be answered
/// with `{"type":1}`, which is the application's answer to give.
///
/// ```
/// use webhooks_core::{Clock, DiscordSignatureValidator, Headers, SignatureValidator, SignedRequest};
///
/// let signing_key = [7_u8; 32]; // the application's private key, Discord's side
/// let public_key = DiscordSignatureValidator::public_key(&signing_key);
/// let body = br#"{"id":"787053080478613555","type":1}"#;
/// let headers = Headers::new()
///     .with("X-Signature-Timestamp", "1700000000")
///     .with("X-Signature-Ed25519", &DiscordSignatureValidator::sign(&signing_key, 1_700_000_000, body));
/// let validator = DiscordSignatureValidator::new(public_key.as_str())?.clock(Clock::fixed(1_700_000_001));
/// let request = SignedRequest::new(&headers, body);
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().event_type, "1");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct DiscordSignatureValidator {
    keys: Arc<[VerifyingKey]>,
    freshness: Freshness,
}

impl DiscordSignatureValidator {
    /// The default tolerance: 300 seconds.
    pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

    /// A validator accepting signatures by any of these public keys (hex),
    /// or which one is unusable: none given, an empty one, or one that is
    /// not 64 hex digits of a valid Ed25519 public key.
    pub fn new(public_keys: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        let keys = public_keys
            .into()
            .non_empty()?
            .iter()
            .enumerate()
            .map(|(index, key)| parse_discord_key(index, key))
            .collect::<Result<Arc<[VerifyingKey]>, _>>()?;
        Ok(Self {
            keys,
            freshness: Freshness::new(Self::DEFAULT_TOLERANCE_SECONDS),
        })
    }

    freshness_builders!();

    /// The `X-Signature-Ed25519` value Discord sends for `body` at
    /// `timestamp`, signed with the private key whose seed is `signing_key`.
    pub fn sign(signing_key: &[u8; 32], timestamp: i64, body: &[u8]) -> String {
        let (signature, _) = ed25519_sign(signing_key, &[timestamp.to_string().as_bytes(), body]);
        hex::encode(signature)
    }

    /// The public key (hex, as the Developer Portal shows it) of the private
    /// key whose seed is `signing_key`.
    pub fn public_key(signing_key: &[u8; 32]) -> String {
        hex::encode(ed25519_sign(signing_key, &[]).1)
    }
}

impl SignatureValidator for DiscordSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let headers = request.headers();
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
        let signature =
            decode_hex_array::<64>(signature).ok_or(SignatureError::MalformedHeader {
                header: SIGNATURE_HEADER.into(),
                reason: "expected 128 hex digits",
            })?;
        // Ed25519 reads its message whole: built once for every key.
        let message = [timestamp_text.as_bytes(), request.body()].concat();
        if !self
            .keys
            .iter()
            .any(|key| ed25519_verifies(key, &message, &signature))
        {
            return Err(SignatureError::NoMatchingSignature);
        }
        self.freshness.check(timestamp)
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let [id, nested, kind] = pick_json(request.body(), ["id", "event.type", "type"])?;
        Ok(EventMeta {
            id: id.unwrap_or_else(|| body_sha256_key(request.body())),
            event_type: nested
                .or(kind)
                .ok_or_else(|| EventParseError::MissingField("type".into()))?,
        })
    }

    fn scheme(&self) -> &'static str {
        "discord"
    }

    /// Discord checks an endpoint with a signed PING: on a Webhook Events
    /// URL it is `"type": 0`, acknowledged with `204` and no body (Discord
    /// docs, "Webhook Events"); on an Interactions Endpoint URL it is
    /// `"type": 1` with no `event`, answered with the PONG `{"type":1}`
    /// (Discord docs, "Receiving and Responding"). `describe` reads the
    /// type from `event.type` when there is an event, so a bare `0` or `1`
    /// is one of these.
    fn handshake(&self, _request: &SignedRequest<'_>, meta: &EventMeta) -> Option<Handshake> {
        match meta.event_type.as_str() {
            "0" => Some(Handshake::no_content()),
            "1" => Some(Handshake::json(r#"{"type":1}"#)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // Discord publishes no fixed vector (discord-interactions-js's tests sign
    // with a key pair made at run time). The application key here is RFC 8032
    // section 7.1 TEST 1's key pair; the body is discord-interactions-js's
    // `pingRequestBody` (src/__tests__/utils/SharedTestUtils.ts); the
    // signature of "1700000000" + body was computed independently of this
    // code with PyNaCl and with pyca/cryptography (identical).
    const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const BODY: &[u8] = br#"{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}"#;
    const TIMESTAMP: i64 = 1_700_000_000;
    const SIGNATURE: &str = "f0bd878adcef1f6d475c9644421905bd02b5de38e0d3ecfc6f58a711962c69cc\
                             c8dd7c9db312f9bdf08b1e1b8182e27a844da728c5e0dbb5507bf9931c1ed80b";
    // RFC 8032 TEST 2's public key: another application.
    const OTHER_KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

    fn check(
        keys: impl Into<Secrets>,
        signature: &str,
        timestamp: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let headers = Headers::new()
            .with(SIGNATURE_HEADER, signature)
            .with(TIMESTAMP_HEADER, timestamp);
        DiscordSignatureValidator::new(keys)
            .unwrap()
            .clock(Clock::fixed(now))
            .verify(&SignedRequest::new(&headers, body))
    }

    #[test]
    fn pings_are_answered_as_discord_expects() {
        // RFC 8032 section 7.1 TEST 1's public key.
        let validator = DiscordSignatureValidator::new(
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        )
        .unwrap();
        let headers = Headers::new();
        let answer = |body: &[u8]| {
            let request = SignedRequest::new(&headers, body);
            let meta = validator.describe(&request).expect("a body Discord sends");
            validator.handshake(&request, &meta)
        };
        // Webhook Events: PING is type 0, acknowledged with 204.
        let ping = answer(br#"{"version":1,"application_id":"1234560123453231555","type":0}"#);
        assert_eq!(ping.map(|h| h.status()), Some(204));
        // Interactions: PING is type 1, answered with the PONG.
        let pong = answer(br#"{"application_id":"1","id":"2","token":"t","type":1,"version":1}"#)
            .expect("an interactions PING");
        assert_eq!(
            (pong.status(), pong.body()),
            (200, br#"{"type":1}"#.as_slice())
        );
        // An event (type 1 with an event) and commands (type 2) are not.
        let event =
            br#"{"version":1,"type":1,"event":{"type":"APPLICATION_AUTHORIZED","data":{}}}"#;
        assert_eq!(answer(event), None);
        assert_eq!(answer(br#"{"type":2,"data":{"name":"x"}}"#), None);
    }

    #[test]
    fn independent_vector() {
        let seed = decode_hex_array::<32>(SEED).unwrap();
        assert_eq!(DiscordSignatureValidator::public_key(&seed), PUBLIC_KEY);
        assert_eq!(
            DiscordSignatureValidator::sign(&seed, TIMESTAMP, BODY),
            SIGNATURE
        );
        let ts = TIMESTAMP.to_string();
        assert_eq!(check(PUBLIC_KEY, SIGNATURE, &ts, BODY, TIMESTAMP), Ok(()));
        assert_eq!(
            check(
                [OTHER_KEY, PUBLIC_KEY],
                SIGNATURE,
                &ts,
                BODY,
                TIMESTAMP + 300
            ),
            Ok(())
        );
        assert_eq!(
            check(PUBLIC_KEY.to_uppercase(), SIGNATURE, &ts, BODY, TIMESTAMP),
            Ok(())
        );
    }

    #[test]
    fn negative_cases() {
        let ts = TIMESTAMP.to_string();
        let no_match = Err(SignatureError::NoMatchingSignature);
        // discord-interactions-js verifyKey tests: "invalid key", "invalid
        // body", "invalid timestamp" (another timestamp than the signed one).
        assert_eq!(check(OTHER_KEY, SIGNATURE, &ts, BODY, TIMESTAMP), no_match);
        assert_eq!(
            check(
                PUBLIC_KEY,
                SIGNATURE,
                &ts,
                b"example invalid body",
                TIMESTAMP
            ),
            no_match
        );
        assert_eq!(
            check(
                PUBLIC_KEY,
                SIGNATURE,
                &(TIMESTAMP - 10_000).to_string(),
                BODY,
                TIMESTAMP
            ),
            no_match
        );
        let mut flipped = SIGNATURE.to_owned();
        flipped.replace_range(0..2, "f1");
        assert_eq!(check(PUBLIC_KEY, &flipped, &ts, BODY, TIMESTAMP), no_match);
        // "invalid signature", and a truncated one.
        for malformed in ["example invalid signature", &SIGNATURE[..126]] {
            assert!(matches!(
                check(PUBLIC_KEY, malformed, &ts, BODY, TIMESTAMP),
                Err(SignatureError::MalformedHeader { .. })
            ));
        }
        assert!(matches!(
            check(PUBLIC_KEY, SIGNATURE, "now", BODY, TIMESTAMP),
            Err(SignatureError::MalformedHeader {
                reason: "timestamp is not an integer",
                ..
            })
        ));
        assert_eq!(
            check(PUBLIC_KEY, SIGNATURE, &ts, BODY, TIMESTAMP + 301),
            Err(SignatureError::TimestampOutsideTolerance {
                tolerance_seconds: 300,
                skew_seconds: 301
            })
        );
        let validator = DiscordSignatureValidator::new(PUBLIC_KEY).unwrap();
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
    fn unusable_keys_and_description() {
        assert_eq!(
            DiscordSignatureValidator::new([PUBLIC_KEY, "abc"])
                .unwrap_err()
                .number(),
            Some(2)
        );
        assert!(DiscordSignatureValidator::new(&PUBLIC_KEY[..62]).is_err());
        assert_eq!(
            DiscordSignatureValidator::new([PUBLIC_KEY, ""]).unwrap_err(),
            InvalidSecret::Empty { number: 2 }
        );
        let validator = DiscordSignatureValidator::new(PUBLIC_KEY).unwrap();
        let headers = Headers::new();
        let meta = validator
            .describe(&SignedRequest::new(&headers, BODY))
            .unwrap();
        assert_eq!(meta, EventMeta::new("787053080478613555", "1"));
        let event = br#"{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{}}}"#;
        let meta = validator
            .describe(&SignedRequest::new(&headers, event))
            .unwrap();
        assert_eq!(
            meta,
            EventMeta::new(body_sha256_key(event), "APPLICATION_AUTHORIZED")
        );
    }
}
