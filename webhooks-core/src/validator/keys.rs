//! Decoding configured secrets and keys: base64 keys, Ed25519 public keys.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::{Signature, VerifyingKey};

use crate::{InvalidSecret, Secret};

/// Standard base64, padded or not.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes standard base64, with or without padding.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    BASE64.decode(text.trim()).ok()
}

/// Encodes as padded standard base64, as providers send it.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a base64 digest of exactly `N` bytes.
pub(crate) fn decode_base64_digest<const N: usize>(text: &str) -> Option<[u8; N]> {
    decode_base64(text)?.try_into().ok()
}

/// Decodes a hex value of exactly `N` bytes.
pub(crate) fn decode_hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut bytes = [0_u8; N];
    hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
    Some(bytes)
}

/// An Ed25519 public key from its 32 bytes.
pub(crate) fn ed25519_public_key(bytes: &[u8]) -> Result<VerifyingKey, &'static str> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "an Ed25519 public key is 32 bytes")?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key")
}

/// Whether `signature` is a valid Ed25519 signature of `message` under
/// `key` (strict verification: no malleable signatures, no weak keys).
pub(crate) fn ed25519_verifies(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(&signature))
        .is_ok()
}

/// The Ed25519 signature of the concatenated `parts` by the signing key
/// whose 32-byte seed is `seed`, and the matching public key.
pub(crate) fn ed25519_sign(seed: &[u8; 32], parts: &[&[u8]]) -> ([u8; 64], [u8; 32]) {
    use ed25519_dalek::Signer as _;
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    let signature = key.sign(&parts.concat()).to_bytes();
    (signature, key.verifying_key().to_bytes())
}

/// A decoded Standard Webhooks secret: `whsec_<base64>` (HMAC key) or
/// `whpk_<base64>` (the sender's Ed25519 public key).
#[derive(Clone)]
pub(crate) enum StandardKey {
    Hmac(Secret),
    Ed25519(VerifyingKey),
}

impl fmt::Debug for StandardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hmac(_) => "Hmac([redacted])",
            Self::Ed25519(_) => "Ed25519(public key)",
        })
    }
}

/// Decodes the `index`-th Standard Webhooks secret.
pub(crate) fn parse_standard_key(
    index: usize,
    secret: &Secret,
) -> Result<StandardKey, InvalidSecret> {
    let invalid = |reason| InvalidSecret::unusable(index, reason);
    let text = std::str::from_utf8(secret.expose())
        .map_err(|_| invalid("expected `whsec_<base64>` or `whpk_<base64>`"))?
        .trim();
    if let Some(public) = text.strip_prefix("whpk_") {
        let bytes = decode_base64(public)
            .ok_or_else(|| invalid("a `whpk_` key is base64 after its prefix"))?;
        return ed25519_public_key(&bytes)
            .map(StandardKey::Ed25519)
            .map_err(invalid);
    }
    if text.starts_with("whsk_") {
        return Err(invalid(
            "a `whsk_` key signs; configure the sender's `whpk_` public key instead",
        ));
    }
    let encoded = text.strip_prefix("whsec_").unwrap_or(text);
    let bytes = decode_base64(encoded)
        .ok_or_else(|| invalid("a `whsec_` secret is base64 after its prefix"))?;
    if bytes.is_empty() {
        return Err(InvalidSecret::Empty { number: index + 1 });
    }
    Ok(StandardKey::Hmac(Secret::new(bytes)))
}

/// Decodes the `index`-th Discord public key: 64 hex digits.
pub(crate) fn parse_discord_key(index: usize, key: &Secret) -> Result<VerifyingKey, InvalidSecret> {
    let bytes = std::str::from_utf8(key.expose())
        .ok()
        .and_then(decode_hex_array::<32>)
        .ok_or_else(|| InvalidSecret::unusable(index, "a Discord public key is 64 hex digits"))?;
    ed25519_public_key(&bytes).map_err(|reason| InvalidSecret::unusable(index, reason))
}

/// The 32-byte seed of a `whsk_<base64>` signing key (prefix optional).
pub(crate) fn standard_signing_seed(signing_key: &str) -> Result<[u8; 32], InvalidSecret> {
    let encoded = signing_key.trim();
    let encoded = encoded.strip_prefix("whsk_").unwrap_or(encoded);
    decode_base64(encoded)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| InvalidSecret::unusable(0, "a `whsk_` key is the base64 of 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_with_and_without_padding() {
        assert_eq!(decode_base64("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("aGk").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("a%Gk"), None);
        assert_eq!(encode_base64(b"hi"), "aGk=");
        assert_eq!(decode_base64_digest::<2>("aGk="), Some(*b"hi"));
        assert_eq!(decode_base64_digest::<3>("aGk="), None);
    }

    #[test]
    fn rfc_8032_test_2() {
        // RFC 8032, section 7.1, TEST 2: one-byte message 0x72.
        let seed = decode_hex_array::<32>(
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        )
        .unwrap();
        let public = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
        let expected = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                        085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
        let (signature, key) = ed25519_sign(&seed, &[b"\x72"]);
        assert_eq!(hex::encode(signature), expected);
        assert_eq!(hex::encode(key), public);
        let key = ed25519_public_key(&key).unwrap();
        assert!(ed25519_verifies(&key, b"\x72", &signature));
        assert!(!ed25519_verifies(&key, b"\x73", &signature));
        assert!(!ed25519_verifies(&key, b"\x72", &signature[..63]));
        assert!(ed25519_public_key(&[0; 31]).is_err());
    }

    #[test]
    fn standard_keys_are_checked_and_redacted() {
        let secret = |text: &str| Secret::from(text);
        let hmac = parse_standard_key(0, &secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        assert!(matches!(hmac, Ok(StandardKey::Hmac(_))));
        let public = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=";
        assert!(matches!(
            parse_standard_key(0, &secret(public)),
            Ok(StandardKey::Ed25519(_))
        ));
        for unusable in ["whsk_abcd", "whpk_AAAA", "whsec_", "not base64!"] {
            let error = parse_standard_key(1, &secret(unusable)).unwrap_err();
            assert_eq!(error.number(), Some(2));
            assert!(!error.to_string().contains(unusable), "{error}");
        }
        let validator =
            crate::StandardSignatureValidator::new(["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", public])
                .unwrap();
        let printed = format!("{validator:?}");
        assert!(!printed.contains("MfKQ"), "{printed}");
        assert!(
            printed.contains("[Hmac([redacted]), Ed25519(public key)]"),
            "{printed}"
        );
    }
}
