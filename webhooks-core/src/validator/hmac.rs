//! The generic scheme: a hex HMAC-SHA256 of the raw body in one header.

use hmac::{Hmac, Mac};
use http::HeaderName;
use sha2::Sha256;

use super::extract::{GenericExtraction, extraction_builders};
use super::{
    EventMeta, EventParseError, SignatureError, SignatureValidator, SignedRequest,
    decode_hex_digest, digests_equal,
};
use crate::Secrets;

/// Verifies `<prefix><hex HMAC-SHA256 of the body>` in one header; by
/// default `X-Signature: sha256=<hex>`, the scheme most custom partners use.
///
/// The delivery id comes from `X-Idempotency-Key`, else `X-Event-Id`, else
/// the body's SHA-256; the event type from the payload's `type`, else the
/// `X-Event-Type` header. Each name is configurable.
///
/// ```
/// use webhooks_core::{Headers, HmacSignatureValidator, SignatureValidator, SignedRequest};
///
/// let validator = HmacSignatureValidator::new("secret").header("X-Partner-Signature");
/// let signature = HmacSignatureValidator::sign(b"secret", b"{}");
/// let headers = Headers::new().with("X-Partner-Signature", &format!("sha256={signature}"));
/// assert!(validator.verify(&SignedRequest::new(&headers, b"{}")).is_ok());
/// ```
#[derive(Debug, Clone)]
pub struct HmacSignatureValidator {
    secrets: Secrets,
    /// The header as configured, for error messages.
    header: String,
    /// The header parsed once, so no delivery parses it again; `None` when
    /// it is no valid header name, which no request can then carry.
    header_name: Option<HeaderName>,
    prefix: String,
    extraction: GenericExtraction,
}

impl HmacSignatureValidator {
    /// A validator for `X-Signature: sha256=<hex>` with these secrets.
    pub fn new(secrets: impl Into<Secrets>) -> Self {
        Self {
            secrets: secrets.into(),
            header: String::new(),
            header_name: None,
            prefix: "sha256=".into(),
            extraction: GenericExtraction::default(),
        }
        .header("X-Signature")
    }

    /// Reads the signature from this header instead of `X-Signature`.
    #[must_use]
    pub fn header(mut self, header: impl Into<String>) -> Self {
        self.header = header.into();
        self.header_name = HeaderName::from_bytes(self.header.as_bytes()).ok();
        self
    }

    /// Expects this prefix before the hex digest instead of `sha256=`
    /// (may be empty).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    extraction_builders!();

    /// The lowercase hex HMAC-SHA256 of `body` under `secret`: what a sender
    /// of this scheme puts after the prefix.
    pub fn sign(secret: &[u8], body: &[u8]) -> String {
        hex::encode(hmac_sha256(secret, &[body]))
    }
}

/// HMAC-SHA256 of the concatenated `parts`.
pub(crate) fn hmac_sha256(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl SignatureValidator for HmacSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let value = self
            .header_name
            .as_ref()
            .and_then(|name| request.headers().get_named(name))
            .ok_or_else(|| SignatureError::MissingHeader(self.header.clone()))?;
        let malformed = |reason| SignatureError::MalformedHeader {
            header: self.header.clone(),
            reason,
        };
        let hex_digest = value
            .trim()
            .strip_prefix(self.prefix.as_str())
            .ok_or_else(|| malformed("expected prefix not found"))?;
        let given =
            decode_hex_digest(hex_digest).ok_or_else(|| malformed("expected 64 hex digits"))?;
        let matches = self
            .secrets
            .iter()
            .any(|secret| digests_equal(&hmac_sha256(secret.expose(), &[request.body()]), &given));
        if matches {
            Ok(())
        } else {
            Err(SignatureError::NoMatchingSignature)
        }
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        self.extraction.describe(request)
    }

    fn scheme(&self) -> &'static str {
        "hmac"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    fn verify(
        validator: &HmacSignatureValidator,
        header: &str,
        value: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let headers = Headers::new().with(header, value);
        validator.verify(&SignedRequest::new(&headers, body))
    }

    #[test]
    fn rfc_4231_test_case_2() {
        // RFC 4231, section 4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            HmacSignatureValidator::sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn each_cause_has_its_own_error() {
        let validator = HmacSignatureValidator::new(["new", "old"]);
        let body = b"{\"type\":\"order.paid\"}";
        let by_old = format!("sha256={}", HmacSignatureValidator::sign(b"old", body));
        assert_eq!(verify(&validator, "X-Signature", &by_old, body), Ok(()));
        assert_eq!(
            verify(&validator, "X-Other", &by_old, body),
            Err(SignatureError::MissingHeader("X-Signature".into()))
        );
        assert!(matches!(
            verify(&validator, "X-Signature", "md5=abc", body),
            Err(SignatureError::MalformedHeader { .. })
        ));
        assert!(matches!(
            verify(&validator, "X-Signature", &by_old[..60], body),
            Err(SignatureError::MalformedHeader { .. })
        ));
        assert_eq!(
            verify(
                &validator,
                "X-Signature",
                &by_old,
                b"{\"type\":\"order.paid!\"}"
            ),
            Err(SignatureError::NoMatchingSignature)
        );
        let by_other = format!("sha256={}", HmacSignatureValidator::sign(b"wrong", body));
        assert_eq!(
            verify(&validator, "X-Signature", &by_other, body),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn custom_header_and_empty_prefix() {
        let validator = HmacSignatureValidator::new("k").header("X-Sig").prefix("");
        let signature = HmacSignatureValidator::sign(b"k", b"x");
        assert_eq!(verify(&validator, "x-sig", &signature, b"x"), Ok(()));
        assert_eq!(
            verify(&validator, "x-sig", &signature.to_uppercase(), b"x"),
            Ok(())
        );
    }

    #[test]
    fn a_header_name_no_request_can_carry_is_missing() {
        let validator = HmacSignatureValidator::new("k").header("X Sig");
        assert_eq!(
            verify(&validator, "X-Sig", "sha256=00", b"x"),
            Err(SignatureError::MissingHeader("X Sig".into()))
        );
    }
}
