//! Persisted shapes of the network service: networks (with their subnets, address pools and
//! per-backend presence), ports, floating IPs and the bridge / MAC-prefix pools.
//!
//! Storage shapes only (the API renders its own wire documents). Field names are persisted.
//! A subnet lives inside its network's record, so allocating an address is one compare-and-swap
//! on the network written in the same transaction as the port or floating IP that holds it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::model::versioned;
use crate::clock::Timestamp;

/// A network (Synnefo's `Network`): private (a user's, created lazily on backends) or public
/// (an operator's, present on every backend).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub id: u64,
    pub name: String,
    /// Owner; `None` for public networks.
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub shared_to_project: bool,
    /// The network flavor (`MAC_FILTERED`, `PHYSICAL_VLAN`, `IP_LESS_ROUTED`, `CUSTOM`).
    pub flavor: String,
    pub mode: String,
    pub link: String,
    pub mac_prefix: String,
    pub tags: Vec<String>,
    /// Values taken from the bridge / MAC-prefix pools, given back on deletion.
    pub pooled_link: Option<String>,
    pub pooled_mac_prefix: Option<String>,
    /// The network's five-digit MAC prefix for each group of 16 backends past the first
    /// (group = backend index / 16, from 1), taken from the MAC-prefix pool the first time the
    /// network reaches a backend of that group and given back with the network. Group 0 uses
    /// `mac_prefix`, so the first 16 backends keep Synnefo's prefixes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_mac_prefixes: BTreeMap<u8, String>,
    /// `{name, version, digest}` of the flavor plugin that rendered the parameters.
    pub plugin: serde_json::Value,
    pub public: bool,
    pub floating_ip_pool: bool,
    pub drained: bool,
    /// `ACTIVE`, `ERROR` or `DELETED`.
    pub state: String,
    /// `DESTROY` while being deleted.
    pub action: Option<String>,
    pub subnets: Vec<Subnet>,
    /// Presence on each backend (Synnefo's `BackendNetwork`), by backend id.
    pub backends: BTreeMap<u64, BackendNetwork>,
    /// The job holding the network (one at a time).
    pub active_job: Option<u64>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub generation: u64,
}
versioned!(Network, "network");

impl Network {
    /// The Ganeti name (`snf-net-<id>`).
    pub fn ganeti_name(&self) -> String {
        crate::names::network(self.id)
    }

    /// Every value the network holds from a pool, as `(pool kind, value)`: its bridge, its
    /// MAC prefix and its prefixes for backend groups past the first.
    pub fn pooled_values(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let link = self.pooled_link.as_deref().map(|v| (BRIDGE, v));
        let mac = self.pooled_mac_prefix.as_deref().map(|v| (MAC_PREFIX, v));
        let groups = self
            .group_mac_prefixes
            .values()
            .map(|v| (MAC_PREFIX, v.as_str()));
        link.into_iter().chain(mac).chain(groups)
    }

    pub fn subnet_v4(&self) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.ip_version == 4)
    }

    pub fn subnet_v6(&self) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.ip_version == 6)
    }

    /// `(subnet id, address)` of a NIC with `mac` here: the EUI-64 address in the network's
    /// IPv6 subnet (spec §15.5), or none without one. Derived, never stored, so a port gains
    /// its address the moment Ganeti reports its MAC and follows a MAC change.
    pub fn ipv6_of_mac(&self, mac: &str) -> Option<(u64, Ipv6Addr)> {
        let subnet = self.subnet_v6()?;
        let prefix = subnet.cidr.parse().ok()?;
        crate::ipam::eui64(mac, prefix).map(|a| (subnet.id, a))
    }

    /// Whether the network is on a backend in any state but `DELETED`.
    pub fn on_any_backend(&self) -> bool {
        self.backends.values().any(|b| b.state != "DELETED")
    }
}

/// A subnet, kept inside its network. IPv4 subnets carry their pools and used addresses; IPv6
/// ones (always /64) have none: addresses are EUI-64 of the NIC's MAC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: u64,
    pub name: String,
    pub ip_version: u8,
    pub cidr: String,
    pub gateway: Option<String>,
    pub dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<serde_json::Value>,
    pub pools: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// Addresses held by ports and floating IPs.
    pub used: BTreeSet<Ipv4Addr>,
    /// Addresses reserved by operators (or seen reserved in Ganeti): never handed out.
    pub reserved: BTreeSet<Ipv4Addr>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// A network's presence on one backend.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendNetwork {
    /// `PENDING` (added, not connected), `ACTIVE` (connected to every node group), `ERROR`,
    /// `DELETED`.
    pub state: String,
    /// The network's MAC prefix on this backend (one more hex digit, the backend index).
    pub mac_prefix: String,
    pub updated: Timestamp,
}

/// A port: a network interface of a server, or an unattached one (Synnefo's `NetworkInterface`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Port {
    pub id: u64,
    pub name: String,
    pub network_id: u64,
    pub user_id: String,
    pub project_id: String,
    /// The server it is attached to.
    pub device_id: Option<u64>,
    pub mac: Option<String>,
    /// `(subnet id, address)` of its IPv4 address, if any.
    pub ipv4: Option<(u64, Ipv4Addr)>,
    /// The floating IP that provides `ipv4`, when on a public network.
    pub floating_ip_id: Option<u64>,
    /// `DOWN` (no device), `BUILD` (being attached), `ACTIVE` (seen in Ganeti), `ERROR`.
    pub status: String,
    /// `ENABLED`, `DISABLED` or `PROTECTED` (Ganeti instance tags), if set.
    pub firewall_profile: Option<String>,
    pub security_groups: Vec<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub generation: u64,
}
versioned!(Port, "port");

impl Port {
    /// The Ganeti NIC name (`snf-nic-<id>`).
    pub fn ganeti_name(&self) -> String {
        crate::names::nic(self.id)
    }
}

/// A floating IP: a public IPv4 address owned by a user and project, attached by being the
/// address of a port on its network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: u64,
    pub network_id: u64,
    pub subnet_id: u64,
    pub address: Ipv4Addr,
    pub user_id: String,
    pub project_id: String,
    pub shared_to_project: bool,
    /// The NIC's port holding this address, while attached.
    pub port_id: Option<u64>,
    pub server_id: Option<u64>,
    /// The port a Neutron client associated this floating IP with (`port_id` in `POST`/`PUT
    /// /floatingips`), while attached: Neutron NATs to that port, Synnefo gives its server a
    /// NIC on the public network instead (`port_id`), and OpenStack's endpoints show this one.
    #[serde(default)]
    pub nat_port_id: Option<u64>,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// Released (Synnefo keeps the row, deleted, so `changes-since` listings report it); its
    /// address went back to the pool and may belong to a newer floating IP.
    #[serde(default)]
    pub deleted: bool,
    pub generation: u64,
}
versioned!(FloatingIp, "floating IP");

/// A pool of bridges (`prv1`…) or MAC prefixes (`aa:00:1`…) that network flavors draw from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourcePool {
    pub id: u64,
    /// `bridge` or `mac-prefix`.
    pub kind: String,
    pub base: String,
    pub size: u32,
    /// Indexes handed out.
    pub used: BTreeSet<u32>,
    /// Indexes never handed out (operator reservations, index 0 and non-unicast prefixes).
    pub reserved: BTreeSet<u32>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub generation: u64,
}
versioned!(ResourcePool, "pool");

impl Network {
    /// Takes an IPv4 address from the network's IPv4 subnet: `requested`, or the first free.
    /// `Ok(None)` when the network has no IPv4 subnet (an IPv6-only or IP-less network).
    pub fn allocate_v4(
        &mut self,
        requested: Option<Ipv4Addr>,
    ) -> Result<Option<(u64, Ipv4Addr)>, crate::ipam::IpamError> {
        use crate::ipam::{IpamError, first_free, in_pools};
        let network = self.id;
        let Some(subnet) = self.subnets.iter_mut().find(|s| s.ip_version == 4) else {
            return match requested {
                Some(address) => Err(IpamError::Outside { address, network }),
                None => Ok(None),
            };
        };
        let address = match requested {
            Some(a) => {
                if subnet.used.contains(&a) || subnet.reserved.contains(&a) {
                    return Err(IpamError::InUse(a));
                }
                if !in_pools(&subnet.pools, a) {
                    return Err(IpamError::Outside {
                        address: a,
                        network,
                    });
                }
                a
            }
            None => first_free(&subnet.pools, &subnet.used, &subnet.reserved)
                .ok_or(IpamError::Exhausted { network })?,
        };
        subnet.used.insert(address);
        Ok(Some((subnet.id, address)))
    }

    /// Gives an IPv4 address back to its subnet.
    pub fn release_v4(&mut self, address: Ipv4Addr) {
        for s in &mut self.subnets {
            s.used.remove(&address);
        }
    }
}

/// The pool kind of bridges (`prv1`…).
pub const BRIDGE: &str = "bridge";
/// The pool kind of MAC prefixes (`aa:00:1`…).
pub const MAC_PREFIX: &str = "mac-prefix";

/// A MAC prefix of five hex digits (`aa:00:0`) as a number.
pub fn mac_base(base: &str) -> Option<u32> {
    let hex: String = base.chars().filter(|c| *c != ':').collect();
    if hex.len() != 5 {
        return None;
    }
    u32::from_str_radix(&hex, 16).ok()
}

fn mac_text(value: u32) -> String {
    let h = format!("{value:05x}");
    format!("{}:{}:{}", &h[0..2], &h[2..4], &h[4..5])
}

impl ResourcePool {
    fn indexes(&self) -> std::ops::RangeInclusive<u32> {
        match self.kind.as_str() {
            MAC_PREFIX => 0..=self.size.saturating_sub(1),
            _ => 1..=self.size,
        }
    }

    /// The value at `index`: `<base><index>` for bridges, `base + index` for MAC prefixes.
    pub fn value_at(&self, index: u32) -> String {
        match self.kind.as_str() {
            MAC_PREFIX => mac_text(mac_base(&self.base).unwrap_or(0) + index),
            _ => format!("{}{index}", self.base),
        }
    }

    /// The index of `value`, if it belongs to the pool.
    pub fn index_of(&self, value: &str) -> Option<u32> {
        let index = match self.kind.as_str() {
            MAC_PREFIX => mac_base(value)?.checked_sub(mac_base(&self.base)?)?,
            _ => value.strip_prefix(self.base.as_str())?.parse().ok()?,
        };
        self.indexes().contains(&index).then_some(index)
    }

    /// Takes the first free value, or `None` when the pool is exhausted.
    pub fn take(&mut self) -> Option<String> {
        let index = self
            .indexes()
            .find(|i| !self.used.contains(i) && !self.reserved.contains(i))?;
        self.used.insert(index);
        Some(self.value_at(index))
    }

    /// Returns `value` to the pool; values not from it are ignored.
    pub fn give_back(&mut self, value: &str) {
        if let Some(i) = self.index_of(value) {
            self.used.remove(&i);
        }
    }
}

#[cfg(test)]
mod pool_tests {
    use super::*;

    fn pool(kind: &str, base: &str, size: u32) -> ResourcePool {
        ResourcePool {
            id: 1,
            kind: kind.into(),
            base: base.into(),
            size,
            used: Default::default(),
            reserved: Default::default(),
            created: Timestamp(0),
            updated: Timestamp(0),
            generation: 1,
        }
    }

    #[test]
    fn bridge_values_run_from_one_to_size() {
        let mut p = pool(BRIDGE, "prv", 2);
        assert_eq!(p.take().as_deref(), Some("prv1"));
        assert_eq!(p.take().as_deref(), Some("prv2"));
        assert_eq!(p.take(), None);
        p.give_back("prv1");
        p.give_back("br0");
        assert_eq!(p.take().as_deref(), Some("prv1"));
        assert_eq!(p.index_of("prv3"), None);
    }

    #[test]
    fn mac_prefix_values_are_five_hex_digits_from_the_base() {
        let mut p = pool(MAC_PREFIX, "aa:00:0", 4);
        p.reserved.insert(0);
        assert_eq!(p.take().as_deref(), Some("aa:00:1"));
        assert_eq!(p.value_at(3), "aa:00:3");
        assert_eq!(p.index_of("aa:00:3"), Some(3));
        assert_eq!(p.index_of("aa:00:4"), None);
        assert_eq!(mac_text(0xab123), "ab:12:3");
    }
}
