//! GitHub: `X-Hub-Signature-256: sha256=<hex>`, the generic HMAC scheme
//! in GitHub's header; what is GitHub's own is where the id and event type are.

use http::HeaderName;

use super::{
    BodyHasher, EventMeta, EventParseError, HmacSignatureValidator, SignatureError,
    SignatureValidator, SignedRequest, named_header_value, pick_json,
};
use crate::{Headers, InvalidSecret, Secrets};

const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
const SIGNATURE_PREFIX: &str = "sha256=";

// The headers read on every delivery, as names that need no parsing.
const EVENT: HeaderName = HeaderName::from_static("x-github-event");
const DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");

/// Events whose payload has no `action` (GitHub Docs, "Webhook events and
/// payloads": their property tables list none), so their body is not read
/// here at all; `push` bodies are the largest GitHub sends. Every other
/// event's body is read up to its `action`, which GitHub sends first.
const EVENTS_WITHOUT_ACTION: &[&str] = &[
    "create",
    "delete",
    "fork",
    "gollum",
    "page_build",
    "ping",
    "public",
    "push",
    "status",
];

/// Verifies GitHub's `X-Hub-Signature-256` (hex HMAC-SHA256 of the body).
///
/// The delivery id is the `X-GitHub-Delivery` header; the event type is the
/// `X-GitHub-Event` header joined with the payload's `action` when there is
/// one (`issues.opened`), and a listener for `issues` receives every
/// `issues.*` event.
///
/// ```
/// use webhooks_core::{GitHubSignatureValidator, Headers, SignatureValidator, SignedRequest};
///
/// let validator = GitHubSignatureValidator::new("It's a Secret to Everybody")?;
/// let headers = Headers::new().with("X-Hub-Signature-256", "sha256=0000");
/// assert!(validator.verify(&SignedRequest::new(&headers, b"Hello, World!")).is_err());
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct GitHubSignatureValidator {
    /// The signature check: the generic scheme in GitHub's header. Its own
    /// extraction is unused; [`GitHubSignatureValidator::describe`] reads
    /// GitHub's headers instead.
    signature: HmacSignatureValidator,
}

impl GitHubSignatureValidator {
    /// A validator accepting any of these secrets; an error when none is
    /// given or one is empty.
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            signature: HmacSignatureValidator::new(secrets)?
                .header(SIGNATURE_HEADER)
                .prefix(SIGNATURE_PREFIX),
        })
    }

    /// The `X-Hub-Signature-256` value GitHub sends for `body`.
    pub fn sign(secret: &[u8], body: &[u8]) -> String {
        format!(
            "{SIGNATURE_PREFIX}{}",
            HmacSignatureValidator::sign(secret, body)
        )
    }
}

impl SignatureValidator for GitHubSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        self.signature.verify(request)
    }

    fn body_hasher(&self, headers: &Headers, url: Option<&str>) -> Option<BodyHasher> {
        self.signature.body_hasher(headers, url)
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let headers = request.headers();
        let event = named_header_value(headers, &EVENT)
            .ok_or_else(|| EventParseError::MissingHeader("X-GitHub-Event".into()))?;
        let id = named_header_value(headers, &DELIVERY)
            .map_or_else(|| super::body_sha256_key(request.body()), str::to_owned);
        let action = if EVENTS_WITHOUT_ACTION.contains(&event) {
            None
        } else {
            let [action] = pick_json(request.body(), ["action"])?;
            action
        };
        let event_type = match action {
            Some(action) => format!("{event}.{action}"),
            None => event.to_owned(),
        };
        Ok(EventMeta { id, event_type })
    }

    fn event_families(&self) -> bool {
        true
    }

    fn scheme(&self) -> &'static str {
        "github"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // GitHub Docs, "Validating webhook deliveries", section "Testing the
    // webhook payload validation": secret "It's a Secret to Everybody",
    // payload "Hello, World!", expected signature below.
    const DOCS_SECRET: &str = "It's a Secret to Everybody";
    const DOCS_BODY: &[u8] = b"Hello, World!";
    const DOCS_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn verify(
        validator: &GitHubSignatureValidator,
        signature: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let headers = Headers::new().with(SIGNATURE_HEADER, signature);
        validator.verify(&SignedRequest::new(&headers, body))
    }

    #[test]
    fn github_docs_vector() {
        assert_eq!(
            GitHubSignatureValidator::sign(DOCS_SECRET.as_bytes(), DOCS_BODY),
            DOCS_SIGNATURE
        );
        let validator = GitHubSignatureValidator::new(DOCS_SECRET).unwrap();
        assert_eq!(verify(&validator, DOCS_SIGNATURE, DOCS_BODY), Ok(()));
    }

    #[test]
    fn negative_cases() {
        let validator = GitHubSignatureValidator::new(["rotated", DOCS_SECRET]).unwrap();
        assert_eq!(verify(&validator, DOCS_SIGNATURE, DOCS_BODY), Ok(()));
        assert_eq!(
            verify(&validator, DOCS_SIGNATURE, b"Hello, World?"),
            Err(SignatureError::NoMatchingSignature)
        );
        assert_eq!(
            verify(
                &GitHubSignatureValidator::new("wrong").unwrap(),
                DOCS_SIGNATURE,
                DOCS_BODY
            ),
            Err(SignatureError::NoMatchingSignature)
        );
        // The SHA-1 header form is not accepted in the SHA-256 header.
        assert!(matches!(
            verify(
                &validator,
                "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59",
                DOCS_BODY
            ),
            Err(SignatureError::MalformedHeader { .. })
        ));
        assert!(matches!(
            verify(&validator, &DOCS_SIGNATURE[..70], DOCS_BODY),
            Err(SignatureError::MalformedHeader { .. })
        ));
        let error = validator
            .verify(&SignedRequest::new(&Headers::new(), DOCS_BODY))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "missing signature header `X-Hub-Signature-256`"
        );
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(
            GitHubSignatureValidator::new("").unwrap_err(),
            InvalidSecret::Empty { number: 1 }
        );
    }

    #[test]
    fn event_type_joins_the_action() {
        let validator = GitHubSignatureValidator::new(DOCS_SECRET).unwrap();
        let headers = Headers::new()
            .with("X-GitHub-Event", "issues")
            .with("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
        let meta = validator
            .describe(&SignedRequest::new(
                &headers,
                br#"{"action":"opened","issue":{"action":"x"}}"#,
            ))
            .unwrap();
        assert_eq!(
            meta,
            EventMeta::new("72d3162e-cc78-11e3-81ab-4c9367dc0958", "issues.opened")
        );
        let push = validator
            .describe(&SignedRequest::new(
                &headers.clone().with("X-GitHub-Event", "push"),
                br#"{"ref":"x"}"#,
            ))
            .unwrap();
        assert_eq!(push.event_type, "issues");
        // A listener for `issues` receives `issues.opened`.
        let issues = crate::listener::EventPattern::parse("issues").unwrap();
        assert!(issues.matches(&meta.event_type, validator.event_families()));
        assert!(
            validator
                .describe(&SignedRequest::new(&Headers::new(), b"{}"))
                .is_err()
        );
    }

    #[test]
    fn bodies_of_events_without_action_are_not_read() {
        let validator = GitHubSignatureValidator::new(DOCS_SECRET).unwrap();
        let headers = |event: &str| {
            Headers::new()
                .with("X-GitHub-Event", event)
                .with("X-GitHub-Delivery", "d-1")
        };
        // A form-encoded push (GitHub's other content type) is described
        // from its headers alone.
        let push = validator
            .describe(&SignedRequest::new(&headers("push"), b"payload=%7B%7D"))
            .unwrap();
        assert_eq!(push, EventMeta::new("d-1", "push"));
        assert!(
            validator
                .describe(&SignedRequest::new(&headers("issues"), b"payload=%7B%7D"))
                .is_err()
        );
    }
}
