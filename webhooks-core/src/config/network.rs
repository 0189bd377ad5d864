//! Lists of IP ranges: `trusted-proxies`, and a source's `allow-ips`.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::error::ConfigError;

/// IP ranges from CIDRs such as `192.30.252.0/22` or `2a0a:a440::/29`; a
/// bare address is a range of one (`/32`, `/128`). IPv4 and IPv6 mix
/// freely, and an IPv4 client seen through an IPv6 socket
/// (`::ffff:192.30.252.1`) is matched as the IPv4 address it is.
///
/// ```
/// use webhooks_core::config::IpRanges;
///
/// let github = IpRanges::from_cidrs(["192.30.252.0/22", "2a0a:a440::/29", "203.0.113.7"]).unwrap();
/// assert!(github.contains("192.30.253.4".parse().unwrap()));
/// assert!(github.contains("::ffff:192.30.253.4".parse().unwrap()));
/// assert!(github.contains("2a0a:a440::1".parse().unwrap()));
/// assert!(github.contains("203.0.113.7".parse().unwrap()));
/// assert!(!github.contains("203.0.113.8".parse().unwrap()));
/// assert!(IpRanges::from_cidrs(["192.30.252.0/33"]).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IpRanges {
    ranges: Vec<IpNet>,
}

/// A list item that is neither an IP address nor a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or a CIDR such as 192.30.252.0/22 or 2a0a:a440::/29")]
pub struct InvalidCidr(pub String);

impl IpRanges {
    /// Parses each of `cidrs`: `address/prefix`, or a bare address.
    pub fn from_cidrs<I, S>(cidrs: I) -> Result<Self, InvalidCidr>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let ranges = cidrs
            .into_iter()
            .map(|cidr| parse_range(cidr.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { ranges })
    }

    /// Whether `addr` is in one of the ranges.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.ranges.iter().any(|range| range.contains(&addr))
    }

    /// Whether there is no range at all (nothing is contained).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The list under `key` of a configuration file: every item must parse;
    /// an empty list is refused when `non_empty` (an allow-list naming
    /// nobody is a mistake: leaving the key out allows every client).
    pub(super) fn from_key(
        key: &str,
        cidrs: &[String],
        non_empty: bool,
    ) -> Result<Self, ConfigError> {
        let ranges = Self::from_cidrs(cidrs)
            .map_err(|error| ConfigError::invalid(key, error.to_string()))?;
        if non_empty && ranges.is_empty() {
            return Err(ConfigError::invalid(
                key,
                "lists no address: leave the key out to allow every client",
            ));
        }
        Ok(ranges)
    }
}

fn parse_range(text: &str) -> Result<IpNet, InvalidCidr> {
    let text = text.trim();
    let range = match text.parse::<IpNet>() {
        Ok(range) => range.trunc(),
        Err(_) => text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| InvalidCidr(text.to_owned()))?,
    };
    // Canonical, so that an IPv4-mapped range matches the IPv4 addresses
    // that `contains` canonicalizes.
    match range {
        IpNet::V6(v6) => match (v6.addr().to_ipv4_mapped(), v6.prefix_len().checked_sub(96)) {
            (Some(v4), Some(prefix)) => ipnet::Ipv4Net::new(v4, prefix)
                .map(IpNet::V4)
                .map_err(|_| InvalidCidr(text.to_owned())),
            _ => Ok(range),
        },
        IpNet::V4(_) => Ok(range),
    }
}

impl fmt::Debug for IpRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (index, range) in self.ranges.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{range}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_and_bare_addresses_of_both_families() {
        let ranges = IpRanges::from_cidrs([
            "192.30.252.0/22",
            "2606:50c0::/32",
            "10.0.0.1",
            "::1",
            " 198.51.100.9/24 ",
        ])
        .unwrap();
        for inside in [
            "192.30.252.0",
            "192.30.255.255",
            "2606:50c0:ffff::1",
            "10.0.0.1",
            "::1",
            "198.51.100.200",
            "::ffff:10.0.0.1",
        ] {
            assert!(ranges.contains(ip(inside)), "{inside}");
        }
        for outside in [
            "192.30.251.255",
            "192.31.0.0",
            "2606:50c1::1",
            "10.0.0.2",
            "::2",
            "::ffff:10.0.0.2",
        ] {
            assert!(!ranges.contains(ip(outside)), "{outside}");
        }
        assert_eq!(
            format!("{ranges:?}"),
            "[192.30.252.0/22, 2606:50c0::/32, 10.0.0.1/32, ::1/128, 198.51.100.0/24]"
        );
    }

    #[test]
    fn an_ipv4_mapped_range_matches_ipv4_clients() {
        let ranges = IpRanges::from_cidrs(["::ffff:192.0.2.0/120"]).unwrap();
        assert!(ranges.contains(ip("192.0.2.77")));
        assert!(ranges.contains(ip("::ffff:192.0.2.77")));
        assert!(!ranges.contains(ip("192.0.3.1")));
    }

    #[test]
    fn bad_items_and_empty_allow_lists_name_the_key() {
        for bad in [
            "192.30.252.0/33",
            "192.30.252",
            "github",
            "2a0a:a440::/129",
            "",
        ] {
            let error = IpRanges::from_key("webhooks.trusted-proxies", &[bad.to_owned()], false)
                .unwrap_err()
                .to_string();
            assert!(error.contains("`webhooks.trusted-proxies`"), "{error}");
        }
        assert!(IpRanges::from_key("k", &[], false).unwrap().is_empty());
        let empty = IpRanges::from_key("webhooks.sources.s.allow-ips", &[], true)
            .unwrap_err()
            .to_string();
        assert!(empty.contains("webhooks.sources.s.allow-ips"), "{empty}");
    }
}
