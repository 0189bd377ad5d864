//! Idempotency stores: a two-phase, atomic claim on each delivery id.
//!
//! A backend implements [`IdempotencyStore`], four atomic steps and a ping;
//! when to claim, renew, complete or release is the core's lifecycle.

mod memory;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::{BoxError, BoxFuture};

pub use self::memory::InMemoryWebhookEventStore;

/// What a claim of a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: this caller holds it until it completes or
    /// releases it, or its lease runs out unrenewed.
    Acquired(Lease),
    /// Another caller holds the key and has not finished.
    InProgress,
    /// The key was completed within its TTL: a redelivery.
    Completed,
}

/// Proof of holding a claim, checked when renewing, completing or releasing
/// it, so a holder whose lease ran out cannot undo its successor's claim.
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
#[error("store unavailable: {source}")]
pub struct StoreError {
    #[source]
    source: BoxError,
}

impl StoreError {
    /// Wraps a backend's error.
    ///
    /// ```
    /// let error = webhooks_core::StoreError::new("connection refused");
    /// assert_eq!(error.to_string(), "store unavailable: connection refused");
    /// ```
    pub fn new(source: impl Into<BoxError>) -> Self {
        Self {
            source: source.into(),
        }
    }
}

/// Remembers which deliveries were processed, with a two-phase claim.
///
/// A key is *claimed* (in progress, for a lease that its holder renews while
/// its listeners run), then *completed* (remembered for the TTL) or
/// *released* (forgotten, so the provider's retry is processed). Of
/// concurrent claims of one key, exactly one acquires it. Every method is one
/// atomic step of the backend; the policy (when to renew, what a lost claim
/// means) is the core's.
///
/// Implement it with plain `async fn`s:
///
/// ```
/// use std::time::Duration;
/// use webhooks_core::{Claim, IdempotencyStore, InMemoryWebhookEventStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = InMemoryWebhookEventStore::new();
/// let Claim::Acquired(lease) = store.claim("stripe:evt_1", Duration::from_secs(60)).await? else {
///     unreachable!()
/// };
/// assert_eq!(store.claim("stripe:evt_1", Duration::from_secs(60)).await?, Claim::InProgress);
/// assert!(store.renew("stripe:evt_1", &lease, Duration::from_secs(60)).await?);
/// assert!(store.complete("stripe:evt_1", &lease, Duration::from_secs(86_400)).await?);
/// assert_eq!(store.claim("stripe:evt_1", Duration::from_secs(60)).await?, Claim::Completed);
/// # Ok::<_, webhooks_core::StoreError>(())
/// # }).unwrap();
/// ```
pub trait IdempotencyStore: Send + Sync + fmt::Debug + 'static {
    /// Claims `key` for `lease`, unless it is held or completed.
    fn claim(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Extends a held claim by `lease` from now; `false` when the key is no
    /// longer this lease's (another holder took it, or it was completed).
    /// A key whose lease lapsed but that nobody took is still this lease's.
    fn renew(
        &self,
        key: &str,
        lease: &Lease,
        duration: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Marks a held key completed, remembered for `ttl`; `false` when the
    /// key is no longer this lease's, and then nothing changes.
    fn complete(
        &self,
        key: &str,
        lease: &Lease,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Forgets a held key, so the next delivery of it is processed. Does
    /// nothing if `lease` no longer holds the key.
    fn release(
        &self,
        key: &str,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Checks that the store answers (for `/readyz`).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One store shared by several processors.
impl<S: IdempotencyStore> IdempotencyStore for Arc<S> {
    fn claim(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(key, lease)
    }

    fn renew(
        &self,
        key: &str,
        lease: &Lease,
        duration: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).renew(key, lease, duration)
    }

    fn complete(
        &self,
        key: &str,
        lease: &Lease,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).complete(key, lease, ttl)
    }

    fn release(
        &self,
        key: &str,
        lease: &Lease,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key, lease)
    }

    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).ping()
    }
}

/// The object-safe form of [`IdempotencyStore`] that the core keeps.
pub(crate) trait ErasedStore: Send + Sync + fmt::Debug {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;
    fn renew<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
        duration: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn complete<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn release<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

impl<S: IdempotencyStore> ErasedStore for S {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(IdempotencyStore::claim(self, key, lease))
    }
    fn renew<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
        duration: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(IdempotencyStore::renew(self, key, lease, duration))
    }
    fn complete<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(IdempotencyStore::complete(self, key, lease, ttl))
    }
    fn release<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(IdempotencyStore::release(self, key, lease))
    }
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(IdempotencyStore::ping(self))
    }
}

/// The store a processor uses: its own in-memory store, answered without a
/// boxed future, or any other behind the erased trait.
#[derive(Clone, Debug)]
pub(crate) enum Store {
    Memory(Arc<InMemoryWebhookEventStore>),
    Shared(Arc<dyn ErasedStore>),
}

impl Default for Store {
    fn default() -> Self {
        Self::Memory(Arc::new(InMemoryWebhookEventStore::new()))
    }
}

impl Store {
    /// Keeps `store`, recognising the in-memory one.
    pub(crate) fn new<S: IdempotencyStore>(store: S) -> Self {
        let boxed: Box<dyn std::any::Any> = Box::new(store);
        match boxed.downcast::<InMemoryWebhookEventStore>() {
            Ok(memory) => Self::Memory(Arc::new(*memory)),
            Err(other) => {
                let store = *other.downcast::<S>().expect("the type it was made from");
                Self::Shared(Arc::new(store))
            }
        }
    }

    pub(crate) async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.claim_sync(key, lease)),
            Self::Shared(store) => store.claim(key, lease).await,
        }
    }

    pub(crate) async fn renew(
        &self,
        key: &str,
        lease: &Lease,
        duration: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.renew_sync(key, lease, duration)),
            Self::Shared(store) => store.renew(key, lease, duration).await,
        }
    }

    pub(crate) async fn complete(
        &self,
        key: &str,
        lease: &Lease,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.finish_sync(key, lease, Some(ttl))),
            Self::Shared(store) => store.complete(key, lease, ttl).await,
        }
    }

    pub(crate) async fn release(&self, key: &str, lease: &Lease) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.finish_sync(key, lease, None);
                Ok(())
            }
            Self::Shared(store) => store.release(key, lease).await,
        }
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Shared(store) => store.ping().await,
        }
    }
}
