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
