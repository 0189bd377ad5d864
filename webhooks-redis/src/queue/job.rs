//! A job's hash: how an event and its state are written and read back.

use std::collections::HashMap;
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

impl Job {
    /// The job of `HGETALL`'s flat answer; `None` for a job that is gone.
    pub(super) fn from_fields(flat: Vec<Vec<u8>>) -> Option<Self> {
        if flat.is_empty() {
            return None;
        }
        let mut fields = HashMap::with_capacity(flat.len() / 2);
        let mut pairs = flat.into_iter();
        while let (Some(name), Some(value)) = (pairs.next(), pairs.next()) {
            fields.insert(String::from_utf8_lossy(&name).into_owned(), value);
        }
        let text = |name: &str| {
            fields
                .get(name)
                .map(|value| String::from_utf8_lossy(value).into_owned())
                .unwrap_or_default()
        };
        let number = |name: &str| text(name).parse::<u64>().unwrap_or(0);
        let count = |name: &str| u32::try_from(number(name)).unwrap_or(u32::MAX);
        let error = text("error");
        let state = JobState {
            attempts: count("attempts"),
            failures: count("failures"),
            done: text("done")
                .split('\n')
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect(),
            last_error: (!error.is_empty()).then_some(error),
        };
        let headers = Headers::from_lines(fields.get("headers").map_or(&[][..], Vec::as_slice));
        let event = WebhookEvent::new(
            text("source"),
            text("type"),
            text("id"),
            fields.get("body").cloned().unwrap_or_default(),
        )
        .with_headers(headers)
        .with_received_at(UNIX_EPOCH + Duration::from_millis(number("received_ms")));
        Some(Self {
            event,
            state,
            reason: text("reason"),
            failed_ms: number("failed_ms"),
        })
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
