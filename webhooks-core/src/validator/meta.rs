//! What a verified delivery is: its idempotency key and event type, their
//! bounds, and why a delivery may not say.

/// A verified delivery's idempotency key and event type.
///
/// ```
/// use webhooks_core::EventMeta;
///
/// let meta = EventMeta::new("evt_1", "invoice.paid");
/// assert_eq!(meta.id, "evt_1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventMeta {
    /// The idempotency key.
    pub id: String,
    /// The event type; empty when the source sends none.
    pub event_type: String,
}

impl EventMeta {
    /// The longest idempotency key, in bytes: every provider's ids are far
    /// shorter, and a key is stored for the whole TTL.
    ///
    /// ```
    /// use webhooks_core::{EventMeta, body_sha256_key};
    ///
    /// assert!(body_sha256_key(b"{}").len() <= EventMeta::MAX_ID_BYTES);
    /// ```
    pub const MAX_ID_BYTES: usize = 256;

    /// The longest event type, in bytes: it becomes a metrics label.
    ///
    /// ```
    /// use webhooks_core::EventMeta;
    ///
    /// let long = EventMeta::new("evt_1", "t".repeat(EventMeta::MAX_EVENT_TYPE_BYTES + 1));
    /// assert!(long.check_lengths().is_err());
    /// ```
    pub const MAX_EVENT_TYPE_BYTES: usize = 128;

    /// An id and an event type.
    pub fn new(id: impl Into<String>, event_type: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            event_type: event_type.into(),
        }
    }

    /// Refuses a key longer than [`EventMeta::MAX_ID_BYTES`] or an event
    /// type longer than [`EventMeta::MAX_EVENT_TYPE_BYTES`]; the error
    /// gives the length, never the value.
    ///
    /// ```
    /// use webhooks_core::{EventMeta, EventParseError};
    ///
    /// assert_eq!(EventMeta::new("evt_1", "invoice.paid").check_lengths(), Ok(()));
    /// let long = EventMeta::new("k".repeat(257), "push");
    /// assert_eq!(long.check_lengths(), Err(EventParseError::KeyTooLong { bytes: 257 }));
    /// ```
    pub fn check_lengths(&self) -> Result<(), EventParseError> {
        if self.id.len() > Self::MAX_ID_BYTES {
            return Err(EventParseError::KeyTooLong {
                bytes: self.id.len(),
            });
        }
        if self.event_type.len() > Self::MAX_EVENT_TYPE_BYTES {
            return Err(EventParseError::EventTypeTooLong {
                bytes: self.event_type.len(),
            });
        }
        Ok(())
    }
}

/// A verified delivery that is not what its source requires (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventParseError {
    /// The body is not the JSON the source sends.
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// A field the source always sends is absent.
    #[error("payload has no string field `{0}`")]
    MissingField(String),
    /// A header the source always sends is absent.
    #[error("missing header `{0}`")]
    MissingHeader(String),
    /// Neither the payload nor the headers name the event type.
    #[error("no event type: expected payload field `{field}` or header `{header}`")]
    NoEventType {
        /// The payload field looked at.
        field: String,
        /// The header looked at.
        header: String,
    },
    /// The idempotency key is longer than [`EventMeta::MAX_ID_BYTES`].
    #[error("idempotency key too long: {bytes} bytes, at most {max}", max = EventMeta::MAX_ID_BYTES)]
    KeyTooLong {
        /// Its length.
        bytes: usize,
    },
    /// The event type is longer than [`EventMeta::MAX_EVENT_TYPE_BYTES`].
    #[error("event type too long: {bytes} bytes, at most {max}", max = EventMeta::MAX_EVENT_TYPE_BYTES)]
    EventTypeTooLong {
        /// Its length.
        bytes: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_checked_in_bytes_at_the_limits_and_never_echoed() {
        let at_limit = EventMeta::new("k".repeat(256), "t".repeat(128));
        assert_eq!(at_limit.check_lengths(), Ok(()));
        // 'é' is two bytes: 129 characters would pass a count of characters.
        let wide = EventMeta::new("é".repeat(129), "push");
        assert_eq!(
            wide.check_lengths(),
            Err(EventParseError::KeyTooLong { bytes: 258 })
        );
        let long_type = EventMeta::new("d-1", "t".repeat(129));
        let error = long_type.check_lengths().unwrap_err();
        assert_eq!(error, EventParseError::EventTypeTooLong { bytes: 129 });
        assert_eq!(
            error.to_string(),
            "event type too long: 129 bytes, at most 128"
        );
    }
}
