//! Twilio: `X-Twilio-Signature`, HMAC-SHA1 over the URL and the sorted
//! form parameters.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::keys::{decode_base64_digest, decode_hex_array, encode_base64};
use super::url::{parse_form_at_most, public_url, query_param, url_variants};
use super::{
    EventMeta, EventParseError, SignatureError, SignatureValidator, SignedRequest, body_sha256_key,
    digests_equal, header_value,
};
use crate::{InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The most form parameters a delivery may post. Twilio posts a few dozen;
/// a form holding more is refused before it is decoded or sorted.
const MAX_FORM_PARAMETERS: usize = 1000;

/// Verifies Twilio's `X-Twilio-Signature`: the base64 HMAC-SHA1, under the
/// account's auth token, of the full public URL followed by each POST
/// parameter's name and value, sorted by name.
///
/// When the URL carries a `bodySHA256` query parameter (JSON bodies), the
/// body is checked against it and no parameter is appended. As Twilio's SDKs
/// do, the URL is tried as given, without its port, and with the default
/// port of its scheme (`:443`, `:80`) added.
///
/// Twilio signs the URL it called, which a server behind a proxy does not
/// see: [`TwilioSignatureValidator::public_url`] sets the public base
/// (`https://example.com`), and the path and query of the request are
/// appended to it, whatever the `Host` header says. Without it, the URL is
/// the one the transport rebuilt from a plain `Host` header, or the request
/// is refused. A form of more than 1,000 parameters is refused unread (401:
/// no genuine delivery is that large, and it cannot be verified without
/// decoding and sorting it all). The delivery id is the `I-Twilio-Idempotency-Token`
/// header, else the body's SHA-256; Twilio sends no event type (listen with
/// `event = "*"`).
///
/// ```
/// use webhooks_core::{Headers, SignatureValidator, SignedRequest, TwilioSignatureValidator};
///
/// let url = "https://example.com/webhooks/twilio";
/// let body = b"CallSid=CA1234567890ABCDE&From=%2B14158675309";
/// let signature = TwilioSignatureValidator::sign(b"auth-token", url, &[("CallSid", "CA1234567890ABCDE"), ("From", "+14158675309")]);
/// let headers = Headers::new().with("X-Twilio-Signature", &signature);
/// let validator = TwilioSignatureValidator::new("auth-token")?.public_url("https://example.com");
/// // The transport sees the internal address; the public base replaces it.
/// let request = SignedRequest::new(&headers, body).with_url("http://10.0.0.7:3000/webhooks/twilio");
/// assert!(validator.verify(&request).is_ok());
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct TwilioSignatureValidator {
    secrets: Secrets,
    public_url: Option<String>,
}

impl TwilioSignatureValidator {
    /// A validator accepting any of these auth tokens; an error when none
    /// is given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
            public_url: None,
        })
    }

    /// The public base URL Twilio calls (`https://example.com`, optionally
    /// with a path prefix); the request's path and query are appended.
    #[must_use]
    pub fn public_url(mut self, base: impl Into<String>) -> Self {
        self.public_url = Some(base.into());
        self
    }

    /// The `X-Twilio-Signature` Twilio sends when it posts the form
    /// parameters `params` to `url`.
    pub fn sign(auth_token: &[u8], url: &str, params: &[(&str, &str)]) -> String {
        let params = sorted_params(params.to_vec());
        encode_base64(&hmac_sha1(auth_token, &[url.as_bytes(), &params]))
    }

    /// What Twilio sends with a JSON `body` for `url`: the URL with the
    /// body's `bodySHA256` appended to its query, and the signature.
    pub fn sign_json(auth_token: &[u8], url: &str, body: &[u8]) -> (String, String) {
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{url}{separator}bodySHA256={}",
            hex::encode(Sha256::digest(body))
        );
        let signature = encode_base64(&hmac_sha1(auth_token, &[url.as_bytes()]));
        (url, signature)
    }
}

/// HMAC-SHA1 of the concatenated `parts`.
fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// What follows the URL in the signed data: every distinct name and value
/// pair, sorted by name, then value (the order of twilio-python's
/// `compute_signature`), each name followed by its value. Sorted once per
/// request, whatever the number of URLs and secrets tried.
fn sorted_params<S: AsRef<str> + Ord>(mut pairs: Vec<(S, S)>) -> Vec<u8> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut data = Vec::new();
    for (name, value) in &pairs {
        data.extend_from_slice(name.as_ref().as_bytes());
        data.extend_from_slice(value.as_ref().as_bytes());
    }
    data
}

impl SignatureValidator for TwilioSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let value = request
            .headers()
            .get(SIGNATURE_HEADER)
            .ok_or_else(|| SignatureError::MissingHeader(SIGNATURE_HEADER.into()))?;
        let given = decode_base64_digest::<20>(value).ok_or(SignatureError::MalformedHeader {
            header: SIGNATURE_HEADER.into(),
            reason: "expected the base64 of a 20-byte digest",
        })?;
        let seen = request.url().ok_or(SignatureError::MissingUrl)?;
        let url = public_url(self.public_url.as_deref(), seen)?;
        let params = match query_param(&url, "bodySHA256") {
            Some(declared) => {
                let actual: [u8; 32] = Sha256::digest(request.body()).into();
                let body_matches = decode_hex_array::<32>(&declared)
                    .is_some_and(|declared| digests_equal(&declared, &actual));
                if !body_matches {
                    return Err(SignatureError::NoMatchingSignature);
                }
                Vec::new()
            }
            None => parse_form_at_most(request.body(), MAX_FORM_PARAMETERS)
                .map(sorted_params)
                .ok_or(SignatureError::UnverifiableBody(
                    "more than 1000 form parameters",
                ))?,
        };
        let matches = url_variants(&url).iter().any(|candidate| {
            let signed = [candidate.as_bytes(), params.as_slice()];
            self.secrets
                .iter()
                .any(|secret| digests_equal(&hmac_sha1(secret.expose(), &signed), &given))
        });
        if matches {
            Ok(())
        } else {
            Err(SignatureError::NoMatchingSignature)
        }
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let id = header_value(request.headers(), "I-Twilio-Idempotency-Token")
            .map_or_else(|| body_sha256_key(request.body()), str::to_owned);
        Ok(EventMeta::new(id, ""))
    }

    fn needs_url(&self) -> bool {
        true
    }

    fn scheme(&self) -> &'static str {
        "twilio"
    }
}

#[cfg(test)]
mod tests {
    use super::super::url::parse_form;
    use super::*;
    use crate::Headers;

    // twilio-python, tests/unit/test_request_validator.py: auth token "12345",
    // this URI and these parameters (form-encoded here, as Twilio posts
    // them), and the expected signatures of each test quoted below.
    const TOKEN: &str = "12345";
    const URI: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const FORM: &[u8] =
        b"CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
    const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
    const JSON_BODY: &[u8] = br#"{"property": "value", "boolean": true}"#;
    const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

    fn check(
        validator: &TwilioSignatureValidator,
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
    fn twilio_python_vectors() {
        let validator = TwilioSignatureValidator::new(TOKEN).unwrap();
        let params = parse_form(FORM);
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // test_compute_signature / test_validation.
        assert_eq!(
            TwilioSignatureValidator::sign(TOKEN.as_bytes(), URI, &pairs),
            EXPECTED
        );
        assert_eq!(check(&validator, Some(URI), EXPECTED, FORM), Ok(()));
        // test_compute_signature_duplicate_multi_dict: sorted, distinct pairs.
        let duplicates = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234";
        assert_eq!(
            check(
                &validator,
                Some(URI),
                "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
                duplicates
            ),
            Ok(())
        );
        // test_validation_removes_port_on_https.
        let with_port = URI.replace(".com", ".com:1234");
        assert_eq!(check(&validator, Some(&with_port), EXPECTED, FORM), Ok(()));
        // test_validation_removes_port_on_http (signed with the port kept).
        let http_port = with_port.replace("https", "http");
        assert_eq!(
            check(
                &validator,
                Some(&http_port),
                "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
                FORM
            ),
            Ok(())
        );
        // test_validation_adds_port_on_https / _on_http.
        assert_eq!(
            check(&validator, Some(URI), "kvajT1Ptam85bY51eRf/AJRuM3w=", FORM),
            Ok(())
        );
        let http = URI.replace("https", "http");
        assert_eq!(
            check(
                &validator,
                Some(&http),
                "0ZXoZLH/DfblKGATFgpif+LLRf4=",
                FORM
            ),
            Ok(())
        );
        // test_compute_hash_unicode / test_validation_of_body_succeeds.
        let (with_hash, signature) =
            TwilioSignatureValidator::sign_json(TOKEN.as_bytes(), URI, JSON_BODY);
        assert_eq!(with_hash, format!("{URI}&bodySHA256={BODY_HASH}"));
        assert_eq!(signature, "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert_eq!(
            check(&validator, Some(&with_hash), &signature, JSON_BODY),
            Ok(())
        );
    }

    #[test]
    fn public_url_replaces_the_seen_origin() {
        let internal = "http://10.0.0.7:3000/myapp.php?foo=1&bar=2";
        let behind_proxy = TwilioSignatureValidator::new(TOKEN)
            .unwrap()
            .public_url("https://mycompany.com/");
        assert_eq!(check(&behind_proxy, Some(internal), EXPECTED, FORM), Ok(()));
        let direct = TwilioSignatureValidator::new(TOKEN).unwrap();
        assert_eq!(
            check(&direct, Some(internal), EXPECTED, FORM),
            Err(SignatureError::NoMatchingSignature)
        );
        assert!(behind_proxy.needs_url());
    }

    #[test]
    fn negative_cases() {
        let validator = TwilioSignatureValidator::new(["rotated", TOKEN]).unwrap();
        let no_match = Err(SignatureError::NoMatchingSignature);
        assert_eq!(check(&validator, Some(URI), EXPECTED, FORM), Ok(()));
        assert_eq!(
            check(
                &TwilioSignatureValidator::new("54321").unwrap(),
                Some(URI),
                EXPECTED,
                FORM
            ),
            no_match
        );
        let tampered = b"CallSid=CA1234567890ABCDE&Digits=9999&From=%2B14158675309&To=%2B18005551212&Caller=%2B14158675309";
        assert_eq!(check(&validator, Some(URI), EXPECTED, tampered), no_match);
        assert_eq!(
            check(&validator, Some(&format!("{URI}&extra=1")), EXPECTED, FORM),
            no_match
        );
        assert_eq!(
            check(
                &validator,
                Some("https://mycompany.com:443/myapp.php?foo=1"),
                EXPECTED,
                FORM
            ),
            no_match
        );
        // A body that does not match its declared bodySHA256.
        let with_hash = format!("{URI}&bodySHA256={BODY_HASH}");
        let signature = "a9nBmqA0ju/hNViExpshrM61xv4=";
        assert_eq!(
            check(
                &validator,
                Some(&with_hash),
                signature,
                br#"{"property": "other"}"#
            ),
            no_match
        );
        let bad_hash = format!("{URI}&bodySHA256=nothex");
        assert_eq!(
            check(&validator, Some(&bad_hash), signature, JSON_BODY),
            no_match
        );
        // twilio-php testFailsWhenIncorrect ("FAIL"), and a truncated signature.
        for malformed in [&EXPECTED[..20], "FAIL"] {
            assert!(matches!(
                check(&validator, Some(URI), malformed, FORM),
                Err(SignatureError::MalformedHeader { .. })
            ));
        }
        assert_eq!(
            check(&validator, None, EXPECTED, FORM),
            Err(SignatureError::MissingUrl)
        );
        let no_headers = Headers::new();
        let request = SignedRequest::new(&no_headers, FORM).with_url(URI);
        assert_eq!(
            validator.verify(&request),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER.into()))
        );
    }

    #[test]
    fn a_form_of_more_than_1000_parameters_is_refused_unread() {
        let validator = TwilioSignatureValidator::new(TOKEN).unwrap();
        let params: Vec<(String, String)> = (0..1001)
            .map(|index| (format!("P{index}"), index.to_string()))
            .collect();
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let form = |pairs: &[(&str, &str)]| {
            let fields: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v}")).collect();
            fields.join("&")
        };
        let signed = TwilioSignatureValidator::sign(TOKEN.as_bytes(), URI, &pairs[..1000]);
        let body = form(&pairs[..1000]);
        assert_eq!(
            check(&validator, Some(URI), &signed, body.as_bytes()),
            Ok(())
        );
        let signed = TwilioSignatureValidator::sign(TOKEN.as_bytes(), URI, &pairs);
        assert_eq!(
            check(&validator, Some(URI), &signed, form(&pairs).as_bytes()),
            Err(SignatureError::UnverifiableBody(
                "more than 1000 form parameters"
            ))
        );
    }

    #[test]
    fn the_host_cannot_move_the_signed_path_or_query() {
        // Signed for /myapp.php?foo=1&bar=2; the request went to /other. A
        // Host header of `mycompany.com/myapp.php?foo=1&bar=2&x=` would
        // once have made the rebuilt URL match.
        let direct = TwilioSignatureValidator::new(TOKEN).unwrap();
        let behind_proxy = TwilioSignatureValidator::new(TOKEN)
            .unwrap()
            .public_url("https://mycompany.com");
        let hostile = crate::request_url(Some("mycompany.com/myapp.php?foo=1&bar=2&x="), "/other");
        assert_eq!(hostile, "/other");
        assert!(matches!(
            check(&direct, Some(&hostile), EXPECTED, FORM),
            Err(SignatureError::UnverifiableUrl(_))
        ));
        assert_eq!(
            check(&behind_proxy, Some(&hostile), EXPECTED, FORM),
            Err(SignatureError::NoMatchingSignature)
        );
        // What a transport that trusted the header would have passed.
        let naive = "http://mycompany.com/myapp.php?foo=1&bar=2&x=/other";
        assert_eq!(
            check(&behind_proxy, Some(naive), EXPECTED, FORM),
            Err(SignatureError::NoMatchingSignature)
        );
        let naive = "http://x?a=/myapp.php?foo=1&bar=2";
        for validator in [&direct, &behind_proxy] {
            assert!(matches!(
                check(validator, Some(naive), EXPECTED, FORM),
                Err(SignatureError::UnverifiableUrl(_))
            ));
        }
        // The right path alone verifies with the public URL.
        assert_eq!(
            check(
                &behind_proxy,
                Some("/myapp.php?foo=1&bar=2"),
                EXPECTED,
                FORM
            ),
            Ok(())
        );
        assert_eq!(
            TwilioSignatureValidator::new("").unwrap_err(),
            InvalidSecret::Empty { number: 1 }
        );
    }

    #[test]
    fn description() {
        let validator = TwilioSignatureValidator::new(TOKEN).unwrap();
        let headers = Headers::new().with(
            "I-Twilio-Idempotency-Token",
            "a6d1f6e4-7f2b-4b8a-9d8e-1c2b3a4d5e6f",
        );
        let meta = validator
            .describe(&SignedRequest::new(&headers, FORM))
            .unwrap();
        assert_eq!(
            meta,
            EventMeta::new("a6d1f6e4-7f2b-4b8a-9d8e-1c2b3a4d5e6f", "")
        );
        let meta = validator
            .describe(&SignedRequest::new(&Headers::new(), FORM))
            .unwrap();
        assert_eq!(meta.id, body_sha256_key(FORM));
    }
}
