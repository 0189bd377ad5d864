//! A record's hash: how an [`EventRecord`] is read back from its fields.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use webhooks_core::StoreError;
use webhooks_core::event_log::{EventRecord, EventStatus, ListenerRun};

/// A listener's last run as the `listeners` field holds it: the JSON that
/// `ListenerRun` serializes to, merged by the `RAN` script with Lua's
/// `cjson`, which writes every number as a double (so the duration is read
/// as one).
#[derive(Deserialize)]
struct StoredRun {
    listener: String,
    ok: bool,
    duration_ms: f64,
    #[serde(default)]
    error: Option<String>,
}

/// The record of a hash's fields, found by name; `None` when the hash is
/// gone (no `source` field).
pub(super) fn record<'a>(
    field: impl Fn(&str) -> Option<&'a [u8]>,
) -> Result<Option<EventRecord>, StoreError> {
    let Some(source) = field("source") else {
        return Ok(None);
    };
    let text = |name: &str| field(name).map(|value| String::from_utf8_lossy(value).into_owned());
    let number = |name: &str| {
        field(name)
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|value| value.parse::<u64>().ok())
    };
    let count = |name: &str| number(name).map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let status = text("status").unwrap_or_default();
    let status = status
        .parse::<EventStatus>()
        .map_err(|error| StoreError::new(format!("an event log record: {error}")))?;
    let mut record = EventRecord::new(
        String::from_utf8_lossy(source).into_owned(),
        text("id").unwrap_or_default(),
        text("type").unwrap_or_default(),
        status,
        time(number("received_ms").unwrap_or(0)),
    );
    record.attempts = count("attempts");
    record.redeliveries = count("redeliveries");
    record.replays = count("replays");
    record.finished_at = number("finished_ms").map(time);
    record.error = text("error");
    record.listeners = match field("listeners") {
        None => Vec::new(),
        Some(json) => listeners(json)?,
    };
    record.body = field("body").map(bytes::Bytes::copy_from_slice);
    record.headers = text("headers");
    Ok(Some(record))
}

fn listeners(json: &[u8]) -> Result<Vec<ListenerRun>, StoreError> {
    let runs: Vec<StoredRun> = serde_json::from_slice(json)
        .map_err(|error| StoreError::new(format!("an event log record's listeners: {error}")))?;
    Ok(runs
        .into_iter()
        .map(|stored| {
            // `as` saturates: a duration past u64 (never) reads as u64::MAX.
            let mut run =
                ListenerRun::new(stored.listener, stored.duration_ms as u64, stored.error);
            run.ok = stored.ok;
            run
        })
        .collect())
}

/// `at` in milliseconds since the Unix epoch (0 before it).
pub(super) fn epoch_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    })
}

fn time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_read_back_from_cjson_numbers() {
        let runs = listeners(br#"[{"listener":"a","ok":true,"duration_ms":3},{"ok":false,"listener":"b","duration_ms":1e+15,"error":"boom"}]"#).unwrap();
        assert_eq!(runs[0], ListenerRun::new("a", 3, None));
        assert_eq!(
            runs[1],
            ListenerRun::new("b", 1_000_000_000_000_000, Some("boom".into()))
        );
    }

    #[test]
    fn a_gone_hash_is_no_record_and_a_bad_status_an_error() {
        assert!(record(|_| None).unwrap().is_none());
        let fields = |name: &str| match name {
            "source" => Some(&b"s"[..]),
            "status" => Some(&b"lost"[..]),
            _ => None,
        };
        assert!(record(fields).is_err());
    }
}
