//! Floating IPs (spec §3.4, §2.9, §15.7): public IPv4 addresses from floating-IP-pool
//! networks, owned by a user and project (`cyclades.floating_ip` quota), attached to a server by
//! being the address of one of its ports. Allocation, release and reassign.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::networks::{network_visible, parse_id};
use super::{Credentials, ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{Batch, Deleted, FloatingIp};

const QUOTA: &str = "cyclades.floating_ip";

/// A floating IP to allocate.
#[derive(Clone, Debug, Default)]
pub struct NewFloatingIp {
    pub network_id: Option<String>,
    pub address: Option<String>,
    pub project: Option<String>,
    pub shared_to_project: bool,
}

impl Services {
    /// Floating IPs `caller` sees.
    pub fn floating_ips_for(&self, caller: &Credentials) -> Result<Vec<FloatingIp>, ServiceError> {
        let mut all = self.store().floating_ip_list()?;
        all.retain(|f| caller.can_see(&f.user_id, &f.project_id, f.shared_to_project));
        Ok(all)
    }

    /// Floating IPs `caller` sees changed at or after `since`, released ones included
    /// (`changes-since`).
    pub fn floating_ips_changed_since(
        &self,
        caller: &Credentials,
        since: Timestamp,
    ) -> Result<Vec<FloatingIp>, ServiceError> {
        let mut all = self.store().floating_ip_list_all()?;
        all.retain(|f| {
            f.updated >= since && caller.can_see(&f.user_id, &f.project_id, f.shared_to_project)
        });
        Ok(all)
    }

    /// Every floating IP (operators).
    pub fn floating_ip_list(&self) -> Result<Vec<FloatingIp>, ServiceError> {
        Ok(self.store().floating_ip_list()?)
    }

    /// Any live floating IP, for operators.
    pub fn floating_ip_show(&self, id: &str) -> Result<FloatingIp, ServiceError> {
        let id = parse_id("floating IP", id)?;
        match self.store().floating_ip_get(id) {
            Ok(f) if !f.deleted => Ok(f),
            Ok(_) | Err(crate::store::StoreError::NotFound { .. }) => Err(
                ServiceError::ItemNotFound(format!("Floating IP with ID {id} does not exist.")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub fn floating_ip_for(
        &self,
        caller: &Credentials,
        id: &str,
    ) -> Result<FloatingIp, ServiceError> {
        let id = parse_id("floating IP", id)?;
        match self.store().floating_ip_get(id) {
            Ok(f)
                if !f.deleted && caller.can_see(&f.user_id, &f.project_id, f.shared_to_project) =>
            {
                Ok(f)
            }
            _ => Err(ServiceError::ItemNotFound(format!(
                "Floating IP with ID {id} does not exist."
            ))),
        }
    }

    /// Allocates a floating IP: from the given network, or the first floating-IP pool with a
    /// free address. Answers 409 when none can be had, 413 over quota.
    pub fn floating_ip_create(
        &self,
        caller: &Credentials,
        req: &NewFloatingIp,
    ) -> Result<FloatingIp, ServiceError> {
        let project = match &req.project {
            Some(p) => self.project_lookup(p)?.id,
            None => caller.project_id.clone().ok_or_else(|| {
                ServiceError::BadRequest(
                    "No project: scope the token to a project or pass 'project'".into(),
                )
            })?,
        };
        caller.require_member(&project)?;
        if req.shared_to_project && !self.config().compute.shared_resources {
            return Err(ServiceError::Forbidden(
                "Sharing resources with projects is not enabled".into(),
            ));
        }
        let requested: Option<Ipv4Addr> = match &req.address {
            None => None,
            Some(a) => Some(
                a.parse()
                    .map_err(|_| ServiceError::BadRequest(format!("Invalid IPv4 address '{a}'")))?,
            ),
        };
        let candidates = match &req.network_id {
            Some(id) => {
                let n = self.network_for(caller, id)?;
                if n.deleted {
                    return Err(ServiceError::BadRequest(format!(
                        "Network {} is deleted",
                        n.id
                    )));
                }
                if !n.floating_ip_pool {
                    return Err(ServiceError::Conflict(format!(
                        "Network {} is not a floating IP pool",
                        n.id
                    )));
                }
                if n.action.as_deref() == Some("DESTROY") {
                    return Err(ServiceError::Conflict(format!(
                        "Network {} is being deleted",
                        n.id
                    )));
                }
                if n.drained {
                    return Err(ServiceError::Conflict(format!(
                        "Network {} is in 'SNF:DRAINED' status",
                        n.id
                    )));
                }
                vec![n]
            }
            None => {
                if requested.is_some() {
                    return Err(ServiceError::BadRequest(
                        "'floating_ip_address' needs 'floating_network_id'".into(),
                    ));
                }
                self.store()
                    .network_list(Deleted::Exclude)?
                    .into_iter()
                    .filter(|n| {
                        n.public
                            && n.floating_ip_pool
                            && !n.drained
                            && n.action.as_deref() != Some("DESTROY")
                            && network_visible(caller, n)
                    })
                    .collect()
            }
        };
        let id = self.store().generate_id()?;
        for n in candidates {
            let mut after = n.clone();
            let (subnet_id, address) = match after.allocate_v4(requested) {
                Ok(Some(got)) => got,
                Ok(None) | Err(crate::ipam::IpamError::Exhausted { .. })
                    if req.network_id.is_none() =>
                {
                    continue;
                }
                Ok(None) => {
                    return Err(ServiceError::Conflict(format!(
                        "Network {} has no IPv4 subnet",
                        n.id
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            let now = Timestamp::now();
            let fip = FloatingIp {
                id,
                network_id: n.id,
                subnet_id,
                address,
                user_id: caller.user_id.clone(),
                project_id: project.clone(),
                shared_to_project: req.shared_to_project,
                port_id: None,
                server_id: None,
                nat_port_id: None,
                created: now,
                updated: now,
                deleted: false,
                generation: 1,
            };
            let mut batch = Batch::new();
            batch.update(&after);
            batch.insert(&fip);
            self.charged(
                format!("floating-ip-{id}-create"),
                &project,
                BTreeMap::from([(QUOTA.to_string(), 1)]),
                || Ok(self.store().commit(&batch)?),
            )?;
            return Ok(self.store().floating_ip_get(id)?);
        }
        Err(ServiceError::Conflict(
            "Cannot allocate a floating IP address.".into(),
        ))
    }

    /// Releases a floating IP (409 while a server uses it).
    pub fn floating_ip_delete(&self, caller: &Credentials, id: &str) -> Result<(), ServiceError> {
        let f = self.floating_ip_for(caller, id)?;
        if f.port_id.is_some() {
            return Err(ServiceError::Conflict(format!(
                "IP '{}' is used by server '{}'",
                f.address,
                f.server_id.map(|s| s.to_string()).unwrap_or_default()
            )));
        }
        let n = self.store().network_get(f.network_id)?;
        let mut after = n.clone();
        after.release_v4(f.address);
        let mut batch = Batch::new();
        batch.update(&after);
        let mut released = f.clone();
        released.deleted = true;
        released.updated = Timestamp::now();
        batch.update(&released);
        self.charged(
            format!(
                "floating-ip-{}-delete-{}",
                f.id,
                self.store().generate_id()?
            ),
            &f.project_id,
            BTreeMap::from([(QUOTA.to_string(), -1)]),
            || Ok(self.store().commit(&batch)?),
        )
    }

    /// `reassign`: moves a floating IP to another project (owner or operators).
    pub fn floating_ip_reassign(
        &self,
        caller: &Credentials,
        id: &str,
        project: &str,
        shared_to_project: Option<bool>,
    ) -> Result<FloatingIp, ServiceError> {
        let f = self.floating_ip_for(caller, id)?;
        if f.user_id != caller.user_id && !caller.is_admin {
            return Err(ServiceError::Forbidden(
                "Only the owner may reassign a floating IP".into(),
            ));
        }
        if shared_to_project == Some(true) && !self.config().compute.shared_resources {
            return Err(ServiceError::Forbidden(
                "Sharing resources with projects is not enabled".into(),
            ));
        }
        let target = self.project_lookup(project)?.id;
        caller.require_member(&target)?;
        let mut after = f.clone();
        after.project_id = target.clone();
        after.shared_to_project = shared_to_project.unwrap_or(f.shared_to_project);
        let commit = || {
            let mut batch = Batch::new();
            batch.update(&after);
            Ok(self.store().commit(&batch)?)
        };
        if target == f.project_id {
            commit()?;
        } else {
            self.charged_move(
                &format!(
                    "floating-ip-{}-reassign-{}",
                    f.id,
                    self.store().generate_id()?
                ),
                QUOTA,
                &f.project_id,
                &target,
                commit,
            )?;
        }
        Ok(self.store().floating_ip_get(f.id)?)
    }
}
