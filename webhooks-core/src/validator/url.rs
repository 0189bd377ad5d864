//! The request URL of URL-signing schemes, and form-encoded bodies.

use std::borrow::Cow;

use super::SignatureError;

/// The URL a transport gives [`SignedRequest::with_url`](crate::SignedRequest::with_url)
/// for the schemes that sign it (Twilio, Square): `http://{host}{path_and_query}`
/// when `host`, the request's `Host` header, is a plain `host[:port]` (an
/// IPv6 address in brackets), else the path and query alone.
///
/// The path and query come from the request line only, so no `Host` header
/// can move them (`Host: x?a=` would otherwise turn the path into a query).
/// A source configured with its public URL completes a path alone; one
/// without refuses it, as the URL the provider signed cannot be known.
///
/// ```
/// use webhooks_core::request_url;
///
/// let url = request_url(Some("example.com:8080"), "/webhooks/twilio?x=1");
/// assert_eq!(url, "http://example.com:8080/webhooks/twilio?x=1");
/// assert_eq!(request_url(Some("[::1]:3000"), "/webhooks/sq"), "http://[::1]:3000/webhooks/sq");
/// for hostile in ["x?a=", "x/evil", "u@x", "x#", "x y", ""] {
///     assert_eq!(request_url(Some(hostile), "/webhooks/twilio"), "/webhooks/twilio");
/// }
/// assert_eq!(request_url(None, "/webhooks/twilio"), "/webhooks/twilio");
/// ```
pub fn request_url(host: Option<&str>, path_and_query: &str) -> String {
    match host.filter(|host| is_plain_authority(host)) {
        Some(host) => format!("http://{host}{path_and_query}"),
        None => path_and_query.to_owned(),
    }
}

/// Whether `authority` is `host` or `host:port` and nothing else: a DNS
/// name or IPv4 address (letters, digits, `-`, `.`, `_`, `~`) or an IPv6
/// address in brackets, and a port of 1 to 5 digits. No `/`, `?`, `#`,
/// `@`, whitespace or control character can pass.
pub(crate) fn is_plain_authority(authority: &str) -> bool {
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => {
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        _ => (authority, None),
    };
    let port_ok = port.is_none_or(|port| {
        (1..=5).contains(&port.len()) && port.bytes().all(|byte| byte.is_ascii_digit())
    });
    let host_ok = match host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
    {
        Some(address) => {
            !address.is_empty()
                && address
                    .bytes()
                    .all(|byte| byte.is_ascii_hexdigit() || matches!(byte, b':' | b'.'))
        }
        None => {
            !host.is_empty()
                && host.bytes().all(|byte| {
                    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
                })
        }
    };
    port_ok && host_ok
}

/// Whether a URL from [`request_url`] or an application is absolute (has a
/// plain `scheme://authority`, `false` for a path alone), and its path and
/// query; an error for anything else, and for an absolute URL whose
/// authority is not plain or is followed by a query or fragment without a
/// path.
fn split_url(url: &str) -> Result<(bool, &str), SignatureError> {
    if url.starts_with('/') {
        return Ok((false, url));
    }
    let unverifiable = |reason| Err(SignatureError::UnverifiableUrl(reason));
    let Some((scheme, rest)) = url.split_once("://") else {
        return unverifiable("expected an absolute URL or a path");
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if scheme.is_empty() || !is_plain_authority(host) {
        return unverifiable("the URL's host is not a plain host[:port]");
    }
    if !path.is_empty() && !path.starts_with('/') {
        return unverifiable("the URL's path does not start with `/`");
    }
    Ok((true, path))
}

/// The URL the provider signed: `public_base` (`https://example.com`, no
/// trailing slash needed) followed by the path and query of the URL the
/// transport saw, whatever its host; without a base, that URL itself,
/// which must then have a plain host.
pub(crate) fn public_url<'u>(
    public_base: Option<&str>,
    seen: &'u str,
) -> Result<Cow<'u, str>, SignatureError> {
    let (absolute, path) = split_url(seen)?;
    let path = if path.is_empty() { "/" } else { path };
    match (public_base, absolute) {
        (Some(base), _) => Ok(Cow::Owned(format!("{}{path}", base.trim_end_matches('/')))),
        (None, true) => Ok(Cow::Borrowed(seen)),
        (None, false) => Err(SignatureError::UnverifiableUrl(
            "the Host header is not a plain host[:port] and no public URL is configured",
        )),
    }
}

/// The URL as given, and without its port, or with the default port of its
/// scheme when it has none: the forms Twilio's SDKs try.
pub(crate) fn url_variants(url: &str) -> Vec<Cow<'_, str>> {
    let mut variants = vec![Cow::Borrowed(url)];
    let Some((scheme, rest)) = url.split_once("://") else {
        return variants;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (userinfo, host_port) = authority.split_at(authority.rfind('@').map_or(0, |at| at + 1));
    let port_colon = host_port.rfind(':').filter(|&colon| {
        !host_port[colon..].contains(']')
            && host_port[colon + 1..].bytes().all(|b| b.is_ascii_digit())
    });
    match port_colon {
        Some(colon) => {
            let host = &host_port[..colon];
            variants.push(Cow::Owned(format!("{scheme}://{userinfo}{host}{tail}")));
        }
        None => {
            let port = match scheme.to_ascii_lowercase().as_str() {
                "https" => 443,
                "http" => 80,
                _ => return variants,
            };
            variants.push(Cow::Owned(format!(
                "{scheme}://{userinfo}{host_port}:{port}{tail}"
            )));
        }
    }
    variants
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
    if !is_plain_authority(host) {
        return Err("expected a plain host[:port] after the scheme");
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
    form_pairs(body).map(decode_pair).collect()
}

/// [`parse_form`], or `None` as soon as the body holds more than `max`
/// pairs: nothing is decoded then, and the body is read no further.
pub(crate) fn parse_form_at_most(body: &[u8], max: usize) -> Option<Vec<(String, String)>> {
    let pairs = form_pairs(body);
    if pairs.clone().nth(max).is_some() {
        return None;
    }
    Some(pairs.map(decode_pair).collect())
}

/// The non-empty `&`-separated pairs of a form, undecoded.
fn form_pairs(body: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    body.split(|&byte| byte == b'&')
        .filter(|pair| !pair.is_empty())
}

fn decode_pair(pair: &[u8]) -> (String, String) {
    match pair.iter().position(|&byte| byte == b'=') {
        Some(at) => (form_decode(&pair[..at]), form_decode(&pair[at + 1..])),
        None => (form_decode(pair), String::new()),
    }
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
        let url = |base, seen| public_url(base, seen).map(Cow::into_owned);
        let expected = "https://example.com/webhooks/twilio?foo=1&bar=2";
        assert_eq!(url(Some("https://example.com/"), seen).unwrap(), expected);
        assert_eq!(
            url(Some("https://example.com/api"), seen).unwrap(),
            "https://example.com/api/webhooks/twilio?foo=1&bar=2"
        );
        assert_eq!(
            url(Some("https://example.com"), "http://host").unwrap(),
            "https://example.com/"
        );
        assert_eq!(url(None, seen).unwrap(), seen);
        // A path alone (the Host header was not plain) needs the base.
        let path = "/webhooks/twilio?foo=1&bar=2";
        assert_eq!(url(Some("https://example.com"), path).unwrap(), expected);
        assert!(matches!(
            url(None, path),
            Err(SignatureError::UnverifiableUrl(_))
        ));
    }

    #[test]
    fn a_host_that_would_move_the_path_or_query_is_refused() {
        for hostile in [
            "http://x?a=/webhooks/twilio",
            "http://x#/webhooks/twilio",
            "http://x y/webhooks/twilio",
            "http:///webhooks/twilio",
            "http://[::1/webhooks/twilio",
            "http://x:99999999/webhooks/twilio",
            "webhooks/twilio",
            "",
        ] {
            for base in [None, Some("https://example.com")] {
                assert!(
                    matches!(
                        public_url(base, hostile),
                        Err(SignatureError::UnverifiableUrl(_))
                    ),
                    "{hostile}"
                );
            }
        }
        for plain in [
            "h",
            "h.example:443",
            "10.0.0.7:3000",
            "[::1]",
            "[2001:db8::7]:8443",
            "a-b_c~d",
        ] {
            assert!(is_plain_authority(plain), "{plain}");
        }
        for hostile in [
            "x?a=", "x/y", "u@x", "x#", "x y", "x\t", "", ":80", "x:", "x:8a", "::1", "[]", "[::1",
            "[x]", "é",
        ] {
            assert!(!is_plain_authority(hostile), "{hostile}");
            assert_eq!(request_url(Some(hostile), "/p?q"), "/p?q");
        }
    }

    #[test]
    fn url_variants_with_and_without_the_port() {
        assert_eq!(
            url_variants("https://h.com:8443/a?b"),
            ["https://h.com:8443/a?b", "https://h.com/a?b"]
        );
        assert_eq!(
            url_variants("http://u:p@h.com/a"),
            ["http://u:p@h.com/a", "http://u:p@h.com:80/a"]
        );
        assert_eq!(
            url_variants("https://[::1]/a"),
            ["https://[::1]/a", "https://[::1]:443/a"]
        );
        assert_eq!(url_variants("ftp://h/a"), ["ftp://h/a"]);
    }

    #[test]
    fn url_variants_split_the_userinfo_and_the_port_exactly() {
        // An empty userinfo: the `@` opens the authority.
        assert_eq!(
            url_variants("http://@h.com/a"),
            ["http://@h.com/a", "http://@h.com:80/a"]
        );
        // Only digits after the last colon are a port to drop: `h:abc` is
        // kept whole (the URL is not one a provider signs, and no variant
        // may turn it into another host's).
        assert_eq!(
            url_variants("https://h:abc/a"),
            ["https://h:abc/a", "https://h:abc:443/a"]
        );
    }

    #[test]
    fn checks_the_configured_base() {
        assert!(check_public_base("https://example.com").is_ok());
        assert!(check_public_base("http://example.com:8080/prefix/").is_ok());
        assert!(check_public_base("example.com").is_err());
        assert!(check_public_base("https://").is_err());
        assert!(check_public_base("https://example.com/?x=1").is_err());
        assert!(check_public_base("https://user@example.com/").is_err());
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
        assert_eq!(
            parse_form_at_most(b"a=1&&b=2&", 2).map(|f| f.len()),
            Some(2)
        );
        assert_eq!(parse_form_at_most(b"a=1&b=2&c", 2), None);
    }
}
