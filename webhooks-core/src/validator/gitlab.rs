//! GitLab: the secret token itself in `X-Gitlab-Token`.

use sha2::{Digest, Sha256};

use super::{
    EventMeta, EventParseError, SignatureError, SignatureValidator, SignedRequest, body_sha256_key,
    digests_equal, header_value,
};
use crate::{InvalidSecret, Secrets};

const TOKEN_HEADER: &str = "X-Gitlab-Token";

/// Verifies GitLab's webhook secret token: GitLab sends the configured token
/// as is in `X-Gitlab-Token` (it signs nothing), and it is compared with each
/// configured secret in constant time (both are hashed first, so not even
/// their lengths are compared directly).
///
/// The delivery id is the `Idempotency-Key` header (the same on every retry
/// of a delivery), else `X-Gitlab-Event-UUID`; the event type is the
/// `X-Gitlab-Event` header (`Push Hook`).
///
/// ```
/// use webhooks_core::{GitLabSignatureValidator, Headers, SignatureValidator, SignedRequest};
///
/// let headers = Headers::new()
///     .with("X-Gitlab-Token", &GitLabSignatureValidator::sign("s3cret-token"))
///     .with("X-Gitlab-Event", "Push Hook")
///     .with("Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f");
/// let validator = GitLabSignatureValidator::new("s3cret-token")?;
/// let request = SignedRequest::new(&headers, b"{}");
/// assert!(validator.verify(&request).is_ok());
/// assert_eq!(validator.describe(&request).unwrap().event_type, "Push Hook");
/// # Ok::<(), webhooks_core::InvalidSecret>(())
/// ```
#[derive(Debug, Clone)]
pub struct GitLabSignatureValidator {
    secrets: Secrets,
}

impl GitLabSignatureValidator {
    /// A validator accepting any of these secret tokens; an error when
    /// none is given or one is empty (an empty `X-Gitlab-Token` would pass).
    pub fn new(secrets: impl Into<Secrets>) -> Result<Self, InvalidSecret> {
        Ok(Self {
            secrets: secrets.into().non_empty()?,
        })
    }

    /// The `X-Gitlab-Token` value GitLab sends: the secret token itself.
    pub fn sign(secret_token: &str) -> String {
        secret_token.to_owned()
    }
}

impl SignatureValidator for GitLabSignatureValidator {
    fn verify(&self, request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        let given = request
            .headers()
            .get_bytes(TOKEN_HEADER)
            .ok_or_else(|| SignatureError::MissingHeader(TOKEN_HEADER.into()))?;
        let given = Sha256::digest(given);
        let matches = self
            .secrets
            .iter()
            .any(|secret| digests_equal(&Sha256::digest(secret.expose()), &given));
        if matches {
            Ok(())
        } else {
            Err(SignatureError::NoMatchingSignature)
        }
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        let headers = request.headers();
        let event_type = header_value(headers, "X-Gitlab-Event")
            .ok_or_else(|| EventParseError::MissingHeader("X-Gitlab-Event".into()))?;
        let id = ["Idempotency-Key", "X-Gitlab-Event-UUID"]
            .into_iter()
            .find_map(|name| header_value(headers, name))
            .map_or_else(|| body_sha256_key(request.body()), str::to_owned);
        Ok(EventMeta::new(id, event_type))
    }

    fn scheme(&self) -> &'static str {
        "gitlab"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    // GitLab docs, "Webhooks" (delivery headers, secret token): the header
    // names, and that the token is sent unchanged in `X-Gitlab-Token`. GitLab
    // publishes no signature vector because it signs nothing; the ids below
    // are made up in the shape GitLab sends (UUIDs).
    const TOKEN: &str = "My-S3cret-Token";

    fn verify(secrets: impl Into<Secrets>, token: Option<&str>) -> Result<(), SignatureError> {
        let mut headers = Headers::new().with("X-Gitlab-Event", "Push Hook");
        if let Some(token) = token {
            headers = headers.with(TOKEN_HEADER, token);
        }
        GitLabSignatureValidator::new(secrets)
            .unwrap()
            .verify(&SignedRequest::new(&headers, b"{}"))
    }

    #[test]
    fn the_token_is_compared_whole() {
        assert_eq!(GitLabSignatureValidator::sign(TOKEN), TOKEN);
        assert_eq!(verify(TOKEN, Some(TOKEN)), Ok(()));
        assert_eq!(verify(["rotated", TOKEN], Some(TOKEN)), Ok(()));
        let no_match = Err(SignatureError::NoMatchingSignature);
        assert_eq!(verify(TOKEN, Some("wrong")), no_match);
        assert_eq!(verify(TOKEN, Some(&TOKEN[..TOKEN.len() - 1])), no_match);
        assert_eq!(verify(TOKEN, Some(&format!("{TOKEN}x"))), no_match);
        assert_eq!(verify(TOKEN, Some(&TOKEN.to_lowercase())), no_match);
        assert_eq!(verify(TOKEN, Some("")), no_match);
        assert_eq!(
            verify(TOKEN, None),
            Err(SignatureError::MissingHeader(TOKEN_HEADER.into()))
        );
    }

    #[test]
    fn an_empty_token_is_refused() {
        assert_eq!(
            GitLabSignatureValidator::new([TOKEN, ""]).unwrap_err(),
            InvalidSecret::Empty { number: 2 }
        );
    }

    #[test]
    fn describe_prefers_the_idempotency_key() {
        let validator = GitLabSignatureValidator::new(TOKEN).unwrap();
        let headers = Headers::new()
            .with("X-Gitlab-Event", "Merge Request Hook")
            .with(
                "X-Gitlab-Event-UUID",
                "13792a34-cac6-4fda-95a8-c58e00a3954e",
            )
            .with("Idempotency-Key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f");
        let meta = validator
            .describe(&SignedRequest::new(&headers, b"{}"))
            .unwrap();
        assert_eq!(
            meta,
            EventMeta::new("f5e5f430-f57b-4e6e-9fac-d9128cd7232f", "Merge Request Hook")
        );
        let uuid_only = Headers::new().with("X-Gitlab-Event", "Push Hook").with(
            "X-Gitlab-Event-UUID",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        );
        let meta = validator
            .describe(&SignedRequest::new(&uuid_only, b"{}"))
            .unwrap();
        assert_eq!(meta.id, "13792a34-cac6-4fda-95a8-c58e00a3954e");
        let bare = Headers::new().with("X-Gitlab-Event", "Push Hook");
        assert_eq!(
            validator
                .describe(&SignedRequest::new(&bare, b"{}"))
                .unwrap()
                .id,
            body_sha256_key(b"{}")
        );
        assert!(
            validator
                .describe(&SignedRequest::new(&Headers::new(), b"{}"))
                .is_err()
        );
    }
}
