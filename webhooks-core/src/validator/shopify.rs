//! Shopify: `X-Shopify-Hmac-Sha256: <base64>`.

use super::hmac::{hmac_sha256, verify_hmac_sha256};
use super::keys::{decode_base64_digest, encode_base64};
use super::{
    BodyHasher, EventMeta, EventParseError, SignatureError, SignatureValidator, SignedRequest,
    body_sha256_key, header_value,
};
use crate::{Headers, InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "X-Shopify-Hmac-Sha256";

/// Verifies Shopify's `X-Shopify-Hmac-Sha256` header: the base64
/// HMAC-SHA256 of the raw body under the app's client secret.
///
/// Shopify signs no timestamp, so there is no tolerance to set; redeliveries
/// are caught by the delivery id, the `X-Shopify-Webhook-Id` header. The event
/// type is the `X-Shopify-Topic` header (`orders/create`).
///
/// ```
/// use webhooks_core::{Headers, ShopifySignatureValidator, SignatureValidator, SignedRequest};
///
/// let body = br#"{"id":820982911946154508}"#;
/// let headers = Headers::new()
///     .with("X-Shopify-Hmac-Sha256", &ShopifySignatureValidator::sign(b"client-secret", body))
///     .with("X-Shopify-Topic", "orders/create")
///     .with("X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
/// let validator = ShopifySignatureValidator::new("client-secret")?;
/// let request = SignedRequest::new(&headers, body);
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().event_type, "orders/create");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShopifySignatureValidator {
    secrets: Secrets,
}

impl ShopifySignatureValidator {
    /// A validator accepting any of these client secrets; an error when
    /// none is given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
        })
    }

    /// The `X-Shopify-Hmac-Sha256` value Shopify sends for `body`.
    pub fn sign(secret: &[u8], body: &[u8]) -> String {
        encode_base64(&hmac_sha256(secret, &[body]))
    }

    /// The digest the signature header gives, or why it cannot be checked.
    fn given(headers: &Headers) -> Result<[u8; 32], SignatureError> {
        let value = headers
            .get(SIGNATURE_HEADER)
            .ok_or_else(|| SignatureError::MissingHeader(SIGNATURE_HEADER.into()))?;
        decode_base64_digest::<32>(value).ok_or(SignatureError::MalformedHeader {
            header: SIGNATURE_HEADER.into(),
            reason: "expected the base64 of a 32-byte digest",
        })
    }
}

impl SignatureValidator for ShopifySignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let given = Self::given(request.headers())?;
        verify_hmac_sha256(&self.secrets, &[], request, &[given])
    }

    fn body_hasher(&self, headers: &Headers, _url: Option<&str>) -> Option<BodyHasher> {
        Self::given(headers).ok()?;
        Some(BodyHasher::new(self.secrets.iter(), &[]))
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let headers = request.headers();
        let event_type = header_value(headers, "X-Shopify-Topic")
            .ok_or_else(|| EventParseError::MissingHeader("X-Shopify-Topic".into()))?;
        let id = header_value(headers, "X-Shopify-Webhook-Id")
            .map_or_else(|| body_sha256_key(request.body()), str::to_owned);
        Ok(EventMeta::new(id, event_type))
    }

    fn scheme(&self) -> &'static str {
        "shopify"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // Neither Shopify's docs ("Verify webhooks": base64 HMAC-SHA256 of the raw
    // body with the app's client secret) nor shopify-api-js/ruby/php ship a
    // fixed vector, so this one was computed independently of this code:
    // printf '%s' "$BODY" | openssl dgst -sha256 -hmac hush -binary | base64
    const SECRET: &str = "hush";
    const BODY: &[u8] = br#"{"shop_id":954889,"shop_domain":"snowdevil.myshopify.com"}"#;
    const SIGNATURE: &str = "unXxOs41nqtk5v6Btqh9qz9Dh6mprKtn5eLN4XfJwSY=";

    fn verify(
        secrets: impl Into<Secrets>,
        signature: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let headers = Headers::new().with(SIGNATURE_HEADER, signature);
        ShopifySignatureValidator::new(secrets)
            .unwrap()
            .verify(&SignedRequest::new(&headers, body))
    }

    #[test]
    fn independent_vector() {
        assert_eq!(
            ShopifySignatureValidator::sign(SECRET.as_bytes(), BODY),
            SIGNATURE
        );
        assert_eq!(verify(SECRET, SIGNATURE, BODY), Ok(()));
        assert_eq!(verify(["rotated", SECRET], SIGNATURE, BODY), Ok(()));
        // Unpadded base64 is accepted too.
        assert_eq!(
            verify(SECRET, SIGNATURE.trim_end_matches('='), BODY),
            Ok(())
        );
    }

    #[test]
    fn negative_cases() {
        let no_match = Err(SignatureError::NoMatchingSignature);
        assert_eq!(verify("wrong", SIGNATURE, BODY), no_match);
        assert_eq!(
            verify(SECRET, SIGNATURE, br#"{"shop_id":954890}"#),
            no_match
        );
        let other = ShopifySignatureValidator::sign(b"hush", b"another body");
        assert_eq!(verify(SECRET, &other, BODY), no_match);
        for malformed in [&SIGNATURE[..40], "not base64!", "", "c2hvcnQ="] {
            assert!(
                matches!(
                    verify(SECRET, malformed, BODY),
                    Err(SignatureError::MalformedHeader { .. })
                ),
                "{malformed}"
            );
        }
        // The hex form of the same digest is not Shopify's encoding.
        let hex_form = hex::encode(hmac_sha256(SECRET.as_bytes(), &[BODY]));
        assert!(verify(SECRET, &hex_form, BODY).is_err());
        let missing = ShopifySignatureValidator::new(SECRET)
            .unwrap()
            .verify(&SignedRequest::new(&Headers::new(), BODY));
        assert_eq!(
            missing,
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER.into()))
        );
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(
            ShopifySignatureValidator::new("").unwrap_err(),
            InvalidSecret::Empty { number: 1 }
        );
    }

    #[test]
    fn describe_reads_the_headers() {
        let validator = ShopifySignatureValidator::new(SECRET).unwrap();
        let headers = Headers::new().with("X-Shopify-Topic", "shop/redact").with(
            "X-Shopify-Webhook-Id",
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        );
        let meta = validator
            .describe(&SignedRequest::new(&headers, BODY))
            .unwrap();
        assert_eq!(
            meta,
            EventMeta::new("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", "shop/redact")
        );
        let no_id = Headers::new().with("X-Shopify-Topic", "shop/redact");
        let meta = validator
            .describe(&SignedRequest::new(&no_id, BODY))
            .unwrap();
        assert_eq!(meta.id, body_sha256_key(BODY));
        assert!(
            validator
                .describe(&SignedRequest::new(&Headers::new(), BODY))
                .is_err()
        );
    }
}
