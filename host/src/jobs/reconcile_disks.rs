//! Disk drift of one server (spec §9.5, §12 J105, checklist G86 `--fix-unsynced-disks`): the
//! server's volumes against the disks of its Ganeti instance, named `snf-vol-<volume>`.
//!
//! - a volume whose disk Ganeti holds but whose status says otherwise (no job holds the
//!   server, so no attach or detach is under way): IN_USE, its data initialised;
//! - a volume (not the root one) whose disk Ganeti lacks: the disk and its data are gone, so
//!   the volume is DELETED and its size given back to its project;
//! - a disk whose size differs from its volume's: reported (the root disk's size is the
//!   flavor's, which `unsynced_flavor` follows);
//! - a root volume Ganeti lacks, or a disk with no volume (Synnefo adopts these; we leave them
//!   to an operator): reported only.
//!
//! Called by `reconcile_servers` for servers no job holds; writes go through compare-and-swap.

use serde_json::Value;

use super::quota_steps::release_volume_quota;
use super::reconcile::{Drift, commit_repair};
use super::{JobEnv, StepError};
use crate::store::{Batch, Server};

/// One disk as Ganeti reports it: its name (if any) and size in MiB.
fn ganeti_disks(instance: &Value) -> Vec<(Option<String>, Option<u64>)> {
    let count = instance["disk.sizes"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
        .max(instance["disk.names"].as_array().map(Vec::len).unwrap_or(0));
    (0..count)
        .map(|i| {
            (
                instance["disk.names"][i].as_str().map(str::to_string),
                instance["disk.sizes"][i].as_u64(),
            )
        })
        .collect()
}

/// Compares the volumes of `s` with `instance`; repairs when `fix`. Returns the drift found.
pub fn disk_drift(
    env: &JobEnv,
    s: &Server,
    instance: &Value,
    fix: bool,
) -> Result<Vec<Drift>, StepError> {
    let disks = ganeti_disks(instance);
    let volumes = env.store.volumes_of_server(s.id)?;
    let report = |detail: String, fixed: bool| Drift {
        kind: "unsynced_disks",
        server_id: Some(s.id),
        instance: s.instance_name(),
        detail,
        fixed,
    };
    let mut drift = Vec::new();
    for v in &volumes {
        let name = v.ganeti_name();
        let Some((_, size)) = disks
            .iter()
            .find(|(n, _)| n.as_deref() == Some(name.as_str()))
        else {
            if v.is_root() {
                drift.push(report(
                    format!(
                        "root volume {} in the database, no disk {name} in Ganeti",
                        v.id
                    ),
                    false,
                ));
                continue;
            }
            let fixed = fix && {
                let reason = format!("reconcile-{}-disk-gone", v.id);
                release_volume_quota(env, v, &reason)?;
                let mut batch = Batch::new();
                batch.update(&v.as_deleted());
                commit_repair(env, s.id, "volumes", batch)?
            };
            drift.push(report(
                format!(
                    "volume {} ({}) in the database, no disk {name} in Ganeti",
                    v.id, v.status
                ),
                fixed,
            ));
            continue;
        };
        if v.status != "IN_USE" || !v.initialised {
            let mut after = v.clone();
            after.status = "IN_USE".into();
            after.initialised = true;
            let mut batch = Batch::new();
            batch.update(&after);
            let fixed = fix && commit_repair(env, s.id, "volumes", batch)?;
            drift.push(report(
                format!(
                    "volume {} is {} in the database, {name} is in Ganeti",
                    v.id, v.status
                ),
                fixed,
            ));
        }
        if let Some(mib) = size
            && mib >> 10 != v.size_gb
            && !v.is_root()
        {
            drift.push(report(
                format!(
                    "volume {} is {} GiB in the database, {name} is {} MiB in Ganeti (left for an operator)",
                    v.id, v.size_gb, mib
                ),
                false,
            ));
        }
    }
    for (name, size) in &disks {
        let known = name
            .as_ref()
            .is_some_and(|n| volumes.iter().any(|v| &v.ganeti_name() == n));
        if !known {
            drift.push(report(
                format!(
                    "disk {} ({} MiB) in Ganeti, no volume of this server in the database (left for an operator)",
                    name.as_deref().unwrap_or("(unnamed)"),
                    size.map_or("?".to_string(), |s| s.to_string())
                ),
                false,
            ));
        }
    }
    Ok(drift)
}
