//! The worker loop of queued dispatch, one for every queue: reserve what
//! free workers can take, run each job with its hold kept alive, settle it
//! as the policy decides.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument as _;

use super::Lifecycle;
use super::lease::{Kept, keep_alive};
use super::policy::Settle;
use super::renewer::Renewer;
use super::run::{RunReport, run_listeners};
use crate::WebhookEvent;
use crate::event_log::EventStatus;
use crate::queue::{JobState, Queue, Reservation, Reserved};

/// How long one reserve waits for a job before looking at the stop signal.
const RESERVE_WAIT: Duration = Duration::from_millis(500);
/// The pause after a queue that did not answer.
const FAILURE_PAUSE: Duration = Duration::from_millis(500);

impl Lifecycle {
    /// Starts the worker loop on the current runtime (queued mode).
    pub(crate) fn start_worker(self: &Arc<Self>) {
        let Some(queue) = self.queue.clone() else {
            return;
        };
        let worker = tokio::spawn(work(Arc::clone(self), queue));
        *self
            .worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(worker);
    }
}

/// Reserves jobs for free workers and runs each in a task, until stopped:
/// a durable queue stops reserving at once (what it holds waits for other
/// instances), an in-memory one drains what is ready first.
async fn work(lifecycle: Arc<Lifecycle>, queue: Queue) {
    let slots = Arc::new(Semaphore::new(lifecycle.settings.workers.max(1)));
    let durable = queue.is_durable();
    let visibility = lifecycle.settings.visibility;
    // Runs until this loop and its jobs are done: it renews their holds.
    let abandon = lifecycle.abandon.clone();
    let (renewer, renewing) = Renewer::new(queue.clone(), visibility, abandon);
    lifecycle.tracker.spawn(renewing);
    let mut failures = 0_u32;
    lifecycle.count_dead_letters().await;
    loop {
        let stopping = lifecycle
            .stopping
            .load(std::sync::atomic::Ordering::Relaxed);
        if (stopping && durable) || lifecycle.abandon.is_cancelled() {
            break;
        }
        // Reserve only for free workers: a job reserved but left waiting
        // would not be renewed, and could be taken over and run twice.
        let first = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("never closed"),
            () = lifecycle.stop.cancelled(), if !stopping => continue,
            () = lifecycle.abandon.cancelled() => break,
        };
        let free = 1 + slots.available_permits();
        let wait = if stopping {
            Duration::ZERO
        } else {
            RESERVE_WAIT
        };
        match queue.reserve(free, visibility, wait).await {
            Ok(jobs) => {
                failures = 0;
                if stopping && jobs.is_empty() {
                    break;
                }
                let mut first = Some(first);
                for job in jobs {
                    let slot = match first.take() {
                        Some(slot) => slot,
                        // Free already: only this loop takes slots.
                        None => Arc::clone(&slots)
                            .acquire_owned()
                            .await
                            .expect("never closed"),
                    };
                    let span = job_span(&job);
                    let task = run_job(
                        Arc::clone(&lifecycle),
                        queue.clone(),
                        renewer.clone(),
                        job,
                        slot,
                    );
                    lifecycle.tracker.spawn(task.instrument(span));
                }
            }
            Err(error) => {
                drop(first);
                failures += 1;
                if failures == 1 || failures % 60 == 0 {
                    tracing::warn!(error = %error, "reserving queued events failed; retrying");
                }
                tokio::select! {
                    () = tokio::time::sleep(FAILURE_PAUSE) => {}
                    () = lifecycle.abandon.cancelled() => break,
                }
            }
        }
    }
}

/// The span of one queued run: a `webhook` span as a delivery's, with the
/// run's attempt and `mode = "queued"`.
fn job_span(job: &Reserved) -> tracing::Span {
    let event = &job.event;
    tracing::info_span!(
        "webhook",
        source = event.source(),
        id = event.id(),
        event_type = event.event_type(),
        attempt = job.state.attempts,
        mode = "queued",
        outcome = tracing::field::Empty,
    )
}

/// Runs one job and settles it as the policy decides. A job whose hold was
/// lost is not settled: it belongs to whoever holds it now.
async fn run_job(
    lifecycle: Arc<Lifecycle>,
    queue: Queue,
    renewer: Renewer,
    job: Reserved,
    slot: OwnedSemaphorePermit,
) {
    let Reserved {
        reservation,
        event,
        mut state,
    } = job;
    let policy = &lifecycle.settings.policy;
    let mut runs = RunReport::default();
    let settle = match policy.abandoned(&state) {
        // Its workers kept dying: it is not run again.
        Some(reason) => Settle::Dead(reason),
        None => match run(&lifecycle, &queue, &renewer, &reservation, &event, &state).await {
            Some(mut report) => {
                let settle = policy.settle(&mut state, &mut report, SystemTime::now());
                if matches!(settle, Settle::RetryAt(_)) {
                    count_retries(&lifecycle, &event, &report.failed);
                }
                runs = report;
                settle
            }
            None => return,
        },
    };
    // The listeners are done: the slot takes the next job while this one
    // is settled, so a slow store delays settling, not the next runs.
    drop(slot);
    let outcome = match &settle {
        Settle::Ack => "succeeded",
        Settle::RetryAt(_) => "retrying",
        Settle::Dead(_) => "dead",
    };
    tracing::Span::current().record("outcome", outcome);
    tracing::debug!(outcome, "queued run settled");
    let (status, error) = match &settle {
        Settle::Ack => (EventStatus::Succeeded, None),
        Settle::RetryAt(_) => (EventStatus::Retrying, state.last_error.clone()),
        Settle::Dead(reason) => (EventStatus::Dead, Some(reason.clone())),
    };
    let record = (event.source(), event.id());
    let result = match &settle {
        Settle::Ack => {
            lifecycle
                .ack_and_log(&queue, &reservation, record, &mut runs)
                .await
        }
        // Recorded before the settle: once settled, a retry may run it again
        // at once, and a dead letter may be requeued.
        Settle::RetryAt(due) => {
            lifecycle
                .log_ran(record, status, Some(&mut runs), error)
                .await;
            queue.retry_at(&reservation, *due, &state).await
        }
        Settle::Dead(reason) => {
            lifecycle
                .log_ran(record, status, Some(&mut runs), error)
                .await;
            tracing::error!(
                source = event.source(),
                event_type = event.event_type(),
                id = event.id(),
                attempts = state.attempts,
                reason = %reason,
                "webhook event dead-lettered"
            );
            queue
                .dead(&reservation, &state, reason, policy.dead_letters)
                .await
        }
    };
    if matches!(settle, Settle::Ack | Settle::Dead(_)) && matches!(result, Ok(true)) {
        // Out of the queue: done, or a dead letter.
        lifecycle
            .metrics
            .queue_moved(event.source(), event.event_type(), -1);
    }
    settled(result, event.id());
    if matches!(settle, Settle::Dead(_)) {
        lifecycle.count_dead_letters().await;
    }
}

/// Runs the job's listeners while the loop's renewer renews its hold;
/// `None` when the job must not be settled here: cut short at shutdown
/// (handed back), or its hold lost meanwhile.
async fn run(
    lifecycle: &Lifecycle,
    queue: &Queue,
    renewer: &Renewer,
    reservation: &Reservation,
    event: &WebhookEvent,
    state: &JobState,
) -> Option<RunReport> {
    let source = lifecycle
        .sources
        .get(event.source())
        .map(|source| &**source);
    let work = std::pin::pin!(run_listeners(
        source,
        event,
        &state.done,
        lifecycle.settings.listener_timeout,
        &lifecycle.metrics,
        lifecycle.records_runs(),
    ));
    let keeper = |lost| renewer.keep(reservation, lost);
    match keep_alive(work, keeper, &lifecycle.abandon).await {
        Kept::Done {
            output: report,
            lost: false,
        } => Some(report),
        Kept::Done { lost: true, .. } => {
            tracing::error!(
                source = event.source(),
                id = event.id(),
                "the hold on a queued event was lost while it ran: another worker has it now; not settling"
            );
            None
        }
        Kept::Abandoned => {
            if let Err(error) = queue.hand_back(reservation).await {
                tracing::warn!(error = %error, id = event.id(), "could not hand a queued event back; it is taken over after the visibility timeout");
            }
            if !queue.is_durable() {
                tracing::error!(
                    source = event.source(),
                    id = event.id(),
                    "queued event cut short at shutdown and lost with this process"
                );
            }
            None
        }
    }
}

/// Counts each failed listener of a run scheduled for another attempt.
fn count_retries(lifecycle: &Lifecycle, event: &WebhookEvent, failed: &[String]) {
    let Some(source) = lifecycle.sources.get(event.source()) else {
        return;
    };
    for key in failed {
        if let Some(slot) = source.slot(key) {
            lifecycle
                .metrics
                .retried(event.source(), event.event_type(), slot);
        }
    }
}

/// Logs a settle that did not take.
fn settled(result: Result<bool, crate::StoreError>, id: &str) {
    match result {
        Ok(true) => {}
        Ok(false) => tracing::error!(
            id,
            "a queued event was taken over by another worker before it was settled; left to it"
        ),
        Err(error) => tracing::warn!(
            error = %error,
            id,
            "a queued event could not be settled; it is handed out again after the visibility timeout"
        ),
    }
}
