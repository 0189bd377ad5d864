//! The in-process queue: jobs, holds and dead letters in process memory.
//! Events wait only in this process: a crash loses them.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;

use super::{DeadLetter, DeadLetterBounds, EventQueue, JobState, PushError, Reservation, Reserved};
use crate::{StoreError, WebhookEvent};

/// The default queue of `mode = "queued"`: every job in process memory.
///
/// It keeps what the core decides (holds with their deadlines, retries due
/// at a time, dead letters) and nothing more; the worker loop, the retry
/// policy and the dead-lettering are the core's, the same for every queue.
///
/// ```
/// use webhooks_core::queue::{EventQueue, InMemoryEventQueue};
///
/// let queue = InMemoryEventQueue::new();
/// assert!(!queue.is_durable());
/// ```
#[derive(Debug, Default)]
pub struct InMemoryEventQueue {
    state: Mutex<State>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct State {
    jobs: HashMap<u64, Stored>,
    ready: VecDeque<u64>,
    delayed: BTreeSet<(SystemTime, u64)>,
    /// Holds, by token (unique per hold): the job and the deadline.
    held: HashMap<u64, (u64, Instant)>,
    /// Oldest first; a letter's id is its job's.
    dead: VecDeque<DeadLetter>,
    next_id: u64,
    next_token: u64,
}

#[derive(Debug)]
struct Stored {
    /// Shared with the worker that holds it: handing a job out copies no
    /// header and no string.
    event: Arc<WebhookEvent>,
    state: JobState,
}

impl InMemoryEventQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update under the lock leaves the maps consistent between
        // statements that can panic, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands out up to `max` jobs now: lapsed holds first, then due
    /// retries, then new jobs; and how long until the next retry is due.
    fn take(&self, max: usize, visibility: Duration) -> (Vec<Reserved>, Option<Duration>) {
        let mut state = self.lock();
        let State {
            held,
            ready,
            delayed,
            ..
        } = &mut *state;
        let now = Instant::now();
        // A few holds at most (one per worker): a scan is cheapest.
        held.retain(|_, (id, until)| {
            let live = *until > now;
            if !live {
                ready.push_front(*id);
            }
            live
        });
        let wall = SystemTime::now();
        while delayed.first().is_some_and(|(due, _)| *due <= wall) {
            ready.extend(delayed.pop_first().map(|(_, id)| id));
        }
        let mut taken = Vec::new();
        while taken.len() < max {
            let Some(id) = state.ready.pop_front() else {
                break;
            };
            state.next_token += 1;
            let token = state.next_token;
            state.held.insert(token, (id, now + visibility));
            let stored = state.jobs.get_mut(&id).expect("a ready job is stored");
            stored.state.attempts += 1;
            // No other holder shares the event now, so this copies nothing.
            Arc::make_mut(&mut stored.event).set_attempt(stored.state.attempts);
            let reservation = Reservation {
                id: String::new(),
                token,
            };
            let event = Arc::clone(&stored.event);
            taken.push(Reserved::shared(reservation, event, stored.state.clone()));
        }
        let until = |(due, _): &(SystemTime, u64)| due.duration_since(wall).unwrap_or_default();
        (taken, state.delayed.first().map(until))
    }

    /// Keeps a job, ready to be handed out.
    fn keep(&self, state: &mut State, event: Arc<WebhookEvent>, job: JobState) {
        state.next_id += 1;
        let id = state.next_id;
        state.jobs.insert(id, Stored { event, state: job });
        state.ready.push_back(id);
        self.arrived.notify_one();
    }

    /// Runs `settle` on the job if `reservation` still holds it.
    fn settle(&self, reservation: &Reservation, settle: impl FnOnce(&mut State, u64)) -> bool {
        let mut state = self.lock();
        let held = state.held.remove(&reservation.token);
        held.map(|(id, _)| settle(&mut state, id)).is_some()
    }
}

impl State {
    /// Moves a hold's deadline to `until`; whether it is still held.
    fn extend(&mut self, reservation: &Reservation, until: Instant) -> bool {
        let hold = self.held.get_mut(&reservation.token);
        hold.map(|(_, deadline)| *deadline = until).is_some()
    }
}

impl EventQueue for InMemoryEventQueue {
    async fn push(&self, event: WebhookEvent, capacity: usize) -> Result<(), PushError> {
        let mut state = self.lock();
        if state.jobs.len() >= capacity {
            return Err(PushError::Full);
        }
        self.keep(&mut state, Arc::new(event), JobState::default());
        Ok(())
    }

    async fn reserve(
        &self,
        max: usize,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<Reserved>, StoreError> {
        let deadline = Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let (taken, until_due) = self.take(max, visibility);
            let now = Instant::now();
            if !taken.is_empty() || now >= deadline {
                return Ok(taken);
            }
            // Wake for a retry that becomes due meanwhile too.
            let until_due = until_due
                .unwrap_or(Duration::MAX)
                .max(Duration::from_millis(1));
            let pause = (deadline - now).min(until_due);
            let _ = tokio::time::timeout(pause, arrived).await;
        }
    }

    async fn renew(
        &self,
        reservation: &Reservation,
        visibility: Duration,
    ) -> Result<bool, StoreError> {
        let until = Instant::now() + visibility;
        Ok(self.lock().extend(reservation, until))
    }

    async fn renew_all(
        &self,
        reservations: &[&Reservation],
        visibility: Duration,
    ) -> Result<Vec<bool>, StoreError> {
        let until = Instant::now() + visibility;
        let mut state = self.lock();
        Ok(reservations
            .iter()
            .map(|reservation| state.extend(reservation, until))
            .collect())
    }

    async fn ack(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        Ok(self.settle(reservation, |state, id| {
            state.jobs.remove(&id);
        }))
    }

    async fn retry_at(
        &self,
        reservation: &Reservation,
        due: SystemTime,
        job: &JobState,
    ) -> Result<bool, StoreError> {
        let settled = self.settle(reservation, |state, id| {
            if let Some(stored) = state.jobs.get_mut(&id) {
                stored.state = job.clone();
                state.delayed.insert((due, id));
            }
        });
        self.arrived.notify_one();
        Ok(settled)
    }

    async fn dead(
        &self,
        reservation: &Reservation,
        job: &JobState,
        reason: &str,
        bounds: DeadLetterBounds,
    ) -> Result<bool, StoreError> {
        Ok(self.settle(reservation, |state, id| {
            let Some(stored) = state.jobs.remove(&id) else {
                return;
            };
            let now = SystemTime::now();
            let event = Arc::unwrap_or_clone(stored.event);
            let letter = DeadLetter::new(id.to_string(), event, job.clone(), reason, now);
            state.dead.push_back(letter);
            let excess = state.dead.len().saturating_sub(bounds.max);
            state.dead.drain(..excess);
            let oldest = now.checked_sub(bounds.retention);
            state
                .dead
                .retain(|letter| oldest.is_none_or(|at| letter.failed_at >= at));
        }))
    }

    async fn hand_back(&self, reservation: &Reservation) -> Result<(), StoreError> {
        // The run was cut short, not lost: it does not count as an attempt.
        self.settle(reservation, |state, id| {
            if let Some(stored) = state.jobs.get_mut(&id) {
                stored.state.attempts = stored.state.attempts.saturating_sub(1);
            }
            state.ready.push_front(id);
        });
        self.arrived.notify_one();
        Ok(())
    }

    async fn dead_letters(&self, source: Option<&str>) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self
            .lock()
            .dead
            .iter()
            .filter(|letter| source.is_none_or(|source| letter.event.source() == source))
            .cloned()
            .collect())
    }

    async fn requeue(&self, id: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let Some(index) = state.dead.iter().position(|letter| letter.id == id) else {
            return Ok(false);
        };
        let letter = state.dead.remove(index).expect("found above");
        // Fresh attempts; the listeners that succeeded are still skipped.
        let fresh = JobState {
            done: letter.state.done,
            ..JobState::default()
        };
        self.keep(&mut state, Arc::new(letter.event), fresh);
        Ok(true)
    }

    async fn close(&self) -> Result<Vec<String>, StoreError> {
        let mut state = self.lock();
        let lost = state
            .jobs
            .values()
            .map(|stored| format!("{}:{}", stored.event.source(), stored.event.id()))
            .collect();
        *state = State::default();
        Ok(lost)
    }

    fn is_durable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn event(id: &str) -> WebhookEvent {
        WebhookEvent::new("s", "t", id, "{}")
    }

    #[tokio::test]
    async fn capacity_counts_retries_and_holds() {
        let queue = InMemoryEventQueue::new();
        queue.push(event("a"), 2).await.unwrap();
        queue.push(event("b"), 2).await.unwrap();
        assert!(matches!(
            queue.push(event("c"), 2).await,
            Err(PushError::Full)
        ));
        let held = queue.reserve(1, LONG, Duration::ZERO).await.unwrap();
        let later = SystemTime::now() + LONG;
        assert!(
            queue
                .retry_at(&held[0].reservation, later, &held[0].state)
                .await
                .unwrap()
        );
        assert!(matches!(
            queue.push(event("c"), 2).await,
            Err(PushError::Full)
        ));
    }

    #[tokio::test]
    async fn a_lapsed_hold_is_handed_out_again_and_the_old_one_settles_nothing() {
        let queue = InMemoryEventQueue::new();
        queue.push(event("a"), 10).await.unwrap();
        let first = queue
            .reserve(1, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(first[0].state.attempts, 1);
        let second = queue.reserve(1, LONG, Duration::ZERO).await.unwrap();
        assert_eq!(second[0].state.attempts, 2);
        assert_eq!(second[0].event.attempt(), 2);
        assert!(!queue.renew(&first[0].reservation, LONG).await.unwrap());
        assert!(!queue.ack(&first[0].reservation).await.unwrap());
        assert!(queue.ack(&second[0].reservation).await.unwrap());
        assert!(queue.close().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_renewed_hold_outlasts_its_first_visibility() {
        let queue = InMemoryEventQueue::new();
        queue.push(event("a"), 10).await.unwrap();
        // Lapsed at once unless renewed.
        let held = queue
            .reserve(1, Duration::ZERO, Duration::ZERO)
            .await
            .unwrap();
        assert!(queue.renew(&held[0].reservation, LONG).await.unwrap());
        let again = queue.reserve(1, LONG, Duration::ZERO).await.unwrap();
        assert!(again.is_empty(), "a renewed hold was handed out again");
        assert!(queue.ack(&held[0].reservation).await.unwrap());
    }

    #[tokio::test]
    async fn dead_letters_are_bounded_and_requeued_with_fresh_attempts() {
        let queue = InMemoryEventQueue::new();
        let bounds = DeadLetterBounds {
            max: 2,
            retention: LONG,
        };
        for id in ["a", "b", "c"] {
            queue.push(event(id), 10).await.unwrap();
            let held = queue.reserve(1, LONG, Duration::ZERO).await.unwrap();
            let mut state = held[0].state.clone();
            state.done = vec!["first".into()];
            assert!(
                queue
                    .dead(&held[0].reservation, &state, "boom", bounds)
                    .await
                    .unwrap()
            );
        }
        let dead = queue.dead_letters(None).await.unwrap();
        assert_eq!(
            dead.iter().map(|l| l.event.id()).collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert!(queue.dead_letters(Some("other")).await.unwrap().is_empty());
        assert!(queue.requeue(&dead[0].id).await.unwrap());
        assert!(!queue.requeue(&dead[0].id).await.unwrap());
        let again = queue.reserve(1, LONG, Duration::ZERO).await.unwrap();
        assert_eq!(again[0].state.attempts, 1);
        assert_eq!(again[0].state.done, ["first"]);
        assert_eq!(queue.close().await.unwrap(), ["s:b"]);
    }
}
