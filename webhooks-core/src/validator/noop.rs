//! The explicit opt-out.

use super::extract::{GenericExtraction, extraction_builders};
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

    extraction_builders!();
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
