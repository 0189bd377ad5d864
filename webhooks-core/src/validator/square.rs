//! Square: `x-square-hmacsha256-signature`, HMAC-SHA256 over the
//! notification URL and the body.

use std::borrow::Cow;

use super::hmac::{hmac_sha256, verify_hmac_sha256};
use super::keys::{decode_base64_digest, encode_base64};
use super::url::public_url;
use super::{
    BodyHasher, EventMeta, EventParseError, SignatureError, SignatureValidator, SignedRequest,
    body_sha256_key, pick_json,
};
use crate::{Headers, InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";

/// Verifies Square's `x-square-hmacsha256-signature`: the base64
/// HMAC-SHA256, under the subscription's signature key, of the notification
/// URL followed by the raw body.
///
/// The notification URL is the one registered with Square; a server behind
/// a proxy sets its public base with [`SquareSignatureValidator::public_url`]
/// (`https://example.com`), and the request's path and query are appended,
/// whatever the `Host` header says. Without it, the URL is the one the
/// transport rebuilt from a plain `Host` header, or the request is refused.
/// The delivery id is the payload's `event_id`, the event type its `type`
/// (`payment.updated`).
///
/// ```
/// use webhooks_core::{Headers, SignatureValidator, SignedRequest, SquareSignatureValidator};
///
/// let body = br#"{"type":"payment.updated","event_id":"6a8f5f28"}"#;
/// let url = "https://example.com/webhooks/square";
/// let headers = Headers::new()
///     .with("x-square-hmacsha256-signature", &SquareSignatureValidator::sign(b"signature-key", url, body));
/// let validator = SquareSignatureValidator::new("signature-key")?.public_url("https://example.com");
/// let request = SignedRequest::new(&headers, body).with_url("http://127.0.0.1:3000/webhooks/square");
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().id, "6a8f5f28");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct SquareSignatureValidator {
    secrets: Secrets,
    public_url: Option<String>,
}

impl SquareSignatureValidator {
    /// A validator accepting any of these signature keys; an error when
    /// none is given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
            public_url: None,
        })
    }

    /// The public base URL Square calls (`https://example.com`, optionally
    /// with a path prefix); the request's path and query are appended.
    #[must_use]
    pub fn public_url(mut self, base: impl Into<String>) -> Self {
        self.public_url = Some(base.into());
        self
    }

    /// The `x-square-hmacsha256-signature` Square sends for `body` posted
    /// to `notification_url`.
    pub fn sign(signature_key: &[u8], notification_url: &str, body: &[u8]) -> String {
        encode_base64(&hmac_sha256(
            signature_key,
            &[notification_url.as_bytes(), body],
        ))
    }

    /// The digest the signature header gives and the URL it signs, or why
    /// the request cannot be checked.
    fn signed<'u>(
        &self,
        headers: &Headers,
        seen: Option<&'u str>,
    ) -> Result<([u8; 32], Cow<'u, str>), SignatureError> {
        let value = headers
            .get(SIGNATURE_HEADER)
            .ok_or_else(|| SignatureError::MissingHeader(SIGNATURE_HEADER.into()))?;
        let given = decode_base64_digest::<32>(value).ok_or(SignatureError::MalformedHeader {
            header: SIGNATURE_HEADER.into(),
            reason: "expected the base64 of a 32-byte digest",
        })?;
        let seen = seen.ok_or(SignatureError::MissingUrl)?;
        Ok((given, public_url(self.public_url.as_deref(), seen)?))
    }
}

impl SignatureValidator for SquareSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let (given, url) = self.signed(request.headers(), request.url())?;
        verify_hmac_sha256(&self.secrets, &[url.as_bytes()], request, &[given])
    }

    fn body_hasher(&self, headers: &Headers, url: Option<&str>) -> Option<BodyHasher> {
        let (_, url) = self.signed(headers, url).ok()?;
        Some(BodyHasher::new(self.secrets.iter(), &[url.as_bytes()]))
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let [id, event_type] = pick_json(request.body(), ["event_id", "type"])?;
        Ok(EventMeta {
            id: id.unwrap_or_else(|| body_sha256_key(request.body())),
            event_type: event_type.ok_or_else(|| EventParseError::MissingField("type".into()))?,
        })
    }

    fn needs_url(&self) -> bool {
        true
    }

    fn scheme(&self) -> &'static str {
        "square"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // square-python-sdk, tests/utilities/test_webhooks_helper.py: the request
    // body, signature header, signature key and notification URL, and its
    // negative cases (URL mismatch, another key, another signature, a body
    // changed or reformatted).
    const BODY: &[u8] = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
    const SIGNATURE: &str = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
    const KEY: &str = "Ibxx_5AKakO-3qeNVR61Dw";
    const URL: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";

    fn check(
        validator: &SquareSignatureValidator,
        url: Option<&str>,
        signature: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let headers = Headers::new().with(SIGNATURE_HEADER, signature);
        let mut request = SignedRequest::new(&headers, body);
        if let Some(url) = url {
            request = request.with_url(url);
        }
        validator.verify(&request)
    }

    #[test]
    fn square_sdk_vector() {
        assert_eq!(
            SquareSignatureValidator::sign(KEY.as_bytes(), URL, BODY),
            SIGNATURE
        );
        let validator = SquareSignatureValidator::new(KEY).unwrap();
        assert_eq!(check(&validator, Some(URL), SIGNATURE, BODY), Ok(()));
        let rotated = SquareSignatureValidator::new(["MCmhFRxGX82xMwg5FsaoQA", KEY]).unwrap();
        assert_eq!(check(&rotated, Some(URL), SIGNATURE, BODY), Ok(()));
        let behind_proxy = SquareSignatureValidator::new(KEY)
            .unwrap()
            .public_url("https://webhook.site");
        let seen = "http://127.0.0.1:3000/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";
        assert_eq!(check(&behind_proxy, Some(seen), SIGNATURE, BODY), Ok(()));
        assert!(behind_proxy.needs_url());
    }

    #[test]
    fn square_sdk_negative_cases() {
        let validator = SquareSignatureValidator::new(KEY).unwrap();
        let no_match = Err(SignatureError::NoMatchingSignature);
        // test_signature_validation_url_mismatch.
        let other_url = "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9";
        assert_eq!(
            check(&validator, Some(other_url), SIGNATURE, BODY),
            no_match
        );
        // test_signature_validation_invalid_signature_key.
        let other_key = SquareSignatureValidator::new("MCmhFRxGX82xMwg5FsaoQA").unwrap();
        assert_eq!(check(&other_key, Some(URL), SIGNATURE, BODY), no_match);
        // test_signature_validation_invalid_signature_header: a 20-byte value.
        assert!(matches!(
            check(&validator, Some(URL), "1z2n3DEJJiUPKcPzQo1ftvbxGdw=", BODY),
            Err(SignatureError::MalformedHeader { .. })
        ));
        // test_signature_validation_body_mismatch: another created_at.
        let changed = String::from_utf8_lossy(BODY).replace("2022-07-13", "2022-06-13");
        assert_eq!(
            check(&validator, Some(URL), SIGNATURE, changed.as_bytes()),
            no_match
        );
        // test_signature_validation_body_formatted: the same JSON, pretty-printed.
        let value: serde_json::Value = serde_json::from_slice(BODY).unwrap();
        let pretty = serde_json::to_vec_pretty(&value).unwrap();
        assert_eq!(check(&validator, Some(URL), SIGNATURE, &pretty), no_match);
        assert!(matches!(
            check(&validator, Some(URL), &SIGNATURE[..40], BODY),
            Err(SignatureError::MalformedHeader { .. })
        ));
        assert_eq!(
            check(&validator, None, SIGNATURE, BODY),
            Err(SignatureError::MissingUrl)
        );
        let no_headers = Headers::new();
        let request = SignedRequest::new(&no_headers, BODY).with_url(URL);
        assert_eq!(
            validator.verify(&request),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER.into()))
        );
    }

    #[test]
    fn the_host_cannot_move_the_signed_path() {
        // Signed for /other; a Host header carrying `?` or `/` would have
        // turned the real path into a query or appended to it.
        let signed_for = "https://webhook.site/other";
        let signature = SquareSignatureValidator::sign(KEY.as_bytes(), signed_for, BODY);
        let behind_proxy = SquareSignatureValidator::new(KEY)
            .unwrap()
            .public_url("https://webhook.site");
        let direct = SquareSignatureValidator::new(KEY).unwrap();
        for seen in [
            "/679a4f3a",
            "http://x?a=/679a4f3a",
            "http://x/other?/679a4f3a",
        ] {
            for validator in [&behind_proxy, &direct] {
                assert!(
                    check(validator, Some(seen), &signature, BODY).is_err(),
                    "{seen}"
                );
            }
        }
        // A path alone verifies with the public URL and not without it.
        let path = "/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";
        assert_eq!(check(&behind_proxy, Some(path), SIGNATURE, BODY), Ok(()));
        assert!(matches!(
            check(&direct, Some(path), SIGNATURE, BODY),
            Err(SignatureError::UnverifiableUrl(_))
        ));
        assert_eq!(
            SquareSignatureValidator::new("").unwrap_err(),
            InvalidSecret::Empty { number: 1 }
        );
    }

    #[test]
    fn describe_reads_event_id_and_type() {
        let validator = SquareSignatureValidator::new(KEY).unwrap();
        let headers = Headers::new();
        let meta = validator
            .describe(&SignedRequest::new(&headers, BODY))
            .unwrap();
        assert_eq!(
            meta,
            EventMeta::new(
                "ac3ac95b-f97d-458c-a6e6-18981597e05f",
                "webhooks.test_notification"
            )
        );
        assert!(
            validator
                .describe(&SignedRequest::new(&headers, br#"{"event_id":"x"}"#))
                .is_err()
        );
    }
}
