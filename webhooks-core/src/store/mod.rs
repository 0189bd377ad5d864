//! Idempotency stores: a two-phase, atomic claim on each delivery id.

mod memory;

use std::fmt;
use std::time::Duration;

use crate::{BoxError, BoxFuture};

pub use self::memory::InMemoryWebhookEventStore;

/// What a claim of a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: this caller holds it until it completes or
    /// releases it, or the lease runs out.
    Acquired(Lease),
    /// Another caller holds the key and has not finished.
    InProgress,
    /// The key was completed within its TTL: a redelivery.
    Completed,
}

/// Proof of holding a claim, checked when completing or releasing it, so a
/// holder whose lease ran out cannot undo its successor's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    token: u64,
}

impl Lease {
    /// A lease with this token; stores choose unique tokens.
    pub fn new(token: u64) -> Self {
        Self { token }
    }

    /// The lease's token.
    pub fn token(&self) -> u64 {
        self.token
    }
}

/// The store could not answer (HTTP 503, so the provider retries).
///
/// The backend's own error is kept as the source, so the core never depends
/// on a backend's error type.
#[derive(Debug, thiserror::Error)]
#[error("idempotency store unavailable: {source}")]
pub struct StoreError {
    #[source]
    source: BoxError,
}

impl StoreError {
    /// Wraps a backend's error.
    pub fn new(source: impl Into<BoxError>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Remembers which deliveries were processed, with a two-phase claim.
///
/// A key is *claimed* (in progress, for a short lease), then *completed*
/// (remembered for the TTL) or *released* (forgotten, so the provider's
/// retry is processed). Of concurrent claims of one key, exactly one
/// acquires it. Every method is one atomic step of the backend.
///
/// ```
/// use std::time::Duration;
/// use webhooks_core::{Claim, IdempotencyStore, InMemoryWebhookEventStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = InMemoryWebhookEventStore::new();
/// let Claim::Acquired(lease) = store.claim("stripe:evt_1", Duration::from_secs(60)).await? else {
///     unreachable!()
/// };
/// assert_eq!(store.claim("stripe:evt_1", Duration::from_secs(60)).await?, Claim::InProgress);
/// store.complete("stripe:evt_1", &lease, Duration::from_secs(86_400)).await?;
/// assert_eq!(store.claim("stripe:evt_1", Duration::from_secs(60)).await?, Claim::Completed);
/// # Ok::<_, webhooks_core::StoreError>(())
/// # }).unwrap();
/// ```
pub trait IdempotencyStore: Send + Sync + fmt::Debug + 'static {
    /// Claims `key` for `lease`, unless it is held or completed.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// Marks a held key completed, remembered for `ttl`. Does nothing if
    /// `lease` no longer holds the key.
    fn complete<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Forgets a held key, so the next delivery of it is processed. Does
    /// nothing if `lease` no longer holds the key.
    fn release<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Checks that the store answers (for `/readyz`).
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// [`claim`](Self::claim), answered at once by a store that never waits
    /// (in process memory), saving the boxed future; `None` (the default)
    /// sends callers to `claim`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhooks_core::{Claim, IdempotencyStore, InMemoryWebhookEventStore};
    ///
    /// let store = InMemoryWebhookEventStore::new();
    /// let claim = store.claim_now("github:d-1", Duration::from_secs(60));
    /// assert!(matches!(claim, Some(Ok(Claim::Acquired(_)))));
    /// ```
    fn claim_now(&self, key: &str, lease: Duration) -> Option<Result<Claim, StoreError>> {
        let _ = (key, lease);
        None
    }

    /// [`complete`](Self::complete), answered at once by a store that never
    /// waits; `None` (the default) sends callers to `complete`.
    fn complete_now(
        &self,
        key: &str,
        lease: &Lease,
        ttl: Duration,
    ) -> Option<Result<(), StoreError>> {
        let _ = (key, lease, ttl);
        None
    }
}
