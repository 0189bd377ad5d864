//! The explicit opt-out.

use super::extract::GenericExtraction;
use super::{EventMeta, EventParseError, SignatureError, SignatureValidator, SignedRequest};

/// Accepts every request unverified. Only for sources that are written out as
/// `validator = "none"`; the server warns about it at every start.
///
/// The delivery id and event type are read as [`super::HmacSignatureValidator`]
/// reads them.
///
/// ```
/// use webhooks_core::{Headers, NoOpSignatureValidator, SignatureValidator, SignedRequest};
///
/// let headers = Headers::new();
/// let validator = NoOpSignatureValidator::new();
/// assert!(validator.verify(&SignedRequest::new(&headers, b"anything")).is_ok());
/// ```
#[derive(Debug, Clone, Default)]
pub struct NoOpSignatureValidator {
    extraction: GenericExtraction,
}

impl NoOpSignatureValidator {
    /// A validator that checks nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the delivery id from this header only.
    #[must_use]
    pub fn idempotency_header(mut self, header: impl Into<String>) -> Self {
        self.extraction.idempotency_headers = vec![header.into()];
        self
    }

    /// Reads the event type from this payload field instead of `type`.
    #[must_use]
    pub fn event_type_field(mut self, field: impl Into<String>) -> Self {
        self.extraction.event_type_field = field.into();
        self
    }

    /// Falls back to this header for the event type instead of `X-Event-Type`.
    #[must_use]
    pub fn event_type_header(mut self, header: impl Into<String>) -> Self {
        self.extraction.event_type_header = header.into();
        self
    }
}

impl SignatureValidator for NoOpSignatureValidator {
    fn verify(&self, _request: &SignedRequest<'_>) -> Result<(), SignatureError> {
        Ok(())
    }

    fn describe(&self, request: &SignedRequest<'_>) -> Result<EventMeta, EventParseError> {
        self.extraction.describe(request)
    }

    fn scheme(&self) -> &'static str {
        "none"
    }
}
