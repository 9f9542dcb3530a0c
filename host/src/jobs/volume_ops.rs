//! Volumes of existing servers (spec §5, §9.5, §10.2 disk add/remove, Synnefo's
//! `server_attachments`):
//!
//! - `volume.attach` adds disk `snf-vol-<id>` to the server (a new volume is charged to
//!   `cyclades.disk` here; a volume with data is a detached disk Ganeti attaches again);
//! - `volume.detach` detaches the disk (Ganeti 3.0 `detach`: Ganeti keeps it and its data);
//! - `volume.delete` removes the disk and its data, and gives the size back;
//! - `volume.purge` deletes a detached volume with data: Ganeti can only delete a disk of an
//!   instance, so it attaches the volume to a helper server and removes it there.
//!
//! Each holds the server's task lock from submission (ATTACH_VOLUME, DETACH_VOLUME,
//! DELETE_VOLUME) and releases it in `finalize`, or in `release_lock` when a step fails. The
//! first step claims the volume (status, server, index) in a local step whose undo puts it back,
//! so a failed job leaves the volume as it found it (a new volume: ERROR, uncharged).
//! Remote steps look the instance's disks up first (rule 3).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::common::{nothing, params_map, strings, wait_or_gone, wait_then_verify, with_hotplug};
use super::outputs::{
    CLAIM_VOLUME, ClaimedVolume, GANETI_DISK_ADD, GANETI_DISK_REMOVE, RENDER_DISK, RESERVE_QUOTA,
    RenderedDisk, Reservation,
};
use super::params::VolumeJobParams;
use super::quota_steps::{
    accept_reserved, commission_name, issue_commission, reject_quota, release_volume_quota,
};
use super::server_lock::{backend_id, modify_submitted, release_lock, unlock};
use super::{JobKind, StepCx, StepDef, StepDone, StepError, StepFuture};
use crate::resources::GIB;
use crate::store::{Batch, Server, Store, StoreError, Volume};

const fn step(name: &'static str, run: super::StepFn, undo: Option<super::StepFn>) -> StepDef {
    StepDef {
        name,
        run,
        undo,
        remote: false,
        checkpoint: false,
    }
}

const fn remote(name: &'static str, run: super::StepFn) -> StepDef {
    StepDef {
        name,
        run,
        undo: None,
        remote: true,
        checkpoint: false,
    }
}

/// The first step of every volume job: claims the volume; the API answers once it is done.
const CLAIM: StepDef = StepDef {
    name: "claim_volume",
    run: claim_volume,
    undo: Some(unclaim_volume),
    remote: false,
    checkpoint: true,
};

pub static VOLUME_ATTACH: JobKind = JobKind {
    name: "volume.attach",
    steps: &[
        CLAIM,
        step("reserve_quota", reserve_quota, Some(reject_quota)),
        step("render_disk", render_disk, None),
        // Rule 5: the disk's removal is in place before the disk is asked for.
        step("ganeti_disk_add_undo", nothing, Some(remove_added_disk)),
        remote("ganeti_disk_add", ganeti_disk_add),
        remote("wait_ganeti_job", wait_disk_add),
        step("finalize", finalize_attach, None),
    ],
    finally: Some(release_volume),
    pivot: None,
};

pub static VOLUME_DETACH: JobKind = JobKind {
    name: "volume.detach",
    steps: &[
        CLAIM,
        remote("ganeti_disk_remove", ganeti_disk_remove),
        remote("wait_ganeti_job", wait_disk_remove),
        step("finalize", finalize_detach, None),
    ],
    finally: Some(release_lock),
    // Once Ganeti has let the disk go, the volume is detached.
    pivot: Some("wait_ganeti_job"),
};

pub static VOLUME_DELETE: JobKind = JobKind {
    name: "volume.delete",
    steps: &[
        CLAIM,
        remote("ganeti_disk_remove", ganeti_disk_remove),
        remote("wait_ganeti_job", wait_disk_remove),
        step("release_quota", release_quota, None),
        step("finalize", finalize_delete, None),
    ],
    finally: Some(release_lock),
    // Once Ganeti has removed the disk, its data is gone.
    pivot: Some("wait_ganeti_job"),
};

pub static VOLUME_PURGE: JobKind = JobKind {
    name: "volume.purge",
    steps: &[
        CLAIM,
        step("render_disk", render_disk, None),
        step("ganeti_disk_add_undo", nothing, Some(remove_added_disk)),
        remote("ganeti_disk_add", ganeti_disk_add),
        remote("wait_ganeti_add", wait_disk_add),
        remote("ganeti_disk_remove", ganeti_disk_remove),
        remote("wait_ganeti_job", wait_disk_remove),
        step("release_quota", release_quota, None),
        step("finalize", finalize_delete, None),
    ],
    finally: Some(release_lock),
    pivot: Some("wait_ganeti_job"),
};

/// `finally` of a failed attach: the server's lock goes (`release_lock`), and a volume made
/// for this server that the job never claimed (its first step failed) goes to ERROR.
fn release_volume(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let mut done = release_lock(cx).await?;
        let (p, _, v) = load(cx)?;
        if p.charge && v.status == "CREATING" && v.server_id.is_none() {
            let mut after = v.clone();
            after.status = "ERROR".into();
            done.batch.update(&after);
        }
        Ok(done)
    })
}

fn load(cx: &StepCx) -> Result<(VolumeJobParams, Server, Volume), StepError> {
    let p: VolumeJobParams = cx.params()?;
    let s = cx.env.store.server_get(p.server_id)?;
    let v = cx.env.store.volume_get(p.volume_id)?;
    Ok((p, s, v))
}

/// The status a volume shows while `kind` runs on it.
fn working_status(kind: &str, v: &Volume) -> &'static str {
    match kind {
        "volume.attach" if v.status == "CREATING" => "CREATING",
        "volume.attach" => "ATTACHING",
        "volume.detach" => "DETACHING",
        _ => "DELETING",
    }
}

/// The next disk index of a server (Ganeti appends: the disk count).
fn next_index(store: &Store, server_id: u64) -> Result<u32, StoreError> {
    Ok(store
        .volumes_of_server(server_id)?
        .iter()
        .filter_map(|v| v.index)
        .max()
        .map_or(0, |i| i + 1))
}

fn claim_volume(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, s, v) = load(cx)?;
        let attaching = matches!(cx.job.kind.as_str(), "volume.attach" | "volume.purge");
        let mut after = v.clone();
        if attaching {
            if let Some(other) = v.server_id.filter(|o| *o != s.id) {
                return Err(StepError::conflict(format!(
                    "Volume {} is attached to server {other}",
                    v.id
                )));
            }
            if v.server_id.is_none() {
                after.server_id = Some(s.id);
                after.index = Some(next_index(&cx.env.store, s.id)?);
            }
        } else if v.server_id != Some(s.id) {
            return Err(StepError::bad_request(format!(
                "Volume '{}' is not attached to server '{}'",
                v.id, s.id
            )));
        }
        after.status = working_status(&cx.job.kind, &v).into();
        let mut batch = Batch::new();
        if after != v {
            batch.update(&after);
        }
        // The server's generation moves with its volumes (cached renderings list them).
        batch.update_server(&s, &s);
        let found = ClaimedVolume {
            status: Some(v.status.clone()),
            server_id: v.server_id,
            index: v.index,
        };
        Ok(StepDone::recorded_with(CLAIM_VOLUME, &found, batch))
    })
}

/// Undo of `claim_volume`: the volume as the job found it; a volume created for the server
/// (never attached) is left in ERROR, unattached.
fn unclaim_volume(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s, v) = load(cx)?;
        let found = cx.read(CLAIM_VOLUME)?.unwrap_or_default();
        let mut after = v.clone();
        if p.charge {
            after.status = "ERROR".into();
            after.server_id = None;
            after.index = None;
        } else {
            after.status = found.status.unwrap_or_else(|| "AVAILABLE".into());
            after.server_id = found.server_id;
            after.index = found.index;
        }
        let mut batch = Batch::new();
        if after != v {
            batch.update(&after);
            batch.update_server(&s, &s);
        }
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn reserve_quota(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, _, v) = load(cx)?;
        if !p.charge {
            return Ok(StepDone::default());
        }
        let provisions = BTreeMap::from([("cyclades.disk".to_string(), v.size_gb as i64 * GIB)]);
        let serial = issue_commission(cx, &v.project_id, provisions, false)?;
        Ok(StepDone::recorded(
            RESERVE_QUOTA,
            &Reservation {
                serial: Some(serial),
            },
        ))
    })
}

/// The volume's Ganeti disk parameters from the disk-template plugin (recorded, rule 6).
fn render_disk(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, _, v) = load(cx)?;
        let vt = cx.env.store.volume_type_get(v.volume_type_id)?;
        let driver = cx.env.plugins.disk_template(&v.disk_template)?;
        let caps = driver
            .disk_capabilities()
            .cloned()
            .ok_or_else(|| StepError::internal("disk template plugin without capabilities"))?;
        // A volume from an image is a clone of it (clone-capable templates only).
        let origin = match v.source.as_deref().and_then(|s| s.strip_prefix("image:")) {
            Some(image) if caps.clone => Some(cx.env.store.image_get(image)?.location),
            _ => None,
        };
        let volume = crate::plugins::Volume {
            name: v.ganeti_name(),
            size_gb: u32::try_from(v.size_gb).unwrap_or(u32::MAX),
            origin_size_mb: origin.is_some().then_some(v.size_gb * 1024),
            origin,
            specs: vt.specs.into_iter().collect(),
        };
        let rendered = tokio::task::spawn_blocking(move || driver.render_disks(&[volume]))
            .await
            .map_err(|e| StepError::internal(format!("disk template task: {e}")))??;
        let disk = rendered
            .disks
            .first()
            .map(|d| params_map(d))
            .ok_or_else(|| StepError::internal("disk template rendered no disk"))?;
        Ok(StepDone::recorded(RENDER_DISK, &RenderedDisk { disk }))
    })
}

/// Whether the server's instance has disk `disk` (an instance Ganeti lost is an error).
async fn has_disk(cx: &StepCx, s: &Server, disk: &str) -> Result<bool, StepError> {
    let rapi = cx.env.rapi(backend_id(s)?)?;
    let instance = rapi.instance(&s.instance_name()).await?.ok_or_else(|| {
        StepError::conflict(format!(
            "Server {} has no instance {} in Ganeti",
            s.id,
            s.instance_name()
        ))
    })?;
    Ok(strings(&instance["disk.names"]).iter().any(|n| n == disk))
}

/// Undo of `ganeti_disk_add`: lets a submitted add finish (so it cannot land afterwards), then
/// takes the disk off again, keeping its data unless the volume was blank before this job.
fn remove_added_disk(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s, v) = load(cx)?;
        let rapi = cx.env.rapi(backend_id(&s)?)?;
        let timeout = cx.env.settings.ganeti_job_timeout;
        if let Some(job) = cx.read(GANETI_DISK_ADD)?.and_then(|s| s.job) {
            // Its outcome does not matter: only whether the disk is there afterwards.
            let _ = rapi.wait_job(job, timeout).await;
        }
        let Some(instance) = rapi.instance(&s.instance_name()).await? else {
            return Ok(StepDone::default());
        };
        if !strings(&instance["disk.names"]).contains(&v.ganeti_name()) {
            return Ok(StepDone::default());
        }
        // A volume with data goes back to being detached. A new one is removed, unless Ganeti
        // cannot remove disks of this instance now (running, no hot-plug): then it is detached
        // too, and the volume records that its (empty) data exists, so that its deletion goes
        // through a helper server.
        let removable = s.operstate == "STOPPED" || p.hotplug;
        let action = if v.initialised || !removable {
            "detach"
        } else {
            "remove"
        };
        let body = json!({"disks": [[action, v.ganeti_name(), {}]]});
        let job = rapi
            .modify_instance(&s.instance_name(), with_hotplug(body, p.hotplug))
            .await?;
        rapi.wait_job(job, timeout).await?;
        let mut batch = Batch::new();
        if action == "detach" && !v.initialised {
            let mut after = v.clone();
            after.initialised = true;
            after.backend_id = s.backend_id;
            batch.update(&after);
        }
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn ganeti_disk_add(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s, v) = load(cx)?;
        let job = if has_disk(cx, &s, &v.ganeti_name()).await? {
            None
        } else {
            // A volume with data is a detached disk Ganeti keeps (Ganeti 3.0 `attach`); a new
            // one is made from the disk-template plugin's parameters.
            let body = if v.initialised {
                json!({"disks": [["attach", -1, {"name": v.ganeti_name()}]]})
            } else {
                json!({"disks": [["add", -1, cx.expect(RENDER_DISK)?.disk]]})
            };
            let rapi = cx.env.rapi(backend_id(&s)?)?;
            Some(
                rapi.modify_instance(&s.instance_name(), with_hotplug(body, p.hotplug))
                    .await?,
            )
        };
        Ok(modify_submitted(GANETI_DISK_ADD, &s, job))
    })
}

fn wait_disk_add(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, s, v) = load(cx)?;
        let present = async || has_disk(cx, &s, &v.ganeti_name()).await;
        let missing = || {
            StepError::conflict(format!(
                "Ganeti did not add disk {} to {}",
                v.ganeti_name(),
                s.instance_name()
            ))
        };
        let submitted = cx.expect(GANETI_DISK_ADD)?;
        let waited = wait_then_verify(cx, backend_id(&s)?, submitted, present, missing).await?;
        Ok(StepDone::logged(&waited))
    })
}

fn finalize_attach(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, before, v) = load(cx)?;
        accept_reserved(cx)?;
        let mut after = v.clone();
        after.status = "IN_USE".into();
        after.backend_id = before.backend_id;
        after.initialised = true;
        if let Some(job) = cx.read(GANETI_DISK_ADD)?.and_then(|s| s.job) {
            after.backend_job_id = Some(job);
        }
        if cx.read(RESERVE_QUOTA)?.is_some_and(|r| r.serial.is_some()) {
            after.quota_charged = true;
        }
        let mut batch = Batch::new();
        batch.update(&after);
        batch.update_server(&before, &unlock(cx, &before));
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn ganeti_disk_remove(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s, v) = load(cx)?;
        if v.is_root() {
            return Err(StepError::bad_request(format!(
                "Cannot remove the root volume of server {}",
                s.id
            )));
        }
        let job = if has_disk(cx, &s, &v.ganeti_name()).await? {
            // Detach keeps the disk in Ganeti (Ganeti 3.0 `detach`); delete removes it.
            let action = if cx.job.kind == "volume.detach" {
                "detach"
            } else {
                "remove"
            };
            let body = json!({"disks": [[action, v.ganeti_name(), {}]]});
            let rapi = cx.env.rapi(backend_id(&s)?)?;
            Some(
                rapi.modify_instance(&s.instance_name(), with_hotplug(body, p.hotplug))
                    .await?,
            )
        } else {
            None
        };
        Ok(modify_submitted(GANETI_DISK_REMOVE, &s, job))
    })
}

fn wait_disk_remove(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, s, v) = load(cx)?;
        let gone = async || Ok(!has_disk(cx, &s, &v.ganeti_name()).await?);
        let submitted = cx.expect(GANETI_DISK_REMOVE)?;
        let waited = wait_or_gone(cx, backend_id(&s)?, submitted, gone).await?;
        Ok(StepDone::logged(&waited))
    })
}

fn finalize_detach(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, before, v) = load(cx)?;
        let mut after = v.clone();
        after.status = "AVAILABLE".into();
        after.server_id = None;
        after.index = None;
        after.backend_id = before.backend_id;
        if let Some(job) = cx.read(GANETI_DISK_REMOVE)?.and_then(|s| s.job) {
            after.backend_job_id = Some(job);
        }
        let mut batch = Batch::new();
        batch.update(&after);
        batch.update_server(&before, &unlock(cx, &before));
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn release_quota(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, _, v) = load(cx)?;
        let serial = release_volume_quota(&cx.env, &v, &commission_name(cx))?;
        Ok(StepDone::output(json!({"serial": serial})))
    })
}

fn finalize_delete(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, before, v) = load(cx)?;
        let mut batch = Batch::new();
        batch.update(&v.as_deleted());
        batch.update_server(&before, &unlock(cx, &before));
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}
