//! The admin API's paths and query strings, decoded and checked.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use webhooks_core::event_log::{EventQuery, EventStatus, parse_time};

/// One route of the admin API, its path segments percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Route {
    /// `/admin/events`
    Events,
    /// `/admin/events/{source}/{id}`
    Event(Key),
    /// `/admin/events/{source}/{id}/replay`
    Replay(Key),
    /// `/admin/dead`
    Dead,
    /// `/admin/dead/{source}/{id}/requeue`
    Requeue(Key),
}

/// An event's source and id, as a path names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) source: String,
    pub(super) id: String,
}

impl Route {
    /// The route of `path`: `Ok(None)` when it is none of the admin API's,
    /// an error when a segment of one is not UTF-8 once decoded.
    ///
    /// Segments are split before they are decoded, so an id may hold any
    /// character, `/` (`%2F`) included.
    pub(super) fn parse(path: &str) -> Result<Option<Self>, BadRequest> {
        let Some(rest) = path.strip_prefix("/admin/") else {
            return Ok(None);
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|segment| segment.is_empty()) {
            return Ok(None);
        }
        let key = |source: &str, id: &str| -> Result<Key, BadRequest> {
            Ok(Key {
                source: decode(source)?,
                id: decode(id)?,
            })
        };
        Ok(Some(match segments.as_slice() {
            ["events"] => Self::Events,
            ["events", source, id] => Self::Event(key(source, id)?),
            ["events", source, id, "replay"] => Self::Replay(key(source, id)?),
            ["dead"] => Self::Dead,
            ["dead", source, id, "requeue"] => Self::Requeue(key(source, id)?),
            _ => return Ok(None),
        }))
    }

    /// The methods the route answers, as an `Allow` header lists them.
    pub(super) fn allow(&self) -> &'static str {
        match self {
            Self::Events | Self::Event(_) | Self::Dead => "GET, HEAD",
            Self::Replay(_) | Self::Requeue(_) => "POST",
        }
    }

    /// Whether the route answers `method`.
    pub(super) fn allows(&self, method: &http::Method) -> bool {
        match self.allow() {
            "POST" => method == http::Method::POST,
            _ => method == http::Method::GET || method == http::Method::HEAD,
        }
    }
}

fn decode(segment: &str) -> Result<String, BadRequest> {
    percent_decode_str(segment)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| BadRequest::new("path", "a segment is not UTF-8 once percent-decoded"))
}

/// A request the admin API refuses with 400: the parameter it names, and
/// why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadRequest(String);

impl BadRequest {
    fn new(parameter: &str, why: impl std::fmt::Display) -> Self {
        Self(format!("{parameter}: {why}"))
    }

    /// The message of the `{"error":...}` answer.
    pub(super) fn message(&self) -> &str {
        &self.0
    }
}

/// The query of `GET /admin/events`: `source`, `status`, `type`, `limit`
/// (1 to 1000, default 50), `cursor`, `since` and `until` (RFC 3339). An
/// empty value is no filter; an unknown or repeated parameter is refused,
/// so that a typo does not silently list everything.
pub(super) fn event_query(query: Option<&str>) -> Result<EventQuery, BadRequest> {
    const KNOWN: [&str; 7] = [
        "source", "status", "type", "limit", "cursor", "since", "until",
    ];
    let mut query_out = EventQuery::default();
    let (mut since, mut until) = (None, None);
    for (name, value) in pairs(query, &KNOWN)? {
        query_out = match name {
            "source" => query_out.source(value),
            "status" => query_out.status(
                value
                    .parse::<EventStatus>()
                    .map_err(|error| BadRequest::new(name, error))?,
            ),
            "type" => query_out.event_type(value),
            "limit" => query_out.limit(limit(&value)?),
            "cursor" => query_out.after(value),
            "since" | "until" => {
                let at = parse_time(&value).ok_or_else(|| {
                    BadRequest::new(
                        name,
                        "expected an RFC 3339 time such as 2025-11-30T10:53:20Z",
                    )
                })?;
                *if name == "since" {
                    &mut since
                } else {
                    &mut until
                } = Some(at);
                query_out
            }
            _ => unreachable!("pairs gives only known names"),
        };
    }
    Ok(query_out.received(since, until))
}

/// The query of `GET /admin/dead`: the `source`, if any.
pub(super) fn dead_query(query: Option<&str>) -> Result<Option<String>, BadRequest> {
    let mut source = None;
    for (_, value) in pairs(query, &["source"])? {
        source = Some(value);
    }
    Ok(source)
}

fn limit(value: &str) -> Result<usize, BadRequest> {
    value
        .parse::<usize>()
        .ok()
        .filter(|limit| (1..=EventQuery::MAX_LIMIT).contains(limit))
        .ok_or_else(|| {
            BadRequest::new(
                "limit",
                format!(
                    "expected a whole number from 1 to {}",
                    EventQuery::MAX_LIMIT
                ),
            )
        })
}

/// The query's `name=value` pairs with a value, `+` and `%XX` decoded;
/// each name one of `known`, and given once.
fn pairs(
    query: Option<&str>,
    known: &[&'static str],
) -> Result<Vec<(&'static str, String)>, BadRequest> {
    let mut pairs: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let Some(&name) = known.iter().find(|known| **known == name) else {
            let listed = known.join(", ");
            return Err(BadRequest::new(
                &name,
                format!("unknown parameter (expected {listed})"),
            ));
        };
        if pairs.iter().any(|(seen, _)| *seen == name) {
            return Err(BadRequest::new(name, "given more than once"));
        }
        if !value.is_empty() {
            pairs.push((name, value.into_owned()));
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn key(source: &str, id: &str) -> Key {
        Key {
            source: source.into(),
            id: id.into(),
        }
    }

    #[test]
    fn paths_are_split_then_decoded() {
        let routes = [
            ("/admin/events", Some(Route::Events)),
            ("/admin/dead", Some(Route::Dead)),
            (
                "/admin/events/stripe/evt_1",
                Some(Route::Event(key("stripe", "evt_1"))),
            ),
            (
                "/admin/events/partner/sha256%3Aab%2Fcd%20e",
                Some(Route::Event(key("partner", "sha256:ab/cd e"))),
            ),
            (
                "/admin/events/github/d-1/replay",
                Some(Route::Replay(key("github", "d-1"))),
            ),
            (
                "/admin/dead/github/d-1/requeue",
                Some(Route::Requeue(key("github", "d-1"))),
            ),
            ("/admin/events/", None),
            ("/admin/events/stripe", None),
            ("/admin/events/stripe//replay", None),
            ("/admin/dead/github/d-1", None),
            ("/admin/events/stripe/evt_1/requeue", None),
            ("/admin", None),
            ("/webhooks/stripe", None),
        ];
        for (path, route) in routes {
            assert_eq!(Route::parse(path), Ok(route), "{path}");
        }
        let bad = Route::parse("/admin/events/stripe/%FF").unwrap_err();
        assert!(bad.message().starts_with("path: "), "{bad:?}");
    }

    #[test]
    fn an_event_query_is_read_whole_or_refused_naming_its_parameter() {
        let query = event_query(Some(
            "source=stripe&status=dead&type=invoice.paid&limit=2&cursor=17\
             &since=2025-11-30T10%3A53%3A20Z&until=2025-11-30T11:00:00.5Z",
        ))
        .unwrap();
        assert_eq!(query.source.as_deref(), Some("stripe"));
        assert_eq!(query.status, Some(EventStatus::Dead));
        assert_eq!(query.event_type.as_deref(), Some("invoice.paid"));
        assert_eq!((query.limit, query.cursor.as_deref()), (2, Some("17")));
        let at = |millis| Some(UNIX_EPOCH + Duration::from_millis(millis));
        assert_eq!(query.since, at(1_764_500_000_000));
        assert_eq!(query.until, at(1_764_500_400_500));

        let empty = event_query(Some("source=&status=")).unwrap();
        assert_eq!(empty, EventQuery::default());
        assert_eq!(event_query(None).unwrap().limit, 50);
        assert_eq!(event_query(Some("limit=1000")).unwrap().limit, 1000);

        for (query, parameter) in [
            ("status=done", "status: "),
            ("limit=0", "limit: "),
            ("limit=1001", "limit: "),
            ("limit=ten", "limit: "),
            ("since=yesterday", "since: "),
            ("until=2025-13-01T00:00:00Z", "until: "),
            ("statuss=dead", "statuss: unknown parameter"),
            ("source=a&source=b", "source: given more than once"),
        ] {
            let bad = event_query(Some(query)).unwrap_err();
            assert!(bad.message().starts_with(parameter), "{query}: {bad:?}");
        }
    }

    #[test]
    fn the_dead_query_takes_a_source_only() {
        assert_eq!(dead_query(None), Ok(None));
        assert_eq!(dead_query(Some("source=github")), Ok(Some("github".into())));
        assert!(dead_query(Some("status=dead")).is_err());
    }
}
