//! Where a delivery's id and event type come from.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use super::SignedRequest;
use crate::Headers;

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
    /// An id and an event type.
    pub fn new(id: impl Into<String>, event_type: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            event_type: event_type.into(),
        }
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
}

/// The fallback idempotency key: `sha256:` and the lowercase hex SHA-256 of
/// the raw body, so a byte-identical redelivery is still caught.
///
/// ```
/// use webhooks_core::body_sha256_key;
///
/// assert_eq!(
///     body_sha256_key(b""),
///     "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// ```
pub fn body_sha256_key(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut key = String::with_capacity(7 + 64);
    key.push_str("sha256:");
    key.push_str(&hex::encode(digest));
    key
}

/// A header's value, trimmed, when present, visible ASCII and not empty.
pub(crate) fn header_value<'h>(headers: &'h Headers, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// The extraction of `hmac` and `none` sources, with configurable names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GenericExtraction {
    pub(crate) idempotency_headers: Vec<String>,
    pub(crate) event_type_field: String,
    pub(crate) event_type_header: String,
}

impl Default for GenericExtraction {
    fn default() -> Self {
        Self {
            idempotency_headers: vec!["X-Idempotency-Key".into(), "X-Event-Id".into()],
            event_type_field: "type".into(),
            event_type_header: "X-Event-Type".into(),
        }
    }
}

impl GenericExtraction {
    pub(crate) fn describe(
        &self,
        request: &SignedRequest<'_>,
    ) -> Result<EventMeta, EventParseError> {
        let headers = request.headers();
        let id = self
            .idempotency_headers
            .iter()
            .find_map(|name| header_value(headers, name))
            .map_or_else(|| body_sha256_key(request.body()), str::to_owned);
        let [from_payload] =
            pick_json(request.body(), [self.event_type_field.as_str()]).unwrap_or_default();
        let event_type = from_payload
            .or_else(|| header_value(headers, &self.event_type_header).map(str::to_owned))
            .ok_or_else(|| EventParseError::NoEventType {
                field: self.event_type_field.clone(),
                header: self.event_type_header.clone(),
            })?;
        Ok(EventMeta { id, event_type })
    }
}

/// Reads the given fields of a JSON object body in one pass, without
/// building a document: each path is a field name, dotted for nested objects
/// (`event.type`). A string value is returned as is, a number as written;
/// anything else counts as absent.
pub(crate) fn pick_json<const N: usize>(
    body: &[u8],
    paths: [&str; N],
) -> Result<[Option<String>; N], EventParseError> {
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    let targets: Vec<(usize, &str)> = paths.iter().copied().enumerate().collect();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    Picker {
        targets: &targets,
        found: &mut found,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end())
    .map_err(|error| EventParseError::InvalidJson(error.to_string()))?;
    Ok(found)
}

/// Picks target paths out of one JSON object level.
struct Picker<'t, 'f, const N: usize> {
    targets: &'t [(usize, &'t str)],
    found: &'f mut [Option<String>; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Picker<'_, '_, N> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Picker<'_, '_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut nested: Vec<(usize, &str)> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let leaf = self
                .targets
                .iter()
                .find(|(index, path)| *path == key && self.found[*index].is_none());
            if let Some(&(index, _)) = leaf {
                self.found[index] = map.next_value::<Scalar>()?.0;
                continue;
            }
            nested.clear();
            nested.extend(self.targets.iter().filter_map(|&(index, path)| {
                let rest = path.strip_prefix(key.as_ref())?.strip_prefix('.')?;
                Some((index, rest))
            }));
            if nested.is_empty() {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Nested(Picker {
                    targets: &nested,
                    found: self.found,
                }))?;
            }
        }
        Ok(())
    }
}

/// A nested value that is an object to pick from, or anything else to skip.
struct Nested<'t, 'f, const N: usize>(Picker<'t, 'f, N>);

impl<'de, const N: usize> DeserializeSeed<'de> for Nested<'_, '_, N> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Nested<'_, '_, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.visit_map(map)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A string or number value as text; `None` for anything else.
struct Scalar(Option<String>);

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(value.to_owned())))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(value.to_string())))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(value.to_string())))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_top_level_and_nested_fields_in_one_pass() {
        let body = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention","x":[1,{"type":"no"}]},"n":42}"#;
        let [kind, nested, id, n, missing] =
            pick_json(body, ["type", "event.type", "event_id", "n", "absent"]).unwrap();
        assert_eq!(kind.as_deref(), Some("event_callback"));
        assert_eq!(nested.as_deref(), Some("app_mention"));
        assert_eq!(id.as_deref(), Some("Ev1"));
        assert_eq!(n.as_deref(), Some("42"));
        assert_eq!(missing, None);
    }

    #[test]
    fn escaped_strings_and_non_objects() {
        let [kind] = pick_json(br#"{"ty\u0070e":"a\"b"}"#, ["type"]).unwrap();
        assert_eq!(kind.as_deref(), Some("a\"b"));
        assert!(pick_json(b"[1,2]", ["type"]).is_err());
        assert!(pick_json(b"not json", ["type"]).is_err());
        assert!(pick_json(br#"{"type":"a"} trailing"#, ["type"]).is_err());
    }

    #[test]
    fn generic_extraction_prefers_headers_then_falls_back_to_body_hash() {
        let extraction = GenericExtraction::default();
        let headers = Headers::new()
            .with("X-Event-Id", "abc")
            .with("X-Event-Type", "from.header");
        let meta = extraction
            .describe(&SignedRequest::new(&headers, br#"{"type":"from.body"}"#))
            .unwrap();
        assert_eq!(meta, EventMeta::new("abc", "from.body"));

        let none = Headers::new().with("X-Event-Type", "ping");
        let meta = extraction
            .describe(&SignedRequest::new(&none, b"plain text"))
            .unwrap();
        assert_eq!(meta.event_type, "ping");
        assert_eq!(meta.id, body_sha256_key(b"plain text"));

        let error = extraction
            .describe(&SignedRequest::new(&Headers::new(), b"plain"))
            .unwrap_err();
        assert!(matches!(error, EventParseError::NoEventType { .. }));
    }
}
