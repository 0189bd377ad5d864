//! A configured source, looked up once by a transport.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::WebhookProcessor;
use crate::metrics::Received;
use crate::source::Source;
use crate::{BodyHasher, BodyMacs, Headers, ProcessError, Processed};

/// A configured source of a [`WebhookProcessor`], from
/// [`WebhookProcessor::route`].
#[derive(Debug, Clone, Copy)]
pub struct Route<'p> {
    pub(super) processor: &'p WebhookProcessor,
    pub(super) source: &'p Arc<Source>,
}

impl<'p> Route<'p> {
    /// The source name.
    pub fn source(&self) -> &'p str {
        &self.source.name
    }

    /// Whether the source's scheme signs the request URL, which
    /// [`Route::process`] must then be given.
    pub fn needs_url(&self) -> bool {
        self.source.validator.needs_url()
    }

    /// Whether the source accepts deliveries from `client`, the client's
    /// address as the transport established it (`None`: unknown). A source
    /// without `allow-ips` accepts every client, known or not; one with it
    /// accepts only the clients in it, and refuses an unknown one. A refusal
    /// is counted (`outcome="forbidden"`, `event_type="unknown"`) and is
    /// [`ProcessError::Forbidden`]: ask before reading the body, so that no
    /// signature work is done for a refused client.
    ///
    /// ```
    /// use webhooks_core::config::IpRanges;
    /// use webhooks_core::{GitHubSignatureValidator, ProcessError, WebhookProcessor};
    ///
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
    ///     .allow_ips("github", IpRanges::from_cidrs(["192.30.252.0/22"]).unwrap())
    ///     .build()
    ///     .unwrap();
    /// let route = processor.route("github").unwrap();
    /// assert!(route.admit(Some("192.30.252.1".parse().unwrap())).is_ok());
    /// assert!(matches!(route.admit(None), Err(ProcessError::Forbidden)));
    /// ```
    pub fn admit(&self, client: Option<IpAddr>) -> Result<(), ProcessError> {
        let Some(allowed) = &self.source.allow_ips else {
            return Ok(());
        };
        if client.is_some_and(|client| allowed.contains(client)) {
            return Ok(());
        }
        let metrics = self.processor.metrics();
        metrics.received(&self.source.name, "unknown", Received::Forbidden);
        crate::outcome::log_outcome(&Err(ProcessError::Forbidden));
        Err(ProcessError::Forbidden)
    }

    /// Whether the source has an `allow-ips` list, so that
    /// [`Route::admit`] needs the client's address.
    pub fn restricts_clients(&self) -> bool {
        self.source.allow_ips.is_some()
    }

    /// Processes a delivery to this source; `url` is the URL it was sent
    /// to, for schemes that sign it. It records the delivery's id, type,
    /// attempt and outcome in the current span: a transport opens one with
    /// [`crate::delivery_span`] around it.
    pub async fn process(
        &self,
        body: impl Into<Bytes>,
        headers: Headers,
        url: Option<&str>,
    ) -> Result<Processed, ProcessError> {
        self.process_hashed(body, headers, url, None).await
    }

    /// The states a transport that reads the body in frames feeds each
    /// frame to as it arrives, when the source's scheme signs a prefix
    /// known from the headers (and `url`) then the body
    /// ([`SignatureValidator::body_hasher`](crate::SignatureValidator::body_hasher));
    /// their MACs then go to [`Route::process_hashed`].
    ///
    /// ```
    /// use webhooks_core::{GitHubSignatureValidator, Headers, Processed, WebhookProcessor};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let processor = WebhookProcessor::builder()
    ///     .register_validator("github", GitHubSignatureValidator::new("secret").unwrap())
    ///     .build()
    ///     .unwrap();
    /// let route = processor.route("github").unwrap();
    /// let body = br#"{"zen":"Practicality beats purity."}"#;
    /// let headers = Headers::new()
    ///     .with("X-GitHub-Event", "ping")
    ///     .with("X-GitHub-Delivery", "d-1")
    ///     .with("X-Hub-Signature-256", &GitHubSignatureValidator::sign(b"secret", body));
    /// let mut hasher = route.body_hasher(&headers, None).unwrap();
    /// for frame in body.chunks(8) {
    ///     hasher.update(frame);
    /// }
    /// let processed = route.process_hashed(body.as_slice(), headers, None, Some(hasher.finish())).await;
    /// assert_eq!(processed.unwrap(), Processed::Accepted { id: "d-1".into() });
    /// # });
    /// ```
    pub fn body_hasher(&self, headers: &Headers, url: Option<&str>) -> Option<BodyHasher> {
        self.source.validator.body_hasher(headers, url)
    }

    /// [`Route::process`], with the MACs of the body that the
    /// [`Route::body_hasher`] computed while it arrived: the signature
    /// check uses them instead of hashing the body again, and decides
    /// exactly as it would without them.
    pub async fn process_hashed(
        &self,
        body: impl Into<Bytes>,
        headers: Headers,
        url: Option<&str>,
        macs: Option<BodyMacs>,
    ) -> Result<Processed, ProcessError> {
        self.processor
            .run(self.source, headers, body.into(), url, macs.as_ref())
            .await
    }
}
