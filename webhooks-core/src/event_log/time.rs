//! Times and bodies as the admin API writes them: RFC 3339 in UTC with
//! milliseconds, and a body as text when it is UTF-8, else as base64.

use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;

/// A time as RFC 3339 in UTC with milliseconds.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use webhooks_core::event_log::{format_time, parse_time};
///
/// let at = UNIX_EPOCH + Duration::from_millis(1_764_500_000_123);
/// assert_eq!(format_time(at), "2025-11-30T10:53:20.123Z");
/// assert_eq!(parse_time("2025-11-30T10:53:20.123Z"), Some(at));
/// ```
pub fn format_time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// An RFC 3339 time (`Z` or no offset, fractions optional); `None` when it
/// is not one.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok()
}

pub(super) mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(*at))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_time(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text}")))
    }
}

pub(super) mod rfc3339_option {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        at: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339::serialize(at, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_time(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text}"))),
        }
    }
}

pub(super) mod body {
    use base64::Engine as _;
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Body {
        Text(String),
        Binary { base64: String },
    }

    pub(crate) fn serialize<S: Serializer>(body: &Option<Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match body {
            None => s.serialize_none(),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => s.serialize_str(text),
                Err(_) => Body::Binary {
                    base64: super::STANDARD.encode(bytes),
                }
                .serialize(s),
            },
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
        Ok(match Option::<Body>::deserialize(d)? {
            None => None,
            Some(Body::Text(text)) => Some(Bytes::from(text)),
            Some(Body::Binary { base64 }) => Some(Bytes::from(
                super::STANDARD
                    .decode(base64)
                    .map_err(serde::de::Error::custom)?,
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::super::{EventRecord, EventStatus};

    #[test]
    fn a_record_survives_its_json() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut record = EventRecord::new("github", "d-1", "push", EventStatus::Dead, at);
        record.finished_at = Some(at + Duration::from_millis(1500));
        record.body = Some(bytes::Bytes::from_static(b"\xff\x00binary"));
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["received_at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(json["finished_at"], "2023-11-14T22:13:21.500Z");
        assert_eq!(json["type"], "push");
        assert_eq!(json["status"], "dead");
        assert_eq!(json["body"]["base64"], "/wBiaW5hcnk=");
        let back: EventRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
        record.body = Some(bytes::Bytes::from_static(b"{\"a\":1}"));
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["body"], "{\"a\":1}");
        assert_eq!(serde_json::from_value::<EventRecord>(json).unwrap(), record);
    }
}
