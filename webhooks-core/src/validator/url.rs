//! The request URL of URL-signing schemes, and form-encoded bodies.

use std::borrow::Cow;

/// The path and query of an absolute URL (`/a/b?c=d`); `/` when it has no
/// path. A relative reference (`/a?b`) is returned as is.
pub(crate) fn path_and_query(url: &str) -> Cow<'_, str> {
    let Some((_, rest)) = url.split_once("://") else {
        return Cow::Borrowed(url);
    };
    match rest.find(['/', '?', '#']) {
        Some(start) if rest[start..].starts_with('/') => Cow::Borrowed(&rest[start..]),
        Some(start) => Cow::Owned(format!("/{}", &rest[start..])),
        None => Cow::Borrowed("/"),
    }
}

/// The URL the provider signed: `public_base` (`https://example.com`, no
/// trailing slash needed) followed by the path and query of the URL the
/// transport saw; that URL itself when no base is configured.
pub(crate) fn public_url<'u>(public_base: Option<&str>, seen: &'u str) -> Cow<'u, str> {
    match public_base {
        Some(base) => Cow::Owned(format!(
            "{}{}",
            base.trim_end_matches('/'),
            path_and_query(seen)
        )),
        None => Cow::Borrowed(seen),
    }
}

/// Checks a configured public base URL: `http(s)://host[:port][/prefix]`,
/// without query or fragment.
pub(crate) fn check_public_base(base: &str) -> Result<(), &'static str> {
    let rest = base
        .strip_prefix("https://")
        .or_else(|| base.strip_prefix("http://"))
        .ok_or("expected a URL starting with https:// or http://")?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err("the URL has no host");
    }
    if rest.contains(['?', '#']) || rest.chars().any(char::is_whitespace) {
        return Err("expected a base URL without query, fragment or spaces");
    }
    Ok(())
}

/// The first value of query parameter `name` in `url`, percent-decoded.
pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(query, _)| query);
    parse_form(query.as_bytes())
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// The pairs of an `application/x-www-form-urlencoded` body, in order,
/// `+` and `%XX` decoded (invalid UTF-8 replaced).
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|&byte| byte == b'=') {
            Some(at) => (form_decode(&pair[..at]), form_decode(&pair[at + 1..])),
            None => (form_decode(pair), String::new()),
        })
        .collect()
}

fn form_decode(encoded: &[u8]) -> String {
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut index = 0;
    while index < encoded.len() {
        let byte = encoded[index];
        let escaped = (byte == b'%')
            .then(|| encoded.get(index + 1..index + 3))
            .flatten()
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match (byte, escaped) {
            (_, Some(value)) => {
                decoded.push(value);
                index += 3;
                continue;
            }
            (b'+', None) => decoded.push(b' '),
            (other, None) => decoded.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_the_public_url_from_path_and_query() {
        let seen = "http://10.0.0.7:3000/webhooks/twilio?foo=1&bar=2";
        assert_eq!(path_and_query(seen), "/webhooks/twilio?foo=1&bar=2");
        assert_eq!(path_and_query("http://host"), "/");
        assert_eq!(path_and_query("http://host?x=1"), "/?x=1");
        assert_eq!(path_and_query("/a?b"), "/a?b");
        assert_eq!(
            public_url(Some("https://example.com/"), seen),
            "https://example.com/webhooks/twilio?foo=1&bar=2"
        );
        assert_eq!(
            public_url(Some("https://example.com/api"), seen),
            "https://example.com/api/webhooks/twilio?foo=1&bar=2"
        );
        assert_eq!(public_url(None, seen), seen);
    }

    #[test]
    fn checks_the_configured_base() {
        assert!(check_public_base("https://example.com").is_ok());
        assert!(check_public_base("http://example.com:8080/prefix/").is_ok());
        assert!(check_public_base("example.com").is_err());
        assert!(check_public_base("https://").is_err());
        assert!(check_public_base("https://example.com/?x=1").is_err());
    }

    #[test]
    fn decodes_forms_and_queries() {
        let form = parse_form(b"To=%2B18005551212&text=&a+b=c%20d&flag&bad=%zz%4");
        assert_eq!(
            form,
            [
                ("To".into(), "+18005551212".into()),
                ("text".into(), String::new()),
                ("a b".into(), "c d".into()),
                ("flag".into(), String::new()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
        let url = "https://mycompany.com/myapp.php?foo=1&bodySHA256=ab%63#frag";
        assert_eq!(query_param(url, "bodySHA256").as_deref(), Some("abc"));
        assert_eq!(query_param(url, "bar"), None);
        assert_eq!(query_param("https://x/y", "foo"), None);
    }
}
