//! What the generic HMAC scheme signs when its sender also sends a
//! timestamp: a template of the timestamp, the body and literal text.

use std::fmt;
use std::str::FromStr;

const TIMESTAMP: &str = "{timestamp}";
const BODY: &str = "{body}";

/// What a timestamped [`HmacSignatureValidator`](crate::HmacSignatureValidator)
/// signs: a template where `{timestamp}` stands for the timestamp header's
/// value as sent and `{body}` for the raw body; anything else is literal.
/// The default is `{timestamp}.{body}`, the scheme many partners use.
///
/// `{body}` must appear exactly once, and `{timestamp}` at least once: a
/// template without it would leave the timestamp unsigned, so anyone could
/// make an old delivery look fresh.
///
/// ```
/// use webhooks_core::{InvalidSignedPayload, SignedPayload};
///
/// let payload: SignedPayload = "v1:{timestamp}:{body}".parse()?;
/// assert_eq!(payload.to_string(), "v1:{timestamp}:{body}");
/// assert_eq!(SignedPayload::default().to_string(), "{timestamp}.{body}");
/// assert_eq!("{timestamp}".parse::<SignedPayload>(), Err(InvalidSignedPayload::NoBody));
/// # Ok::<(), InvalidSignedPayload>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPayload {
    template: String,
    parts: Vec<Part>,
}

/// A piece of the signed payload.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Timestamp,
    Body,
}

/// A signed-payload template that cannot be used; see [`SignedPayload`].
///
/// ```
/// use webhooks_core::{InvalidSignedPayload, SignedPayload};
///
/// let error = "{body}.{body}".parse::<SignedPayload>().unwrap_err();
/// assert_eq!(error, InvalidSignedPayload::BodyTwice);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidSignedPayload {
    /// `{body}` does not appear.
    #[error("the signed payload has no `{{body}}`")]
    NoBody,
    /// `{body}` appears more than once.
    #[error("the signed payload has `{{body}}` more than once")]
    BodyTwice,
    /// `{timestamp}` does not appear, so the timestamp would not be signed.
    #[error("the signed payload has no `{{timestamp}}`, so the timestamp would not be signed")]
    NoTimestamp,
}

impl SignedPayload {
    /// The pieces to hash, in order, for this timestamp text and body.
    pub(crate) fn pieces<'a>(&'a self, timestamp: &'a str, body: &'a [u8]) -> Vec<&'a [u8]> {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.as_bytes(),
                Part::Timestamp => timestamp.as_bytes(),
                Part::Body => body,
            })
            .collect()
    }

    /// The pieces signed before the body, when the body is signed last
    /// (so that it can be hashed as it arrives); `None` when text follows it.
    pub(crate) fn prefix<'a>(&'a self, timestamp: &'a str) -> Option<Vec<&'a [u8]>> {
        let (last, before) = self.parts.split_last()?;
        if *last != Part::Body {
            return None;
        }
        let mut pieces = self.pieces(timestamp, &[]);
        pieces.truncate(before.len());
        Some(pieces)
    }
}

impl Default for SignedPayload {
    fn default() -> Self {
        Self {
            template: format!("{TIMESTAMP}.{BODY}"),
            parts: vec![Part::Timestamp, Part::Literal(".".into()), Part::Body],
        }
    }
}

impl FromStr for SignedPayload {
    type Err = InvalidSignedPayload;

    fn from_str(template: &str) -> Result<Self, Self::Err> {
        let mut parts = Vec::new();
        let (mut bodies, mut timestamps) = (0, 0);
        let mut rest = template;
        loop {
            let next = [TIMESTAMP, BODY]
                .into_iter()
                .filter_map(|placeholder| Some((rest.find(placeholder)?, placeholder)))
                .min();
            let literal = next.map_or(rest, |(at, _)| &rest[..at]);
            if !literal.is_empty() {
                parts.push(Part::Literal(literal.to_owned()));
            }
            let Some((at, placeholder)) = next else {
                break;
            };
            if placeholder == BODY {
                bodies += 1;
                parts.push(Part::Body);
            } else {
                timestamps += 1;
                parts.push(Part::Timestamp);
            }
            rest = &rest[at + placeholder.len()..];
        }
        match (bodies, timestamps) {
            (0, _) => Err(InvalidSignedPayload::NoBody),
            (2.., _) => Err(InvalidSignedPayload::BodyTwice),
            (_, 0) => Err(InvalidSignedPayload::NoTimestamp),
            _ => Ok(Self {
                template: template.to_owned(),
                parts,
            }),
        }
    }
}

impl fmt::Display for SignedPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Clock, Headers, HmacSignatureValidator, SignatureError, SignatureValidator, SignedRequest,
    };

    #[test]
    fn a_template_displays_as_written() {
        let template = "v0:{timestamp}:{body}";
        let parsed: SignedPayload = template.parse().unwrap();
        assert_eq!(parsed.to_string(), template);
        assert_eq!(SignedPayload::default().to_string(), "{timestamp}.{body}");
    }

    fn signed(template: &str) -> Result<Vec<u8>, InvalidSignedPayload> {
        let payload: SignedPayload = template.parse()?;
        Ok(payload.pieces("1700000000", b"{\"a\":1}").concat())
    }

    #[test]
    fn placeholders_are_filled_and_the_rest_is_literal() {
        assert_eq!(
            signed("{timestamp}.{body}").unwrap(),
            b"1700000000.{\"a\":1}"
        );
        assert_eq!(
            signed("{timestamp}.{body}"),
            Ok(SignedPayload::default()
                .pieces("1700000000", b"{\"a\":1}")
                .concat())
        );
        assert_eq!(
            signed("v1:{timestamp}:{body}:{timestamp}{x}").unwrap(),
            b"v1:1700000000:{\"a\":1}:1700000000{x}"
        );
        assert_eq!(signed("{body}{timestamp}").unwrap(), b"{\"a\":1}1700000000");
        assert_eq!(
            signed("{{timestamp}}{body}").unwrap(),
            b"{1700000000}{\"a\":1}"
        );
    }

    #[test]
    fn body_once_and_timestamp_at_least_once() {
        assert_eq!(signed("{timestamp}."), Err(InvalidSignedPayload::NoBody));
        assert_eq!(signed(""), Err(InvalidSignedPayload::NoBody));
        assert_eq!(
            signed("{timestamp}{body}{body}"),
            Err(InvalidSignedPayload::BodyTwice)
        );
        assert_eq!(signed("{body}"), Err(InvalidSignedPayload::NoTimestamp));
        assert_eq!(
            signed("{Timestamp}.{body}"),
            Err(InvalidSignedPayload::NoTimestamp)
        );
    }

    // Computed independently of this code:
    // printf '%s' '1700000000.{"type":"order.paid","id":"ord_1"}' | openssl dgst -sha256 -hmac partner-secret
    // printf '%s' 'v1:1700000000:{"type":"order.paid","id":"ord_1"}' | openssl dgst -sha256 -hmac partner-secret
    const STAMPED_BODY: &[u8] = br#"{"type":"order.paid","id":"ord_1"}"#;
    const STAMPED: &str = "d30139783e2a0b059136aa2dfdcafa466a77a17b8bb14d3ea179d9dce8c502e1";
    const STAMPED_V1: &str = "d3a6e601e0704b7850cd22818207861aeff0dda4346cdae1a0536895db24c8a4";
    const SIGNED_AT: i64 = 1_700_000_000;

    fn stamped(now: i64) -> HmacSignatureValidator {
        HmacSignatureValidator::new("partner-secret")
            .unwrap()
            .timestamp_header("X-Webhook-Timestamp")
            .clock(Clock::fixed(now))
    }

    fn verify_stamped(
        validator: &HmacSignatureValidator,
        timestamp: Option<&str>,
        signature: &str,
    ) -> Result<(), SignatureError> {
        let mut headers = Headers::new().with("X-Signature", &format!("sha256={signature}"));
        if let Some(timestamp) = timestamp {
            headers = headers.with("X-Webhook-Timestamp", timestamp);
        }
        validator.verify(&SignedRequest::new(&headers, STAMPED_BODY))
    }

    #[test]
    fn timestamped_hand_computed_vectors() {
        let default = SignedPayload::default();
        assert_eq!(
            HmacSignatureValidator::sign_timestamped(
                b"partner-secret",
                &default,
                SIGNED_AT,
                STAMPED_BODY
            ),
            STAMPED
        );
        let ts = SIGNED_AT.to_string();
        assert_eq!(
            verify_stamped(&stamped(SIGNED_AT + 5), Some(&ts), STAMPED),
            Ok(())
        );
        let v1 = stamped(SIGNED_AT).signed_payload("v1:{timestamp}:{body}".parse().unwrap());
        assert_eq!(verify_stamped(&v1, Some(&ts), STAMPED_V1), Ok(()));
        assert_eq!(
            verify_stamped(&v1, Some(&ts), STAMPED),
            Err(SignatureError::NoMatchingSignature)
        );
        // Without a timestamp header, the body alone is signed.
        let plain = HmacSignatureValidator::new("partner-secret").unwrap();
        assert_eq!(
            verify_stamped(&plain, Some(&ts), STAMPED),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn timestamped_refusals_each_with_its_cause() {
        let ts = SIGNED_AT.to_string();
        // The timestamp is signed: another one breaks the signature.
        let moved = (SIGNED_AT + 1).to_string();
        assert_eq!(
            verify_stamped(&stamped(SIGNED_AT), Some(&moved), STAMPED),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            verify_stamped(&stamped(SIGNED_AT), None, STAMPED),
            Err(SignatureError::MissingHeader("X-Webhook-Timestamp".into()))
        );
        assert_eq!(
            verify_stamped(&stamped(SIGNED_AT), Some("soon"), STAMPED),
            Err(SignatureError::MalformedHeader {
                header: "X-Webhook-Timestamp".into(),
                reason: "timestamp is not an integer"
            })
        );
        // A replay an hour later, and 300 s either way is the edge.
        assert_eq!(
            verify_stamped(&stamped(SIGNED_AT + 3600), Some(&ts), STAMPED),
            Err(SignatureError::TimestampOutsideTolerance {
                tolerance_seconds: 300,
                skew_seconds: 3600
            })
        );
        assert_eq!(
            verify_stamped(&stamped(SIGNED_AT - 300), Some(&ts), STAMPED),
            Ok(())
        );
        assert!(verify_stamped(&stamped(SIGNED_AT + 301), Some(&ts), STAMPED).is_err());
        let strict = stamped(SIGNED_AT + 10).tolerance_seconds(5);
        assert!(matches!(
            verify_stamped(&strict, Some(&ts), STAMPED),
            Err(SignatureError::TimestampOutsideTolerance { .. })
        ));
    }
}
