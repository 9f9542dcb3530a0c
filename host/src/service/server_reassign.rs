//! The `reassign` action (spec §2.4): move a server to another project of its owner, moving its
//! quota with it. No Ganeti call; both commissions are issued pending and accepted only once the
//! record has moved, or rejected if anything fails (413 leaves everything as it was).

use std::collections::BTreeMap;

use super::server_task::pending_task_refusal;
use super::{Credentials, ServiceError, Services};
use crate::store::{Batch, NewCommission, Server, StoreError};

const MIB: i64 = 1024 * 1024;

impl Services {
    /// What a server holds in its project (spec §16.2 REASSIGN).
    pub(super) fn holdings(&self, s: &Server) -> Result<BTreeMap<String, i64>, ServiceError> {
        let f = self.store().flavor_get(s.flavor_id)?;
        let (cpu, ram) = (i64::from(f.cpu), f.ram_mb as i64 * MIB);
        let mut h = BTreeMap::from([
            ("cyclades.vm".to_string(), 1),
            ("cyclades.total_cpu".to_string(), cpu),
            ("cyclades.total_ram".to_string(), ram),
            ("cyclades.disk".to_string(), f.disk_gb as i64 * 1024 * MIB),
        ]);
        if matches!(s.operstate.as_str(), "STARTED" | "BUILD" | "ERROR") {
            h.insert("cyclades.cpu".into(), cpu);
            h.insert("cyclades.ram".into(), ram);
        }
        Ok(h)
    }

    pub async fn server_reassign(
        &self,
        caller: &Credentials,
        id: &str,
        project: &str,
        shared_to_project: Option<bool>,
    ) -> Result<Server, ServiceError> {
        let before = self.server_for_change(caller, id)?;
        if shared_to_project.is_some() && !self.config().compute.shared_resources {
            return Err(ServiceError::Forbidden(
                "Sharing resources with a project is not enabled on this cloud".into(),
            ));
        }
        if let Some(task) = &before.task {
            return Err(pending_task_refusal("REASSIGN", task));
        }
        let target = self.project_lookup(project)?;
        if !caller.is_member_of(&target.id) {
            return Err(ServiceError::Forbidden(format!(
                "Not a member of project {project}"
            )));
        }
        let shared = shared_to_project.unwrap_or(before.shared_to_project);
        if target.id == before.project_id {
            // Only the sharing flag changes (no quota moves).
            if shared == before.shared_to_project {
                return Ok(before);
            }
            let mut after = before.clone();
            after.shared_to_project = shared;
            let mut batch = Batch::new();
            batch.update_server(&before, &after);
            return match self.store().commit(&batch) {
                Ok(()) => Ok(self.store().server_get(before.id)?),
                Err(StoreError::GenerationMismatch { .. }) => Err(ServiceError::Conflict(format!(
                    "Server {id} changed meanwhile; try again"
                ))),
                Err(e) => Err(e.into()),
            };
        }
        let flavor = self.store().flavor_get(before.flavor_id)?;
        if !Self::flavor_usable_by(&flavor, &target.id) {
            return Err(ServiceError::Forbidden(
                "The target project has no access to the server's flavor".into(),
            ));
        }
        if let Some(b) = before.backend_id {
            let backend = self.store().backend_get(b)?;
            let dedicated = self
                .store()
                .project_backend_list(Some(&target.id))?
                .iter()
                .any(|(_, id)| *id == b);
            if !backend.public && !dedicated {
                return Err(ServiceError::Forbidden(
                    "The target project has no access to the server's backend".into(),
                ));
            }
        }
        let mut serials = Vec::new();
        if before.quota_charged {
            let holdings = self.holdings(&before)?;
            let config = self.config().clone();
            let name = format!("reassign-{}-g{}", before.id, before.generation);
            let to = self.store().commission_issue(
                &NewCommission {
                    name: format!("{name}-to"),
                    project_id: target.id.clone(),
                    provisions: holdings.clone(),
                    force: false,
                },
                &|r| config.default_limit(r),
            )?;
            serials.push(to.serial);
            let from = self.store().commission_issue(
                &NewCommission {
                    name: format!("{name}-from"),
                    project_id: before.project_id.clone(),
                    provisions: holdings.iter().map(|(k, v)| (k.clone(), -v)).collect(),
                    force: true,
                },
                &|r| config.default_limit(r),
            );
            match from {
                Ok(c) => serials.push(c.serial),
                Err(e) => {
                    self.store().commission_resolve(to.serial, false)?;
                    return Err(e.into());
                }
            }
        }
        let mut after = before.clone();
        after.project_id = target.id.clone();
        after.shared_to_project = shared;
        let mut batch = Batch::new();
        batch.update_server(&before, &after);
        // The root volume goes with its server (its disk is in the server's holdings); other
        // volumes keep their own project (`volume reassign`).
        if let Ok(root) = self.store().volume_get(before.id)
            && root.is_root()
            && root.server_id == Some(before.id)
        {
            let mut moved = root.clone();
            moved.project_id = target.id.clone();
            batch.update(&moved);
        }
        let moved = self.store().commit(&batch);
        for serial in &serials {
            self.store().commission_resolve(*serial, moved.is_ok())?;
        }
        match moved {
            Ok(()) => Ok(self.store().server_get(before.id)?),
            Err(StoreError::GenerationMismatch { .. }) => Err(ServiceError::Conflict(format!(
                "Server {id} changed meanwhile; try again"
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
