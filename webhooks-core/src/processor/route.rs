//! A configured source, looked up once by a transport.

use std::sync::Arc;

use bytes::Bytes;

use super::WebhookProcessor;
use crate::source::Source;
use crate::{Headers, ProcessError, Processed};

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

    /// Processes a delivery to this source; `url` is the URL it was sent
    /// to, for schemes that sign it.
    pub async fn process(
        &self,
        body: impl Into<Bytes>,
        headers: Headers,
        url: Option<&str>,
    ) -> Result<Processed, ProcessError> {
        self.processor
            .run(self.source, headers, body.into(), url)
            .await
    }
}
