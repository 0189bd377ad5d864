//! Where a delivery's id and event type come from.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use sha2::{Digest, Sha256};

use super::{EventMeta, EventParseError, SignedRequest};
use crate::Headers;

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

/// [`header_value`] for a name known in advance (lowercase), without parsing it.
pub(crate) fn named_header_value<'h>(
    headers: &'h Headers,
    name: &http::HeaderName,
) -> Option<&'h str> {
    headers
        .get_named(name)
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

/// The builder methods of a validator whose `extraction` field is a
/// [`GenericExtraction`] (`hmac` and `none`): the same three on each.
macro_rules! extraction_builders {
    () => {
        /// Uses this whole extraction (the configuration builds one).
        #[must_use]
        pub(crate) fn with_extraction(mut self, extraction: GenericExtraction) -> Self {
            self.extraction = extraction;
            self
        }

        /// Reads the delivery id from this header only, instead of
        /// `X-Idempotency-Key` then `X-Event-Id`.
        #[must_use]
        pub fn idempotency_header(mut self, header: impl Into<String>) -> Self {
            self.extraction.idempotency_headers = vec![header.into()];
            self
        }

        /// Reads the event type from this payload field instead of `type`.
        #[must_use]
        pub fn event_type_field(mut self, field: impl Into<String>) -> Self {
            self.extraction.event_type_field = field.into();
            self
        }

        /// Falls back to this header for the event type instead of
        /// `X-Event-Type`.
        #[must_use]
        pub fn event_type_header(mut self, header: impl Into<String>) -> Self {
            self.extraction.event_type_header = header.into();
            self
        }
    };
}
pub(crate) use extraction_builders;

impl GenericExtraction {
    /// The default names, with those given instead.
    pub(crate) fn with(
        idempotency_header: Option<&str>,
        event_type_field: Option<&str>,
        event_type_header: Option<&str>,
    ) -> Self {
        let mut extraction = Self::default();
        if let Some(header) = idempotency_header {
            extraction.idempotency_headers = vec![header.to_owned()];
        }
        if let Some(field) = event_type_field {
            extraction.event_type_field = field.to_owned();
        }
        if let Some(header) = event_type_header {
            extraction.event_type_header = header.to_owned();
        }
        extraction
    }

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
///
/// Reading stops as soon as every field is found, so the rest of the body
/// is neither scanned nor checked (it is signed, and listeners parse what
/// they need of it); a body that ends before then must be valid JSON.
pub(crate) fn pick_json<const N: usize>(
    body: &[u8],
    paths: [&str; N],
) -> Result<[Option<String>; N], EventParseError> {
    let mut found: [Option<String>; N] = std::array::from_fn(|_| None);
    let targets: [(usize, &str); N] = std::array::from_fn(|index| (index, paths[index]));
    let mut walker = Walker { body, at: 0 };
    if !walker.object(&targets, &mut found)? {
        walker.end()?;
    }
    Ok(found)
}

/// A cursor over a JSON body that walks objects itself and leaves every
/// value to serde_json, so it can stop anywhere.
struct Walker<'de> {
    body: &'de [u8],
    at: usize,
}

impl<'de> Walker<'de> {
    /// Walks the object at the cursor, filling the targets (indices into
    /// `found`, paths relative to this object); whether every field of
    /// `found` is filled, in which case it stopped there.
    fn object<const N: usize>(
        &mut self,
        targets: &[(usize, &str)],
        found: &mut [Option<String>; N],
    ) -> Result<bool, EventParseError> {
        self.expect(b'{', "a JSON object")?;
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(false);
        }
        loop {
            let Key(key) = self.value::<Key<'de>>()?;
            self.expect(b':', "`:` after an object key")?;
            let leaf = targets
                .iter()
                .find(|(index, path)| *path == key && found[*index].is_none());
            if let Some(&(index, _)) = leaf {
                found[index] = self.value::<Scalar>()?.0;
                if found.iter().all(Option::is_some) {
                    return Ok(true);
                }
            } else {
                let mut nested = [(0, ""); N];
                let mut count = 0;
                for &(index, path) in targets {
                    if let Some(rest) = path
                        .strip_prefix(key.as_ref())
                        .and_then(|rest| rest.strip_prefix('.'))
                    {
                        nested[count] = (index, rest);
                        count += 1;
                    }
                }
                if count > 0 && self.peek() == Some(b'{') {
                    if self.object(&nested[..count], found)? {
                        return Ok(true);
                    }
                } else {
                    self.value::<IgnoredAny>()?;
                }
            }
            match self.next_byte() {
                Some(b',') => {}
                Some(b'}') => return Ok(false),
                _ => return Err(self.error("expected `,` or `}` in an object")),
            }
        }
    }

    /// Deserializes the value at the cursor and moves past it.
    fn value<T: serde::Deserialize<'de>>(&mut self) -> Result<T, EventParseError> {
        let mut stream =
            serde_json::Deserializer::from_slice(&self.body[self.at..]).into_iter::<T>();
        match stream.next() {
            Some(Ok(value)) => {
                self.at += stream.byte_offset();
                Ok(value)
            }
            Some(Err(error)) => Err(EventParseError::InvalidJson(error.to_string())),
            None => Err(self.error("unexpected end of the body")),
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.body.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.body.get(self.at).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), EventParseError> {
        if self.next_byte() == Some(byte) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    /// Only whitespace may follow the top-level object.
    fn end(&mut self) -> Result<(), EventParseError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("trailing characters after the JSON object")),
        }
    }

    fn error(&self, message: &str) -> EventParseError {
        EventParseError::InvalidJson(format!("{message} at byte {}", self.at))
    }
}

/// An object key, borrowed from the body unless it holds escapes (serde's
/// own `Cow<str>` always allocates, once per key of every payload).
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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
    fn reading_stops_once_every_field_is_found() {
        let [action] = pick_json(br#"{"action":"opened","issue":{"#, ["action"]).unwrap();
        assert_eq!(action.as_deref(), Some("opened"));
        let [nested, kind] = pick_json(
            br#" {"event":{"type":"m","x":1},"type":"cb", oops"#,
            ["event.type", "type"],
        )
        .unwrap();
        assert_eq!(
            (nested.as_deref(), kind.as_deref()),
            (Some("m"), Some("cb"))
        );
        // Not all found: the whole body is read, and must be JSON.
        assert!(pick_json(br#"{"action":"opened","issue":{"#, ["action", "absent"]).is_err());
    }

    #[test]
    fn escaped_strings_and_non_objects() {
        let [kind] = pick_json(br#"{"ty\u0070e":"a\"b"}"#, ["type"]).unwrap();
        assert_eq!(kind.as_deref(), Some("a\"b"));
        assert!(pick_json(b"[1,2]", ["type"]).is_err());
        assert!(pick_json(b"not json", ["type"]).is_err());
        assert!(pick_json(br#"{"other":"a"} trailing"#, ["type"]).is_err());
        assert!(pick_json(br#"{"other":1,}"#, ["type"]).is_err());
        assert!(pick_json(br#"{"other":[1,2}"#, ["type"]).is_err());
        assert!(pick_json(br#"{"other""#, ["type"]).is_err());
        assert!(pick_json(b"", ["type"]).is_err());
        assert_eq!(pick_json(b" {} ", ["type"]).unwrap(), [None]);
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

    #[test]
    fn body_key_is_the_hex_sha256_of_the_body() {
        // `printf 'plain text' | sha256sum`.
        assert_eq!(
            body_sha256_key(b"plain text"),
            "sha256:c9ecf5e54c7b3f2640ecca21f96d4c3625a2b7935104f41c5ede29935a9e52c9"
        );
    }

    #[test]
    fn configured_names_replace_only_the_defaults_given() {
        let extraction = GenericExtraction::with(Some("X-Delivery"), None, Some("X-Kind"));
        assert_eq!(extraction.idempotency_headers, ["X-Delivery"]);
        assert_eq!(extraction.event_type_field, "type");
        assert_eq!(extraction.event_type_header, "X-Kind");
        let extraction = GenericExtraction::with(None, Some("event.name"), None);
        assert_eq!(
            extraction.idempotency_headers,
            GenericExtraction::default().idempotency_headers
        );
        assert_eq!(extraction.event_type_field, "event.name");
        assert_eq!(extraction.event_type_header, "X-Event-Type");
    }

    #[test]
    fn a_key_that_is_not_a_string_is_named_in_the_error() {
        assert!(matches!(
            pick_json(br#"{1:"a"}"#, ["type"]),
            Err(EventParseError::InvalidJson(message)) if message.contains("expected an object key")
        ));
    }

    #[test]
    fn a_path_prefix_that_is_not_an_object_is_skipped() {
        let [nested, kind] =
            pick_json(br#"{"event":"x","type":"t"}"#, ["event.type", "type"]).unwrap();
        assert_eq!((nested, kind.as_deref()), (None, Some("t")));
    }

    #[test]
    fn only_objects_on_a_path_are_walked_here_the_rest_by_serde_json() {
        // The walker recurses only along the paths asked for; a deep value
        // elsewhere is skipped by serde_json, which does not recurse, so a
        // body nested 100,000 deep cannot overflow the stack here.
        let depth = 100_000;
        let body = format!(
            r#"{{"x":{}1{},"type":"t"}}"#,
            r#"{"a":"#.repeat(depth),
            "}".repeat(depth)
        );
        let [kind] = pick_json(body.as_bytes(), ["type"]).unwrap();
        assert_eq!(kind.as_deref(), Some("t"));
    }
}
