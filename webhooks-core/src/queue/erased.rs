//! The object-safe form of [`EventQueue`] that the core keeps.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{DeadLetter, DeadLetterBounds, EventQueue, JobState, PushError, Reservation, Reserved};
use crate::{BoxFuture, StoreError, WebhookEvent};

trait ErasedQueue: Send + Sync + fmt::Debug {
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
    fn renew<'a>(
        &'a self,
        reservation: &'a Reservation,
        visibility: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
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
    fn renew<'a>(
        &'a self,
        reservation: &'a Reservation,
        visibility: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(EventQueue::renew(self, reservation, visibility))
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

/// The queue a processor uses, behind the erased trait.
#[derive(Clone, Debug)]
pub(crate) struct Queue(Arc<dyn ErasedQueue>);

impl Queue {
    pub(crate) fn new(queue: impl EventQueue) -> Self {
        Self(Arc::new(queue))
    }

    pub(crate) async fn push(&self, event: WebhookEvent, capacity: usize) -> Result<(), PushError> {
        self.0.push(event, capacity).await
    }

    pub(crate) async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Reserved>, StoreError> {
        self.0.reserve(max, visibility, wait).await
    }

    pub(crate) async fn renew(
        &self,
        reservation: &Reservation,
        visibility: Duration,
    ) -> Result<bool, StoreError> {
        self.0.renew(reservation, visibility).await
    }

    pub(crate) async fn ack(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        self.0.ack(reservation).await
    }

    pub(crate) async fn retry_at(
        &self,
        reservation: &Reservation,
        due: SystemTime,
        state: &JobState,
    ) -> Result<bool, StoreError> {
        self.0.retry_at(reservation, due, state).await
    }

    pub(crate) async fn dead(
        &self,
        reservation: &Reservation,
        state: &JobState,
        reason: &str,
        bounds: DeadLetterBounds,
    ) -> Result<bool, StoreError> {
        self.0.dead(reservation, state, reason, bounds).await
    }

    pub(crate) async fn hand_back(&self, reservation: &Reservation) -> Result<(), StoreError> {
        self.0.hand_back(reservation).await
    }

    pub(crate) async fn dead_letters(
        &self,
        source: Option<&str>,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        self.0.dead_letters(source).await
    }

    pub(crate) async fn requeue(&self, id: &str) -> Result<bool, StoreError> {
        self.0.requeue(id).await
    }

    pub(crate) async fn close(&self) -> Result<Vec<String>, StoreError> {
        self.0.close().await
    }

    pub(crate) fn is_durable(&self) -> bool {
        self.0.is_durable()
    }
}
