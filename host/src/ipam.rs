//! Address management for subnets (spec §3.2, §15.4, §15.5): the CIDR rules, default
//! allocation pools, pool validation, first-free allocation and the EUI-64 IPv6 address of a MAC.
//!
//! Pure functions over plain values, and a leaf module (no imports from the crate), so the store
//! records, the network services and the reconciler share one set of rules. It must not touch
//! records or I/O: callers keep the used-address sets and persist them.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Synnefo's `MAX_CIDR_BLOCK`: the largest IPv4 subnet (smallest prefix length) accepted.
pub const MIN_PREFIX_V4: u8 = 22;
/// The smallest IPv4 subnet accepted (a /30 leaves no room for a gateway and hosts).
pub const MAX_PREFIX_V4: u8 = 29;

/// Why an address operation was refused. Each names what is wrong; the service maps them to
/// 400/409/413 faults as the spec does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "Unsupported network size: IPv4 subnets must be between /{MIN_PREFIX_V4} and /{MAX_PREFIX_V4}"
    )]
    UnsupportedSize,
    #[error("{0}")]
    PoolConflict(String),
    #[error("No more IP addresses available on network {network}")]
    Exhausted { network: u64 },
    #[error("IP address {0} is already used.")]
    InUse(Ipv4Addr),
    #[error("IP address {address} does not belong to network {network}")]
    Outside { address: Ipv4Addr, network: u64 },
}

/// An inclusive range of IPv4 addresses.
pub type Range = (Ipv4Addr, Ipv4Addr);

/// Parses a strict IPv4 CIDR (no host bits) of an accepted size.
pub fn parse_v4(cidr: &str) -> Result<Ipv4Net, IpamError> {
    let net: Ipv4Net = cidr
        .parse()
        .map_err(|_| IpamError::Invalid(format!("Invalid CIDR '{cidr}'")))?;
    if net.trunc() != net {
        return Err(IpamError::Invalid(format!(
            "Invalid CIDR '{cidr}': host bits are set (did you mean {}?)",
            net.trunc()
        )));
    }
    if !(MIN_PREFIX_V4..=MAX_PREFIX_V4).contains(&net.prefix_len()) {
        return Err(IpamError::UnsupportedSize);
    }
    Ok(net)
}

/// Parses an IPv6 subnet, which must be exactly a /64 (EUI-64 addressing).
pub fn parse_v6(cidr: &str) -> Result<Ipv6Net, IpamError> {
    let net: Ipv6Net = cidr
        .parse()
        .map_err(|_| IpamError::Invalid(format!("Invalid CIDR '{cidr}'")))?;
    if net.trunc() != net {
        return Err(IpamError::Invalid(format!(
            "Invalid CIDR '{cidr}': host bits are set"
        )));
    }
    if net.prefix_len() != 64 {
        return Err(IpamError::Invalid(
            "Only /64 IPv6 subnets are supported".into(),
        ));
    }
    Ok(net)
}

/// The first host address of a subnet (the default gateway).
pub fn first_host(net: Ipv4Net) -> Ipv4Addr {
    next(net.network())
}

fn next(a: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a).saturating_add(1))
}

fn prev(a: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a).saturating_sub(1))
}

/// The default pools: every host address except the gateway (one or two ranges around it).
pub fn default_pools(net: Ipv4Net, gateway: Option<Ipv4Addr>) -> Vec<Range> {
    let (lo, hi) = (next(net.network()), prev(net.broadcast()));
    match gateway {
        Some(g) if g > lo && g < hi => vec![(lo, prev(g)), (next(g), hi)],
        Some(g) if g == lo => vec![(next(g), hi)],
        Some(g) if g == hi => vec![(lo, prev(g))],
        _ => vec![(lo, hi)],
    }
}

/// Checks explicit pools: inside the subnet's host range, start ≤ end, not containing the
/// gateway, not overlapping each other.
pub fn validate_pools(
    net: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    pools: &[Range],
) -> Result<(), IpamError> {
    let (lo, hi) = (next(net.network()), prev(net.broadcast()));
    let mut sorted = pools.to_vec();
    sorted.sort();
    for (i, &(start, end)) in sorted.iter().enumerate() {
        if start > end {
            return Err(IpamError::PoolConflict(format!(
                "Invalid allocation pool {start}-{end}: start is after end"
            )));
        }
        if start < lo || end > hi {
            return Err(IpamError::PoolConflict(format!(
                "Allocation pool {start}-{end} is not inside the host addresses of {net}"
            )));
        }
        if let Some(g) = gateway
            && start <= g
            && g <= end
        {
            return Err(IpamError::PoolConflict(format!(
                "Allocation pool {start}-{end} contains the gateway {g}"
            )));
        }
        if i > 0 && sorted[i - 1].1 >= start {
            return Err(IpamError::PoolConflict(format!(
                "Allocation pools {}-{} and {start}-{end} overlap",
                sorted[i - 1].0,
                sorted[i - 1].1
            )));
        }
    }
    Ok(())
}

/// Whether `address` lies in one of `pools`.
pub fn in_pools(pools: &[Range], address: Ipv4Addr) -> bool {
    pools.iter().any(|&(s, e)| s <= address && address <= e)
}

/// The first address of `pools` that is in neither `used` nor `reserved`.
pub fn first_free(
    pools: &[Range],
    used: &BTreeSet<Ipv4Addr>,
    reserved: &BTreeSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    for &(start, end) in pools {
        let mut a = u32::from(start);
        while a <= u32::from(end) {
            let addr = Ipv4Addr::from(a);
            if !used.contains(&addr) && !reserved.contains(&addr) {
                return Some(addr);
            }
            a += 1;
        }
    }
    None
}

/// Synnefo's IP pool map of an IPv4 subnet (`subnet-inspect`): one character per address of
/// `net`, 64 to a line — `.` free, `X` in use, `R` reserved, `G` the gateway, ` ` outside
/// the allocation pools (the network and broadcast addresses among them). Subnets larger than
/// a /16 are summarised by `None` (the map would be megabytes).
pub fn pool_map(
    net: Ipv4Net,
    pools: &[Range],
    used: &BTreeSet<Ipv4Addr>,
    reserved: &BTreeSet<Ipv4Addr>,
    gateway: Option<Ipv4Addr>,
) -> Option<Vec<String>> {
    if net.prefix_len() < 16 {
        return None;
    }
    let (first, last) = (u32::from(net.network()), u32::from(net.broadcast()));
    let marks: Vec<char> = (first..=last)
        .map(Ipv4Addr::from)
        .map(|a| match a {
            a if Some(a) == gateway => 'G',
            a if used.contains(&a) => 'X',
            a if reserved.contains(&a) => 'R',
            a if in_pools(pools, a) => '.',
            _ => ' ',
        })
        .collect();
    Some(marks.chunks(64).map(|c| c.iter().collect()).collect())
}

/// Number of addresses in `pools`.
pub fn pool_size(pools: &[Range]) -> u64 {
    pools
        .iter()
        .map(|&(s, e)| u64::from(u32::from(e)) - u64::from(u32::from(s)) + 1)
        .sum()
}

/// The EUI-64 address of `mac` in a /64 (insert ff:fe, flip the universal/local bit).
pub fn eui64(mac: &str, prefix: Ipv6Net) -> Option<Ipv6Addr> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    let [a, b, c, d, e, f] = <[u8; 6]>::try_from(bytes).ok()?;
    let iid = [a ^ 0x02, b, c, 0xff, 0xfe, d, e, f];
    let mut octets = prefix.network().octets();
    octets[8..].copy_from_slice(&iid);
    Some(Ipv6Addr::from(octets))
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_pool_map_marks_each_address() {
        let net = parse_v4("10.0.0.0/29").expect("net");
        let pools = vec![(
            "10.0.0.2".parse().expect("a"),
            "10.0.0.6".parse().expect("a"),
        )];
        let used = ["10.0.0.3".parse().expect("a")].into_iter().collect();
        let reserved = ["10.0.0.5".parse().expect("a")].into_iter().collect();
        let map = pool_map(net, &pools, &used, &reserved, "10.0.0.1".parse().ok());
        assert_eq!(map, Some(vec![" G.X.R. ".to_string()]));
        let big: Ipv4Net = "10.0.0.0/8".parse().expect("net");
        assert_eq!(pool_map(big, &pools, &used, &reserved, None), None);
    }

    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().expect("address")
    }

    #[test]
    fn cidr_rules() {
        assert!(parse_v4("10.0.0.0/24").is_ok());
        assert_eq!(parse_v4("10.0.0.0/21"), Err(IpamError::UnsupportedSize));
        assert_eq!(parse_v4("10.0.0.0/30"), Err(IpamError::UnsupportedSize));
        assert!(
            matches!(parse_v4("10.0.0.1/24"), Err(IpamError::Invalid(m)) if m.contains("10.0.0.0/24"))
        );
        assert!(matches!(parse_v4("nope"), Err(IpamError::Invalid(_))));
        assert!(parse_v6("2001:db8::/64").is_ok());
        assert!(matches!(
            parse_v6("2001:db8::/48"),
            Err(IpamError::Invalid(_))
        ));
    }

    #[test]
    fn default_pools_skip_network_broadcast_and_gateway() {
        let net = parse_v4("10.0.0.0/29").expect("net");
        assert_eq!(
            default_pools(net, Some(a("10.0.0.1"))),
            vec![(a("10.0.0.2"), a("10.0.0.6"))]
        );
        assert_eq!(
            default_pools(net, Some(a("10.0.0.4"))),
            vec![
                (a("10.0.0.1"), a("10.0.0.3")),
                (a("10.0.0.5"), a("10.0.0.6"))
            ]
        );
        assert_eq!(
            default_pools(net, None),
            vec![(a("10.0.0.1"), a("10.0.0.6"))]
        );
    }

    #[test]
    fn explicit_pools_are_checked() {
        let net = parse_v4("10.0.0.0/24").expect("net");
        let g = Some(a("10.0.0.1"));
        assert!(validate_pools(net, g, &[(a("10.0.0.10"), a("10.0.0.20"))]).is_ok());
        for bad in [
            vec![(a("10.0.0.20"), a("10.0.0.10"))],
            vec![(a("10.0.0.0"), a("10.0.0.10"))],
            vec![(a("10.0.0.250"), a("10.0.0.255"))],
            vec![(a("10.0.0.1"), a("10.0.0.5"))],
            vec![
                (a("10.0.0.2"), a("10.0.0.9")),
                (a("10.0.0.9"), a("10.0.0.12")),
            ],
        ] {
            assert!(
                matches!(
                    validate_pools(net, g, &bad),
                    Err(IpamError::PoolConflict(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn allocation_is_first_free_and_skips_reserved() {
        let pools = vec![
            (a("10.0.0.2"), a("10.0.0.3")),
            (a("10.0.0.5"), a("10.0.0.6")),
        ];
        let mut used = BTreeSet::new();
        let reserved = BTreeSet::from([a("10.0.0.3")]);
        assert_eq!(first_free(&pools, &used, &reserved), Some(a("10.0.0.2")));
        used.insert(a("10.0.0.2"));
        assert_eq!(first_free(&pools, &used, &reserved), Some(a("10.0.0.5")));
        used.extend([a("10.0.0.5"), a("10.0.0.6")]);
        assert_eq!(first_free(&pools, &used, &reserved), None);
        assert_eq!(pool_size(&pools), 4);
    }

    #[test]
    fn eui64_of_a_mac() {
        let p: Ipv6Net = "2001:db8::/64".parse().expect("net");
        assert_eq!(
            eui64("aa:00:00:12:34:56", p),
            Some("2001:db8::a800:ff:fe12:3456".parse().expect("v6"))
        );
        assert_eq!(eui64("zz", p), None);
    }
}
