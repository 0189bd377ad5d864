//! What processing a delivery came to: the typed outcome the transport
//! turns into its answer. The core knows no HTTP status.

use crate::{EventParseError, Handshake, SignatureError, StoreError};

/// A delivery that was safely recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// New: recorded, and (inline) handled or (queued) queued.
    Accepted {
        /// The idempotency key.
        id: String,
    },
    /// Recorded before: a redelivery, not handled again.
    Duplicate {
        /// The idempotency key.
        id: String,
    },
    /// Inline mode: a listener failed permanently (a [`crate::Permanent`]
    /// error, or a body that does not fit its `Json<T>`): recorded as
    /// failed and not retried, since no retry can fix it (200
    /// `{"status":"failed"}`).
    Failed {
        /// The idempotency key.
        id: String,
    },
    /// A verified check of the endpoint by the provider (Slack's
    /// `url_verification`, Discord's PING), answered as it expects; nothing
    /// was recorded or dispatched.
    Handshake(Handshake),
}

impl Processed {
    /// The outcome's name in logs and spans: `accepted`, `duplicate`,
    /// `failed` or `handshake`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Accepted { .. } => "accepted",
            Self::Duplicate { .. } => "duplicate",
            Self::Failed { .. } => "failed",
            Self::Handshake(_) => "handshake",
        }
    }

    /// The idempotency key; empty for a handshake, which has none.
    pub fn id(&self) -> &str {
        match self {
            Self::Accepted { id } | Self::Duplicate { id } | Self::Failed { id } => id,
            Self::Handshake(_) => "",
        }
    }
}

/// Why a delivery was not accepted.
///
/// Each variant is one answer of the contract; the transport maps it to its
/// status. The list is closed, so a transport's `match` is exhaustive.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// No source of that name is configured (404).
    #[error("unknown source")]
    UnknownSource,
    /// The client's address is not in the source's `allow-ips` (403).
    #[error("forbidden")]
    Forbidden,
    /// The signature was refused (401).
    #[error(transparent)]
    InvalidSignature(#[from] SignatureError),
    /// Verified, but not what the source sends (400).
    #[error(transparent)]
    BadRequest(#[from] EventParseError),
    /// The same key is being processed elsewhere (409).
    #[error("in progress")]
    InProgress {
        /// The idempotency key.
        id: String,
    },
    /// The store did not answer (503).
    #[error(transparent)]
    Unavailable(#[from] StoreError),
    /// The queue is full (503); nothing was recorded.
    #[error("queue full")]
    QueueFull,
    /// The processor is shutting down (503); nothing was recorded.
    #[error("shutting down")]
    ShuttingDown,
    /// Inline mode: a listener failed; the claim was released (500).
    #[error("listener failed")]
    ListenerFailed {
        /// The idempotency key.
        id: String,
    },
    /// Inline mode: the listeners succeeded, but the claim was lost while
    /// they ran, so the event could not be recorded as done (503): another
    /// delivery may have run them too. Logged and counted.
    #[error("claim lost")]
    ClaimLost {
        /// The idempotency key.
        id: String,
    },
}

impl ProcessError {
    /// The outcome's name in logs and spans, such as `invalid_signature`
    /// or `unavailable`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::UnknownSource => "unknown_source",
            Self::Forbidden => "forbidden",
            Self::InvalidSignature(_) => "invalid_signature",
            Self::BadRequest(_) => "bad_request",
            Self::InProgress { .. } => "in_progress",
            Self::Unavailable(_) => "unavailable",
            Self::QueueFull => "queue_full",
            Self::ShuttingDown => "shutting_down",
            Self::ListenerFailed { .. } => "listener_failed",
            Self::ClaimLost { .. } => "claim_lost",
        }
    }
}

/// The span of one delivery, named `webhook`, that the core fills in as it
/// learns: `source` and `client` now, then `id`, `event_type`, `attempt`
/// and `outcome`. A transport opens it around everything it does for the
/// delivery and passes the work to [`crate::Route::process`] inside it;
/// [`crate::WebhookProcessor::process`] opens its own.
///
/// ```
/// use tracing::Instrument;
///
/// let span = webhooks_core::delivery_span("stripe", Some("203.0.113.9".parse().unwrap()));
/// # let _ = async {}.instrument(span);
/// ```
pub fn delivery_span(source: &str, client: Option<std::net::IpAddr>) -> tracing::Span {
    let span = tracing::info_span!(
        "webhook",
        source,
        client = tracing::field::Empty,
        id = tracing::field::Empty,
        event_type = tracing::field::Empty,
        attempt = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    if let Some(client) = client {
        span.record("client", tracing::field::display(client));
    }
    span
}

/// Logs a delivery's outcome at its level, inside its span, and records it
/// there: accepted and duplicate at `debug`, refused at `info` with the
/// cause, not recorded (503) at `warn`; failures and lost claims are logged
/// where they happen (`warn`, `error`).
pub(crate) fn log_outcome(result: &Result<Processed, ProcessError>) {
    let span = tracing::Span::current();
    match result {
        Ok(processed) => {
            span.record("outcome", processed.name());
            tracing::debug!(outcome = processed.name(), "webhook {}", processed.name());
        }
        Err(error) => {
            span.record("outcome", error.name());
            match error {
                ProcessError::UnknownSource
                | ProcessError::Forbidden
                | ProcessError::InvalidSignature(_)
                | ProcessError::BadRequest(_)
                | ProcessError::InProgress { .. } => {
                    tracing::info!(outcome = error.name(), cause = %error, "webhook refused");
                }
                ProcessError::Unavailable(_)
                | ProcessError::QueueFull
                | ProcessError::ShuttingDown => {
                    tracing::warn!(outcome = error.name(), cause = %error, "webhook not recorded: answered 503 for the provider's retry");
                }
                ProcessError::ListenerFailed { .. } | ProcessError::ClaimLost { .. } => {
                    tracing::debug!(outcome = error.name(), "webhook not done");
                }
            }
        }
    }
}
