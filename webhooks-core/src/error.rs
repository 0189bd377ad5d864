//! The errors of building a processor.

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
    /// An `allow-ips` list for a source that has no validator.
    #[error("an allow-list is given for source `{0}`, which has no validator configured")]
    UnconfiguredAllowList(String),
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
