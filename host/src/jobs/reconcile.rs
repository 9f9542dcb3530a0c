//! Reconciliation of servers with Ganeti (spec §12, as polling instead of AMQP events).
//!
//! Compares one backend's bulk instance list with the store and reports drift: stale servers
//! (in the store, gone from Ganeti), orphan instances (`snf-<id>` with no live server), unsynced
//! operstate, unsynced flavors, unsynced tags (user tags in Ganeti vs the record), unsynced
//! rescue (Ganeti boots from a CD-ROM the record does not know of, or the reverse), unsynced
//! NICs (`reconcile_nics`), and pending tasks whose job is finished or unknown. Fixes apply
//! the same record and quota changes that job results apply (`server_ops::destroyed`,
//! `release_server_quota`, commission per §16.2). Servers whose job is still running are left
//! alone: their job owns them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::common::ensure_instance_removed;
use super::quota_steps::issue_named_commission;
use super::quota_steps::release_server_quota;
use super::server_lock::destroyed;
use super::{JobEnv, StepError};
use crate::backend::rapi::{USER_TAG_PREFIX, tag_from_ganeti};
use crate::store::{Batch, Deleted, Server};

const MIB: i64 = 1024 * 1024;

/// Which kinds of drift to repair (the `--fix-*` flags).
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerFixes {
    pub stale: bool,
    pub orphans: bool,
    pub unsynced: bool,
    pub unsynced_flavors: bool,
    pub unsynced_rescue: bool,
    pub unsynced_tags: bool,
    pub unsynced_nics: bool,
    /// Destructive (a volume whose disk is gone is deleted): never in the continuous pass.
    pub unsynced_disks: bool,
    pub pending_tasks: bool,
}

impl ServerFixes {
    /// What the continuous reconciler repairs by itself: nothing destructive.
    pub fn safe() -> Self {
        ServerFixes {
            unsynced: true,
            unsynced_rescue: true,
            unsynced_tags: true,
            unsynced_nics: true,
            pending_tasks: true,
            ..Default::default()
        }
    }

    pub fn all() -> Self {
        ServerFixes {
            stale: true,
            orphans: true,
            unsynced: true,
            unsynced_flavors: true,
            unsynced_rescue: true,
            unsynced_tags: true,
            unsynced_nics: true,
            unsynced_disks: true,
            pending_tasks: true,
        }
    }
}

/// One drifted thing.
#[derive(Clone, Debug, Serialize)]
pub struct Drift {
    /// `stale`, `orphan`, `unsynced`, `unsynced_flavor`, `unsynced_rescue`, `unsynced_tags`,
    /// `unsynced_nics`, `unsynced_disks`, `pending_task`.
    pub kind: &'static str,
    pub server_id: Option<u64>,
    pub instance: String,
    pub detail: String,
    pub fixed: bool,
}

/// What one pass over one backend found.
#[derive(Clone, Debug, Serialize)]
pub struct BackendDrift {
    pub backend_id: u64,
    pub clustername: String,
    pub drift: Vec<Drift>,
}

fn server_id(instance: &str) -> Option<u64> {
    crate::names::instance_id(instance)
}

/// The pass over one backend. `fixes` says which drift to repair.
pub async fn reconcile_servers(
    env: &JobEnv,
    backend_id: u64,
    fixes: ServerFixes,
) -> Result<BackendDrift, StepError> {
    let backend = env.store.backend_get(backend_id)?;
    let rapi = env.rapi(backend_id)?;
    let instances: HashMap<String, Value> = rapi
        .instances()
        .await?
        .into_iter()
        .filter_map(|i| Some((i["name"].as_str()?.to_string(), i)))
        .collect();
    let servers: Vec<Server> = env
        .store
        .server_list(Deleted::Exclude)?
        .into_iter()
        .filter(|s| s.backend_id == Some(backend_id))
        .collect();
    let mut drift = Vec::new();
    for s in &servers {
        let name = s.instance_name();
        if let Some(job_id) = s.active_job {
            match env.store.job_get(job_id) {
                Ok(job) if !job.state.finished() => continue,
                found => {
                    let detail = match found {
                        Ok(job) => format!(
                            "task {} held by job {job_id}, which is {}",
                            s.task.clone().unwrap_or_default(),
                            job.state.as_str()
                        ),
                        Err(_) => format!("task held by job {job_id}, which does not exist"),
                    };
                    let fixed = fixes.pending_tasks && clear_task(env, s.id, job_id)?;
                    drift.push(Drift {
                        kind: "pending_task",
                        server_id: Some(s.id),
                        instance: name.clone(),
                        detail,
                        fixed,
                    });
                    continue;
                }
            }
        }
        let Some(instance) = instances.get(&name) else {
            // ERROR servers whose creation failed never had an instance; BUILD ones are a job's.
            if s.operstate == "BUILD" || (s.operstate == "ERROR" && s.action != "DESTROY") {
                continue;
            }
            let fixed = fixes.stale && mark_stale(env, s)?;
            drift.push(Drift {
                kind: "stale",
                server_id: Some(s.id),
                instance: name,
                detail: format!("{} in the database, missing from Ganeti", s.operstate),
                fixed,
            });
            continue;
        };
        let ganeti_state = if instance["oper_state"].as_bool().unwrap_or(false) {
            "STARTED"
        } else {
            "STOPPED"
        };
        if matches!(s.operstate.as_str(), "STARTED" | "STOPPED") && s.operstate != ganeti_state {
            let fixed = fixes.unsynced && sync_operstate(env, s, ganeti_state)?;
            drift.push(Drift {
                kind: "unsynced",
                server_id: Some(s.id),
                instance: name.clone(),
                detail: format!(
                    "operstate {} in the database, {ganeti_state} in Ganeti",
                    s.operstate
                ),
                fixed,
            });
        }
        let hv = &instance["hvparams"];
        let ganeti_rescue = hv["boot_order"]
            .as_str()
            .is_some_and(|b| b.starts_with("cdrom"))
            && hv["cdrom_image_path"]
                .as_str()
                .is_some_and(|p| !p.is_empty());
        if ganeti_rescue != s.rescue {
            let fixed = fixes.unsynced_rescue && sync_rescue(env, s, ganeti_rescue)?;
            drift.push(Drift {
                kind: "unsynced_rescue",
                server_id: Some(s.id),
                instance: name.clone(),
                detail: format!(
                    "rescue {} in the database, {} in Ganeti (boot_order {}, cdrom {})",
                    s.rescue,
                    ganeti_rescue,
                    hv["boot_order"].as_str().unwrap_or("-"),
                    hv["cdrom_image_path"].as_str().unwrap_or("-"),
                ),
                fixed,
            });
        }
        let in_ganeti: BTreeSet<String> = instance["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| tag_from_ganeti(t.as_str()?))
            .filter_map(|t| Some(t.strip_prefix(USER_TAG_PREFIX)?.to_string()))
            .collect();
        let in_record: BTreeSet<String> = s.tags.keys().cloned().collect();
        if in_ganeti != in_record {
            let fixed = fixes.unsynced_tags && sync_tags(env, s, &in_ganeti)?;
            drift.push(Drift {
                kind: "unsynced_tags",
                server_id: Some(s.id),
                instance: name.clone(),
                detail: format!(
                    "tags {:?} in the database, {:?} in Ganeti",
                    in_record, in_ganeti
                ),
                fixed,
            });
        }
        drift.extend(super::reconcile_nics::nic_drift(
            env,
            s,
            instance,
            fixes.unsynced_nics,
        )?);
        drift.extend(super::reconcile_disks::disk_drift(
            env,
            s,
            instance,
            fixes.unsynced_disks,
        )?);
        let vcpus = instance["beparams"]["vcpus"].as_u64();
        let maxmem = instance["beparams"]["maxmem"].as_u64();
        if let (Some(vcpus), Some(maxmem)) = (vcpus, maxmem) {
            let flavor = env.store.flavor_get(s.flavor_id)?;
            // Spec §12: the root disk's size (MiB) >> 10 is the flavor's disk in GiB.
            let disk_gb = instance["disk.sizes"][0]
                .as_u64()
                .map(|mib| mib >> 10)
                .unwrap_or(flavor.disk_gb);
            if u64::from(flavor.cpu) != vcpus
                || flavor.ram_mb != maxmem
                || flavor.disk_gb != disk_gb
            {
                let target =
                    env.store
                        .flavor_find(vcpus as u32, maxmem, disk_gb, flavor.volume_type_id)?;
                let detail = format!(
                    "flavor {} ({} vCPU, {} MiB, {} GiB) in the database, {vcpus} vCPU {maxmem} MiB {disk_gb} GiB in Ganeti{}",
                    flavor.id,
                    flavor.cpu,
                    flavor.ram_mb,
                    flavor.disk_gb,
                    if target.is_none() {
                        " (no matching flavor)"
                    } else {
                        ""
                    }
                );
                let fixed = match target {
                    Some(t) if fixes.unsynced_flavors => sync_flavor(env, s, t.id)?,
                    _ => false,
                };
                drift.push(Drift {
                    kind: "unsynced_flavor",
                    server_id: Some(s.id),
                    instance: name,
                    detail,
                    fixed,
                });
            }
        }
    }
    let live: BTreeMap<u64, ()> = servers.iter().map(|s| (s.id, ())).collect();
    let mut orphans: Vec<&String> = instances
        .keys()
        .filter(|n| server_id(n).is_some_and(|id| !live.contains_key(&id)))
        .collect();
    orphans.sort();
    for name in orphans {
        // A server still being created on this backend is not an orphan.
        if let Some(id) = server_id(name)
            && env.store.server_get(id).is_ok_and(|s| !s.deleted)
        {
            continue;
        }
        let fixed = if fixes.orphans {
            ensure_instance_removed(env, backend_id, name).await?;
            tracing::warn!(backend = %backend.clustername, instance = %name, "reconciler removed an orphan instance");
            true
        } else {
            false
        };
        drift.push(Drift {
            kind: "orphan",
            server_id: server_id(name),
            instance: name.clone(),
            detail: "in Ganeti, no live server in the database".into(),
            fixed,
        });
    }
    Ok(BackendDrift {
        backend_id,
        clustername: backend.clustername,
        drift,
    })
}

/// Writes `after` over `before` (CAS). False if the server changed meanwhile (next pass retries).
fn write(env: &JobEnv, before: &Server, after: &Server) -> Result<bool, StepError> {
    let mut batch = Batch::new();
    batch.update_server(before, after);
    match env.store.commit(&batch) {
        Ok(()) => Ok(true),
        Err(crate::store::StoreError::GenerationMismatch { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The record's user tags become Ganeti's, all ACTIVE (Synnefo simulates OP_TAGS_SET/DEL).
fn sync_tags(env: &JobEnv, before: &Server, tags: &BTreeSet<String>) -> Result<bool, StepError> {
    let mut after = before.clone();
    after.tags = tags
        .iter()
        .map(|t| (t.clone(), "ACTIVE".to_string()))
        .collect();
    write(env, before, &after)
}

/// The record follows Ganeti's boot device (the image is unknown when Ganeti rescued it alone).
fn sync_rescue(env: &JobEnv, before: &Server, rescue: bool) -> Result<bool, StepError> {
    let mut after = before.clone();
    after.rescue = rescue;
    if !rescue {
        after.rescue_image_id = None;
    }
    write(env, before, &after)
}

fn clear_task(env: &JobEnv, id: u64, job: u64) -> Result<bool, StepError> {
    let before = env.store.server_get(id)?;
    if before.active_job != Some(job) {
        return Ok(false);
    }
    let mut after = before.clone();
    after.active_job = None;
    after.task = None;
    let done = write(env, &before, &after)?;
    if done {
        tracing::info!(
            server = id,
            job,
            "reconciler cleared a task whose job is gone or finished"
        );
    }
    Ok(done)
}

fn mark_stale(env: &JobEnv, s: &Server) -> Result<bool, StepError> {
    // Named per server (a server is destroyed once): a retry after a lost race reuses it.
    release_server_quota(env, s, &format!("reconcile-{}-destroy", s.id))?;
    let mut after = destroyed(s);
    after.backend_log_msg =
        Some("Reconciliation: simulated Ganeti event (instance removed)".into());
    let mut batch = super::server_nics::release_ports(&env.store, s.id, &[])?;
    batch.extend(super::server_volumes::server_volumes_gone(
        env,
        s.id,
        &format!("reconcile-{}-destroy", s.id),
        &[],
    )?);
    batch.update_server(s, &after);
    let done = match env.store.commit(&batch) {
        Ok(()) => true,
        Err(crate::store::StoreError::GenerationMismatch { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    if done {
        tracing::warn!(
            server = s.id,
            "reconciler marked a server Ganeti no longer has as deleted"
        );
    }
    Ok(done)
}

fn sync_operstate(env: &JobEnv, s: &Server, state: &str) -> Result<bool, StepError> {
    let mut serial = None;
    if s.quota_charged {
        let flavor = env.store.flavor_get(s.flavor_id)?;
        let sign = if state == "STARTED" { 1 } else { -1 };
        let provisions = BTreeMap::from([
            ("cyclades.cpu".to_string(), sign * i64::from(flavor.cpu)),
            (
                "cyclades.ram".to_string(),
                sign * flavor.ram_mb as i64 * MIB,
            ),
        ]);
        let name = format!("reconcile-{}-g{}-{state}", s.id, s.generation);
        serial = Some(issue_named_commission(
            env,
            &name,
            &s.project_id,
            provisions,
            true,
        )?);
    }
    let mut after = s.clone();
    after.operstate = state.to_string();
    after.backend_log_msg = Some("Reconciliation: simulated Ganeti event".into());
    let done = write(env, s, &after)?;
    resolve(env, serial, done)?;
    if done {
        tracing::info!(server = s.id, from = %s.operstate, to = state, "reconciler synced operstate");
    }
    Ok(done)
}

fn sync_flavor(env: &JobEnv, s: &Server, flavor_id: u64) -> Result<bool, StepError> {
    let mut serial = None;
    if s.quota_charged {
        let old = env.store.flavor_get(s.flavor_id)?;
        let new = env.store.flavor_get(flavor_id)?;
        let d_cpu = i64::from(new.cpu) - i64::from(old.cpu);
        let d_ram = (new.ram_mb as i64 - old.ram_mb as i64) * MIB;
        let d_disk = (new.disk_gb as i64 - old.disk_gb as i64) * 1024 * MIB;
        let mut provisions = BTreeMap::from([
            ("cyclades.total_cpu".to_string(), d_cpu),
            ("cyclades.total_ram".to_string(), d_ram),
        ]);
        if d_disk != 0 {
            provisions.insert("cyclades.disk".into(), d_disk);
        }
        if s.operstate == "STARTED" {
            provisions.insert("cyclades.cpu".into(), d_cpu);
            provisions.insert("cyclades.ram".into(), d_ram);
        }
        let name = format!("reconcile-{}-g{}-flavor", s.id, s.generation);
        serial = Some(issue_named_commission(
            env,
            &name,
            &s.project_id,
            provisions,
            true,
        )?);
    }
    let mut after = s.clone();
    after.flavor_id = flavor_id;
    let done = write(env, s, &after)?;
    resolve(env, serial, done)?;
    Ok(done)
}

/// Accepts the repair's pending commission if its record change landed, else rejects it (a
/// concurrent writer won; the next pass looks again). A crash in between leaves it pending,
/// for `reconcile-commissions`.
fn resolve(env: &JobEnv, serial: Option<u64>, accept: bool) -> Result<(), StepError> {
    if let Some(serial) = serial {
        env.store.commission_resolve(serial, accept)?;
    }
    Ok(())
}

/// Commits a repair of a server's NICs or volumes (`what`); false if something changed
/// meanwhile (the next pass looks again). The server's generation moves with it, so cached
/// renderings of the server are redone.
pub(super) fn commit_repair(
    env: &JobEnv,
    server_id: u64,
    what: &str,
    mut batch: Batch,
) -> Result<bool, StepError> {
    let server = env.store.server_get(server_id)?;
    batch.update_server(&server, &server);
    match env.store.commit(&batch) {
        Ok(()) => {
            tracing::info!(
                server = server_id,
                "reconciler synced a server's {what} with Ganeti"
            );
            Ok(true)
        }
        Err(crate::store::StoreError::GenerationMismatch { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
