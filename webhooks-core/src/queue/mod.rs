//! Queues: where accepted events wait until a worker runs them.
//!
//! A backend implements [`EventQueue`]'s storage steps (push, reserve,
//! renew, ack, retry at, dead, and the dead letters' list and requeue);
//! when to retry, how long to wait and when to give up is decided once, by
//! the core's worker.

mod erased;
mod memory;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::{StoreError, WebhookEvent};

pub(crate) use self::erased::Queue;
pub use self::memory::InMemoryEventQueue;

/// Why an event could not be queued (HTTP 503; nothing was recorded).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The queue holds `capacity` events, those waiting for a retry included.
    #[error("queue full")]
    Full,
    /// The queue's backend did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// Where a queued event stands, kept by the queue between runs and decided
/// by the core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobState {
    /// Runs started, this one included once reserved: the queue counts one
    /// more each time it hands the job out, so a run whose worker died
    /// still counts.
    pub attempts: u32,
    /// Runs that ended with a failure the core recorded.
    pub failures: u32,
    /// Keys of the listeners that already succeeded: a retry skips them.
    pub done: Vec<String>,
    /// The last failure's error.
    pub last_error: Option<String>,
}

impl JobState {
    /// Runs started before this one that never reported: their workers died.
    ///
    /// ```
    /// let mut state = webhooks_core::queue::JobState::default();
    /// state.attempts = 4;
    /// state.failures = 1;
    /// assert_eq!(state.lost(), 2);
    /// ```
    pub fn lost(&self) -> u32 {
        self.attempts
            .saturating_sub(1)
            .saturating_sub(self.failures)
    }
}

/// A job a worker holds: what [`EventQueue::reserve`] hands out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Reserved {
    /// The hold, for renewing and settling.
    pub reservation: Reservation,
    /// The event, its `attempt` set to the runs started.
    pub event: Arc<WebhookEvent>,
    /// Where it stands, `attempts` already counting this run.
    pub state: JobState,
}

impl Reserved {
    /// A reserved job, as a queue hands it out.
    pub fn new(reservation: Reservation, event: WebhookEvent, state: JobState) -> Self {
        Self::shared(reservation, Arc::new(event), state)
    }

    /// A reserved job whose event the queue keeps too, shared rather than
    /// copied.
    pub fn shared(reservation: Reservation, mut event: Arc<WebhookEvent>, state: JobState) -> Self {
        let attempt = state.attempts.max(1);
        if event.attempt() != attempt {
            Arc::make_mut(&mut event).set_attempt(attempt);
        }
        Self {
            reservation,
            event,
            state,
        }
    }
}

/// A worker's hold on a job: what the queue needs to find the job again,
/// and a token that tells this hold from a later one, so a worker that lost
/// its hold cannot settle its successor's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The queue's id of the job or of its entry; empty for a queue that
    /// finds it by the token alone.
    pub id: String,
    /// Tells this hold from any other of the same job.
    pub token: u64,
}

/// An event whose listeners failed on every attempt, or whose workers kept
/// dying.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The queue's id of the dead letter, for requeueing it.
    pub id: String,
    /// The event, its `attempt` the runs started.
    pub event: WebhookEvent,
    /// Where it stood when it was given up.
    pub state: JobState,
    /// Why it was given up: the last error, or `worker lost N times`.
    pub reason: String,
    /// When it was given up.
    pub failed_at: SystemTime,
}

impl DeadLetter {
    /// A dead letter, as a queue records it.
    pub fn new(
        id: impl Into<String>,
        event: WebhookEvent,
        state: JobState,
        reason: impl Into<String>,
        failed_at: SystemTime,
    ) -> Self {
        Self {
            id: id.into(),
            event: event.with_attempt(state.attempts.max(1)),
            state,
            reason: reason.into(),
            failed_at,
        }
    }
}

/// How many dead letters a queue keeps, and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterBounds {
    /// At most this many; the oldest go first.
    pub max: usize,
    /// None older than this.
    pub retention: Duration,
}

/// The storage of queued dispatch: every method is one atomic step; which
/// step to take is the core's worker's decision.
///
/// Holds are leases: a reserved job that is neither renewed nor settled
/// within its visibility timeout is handed out again (its worker died), and
/// then every settle of the old hold answers `false`.
///
/// Implement it with plain `async fn`s; [`InMemoryEventQueue`] is the
/// reference implementation, and the shared queue suite of the project's
/// tests (`tests/queue_backends.rs`) runs against every backend.
///
/// ```
/// use std::time::Duration;
/// use webhooks_core::queue::EventQueue;
/// use webhooks_core::{InMemoryEventQueue, WebhookEvent};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let queue = InMemoryEventQueue::new();
/// queue.push(WebhookEvent::new("stripe", "invoice.paid", "evt_1", "{}"), 100).await?;
/// let held = queue.reserve(10, Duration::from_secs(60), Duration::ZERO).await?;
/// assert_eq!((held[0].event.id(), held[0].state.attempts), ("evt_1", 1));
/// assert!(queue.ack(&held[0].reservation).await?);
/// assert!(!queue.ack(&held[0].reservation).await?, "settled once");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub trait EventQueue: Send + Sync + fmt::Debug + 'static {
    /// Appends a new job for `event`, unless the queue holds `capacity`
    /// jobs (ready, running or waiting for a retry).
    fn push(
        &self,
        event: WebhookEvent,
        capacity: usize,
    ) -> impl Future<Output = Result<(), PushError>> + Send;

    /// Up to `max` jobs for this worker: new ones, retries that are due, and
    /// jobs whose hold lapsed; each is counted as started once more before
    /// it is returned. Waits up to `wait` when there is none.
    fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Reserved>, StoreError>> + Send;

    /// Extends a hold by `visibility` from now; `false` when the job is no
    /// longer this hold's. (A backend may measure the hold from the last
    /// renewal against the `visibility` of the next `reserve`, as Redis's
    /// idle time is: the core passes the same value to both.)
    fn renew(
        &self,
        reservation: &Reservation,
        visibility: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Extends every hold of `reservations` by `visibility` from now, in
    /// one step where the backend can: the core renews all the holds of a
    /// worker loop's running jobs with one call. Answers, hold by hold in
    /// order, whether it was still this hold's (as [`EventQueue::renew`]).
    ///
    /// The default renews them one by one; a backend that can renew many
    /// in one round trip overrides it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhooks_core::queue::EventQueue;
    /// use webhooks_core::{InMemoryEventQueue, WebhookEvent};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let queue = InMemoryEventQueue::new();
    /// for id in ["evt_1", "evt_2"] {
    ///     queue.push(WebhookEvent::new("stripe", "invoice.paid", id, "{}"), 100).await?;
    /// }
    /// let visibility = Duration::from_secs(60);
    /// let held = queue.reserve(10, visibility, Duration::ZERO).await?;
    /// assert!(queue.ack(&held[1].reservation).await?);
    /// let holds = [&held[0].reservation, &held[1].reservation];
    /// assert_eq!(queue.renew_all(&holds, visibility).await?, [true, false]);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    fn renew_all(
        &self,
        reservations: &[&Reservation],
        visibility: Duration,
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send {
        async move {
            let mut held = Vec::with_capacity(reservations.len());
            for reservation in reservations {
                held.push(self.renew(reservation, visibility).await?);
            }
            Ok(held)
        }
    }

    /// Done: forgets the job; `false` (and nothing changes) when the job is
    /// no longer this hold's.
    fn ack(
        &self,
        reservation: &Reservation,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Runs the job again at `due`, keeping `state`; `false` when the job is
    /// no longer this hold's.
    fn retry_at(
        &self,
        reservation: &Reservation,
        due: SystemTime,
        state: &JobState,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the job up: it becomes a dead letter with `state` and `reason`,
    /// and the dead letters are trimmed to `bounds`; `false` when the job
    /// is no longer this hold's.
    fn dead(
        &self,
        reservation: &Reservation,
        state: &JobState,
        reason: &str,
        bounds: DeadLetterBounds,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Hands a held job back unfinished (shutdown), so another worker can
    /// take it at once; the cut-short run does not count as an attempt.
    fn hand_back(
        &self,
        reservation: &Reservation,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The dead letters, oldest first, of one source or of all.
    fn dead_letters(
        &self,
        source: Option<&str>,
    ) -> impl Future<Output = Result<Vec<DeadLetter>, StoreError>> + Send;

    /// Puts a dead letter back in the queue with fresh attempts (its
    /// succeeded listeners still skipped); whether it was found.
    fn requeue(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// This worker stops for good: a shared backend forgets it (for Redis,
    /// its consumer name). Returns the ids of the events that are lost with
    /// this process (an in-memory queue's), for the log.
    fn close(&self) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Whether accepted events survive a crash of this process.
    fn is_durable(&self) -> bool;
}
