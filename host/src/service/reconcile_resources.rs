//! `reconcile-resources` (Synnefo's `reconcile-resources-cyclades`): the quota holder's
//! recorded usage of every project against what its servers actually hold (spec §16.2, the
//! same holdings `reassign` moves), and, with `--fix`, a forced commission that brings the
//! record in line.
//!
//! Projects with pending commissions are reported but not fixed: a job in flight is between
//! its record change and its commission, and the difference would be transient. Owns only this
//! comparison; commission mechanics are the store's.

use std::collections::BTreeMap;

use super::{ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{Deleted, NewCommission};

use crate::resources::SERVER_RESOURCES;

/// One project's resource whose recorded usage differs from its servers' holdings.
#[derive(Clone, Debug)]
pub struct ResourceDrift {
    pub project_id: String,
    pub resource: String,
    /// Accepted usage in the quota holder.
    pub recorded: i64,
    /// What the project's servers hold.
    pub actual: i64,
    pub fixed: bool,
    /// Why it was not fixed, when `--fix` was asked and it was not.
    pub note: String,
}

impl Services {
    pub fn reconcile_resources(&self, fix: bool) -> Result<Vec<ResourceDrift>, ServiceError> {
        let mut actual: BTreeMap<(String, String), i64> = BTreeMap::new();
        for server in self.store().server_list(Deleted::Exclude)? {
            if !server.quota_charged {
                continue;
            }
            for (resource, quantity) in self.holdings(&server)? {
                *actual
                    .entry((server.project_id.clone(), resource))
                    .or_default() += quantity;
            }
        }
        // Volumes charged on their own (not root volumes: those are in their server's holdings).
        for v in self.store().volume_list(Deleted::Exclude)? {
            if v.quota_charged {
                *actual
                    .entry((v.project_id.clone(), "cyclades.disk".to_string()))
                    .or_default() += v.size_gb as i64 * crate::resources::GIB;
            }
        }
        let mut out = Vec::new();
        for project in self.store().project_list(Deleted::Exclude)? {
            let usages = self.store().quota_usages(&project.id)?;
            let busy = usages
                .iter()
                .any(|u| u.pending_add != 0 || u.pending_remove != 0);
            let mut drifts: Vec<ResourceDrift> = SERVER_RESOURCES
                .iter()
                .filter_map(|resource| {
                    let recorded = usages
                        .iter()
                        .find(|u| u.resource == *resource)
                        .map_or(0, |u| u.usage);
                    let held = actual
                        .get(&(project.id.clone(), resource.to_string()))
                        .copied()
                        .unwrap_or(0);
                    (recorded != held).then(|| ResourceDrift {
                        project_id: project.id.clone(),
                        resource: resource.to_string(),
                        recorded,
                        actual: held,
                        fixed: false,
                        note: String::new(),
                    })
                })
                .collect();
            if fix && !drifts.is_empty() {
                if busy {
                    for d in &mut drifts {
                        d.note = "pending commissions: run again once jobs finish".into();
                    }
                } else {
                    self.force_usage(&project.id, &drifts)?;
                    for d in &mut drifts {
                        d.fixed = true;
                    }
                }
            }
            out.extend(drifts);
        }
        Ok(out)
    }

    /// One forced commission moving every drifted resource of a project to its actual value,
    /// accepted at once. (If we stop in between, `reconcile-commissions` rejects it: a
    /// `reconcile-` commission left pending changed nothing.)
    fn force_usage(&self, project_id: &str, drifts: &[ResourceDrift]) -> Result<(), ServiceError> {
        let config = self.config().clone();
        let commission = self.store().commission_issue(
            &NewCommission {
                name: format!(
                    "reconcile-resources-{project_id}-{}",
                    Timestamp::now().iso()
                ),
                project_id: project_id.to_string(),
                provisions: drifts
                    .iter()
                    .map(|d| (d.resource.clone(), d.actual - d.recorded))
                    .collect(),
                force: true,
            },
            &|r| config.default_limit(r),
        )?;
        self.store().commission_resolve(commission.serial, true)?;
        tracing::info!(
            project = project_id,
            drifts = drifts.len(),
            "quota usage reconciled"
        );
        Ok(())
    }
}
