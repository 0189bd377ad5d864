//! Reading signatures from a header and comparing digests: the bound on
//! how many one header may hold, and constant-time comparison.

use super::SignatureError;
use crate::Headers;

/// The most signatures one signature header may hold, in every scheme that
/// sends a list of them (Stripe's `v1=`, Standard Webhooks' `v1,` and
/// `v1a,`, Paddle's `h1=`).
///
/// Providers send one, or a few while a secret is rotated. A header holding
/// more is refused as malformed before any signature is checked, so an
/// unsigned request cannot make the server check thousands.
///
/// ```
/// use webhooks_core::{Headers, MAX_SIGNATURES, SignatureError, SignatureValidator, SignedRequest, StripeSignatureValidator};
///
/// let validator = StripeSignatureValidator::new("whsec_test")?;
/// let forged = format!("t=1700000000{}", ",v1=00".repeat(MAX_SIGNATURES + 1));
/// let headers = Headers::new().with("Stripe-Signature", &forged);
/// let refused = validator.verify(&SignedRequest::new(&headers, b"{}"));
/// assert!(matches!(refused, Err(SignatureError::MalformedHeader { .. })));
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
pub const MAX_SIGNATURES: usize = 10;

/// Why a header holding more than [`MAX_SIGNATURES`] is malformed.
const TOO_MANY_SIGNATURES: &str = "too many signatures (more than 10)";

/// Counts one more signature read from `header`: an error as soon as there
/// are more than [`MAX_SIGNATURES`], so a flooded header is not read on.
pub(crate) fn count_signature(count: &mut usize, header: &str) -> Result<(), SignatureError> {
    *count += 1;
    if *count > MAX_SIGNATURES {
        return Err(SignatureError::MalformedHeader {
            header: header.into(),
            reason: TOO_MANY_SIGNATURES,
        });
    }
    Ok(())
}

/// The entries of the list-valued signature header `name`, read from its raw
/// bytes only as far as they are needed: split at `separator` (at ASCII
/// whitespace when `None`), trimmed, empty ones skipped, each one UTF-8
/// text or an error (what is not ASCII then fails to decode or match). The value is never read whole, so a header flooded with
/// entries costs only the few read before [`count_signature`] refuses it.
pub(crate) fn signature_entries<'h>(
    headers: &'h Headers,
    name: &'static str,
    separator: Option<u8>,
) -> Result<impl Iterator<Item = Result<&'h str, SignatureError>> + 'h, SignatureError> {
    let value = headers
        .get_bytes(name)
        .filter(|value| !value.trim_ascii().is_empty())
        .ok_or_else(|| SignatureError::MissingHeader(name.into()))?;
    let is_separator = move |byte: &u8| match separator {
        Some(separator) => *byte == separator,
        None => byte.is_ascii_whitespace(),
    };
    Ok(value
        .split(is_separator)
        .map(<[u8]>::trim_ascii)
        .filter(|entry| !entry.is_empty())
        .map(move |entry| {
            std::str::from_utf8(entry).map_err(|_| SignatureError::MalformedHeader {
                header: name.into(),
                reason: "not text",
            })
        }))
}

/// Whether `expected` equals any of the `given` digests, each compared in
/// constant time: the MAC is computed once per secret, never per candidate.
pub(crate) fn any_digest_equal<D: AsRef<[u8]>>(expected: &[u8], given: &[D]) -> bool {
    given.iter().fold(false, |found, candidate| {
        digests_equal(expected, candidate.as_ref()) | found
    })
}

/// Decodes a hex SHA-256 digest; `None` unless it is 64 hex digits.
///
/// Decoded here rather than with `hex::decode_to_slice`, which the load
/// benchmark's profile showed at about 940 instructions for these 64 digits,
/// more than the rest of verification apart from the HMAC itself.
pub(crate) fn decode_hex_digest(hex_digest: &str) -> Option<[u8; 32]> {
    const fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            b'A'..=b'F' => Some(digit - b'A' + 10),
            _ => None,
        }
    }
    let digits = hex_digest.trim().as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut digest = [0_u8; 32];
    for (byte, pair) in digest.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(digest)
}

/// Whether two digests are equal, in time independent of where they differ.
pub(crate) fn digests_equal(expected: &[u8], given: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    expected.len() == given.len() && bool::from(expected.ct_eq(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_candidate_that_matches_is_enough_even_twice() {
        let genuine = [7_u8; 32];
        let forged = [8_u8; 32];
        assert!(any_digest_equal(&genuine, &[forged, genuine]));
        // The same genuine signature listed twice is still a match (a fold
        // with exclusive or would cancel the two out).
        assert!(any_digest_equal(&genuine, &[genuine, forged, genuine]));
        assert!(!any_digest_equal(&genuine, &[forged, forged]));
        assert!(!any_digest_equal::<[u8; 32]>(&genuine, &[]));
        assert!(!any_digest_equal(&genuine, &[&genuine[..31]]));
    }

    #[test]
    fn the_signature_bound_is_the_one_its_message_names() {
        assert!(TOO_MANY_SIGNATURES.contains(&format!("more than {MAX_SIGNATURES})")));
        let mut count = 0;
        for _ in 0..MAX_SIGNATURES {
            assert_eq!(count_signature(&mut count, "X-Sig"), Ok(()));
        }
        let error = count_signature(&mut count, "X-Sig").unwrap_err();
        assert!(error.to_string().contains("too many signatures"), "{error}");
        assert!(any_digest_equal(b"ab", &[b"xy", b"ab"]));
        let mut headers = Headers::new().with("X-Sig", " a=1, ,b=2 ");
        headers.append_bytes("X-Bin", b"a=1,\xffz").unwrap();
        let entries: Vec<_> = signature_entries(&headers, "X-Sig", Some(b','))
            .unwrap()
            .collect();
        assert_eq!(entries, [Ok("a=1"), Ok("b=2")]);
        let words: Vec<_> = signature_entries(&headers, "X-Sig", None)
            .unwrap()
            .collect();
        assert_eq!(words, [Ok("a=1,"), Ok(",b=2")]);
        let mut binary = signature_entries(&headers, "X-Bin", Some(b',')).unwrap();
        assert_eq!(binary.next(), Some(Ok("a=1")));
        assert!(matches!(
            binary.next(),
            Some(Err(SignatureError::MalformedHeader { .. }))
        ));
        assert!(matches!(
            signature_entries(&headers, "X-None", None).err(),
            Some(SignatureError::MissingHeader(_))
        ));
        assert!(!any_digest_equal(b"ab", &[&b"xy"[..], b"a"]));
    }

    #[test]
    fn hex_digests_decode_like_the_hex_crate() {
        let digest: [u8; 32] = std::array::from_fn(|index| (index * 37 + 11) as u8);
        let lower = hex::encode(digest);
        assert_eq!(decode_hex_digest(&lower), Some(digest));
        assert_eq!(decode_hex_digest(&lower.to_uppercase()), Some(digest));
        assert_eq!(decode_hex_digest(&format!(" {lower}\t")), Some(digest));
        assert_eq!(decode_hex_digest(&lower[..62]), None);
        assert_eq!(decode_hex_digest(&format!("{lower}00")), None);
        assert_eq!(decode_hex_digest(&format!("{}g", &lower[..63])), None);
        assert_eq!(decode_hex_digest(&format!("{}é", &lower[..62])), None);
    }
}
