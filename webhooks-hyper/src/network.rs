//! Who the client is: the TCP peer, or, behind a trusted proxy, the address
//! its forwarding header names.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use webhooks_core::config::IpRanges;

/// The TCP peer of a request, in its extensions: what a source's
/// `allow-ips` is checked against (through `trusted-proxies`).
///
/// The ready [`Server`](crate::Server) knows every connection's peer.
/// Mounted elsewhere, [`WebhookService`](crate::WebhookService) finds the
/// peer only here, so put it in each request; without it, the client is
/// unknown, and a source with `allow-ips` refuses every delivery (403),
/// while a source without it does not care. With axum, serve the router
/// with `into_make_service_with_connect_info::<SocketAddr>()` and copy
/// axum's `ConnectInfo` into a `PeerAddr` with a `map_request` middleware
/// (the `axum` example does).
///
/// ```
/// use webhooks_hyper::PeerAddr;
///
/// let mut request = http::Request::post("/webhooks/github").body(()).unwrap();
/// request.extensions_mut().insert(PeerAddr("192.30.252.7:51234".parse().unwrap()));
/// assert!(request.extensions().get::<PeerAddr>().is_some());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The client of a request from `peer`: the peer itself, unless it is in
/// `trusted`. A trusted proxy's forwarding header (`X-Forwarded-For`, or
/// RFC 7239 `Forwarded` `for=`) is walked from the right, skipping the
/// addresses that are trusted proxies themselves: the first other address
/// is the client, so whatever a client wrote to the left of it does not
/// count. When every hop is trusted, the leftmost is the client; without a
/// header, the proxy is.
///
/// `None`, an unknown client, when the peer is unknown, when a hop the walk
/// reaches is not an address (`unknown`, an obfuscated name, garbage), or
/// when both headers are present and name different clients: a proxy
/// appends to one of them, and the other may be the client's own forgery.
pub(crate) fn client_addr(
    peer: Option<IpAddr>,
    trusted: &IpRanges,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let forwarded = hops(headers, "forwarded", forwarded_for);
    let x_forwarded_for = hops(headers, "x-forwarded-for", |hop| Some(parse_node(hop)));
    match (forwarded, x_forwarded_for) {
        (None, None) => Some(peer),
        (Some(hops), None) | (None, Some(hops)) => walk(&hops, trusted),
        (Some(one), Some(other)) => {
            let client = walk(&one, trusted);
            (client == walk(&other, trusted))
                .then_some(client)
                .flatten()
        }
    }
}

/// The hops a header lists, left to right, over all its lines; `None` when
/// it is absent or lists nothing. A hop is `None` when it is no address.
fn hops(
    headers: &HeaderMap,
    name: &str,
    hop: impl Fn(&str) -> Option<Option<IpAddr>>,
) -> Option<Vec<Option<IpAddr>>> {
    let mut found = Vec::new();
    for line in headers.get_all(name) {
        let Ok(line) = line.to_str() else {
            found.push(None);
            continue;
        };
        let items = line
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty());
        found.extend(items.filter_map(&hop));
    }
    (!found.is_empty()).then_some(found)
}

/// The node of a `Forwarded` element's `for=` parameter; an element
/// without one is a hop that names no address.
fn forwarded_for(element: &str) -> Option<Option<IpAddr>> {
    let node = element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    });
    Some(node.and_then(parse_node))
}

/// An address, with or without a port: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr.to_canonical());
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let bracketed = node.strip_prefix('[')?.strip_suffix(']')?;
    bracketed
        .parse::<IpAddr>()
        .ok()
        .map(|addr| addr.to_canonical())
}

/// From the right: the first hop that is not a trusted proxy.
fn walk(hops: &[Option<IpAddr>], trusted: &IpRanges) -> Option<IpAddr> {
    for hop in hops.iter().rev() {
        let addr = (*hop)?;
        if !trusted.contains(addr) {
            return Some(addr);
        }
    }
    hops.first().copied().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn client(peer: &str, trusted: &[&str], headers: &[(&str, &str)]) -> Option<IpAddr> {
        let trusted = IpRanges::from_cidrs(trusted).unwrap();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        client_addr(Some(ip(peer)), &trusted, &map)
    }

    const PROXIES: &[&str] = &["10.0.0.0/8", "fd00::/8"];

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let said = [
            ("x-forwarded-for", "192.30.252.1"),
            ("forwarded", "for=192.30.252.1"),
        ];
        assert_eq!(
            client("203.0.113.9", PROXIES, &said),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client("::ffff:203.0.113.9", &[], &[]),
            Some(ip("203.0.113.9"))
        );
        let unknown = client_addr(None, &IpRanges::default(), &HeaderMap::new());
        assert_eq!(unknown, None);
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right() {
        let xff = |value| client("10.0.0.2", PROXIES, &[("x-forwarded-for", value)]);
        assert_eq!(xff("192.30.252.1"), Some(ip("192.30.252.1")));
        assert_eq!(xff("192.30.252.1, 10.0.0.7"), Some(ip("192.30.252.1")));
        // The spoofed left part never counts.
        assert_eq!(xff("192.30.252.1, 203.0.113.9"), Some(ip("203.0.113.9")));
        assert_eq!(
            xff("192.30.252.1, 203.0.113.9, 10.1.1.1"),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(xff("10.0.0.9, 10.0.0.8"), Some(ip("10.0.0.9")));
        assert_eq!(xff("[2a0a:a440::1]:4711"), Some(ip("2a0a:a440::1")));
        assert_eq!(xff("192.30.252.1:443"), Some(ip("192.30.252.1")));
        assert_eq!(xff("junk, 192.30.252.1"), Some(ip("192.30.252.1")));
        assert_eq!(xff("192.30.252.1, junk"), None);
        assert_eq!(xff(" , "), Some(ip("10.0.0.2")));
        assert_eq!(client("10.0.0.2", PROXIES, &[]), Some(ip("10.0.0.2")));
        let lines = [
            ("x-forwarded-for", "192.30.252.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(client("10.0.0.2", PROXIES, &lines), Some(ip("203.0.113.9")));
    }

    #[test]
    fn forwarded_for_as_rfc_7239_writes_it() {
        let fwd = |value| client("fd00::2", PROXIES, &[("forwarded", value)]);
        // RFC 7239, section 4's examples.
        assert_eq!(fwd(r#"for="_gazonk""#), None);
        assert_eq!(
            fwd(r#"For="[2001:db8:cafe::17]:4711""#),
            Some(ip("2001:db8:cafe::17"))
        );
        assert_eq!(
            fwd("for=192.0.2.60;proto=http;by=203.0.113.43"),
            Some(ip("192.0.2.60"))
        );
        assert_eq!(
            fwd("for=192.0.2.43, for=198.51.100.17"),
            Some(ip("198.51.100.17"))
        );
        assert_eq!(fwd("for=192.0.2.43, for=10.2.2.2"), Some(ip("192.0.2.43")));
        assert_eq!(fwd("for=unknown"), None);
        assert_eq!(fwd("proto=https"), None);
    }

    #[test]
    fn two_headers_must_name_the_same_client() {
        let both = |forwarded, xff| {
            client(
                "10.0.0.2",
                PROXIES,
                &[("forwarded", forwarded), ("x-forwarded-for", xff)],
            )
        };
        assert_eq!(both("for=192.30.252.1", "203.0.113.9"), None);
        assert_eq!(
            both("for=192.30.252.1", "192.30.252.1"),
            Some(ip("192.30.252.1"))
        );
    }

    proptest::proptest! {
        /// Whatever a client writes into a forwarding header, behind a
        /// trusted proxy that appends the address it saw, the client is that
        /// address: never one the client wrote, nor one from a second
        /// forwarding header it sent along (then nobody: refused).
        #[test]
        fn no_forged_chain_decides_the_client(
            forged in "[ -~]{0,60}",
            octets in proptest::prelude::any::<[u8; 4]>(),
            v6 in proptest::prelude::any::<Option<[u16; 8]>>(),
            append_to_forwarded in proptest::prelude::any::<bool>(),
            other in proptest::option::of("[ -~]{0,40}"),
        ) {
            let seen = match v6 {
                Some(segments) => IpAddr::from(segments).to_canonical(),
                None => IpAddr::from(octets),
            };
            let trusted = IpRanges::from_cidrs(PROXIES).unwrap();
            proptest::prop_assume!(!trusted.contains(seen));
            let (name, appended, other_name) = if append_to_forwarded {
                let node = match seen {
                    IpAddr::V6(addr) => format!("\"[{addr}]\""),
                    IpAddr::V4(addr) => addr.to_string(),
                };
                ("forwarded", format!("{forged}, for={node}"), "x-forwarded-for")
            } else {
                ("x-forwarded-for", format!("{forged}, {seen}"), "forwarded")
            };
            let mut headers = vec![(name, appended.as_str())];
            if let Some(other) = &other {
                headers.push((other_name, other.as_str()));
            }
            let client = client("10.0.0.2", PROXIES, &headers);
            if other.is_none() {
                proptest::prop_assert_eq!(client, Some(seen));
            } else {
                proptest::prop_assert!(client.is_none() || client == Some(seen), "{client:?}");
            }
        }
    }
}
