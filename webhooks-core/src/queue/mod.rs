//! Queued dispatch: where accepted events wait, and how they are run.

mod memory;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::listener::run_listener;
use crate::metrics::Handled;
use crate::processor::Source;
use crate::{BoxFuture, Metrics, StoreError, WebhookEvent};

pub use self::memory::InMemoryEventQueue;

/// Why an event could not be queued (HTTP 503; nothing was recorded).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// The queue holds `queue-capacity` events.
    #[error("queue full")]
    Full,
    /// The queue no longer takes events.
    #[error("shutting down")]
    Closed,
    /// The queue's backend did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// An event whose listeners failed on every attempt.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The queue's id of the dead letter, for [`EventQueue::requeue`].
    pub id: String,
    /// The event, as of its last attempt.
    pub event: WebhookEvent,
    /// The listeners that still failed.
    pub listeners: Vec<String>,
    /// The last error.
    pub error: String,
    /// When it was given up.
    pub failed_at: SystemTime,
}

impl DeadLetter {
    /// A dead letter, as a queue records it.
    pub fn new(
        id: impl Into<String>,
        event: WebhookEvent,
        listeners: Vec<String>,
        error: impl Into<String>,
        failed_at: SystemTime,
    ) -> Self {
        Self {
            id: id.into(),
            event,
            listeners,
            error: error.into(),
            failed_at,
        }
    }
}

/// Where queued events wait until a worker runs them: in process memory, or
/// durably in a shared backend (Redis Streams).
///
/// After [`EventQueue::enqueue`] returns `Ok`, the event will be run: the
/// processor answers 2xx only then. Workers call [`JobRunner::run`], retry
/// the listeners that failed with [`backoff`] until `max-attempts`, then
/// dead-letter the event.
pub trait EventQueue: Send + Sync + fmt::Debug + 'static {
    /// Records the event for the workers; the queue takes it, so an
    /// in-process queue keeps it without a copy.
    fn enqueue(&self, event: WebhookEvent) -> BoxFuture<'_, Result<(), EnqueueError>>;

    /// Starts the workers, which run events with `runner`. Called once, by
    /// [`crate::ProcessorBuilder::build`], inside a Tokio runtime.
    fn start(&self, runner: JobRunner) -> Result<(), StoreError>;

    /// Stops taking events and waits until the events this instance took
    /// have run, or were handed back to the backend for another worker.
    fn shutdown(&self) -> BoxFuture<'_, ()>;

    /// The dead letters, oldest first.
    fn dead_letters(&self) -> BoxFuture<'_, Result<Vec<DeadLetter>, StoreError>>;

    /// Puts a dead letter back in the queue with fresh attempts; whether it
    /// was found.
    fn requeue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Whether accepted events survive a crash of this process.
    fn is_durable(&self) -> bool;
}

/// What running an event's listeners once came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunOutcome {
    /// The listeners that succeeded in this run, by key, listed only when
    /// another failed (a retry must then skip them): a run in which every
    /// listener succeeded allocates nothing.
    pub succeeded: Vec<String>,
    /// The listeners that failed in this run, by key.
    pub failed: Vec<String>,
    /// The last failure's error.
    pub last_error: Option<String>,
}

impl RunOutcome {
    /// Whether every listener that ran succeeded.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Runs queued events' listeners: what a queue's workers call.
///
/// Each listener of a source has a key (its name, made unique), so a retry
/// can skip the listeners that already succeeded.
#[derive(Clone)]
pub struct JobRunner {
    sources: Arc<HashMap<Box<str>, Arc<Source>>>,
    metrics: Metrics,
}

impl JobRunner {
    pub(crate) fn new(sources: Arc<HashMap<Box<str>, Arc<Source>>>, metrics: Metrics) -> Self {
        Self { sources, metrics }
    }

    /// Runs the event's matching listeners, except those whose keys are in
    /// `done`. An event of a source that is no longer configured fails.
    pub async fn run(&self, event: &WebhookEvent, done: &[String]) -> RunOutcome {
        let mut outcome = RunOutcome::default();
        let Some(source) = self.sources.get(event.source()) else {
            outcome.failed.push(String::new());
            outcome.last_error = Some(format!("source `{}` is not configured", event.source()));
            return outcome;
        };
        let mut any = false;
        for (key, listener) in source.matching_keyed(event.event_type()) {
            any = true;
            if done.iter().any(|d| d == key) {
                continue;
            }
            match run_listener(&**listener, event).await {
                Ok(()) => {
                    self.metrics
                        .handled(event.source(), event.event_type(), Handled::Ok);
                }
                Err(error) => {
                    self.metrics
                        .handled(event.source(), event.event_type(), Handled::Error);
                    outcome.failed.push(key.to_owned());
                    outcome.last_error = Some(error.to_string());
                }
            }
        }
        if !any {
            self.metrics
                .handled(event.source(), event.event_type(), Handled::Ignored);
        }
        if !outcome.failed.is_empty() {
            // Each listener ran once above: the ones that neither failed
            // nor were done before succeeded.
            outcome.succeeded = source
                .matching_keyed(event.event_type())
                .map(|(key, _)| key)
                .filter(|key| !done.iter().any(|d| d == key))
                .filter(|key| !outcome.failed.iter().any(|f| f == key))
                .map(str::to_owned)
                .collect();
        }
        outcome
    }
}

impl fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobRunner")
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

/// The delay before attempt `attempt + 1`: `initial` doubled per attempt
/// made, at most an hour.
///
/// ```
/// use std::time::Duration;
/// use webhooks_core::queue::backoff;
///
/// assert_eq!(backoff(Duration::from_millis(500), 3), Duration::from_secs(2));
/// ```
pub fn backoff(initial: Duration, attempt: u32) -> Duration {
    let factor = 1_u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    initial
        .saturating_mul(factor)
        .min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let initial = Duration::from_millis(500);
        assert_eq!(backoff(initial, 1), Duration::from_millis(500));
        assert_eq!(backoff(initial, 2), Duration::from_millis(1000));
        assert_eq!(backoff(initial, 4), Duration::from_millis(4000));
        assert_eq!(backoff(initial, 40), Duration::from_secs(3600));
    }
}
