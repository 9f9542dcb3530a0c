//! The volumes of `server.create` (spec §2.3 `block_device_mapping_v2`, §9.5): the records it
//! writes (the root volume, sharing the server's id; new volumes; existing volumes it claims),
//! what becomes of them when the job succeeds or fails, and the two steps that attach existing
//! volumes once Ganeti has made the instance (Ganeti creates instances with new disks only):
//! `attach_volumes` (Ganeti 3.0 `attach` of a detached disk, or `add` of a volume that never
//! held data) and, before it (rule 5), `attach_volumes_undo`, whose undo detaches them again so
//! that removing the failed instance never takes a user's volume with it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::common::strings;
use super::outputs::{ALLOCATE_BACKEND, KEEP_VOLUMES, KeptVolumes, RENDER_GANETI_REQUEST};
use super::params::{ExtraVolume, ServerCreateParams};
use super::quota_steps::release_volume_quota;
use super::{StepCx, StepDone, StepError, StepFuture};
use crate::clock::Timestamp;
use crate::store::{Batch, Flavor, Server, Store, Volume};

/// The records `create_records` writes besides the server: the root volume, new volumes, and
/// the claim on existing ones (which must still be AVAILABLE and unattached).
pub(super) fn volume_records(
    store: &Store,
    p: &ServerCreateParams,
    server: &Server,
    flavor: &Flavor,
) -> Result<Batch, StepError> {
    let now = Timestamp::now();
    let root = Volume {
        id: server.id,
        name: String::new(),
        description: String::new(),
        user_id: server.user_id.clone(),
        project_id: server.project_id.clone(),
        shared_to_project: false,
        size_gb: flavor.disk_gb,
        volume_type_id: flavor.volume_type_id,
        disk_template: flavor.disk_template.clone(),
        delete_on_termination: true,
        source: Some(format!("image:{}", server.image_id)),
        status: "CREATING".into(),
        server_id: Some(server.id),
        index: Some(0),
        backend_id: server.backend_id,
        backend_job_id: None,
        initialised: false,
        // Charged with the server (`quota_charged` on the server record).
        quota_charged: false,
        metadata: BTreeMap::new(),
        created: now,
        updated: now,
        deleted: false,
        generation: 1,
    };
    let mut batch = Batch::new();
    for (i, extra) in p.extra_volumes.iter().enumerate() {
        let index = Some(i as u32 + 1);
        if extra.existing {
            let v = store.volume_get(extra.id)?;
            if v.status != "AVAILABLE" || v.server_id.is_some() || v.deleted {
                return Err(StepError::bad_request(format!(
                    "Volume {} is no longer available (it is {})",
                    v.id, v.status
                )));
            }
            let mut claimed = v.clone();
            claimed.delete_on_termination = extra.delete_on_termination;
            claimed.status = "ATTACHING".into();
            claimed.server_id = Some(server.id);
            claimed.index = index;
            batch.update(&claimed);
        } else {
            batch.insert(&Volume {
                id: extra.id,
                size_gb: extra.size_gb,
                delete_on_termination: extra.delete_on_termination,
                source: extra.image_id.as_ref().map(|i| format!("image:{i}")),
                index,
                ..root.clone()
            });
        }
    }
    batch.insert(&root);
    Ok(batch)
}

/// A server's volumes once its create job succeeded: IN_USE with data; those besides the root
/// volume are charged on their own from now on (new ones were in the server's commission,
/// existing ones were charged already).
pub(super) fn server_volumes_built(store: &Store, server_id: u64) -> Result<Batch, StepError> {
    let mut batch = Batch::new();
    for v in store.volumes_of_server(server_id)? {
        let mut after = v.clone();
        after.status = "IN_USE".into();
        after.initialised = true;
        after.quota_charged = !v.is_root();
        if after != v {
            batch.update(&after);
        }
    }
    Ok(batch)
}

/// A server's volumes after its create job failed: the ones it made go to ERROR (uncharged);
/// existing volumes it claimed are AVAILABLE again, unattached, as they were.
pub(super) fn server_volumes_failed(
    store: &Store,
    p: &ServerCreateParams,
) -> Result<Batch, StepError> {
    let mut batch = Batch::new();
    for v in store.volumes_of_server(p.server_id)? {
        let existing = p.extra_volumes.iter().any(|e| e.existing && e.id == v.id);
        let mut after = v.clone();
        if existing {
            after.status = "AVAILABLE".into();
            after.server_id = None;
            after.index = None;
        } else if v.status != "DELETED" {
            after.status = "ERROR".into();
        }
        if after != v {
            batch.update(&after);
        }
    }
    Ok(batch)
}

fn existing(p: &ServerCreateParams) -> impl Iterator<Item = &ExtraVolume> {
    p.extra_volumes.iter().filter(|e| e.existing)
}

/// Attaches the existing volumes to the new instance, each looked up first (rule 3).
pub(super) fn attach_volumes(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let backend = cx.expect(ALLOCATE_BACKEND)?.backend_id;
        let rapi = cx.env.rapi(backend)?;
        let name = crate::names::instance(p.server_id);
        let rendered = cx.expect(RENDER_GANETI_REQUEST)?.attach_disks;
        let mut jobs = Vec::new();
        for e in existing(&p) {
            let v = cx.env.store.volume_get(e.id)?;
            let instance = rapi.instance(&name).await?.ok_or_else(|| {
                StepError::conflict(format!("Ganeti lost instance {name} after creating it"))
            })?;
            if strings(&instance["disk.names"]).contains(&v.ganeti_name()) {
                continue;
            }
            let change = if v.initialised {
                json!(["attach", -1, {"name": v.ganeti_name()}])
            } else {
                json!(["add", -1, rendered.get(&e.id.to_string())])
            };
            let job = rapi
                .modify_instance(&name, json!({"disks": [change]}))
                .await?;
            rapi.wait_job(job, cx.env.settings.ganeti_job_timeout)
                .await?;
            jobs.push(job);
        }
        Ok(StepDone::output(json!({"jobs": jobs})))
    })
}

/// Undo of `attach_volumes`: lets Ganeti finish, then detaches every existing volume it holds
/// (Ganeti 3.0 `detach` works on running instances), so that removing the instance leaves
/// them; a volume that never held data records that Ganeti now keeps it.
pub(super) fn detach_volumes(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let Some(backend) = cx.read(ALLOCATE_BACKEND)?.map(|a| a.backend_id) else {
            return Ok(StepDone::default());
        };
        let rapi = cx.env.rapi(backend)?;
        let name = crate::names::instance(p.server_id);
        let mut batch = Batch::new();
        for e in existing(&p) {
            let Some(instance) = rapi.instance(&name).await? else {
                break;
            };
            let v = cx.env.store.volume_get(e.id)?;
            if !strings(&instance["disk.names"]).contains(&v.ganeti_name()) {
                continue;
            }
            let job = rapi
                .modify_instance(&name, json!({"disks": [["detach", v.ganeti_name(), {}]]}))
                .await?;
            rapi.wait_job(job, cx.env.settings.ganeti_job_timeout)
                .await?;
            if !v.initialised || v.backend_id != Some(backend) {
                let mut after = v.clone();
                after.initialised = true;
                after.backend_id = Some(backend);
                batch.update(&after);
            }
        }
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

/// The volumes of a server that outlive it (`delete_on_termination` false; never the root).
fn kept_volumes(store: &Store, server_id: u64) -> Result<Vec<Volume>, StepError> {
    Ok(store
        .volumes_of_server(server_id)?
        .into_iter()
        .filter(|v| !v.delete_on_termination && !v.is_root())
        .collect())
}

/// `server.destroy`'s `keep_volumes`: detaches the volumes that outlive the server, each looked
/// up first (rule 3). Records which they are for `finalize`.
pub(super) fn detach_kept(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: super::ServerActionParams = cx.params()?;
        let s = cx.env.store.server_get(p.server_id)?;
        let kept = kept_volumes(&cx.env.store, s.id)?;
        if let (Some(backend), false) = (s.backend_id, kept.is_empty()) {
            let rapi = cx.env.rapi(backend)?;
            let name = s.instance_name();
            for v in &kept {
                let Some(instance) = rapi.instance(&name).await? else {
                    break;
                };
                if !strings(&instance["disk.names"]).contains(&v.ganeti_name()) {
                    continue;
                }
                let body = json!({"disks": [["detach", v.ganeti_name(), {}]]});
                let job = rapi.modify_instance(&name, body).await?;
                rapi.wait_job(job, cx.env.settings.ganeti_job_timeout)
                    .await?;
            }
        }
        let ids: Vec<u64> = kept.iter().map(|v| v.id).collect();
        Ok(StepDone::recorded(KEEP_VOLUMES, &KeptVolumes { kept: ids }))
    })
}

/// Undo of `keep_volumes`: the destroy failed before the instance went, so the volumes it
/// detached are attached back.
pub(super) fn reattach_kept(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: super::ServerActionParams = cx.params()?;
        let s = cx.env.store.server_get(p.server_id)?;
        let Some(backend) = s.backend_id else {
            return Ok(StepDone::default());
        };
        let rapi = cx.env.rapi(backend)?;
        let name = s.instance_name();
        for v in kept_volumes(&cx.env.store, s.id)? {
            let Some(instance) = rapi.instance(&name).await? else {
                break;
            };
            if strings(&instance["disk.names"]).contains(&v.ganeti_name()) {
                continue;
            }
            let body = json!({"disks": [["attach", -1, {"name": v.ganeti_name()}]]});
            let job = rapi.modify_instance(&name, body).await?;
            rapi.wait_job(job, cx.env.settings.ganeti_job_timeout)
                .await?;
        }
        Ok(StepDone::default())
    })
}

/// What a server's removal does to its volumes (spec §9.5 "VM removal → DELETED"): every
/// attached volume is deleted and the sizes charged on their own are given back, one accepted
/// commission per volume named `<name>-vol-<id>`; the volumes in `kept` (detached before the
/// removal: `delete_on_termination` false) are AVAILABLE instead, still charged. Shared by
/// `server.destroy` and the reconciler.
pub(super) fn server_volumes_gone(
    env: &super::JobEnv,
    server_id: u64,
    name: &str,
    kept: &[u64],
) -> Result<Batch, StepError> {
    let mut batch = Batch::new();
    for v in env.store.volumes_of_server(server_id)? {
        if kept.contains(&v.id) {
            let mut after = v.clone();
            after.status = "AVAILABLE".into();
            after.server_id = None;
            after.index = None;
            after.initialised = true;
            batch.update(&after);
            continue;
        }
        release_volume_quota(env, &v, &format!("{name}-vol-{}", v.id))?;
        batch.update(&v.as_deleted());
    }
    Ok(batch)
}
