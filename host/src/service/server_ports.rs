//! NICs of existing servers (spec §2.4 `addFloatingIp` / `removeFloatingIp` /
//! `firewallProfile`, §3.3 ports with a `device_id`, Synnefo's `connect_port` /
//! `disconnect_port`): checks the request, plans the NIC, and submits `server.connect`,
//! `server.disconnect` or `server.firewall` under the server's task lock (the state rules of
//! §9.2 live in `submit_server_job`). The jobs take the addresses and talk to Ganeti.

use std::net::Ipv4Addr;

use super::ports::{MAX_PORTS_PER_SERVER, NewPort, Rules};
use super::{Credentials, ServiceError, Services};
use crate::jobs::{
    FIREWALL_PROFILES, NicPlan, SERVER_CONNECT, SERVER_DISCONNECT, SERVER_FIREWALL, ServerNicParams,
};
use crate::store::{FloatingIp, Port, Server};

fn parse_address(address: &str) -> Result<Ipv4Addr, ServiceError> {
    address
        .parse()
        .map_err(|_| ServiceError::BadRequest(format!("Invalid IPv4 address '{address}'")))
}

impl Services {
    /// Whether Ganeti is asked to hot-plug NIC changes of `s`: kvm backends with
    /// `[backends] use_hotplug` (Synnefo's `Backend.use_hotplug`).
    pub(super) fn hotplug_for(&self, s: &Server) -> Result<bool, ServiceError> {
        let Some(backend) = s.backend_id else {
            return Ok(false);
        };
        Ok(self.config().backends.use_hotplug
            && self.store().backend_get(backend)?.hypervisor == "kvm")
    }

    /// One of the caller's floating IPs, by address (404 if none).
    fn floating_ip_by_address(
        &self,
        caller: &Credentials,
        address: &str,
    ) -> Result<FloatingIp, ServiceError> {
        let address = parse_address(address)?;
        self.floating_ips_for(caller)?
            .into_iter()
            .find(|f| f.address == address)
            .ok_or_else(|| ServiceError::ItemNotFound("Floating IP does not exist.".into()))
    }

    /// Submits `server.connect` for `plan`; returns once the port holds its address.
    async fn connect_nic(
        &self,
        caller: &Credentials,
        server: Server,
        plan: NicPlan,
    ) -> Result<u64, ServiceError> {
        if self.store().ports_of_server(server.id)?.len() >= MAX_PORTS_PER_SERVER {
            return Err(ServiceError::BadRequest(
                "Maximum ports per server limit reached".into(),
            ));
        }
        let params = ServerNicParams {
            server_id: server.id,
            action: "CONNECT".into(),
            port_id: plan.port_id,
            plan: Some(plan),
            hotplug: self.hotplug_for(&server)?,
            profile: None,
        };
        self.submit_server_job(caller, server, "CONNECT", &SERVER_CONNECT, params)
            .await
    }

    /// Submits `server.disconnect` for port `port_id` of `server`: the port goes once Ganeti
    /// has dropped the NIC.
    async fn disconnect_nic(
        &self,
        caller: &Credentials,
        server: Server,
        port_id: u64,
    ) -> Result<u64, ServiceError> {
        let params = ServerNicParams {
            server_id: server.id,
            action: "DISCONNECT".into(),
            port_id,
            plan: None,
            hotplug: self.hotplug_for(&server)?,
            profile: None,
        };
        self.submit_server_job(caller, server, "DISCONNECT", &SERVER_DISCONNECT, params)
            .await
    }

    /// `addFloatingIp`: a new port on the floating IP's network holding that address.
    pub async fn server_add_floating_ip(
        &self,
        caller: &Credentials,
        id: &str,
        address: &str,
    ) -> Result<u64, ServiceError> {
        self.attach_floating_ip(caller, id, address, None).await
    }

    /// `addFloatingIp`, remembering the port a Neutron client associated the address with.
    async fn attach_floating_ip(
        &self,
        caller: &Credentials,
        id: &str,
        address: &str,
        nat_port_id: Option<u64>,
    ) -> Result<u64, ServiceError> {
        let server = self.server_for_change(caller, id)?;
        let fip = self.floating_ip_by_address(caller, address)?;
        if fip.port_id.is_some() {
            return Err(ServiceError::Conflict(format!(
                "Floating IP address '{}' already in use",
                fip.address
            )));
        }
        let n = self.store().network_get(fip.network_id)?;
        if n.deleted || n.action.as_deref() == Some("DESTROY") {
            return Err(ServiceError::Conflict(format!(
                "Cannot create port. Network {} is being deleted.",
                n.id
            )));
        }
        let plan = NicPlan {
            port_id: self.store().generate_id()?,
            existing: false,
            network_id: fip.network_id,
            address: None,
            floating_ip_id: Some(fip.id),
            name: String::new(),
            nat_port_id,
        };
        self.connect_nic(caller, server, plan).await
    }

    /// `removeFloatingIp`: removes the port holding that floating IP (the IP stays the
    /// owner's).
    pub async fn server_remove_floating_ip(
        &self,
        caller: &Credentials,
        id: &str,
        address: &str,
    ) -> Result<u64, ServiceError> {
        let server = self.server_for_change(caller, id)?;
        let fip = self.floating_ip_by_address(caller, address)?;
        let port_id = match (fip.port_id, fip.server_id) {
            (Some(port), Some(s)) if s == server.id => port,
            _ => {
                return Err(ServiceError::BadRequest(format!(
                    "Floating IP {} not attached to instance",
                    fip.address
                )));
            }
        };
        self.disconnect_nic(caller, server, port_id).await
    }

    /// Neutron's floating-IP association (`PUT /floatingips/<id>` with `port_id`). Neutron
    /// NATs the floating IP to that port's fixed address; Synnefo has no NAT: a floating IP is
    /// an address on the public network. So associating with a port of server S gives S a NIC
    /// on the public network holding the floating IP (`addFloatingIp`), and `null` removes that
    /// NIC (`removeFloatingIp`). The floating IP's `port_id` is then that NIC's port, and its
    /// `nat_port_id` the port the client named (what OpenStack's endpoints show).
    pub async fn floating_ip_associate(
        &self,
        caller: &Credentials,
        id: &str,
        port: Option<&str>,
        fixed_address: Option<&str>,
    ) -> Result<FloatingIp, ServiceError> {
        let f = self.floating_ip_for(caller, id)?;
        let address = f.address.to_string();
        match port {
            None => {
                if let Some(server) = f.server_id.filter(|_| f.port_id.is_some()) {
                    self.server_remove_floating_ip(caller, &server.to_string(), &address)
                        .await?;
                }
            }
            Some(p) => {
                let (port, server) = self.nat_target(caller, p, fixed_address)?;
                match f.server_id {
                    Some(s) if s == server => {}
                    Some(s) => {
                        return Err(ServiceError::Conflict(format!(
                            "Floating IP {address} is in use by server {s}"
                        )));
                    }
                    None => {
                        self.attach_floating_ip(
                            caller,
                            &server.to_string(),
                            &address,
                            Some(port.id),
                        )
                        .await?;
                    }
                }
            }
        }
        Ok(self.store().floating_ip_get(f.id)?)
    }

    /// `POST /floatingips` with a `port_id`: allocates and associates at once, all or nothing
    /// (the port and its server are checked first; a refused association releases the IP).
    pub async fn floating_ip_create_associated(
        &self,
        caller: &Credentials,
        req: &super::floating_ips::NewFloatingIp,
        port: &str,
        fixed_address: Option<&str>,
    ) -> Result<FloatingIp, ServiceError> {
        let (_, server) = self.nat_target(caller, port, fixed_address)?;
        self.server_for_change(caller, &server.to_string())?;
        let f = self.floating_ip_create(caller, req)?;
        let id = f.id.to_string();
        match self
            .floating_ip_associate(caller, &id, Some(port), fixed_address)
            .await
        {
            Ok(f) => Ok(f),
            Err(e) => {
                if let Err(release) = self.floating_ip_delete(caller, &id) {
                    tracing::warn!(floating_ip = f.id, error = %release,
                        "could not release a floating IP whose association was refused");
                }
                Err(e)
            }
        }
    }

    /// The port a floating IP is to be associated with, and its server: a port the caller
    /// sees, attached to a server, holding `fixed_address` if one is named.
    fn nat_target(
        &self,
        caller: &Credentials,
        port: &str,
        fixed_address: Option<&str>,
    ) -> Result<(Port, u64), ServiceError> {
        let port = self.port_for(caller, port)?;
        let server = port.device_id.ok_or_else(|| {
            ServiceError::BadRequest(format!("Port {} is not attached to a server", port.id))
        })?;
        if let Some(a) = fixed_address {
            let held = self
                .port_addresses(&port)
                .iter()
                .any(|(_, ip)| ip.to_string() == a);
            if !held {
                return Err(ServiceError::BadRequest(format!(
                    "Port {} does not have fixed ip {a}",
                    port.id
                )));
            }
        }
        Ok((port, server))
    }

    /// `POST /ports` with a `device_id`: a new port attached to that server (status BUILD
    /// until Ganeti has the NIC). On a public network the address must be one of the caller's
    /// floating IPs (operators may take any address).
    pub async fn port_create_attached(
        &self,
        caller: &Credentials,
        req: &NewPort,
        device_id: &str,
    ) -> Result<Port, ServiceError> {
        if req.name.len() > 128 {
            return Err(ServiceError::BadRequest(
                "Port name must be at most 128 characters".into(),
            ));
        }
        let server = self.server_for_change(caller, device_id)?;
        let n = self.network_for(caller, &req.network_id)?;
        if n.public && !caller.is_admin && req.fixed_ip.is_none() {
            return Err(ServiceError::BadRequest(
                "'fixed_ips' attribute must contain a floating IP address in order to connect to a public network.".into(),
            ));
        }
        let mut plan =
            self.plan_on(caller, &n, req.fixed_ip.clone().map(Some), Rules::User, &[])?;
        plan.name = req.name.clone();
        let port_id = plan.port_id;
        self.connect_nic(caller, server, plan).await?;
        Ok(self.store().port_get(port_id)?)
    }

    /// `DELETE /ports/<id>` of a port attached to a server: `server.disconnect`.
    pub(super) async fn port_detach(
        &self,
        caller: &Credentials,
        port: &Port,
        server_id: u64,
    ) -> Result<u64, ServiceError> {
        let server = self.store().server_get(server_id)?;
        self.disconnect_nic(caller, server, port.id).await
    }

    /// `firewallProfile`: sets the profile of one of the server's NICs (`nic` is its port id).
    pub async fn server_firewall_profile(
        &self,
        caller: &Credentials,
        id: &str,
        profile: &str,
        nic: &str,
    ) -> Result<u64, ServiceError> {
        let server = self.server_for_change(caller, id)?;
        let nic_id: u64 = nic
            .parse()
            .map_err(|_| ServiceError::BadRequest(format!("Invalid NIC ID '{nic}'")))?;
        if !self
            .store()
            .ports_of_server(server.id)?
            .iter()
            .any(|p| p.id == nic_id)
        {
            return Err(ServiceError::ItemNotFound(format!(
                "NIC '{nic_id}' not found"
            )));
        }
        if !FIREWALL_PROFILES.iter().any(|(p, _)| *p == profile) {
            return Err(ServiceError::BadRequest(format!(
                "Unsupported firewall profile '{profile}': use ENABLED, DISABLED or PROTECTED"
            )));
        }
        let params = ServerNicParams {
            server_id: server.id,
            action: "SET_FIREWALL_PROFILE".into(),
            port_id: nic_id,
            plan: None,
            hotplug: false,
            profile: Some(profile.to_string()),
        };
        self.submit_server_job(
            caller,
            server,
            "SET_FIREWALL_PROFILE",
            &SERVER_FIREWALL,
            params,
        )
        .await
    }
}
