//! The object-safe form of [`EventQueue`] that the core keeps.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{
    DeadLetter, DeadLetterBounds, EventQueue, InMemoryEventQueue, JobState, PushError, Reservation,
    Reserved,
};
use crate::{BoxFuture, StoreError, WebhookEvent};

pub(crate) trait ErasedQueue: Send + Sync + fmt::Debug {
    fn push<'a>(
        &'a self,
        event: WebhookEvent,
        capacity: usize,
    ) -> BoxFuture<'a, Result<(), PushError>>;
    fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Reserved>, StoreError>>;
    fn renew_all<'a>(
        &'a self,
        reservations: &'a [&'a Reservation],
        visibility: Duration,
    ) -> BoxFuture<'a, Result<Vec<bool>, StoreError>>;
    fn ack<'a>(&'a self, reservation: &'a Reservation) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn retry_at<'a>(
        &'a self,
        reservation: &'a Reservation,
        due: SystemTime,
        state: &'a JobState,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn dead<'a>(
        &'a self,
        reservation: &'a Reservation,
        state: &'a JobState,
        reason: &'a str,
        bounds: DeadLetterBounds,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn hand_back<'a>(
        &'a self,
        reservation: &'a Reservation,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn dead_letters<'a>(
        &'a self,
        source: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>>;
    fn requeue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    fn close(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;
    fn is_durable(&self) -> bool;
}

impl<Q: EventQueue> ErasedQueue for Q {
    fn push<'a>(
        &'a self,
        event: WebhookEvent,
        capacity: usize,
    ) -> BoxFuture<'a, Result<(), PushError>> {
        Box::pin(EventQueue::push(self, event, capacity))
    }
    fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Reserved>, StoreError>> {
        Box::pin(EventQueue::reserve(self, max, visibility, wait))
    }
    fn renew_all<'a>(
        &'a self,
        reservations: &'a [&'a Reservation],
        visibility: Duration,
    ) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(EventQueue::renew_all(self, reservations, visibility))
    }
    fn ack<'a>(&'a self, reservation: &'a Reservation) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(EventQueue::ack(self, reservation))
    }
    fn retry_at<'a>(
        &'a self,
        reservation: &'a Reservation,
        due: SystemTime,
        state: &'a JobState,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(EventQueue::retry_at(self, reservation, due, state))
    }
    fn dead<'a>(
        &'a self,
        reservation: &'a Reservation,
        state: &'a JobState,
        reason: &'a str,
        bounds: DeadLetterBounds,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(EventQueue::dead(self, reservation, state, reason, bounds))
    }
    fn hand_back<'a>(
        &'a self,
        reservation: &'a Reservation,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(EventQueue::hand_back(self, reservation))
    }
    fn dead_letters<'a>(
        &'a self,
        source: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(EventQueue::dead_letters(self, source))
    }
    fn requeue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(EventQueue::requeue(self, id))
    }
    fn close(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(EventQueue::close(self))
    }
    fn is_durable(&self) -> bool {
        EventQueue::is_durable(self)
    }
}

/// The queue a processor uses: its own in-memory queue, called without a
/// boxed future, or any other behind the erased trait.
#[derive(Clone, Debug)]
pub(crate) enum Queue {
    Memory(Arc<InMemoryEventQueue>),
    Shared(Arc<dyn ErasedQueue>),
}

impl Default for Queue {
    fn default() -> Self {
        Self::Memory(Arc::new(InMemoryEventQueue::new()))
    }
}

/// Calls `$method` on whichever queue it is, boxing only the shared one's.
macro_rules! dispatch {
    ($queue:expr, $method:ident ( $($arg:expr),* )) => {
        match $queue {
            Queue::Memory(queue) => EventQueue::$method(&**queue, $($arg),*).await,
            Queue::Shared(queue) => queue.$method($($arg),*).await,
        }
    };
}

impl Queue {
    /// Keeps `queue`, recognising the in-memory one.
    pub(crate) fn new<Q: EventQueue>(queue: Q) -> Self {
        let boxed: Box<dyn std::any::Any> = Box::new(queue);
        match boxed.downcast::<InMemoryEventQueue>() {
            Ok(memory) => Self::Memory(Arc::new(*memory)),
            Err(other) => {
                let queue = *other.downcast::<Q>().expect("the type it was made from");
                Self::Shared(Arc::new(queue))
            }
        }
    }

    pub(crate) async fn push(&self, event: WebhookEvent, capacity: usize) -> Result<(), PushError> {
        dispatch!(self, push(event, capacity))
    }

    pub(crate) async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Reserved>, StoreError> {
        dispatch!(self, reserve(max, visibility, wait))
    }

    pub(crate) async fn renew_all(
        &self,
        reservations: &[&Reservation],
        visibility: Duration,
    ) -> Result<Vec<bool>, StoreError> {
        dispatch!(self, renew_all(reservations, visibility))
    }

    pub(crate) async fn ack(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        dispatch!(self, ack(reservation))
    }

    pub(crate) async fn retry_at(
        &self,
        reservation: &Reservation,
        due: SystemTime,
        state: &JobState,
    ) -> Result<bool, StoreError> {
        dispatch!(self, retry_at(reservation, due, state))
    }

    pub(crate) async fn dead(
        &self,
        reservation: &Reservation,
        state: &JobState,
        reason: &str,
        bounds: DeadLetterBounds,
    ) -> Result<bool, StoreError> {
        dispatch!(self, dead(reservation, state, reason, bounds))
    }

    pub(crate) async fn hand_back(&self, reservation: &Reservation) -> Result<(), StoreError> {
        dispatch!(self, hand_back(reservation))
    }

    pub(crate) async fn dead_letters(
        &self,
        source: Option<&str>,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        dispatch!(self, dead_letters(source))
    }

    pub(crate) async fn requeue(&self, id: &str) -> Result<bool, StoreError> {
        dispatch!(self, requeue(id))
    }

    pub(crate) async fn close(&self) -> Result<Vec<String>, StoreError> {
        dispatch!(self, close())
    }

    pub(crate) fn is_durable(&self) -> bool {
        match self {
            Self::Memory(queue) => EventQueue::is_durable(&**queue),
            Self::Shared(queue) => queue.is_durable(),
        }
    }
}
