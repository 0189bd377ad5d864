//! The retry policy, written once for every queue: how long to wait before
//! the next attempt, and when to give up.

use std::time::{Duration, SystemTime};

use super::run::RunReport;
use crate::queue::{DeadLetterBounds, JobState};

/// The delay before attempt `attempt + 1`: `initial` doubled per attempt
/// made, at most an hour.
///
/// ```
/// use std::time::Duration;
/// use webhooks_core::backoff;
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

/// What becomes of a queued event after a run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Every listener succeeded: forget it.
    Ack,
    /// Run the failed listeners again then.
    RetryAt(SystemTime),
    /// Give up, for this reason.
    Dead(String),
}

/// Attempts, backoff and the dead letters' bounds of queued dispatch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) backoff_initial: Duration,
    pub(crate) dead_letters: DeadLetterBounds,
}

impl RetryPolicy {
    /// Before a run: a job handed out more than `max_attempts` times had
    /// workers that died without an outcome (a listener that aborts the
    /// process, say); it is not run again.
    pub(crate) fn abandoned(&self, state: &JobState) -> Option<String> {
        if state.attempts <= self.max_attempts {
            return None;
        }
        let mut reason = format!("worker lost {} times", state.lost());
        if let Some(error) = &state.last_error {
            reason.push_str("; last error: ");
            reason.push_str(error);
        }
        Some(reason)
    }

    /// After a run: records it in `state` (taking the report's succeeded
    /// listeners and error; its failed ones are left) and decides.
    pub(crate) fn settle(
        &self,
        state: &mut JobState,
        report: &mut RunReport,
        now: SystemTime,
    ) -> Settle {
        if report.is_ok() {
            return Settle::Ack;
        }
        state.done.append(&mut report.succeeded);
        state.failures += 1;
        let error = report.last_error.take().unwrap_or_default();
        state.last_error = Some(error.clone());
        if report.is_permanent() {
            let listeners = report.failed.join(", ");
            return Settle::Dead(format!(
                "permanent failure, not retried: {error} (listeners: {listeners})"
            ));
        }
        if state.attempts >= self.max_attempts {
            let listeners = report.failed.join(", ");
            return Settle::Dead(format!("{error} (listeners: {listeners})"));
        }
        Settle::RetryAt(now + backoff(self.backoff_initial, state.attempts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            backoff_initial: Duration::from_millis(500),
            dead_letters: DeadLetterBounds {
                max: 10,
                retention: Duration::from_secs(60),
            },
        }
    }

    fn failed(key: &str) -> RunReport {
        RunReport {
            succeeded: vec!["ok".into()],
            failed: vec![key.into()],
            last_error: Some("boom".into()),
            runs: Vec::new(),
            retryable: true,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let initial = Duration::from_millis(500);
        assert_eq!(backoff(initial, 1), Duration::from_millis(500));
        assert_eq!(backoff(initial, 2), Duration::from_millis(1000));
        assert_eq!(backoff(initial, 4), Duration::from_millis(4000));
        assert_eq!(backoff(initial, 40), Duration::from_secs(3600));
    }

    #[test]
    fn failures_are_retried_with_backoff_then_dead() {
        let now = SystemTime::UNIX_EPOCH;
        let mut state = JobState {
            attempts: 2,
            ..JobState::default()
        };
        let decided = policy().settle(&mut state, &mut failed("a"), now);
        assert_eq!(decided, Settle::RetryAt(now + Duration::from_secs(1)));
        assert_eq!(
            (state.failures, state.done.as_slice()),
            (1, &["ok".to_owned()][..])
        );
        state.attempts = 3;
        let decided = policy().settle(&mut state, &mut failed("a"), now);
        assert_eq!(decided, Settle::Dead("boom (listeners: a)".into()));
        let mut fine = JobState::default();
        assert_eq!(
            policy().settle(&mut fine, &mut RunReport::default(), now),
            Settle::Ack
        );
    }

    #[test]
    fn a_permanent_failure_is_dead_at_once() {
        let now = SystemTime::UNIX_EPOCH;
        let mut state = JobState {
            attempts: 1,
            ..JobState::default()
        };
        let mut report = RunReport {
            retryable: false,
            ..failed("a")
        };
        let decided = policy().settle(&mut state, &mut report, now);
        assert_eq!(
            decided,
            Settle::Dead("permanent failure, not retried: boom (listeners: a)".into())
        );
    }

    #[test]
    fn a_job_whose_workers_kept_dying_is_abandoned() {
        let mut state = JobState {
            attempts: 3,
            failures: 1,
            ..JobState::default()
        };
        assert_eq!(policy().abandoned(&state), None);
        state.attempts = 4;
        assert_eq!(policy().abandoned(&state).unwrap(), "worker lost 2 times");
        state.last_error = Some("boom".into());
        assert_eq!(
            policy().abandoned(&state).unwrap(),
            "worker lost 2 times; last error: boom"
        );
    }
}
