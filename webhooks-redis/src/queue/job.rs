//! A job's hash: how an event and its state are written and read back.

use std::time::{Duration, UNIX_EPOCH};

use redis::Cmd;
use redis::Value;
use redis::streams::StreamId;
use webhooks_core::queue::{DeadLetter, JobState};
use webhooks_core::{Headers, WebhookEvent};

/// A job as read back: its event and state, and when dead, why.
pub(super) struct Job {
    pub(super) event: WebhookEvent,
    pub(super) state: JobState,
    reason: String,
    failed_ms: u64,
}

/// Appends a new job's fields to `invocation`, as `field, value` pairs.
pub(super) fn push_fields(cmd: &mut Cmd, event: &WebhookEvent) {
    let received_ms = event
        .received_at()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    cmd.arg("source")
        .arg(event.source())
        .arg("type")
        .arg(event.event_type())
        .arg("id")
        .arg(event.id())
        .arg("headers")
        .arg(event.headers().to_lines())
        .arg("body")
        .arg(event.body().as_ref())
        .arg("received_ms")
        .arg(received_ms)
        .arg("attempts")
        .arg(0)
        .arg("failures")
        .arg(0)
        .arg("done")
        .arg("");
}

/// The fields the start of a job reads (`HMGET`), in this order: what a
/// run needs, names not sent back.
pub(super) const STARTED: [&str; 10] = [
    "source",
    "type",
    "id",
    "headers",
    "body",
    "received_ms",
    "attempts",
    "failures",
    "done",
    "error",
];

impl Job {
    /// The job of `HGETALL`'s flat answer; `None` for a job that is gone.
    pub(super) fn from_fields(mut flat: Vec<Vec<u8>>) -> Option<Self> {
        if flat.is_empty() {
            return None;
        }
        // Read in place: each value is taken out of the reply once, names
        // compared as bytes, so reading a job copies nothing it keeps.
        let at = |flat: &[Vec<u8>], name: &str| {
            flat.chunks_exact(2)
                .position(|pair| pair[0] == name.as_bytes())
                .map(|pair| 2 * pair + 1)
        };
        Some(Self::read(|name| {
            at(&flat, name)
                .map(|value| std::mem::take(&mut flat[value]))
                .unwrap_or_default()
        }))
    }

    /// The job of the `STARTED` fields' values, in that order; `None` for
    /// a job that is gone (the start script answers no values for one).
    pub(super) fn from_started(mut values: Vec<Option<Vec<u8>>>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        Some(Self::read(|name| {
            STARTED
                .iter()
                .position(|started| *started == name)
                .and_then(|at| values.get_mut(at)?.take())
                .unwrap_or_default()
        }))
    }

    /// A job of the values `take` gives by field name (empty when absent).
    fn read(mut take: impl FnMut(&str) -> Vec<u8>) -> Self {
        let text = |bytes: Vec<u8>| {
            String::from_utf8(bytes)
                .unwrap_or_else(|bytes| String::from_utf8_lossy(bytes.as_bytes()).into_owned())
        };
        let number = |bytes: Vec<u8>| {
            std::str::from_utf8(&bytes)
                .ok()
                .and_then(|digits| digits.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let count = |bytes: Vec<u8>| u32::try_from(number(bytes)).unwrap_or(u32::MAX);
        let error = text(take("error"));
        let done = text(take("done"));
        let state = JobState {
            attempts: count(take("attempts")),
            failures: count(take("failures")),
            done: done
                .split('\n')
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect(),
            last_error: (!error.is_empty()).then_some(error),
        };
        // The values share the lines' buffer rather than each a copy.
        let headers = Headers::from_shared_lines(take("headers").into());
        let event = WebhookEvent::new(
            text(take("source")),
            text(take("type")),
            text(take("id")),
            take("body"),
        )
        .with_headers(headers)
        .with_received_at(UNIX_EPOCH + Duration::from_millis(number(take("received_ms"))));
        Self {
            event,
            state,
            reason: text(take("reason")),
            failed_ms: number(take("failed_ms")),
        }
    }

    /// The dead letter of this job, under its dead-letter entry id.
    pub(super) fn into_dead_letter(self, id: String) -> DeadLetter {
        let failed_at = UNIX_EPOCH + Duration::from_millis(self.failed_ms);
        DeadLetter::new(id, self.event, self.state, self.reason, failed_at)
    }
}

/// The job id an entry points to.
pub(super) fn entry_job(entry: &StreamId) -> Option<String> {
    match entry.map.get("job")? {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    }
}
