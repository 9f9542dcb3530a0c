//! Simulated Ganeti networks: IPv4 pools with external reservations, connections to the
//! node group, and the network opcodes (`OP_NETWORK_ADD`, `_CONNECT`, `_DISCONNECT`,
//! `_REMOVE`), rendered as Ganeti 3.0 does.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::state::{Cluster, OpResult, now};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub uuid: String,
    /// IPv4 CIDR (`10.0.0.0/24`).
    pub network: String,
    pub gateway: Option<String>,
    pub network6: Option<String>,
    pub gateway6: Option<String>,
    pub mac_prefix: Option<String>,
    pub tags: Vec<String>,
    /// Externally reserved addresses (network, broadcast, gateway, `add_reserved_ips`).
    pub reserved: BTreeSet<String>,
    /// (group, mode, link, vlan) per connected node group.
    pub groups: Vec<(String, String, String, String)>,
    pub ctime: f64,
    pub mtime: f64,
    pub serial_no: u64,
}

/// `a.b.c.d/n` → (first address, prefix length).
pub fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let len: u32 = len.parse().ok()?;
    if !(8..=30).contains(&len) {
        return None;
    }
    let base = ip_to_u32(addr)?;
    let mask = u32::MAX << (32 - len);
    Some((base & mask, len))
}

pub fn ip_to_u32(ip: &str) -> Option<u32> {
    let parts: Vec<u8> = ip
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (parts.len() == 4).then(|| u32::from_be_bytes([parts[0], parts[1], parts[2], parts[3]]))
}

pub fn u32_to_ip(v: u32) -> String {
    let b = v.to_be_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

fn error(kind: &'static str, message: String, code: Option<&'static str>) -> OpResult {
    Err((kind, message, code))
}

impl Network {
    fn range(&self) -> (u32, u32) {
        let (base, len) = parse_cidr(&self.network).unwrap_or((0, 32));
        (base, 1u32 << (32 - len))
    }

    /// Whether `ip` lies in the network.
    pub fn contains(&self, ip: &str) -> bool {
        let (base, size) = self.range();
        ip_to_u32(ip).is_some_and(|v| v >= base && v < base.saturating_add(size))
    }

    fn render(&self, used: &BTreeSet<String>, instances: Vec<String>) -> Value {
        let (base, size) = self.range();
        let map: String = (0..size)
            .map(|i| {
                let ip = u32_to_ip(base + i);
                if self.reserved.contains(&ip) || used.contains(&ip) {
                    'X'
                } else {
                    '.'
                }
            })
            .collect();
        let taken = map.chars().filter(|c| *c == 'X').count();
        json!({
            "name": self.name,
            "uuid": self.uuid,
            "network": self.network,
            "gateway": self.gateway,
            "network6": self.network6,
            "gateway6": self.gateway6,
            "mac_prefix": self.mac_prefix,
            "tags": self.tags,
            "map": map,
            "free_count": size as usize - taken,
            "reserved_count": self.reserved.len(),
            "external_reservations": self.reserved.iter().cloned().collect::<Vec<_>>().join(", "),
            "group_list": self.groups.iter().map(|(g, m, l, v)| json!([g, m, l, v])).collect::<Vec<_>>(),
            "inst_list": instances,
            "ctime": self.ctime,
            "mtime": self.mtime,
            "serial_no": self.serial_no,
        })
    }
}

impl Cluster {
    /// Addresses of a network used by instance NICs.
    pub fn used_ips(&self, network: &str) -> BTreeSet<String> {
        self.instances
            .values()
            .flat_map(|i| i.nics.iter())
            .filter(|n| n.network.as_deref() == Some(network))
            .filter_map(|n| n.ip.clone())
            .collect()
    }

    pub fn render_network(&self, n: &Network) -> Value {
        let instances = self
            .instances
            .values()
            .filter(|i| {
                i.nics
                    .iter()
                    .any(|nic| nic.network.as_deref() == Some(n.name.as_str()))
            })
            .map(|i| i.name.clone())
            .collect();
        n.render(&self.used_ips(&n.name), instances)
    }

    /// Checks that `ip` may be given to a new NIC on `network`.
    pub fn check_nic_ip(
        &self,
        network: &str,
        ip: &str,
    ) -> Result<(), (&'static str, String, Option<&'static str>)> {
        let n = self.networks.get(network).ok_or_else(|| {
            (
                "OpPrereqError",
                format!("Network '{network}' not found"),
                Some("unknown_entity"),
            )
        })?;
        if !n.contains(ip) || n.reserved.contains(ip) || self.used_ips(network).contains(ip) {
            return Err((
                "OpPrereqError",
                format!("IP address {ip} already in use or does not belong to network {network}"),
                Some("resource_not_unique"),
            ));
        }
        Ok(())
    }

    pub fn network_add(&mut self, op: &Value) -> OpResult {
        let name = op["network_name"].as_str().unwrap_or("").to_string();
        if self.networks.contains_key(&name) {
            return error(
                "OpPrereqError",
                format!("Network '{name}' already exists"),
                Some("already_exists"),
            );
        }
        let cidr = op["network"].as_str().unwrap_or("");
        let Some((base, len)) = parse_cidr(cidr) else {
            return error(
                "OpPrereqError",
                format!("Invalid network '{cidr}'"),
                Some("wrong_input"),
            );
        };
        let size = 1u32 << (32 - len);
        let mut reserved: BTreeSet<String> = [u32_to_ip(base), u32_to_ip(base + size - 1)].into();
        let gateway = op["gateway"].as_str().map(str::to_string);
        if let Some(g) = &gateway {
            reserved.insert(g.clone());
        }
        for ip in op["add_reserved_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if reserved.contains(ip) {
                return error(
                    "OpExecError",
                    format!(
                        "Cannot reserve IP address '{ip}': IP {ip} is already externally reserved"
                    ),
                    None,
                );
            }
            reserved.insert(ip.to_string());
        }
        let t = now();
        let network = Network {
            name: name.clone(),
            uuid: uuid::Uuid::new_v4().to_string(),
            network: format!("{}/{len}", u32_to_ip(base)),
            gateway,
            network6: op["network6"].as_str().map(str::to_string),
            gateway6: op["gateway6"].as_str().map(str::to_string),
            mac_prefix: op["mac_prefix"].as_str().map(str::to_string),
            tags: op["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            reserved,
            groups: Vec::new(),
            ctime: t,
            mtime: t,
            serial_no: 1,
        };
        self.networks.insert(name, network);
        Ok((Value::Null, vec![]))
    }

    pub fn network_connect(&mut self, op: &Value) -> OpResult {
        let name = op["network_name"].as_str().unwrap_or("").to_string();
        let group = op["group_name"].as_str().unwrap_or("default").to_string();
        if group != "default" {
            return error(
                "OpPrereqError",
                format!("Group '{group}' not found"),
                Some("unknown_entity"),
            );
        }
        let Some(n) = self.networks.get_mut(&name) else {
            return error(
                "OpPrereqError",
                format!("Network '{name}' not found"),
                Some("unknown_entity"),
            );
        };
        if n.groups.iter().any(|(g, ..)| *g == group) {
            return Ok((
                Value::Null,
                vec![format!(
                    " - WARNING: Network '{name}' is already mapped to group '{group}'"
                )],
            ));
        }
        n.groups.push((
            group,
            op["network_mode"].as_str().unwrap_or("bridged").to_string(),
            op["network_link"].as_str().unwrap_or("br0").to_string(),
            op["network_vlan"].as_str().unwrap_or("").to_string(),
        ));
        n.serial_no += 1;
        n.mtime = now();
        Ok((Value::Null, vec![]))
    }

    pub fn network_disconnect(&mut self, op: &Value) -> OpResult {
        let name = op["network_name"].as_str().unwrap_or("").to_string();
        let group = op["group_name"].as_str().unwrap_or("default").to_string();
        let in_use = !self.used_ips(&name).is_empty()
            || self.instances.values().any(|i| {
                i.nics
                    .iter()
                    .any(|nic| nic.network.as_deref() == Some(name.as_str()))
            });
        let Some(n) = self.networks.get_mut(&name) else {
            return error(
                "OpPrereqError",
                format!("Network '{name}' not found"),
                Some("unknown_entity"),
            );
        };
        if in_use {
            return error(
                "OpPrereqError",
                format!("Network '{name}' is in use by instances"),
                Some("wrong_state"),
            );
        }
        let before = n.groups.len();
        n.groups.retain(|(g, ..)| *g != group);
        if n.groups.len() == before {
            return Ok((
                Value::Null,
                vec![format!(
                    " - WARNING: Network '{name}' is not mapped to group '{group}'"
                )],
            ));
        }
        n.serial_no += 1;
        Ok((Value::Null, vec![]))
    }

    pub fn network_remove(&mut self, op: &Value) -> OpResult {
        let name = op["network_name"].as_str().unwrap_or("").to_string();
        let Some(n) = self.networks.get(&name) else {
            return error(
                "OpPrereqError",
                format!("Network '{name}' not found"),
                Some("unknown_entity"),
            );
        };
        if !n.groups.is_empty() {
            return error(
                "OpPrereqError",
                format!("Network '{name}' is connected to node groups"),
                Some("wrong_state"),
            );
        }
        self.networks.remove(&name);
        Ok((Value::Null, vec![]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_arithmetic() {
        assert_eq!(
            parse_cidr("10.0.0.7/24"),
            Some((ip_to_u32("10.0.0.0").unwrap_or(0), 24))
        );
        assert_eq!(
            u32_to_ip(ip_to_u32("192.168.1.254").unwrap_or(0)),
            "192.168.1.254"
        );
        assert!(parse_cidr("10.0.0.0/33").is_none());
        assert!(parse_cidr("10.0.0/24").is_none());
    }
}
