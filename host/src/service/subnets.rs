//! Subnets (spec §3.2): created by the network's owner (or an operator) before the network
//! reaches any backend, at most one per IP version, IPv4 between /22 and /29 with pools,
//! IPv6 exactly /64; rename only; never deleted on their own (they die with their network).
//!
//! Address rules live in `crate::ipam`; the subnet is stored inside its network's record.

use std::net::Ipv4Addr;

use super::networks::parse_id;
use super::{Credentials, ServiceError, Services};
use crate::clock::Timestamp;
use crate::ipam::{self, IpamError};
use crate::store::{Batch, Deleted, Network, Subnet};

/// A subnet to create (`POST /subnets`, `subnet-create`).
#[derive(Clone, Debug, Default)]
pub struct NewSubnet {
    pub network_id: String,
    pub cidr: String,
    pub name: String,
    pub ip_version: u8,
    /// `None`: the first host address; `Some(None)`: no gateway.
    pub gateway: Option<Option<String>>,
    pub dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<serde_json::Value>,
    pub allocation_pools: Option<Vec<(String, String)>>,
}

impl From<IpamError> for ServiceError {
    fn from(e: IpamError) -> Self {
        match e {
            IpamError::Invalid(_) | IpamError::Outside { .. } => {
                ServiceError::BadRequest(e.to_string())
            }
            IpamError::UnsupportedSize => ServiceError::OverLimit(e.to_string()),
            IpamError::PoolConflict(_) | IpamError::Exhausted { .. } | IpamError::InUse(_) => {
                ServiceError::Conflict(e.to_string())
            }
        }
    }
}

fn parse_v4_addr(text: &str, what: &str) -> Result<Ipv4Addr, ServiceError> {
    text.parse()
        .map_err(|_| ServiceError::BadRequest(format!("Invalid {what} '{text}'")))
}

/// Builds a subnet record from a request, checking every rule that needs no other record.
pub fn build_subnet(id: u64, req: &NewSubnet) -> Result<Subnet, ServiceError> {
    let now = Timestamp::now();
    let mut subnet = Subnet {
        id,
        name: req.name.clone(),
        ip_version: req.ip_version,
        cidr: String::new(),
        gateway: None,
        dhcp: req.dhcp,
        dns_nameservers: req.dns_nameservers.clone(),
        host_routes: req.host_routes.clone(),
        pools: Vec::new(),
        used: Default::default(),
        reserved: Default::default(),
        created: now,
        updated: now,
    };
    if req.name.len() > 128 {
        return Err(ServiceError::BadRequest(
            "Subnet name must be at most 128 characters".into(),
        ));
    }
    match req.ip_version {
        4 => {
            let net = ipam::parse_v4(&req.cidr)?;
            let gateway = match &req.gateway {
                None => Some(ipam::first_host(net)),
                Some(None) => None,
                Some(Some(g)) => {
                    let g = parse_v4_addr(g, "gateway_ip")?;
                    if !net.contains(&g) || g == net.network() || g == net.broadcast() {
                        return Err(ServiceError::BadRequest(format!(
                            "Gateway {g} is not a host address of {net}"
                        )));
                    }
                    Some(g)
                }
            };
            let pools = match &req.allocation_pools {
                None => ipam::default_pools(net, gateway),
                Some(list) => {
                    let pools = list
                        .iter()
                        .map(|(s, e)| {
                            Ok((
                                parse_v4_addr(s, "allocation pool start")?,
                                parse_v4_addr(e, "allocation pool end")?,
                            ))
                        })
                        .collect::<Result<Vec<_>, ServiceError>>()?;
                    ipam::validate_pools(net, gateway, &pools)?;
                    pools
                }
            };
            subnet.cidr = net.to_string();
            subnet.gateway = gateway.map(|g| g.to_string());
            subnet.pools = pools;
        }
        6 => {
            let net = ipam::parse_v6(&req.cidr)?;
            if req.allocation_pools.is_some() {
                return Err(ServiceError::Conflict(
                    "Allocation pools are not supported on IPv6 subnets".into(),
                ));
            }
            subnet.gateway = match &req.gateway {
                None | Some(None) => None,
                Some(Some(g)) => {
                    let g: std::net::Ipv6Addr = g.parse().map_err(|_| {
                        ServiceError::BadRequest(format!("Invalid gateway_ip '{g}'"))
                    })?;
                    if !net.contains(&g) {
                        return Err(ServiceError::BadRequest(format!(
                            "Gateway {g} is not in {net}"
                        )));
                    }
                    Some(g.to_string())
                }
            };
            subnet.cidr = net.to_string();
        }
        v => {
            return Err(ServiceError::BadRequest(format!(
                "Invalid ip_version {v}: use 4 or 6"
            )));
        }
    }
    Ok(subnet)
}

/// An IPv4 subnet's address pool as `subnet-inspect` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SubnetPool {
    pub size: u64,
    pub used: usize,
    pub reserved: usize,
    pub free: u64,
    /// `ipam::pool_map` (`None` for subnets larger than a /16).
    pub map: Option<Vec<String>>,
}

/// The pool of an IPv4 subnet (`None` for IPv6: addresses there are EUI-64, no pool).
pub fn subnet_pool(s: &Subnet) -> Option<SubnetPool> {
    let net = crate::ipam::parse_v4(&s.cidr)
        .ok()
        .filter(|_| s.ip_version == 4)?;
    let size = crate::ipam::pool_size(&s.pools);
    let gateway = s.gateway.as_deref().and_then(|g| g.parse().ok());
    Some(SubnetPool {
        size,
        used: s.used.len(),
        reserved: s.reserved.len(),
        free: size.saturating_sub((s.used.len() + s.reserved.len()) as u64),
        map: crate::ipam::pool_map(net, &s.pools, &s.used, &s.reserved, gateway),
    })
}

impl Services {
    /// Subnets of the networks `caller` sees, with their network.
    pub fn subnets_for(
        &self,
        caller: &Credentials,
    ) -> Result<Vec<(Network, Subnet)>, ServiceError> {
        Ok(self
            .networks_for(caller)?
            .into_iter()
            .flat_map(|n| n.subnets.clone().into_iter().map(move |s| (n.clone(), s)))
            .collect())
    }

    /// Subnets changed at or after `since` on networks `caller` sees, with their network;
    /// those of deleted networks included (`changes-since`: a client learns they went).
    pub fn subnets_changed_since(
        &self,
        caller: &Credentials,
        since: Timestamp,
    ) -> Result<Vec<(Network, Subnet)>, ServiceError> {
        Ok(self
            .store()
            .network_list(Deleted::Include)?
            .into_iter()
            .filter(|n| super::networks::network_visible(caller, n))
            .flat_map(|n| {
                let gone = n.deleted && n.updated >= since;
                n.subnets
                    .clone()
                    .into_iter()
                    .filter(move |s| gone || s.updated >= since)
                    .map(move |s| (n.clone(), s))
            })
            .collect())
    }

    /// Every subnet with its network, for operators (`subnet-list`).
    pub fn subnet_list(&self) -> Result<Vec<(Network, Subnet)>, ServiceError> {
        Ok(self
            .store()
            .network_list(Deleted::Exclude)?
            .into_iter()
            .flat_map(|n| n.subnets.clone().into_iter().map(move |s| (n.clone(), s)))
            .collect())
    }

    /// Any subnet with its network, for operators (`subnet-show`, `subnet-inspect`).
    pub fn subnet_show(&self, id: &str) -> Result<(Network, Subnet), ServiceError> {
        let id = parse_id("subnet", id)?;
        self.store()
            .network_list(Deleted::Include)?
            .into_iter()
            .find_map(|n| {
                let s = n.subnets.iter().find(|s| s.id == id).cloned()?;
                Some((n, s))
            })
            .ok_or_else(|| ServiceError::ItemNotFound(format!("Subnet {id} not found.")))
    }

    /// One subnet `caller` sees, with its network.
    pub fn subnet_for(
        &self,
        caller: &Credentials,
        id: &str,
    ) -> Result<(Network, Subnet), ServiceError> {
        let id = parse_id("subnet", id)?;
        self.store()
            .network_list(Deleted::Include)?
            .into_iter()
            .filter(|n| super::networks::network_visible(caller, n) || caller.is_admin)
            .filter(|n| !n.deleted || caller.read_deleted)
            .find_map(|n| {
                let s = n.subnets.iter().find(|s| s.id == id).cloned()?;
                Some((n, s))
            })
            .ok_or_else(|| ServiceError::ItemNotFound(format!("Subnet {id} not found.")))
    }

    /// Creates a subnet on a network the caller owns (operators: any).
    pub fn subnet_create(
        &self,
        caller: &Credentials,
        req: &NewSubnet,
    ) -> Result<(Network, Subnet), ServiceError> {
        let n = self.network_for(caller, &req.network_id)?;
        if n.deleted {
            return Err(ServiceError::BadRequest(format!(
                "Network {} is deleted",
                n.id
            )));
        }
        if n.user_id.as_deref() != Some(caller.user_id.as_str()) && !caller.is_admin {
            return Err(ServiceError::Forbidden("Forbidden operation".into()));
        }
        if n.subnets.iter().any(|s| s.ip_version == req.ip_version) {
            return Err(ServiceError::BadRequest(format!(
                "Network {} already has an IPv{} subnet",
                n.id, req.ip_version
            )));
        }
        if n.on_any_backend() {
            return Err(ServiceError::BadRequest(format!(
                "Cannot add a subnet to network {}: VMs are already connected to it",
                n.id
            )));
        }
        let subnet = build_subnet(self.store().generate_id()?, req)?;
        let mut after = n.clone();
        after.subnets.push(subnet.clone());
        let mut batch = Batch::new();
        batch.update(&after);
        self.store().commit(&batch)?;
        Ok((self.store().network_get(n.id)?, subnet))
    }

    /// Renames a subnet (the only change allowed).
    pub fn subnet_rename(
        &self,
        caller: &Credentials,
        id: &str,
        name: &str,
    ) -> Result<(Network, Subnet), ServiceError> {
        let (n, s) = self.subnet_for(caller, id)?;
        if n.user_id.as_deref() != Some(caller.user_id.as_str()) && !caller.is_admin {
            return Err(ServiceError::Forbidden("Forbidden operation".into()));
        }
        if name.len() > 128 {
            return Err(ServiceError::BadRequest(
                "Subnet name must be at most 128 characters".into(),
            ));
        }
        let mut after = n.clone();
        for sub in &mut after.subnets {
            if sub.id == s.id {
                sub.name = name.to_string();
                sub.updated = Timestamp::now();
            }
        }
        let mut batch = Batch::new();
        batch.update(&after);
        self.store().commit(&batch)?;
        let n = self.store().network_get(n.id)?;
        let s = n
            .subnets
            .iter()
            .find(|x| x.id == s.id)
            .cloned()
            .ok_or_else(|| ServiceError::ItemNotFound(format!("Subnet {} not found.", s.id)))?;
        Ok((n, s))
    }

    /// Neutron's subnet deletion (OpenStack's endpoints; Synnefo's subnets die with their
    /// network): the owner's, on a network no Ganeti backend has yet (Ganeti holds the
    /// network's addresses), with no port on it (Neutron's 409 `SubnetInUse`). The removal is
    /// a compare-and-swap of the network record, so a port allocated meanwhile refuses it.
    pub fn subnet_delete(&self, caller: &Credentials, id: &str) -> Result<(), ServiceError> {
        let (n, s) = self.subnet_for(caller, id)?;
        if n.deleted {
            return Err(ServiceError::ItemNotFound(format!(
                "Subnet {id} not found."
            )));
        }
        if n.public || (n.user_id.as_deref() != Some(caller.user_id.as_str()) && !caller.is_admin) {
            return Err(ServiceError::Forbidden("Forbidden operation".into()));
        }
        let in_use = || {
            ServiceError::Conflict(format!(
                "Unable to complete operation on subnet {}: one or more ports have an IP allocation from this subnet.",
                s.id
            ))
        };
        if !s.used.is_empty() || n.on_any_backend() || self.network_has_ports(n.id)? {
            return Err(in_use());
        }
        let mut after = n.clone();
        after.subnets.retain(|x| x.id != s.id);
        after.updated = Timestamp::now();
        let mut batch = Batch::new();
        batch.update(&after);
        self.store().commit(&batch)?;
        Ok(())
    }
}
