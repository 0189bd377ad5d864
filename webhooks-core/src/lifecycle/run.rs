//! Running an event's listeners once: what inline dispatch and the worker
//! share.

use std::future::Future;
use std::sync::Arc;

use std::time::Duration;
use tracing::Instrument as _;

use super::lease::within;
use crate::event_log::ListenerRun;
use crate::listener::run_listener;
use crate::metrics::Handled;
use crate::source::Source;
use crate::{BoxError, Metrics, Permanent, WebhookEvent};

/// What running an event's listeners once came to.
#[derive(Debug, Default)]
pub(crate) struct RunReport {
    /// Keys of the listeners that succeeded in this run, listed only when
    /// another failed (a retry must then skip them): a run in which every
    /// listener succeeded allocates nothing.
    pub(crate) succeeded: Vec<String>,
    /// Keys of the listeners that failed in this run.
    pub(crate) failed: Vec<String>,
    /// The last failure's error.
    pub(crate) last_error: Option<String>,
    /// Each listener's run, for the event log; only filled when it is kept.
    pub(crate) runs: Vec<ListenerRun>,
    /// A listener failed with an error a retry could fix.
    pub(crate) retryable: bool,
}

impl RunReport {
    fn failure(key: &str, error: String) -> Self {
        Self {
            failed: vec![key.to_owned()],
            last_error: Some(error),
            // A source that is no longer configured may be again.
            retryable: true,
            ..Self::default()
        }
    }

    /// Whether every listener that ran succeeded.
    pub(crate) fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }

    /// Whether listeners failed, and every failure was permanent: no retry
    /// can fix the event.
    pub(crate) fn is_permanent(&self) -> bool {
        !self.failed.is_empty() && !self.retryable
    }
}

/// Runs the event's matching listeners one after the other, except those
/// whose keys are in `done`. A listener still running after `timeout` has
/// failed (its `on_error` runs); the others still run. `source` is `None`
/// for an event of a source that is no longer configured, which fails.
/// With `record`, each listener's run is listed for the event log.
///
/// A plain `fn` returning an `async move` block: an `async fn` keeps its
/// arguments twice, and this future is part of one boxed for every delivery.
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its arguments twice"
)]
pub(crate) fn run_listeners<'a>(
    source: Option<&'a Source>,
    event: &'a WebhookEvent,
    done: &'a [String],
    timeout: Duration,
    metrics: &'a Metrics,
    record: bool,
) -> impl Future<Output = RunReport> + Send + 'a {
    async move {
        let Some(source) = source else {
            let error = format!("source `{}` is not configured", event.source());
            return RunReport::failure("", error);
        };
        let mut report = RunReport::default();
        let mut any = false;
        for listed in source.matching(event.event_type()) {
            any = true;
            if done.iter().any(|key| **key == *listed.key) {
                continue;
            }
            let span = tracing::info_span!(
                "webhook_listener",
                listener = &*listed.key,
                outcome = tracing::field::Empty,
                duration_ms = tracing::field::Empty,
            );
            let traced = !span.is_disabled();
            let started = (record || traced).then(std::time::Instant::now);
            let run = within(timeout, run_listener(&*listed.listener, event));
            let ran = match run.instrument(span.clone()).await {
                Some(ran) => ran,
                None => {
                    let error: BoxError =
                        format!("listener still running after {}s", timeout.as_secs_f64()).into();
                    span.in_scope(|| listed.listener.on_error(event, &error));
                    Err(error)
                }
            };
            if traced {
                let outcome = match &ran {
                    Ok(()) => "ok",
                    Err(error) if Permanent::is(error) => "failed_permanently",
                    Err(_) => "error",
                };
                span.record("outcome", outcome);
                let millis = started.map_or(0, |at| at.elapsed().as_millis());
                span.record("duration_ms", u64::try_from(millis).unwrap_or(u64::MAX));
            }
            if ran.as_ref().is_err_and(|error| !Permanent::is(error)) {
                report.retryable = true;
            }
            let error = ran.err().map(|error| error.to_string());
            if let (true, Some(started)) = (record, started) {
                let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                report.runs.push(ListenerRun::new(
                    Arc::clone(&listed.key),
                    millis,
                    error.clone(),
                ));
            }
            let outcome = match error {
                None => Handled::Ok,
                Some(error) => {
                    report.failed.push(listed.key.to_string());
                    report.last_error = Some(error);
                    Handled::Error
                }
            };
            metrics.handled(event.source(), event.event_type(), listed.slot, outcome);
        }
        if !any {
            metrics.handled(event.source(), event.event_type(), 0, Handled::Ignored);
        }
        if !report.failed.is_empty() {
            // Each listener ran once above: those that neither failed nor were
            // done before succeeded.
            report.succeeded = source
                .matching(event.event_type())
                .map(|listed| &*listed.key)
                .filter(|key| !done.iter().any(|d| d == key))
                .filter(|key| !report.failed.iter().any(|f| f == key))
                .map(str::to_owned)
                .collect();
        }
        report
    }
}
