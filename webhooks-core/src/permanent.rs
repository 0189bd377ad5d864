//! Failures that no retry can fix.

use std::fmt;

use crate::{BoxError, JsonBodyError};

/// A listener's failure that no retry can fix: return it (boxed, as any
/// error) and the event is not retried. Queued, it goes straight to the
/// dead letters with its reason; inline, it is recorded as failed (log,
/// metrics, `on_error`) and answered `200 {"status":"failed"}`, so the
/// provider stops resending what would fail again, as Stripe's and GitHub's
/// docs advise. Any other error is retryable: queued, retried with backoff;
/// inline, answered 500 so the provider retries.
///
/// A body that does not fit a listener's `Json<T>` is permanent too.
///
/// ```
/// use webhooks_core::{BoxError, Permanent, WebhookEvent};
///
/// async fn on_refund(event: &WebhookEvent) -> Result<(), BoxError> {
///     let amount = event.json::<serde_json::Value>()?["amount"].as_u64();
///     let Some(amount) = amount else {
///         // Retrying will not make the amount appear.
///         return Err(Permanent::new("a refund without an amount").into());
///     };
///     let _ = amount;
///     Ok(())
/// }
///
/// let error: BoxError = Permanent::new("no amount").into();
/// assert!(Permanent::is(&error));
/// assert!(!Permanent::is(&BoxError::from("the database is down")));
/// assert_eq!(error.to_string(), "no amount");
/// ```
pub struct Permanent(BoxError);

impl Permanent {
    /// Marks `error` as permanent.
    pub fn new(error: impl Into<BoxError>) -> Self {
        Self(error.into())
    }

    /// The error it wraps.
    pub fn into_inner(self) -> BoxError {
        self.0
    }

    /// Whether a listener's error is permanent: a [`Permanent`], or a body
    /// that did not fit the listener's `Json<T>`.
    pub fn is(error: &BoxError) -> bool {
        error.is::<Self>() || error.is::<JsonBodyError>()
    }
}

impl fmt::Debug for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Permanent").field(&self.0).finish()
    }
}

impl fmt::Display for Permanent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Permanent {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}
