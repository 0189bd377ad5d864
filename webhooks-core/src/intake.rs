//! Storage that takes several of the accept path's steps in one atomic
//! round trip, when the store, the queue and the event log live together.
//!
//! The lifecycle decides what happens to a delivery; an [`Intake`] only
//! does the same storage steps as [`IdempotencyStore`], [`EventQueue`] and
//! [`EventLog`] would, in one atomic step instead of several round trips.
//! Without one, the lifecycle takes the steps one by one.
//!
//! [`IdempotencyStore`]: crate::IdempotencyStore
//! [`EventQueue`]: crate::EventQueue
//! [`EventLog`]: crate::EventLog

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::event_log::{Received, RunRecord};
use crate::queue::Reservation;
use crate::{BoxFuture, Claim, Lease, StoreError, WebhookEvent};

/// What [`Intake::enqueue`] did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The key was free: the event is in the queue, its key completed and,
    /// when asked, its arrival recorded.
    Queued,
    /// The key was free but the queue holds `capacity` jobs: nothing was
    /// queued and the key stays free; the arrival is recorded when asked,
    /// so the lifecycle can record why it was refused.
    Full,
    /// Another delivery of the key holds it and has not finished.
    InProgress,
    /// The key was completed within its TTL: a redelivery.
    Completed,
}

/// The accept path's storage steps, each set in one atomic step of a
/// backend whose store, queue and event log are one (a single Redis server,
/// say). Every method does what the separate traits' steps would, in the
/// order the lifecycle takes them, and nothing else.
///
/// It must use the same keys as the processor's store, queue and event log:
/// a backend gives one only for storage it made together. `received` is
/// given when the processor keeps an event log; an intake that
/// [`records_log`](Intake::records_log) writes it (and counts redeliveries
/// of keys it finds held or completed) in the same step.
///
/// ```
/// use std::time::Duration;
/// use webhooks_core::event_log::{Received, RunRecord};
/// use webhooks_core::intake::{Enqueued, Intake};
/// use webhooks_core::queue::Reservation;
/// use webhooks_core::{Claim, IdempotencyStore, InMemoryWebhookEventStore, Lease, StoreError, WebhookEvent};
///
/// /// An intake over a store alone (no queue, no log): a claim is the store's.
/// #[derive(Debug, Default)]
/// struct ClaimOnly(InMemoryWebhookEventStore);
///
/// impl Intake for ClaimOnly {
///     async fn claim(&self, key: &str, lease: Duration, _: Option<&Received<'_>>) -> Result<Claim, StoreError> {
///         self.0.claim(key, lease).await
///     }
///     async fn complete(&self, key: &str, lease: &Lease, ttl: Duration, _: Option<(&str, &str, &RunRecord)>) -> Result<bool, StoreError> {
///         self.0.complete(key, lease, ttl).await
///     }
///     async fn enqueue(&self, _: &str, _: Duration, _: usize, _: &WebhookEvent, _: Option<&Received<'_>>) -> Result<Enqueued, StoreError> {
///         Err(StoreError::new("no queue here"))
///     }
///     async fn ack(&self, _: &Reservation, _: Option<(&str, &str, &RunRecord)>) -> Result<bool, StoreError> {
///         Err(StoreError::new("no queue here"))
///     }
///     fn records_log(&self) -> bool {
///         false
///     }
///     fn queues(&self) -> bool {
///         false
///     }
/// }
/// ```
pub trait Intake: Send + Sync + fmt::Debug + 'static {
    /// [`IdempotencyStore::claim`](crate::IdempotencyStore::claim); when
    /// the claim is acquired, `received` is recorded in the same step; when
    /// the key is held or completed, a redelivery is counted on its record.
    fn claim(
        &self,
        key: &str,
        lease: Duration,
        received: Option<&Received<'_>>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Inline, every listener succeeded:
    /// [`IdempotencyStore::complete`](crate::IdempotencyStore::complete)s
    /// the key and, when `run` is given (`(source, id, run)`), records the
    /// run on its event's record, in one atomic step; `false`, and nothing
    /// written, when the key is no longer this lease's.
    fn complete(
        &self,
        key: &str,
        lease: &Lease,
        ttl: Duration,
        run: Option<(&str, &str, &RunRecord)>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Queued: when `key` is free, records `received`, pushes `event`
    /// (unless the queue holds `capacity` jobs) and completes the key for
    /// `ttl`, all in one atomic step; a held or completed key counts a
    /// redelivery on its record and changes nothing else. The event is in
    /// the queue once this answers [`Enqueued::Queued`].
    fn enqueue(
        &self,
        key: &str,
        ttl: Duration,
        capacity: usize,
        event: &WebhookEvent,
        received: Option<&Received<'_>>,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send;

    /// Queued: [`EventQueue::ack`](crate::EventQueue::ack)s a job that is
    /// done and, when `run` is given (`(source, id, run)`), records the run
    /// on its event's record ([`EventLog::ran`](crate::EventLog::ran)), in
    /// one atomic step; `false`, and nothing written, when the hold no
    /// longer holds.
    fn ack(
        &self,
        reservation: &Reservation,
        run: Option<(&str, &str, &RunRecord)>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether it writes the processor's event log; the processor uses it
    /// only when that matches whether it keeps a remote log.
    fn records_log(&self) -> bool;

    /// Whether it pushes to the processor's queue ([`Intake::enqueue`]).
    fn queues(&self) -> bool;
}

/// The object-safe form of [`Intake`] that the core keeps.
pub(crate) trait ErasedIntake: Send + Sync + fmt::Debug {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
        received: Option<&'a Received<'a>>,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;
    fn complete<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
        ttl: Duration,
        run: Option<(&'a str, &'a str, &'a RunRecord)>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn enqueue<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
        capacity: usize,
        event: &'a WebhookEvent,
        received: Option<&'a Received<'a>>,
    ) -> BoxFuture<'a, Result<Enqueued, StoreError>>;
    fn ack<'a>(
        &'a self,
        reservation: &'a Reservation,
        run: Option<(&'a str, &'a str, &'a RunRecord)>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn records_log(&self) -> bool;
    fn queues(&self) -> bool;
}

impl<I: Intake> ErasedIntake for I {
    fn claim<'a>(
        &'a self,
        key: &'a str,
        lease: Duration,
        received: Option<&'a Received<'a>>,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(Intake::claim(self, key, lease, received))
    }
    fn complete<'a>(
        &'a self,
        key: &'a str,
        lease: &'a Lease,
        ttl: Duration,
        run: Option<(&'a str, &'a str, &'a RunRecord)>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(Intake::complete(self, key, lease, ttl, run))
    }
    fn enqueue<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
        capacity: usize,
        event: &'a WebhookEvent,
        received: Option<&'a Received<'a>>,
    ) -> BoxFuture<'a, Result<Enqueued, StoreError>> {
        Box::pin(Intake::enqueue(self, key, ttl, capacity, event, received))
    }
    fn ack<'a>(
        &'a self,
        reservation: &'a Reservation,
        run: Option<(&'a str, &'a str, &'a RunRecord)>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(Intake::ack(self, reservation, run))
    }
    fn records_log(&self) -> bool {
        Intake::records_log(self)
    }
    fn queues(&self) -> bool {
        Intake::queues(self)
    }
}
