//! `enforce-resources` (Synnefo's `enforce-resources-cyclades`, spec §16): bring projects that
//! hold more than their limits (after an operator lowered them) back within them, by acting on
//! their servers.
//!
//! For each over-limit resource: `cyclades.vm`, `total_cpu`, `total_ram` and `disk` delete
//! servers (or, for the `--soft-resources`, shut them down); `cpu` and `ram` (the running
//! share) shut servers down. Servers are taken in Synnefo's order: ERROR, BUILD, STOPPED, then
//! running, newest first within each; each server gets at most one action, and the plan
//! stops as soon as the holdings fit. Without `--fix` it only reports the plan; with it, the
//! actions are submitted as ordinary `server.destroy`/`server.stop` jobs (quota follows their
//! results). Servers whose job is still running are left alone.

use std::collections::BTreeMap;

use super::{ServiceError, Services};
use crate::resources::SERVER_RESOURCES;
use crate::store::{Deleted, Server};

/// Resources whose excess deletes servers (unless soft).
const DELETE_FOR: [&str; 4] = [
    "cyclades.vm",
    "cyclades.total_cpu",
    "cyclades.total_ram",
    "cyclades.disk",
];
/// Resources whose excess shuts servers down.
const SHUTDOWN_FOR: [&str; 2] = ["cyclades.cpu", "cyclades.ram"];

/// What to enforce.
#[derive(Clone, Debug, Default)]
pub struct EnforceOptions {
    /// Only these resources (default: all six server resources).
    pub resources: Option<Vec<String>>,
    /// Over these, shut down instead of deleting.
    pub soft_resources: Vec<String>,
    /// Only these projects (ids or names), and never these.
    pub projects: Option<Vec<String>>,
    pub exclude_projects: Vec<String>,
    /// At most this many actions in all.
    pub max_operations: Option<usize>,
    pub fix: bool,
}

/// One planned (or, with `--fix`, submitted) action.
#[derive(Clone, Debug)]
pub struct EnforceAction {
    pub project_id: String,
    /// The resource whose excess called for it, with usage and limit before any action.
    pub resource: String,
    pub usage: i64,
    pub limit: i64,
    pub server_id: u64,
    /// `DELETE` or `SHUTDOWN`.
    pub action: &'static str,
    /// The job submitted for it (with `--fix`).
    pub job_id: Option<u64>,
    pub error: Option<String>,
}

fn state_rank(s: &Server) -> u8 {
    match s.operstate.as_str() {
        "ERROR" => 0,
        "BUILD" => 1,
        "STOPPED" => 2,
        _ => 3,
    }
}

impl Services {
    pub async fn enforce_resources(
        &self,
        options: &EnforceOptions,
    ) -> Result<Vec<EnforceAction>, ServiceError> {
        let all_resources: Vec<String> = SERVER_RESOURCES.iter().map(|r| r.to_string()).collect();
        let wanted = options.resources.clone().unwrap_or(all_resources.clone());
        for r in wanted.iter().chain(&options.soft_resources) {
            if !all_resources.contains(r) {
                return Err(ServiceError::BadRequest(format!(
                    "Cannot enforce '{r}': use one of {}",
                    all_resources.join(", ")
                )));
            }
        }
        let included = match &options.projects {
            Some(list) => Some(
                list.iter()
                    .map(|p| self.project_lookup(p).map(|p| p.id))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let excluded = options
            .exclude_projects
            .iter()
            .map(|p| self.project_lookup(p).map(|p| p.id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_project: BTreeMap<String, Vec<Server>> = BTreeMap::new();
        for s in self.store().server_list(Deleted::Exclude)? {
            if s.quota_charged && s.active_job.is_none() {
                by_project.entry(s.project_id.clone()).or_default().push(s);
            }
        }
        let mut plan = Vec::new();
        for row_project in self.project_list(Deleted::Exclude)? {
            let project = row_project.id;
            if included.as_ref().is_some_and(|l| !l.contains(&project))
                || excluded.contains(&project)
            {
                continue;
            }
            let rows = self.quota_list(Some(&project))?;
            let mut usage: BTreeMap<String, i64> = rows
                .iter()
                .map(|r| (r.resource.to_string(), r.usage))
                .collect();
            let limits: BTreeMap<String, i64> = rows
                .iter()
                .map(|r| (r.resource.to_string(), r.limit))
                .collect();
            let mut servers = by_project.remove(&project).unwrap_or_default();
            servers.sort_by(|a, b| state_rank(a).cmp(&state_rank(b)).then(b.id.cmp(&a.id)));
            let mut acted: BTreeMap<u64, &'static str> = BTreeMap::new();
            for resource in &wanted {
                let limit = limits.get(resource).copied().unwrap_or(i64::MAX);
                let before = usage.get(resource).copied().unwrap_or(0);
                for server in &servers {
                    if usage.get(resource).copied().unwrap_or(0) <= limit {
                        break;
                    }
                    let delete = DELETE_FOR.contains(&resource.as_str())
                        && !options.soft_resources.contains(resource);
                    let holdings = self.holdings(server)?;
                    let running =
                        matches!(server.operstate.as_str(), "STARTED" | "BUILD" | "ERROR");
                    let action = match (delete, acted.get(&server.id).copied()) {
                        (_, Some("DELETE")) => continue,
                        (true, _) => "DELETE",
                        (false, Some(_)) => continue,
                        (false, None) if !running => continue,
                        (false, None) => "SHUTDOWN",
                    };
                    // What the action frees: everything, or the running share; a server
                    // already shut down by this plan frees only what it still holds.
                    for (r, q) in &holdings {
                        let freed = match action {
                            "DELETE" if acted.get(&server.id) == Some(&"SHUTDOWN") => {
                                !SHUTDOWN_FOR.contains(&r.as_str())
                            }
                            "DELETE" => true,
                            _ => SHUTDOWN_FOR.contains(&r.as_str()),
                        };
                        if freed {
                            *usage.entry(r.clone()).or_default() -= q;
                        }
                    }
                    acted.insert(server.id, action);
                    plan.push(EnforceAction {
                        project_id: project.clone(),
                        resource: resource.clone(),
                        usage: before,
                        limit,
                        server_id: server.id,
                        action,
                        job_id: None,
                        error: None,
                    });
                }
            }
        }
        // A server planned for shutdown and later for deletion is only deleted.
        let deleted: Vec<u64> = plan
            .iter()
            .filter(|a| a.action == "DELETE")
            .map(|a| a.server_id)
            .collect();
        plan.retain(|a| a.action == "DELETE" || !deleted.contains(&a.server_id));
        if let Some(max) = options.max_operations {
            plan.truncate(max);
        }
        if options.fix {
            for a in &mut plan {
                let id = a.server_id.to_string();
                let submitted = match a.action {
                    "DELETE" => self.server_remove_admin(&id).await,
                    _ => self.server_stop_admin(&id).await,
                };
                match submitted {
                    Ok(job) => a.job_id = Some(job),
                    Err(e) => a.error = Some(e.to_string()),
                }
            }
        }
        Ok(plan)
    }
}
