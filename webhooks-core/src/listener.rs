//! Listeners: the application's handlers for events.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{BoxError, BoxFuture, WebhookEvent};

// A listener's event pattern, parsed once; its rules live in `webhooks-rules`
// because the macro checks the same ones at compile time.
pub(crate) use webhooks_rules::EventPattern;

/// An application's handler for one source's events.
///
/// Most applications annotate an `async fn` with `#[webhook_listener]`
/// instead; implement the trait for listeners that carry state.
///
/// `event` is a pattern: an exact type (`payment_intent.succeeded`), `*`
/// for every event of the source, a prefix ending in `.*`
/// (`customer.subscription.*`), or, for sources whose types are
/// `family.action` (GitHub), a family (`issues` gets every `issues.*`).
///
/// ```
/// use webhooks_core::{WebhookEvent, WebhookListener};
///
/// struct CountPushes(std::sync::atomic::AtomicUsize);
///
/// impl WebhookListener for CountPushes {
///     type Error = std::convert::Infallible;
///
///     fn source(&self) -> &str { "github" }
///     fn event(&self) -> &str { "push" }
///
///     async fn handle(&self, _event: &WebhookEvent) -> Result<(), Self::Error> {
///         self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
pub trait WebhookListener: Send + Sync + 'static {
    /// What `handle` fails with.
    type Error: Into<BoxError>;

    /// The configured source name whose events this listener receives.
    fn source(&self) -> &str;

    /// The event pattern this listener receives.
    fn event(&self) -> &str;

    /// Handles one event. An error (or a panic) is this listener's failure:
    /// [`WebhookListener::on_error`] is called, the other listeners of the
    /// event still run, and the delivery is retried (queued, with backoff;
    /// inline, answered 500 for the provider's retry). An error wrapped in
    /// [`crate::Permanent`] says no retry can fix it: the event is recorded
    /// as failed and not retried (inline, answered `200 {"status":"failed"}`;
    /// queued, dead-lettered at once).
    fn handle(&self, event: &WebhookEvent) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Called after `handle` failed; by default logs a warning.
    fn on_error(&self, event: &WebhookEvent, error: &BoxError) {
        tracing::warn!(
            listener = self.name(),
            source = event.source(),
            event_type = event.event_type(),
            id = event.id(),
            attempt = event.attempt(),
            error = %error,
            "webhook listener failed"
        );
    }

    /// A name for logs and dead letters; by default the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// The object-safe form of [`WebhookListener`] the processor stores.
pub(crate) trait ErasedListener: Send + Sync + 'static {
    fn source(&self) -> &str;
    fn event(&self) -> &str;
    fn name(&self) -> &str;
    fn call<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, Result<(), BoxError>>;
    fn on_error(&self, event: &WebhookEvent, error: &BoxError);
}

impl<L: WebhookListener> ErasedListener for L {
    fn source(&self) -> &str {
        WebhookListener::source(self)
    }
    fn event(&self) -> &str {
        WebhookListener::event(self)
    }
    fn name(&self) -> &str {
        WebhookListener::name(self)
    }
    fn call<'a>(&'a self, event: &'a WebhookEvent) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move { self.handle(event).await.map_err(Into::into) })
    }
    fn on_error(&self, event: &WebhookEvent, error: &BoxError) {
        WebhookListener::on_error(self, event, error);
    }
}

/// Runs a listener once: a panic becomes an error, and `on_error` is called
/// on failure.
pub(crate) async fn run_listener(
    listener: &dyn ErasedListener,
    event: &WebhookEvent,
) -> Result<(), BoxError> {
    let result = CatchUnwind(listener.call(event)).await;
    if let Err(error) = &result {
        listener.on_error(event, error);
    }
    result
}

/// A boxed future whose panics are caught and returned as errors.
struct CatchUnwind<'a>(BoxFuture<'a, Result<(), BoxError>>);

impl Future for CatchUnwind<'_> {
    type Output = Result<(), BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                Poll::Ready(Err(format!("listener panicked: {message}").into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_a_failure() {
        struct Panics;
        impl WebhookListener for Panics {
            type Error = BoxError;
            fn source(&self) -> &str {
                "s"
            }
            fn event(&self) -> &str {
                "*"
            }
            async fn handle(&self, _event: &WebhookEvent) -> Result<(), BoxError> {
                panic!("boom")
            }
        }
        let event = WebhookEvent::new("s", "t", "id", "{}");
        let error = run_listener(&Panics, &event).await.unwrap_err();
        assert_eq!(error.to_string(), "listener panicked: boom");
    }
}
