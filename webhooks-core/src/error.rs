//! The errors of processing and building.

use crate::{EventParseError, SignatureError, StoreError};

/// A boxed error, what listeners fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a delivery was not accepted.
///
/// Each variant is one answer of the contract; the transport maps it to its
/// status. The list is closed, so a transport's `match` is exhaustive.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// No source of that name is configured (404).
    #[error("unknown source")]
    UnknownSource,
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

/// A processor that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two validators for one source.
    #[error("source `{0}` has two validators")]
    DuplicateSource(String),
    /// A source name that cannot be a path segment.
    #[error("source name `{0}` must be letters, digits, `-`, `_` or `.`")]
    InvalidSourceName(String),
    /// A listener for a source that has no validator: never an open door.
    #[error(
        "listener `{listener}` is for source `{source_name}`, which has no validator configured"
    )]
    UnconfiguredSource {
        /// The listener's name.
        listener: String,
        /// The source it listens to.
        source_name: String,
    },
    /// An event pattern that is not `*`, a name, or a `.*` prefix.
    #[error("listener `{listener}` has event pattern `{pattern}`: {reason}")]
    InvalidPattern {
        /// The listener's name.
        listener: String,
        /// The pattern.
        pattern: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same function registered twice with `#[webhook_listener]`.
    #[error(transparent)]
    DuplicateListener(#[from] crate::registry::DuplicateListener),
    /// Queued dispatch starts workers, which needs a Tokio runtime.
    #[error("queued dispatch must be built inside a Tokio runtime")]
    NoRuntime,
    /// No store was given for a provider this build cannot make.
    #[error("{0}")]
    Store(String),
}
