//! The event lifecycle, written once for every backend and both dispatch
//! modes: claim → run (the hold kept alive) → done | retry at T | dead.
//!
//! Inline, the listeners run before the answer while the claim is renewed;
//! queued, the event is pushed and the worker ([`worker`]) runs it, its
//! hold on the job renewed with those of the loop's other running jobs.
//! Backends only store; every decision is here.

mod key;
mod lease;
mod log;
mod policy;
mod renewer;
mod run;
mod worker;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use self::key::StoreKey;
use self::lease::{Detached, Kept, keep_alive, renew_every};
use self::run::run_listeners;
use crate::event_log::{Arrival, EventStatus, Log};
use crate::intake::{Enqueued, ErasedIntake};
use crate::queue::{PushError, Queue};
use crate::source::Source;
use crate::store::Store;
use crate::{Claim, Lease, Metrics, ProcessError, Processed, StoreError, WebhookEvent};

pub(crate) use self::policy::RetryPolicy;
pub use self::policy::backoff;

/// How long shutdown waits for cut-short work to hand its events back.
const HAND_BACK_WAIT: Duration = Duration::from_secs(5);

/// The lifecycle's settings, from `[webhooks.idempotency]`,
/// `[webhooks.dispatch]` and `shutdown-timeout-seconds`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// How long a completed delivery id is remembered.
    pub(crate) ttl: Duration,
    /// How long a claim holds a delivery id unrenewed.
    pub(crate) lease: Duration,
    /// A listener still running then has failed.
    pub(crate) listener_timeout: Duration,
    /// Queued: jobs held at most, retries included.
    pub(crate) capacity: usize,
    /// Queued: how long a worker's hold lasts unrenewed.
    pub(crate) visibility: Duration,
    /// Queued: events run at once.
    pub(crate) workers: usize,
    /// Queued: attempts, backoff, dead letters.
    pub(crate) policy: RetryPolicy,
    /// Shutdown: how long in-flight work may still run.
    pub(crate) shutdown_timeout: Duration,
}

/// One processor's lifecycle: its sources, store, queue and settings.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    pub(crate) sources: HashMap<Box<str>, Arc<Source>>,
    pub(crate) store: Store,
    pub(crate) queue: Option<Queue>,
    /// The event log, unless `[webhooks.event-log] enabled = false`.
    pub(crate) log: Option<Log>,
    /// Whether the log keeps bodies and headers.
    pub(crate) keep_bodies: bool,
    /// The store's, queue's and log's accept steps in one round trip, when
    /// a backend gives them.
    intake: Option<Arc<dyn ErasedIntake>>,
    pub(crate) metrics: Metrics,
    pub(crate) settings: Settings,
    /// Shutdown began: no new delivery is taken. Read by every delivery, so
    /// a plain flag (the token's check takes a lock).
    stopping: AtomicBool,
    /// Shutdown began: no new job is reserved.
    stop: CancellationToken,
    /// Shutdown's deadline passed: in-flight work is cut short and handed back.
    abandon: CancellationToken,
    /// Inline runs and worker jobs in flight.
    tracker: TaskTracker,
    worker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Lifecycle {
    pub(crate) fn new(
        sources: HashMap<Box<str>, Arc<Source>>,
        store: Store,
        queue: Option<Queue>,
        log: Option<(Log, bool)>,
        intake: Option<Arc<dyn ErasedIntake>>,
        metrics: Metrics,
        settings: Settings,
    ) -> Self {
        let (log, keep_bodies) = match log {
            Some((log, keep_bodies)) => (Some(log), keep_bodies),
            None => (None, false),
        };
        // An intake writes the log only if the processor's log is remote
        // (the intake's own); an in-memory log, or a queue it does not
        // push to, means the steps are taken one by one.
        let intake = intake.filter(|intake| {
            let fits = intake.records_log() == matches!(log, Some(Log::Other(_)))
                && (queue.is_none() || intake.queues());
            if !fits {
                tracing::debug!("the backend's intake does not fit this processor's log and queue: steps taken one by one");
            }
            fits
        });
        for source in sources.values() {
            let listeners = source.listeners.iter().map(|listed| &*listed.key);
            metrics.describe_source(&source.name, listeners, queue.is_some());
        }
        Self {
            sources,
            store,
            queue,
            log,
            keep_bodies,
            intake,
            metrics,
            settings,
            stopping: AtomicBool::new(false),
            stop: CancellationToken::new(),
            abandon: CancellationToken::new(),
            tracker: TaskTracker::new(),
            worker: Mutex::new(None),
        }
    }

    /// Claims a verified event and runs it inline or queues it; hands the
    /// event type back for the metrics.
    pub(crate) async fn accept(
        self: &Arc<Self>,
        source: &Arc<Source>,
        event: WebhookEvent,
    ) -> (Result<Processed, ProcessError>, String) {
        if self.stopping.load(Ordering::Relaxed) {
            return (Err(ProcessError::ShuttingDown), event.into_id_and_type().1);
        }
        let key = StoreKey::new(&source.name, event.id());
        if let (Some(intake), Some(_)) = (&self.intake, &self.queue) {
            return self.enqueue_through(&**intake, &key, event).await;
        }
        let lease = match self.claim(&key, &event).await {
            Ok(Claim::Acquired(lease)) => lease,
            Ok(Claim::InProgress) => {
                let (id, event_type) = event.into_id_and_type();
                return (Err(ProcessError::InProgress { id }), event_type);
            }
            Ok(Claim::Completed) => {
                let (id, event_type) = event.into_id_and_type();
                return (Ok(Processed::Duplicate { id }), event_type);
            }
            Err(error) => return (Err(error.into()), event.into_id_and_type().1),
        };
        match &self.queue {
            Some(queue) => self.enqueue(queue, &key, &lease, event).await,
            None => {
                // Not tied to the connection: if the caller goes away, the
                // run goes on to its end and settles the claim.
                let run = Arc::clone(self)
                    .run_inline(key, lease, event)
                    .in_current_span();
                Detached::new(self.tracker.track_future(run)).await
            }
        }
    }

    /// Claims a delivery's key and records its arrival (or counts the
    /// redelivery): one step through the intake, else the store's claim
    /// and the log's write.
    async fn claim(
        self: &Arc<Self>,
        key: &StoreKey,
        event: &WebhookEvent,
    ) -> Result<Claim, StoreError> {
        let lease = self.settings.lease;
        if let Some(intake) = &self.intake {
            let headers = self.kept_headers(event);
            let received = self.received_of(event, headers.as_deref(), Arrival::Delivery);
            return intake.claim(key, lease, received.as_ref()).await;
        }
        let claim = self.store.claim(key, lease).await;
        match &claim {
            Ok(Claim::Acquired(_)) => self.log_received(event, Arrival::Delivery).await,
            Ok(Claim::InProgress | Claim::Completed) => {
                self.log_redelivered(key.source(), event.id()).await;
            }
            Err(_) => {}
        }
        claim
    }

    /// Queued, through the intake: claim, record, push and complete in one
    /// atomic step.
    async fn enqueue_through(
        self: &Arc<Self>,
        intake: &dyn ErasedIntake,
        key: &StoreKey,
        mut event: WebhookEvent,
    ) -> (Result<Processed, ProcessError>, String) {
        // What the queue keeps is a record: it never holds a secret.
        event.drop_secret_headers();
        // Counted before the push: a worker may settle the event before
        // the intake answers.
        self.metrics
            .queue_moved(key.source(), event.event_type(), 1);
        let enqueued = {
            let headers = self.kept_headers(&event);
            let received = self.received_of(&event, headers.as_deref(), Arrival::Delivery);
            let settings = &self.settings;
            intake
                .enqueue(
                    key,
                    settings.ttl,
                    settings.capacity,
                    &event,
                    received.as_ref(),
                )
                .await
        };
        if !matches!(enqueued, Ok(Enqueued::Queued)) {
            self.metrics
                .queue_moved(key.source(), event.event_type(), -1);
        }
        let (id, event_type) = event.into_id_and_type();
        let answer = match enqueued {
            Ok(Enqueued::Queued) => Ok(Processed::Accepted { id }),
            Ok(Enqueued::Completed) => Ok(Processed::Duplicate { id }),
            Ok(Enqueued::InProgress) => Err(ProcessError::InProgress { id }),
            Ok(Enqueued::Full) => {
                self.log_not_queued((key.source(), &id), &PushError::Full)
                    .await;
                Err(ProcessError::QueueFull)
            }
            Err(error) => Err(error.into()),
        };
        (answer, event_type)
    }

    /// Inline: runs the listeners while the claim is renewed, then completes
    /// it (every listener succeeded) or releases it (so the provider's
    /// retry runs them again).
    ///
    /// A plain `fn` returning an `async move` block: an `async fn` keeps its
    /// arguments twice, and this future is boxed for every delivery.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps its arguments twice"
    )]
    fn run_inline(
        self: Arc<Self>,
        key: StoreKey,
        lease: Lease,
        event: WebhookEvent,
    ) -> impl Future<Output = (Result<Processed, ProcessError>, String)> + Send + 'static {
        async move {
            // Looked up again rather than an `Arc` cloned: every delivery would
            // bump one shared counter from every thread.
            let source = &*self.sources[event.source()];
            let settings = &self.settings;
            let kept = {
                let work = std::pin::pin!(run_listeners(
                    Some(source),
                    &event,
                    &[],
                    settings.listener_timeout,
                    &self.metrics,
                    self.records_runs(),
                ));
                let renew = || self.store.renew(&key, &lease, settings.lease);
                let keeper = |lost| renew_every(settings.lease / 3, renew, lost);
                keep_alive(work, keeper, &self.abandon).await
            };
            let Kept::Done {
                output: mut report,
                lost,
            } = kept
            else {
                let why = "cut short at shutdown; the provider's retry runs it again";
                self.log_ran_after_answer(
                    (event.source(), event.id()),
                    EventStatus::Failed,
                    None,
                    Some(why.into()),
                )
                .await;
                self.release(&key, &lease).await;
                tracing::error!(
                    source = event.source(),
                    id = event.id(),
                    "shutdown deadline: listeners cut short, claim released for the provider's retry"
                );
                return (Err(ProcessError::ShuttingDown), event.into_id_and_type().1);
            };
            if report.is_permanent() {
                return self.settle_permanent(key, lease, event, report, lost).await;
            }
            if !report.is_ok() {
                // Recorded before the release: the provider's retry may
                // claim it at once, and its record must not be overwritten.
                let error = report.last_error.take();
                self.log_ran_after_answer(
                    (event.source(), event.id()),
                    EventStatus::Failed,
                    Some(&mut report),
                    error,
                )
                .await;
                self.release(&key, &lease).await;
                let (id, event_type) = event.into_id_and_type();
                return (Err(ProcessError::ListenerFailed { id }), event_type);
            }
            let record = (event.source(), event.id());
            let completed = self
                .complete_and_log(&key, &lease, lost, record, &mut report)
                .await;
            let (id, event_type) = event.into_id_and_type();
            match completed {
                Ok(true) => (Ok(Processed::Accepted { id }), event_type),
                Ok(false) => {
                    self.metrics.claim_lost(&source.name);
                    tracing::error!(
                        source = &*source.name,
                        event_type = %event_type,
                        id = %id,
                        "claim lost while the listeners ran: another delivery of this event may have run them too"
                    );
                    (Err(ProcessError::ClaimLost { id }), event_type)
                }
                Err(error) => (Err(error.into()), event_type),
            }
        }
    }

    /// Inline: every failure was permanent. The key is completed (a
    /// redelivery is a duplicate: no retry can fix it), the event recorded
    /// as failed, and the answer is 200 `failed`; a claim that cannot be
    /// completed is a 503, as for a success.
    async fn settle_permanent(
        self: &Arc<Self>,
        key: StoreKey,
        lease: Lease,
        event: WebhookEvent,
        mut report: run::RunReport,
        lost: bool,
    ) -> (Result<Processed, ProcessError>, String) {
        let completed = if lost {
            Ok(false)
        } else {
            self.store.complete(&key, &lease, self.settings.ttl).await
        };
        let error = report.last_error.take();
        tracing::warn!(
            source = event.source(),
            event_type = event.event_type(),
            id = event.id(),
            error = error.as_deref().unwrap_or_default(),
            "webhook event failed permanently: recorded as failed, not retried"
        );
        let why = error.map(|error| format!("permanent failure, not retried: {error}"));
        self.log_ran_after_answer(
            (event.source(), event.id()),
            EventStatus::Failed,
            Some(&mut report),
            why,
        )
        .await;
        let (id, event_type) = event.into_id_and_type();
        match completed {
            Ok(true) => (Ok(Processed::Failed { id }), event_type),
            Ok(false) => {
                self.metrics.claim_lost(key.source());
                (Err(ProcessError::ClaimLost { id }), event_type)
            }
            Err(error) => (Err(error.into()), event_type),
        }
    }

    /// Queued: pushes the event, then marks its key completed; the claim is
    /// released if the queue refuses it.
    async fn enqueue(
        self: &Arc<Self>,
        queue: &Queue,
        key: &StoreKey,
        lease: &Lease,
        mut event: WebhookEvent,
    ) -> (Result<Processed, ProcessError>, String) {
        // What the queue keeps is a record: it never holds a secret.
        event.drop_secret_headers();
        // The queue takes the event itself; the answer keeps its id and type.
        let (id, event_type) = (event.id().to_owned(), event.event_type().to_owned());
        // Counted before the push: a worker may settle the event before
        // `push` returns.
        self.metrics.queue_moved(key.source(), &event_type, 1);
        if let Err(error) = queue.push(event, self.settings.capacity).await {
            self.metrics.queue_moved(key.source(), &event_type, -1);
            // Recorded before the release, as an inline failure is.
            self.log_not_queued((key.source(), &id), &error).await;
            self.release(key, lease).await;
            let error = match error {
                PushError::Full => ProcessError::QueueFull,
                PushError::Unavailable(error) => ProcessError::Unavailable(error),
            };
            return (Err(error), event_type);
        }
        match self.store.complete(key, lease, self.settings.ttl).await {
            Ok(true) => {}
            // The event is queued, so it is recorded and will run: answering
            // 2xx is right; only a redelivery after the lease could queue it
            // again.
            Ok(false) => tracing::warn!(id = %id, "event queued, but its claim was lost"),
            Err(error) => {
                tracing::warn!(error = %error, id = %id, "event queued, but its key could not be marked completed");
            }
        }
        (Ok(Processed::Accepted { id }), event_type)
    }

    /// Counts the queue's dead letters per source for the
    /// `webhooks_dead_letters` gauge: at start, and whenever one is added or
    /// requeued (rare, so reading them all is cheap enough).
    pub(crate) async fn count_dead_letters(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.dead_letters(None).await {
            Ok(letters) => {
                let mut counts = std::collections::BTreeMap::<&str, u64>::new();
                for letter in &letters {
                    *counts.entry(letter.event.source()).or_default() += 1;
                }
                for source in self.sources.keys() {
                    counts.entry(source).or_default();
                }
                self.metrics.set_dead_letters(counts);
            }
            Err(error) => tracing::debug!(error = %error, "could not count the dead letters"),
        }
    }

    /// Puts a dead letter back in the queue; whether it was found.
    pub(crate) async fn requeue(&self, queue: &Queue, id: &str) -> Result<bool, StoreError> {
        // Counted before the requeue, as a push is; the letter's source and
        // type are only in the letter (requeueing is rare: listing is fine).
        let letter = match queue.dead_letters(None).await {
            Ok(letters) => letters.into_iter().find(|letter| letter.id == id),
            Err(_) => None,
        };
        let labels = letter
            .as_ref()
            .map(|l| (l.event.source(), l.event.event_type()));
        if let Some((source, event_type)) = labels {
            self.metrics.queue_moved(source, event_type, 1);
        }
        // Recorded before the requeue: a worker may run it at once.
        if let Some(letter) = &letter {
            self.log_received(&letter.event, Arrival::Replay).await;
        }
        let requeued = queue.requeue(id).await;
        if let (Some((source, event_type)), false) = (labels, matches!(requeued, Ok(true))) {
            self.metrics.queue_moved(source, event_type, -1);
        }
        if let (Some(letter), false) = (&letter, matches!(requeued, Ok(true))) {
            let why = format!("requeue failed; still a dead letter: {}", letter.reason);
            self.log_ran(
                (letter.event.source(), letter.event.id()),
                EventStatus::Dead,
                None,
                Some(why),
            )
            .await;
        }
        self.count_dead_letters().await;
        requeued
    }

    /// Releases a claim, logging a store that does not answer (the claim
    /// then lapses after its lease).
    async fn release(&self, key: &str, lease: &Lease) {
        if let Err(error) = self.store.release(key, lease).await {
            tracing::warn!(error = %error, key, "could not release a claim; it lapses after its lease");
        }
    }

    /// Stops taking deliveries and reserving jobs, gives in-flight work
    /// `shutdown_timeout` to finish, then cuts it short and hands it back.
    pub(crate) async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.stop.cancel();
        let worker = self
            .worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let finished = async {
            if let Some(worker) = worker {
                let _ = worker.await;
            }
            self.tracker.close();
            self.tracker.wait().await;
        };
        if tokio::time::timeout(self.settings.shutdown_timeout, finished)
            .await
            .is_err()
        {
            tracing::warn!(
                "in-flight events did not finish within {:?}: handing them back",
                self.settings.shutdown_timeout
            );
            self.abandon.cancel();
            self.tracker.close();
            let _ = tokio::time::timeout(HAND_BACK_WAIT, self.tracker.wait()).await;
        }
        if let Some(queue) = &self.queue {
            match queue.close().await {
                Ok(lost) => {
                    for key in lost {
                        tracing::error!(key = %key, "queued event lost at shutdown: the in-memory queue does not outlive the process");
                    }
                }
                Err(error) => tracing::warn!(error = %error, "could not close the queue"),
            }
        }
    }
}
