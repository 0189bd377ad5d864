//! Writing the event log, and replaying what it recorded: the lifecycle's
//! side of [`crate::event_log`].
//!
//! Writing the log never decides an answer: a write that fails is logged
//! and counted (`webhooks_event_log_errors_total`), and the delivery gets
//! the answer its store decided.

use std::future::Future;
use std::sync::Arc;

use tracing::Instrument as _;

use super::Lifecycle;
use super::key::StoreKey;
use super::run::{RunReport, run_listeners};
use crate::event_log::{
    Arrival, EventLog, EventPage, EventQuery, EventRecord, EventStatus, Log, Received, ReplayError,
    RunRecord,
};
use crate::queue::{PushError, Queue, Reservation};
use crate::{Headers, Lease, StoreError, WebhookEvent};

/// A run's record: its status and error, and the listeners' runs the
/// report holds (taken from it).
fn run_record(
    status: EventStatus,
    report: Option<&mut RunReport>,
    error: Option<String>,
) -> RunRecord {
    let listeners = report.map(|report| std::mem::take(&mut report.runs));
    RunRecord::new(status, listeners.unwrap_or_default(), error)
}

impl Lifecycle {
    /// Whether runs list each listener's outcome (for the log).
    pub(crate) fn records_runs(&self) -> bool {
        self.log.is_some()
    }

    /// An event was claimed, or is replayed: its record says `processing`.
    pub(crate) async fn log_received(&self, event: &WebhookEvent, arrival: Arrival) {
        let Some(log) = &self.log else {
            return;
        };
        // The in-memory log writes the header lines into its record: no
        // copy of them is made first.
        let headers;
        let received = if matches!(log, Log::Memory(_)) && self.keep_bodies {
            Received::with_header_lines(event, arrival)
        } else {
            headers = self.kept_headers(event);
            Received::of(event, arrival, headers.as_deref())
        };
        if let Err(error) = log.received(&received).await {
            self.log_failed(&error, event.id());
        }
    }

    /// The headers the log keeps of `event`: with its body, without
    /// secrets; `None` when bodies are not kept.
    pub(crate) fn kept_headers(&self, event: &WebhookEvent) -> Option<Vec<u8>> {
        (self.log.is_some() && self.keep_bodies).then(|| event.headers().to_lines_without_secrets())
    }

    /// The arrival the log records for `event`, `headers` being
    /// [`Lifecycle::kept_headers`]; `None` without a log.
    pub(crate) fn received_of<'a>(
        &self,
        event: &'a WebhookEvent,
        headers: Option<&'a [u8]>,
        arrival: Arrival,
    ) -> Option<Received<'a>> {
        self.log.as_ref()?;
        Some(Received::of(event, arrival, headers))
    }

    /// A redelivery of a key that was done or still running was caught:
    /// counted after the answer for a remote log (no round trip added).
    pub(crate) async fn log_redelivered(self: &Arc<Self>, source: &str, id: &str) {
        match &self.log {
            None => {}
            Some(Log::Memory(log)) => {
                if let Err(error) = EventLog::redelivered(&**log, source, id).await {
                    self.log_failed(&error, id);
                }
            }
            Some(Log::Other(log)) => {
                let (log, source, owned_id) = (Arc::clone(log), source.to_owned(), id.to_owned());
                self.write_after_answer(
                    id,
                    async move { log.redelivered(&source, &owned_id).await },
                );
            }
        }
    }

    /// [`Lifecycle::log_ran`] on the accept path: a remote log is written
    /// after the answer, so the accept path pays one round trip to the log
    /// at most (the `received` before the listeners run).
    pub(crate) async fn log_ran_after_answer(
        self: &Arc<Self>,
        (source, id): (&str, &str),
        status: EventStatus,
        report: Option<&mut RunReport>,
        error: Option<String>,
    ) {
        let Some(Log::Other(log)) = &self.log else {
            return self.log_ran((source, id), status, report, error).await;
        };
        let run = run_record(status, report, error);
        let (log, source, owned_id) = (Arc::clone(log), source.to_owned(), id.to_owned());
        self.write_after_answer(id, async move { log.ran(&source, &owned_id, &run).await });
    }

    /// A delivery the queue refused: recorded as failed, with why, for the
    /// provider's retry that the 503 asks for.
    pub(crate) async fn log_not_queued(self: &Arc<Self>, record: (&str, &str), error: &PushError) {
        let why = format!("not queued ({error}): answered 503 for the provider's retry");
        self.log_ran_after_answer(record, EventStatus::Failed, None, Some(why))
            .await;
    }

    /// Writes to a remote log in a tracked task, after the answer; a write
    /// that fails is logged and counted, as any.
    fn write_after_answer(
        self: &Arc<Self>,
        id: &str,
        write: impl Future<Output = Result<(), StoreError>> + Send + 'static,
    ) {
        let (lifecycle, id) = (Arc::clone(self), id.to_owned());
        self.tracker.spawn(async move {
            if let Err(error) = write.await {
                lifecycle.log_failed(&error, &id);
            }
        });
    }

    /// A run ended in `status`; `report` gives the listeners' runs.
    pub(crate) async fn log_ran(
        &self,
        (source, id): (&str, &str),
        status: EventStatus,
        report: Option<&mut RunReport>,
        error: Option<String>,
    ) {
        let Some(log) = &self.log else {
            return;
        };
        let run = run_record(status, report, error);
        if let Err(error) = log.ran(source, id, run).await {
            self.log_failed(&error, id);
        }
    }

    /// Inline, every listener succeeded: completes the claim (unless it
    /// was `lost`) and records the run; through the intake one step, else
    /// the store's complete, the record written after the answer. A claim
    /// lost or not completed is recorded with why.
    pub(crate) async fn complete_and_log(
        self: &Arc<Self>,
        key: &StoreKey,
        lease: &Lease,
        lost: bool,
        record: (&str, &str),
        report: &mut RunReport,
    ) -> Result<bool, StoreError> {
        let ttl = self.settings.ttl;
        let completed = match &self.intake {
            _ if lost => Ok(false),
            Some(intake) => {
                let run = self
                    .log
                    .is_some()
                    .then(|| run_record(EventStatus::Succeeded, Some(report), None));
                let logged = run.as_ref().map(|run| (record.0, record.1, run));
                let completed = intake.complete(key, lease, ttl, logged).await;
                if matches!(completed, Ok(true)) {
                    return completed;
                }
                // Nothing written: the runs go to the record below.
                if let Some(run) = run {
                    report.runs = run.listeners;
                }
                completed
            }
            None => self.store.complete(key, lease, ttl).await,
        };
        let note = match &completed {
            Ok(true) => None,
            Ok(false) => Some("claim lost while the listeners ran: answered 503".to_owned()),
            Err(error) => Some(format!("not recorded as done ({error}): answered 503")),
        };
        self.log_ran_after_answer(record, EventStatus::Succeeded, Some(report), note)
            .await;
        completed
    }

    /// Queued, done: acks the job and records its run; through the intake
    /// one step, else both written at once (one round trip of waiting: it
    /// is done, and nothing runs it again unless an operator asks).
    pub(crate) async fn ack_and_log(
        &self,
        queue: &Queue,
        reservation: &Reservation,
        (source, id): (&str, &str),
        report: &mut RunReport,
    ) -> Result<bool, StoreError> {
        if let Some(intake) = self.intake.as_ref().filter(|intake| intake.queues()) {
            let run = self
                .log
                .is_some()
                .then(|| run_record(EventStatus::Succeeded, Some(report), None));
            let acked = intake.ack(reservation, run.as_ref().map(|run| (source, id, run)));
            let acked = acked.await;
            if let (Err(error), Some(_)) = (&acked, &run) {
                self.log_failed(error, id);
            }
            return acked;
        }
        let log = self.log_ran((source, id), EventStatus::Succeeded, Some(report), None);
        tokio::join!(log, queue.ack(reservation)).1
    }

    fn log_failed(&self, error: &StoreError, id: &str) {
        self.metrics.event_log_failed();
        tracing::warn!(error = %error, id, "could not write the event log; the delivery's answer is unchanged");
    }

    /// A page of the log; `None` when there is no log.
    pub(crate) async fn events(&self, query: &EventQuery) -> Option<Result<EventPage, StoreError>> {
        Some(self.log.as_ref()?.list(query).await)
    }

    /// One record; `Ok(None)` when there is no log or no such record.
    pub(crate) async fn event(
        &self,
        source: &str,
        id: &str,
    ) -> Result<Option<EventRecord>, StoreError> {
        match &self.log {
            Some(log) => log.get(source, id).await,
            None => Ok(None),
        }
    }

    /// Runs a recorded event through its listeners again, as a new attempt
    /// whatever the dedupe says: queued, as a new job (with its retries), or
    /// by requeueing its dead letter when it has one; inline, in the
    /// background. Returns once it is queued or started.
    pub(crate) async fn replay(
        self: &Arc<Self>,
        source: &str,
        id: &str,
    ) -> Result<EventRecord, ReplayError> {
        let log = self.log.as_ref().ok_or(ReplayError::NoEventLog)?;
        if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ReplayError::ShuttingDown);
        }
        let record = log
            .get(source, id)
            .await
            .map_err(ReplayError::Unavailable)?
            .ok_or(ReplayError::NotFound)?;
        let Some(source) = self.sources.get(source) else {
            return Err(ReplayError::UnknownSource);
        };
        let Some(body) = record.body.clone() else {
            return Err(ReplayError::BodyNotKept);
        };
        let headers = record
            .headers
            .as_deref()
            .map(|lines| Headers::from_lines(lines.as_bytes()))
            .unwrap_or_default();
        let event = WebhookEvent::new(
            Arc::clone(&source.name),
            record.event_type.clone(),
            record.id.clone(),
            body,
        )
        .with_headers(headers)
        .with_received_at(record.received_at)
        .with_attempt(record.attempts.saturating_add(1));
        if let Some(queue) = &self.queue {
            // A dead event is replayed by requeueing its dead letter, so it
            // leaves the dead letters (and its listeners that had
            // succeeded are still skipped).
            let letters = queue
                .dead_letters(Some(&source.name))
                .await
                .map_err(ReplayError::Unavailable)?;
            if let Some(letter) = letters.iter().find(|letter| letter.event.id() == id) {
                return match self.requeue(queue, &letter.id).await {
                    Ok(true) => Ok(record),
                    // Requeued by someone else meanwhile: it runs anyway.
                    Ok(false) => Ok(record),
                    Err(error) => Err(ReplayError::Unavailable(error)),
                };
            }
        }
        self.log_received(&event, Arrival::Replay).await;
        match &self.queue {
            Some(queue) => {
                let event_type = event.event_type().to_owned();
                self.metrics.queue_moved(&source.name, &event_type, 1);
                if let Err(error) = queue.push(event.clone(), self.settings.capacity).await {
                    self.metrics.queue_moved(&source.name, &event_type, -1);
                    let reason = format!("replay not queued: {error}");
                    self.log_ran(
                        (event.source(), event.id()),
                        EventStatus::Failed,
                        None,
                        Some(reason),
                    )
                    .await;
                    return Err(match error {
                        PushError::Full => ReplayError::QueueFull,
                        PushError::Unavailable(error) => ReplayError::Unavailable(error),
                    });
                }
            }
            None => {
                let lifecycle = Arc::clone(self);
                let span = tracing::info_span!(
                    "webhook",
                    source = event.source(),
                    id = event.id(),
                    event_type = event.event_type(),
                    attempt = event.attempt(),
                    mode = "replay",
                );
                let replay = async move {
                    let source = lifecycle.sources.get(event.source()).map(|s| &**s);
                    let timeout = lifecycle.settings.listener_timeout;
                    let mut report =
                        run_listeners(source, &event, &[], timeout, &lifecycle.metrics, true).await;
                    let (status, error) = match report.is_ok() {
                        true => (EventStatus::Succeeded, None),
                        false => (EventStatus::Failed, report.last_error.take()),
                    };
                    lifecycle
                        .log_ran(
                            (event.source(), event.id()),
                            status,
                            Some(&mut report),
                            error,
                        )
                        .await;
                };
                self.tracker.spawn(replay.instrument(span));
            }
        }
        Ok(record)
    }
}
