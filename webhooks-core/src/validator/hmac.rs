//! The generic scheme: a hex HMAC-SHA256 of the raw body in one header, or
//! of the body with a timestamp from another header.

use hmac::{Hmac, Mac};
use http::HeaderName;
use sha2::Sha256;

use super::extract::{GenericExtraction, extraction_builders};
use super::{
    BodyHasher, Clock, EventMeta, EventParseError, Freshness, SignatureError, SignatureValidator,
    SignedPayload, SignedRequest, body_mac, decode_hex_digest, freshness_builders,
    named_header_value,
};
use crate::{Headers, InvalidSecret, Secret, Secrets};

/// Verifies `<prefix><hex HMAC-SHA256>` in one header; by default
/// `X-Signature: sha256=<hex>` of the raw body, the scheme most custom
/// partners use.
///
/// With [`HmacSignatureValidator::timestamp_header`], the sender also sends
/// the time of signing (Unix seconds) in that header and signs it with the
/// body: by default `"{timestamp}.{body}"`, or the
/// [`SignedPayload`] given to [`HmacSignatureValidator::signed_payload`].
/// The timestamp must then be within the tolerance (300 s by default) of
/// the clock, both ways, and is checked before the signature; a missing or
/// non-integer timestamp is refused as well.
///
/// The delivery id comes from `X-Idempotency-Key`, else `X-Event-Id`, else
/// the body's SHA-256; the event type from the payload's `type`, else the
/// `X-Event-Type` header. Each name is configurable.
///
/// ```
/// use webhooks_core::{Headers, HmacSignatureValidator, SignatureValidator, SignedRequest};
///
/// let validator = HmacSignatureValidator::new("secret")?.header("X-Partner-Signature");
/// let signature = HmacSignatureValidator::sign(b"secret", b"{}");
/// let headers = Headers::new().with("X-Partner-Signature", &format!("sha256={signature}"));
/// assert!(validator.verify(&SignedRequest::new(&headers, b"{}")).is_ok());
/// # Ok::<(), webhooks_core::InvalidSecret>(())
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
    /// The timestamp header, when the sender signs a timestamp.
    timestamp: Option<TimestampHeader>,
    payload: SignedPayload,
    freshness: Freshness,
}

/// A configured header name, kept as given and parsed once.
#[derive(Debug, Clone)]
struct TimestampHeader {
    name: String,
    parsed: Option<HeaderName>,
}

impl HmacSignatureValidator {
    /// The tolerance of a timestamped sender: 300 seconds.
    pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

    /// A validator for `X-Signature: sha256=<hex>` with these secrets; an
    /// error when none is given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
            header: String::new(),
            header_name: None,
            prefix: "sha256=".into(),
            extraction: GenericExtraction::default(),
            timestamp: None,
            payload: SignedPayload::default(),
            freshness: Freshness::new(Self::DEFAULT_TOLERANCE_SECONDS),
        }
        .header("X-Signature"))
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

    /// Reads the time of signing (Unix seconds) from this header, signed
    /// with the body as the [`SignedPayload`] says (`{timestamp}.{body}` by
    /// default), and refuses a delivery whose timestamp is missing or
    /// outside the tolerance.
    ///
    /// ```
    /// use webhooks_core::{Clock, Headers, HmacSignatureValidator, SignatureError, SignatureValidator, SignedPayload, SignedRequest};
    ///
    /// let validator = HmacSignatureValidator::new("secret")?
    ///     .timestamp_header("X-Webhook-Timestamp")
    ///     .clock(Clock::fixed(1_700_000_010));
    /// let signature = HmacSignatureValidator::sign_timestamped(b"secret", &SignedPayload::default(), 1_700_000_000, b"{}");
    /// let headers = Headers::new()
    ///     .with("X-Webhook-Timestamp", "1700000000")
    ///     .with("X-Signature", &format!("sha256={signature}"));
    /// assert!(validator.verify(&SignedRequest::new(&headers, b"{}")).is_ok());
    /// let replayed = validator.clock(Clock::fixed(1_700_003_600));
    /// assert!(matches!(
    ///     replayed.verify(&SignedRequest::new(&headers, b"{}")),
    ///     Err(SignatureError::TimestampOutsideTolerance { .. })
    /// ));
    /// # Ok::<(), webhooks_core::InvalidSecret>(())
    /// ```
    #[must_use]
    pub fn timestamp_header(mut self, header: impl Into<String>) -> Self {
        let name = header.into();
        let parsed = HeaderName::from_bytes(name.as_bytes()).ok();
        self.timestamp = Some(TimestampHeader { name, parsed });
        self
    }

    /// Signs the timestamp and the body as this template says instead of
    /// `{timestamp}.{body}`; used with [`HmacSignatureValidator::timestamp_header`].
    ///
    /// ```
    /// use webhooks_core::{HmacSignatureValidator, SignedPayload};
    ///
    /// let validator = HmacSignatureValidator::new("secret")?
    ///     .timestamp_header("X-Timestamp")
    ///     .signed_payload("v1:{timestamp}:{body}".parse()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn signed_payload(mut self, payload: SignedPayload) -> Self {
        self.payload = payload;
        self
    }

    freshness_builders!();

    extraction_builders!();

    /// The lowercase hex HMAC-SHA256 of `body` under `secret`: what a sender
    /// of this scheme puts after the prefix.
    pub fn sign(secret: &[u8], body: &[u8]) -> String {
        hex::encode(hmac_sha256(secret, &[body]))
    }

    /// The lowercase hex HMAC-SHA256 a timestamped sender puts after the
    /// prefix: of `payload` filled with `timestamp` and `body`.
    ///
    /// ```
    /// use webhooks_core::{HmacSignatureValidator, SignedPayload};
    ///
    /// let default = HmacSignatureValidator::sign_timestamped(b"k", &SignedPayload::default(), 1, b"x");
    /// assert_eq!(default, HmacSignatureValidator::sign(b"k", b"1.x"));
    /// ```
    pub fn sign_timestamped(
        secret: &[u8],
        payload: &SignedPayload,
        timestamp: i64,
        body: &[u8],
    ) -> String {
        let timestamp = timestamp.to_string();
        hex::encode(hmac_sha256(secret, &payload.pieces(&timestamp, body)))
    }

    /// The timestamp header's value, checked to be an integer within the
    /// tolerance; `None` when no timestamp is signed.
    fn fresh_timestamp<'h>(&self, headers: &'h Headers) -> Result<Option<&'h str>, SignatureError> {
        let Some(header) = &self.timestamp else {
            return Ok(None);
        };
        let text = header
            .parsed
            .as_ref()
            .and_then(|name| named_header_value(headers, name))
            .ok_or_else(|| SignatureError::MissingHeader(header.name.clone()))?;
        let timestamp: i64 = text.parse().map_err(|_| SignatureError::MalformedHeader {
            header: header.name.clone(),
            reason: "timestamp is not an integer",
        })?;
        self.freshness.check(timestamp)?;
        Ok(Some(text))
    }

    /// The digest the signature header gives, and the timestamp it signs
    /// (when one is), or why the headers alone refuse the request.
    fn read_headers<'h>(
        &self,
        headers: &'h Headers,
    ) -> Result<([u8; 32], Option<&'h str>), SignatureError> {
        let value = self
            .header_name
            .as_ref()
            .and_then(|name| headers.get_named(name))
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
        Ok((given, self.fresh_timestamp(headers)?))
    }
}

/// `Ok` when the HMAC-SHA256 of the `prefix` pieces then the request's
/// body, under one of `secrets`, equals one of the `given` digests; else
/// [`SignatureError::NoMatchingSignature`]. The MAC of each secret is the
/// one computed while the body arrived, when the request carries it
/// ([`body_mac`]).
pub(crate) fn verify_hmac_sha256<D: AsRef<[u8]>>(
    secrets: &Secrets,
    prefix: &[&[u8]],
    request: &SignedRequest<'_>,
    given: &[D],
) -> Result<(), SignatureError> {
    verify_macs(secrets, given, |secret| body_mac(secret, prefix, request))
}

/// `Ok` when the `mac` of one of `secrets` equals one of the `given`
/// digests: the MAC is computed once per secret, and each candidate
/// compared in constant time ([`any_digest_equal`](super::any_digest_equal)).
fn verify_macs<D: AsRef<[u8]>>(
    secrets: &Secrets,
    given: &[D],
    mac: impl Fn(&Secret) -> [u8; 32],
) -> Result<(), SignatureError> {
    let matches = secrets
        .iter()
        .any(|secret| super::any_digest_equal(&mac(secret), given));
    if matches {
        Ok(())
    } else {
        Err(SignatureError::NoMatchingSignature)
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
        let (given, timestamp) = self.read_headers(request.headers())?;
        let Some(timestamp) = timestamp else {
            return verify_hmac_sha256(&self.secrets, &[], request, &[given]);
        };
        match self.payload.prefix(timestamp) {
            Some(prefix) => verify_hmac_sha256(&self.secrets, &prefix, request, &[given]),
            // Text after the body: hashed whole, never as it arrives.
            None => {
                let signed = self.payload.pieces(timestamp, request.body());
                verify_macs(&self.secrets, &[given], |secret| {
                    hmac_sha256(secret.expose(), &signed)
                })
            }
        }
    }

    fn body_hasher(&self, headers: &Headers, _url: Option<&str>) -> Option<BodyHasher> {
        let prefix = match self.read_headers(headers).ok()?.1 {
            Some(timestamp) => self.payload.prefix(timestamp)?,
            None => Vec::new(),
        };
        Some(BodyHasher::new(self.secrets.iter(), &prefix))
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
        let validator = HmacSignatureValidator::new(["new", "old"]).unwrap();
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
        let validator = HmacSignatureValidator::new("k")
            .unwrap()
            .header("X-Sig")
            .prefix("");
        let signature = HmacSignatureValidator::sign(b"k", b"x");
        assert_eq!(verify(&validator, "x-sig", &signature, b"x"), Ok(()));
        assert_eq!(
            verify(&validator, "x-sig", &signature.to_uppercase(), b"x"),
            Ok(())
        );
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(
            HmacSignatureValidator::new("").unwrap_err(),
            InvalidSecret::Empty { number: 1 }
        );
        assert_eq!(
            HmacSignatureValidator::new(["k", ""]).unwrap_err(),
            InvalidSecret::Empty { number: 2 }
        );
    }

    #[test]
    fn a_header_name_no_request_can_carry_is_missing() {
        let validator = HmacSignatureValidator::new("k").unwrap().header("X Sig");
        assert_eq!(
            verify(&validator, "X-Sig", "sha256=00", b"x"),
            Err(SignatureError::MissingHeader("X Sig".into()))
        );
    }
}
