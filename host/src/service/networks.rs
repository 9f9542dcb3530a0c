//! Networks (spec §3.1, §15): private networks users create (lazy: no Ganeti job until a port
//! on them reaches a backend), public networks operators create (on every online backend at
//! once), visibility, rename, reassign, delete, and the operator's `network-modify`.
//!
//! Parameters come from the network flavor plugin, pooled values from `network_pools`, quota
//! from the commission protocol (`cyclades.network.private`, charged at once as Synnefo's DB-only
//! actions are). Ganeti work is the `network.*` jobs'; this module only submits them.

use std::collections::BTreeMap;

use super::network_pools::{BRIDGE, MAC_PREFIX};
use super::{Credentials, ServiceError, Services};
use crate::clock::Timestamp;
use crate::jobs::{NETWORK_DESTROY, NETWORK_ENSURE, NetworkJobParams};
use crate::plugins::NetworkRequest;
use crate::store::{Batch, Deleted, Network, NewCommission};

pub const FLAVORS: &[&str] = &["CUSTOM", "IP_LESS_ROUTED", "MAC_FILTERED", "PHYSICAL_VLAN"];
const PRIVATE_QUOTA: &str = "cyclades.network.private";

/// A network to create. Users set `name`, `flavor`, `project`, `shared_to_project`; the rest
/// are operators' (`network-create`).
#[derive(Clone, Debug, Default)]
pub struct NewNetwork {
    pub name: String,
    pub flavor: String,
    pub project: Option<String>,
    pub shared_to_project: bool,
    pub public: bool,
    pub floating_ip_pool: bool,
    pub drained: bool,
    pub mode: Option<String>,
    pub link: Option<String>,
    pub mac_prefix: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// The operator's `network-modify`.
#[derive(Clone, Debug, Default)]
pub struct NetworkChanges {
    pub name: Option<String>,
    pub drained: Option<bool>,
    pub floating_ip_pool: Option<bool>,
    pub add_reserved_ips: Vec<String>,
    pub remove_reserved_ips: Vec<String>,
}

/// Whether `caller` sees `n` (public networks: everyone).
pub fn network_visible(caller: &Credentials, n: &Network) -> bool {
    n.public
        || caller.can_see(
            n.user_id.as_deref().unwrap_or(""),
            n.project_id.as_deref().unwrap_or(""),
            n.shared_to_project,
        )
}

/// The API status: `SNF:DRAINED` when drained, else the state.
pub fn network_status(n: &Network) -> &str {
    if n.drained && !n.deleted {
        "SNF:DRAINED"
    } else {
        &n.state
    }
}

pub(super) fn parse_id(kind: &str, id: &str) -> Result<u64, ServiceError> {
    id.parse()
        .map_err(|_| ServiceError::BadRequest(format!("Invalid {kind} id '{id}'")))
}

impl Services {
    /// Issues and accepts a commission for a change that has no job (spec §16.3: accepted at
    /// commit). `apply` commits the change; if it fails the commission is rejected. Names must
    /// be unique per attempt (callers add a fresh id where one operation may be retried):
    /// issuing a name again returns the first commission, which a failed attempt has rejected.
    pub(super) fn charged<T>(
        &self,
        name: String,
        project_id: &str,
        provisions: BTreeMap<String, i64>,
        apply: impl FnOnce() -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        let config = self.config();
        let c = self.store().commission_issue(
            &NewCommission {
                name,
                project_id: project_id.into(),
                provisions,
                force: false,
            },
            &|r| config.default_limit(r),
        )?;
        match apply() {
            Ok(v) => {
                self.store().commission_resolve(c.serial, true)?;
                Ok(v)
            }
            Err(e) => {
                self.store().commission_resolve(c.serial, false)?;
                Err(e)
            }
        }
    }

    /// Moves one unit of `resource` from project `from` to `to` around `apply` (reassign):
    /// two commissions named `<name>-from` and `<name>-to`, accepted once `apply` commits.
    pub(super) fn charged_move(
        &self,
        name: &str,
        resource: &str,
        from: &str,
        to: &str,
        apply: impl FnOnce() -> Result<(), ServiceError>,
    ) -> Result<(), ServiceError> {
        self.charged(
            format!("{name}-from"),
            from,
            BTreeMap::from([(resource.to_string(), -1)]),
            || {
                self.charged(
                    format!("{name}-to"),
                    to,
                    BTreeMap::from([(resource.to_string(), 1)]),
                    apply,
                )
            },
        )
    }

    /// Networks `caller` sees (live ones), in id order.
    pub fn networks_for(&self, caller: &Credentials) -> Result<Vec<Network>, ServiceError> {
        let mut all = self.store().network_list(Deleted::Exclude)?;
        all.retain(|n| network_visible(caller, n));
        Ok(all)
    }

    /// Every network (operators).
    pub fn network_list(&self, deleted: Deleted) -> Result<Vec<Network>, ServiceError> {
        Ok(self.store().network_list(deleted)?)
    }

    /// Networks changed at or after `since`, deleted ones included (`changes-since`).
    pub fn networks_changed_since(
        &self,
        caller: &Credentials,
        since: Timestamp,
    ) -> Result<Vec<Network>, ServiceError> {
        let mut all = self.store().network_list(Deleted::Include)?;
        all.retain(|n| n.updated >= since && network_visible(caller, n));
        Ok(all)
    }

    /// One network `caller` sees, deleted ones included where the caller reads deleted
    /// resources (404 otherwise).
    pub fn network_for(&self, caller: &Credentials, id: &str) -> Result<Network, ServiceError> {
        let id = parse_id("network", id)?;
        let not_found = || ServiceError::ItemNotFound(format!("Network {id} not found."));
        match self.store().network_get(id) {
            Ok(n) if network_visible(caller, &n) || caller.is_admin => {
                caller.require_live(n.deleted, not_found)?;
                Ok(n)
            }
            _ => Err(not_found()),
        }
    }

    /// Whether any port is on network `id` (a network or subnet with ports is not deleted).
    pub(super) fn network_has_ports(&self, id: u64) -> Result<bool, ServiceError> {
        Ok(self.store().port_list()?.iter().any(|p| p.network_id == id))
    }

    /// One network by id (operators).
    pub fn network_show(&self, id: u64) -> Result<Network, ServiceError> {
        Ok(self.store().network_get(id)?)
    }

    /// Creates a network. `operator` allows any flavor, overrides and public networks.
    pub async fn network_create(
        &self,
        caller: &Credentials,
        req: &NewNetwork,
        operator: bool,
    ) -> Result<Network, ServiceError> {
        if !FLAVORS.contains(&req.flavor.as_str()) {
            return Err(ServiceError::BadRequest(format!(
                "Invalid network type '{}': use one of {}",
                req.flavor,
                FLAVORS.join(", ")
            )));
        }
        if !operator
            && !self
                .config()
                .network
                .api_enabled_flavors
                .contains(&req.flavor)
        {
            return Err(ServiceError::Forbidden(format!(
                "Can not create network of type '{}': allowed types are {}",
                req.flavor,
                self.config().network.api_enabled_flavors.join(", ")
            )));
        }
        if req.name.len() > 128 {
            return Err(ServiceError::BadRequest(
                "Network name must be at most 128 characters".into(),
            ));
        }
        let plugin = self.plugins().network_flavor(&req.flavor).map_err(|_| {
            ServiceError::ServiceUnavailable(format!(
                "No network flavor plugin is loaded for '{}'",
                req.flavor
            ))
        })?;
        let (user_id, project_id) = if req.public {
            (None, None)
        } else {
            let project = match &req.project {
                Some(p) => self.project_lookup(p)?.id,
                None => caller.project_id.clone().ok_or_else(|| {
                    ServiceError::BadRequest(
                        "No project: scope the token to a project or pass 'project'".into(),
                    )
                })?,
            };
            caller.require_member(&project)?;
            (Some(caller.user_id.clone()), Some(project))
        };
        let id = self.store().generate_id()?;
        let needs = plugin.network_pools().unwrap_or(crate::plugins::PoolNeeds {
            bridge: false,
            mac_prefix: false,
        });
        let mut batch = Batch::new();
        let mut take = |kind: &str, needed: bool| -> Result<Option<String>, ServiceError> {
            if !needed {
                return Ok(None);
            }
            let unavailable = || {
                ServiceError::ServiceUnavailable(format!(
                    "Failed to allocate resources for network: the {kind} pool is missing or exhausted"
                ))
            };
            let mut pool = self.pool_of_kind(kind)?.ok_or_else(unavailable)?;
            let value = pool.take().ok_or_else(unavailable)?;
            batch.update(&pool);
            Ok(Some(value))
        };
        let pooled_link = take(BRIDGE, needs.bridge)?;
        let pooled_mac_prefix = take(MAC_PREFIX, needs.mac_prefix)?;
        let overrides = |v: &Option<String>| if operator { v.clone() } else { None };
        let params = plugin.render_network(&NetworkRequest {
            network_id: id,
            mode: overrides(&req.mode),
            link: overrides(&req.link),
            mac_prefix: overrides(&req.mac_prefix),
            tags: if operator { req.tags.clone() } else { None },
            pool_bridge: pooled_link.clone(),
            pool_mac_prefix: pooled_mac_prefix.clone(),
        })?;
        let link = if params.link.is_empty() {
            crate::names::link(id)
        } else {
            params.link
        };
        if params.mode == "routed"
            && self
                .store()
                .network_list(Deleted::Exclude)?
                .iter()
                .any(|n| n.mode == "routed" && n.link == link)
        {
            return Err(ServiceError::Conflict(format!(
                "Link '{link}' is already used by another routed network"
            )));
        }
        let now = Timestamp::now();
        let network = Network {
            id,
            name: req.name.clone(),
            user_id,
            project_id: project_id.clone(),
            shared_to_project: req.shared_to_project,
            flavor: req.flavor.clone(),
            mode: params.mode,
            link,
            mac_prefix: params.mac_prefix,
            tags: params.tags,
            pooled_link,
            pooled_mac_prefix,
            group_mac_prefixes: BTreeMap::new(),
            plugin: crate::jobs::pin_json(&crate::plugins::PluginPin::of(&plugin)),
            public: req.public,
            floating_ip_pool: req.floating_ip_pool,
            drained: req.drained,
            state: "ACTIVE".into(),
            action: Some("CREATE".into()),
            subnets: Vec::new(),
            backends: BTreeMap::new(),
            active_job: None,
            created: now,
            updated: now,
            deleted: false,
            generation: 1,
        };
        batch.insert(&network);
        match &project_id {
            Some(project) => self.charged(
                format!("network-{id}-create"),
                project,
                BTreeMap::from([(PRIVATE_QUOTA.to_string(), 1)]),
                || Ok(self.store().commit(&batch)?),
            )?,
            None => self.store().commit(&batch)?,
        }
        Ok(self.store().network_get(id)?)
    }

    /// Puts a network on backends (operators: public networks at creation, `backend-add`,
    /// `network-modify --add-to-backend`), through a `network.ensure` job; waits for it when
    /// `wait`.
    pub async fn network_ensure_on(
        &self,
        network_id: u64,
        backend_ids: Vec<u64>,
        wait: bool,
    ) -> Result<Option<u64>, ServiceError> {
        if backend_ids.is_empty() {
            return Ok(None);
        }
        let job = self
            .submit_network_job(&NETWORK_ENSURE, network_id, backend_ids)
            .await?;
        if wait && self.job_wait(job).await? != crate::store::JobState::Succeeded {
            let fault = self
                .store()
                .job_get(job)?
                .fault
                .map(|f| f.message)
                .unwrap_or_default();
            return Err(ServiceError::ServiceUnavailable(format!(
                "Could not put network {network_id} on the backends (job {job}): {fault}"
            )));
        }
        Ok(Some(job))
    }

    async fn submit_network_job(
        &self,
        kind: &'static crate::jobs::JobKind,
        network_id: u64,
        backend_ids: Vec<u64>,
    ) -> Result<u64, ServiceError> {
        let job_id = self.store().generate_id()?;
        let n = self.store().network_get(network_id)?;
        if let Some(other) = n.active_job
            && self
                .store()
                .job_get(other)
                .is_ok_and(|j| !j.state.finished())
        {
            return Err(ServiceError::Conflict(format!(
                "Network {network_id} is busy with job {other}"
            )));
        }
        let mut lock = Batch::new();
        let mut locked = n.clone();
        locked.active_job = Some(job_id);
        if kind.name == NETWORK_DESTROY.name {
            locked.action = Some("DESTROY".into());
            if locked.public {
                locked.drained = true;
            }
        }
        lock.update(&locked);
        let params = NetworkJobParams {
            network_id,
            backend_ids,
        };
        self.jobs()
            .submit(
                kind,
                format!("network/{network_id}"),
                serde_json::to_value(&params).map_err(|e| ServiceError::internal(&e))?,
                job_id,
                lock,
            )
            .await?;
        Ok(job_id)
    }

    /// Renames a network (public ones: 403).
    pub fn network_rename(
        &self,
        caller: &Credentials,
        id: &str,
        name: &str,
    ) -> Result<Network, ServiceError> {
        let n = self.network_for(caller, id)?;
        if n.deleted {
            return Err(ServiceError::BadRequest(format!(
                "Network {} is deleted",
                n.id
            )));
        }
        if n.public {
            return Err(ServiceError::Forbidden(
                "Cannot rename the public network.".into(),
            ));
        }
        if name.len() > 128 {
            return Err(ServiceError::BadRequest(
                "Network name must be at most 128 characters".into(),
            ));
        }
        let mut after = n.clone();
        after.name = name.to_string();
        let mut batch = Batch::new();
        batch.update(&after);
        self.store().commit(&batch)?;
        Ok(self.store().network_get(n.id)?)
    }

    /// Deletes a network: refused while ports or floating IPs use it; a network never put on a
    /// backend goes at once, otherwise a `network.destroy` job removes it from Ganeti first.
    pub async fn network_delete(
        &self,
        caller: &Credentials,
        id: &str,
    ) -> Result<Option<u64>, ServiceError> {
        let n = self.network_for(caller, id)?;
        if n.deleted {
            return Err(ServiceError::BadRequest(format!(
                "Network {} is already deleted",
                n.id
            )));
        }
        if n.public && !caller.is_admin {
            return Err(ServiceError::Forbidden(
                "Cannot delete the public network.".into(),
            ));
        }
        if !n.public && n.user_id.as_deref() != Some(caller.user_id.as_str()) && !caller.is_admin {
            return Err(ServiceError::Forbidden(
                "Only the owner may delete a network".into(),
            ));
        }
        if self.network_has_ports(n.id)? {
            return Err(ServiceError::Conflict(
                "There are ports still configured on network".into(),
            ));
        }
        if self
            .store()
            .floating_ip_list()?
            .iter()
            .any(|f| f.network_id == n.id)
        {
            return Err(ServiceError::Conflict(
                "There are floating IPs allocated on network".into(),
            ));
        }
        let present: Vec<u64> = n
            .backends
            .iter()
            .filter(|(_, b)| b.state != "DELETED")
            .map(|(id, _)| *id)
            .collect();
        if !present.is_empty() {
            return Ok(Some(
                self.submit_network_job(&NETWORK_DESTROY, n.id, present)
                    .await?,
            ));
        }
        let (after, pools) = crate::jobs::network_deleted(self.store(), &n)?;
        let mut batch = Batch::new();
        batch.update(&after);
        for p in &pools {
            batch.update(p);
        }
        match &n.project_id {
            Some(project) if !n.public => self.charged(
                format!("network-{}-delete-{}", n.id, self.store().generate_id()?),
                project,
                BTreeMap::from([(PRIVATE_QUOTA.to_string(), -1)]),
                || Ok(self.store().commit(&batch)?),
            )?,
            _ => self.store().commit(&batch)?,
        }
        Ok(None)
    }

    /// `reassign`: moves a private network to another project (quota moves with it).
    pub fn network_reassign(
        &self,
        caller: &Credentials,
        id: &str,
        project: &str,
        shared_to_project: Option<bool>,
    ) -> Result<Network, ServiceError> {
        let n = self.network_for(caller, id)?;
        if n.public {
            return Err(ServiceError::Forbidden(
                "Cannot reassign a public network".into(),
            ));
        }
        if n.user_id.as_deref() != Some(caller.user_id.as_str()) && !caller.is_admin {
            return Err(ServiceError::Forbidden(
                "Only the owner may reassign a network".into(),
            ));
        }
        if shared_to_project == Some(true) && !self.config().compute.shared_resources {
            return Err(ServiceError::Forbidden(
                "Sharing resources with projects is not enabled".into(),
            ));
        }
        let target = self.project_lookup(project)?.id;
        caller.require_member(&target)?;
        let mut after = n.clone();
        after.shared_to_project = shared_to_project.unwrap_or(n.shared_to_project);
        let old = n.project_id.clone().unwrap_or_default();
        if old == target {
            let mut batch = Batch::new();
            batch.update(&after);
            self.store().commit(&batch)?;
            return Ok(self.store().network_get(n.id)?);
        }
        after.project_id = Some(target.clone());
        self.charged_move(
            &format!("network-{}-reassign-{}", n.id, self.store().generate_id()?),
            PRIVATE_QUOTA,
            &old,
            &target,
            || {
                let mut batch = Batch::new();
                batch.update(&after);
                Ok(self.store().commit(&batch)?)
            },
        )?;
        Ok(self.store().network_get(n.id)?)
    }

    /// `network-modify` (operators): name, drained, floating-IP pool, external reservations.
    pub async fn network_modify(
        &self,
        id: u64,
        changes: &NetworkChanges,
    ) -> Result<Network, ServiceError> {
        let n = self.store().network_get(id)?;
        if n.deleted {
            return Err(ServiceError::BadRequest(format!("Network {id} is deleted")));
        }
        let mut after = n.clone();
        if let Some(name) = &changes.name {
            after.name = name.clone();
        }
        if let Some(d) = changes.drained {
            after.drained = d;
        }
        if let Some(pool) = changes.floating_ip_pool {
            if pool && !n.public {
                return Err(ServiceError::BadRequest(
                    "Only public networks can be floating IP pools".into(),
                ));
            }
            if !pool
                && self
                    .store()
                    .floating_ip_list()?
                    .iter()
                    .any(|f| f.network_id == id)
            {
                return Err(ServiceError::Conflict(format!(
                    "Network {id} has floating IPs: release them before un-pooling it"
                )));
            }
            after.floating_ip_pool = pool;
        }
        for (list, add) in [
            (&changes.add_reserved_ips, true),
            (&changes.remove_reserved_ips, false),
        ] {
            for ip in list {
                let addr: std::net::Ipv4Addr = ip.parse().map_err(|_| {
                    ServiceError::BadRequest(format!("Invalid IPv4 address '{ip}'"))
                })?;
                let subnet = after
                    .subnets
                    .iter_mut()
                    .find(|s| s.ip_version == 4)
                    .ok_or_else(|| {
                        ServiceError::BadRequest(format!("Network {id} has no IPv4 subnet"))
                    })?;
                if add {
                    if subnet.used.contains(&addr) {
                        return Err(ServiceError::Conflict(format!(
                            "IP address {addr} is already used."
                        )));
                    }
                    subnet.reserved.insert(addr);
                } else {
                    subnet.reserved.remove(&addr);
                }
            }
        }
        let mut batch = Batch::new();
        batch.update(&after);
        self.store().commit(&batch)?;
        if changes.floating_ip_pool == Some(true) {
            let online = self.online_backends_without(&after)?;
            self.network_ensure_on(id, online, false).await?;
        }
        Ok(self.store().network_get(id)?)
    }

    /// Online backends the network is not (or no longer) on.
    pub fn online_backends_without(&self, n: &Network) -> Result<Vec<u64>, ServiceError> {
        Ok(self
            .store()
            .backend_list(Deleted::Exclude)?
            .into_iter()
            .filter(|b| !b.offline)
            .filter(|b| n.backends.get(&b.id).is_none_or(|bn| bn.state != "ACTIVE"))
            .map(|b| b.id)
            .collect())
    }
}
