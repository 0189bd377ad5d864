//! The in-process queue: bounded, with workers, retries and dead letters in
//! memory. Events wait only in this process: a crash loses them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio_util::task::TaskTracker;

use super::{DeadLetter, EnqueueError, EventQueue, JobRunner, backoff};
use crate::config::DispatchConfig;
use crate::{BoxFuture, StoreError, WebhookEvent};

/// The default queue of `mode = "queued"`: a bounded channel in process
/// memory and `workers` tasks, retrying failed listeners with exponential
/// backoff, then keeping the event as a dead letter.
///
/// ```
/// use webhooks_core::config::DispatchConfig;
/// use webhooks_core::queue::{EventQueue, InMemoryEventQueue};
///
/// let queue = InMemoryEventQueue::new(&DispatchConfig::default());
/// assert!(!queue.is_durable());
/// ```
#[derive(Debug)]
pub struct InMemoryEventQueue {
    sender: mpsc::Sender<Job>,
    receiver: Mutex<Option<mpsc::Receiver<Job>>>,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    drained: watch::Receiver<bool>,
    drained_sender: Mutex<Option<watch::Sender<bool>>>,
}

#[derive(Debug)]
struct Job {
    event: WebhookEvent,
    done: Vec<String>,
}

/// What the workers share.
#[derive(Debug)]
struct Shared {
    max_attempts: u32,
    backoff_initial: Duration,
    workers: Arc<Semaphore>,
    dead: Mutex<VecDeque<(DeadLetter, Vec<String>)>>,
    dead_capacity: usize,
    next_dead_id: AtomicU64,
}

impl InMemoryEventQueue {
    /// A queue with the capacity, workers and retry policy of `config`.
    pub fn new(config: &DispatchConfig) -> Self {
        let workers = config
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        let (sender, receiver) = mpsc::channel(config.queue_capacity);
        let (drained_sender, drained) = watch::channel(false);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
            shared: Arc::new(Shared {
                max_attempts: config.max_attempts,
                backoff_initial: Duration::from_millis(config.backoff_initial_ms),
                workers: Arc::new(Semaphore::new(workers)),
                dead: Mutex::new(VecDeque::new()),
                dead_capacity: config.queue_capacity,
                next_dead_id: AtomicU64::new(1),
            }),
            stop: Arc::new(Notify::new()),
            drained,
            drained_sender: Mutex::new(Some(drained_sender)),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EventQueue for InMemoryEventQueue {
    fn enqueue(&self, event: WebhookEvent) -> BoxFuture<'_, Result<(), EnqueueError>> {
        let job = Job {
            event,
            done: Vec::new(),
        };
        let sent = self.sender.try_send(job).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => EnqueueError::Full,
            mpsc::error::TrySendError::Closed(_) => EnqueueError::Closed,
        });
        Box::pin(std::future::ready(sent))
    }

    fn start(&self, runner: JobRunner) -> Result<(), StoreError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError::new("the queue's workers need a Tokio runtime"))?;
        let receiver = lock(&self.receiver)
            .take()
            .ok_or_else(|| StoreError::new("the queue was started twice"))?;
        let drained = lock(&self.drained_sender)
            .take()
            .expect("taken together with the receiver");
        runtime.spawn(dispatch_loop(
            receiver,
            runner,
            Arc::clone(&self.shared),
            Arc::clone(&self.stop),
            drained,
        ));
        Ok(())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if lock(&self.receiver).is_some() {
                return; // never started
            }
            self.stop.notify_one();
            let mut drained = self.drained.clone();
            let _ = drained.wait_for(|done| *done).await;
        })
    }

    fn dead_letters(&self) -> BoxFuture<'_, Result<Vec<DeadLetter>, StoreError>> {
        let letters = lock(&self.shared.dead)
            .iter()
            .map(|(letter, _)| letter.clone())
            .collect();
        Box::pin(std::future::ready(Ok(letters)))
    }

    fn requeue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let result = (|| {
            let mut dead = lock(&self.shared.dead);
            let Some(index) = dead.iter().position(|(letter, _)| letter.id == id) else {
                return Ok(false);
            };
            let permit = self
                .sender
                .try_reserve()
                .map_err(|_| StoreError::new("the queue is full or closed"))?;
            let (letter, done) = dead.remove(index).expect("found above");
            permit.send(Job {
                event: letter.event.with_attempt(1),
                done,
            });
            Ok(true)
        })();
        Box::pin(std::future::ready(result))
    }

    fn is_durable(&self) -> bool {
        false
    }
}

/// Hands queued jobs to tasks, at most `workers` running at once, until
/// stopped (or every sender is gone), then waits for the running ones.
async fn dispatch_loop(
    mut receiver: mpsc::Receiver<Job>,
    runner: JobRunner,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    drained: watch::Sender<bool>,
) {
    let tracker = TaskTracker::new();
    loop {
        let permit = Arc::clone(&shared.workers)
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
        tracker.spawn(run_job(job, runner.clone(), Arc::clone(&shared), permit));
    }
    tracker.close();
    tracker.wait().await;
    let _ = drained.send(true);
}

/// Runs a job until its listeners all succeeded or `max_attempts` runs
/// were made; listeners that succeeded are not run again.
async fn run_job(
    job: Job,
    runner: JobRunner,
    shared: Arc<Shared>,
    first_permit: tokio::sync::OwnedSemaphorePermit,
) {
    let Job {
        mut event,
        mut done,
    } = job;
    let mut permit = Some(first_permit);
    loop {
        let running = match permit.take() {
            Some(permit) => permit,
            None => Arc::clone(&shared.workers)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed"),
        };
        let outcome = runner.run(&event, &done).await;
        drop(running);
        done.extend(outcome.succeeded);
        if outcome.failed.is_empty() {
            return;
        }
        let attempt = event.attempt();
        if attempt >= shared.max_attempts {
            let error = outcome.last_error.unwrap_or_default();
            tracing::error!(
                source = event.source(),
                event_type = event.event_type(),
                id = event.id(),
                attempts = attempt,
                listeners = ?outcome.failed,
                error = %error,
                "webhook event dead-lettered after its last attempt"
            );
            let mut dead = lock(&shared.dead);
            if dead.len() >= shared.dead_capacity {
                if let Some((dropped, _)) = dead.pop_front() {
                    tracing::error!(
                        id = dropped.event.id(),
                        "dead letters full: dropping the oldest"
                    );
                }
            }
            let id = shared
                .next_dead_id
                .fetch_add(1, Ordering::Relaxed)
                .to_string();
            dead.push_back((
                DeadLetter {
                    id,
                    event,
                    listeners: outcome.failed,
                    error,
                    failed_at: SystemTime::now(),
                },
                done,
            ));
            return;
        }
        tokio::time::sleep(backoff(shared.backoff_initial, attempt)).await;
        event = event.with_attempt(attempt + 1);
    }
}
