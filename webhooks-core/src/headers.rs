//! The request headers a validator and a listener see.

use std::fmt;

/// The headers of a delivery, looked up case-insensitively.
///
/// A plain type of this crate, so that public signatures do not tie users to
/// one version of the `http` crate; it converts from and into
/// `http::HeaderMap` (1.x) without copying.
///
/// ```
/// use webhooks_core::Headers;
///
/// let headers = Headers::new().with("X-GitHub-Event", "push");
/// assert_eq!(headers.get("x-github-event"), Some("push"));
/// ```
#[derive(Clone, Default)]
pub struct Headers(http::HeaderMap);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header and returns the headers, for building them in tests.
    ///
    /// # Panics
    /// If `name` or `value` is not a valid header name or value.
    #[must_use]
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.append(name, value)
            .expect("a valid header name and value");
        self
    }

    /// Adds a header, keeping earlier values of the same name.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), InvalidHeader> {
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidHeader)?;
        let value = http::HeaderValue::from_str(value).map_err(|_| InvalidHeader)?;
        self.0.append(name, value);
        Ok(())
    }

    /// Adds a header whose value may be any bytes HTTP allows.
    pub fn append_bytes(&mut self, name: &str, value: &[u8]) -> Result<(), InvalidHeader> {
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidHeader)?;
        let value = http::HeaderValue::from_bytes(value).map_err(|_| InvalidHeader)?;
        self.0.append(name, value);
        Ok(())
    }

    /// The first value of the header, if it is present and visible ASCII.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|value| value.to_str().ok())
    }

    /// [`Headers::get`] for a name known in advance: no parsing of the name.
    pub(crate) fn get_named(&self, name: &http::HeaderName) -> Option<&str> {
        self.0.get(name).and_then(|value| value.to_str().ok())
    }

    /// The first value of the header, as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(http::HeaderValue::as_bytes)
    }

    /// Every value of the header that is visible ASCII.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .get_all(name)
            .into_iter()
            .filter_map(|value| value.to_str().ok())
    }

    /// All headers, names in lowercase.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
    }

    /// The number of header values.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Drops the headers that carry a secret rather than a signature
    /// (GitLab's `X-Gitlab-Token` is the secret itself; `Authorization` and
    /// `Cookie` are credentials), so a record of the event never keeps them.
    pub(crate) fn drop_secrets(&mut self) {
        for name in SENSITIVE {
            self.0.remove(name);
        }
    }

    /// The headers as `name: value\r\n` lines, the form a durable queue
    /// stores them in (HTTP forbids CR and LF in names and values).
    ///
    /// ```
    /// use webhooks_core::Headers;
    ///
    /// let headers = Headers::new().with("X-GitHub-Event", "push");
    /// assert_eq!(headers.to_lines(), b"x-github-event: push\r\n");
    /// assert_eq!(Headers::from_lines(&headers.to_lines()).get("X-GitHub-Event"), Some("push"));
    /// ```
    pub fn to_lines(&self) -> Vec<u8> {
        self.lines(|_| true)
    }

    /// [`Headers::to_lines`] without the headers that carry a secret: what
    /// the event log keeps.
    ///
    /// ```
    /// use webhooks_core::Headers;
    ///
    /// let headers = Headers::new().with("Authorization", "Bearer t").with("X-GitHub-Event", "push");
    /// assert_eq!(headers.to_lines_without_secrets(), b"x-github-event: push\r\n");
    /// ```
    pub fn to_lines_without_secrets(&self) -> Vec<u8> {
        self.lines(|name| !is_secret(name))
    }

    /// The headers whose (lowercase) name `keep` accepts, as lines, in one
    /// allocation sized by a first pass that only adds lengths.
    fn lines(&self, keep: impl Fn(&str) -> bool) -> Vec<u8> {
        let mut lines = Vec::with_capacity(self.lines_bound());
        self.write_lines(keep, &mut lines);
        lines
    }

    /// At least the length of any of the header lines' forms.
    pub(crate) fn lines_bound(&self) -> usize {
        self.0
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum()
    }

    /// [`Headers::to_lines_without_secrets`], appended to `out`.
    pub(crate) fn write_lines_without_secrets(&self, out: &mut Vec<u8>) {
        self.write_lines(|name| !is_secret(name), out);
    }

    fn write_lines(&self, keep: impl Fn(&str) -> bool, out: &mut Vec<u8>) {
        for (name, value) in &self.0 {
            if !keep(name.as_str()) {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Headers read back from [`Headers::to_lines`]; lines that are not a
    /// header are skipped.
    pub fn from_lines(lines: &[u8]) -> Self {
        Self::from_shared_lines(bytes::Bytes::copy_from_slice(lines))
    }

    /// [`Headers::from_lines`] of a buffer the values then share: each
    /// value is a slice of `lines`, not a copy of its own (a name that is
    /// not a standard header's still is one).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use webhooks_core::Headers;
    ///
    /// let lines = Bytes::from_static(b"x-github-event: push\r\ncontent-type: application/json\r\n");
    /// let headers = Headers::from_shared_lines(lines);
    /// assert_eq!(headers.get("X-GitHub-Event"), Some("push"));
    /// assert_eq!(headers.get("content-type"), Some("application/json"));
    /// ```
    pub fn from_shared_lines(lines: bytes::Bytes) -> Self {
        let mut headers = Self::new();
        let mut next = 0;
        for line in lines.split(|&b| b == b'\n') {
            let start = next;
            next += line.len() + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.windows(2).position(|pair| pair == b": ") else {
                continue;
            };
            let Ok(name) = http::HeaderName::from_bytes(&line[..colon]) else {
                continue;
            };
            let value = lines.slice(start + colon + 2..start + line.len());
            if let Ok(value) = http::HeaderValue::from_maybe_shared(value) {
                headers.0.append(name, value);
            }
        }
        headers
    }

    /// Whether there is no header.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Headers whose values are secrets or credentials (GitLab's token is the
/// secret itself): printed as `[redacted]` by `Debug`, and never stored
/// with a queued event.
const SENSITIVE: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-gitlab-token",
    "x-api-key",
];

/// Whether a (lowercase) header name is one of [`SENSITIVE`].
fn is_secret(name: &str) -> bool {
    SENSITIVE
        .iter()
        .any(|secret| secret.len() == name.len() && *secret == name)
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.0 {
            if SENSITIVE.contains(&name.as_str()) {
                map.entry(&name.as_str(), &"[redacted]");
            } else {
                map.entry(&name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
            }
        }
        map.finish()
    }
}

impl From<http::HeaderMap> for Headers {
    fn from(map: http::HeaderMap) -> Self {
        Self(map)
    }
}

impl From<Headers> for http::HeaderMap {
    fn from(headers: Headers) -> Self {
        headers.0
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    /// # Panics
    /// If a name or value is not a valid header name or value.
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Self::new(), |headers, (name, value)| {
                headers.with(name, value)
            })
    }
}

/// A header name or value that HTTP does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid header name or value")]
pub struct InvalidHeader;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_survive_their_lines() {
        let mut headers = Headers::new()
            .with("X-GitHub-Event", "push")
            .with("X-Multi", "a");
        headers.append("x-multi", "b: c").unwrap();
        headers.append_bytes("x-latin", b"caf\xe9").unwrap();
        let decoded = Headers::from_lines(&headers.to_lines());
        assert_eq!(decoded.get("x-github-event"), Some("push"));
        assert_eq!(
            decoded.get_all("x-multi").collect::<Vec<_>>(),
            ["a", "b: c"]
        );
        assert_eq!(decoded.get_bytes("x-latin"), Some(&b"caf\xe9"[..]));
        assert_eq!(decoded.len(), headers.len());
    }

    #[test]
    fn shared_lines_are_read_as_lines_are_and_lend_their_values() {
        let lines = bytes::Bytes::from_static(
            b"x-multi: a\r\nnot a header\r\nbad name: x\r\nx-multi: b: c\nx-last: z",
        );
        let decoded = Headers::from_shared_lines(lines.clone());
        assert_eq!(
            decoded.get_all("x-multi").collect::<Vec<_>>(),
            ["a", "b: c"]
        );
        assert_eq!(
            decoded.get("x-last"),
            Some("z"),
            "a last line without its end"
        );
        assert_eq!(
            decoded.len(),
            3,
            "the line without a colon and the bad name are skipped"
        );
        let within = lines.as_ptr_range();
        for (_, value) in decoded.iter() {
            assert!(
                within.contains(&value.as_ptr()),
                "a value is a slice of the lines"
            );
        }
        assert_eq!(Headers::from_lines(&lines).len(), decoded.len());
    }

    #[test]
    fn lookup_is_case_insensitive_and_debug_redacts_tokens() {
        let headers = Headers::new()
            .with("X-Gitlab-Token", "glsecret")
            .with("X-Gitlab-Event", "Push Hook");
        assert_eq!(headers.get("x-gitlab-event"), Some("Push Hook"));
        assert_eq!(headers.get("X-GITLAB-EVENT"), Some("Push Hook"));
        let printed = format!("{headers:?}");
        assert!(!printed.contains("glsecret"), "{printed}");
        assert!(printed.contains("Push Hook"));
    }
}
