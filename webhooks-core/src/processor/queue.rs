//! Queued dispatch: a bounded in-process queue, workers, retries with
//! exponential backoff, and dead letters.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio_util::task::TaskTracker;

use super::Source;
use crate::config::DispatchConfig;
use crate::listener::{ErasedListener, run_listener};
use crate::metrics::Handled;
use crate::{BuildError, Metrics, ProcessError, WebhookEvent};

/// An event whose listeners failed on every attempt.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The event, as of its last attempt.
    pub event: WebhookEvent,
    /// The listeners that still failed.
    pub listeners: Vec<String>,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it was given up.
    pub failed_at: SystemTime,
}

struct Job {
    source: Arc<Source>,
    event: WebhookEvent,
}

/// What running jobs share.
struct Runner {
    metrics: Metrics,
    max_attempts: u32,
    backoff_initial: Duration,
    workers: Arc<Semaphore>,
    dead: Mutex<VecDeque<DeadLetter>>,
    dead_capacity: usize,
}

pub(super) struct Queue {
    sender: mpsc::Sender<Job>,
    runner: Arc<Runner>,
    stop: Arc<Notify>,
    drained: watch::Receiver<bool>,
}

pub(super) struct Permit<'a>(mpsc::Permit<'a, Job>);

impl Permit<'_> {
    pub(super) fn send(self, source: Arc<Source>, event: WebhookEvent) {
        self.0.send(Job { source, event });
    }
}

impl Queue {
    pub(super) fn start(config: &DispatchConfig, metrics: Metrics) -> Result<Self, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        let runner = Arc::new(Runner {
            metrics,
            max_attempts: config.max_attempts,
            backoff_initial: Duration::from_millis(config.backoff_initial_ms),
            workers: Arc::new(Semaphore::new(workers)),
            dead: Mutex::new(VecDeque::new()),
            dead_capacity: config.queue_capacity,
        });
        let stop = Arc::new(Notify::new());
        let (drained_tx, drained) = watch::channel(false);
        runtime.spawn(dispatch_loop(
            receiver,
            Arc::clone(&runner),
            Arc::clone(&stop),
            drained_tx,
        ));
        Ok(Self {
            sender,
            runner,
            stop,
            drained,
        })
    }

    /// A place in the queue, taken before anything is recorded.
    pub(super) fn reserve(&self) -> Result<Permit<'_>, ProcessError> {
        match self.sender.try_reserve() {
            Ok(permit) => Ok(Permit(permit)),
            Err(mpsc::error::TrySendError::Full(())) => Err(ProcessError::QueueFull),
            Err(mpsc::error::TrySendError::Closed(())) => Err(ProcessError::ShuttingDown),
        }
    }

    pub(super) fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.runner.dead).iter().cloned().collect()
    }

    pub(super) async fn shutdown(&self) {
        self.stop.notify_one();
        let mut drained = self.drained.clone();
        let _ = drained.wait_for(|done| *done).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Hands queued jobs to tasks, at most `workers` running at once, until
/// stopped (or every sender is gone), then waits for the running ones.
async fn dispatch_loop(
    mut receiver: mpsc::Receiver<Job>,
    runner: Arc<Runner>,
    stop: Arc<Notify>,
    drained: watch::Sender<bool>,
) {
    let tracker = TaskTracker::new();
    loop {
        let permit = Arc::clone(&runner.workers)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let job = tokio::select! {
            job = receiver.recv() => job,
            () = stop.notified() => {
                // Take no more; what is queued still runs below.
                receiver.close();
                receiver.recv().await
            }
        };
        let Some(job) = job else { break };
        tracker.spawn(run_job(job, Arc::clone(&runner), permit));
    }
    tracker.close();
    tracker.wait().await;
    let _ = drained.send(true);
}

/// Runs a job's listeners; the failing ones are retried with exponential
/// backoff until they succeed or `max_attempts` is reached. Listeners that
/// succeeded are not run again.
async fn run_job(job: Job, runner: Arc<Runner>, first_permit: tokio::sync::OwnedSemaphorePermit) {
    let Job { source, mut event } = job;
    let mut pending: Vec<&Arc<dyn ErasedListener>> = source.matching(event.event_type()).collect();
    if pending.is_empty() {
        runner
            .metrics
            .handled(&source.name, event.event_type(), Handled::Ignored);
        return;
    }
    let mut permit = Some(first_permit);
    let mut attempt = 1;
    loop {
        let _running = match permit.take() {
            Some(permit) => permit,
            None => Arc::clone(&runner.workers)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed"),
        };
        let mut last_error = String::new();
        let mut failed = Vec::new();
        for listener in pending {
            match run_listener(&**listener, &event).await {
                Ok(()) => runner
                    .metrics
                    .handled(&source.name, event.event_type(), Handled::Ok),
                Err(error) => {
                    runner
                        .metrics
                        .handled(&source.name, event.event_type(), Handled::Error);
                    last_error = error.to_string();
                    failed.push(listener);
                }
            }
        }
        drop(_running);
        pending = failed;
        if pending.is_empty() {
            return;
        }
        if attempt >= runner.max_attempts {
            let listeners: Vec<String> = pending.iter().map(|l| l.name().to_owned()).collect();
            tracing::error!(
                source = event.source(),
                event_type = event.event_type(),
                id = event.id(),
                attempts = attempt,
                listeners = ?listeners,
                error = %last_error,
                "webhook event dead-lettered after its last attempt"
            );
            let mut dead = lock(&runner.dead);
            if dead.len() >= runner.dead_capacity {
                dead.pop_front();
            }
            dead.push_back(DeadLetter {
                event,
                listeners,
                error: last_error,
                attempts: attempt,
                failed_at: SystemTime::now(),
            });
            return;
        }
        tokio::time::sleep(backoff(runner.backoff_initial, attempt)).await;
        attempt += 1;
        event = event.with_attempt(attempt);
    }
}

/// The delay before attempt `attempt + 1`: the initial delay doubled per
/// attempt made, at most an hour.
fn backoff(initial: Duration, attempt: u32) -> Duration {
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
