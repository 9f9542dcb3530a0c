//! Ports (spec §3.3, §15.6): unattached ports users create and delete, and the NIC plan of a
//! new server: forced networks, then the request's `networks` (or the default networks), with
//! the floating-IP rule for public networks and the limit of 8 NICs.
//!
//! Planning checks access and picks floating IPs; the `server.create` job takes the addresses
//! (`jobs::NicPlan`), so a plan that raced another request fails there with a 409, never twice.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::networks::{network_visible, parse_id};
use super::{Credentials, ServiceError, Services};
use crate::clock::Timestamp;
use crate::jobs::NicPlan;
use crate::store::{Batch, Deleted, FloatingIp, Network, Port};

/// Synnefo's `MAX_NICS_PER_SERVER`... the API's "Maximum ports per server limit reached".
pub const MAX_PORTS_PER_SERVER: usize = 8;

/// One item of a create request's `networks`.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestedNic {
    /// `{"uuid": N, "fixed_ip"?: A}`; `fixed_ip` is `None` when absent, `Some(None)` when null.
    Network {
        uuid: String,
        fixed_ip: Option<Option<String>>,
    },
    /// `{"port": P}`: an existing unattached port.
    Port(String),
}

/// A port to create (`POST /ports`).
#[derive(Clone, Debug, Default)]
pub struct NewPort {
    pub network_id: String,
    pub name: String,
    pub fixed_ip: Option<String>,
}

/// Whether `p` is `caller`'s own.
fn own_port(caller: &Credentials, p: &Port) -> bool {
    p.user_id == caller.user_id
}

pub(super) fn usable(n: &Network) -> Result<(), ServiceError> {
    if n.deleted || n.action.as_deref() == Some("DESTROY") {
        return Err(ServiceError::Conflict(format!(
            "Network {} is being deleted",
            n.id
        )));
    }
    if n.state != "ACTIVE" {
        return Err(ServiceError::Conflict(format!(
            "Network {} is not active",
            n.id
        )));
    }
    if n.drained {
        return Err(ServiceError::Conflict(format!(
            "Network {} is in 'SNF:DRAINED' status",
            n.id
        )));
    }
    Ok(())
}

/// How a plan is being made: forced networks skip access control and floating IPs.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Rules {
    Forced,
    User,
}

impl Services {
    /// Ports `caller` owns.
    pub fn ports_for(&self, caller: &Credentials) -> Result<Vec<Port>, ServiceError> {
        let mut all = self.store().port_list()?;
        let servers: BTreeSet<u64> = self
            .store()
            .server_list(Deleted::Exclude)?
            .iter()
            .filter(|s| super::servers::visible(caller, s))
            .map(|s| s.id)
            .collect();
        let private_networks: BTreeSet<u64> = self
            .store()
            .network_list(Deleted::Exclude)?
            .iter()
            .filter(|n| !n.public && network_visible(caller, n))
            .map(|n| n.id)
            .collect();
        let floating_ips: BTreeSet<u64> = self
            .floating_ips_for(caller)?
            .iter()
            .map(|f| f.id)
            .collect();
        all.retain(|p| {
            own_port(caller, p)
                || p.device_id.is_some_and(|s| servers.contains(&s))
                || private_networks.contains(&p.network_id)
                || p.floating_ip_id.is_some_and(|f| floating_ips.contains(&f))
        });
        Ok(all)
    }

    /// Whether `caller` sees port `p` (spec §1 policy, checklist A10): their own, and the ports
    /// of servers, private networks and floating IPs they see.
    fn port_visible(&self, caller: &Credentials, p: &Port) -> bool {
        if caller.is_admin || own_port(caller, p) {
            return true;
        }
        let store = self.store();
        p.device_id
            .and_then(|s| store.server_get(s).ok())
            .is_some_and(|s| !s.deleted && super::servers::visible(caller, &s))
            || store
                .network_get(p.network_id)
                .is_ok_and(|n| !n.deleted && !n.public && network_visible(caller, &n))
            || p.floating_ip_id
                .and_then(|f| store.floating_ip_get(f).ok())
                .is_some_and(|f| {
                    !f.deleted && caller.can_see(&f.user_id, &f.project_id, f.shared_to_project)
                })
    }

    /// Every port (operators).
    pub fn port_list(&self) -> Result<Vec<Port>, ServiceError> {
        Ok(self.store().port_list()?)
    }

    /// A port's IPv6 address: EUI-64 of its MAC in its network's IPv6 subnet, once Ganeti has
    /// reported the MAC.
    pub fn port_ipv6(&self, p: &Port) -> Option<(u64, Ipv6Addr)> {
        let mac = p.mac.as_deref()?;
        self.store()
            .network_get(p.network_id)
            .ok()?
            .ipv6_of_mac(mac)
    }

    /// A port's `(subnet id, address)` pairs, IPv4 first: what `fixed_ips` lists.
    pub fn port_addresses(&self, p: &Port) -> Vec<(u64, IpAddr)> {
        let v4 = p.ipv4.map(|(s, a)| (s, IpAddr::V4(a)));
        let v6 = self.port_ipv6(p).map(|(s, a)| (s, IpAddr::V6(a)));
        v4.into_iter().chain(v6).collect()
    }

    /// A NIC's firewall profile as shown: its own, else on public networks
    /// `[network] default_firewall_profile` (spec §15.8), else none.
    pub fn port_firewall_profile(&self, p: &Port) -> Option<String> {
        if p.firewall_profile.is_some() {
            return p.firewall_profile.clone();
        }
        let public = self
            .store()
            .network_get(p.network_id)
            .is_ok_and(|n| n.public);
        public.then(|| self.config().network.default_firewall_profile.clone())
    }

    /// The ports of a server, in NIC order (for its `addresses` and `attachments`).
    pub fn ports_of_server(&self, server_id: u64) -> Result<Vec<Port>, ServiceError> {
        Ok(self.store().ports_of_server(server_id)?)
    }

    /// Any port, for operators.
    pub fn port_show(&self, id: &str) -> Result<Port, ServiceError> {
        let id = parse_id("port", id)?;
        match self.store().port_get(id) {
            Err(crate::store::StoreError::NotFound { .. }) => {
                Err(ServiceError::ItemNotFound(format!("Port {id} not found.")))
            }
            other => Ok(other?),
        }
    }

    pub fn port_for(&self, caller: &Credentials, id: &str) -> Result<Port, ServiceError> {
        let id = parse_id("port", id)?;
        match self.store().port_get(id) {
            Ok(p) if self.port_visible(caller, &p) => Ok(p),
            _ => Err(ServiceError::ItemNotFound(format!("Port {id} not found."))),
        }
    }

    /// Creates an unattached port (status DOWN). On a public network its address must be one
    /// of the caller's free floating IPs there; operators may take any address.
    pub fn port_create(&self, caller: &Credentials, req: &NewPort) -> Result<Port, ServiceError> {
        if req.name.len() > 128 {
            return Err(ServiceError::BadRequest(
                "Port name must be at most 128 characters".into(),
            ));
        }
        let n = self.network_for(caller, &req.network_id)?;
        usable(&n)?;
        let requested = match &req.fixed_ip {
            None => None,
            Some(a) => Some(
                a.parse::<Ipv4Addr>()
                    .map_err(|_| ServiceError::BadRequest(format!("Invalid IPv4 address '{a}'")))?,
            ),
        };
        let id = self.store().generate_id()?;
        let mut batch = Batch::new();
        let mut network = n.clone();
        let (ipv4, floating_ip_id) = if n.public && !caller.is_admin {
            let Some(address) = requested else {
                return Err(ServiceError::BadRequest(
                    "A port on a public network needs one of your floating IPs as fixed IP".into(),
                ));
            };
            let fip = self.free_floating_ip(caller, n.id, Some(address))?;
            let mut after = fip.clone();
            after.port_id = Some(id);
            batch.update(&after);
            (Some((fip.subnet_id, fip.address)), Some(fip.id))
        } else {
            (network.allocate_v4(requested)?, None)
        };
        if network != n {
            batch.update(&network);
        }
        let now = Timestamp::now();
        let port = Port {
            id,
            name: req.name.clone(),
            network_id: n.id,
            user_id: caller.user_id.clone(),
            project_id: n
                .project_id
                .clone()
                .or_else(|| caller.project_id.clone())
                .unwrap_or_default(),
            device_id: None,
            mac: None,
            ipv4,
            floating_ip_id,
            status: "DOWN".into(),
            firewall_profile: None,
            security_groups: Vec::new(),
            created: now,
            updated: now,
            generation: 1,
        };
        batch.insert(&port);
        self.store().commit(&batch)?;
        Ok(self.store().port_get(id)?)
    }

    /// Renames a port.
    pub fn port_rename(
        &self,
        caller: &Credentials,
        id: &str,
        name: &str,
    ) -> Result<Port, ServiceError> {
        let p = self.port_for(caller, id)?;
        if name.len() > 128 {
            return Err(ServiceError::BadRequest(
                "Port name must be at most 128 characters".into(),
            ));
        }
        let mut after = p.clone();
        after.name = name.to_string();
        let mut batch = Batch::new();
        batch.update(&after);
        self.store().commit(&batch)?;
        Ok(self.store().port_get(p.id)?)
    }

    /// Deletes a port. An unattached one goes at once, returning its address (a floating IP
    /// stays its owner's); one attached to a server goes through `server.disconnect` once
    /// Ganeti has dropped the NIC.
    pub async fn port_delete(&self, caller: &Credentials, id: &str) -> Result<(), ServiceError> {
        let p = self.port_for(caller, id)?;
        if let Some(server) = p.device_id {
            // The server must be changeable (not suspended) before anything else is decided.
            self.server_for_change(caller, &server.to_string())?;
        }
        let n = self.store().network_get(p.network_id)?;
        if n.public && p.floating_ip_id.is_none() && !caller.is_admin {
            return Err(ServiceError::Forbidden(
                "Cannot disconnect from public network.".into(),
            ));
        }
        if let Some(server) = p.device_id {
            self.port_detach(caller, &p, server).await?;
            return Ok(());
        }
        let mut batch = Batch::new();
        match p.floating_ip_id {
            Some(fid) => {
                let fip = self.store().floating_ip_get(fid)?;
                let mut after = fip.clone();
                after.port_id = None;
                after.server_id = None;
                after.nat_port_id = None;
                batch.update(&after);
            }
            None => {
                if let Some((_, address)) = p.ipv4 {
                    let mut after = n.clone();
                    after.release_v4(address);
                    batch.update(&after);
                }
            }
        }
        batch.remove(&p);
        self.store().commit(&batch)?;
        Ok(())
    }

    /// One of `caller`'s floating IPs on `network_id` that no port uses (`address`, if given,
    /// must be that IP).
    fn free_floating_ip(
        &self,
        caller: &Credentials,
        network_id: u64,
        address: Option<Ipv4Addr>,
    ) -> Result<FloatingIp, ServiceError> {
        let mine: Vec<FloatingIp> = self
            .floating_ips_for(caller)?
            .into_iter()
            .filter(|f| f.network_id == network_id)
            .collect();
        match address {
            Some(a) => {
                let f = mine.into_iter().find(|f| f.address == a).ok_or_else(|| {
                    ServiceError::ItemNotFound("Floating IP does not exist.".into())
                })?;
                if f.port_id.is_some() {
                    return Err(ServiceError::Conflict(format!(
                        "IP address {a} is already used."
                    )));
                }
                Ok(f)
            }
            None => mine.into_iter().find(|f| f.port_id.is_none()).ok_or_else(|| {
                ServiceError::Conflict(format!(
                    "Cannot find an unused floating IP on network {network_id}. Please create a floating IP."
                ))
            }),
        }
    }

    /// The NIC plan of a new server (spec §15.6): forced networks, then `requested` (or the
    /// default networks when the request has no `networks`).
    pub fn plan_server_nics(
        &self,
        caller: &Credentials,
        requested: Option<&[RequestedNic]>,
    ) -> Result<Vec<NicPlan>, ServiceError> {
        let mut plans: Vec<NicPlan> = Vec::new();
        let config = &self.config().network;
        for entry in &config.forced_server_networks {
            let plan = self
                .plan_choice(caller, entry, Rules::Forced, &plans)
                .map_err(|e| {
                    ServiceError::ServiceUnavailable(format!(
                        "Cannot connect the server to forced network '{entry}': {e}"
                    ))
                })?;
            plans.push(plan);
        }
        match requested {
            None => {
                for entry in &config.default_server_networks {
                    let plan = self
                        .plan_choice(caller, entry, Rules::User, &plans)
                        .map_err(|e| {
                            ServiceError::Conflict(format!(
                                "Cannot connect the server to default network '{entry}': {e}"
                            ))
                        })?;
                    plans.push(plan);
                }
            }
            Some(items) => {
                for item in items {
                    let plan = match item {
                        RequestedNic::Port(id) => {
                            let p = self.port_for(caller, id)?;
                            if p.device_id.is_some() {
                                return Err(ServiceError::Conflict(format!(
                                    "Port {} is already in use",
                                    p.id
                                )));
                            }
                            if plans.iter().any(|x| x.port_id == p.id) {
                                return Err(ServiceError::BadRequest(format!(
                                    "Port {} is requested twice",
                                    p.id
                                )));
                            }
                            usable(&self.store().network_get(p.network_id)?)?;
                            NicPlan {
                                port_id: p.id,
                                existing: true,
                                network_id: p.network_id,
                                address: None,
                                floating_ip_id: None,
                                name: String::new(),
                                nat_port_id: None,
                            }
                        }
                        RequestedNic::Network { uuid, fixed_ip } => {
                            let n = self.network_for(caller, uuid)?;
                            self.plan_on(caller, &n, fixed_ip.clone(), Rules::User, &plans)?
                        }
                    };
                    plans.push(plan);
                }
            }
        }
        if plans.len() > MAX_PORTS_PER_SERVER {
            return Err(ServiceError::BadRequest(
                "Maximum ports per server limit reached".into(),
            ));
        }
        Ok(plans)
    }

    /// The first choice of a `|`-separated configuration entry that can be planned.
    fn plan_choice(
        &self,
        caller: &Credentials,
        entry: &str,
        rules: Rules,
        planned: &[NicPlan],
    ) -> Result<NicPlan, ServiceError> {
        let mut last = ServiceError::Conflict(format!("no network matches '{entry}'"));
        for choice in entry.split('|') {
            let networks: Vec<Network> = match choice {
                "SNF:ANY_PUBLIC_IPV4" | "SNF:ANY_PUBLIC_IPV6" | "SNF:ANY_PUBLIC" => self
                    .store()
                    .network_list(Deleted::Exclude)?
                    .into_iter()
                    .filter(|n| n.public && !n.drained)
                    .filter(|n| match choice {
                        "SNF:ANY_PUBLIC_IPV4" => n.subnet_v4().is_some(),
                        "SNF:ANY_PUBLIC_IPV6" => n.subnet_v4().is_none() && n.subnet_v6().is_some(),
                        _ => true,
                    })
                    .collect(),
                id => match self.store().network_get(parse_id("network", id)?) {
                    Ok(n) => vec![n],
                    Err(_) => Vec::new(),
                },
            };
            for n in networks {
                match self.plan_on(caller, &n, None, rules, planned) {
                    Ok(plan) => return Ok(plan),
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }

    /// A NIC on network `n`: on public IPv4 networks, users need a free floating IP.
    pub(super) fn plan_on(
        &self,
        caller: &Credentials,
        n: &Network,
        fixed_ip: Option<Option<String>>,
        rules: Rules,
        planned: &[NicPlan],
    ) -> Result<NicPlan, ServiceError> {
        if rules == Rules::User && !network_visible(caller, n) {
            return Err(ServiceError::ItemNotFound(format!(
                "Network {} not found.",
                n.id
            )));
        }
        usable(n)?;
        let address = match &fixed_ip {
            Some(None) if n.public => {
                return Err(ServiceError::BadRequest(
                    "'fixed_ip' must not be null on a public network".into(),
                ));
            }
            Some(Some(a)) => Some(
                a.parse::<Ipv4Addr>()
                    .map_err(|_| ServiceError::BadRequest(format!("Invalid fixed_ip '{a}'")))?,
            ),
            _ => None,
        };
        let mut plan = NicPlan {
            port_id: self.store().generate_id()?,
            existing: false,
            network_id: n.id,
            address,
            floating_ip_id: None,
            name: String::new(),
            nat_port_id: None,
        };
        if n.public && rules == Rules::User && !caller.is_admin {
            if n.subnet_v4().is_none() {
                return Err(ServiceError::Forbidden(format!(
                    "Cannot connect to IPv6-only public network {} directly",
                    n.id
                )));
            }
            let taken: Vec<u64> = planned.iter().filter_map(|p| p.floating_ip_id).collect();
            let mine: Vec<FloatingIp> = self
                .floating_ips_for(caller)?
                .into_iter()
                .filter(|f| f.network_id == n.id && f.port_id.is_none() && !taken.contains(&f.id))
                .collect();
            let fip = match address {
                Some(a) => mine.into_iter().find(|f| f.address == a).ok_or_else(|| {
                    ServiceError::BadRequest(format!(
                        "{a} is not one of your unused floating IPs on network {}",
                        n.id
                    ))
                })?,
                None => mine.into_iter().next().ok_or_else(|| {
                    ServiceError::Conflict(format!(
                        "Cannot find an unused floating IP on network {}. Please create a floating IP.",
                        n.id
                    ))
                })?,
            };
            plan.address = None;
            plan.floating_ip_id = Some(fip.id);
        } else if let Some(a) = address {
            let mut probe = n.clone();
            probe.allocate_v4(Some(a))?;
        }
        Ok(plan)
    }
}
