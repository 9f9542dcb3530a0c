//! Jobs on existing servers: `server.destroy` and the actions `server.start`, `server.stop`,
//! `server.reboot`, `server.resize`. Each holds the server's task lock (set at submission with
//! the job record) and releases it in `finalize`, or in the kind's `finally` when a step fails.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::common::{wait_ganeti, wait_or_gone};
use super::outputs::{
    GANETI_REMOVE, GANETI_SUBMIT, KEEP_VOLUMES, RESERVE_QUOTA, Reservation, Submitted,
};
use super::params::ServerActionParams;
use super::quota_steps::{
    accept_reserved, commission_name, issue_commission, reject_quota, release_server_quota,
};
use super::server_lock::{backend_id, destroyed, record_ganeti_job, release_lock};
use super::{JobKind, StepCx, StepDef, StepDone, StepError, StepFuture};
use crate::store::{Batch, Server};

const MIB: i64 = 1024 * 1024;

pub static SERVER_DESTROY: JobKind = JobKind {
    name: "server.destroy",
    steps: &[
        // A destroy submitted behind another job waits for it and takes the lock (rule 5:
        // re-running it is harmless; it holds nothing until it commits the lock).
        StepDef {
            name: "take_lock",
            run: take_lock,
            undo: None,
            remote: false,
            checkpoint: false,
        },
        // Volumes with `delete_on_termination` false outlive their server: detached first
        // (Ganeti 3.0 `detach`), attached back if the destroy fails before the removal (rule 5).
        StepDef {
            name: "keep_volumes_undo",
            run: super::common::nothing,
            undo: Some(super::server_volumes::reattach_kept),
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "keep_volumes",
            run: super::server_volumes::detach_kept,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "ganeti_remove",
            run: ganeti_remove,
            undo: None,
            remote: true,
            checkpoint: true,
        },
        StepDef {
            name: "wait_ganeti_job",
            run: wait_remove,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "release_quota",
            run: release_quota,
            undo: None,
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "finalize",
            run: finalize_destroy,
            undo: None,
            remote: false,
            checkpoint: false,
        },
    ],
    finally: Some(release_lock),
    // Once Ganeti has removed the instance there is nothing to go back to.
    pivot: Some("wait_ganeti_job"),
};

const ACTION_STEPS: &[StepDef] = &[
    StepDef {
        name: "reserve_quota",
        run: action_quota,
        undo: Some(reject_quota),
        remote: false,
        checkpoint: true,
    },
    StepDef {
        name: "ganeti_submit",
        run: ganeti_submit,
        undo: None,
        remote: true,
        checkpoint: false,
    },
    StepDef {
        name: "wait_ganeti_job",
        run: wait_action,
        undo: None,
        remote: true,
        checkpoint: false,
    },
    StepDef {
        name: "finalize",
        run: finalize_action,
        undo: None,
        remote: false,
        checkpoint: false,
    },
];

pub static SERVER_ACTIONS: [JobKind; 6] = [
    JobKind {
        name: "server.start",
        steps: ACTION_STEPS,
        finally: Some(release_lock),
        pivot: None,
    },
    JobKind {
        name: "server.stop",
        steps: ACTION_STEPS,
        finally: Some(release_lock),
        pivot: None,
    },
    JobKind {
        name: "server.reboot",
        steps: ACTION_STEPS,
        finally: Some(release_lock),
        pivot: None,
    },
    JobKind {
        name: "server.resize",
        steps: ACTION_STEPS,
        finally: Some(release_lock),
        pivot: None,
    },
    JobKind {
        name: "server.rescue",
        steps: ACTION_STEPS,
        finally: Some(release_lock),
        pivot: None,
    },
    JobKind {
        name: "server.unrescue",
        steps: ACTION_STEPS,
        finally: Some(release_lock),
        pivot: None,
    },
];

pub(super) fn server(cx: &StepCx) -> Result<(ServerActionParams, Server), StepError> {
    let p: ServerActionParams = cx.params()?;
    let s = cx.env.store.server_get(p.server_id)?;
    Ok((p, s))
}

// ----- destroy -----

/// How often a queued destroy looks whether the job ahead of it is done.
const LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Synnefo exempts DESTROY from the task lock (spec §9.2): a destroy submitted while another
/// job holds the lock (`Server::destroy_job`) outlasts it, waiting here until that job has
/// finished (succeeded or undone) and then holding the lock itself, so the two never act on
/// the instance at once. A destroy submitted with the lock passes straight through.
fn take_lock(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        loop {
            let (_, before) = server(cx)?;
            if before.active_job == Some(cx.job.id) {
                return Ok(StepDone::default());
            }
            if before.task.is_none() {
                let mut after = before.clone();
                after.task = Some("DESTROY".into());
                after.active_job = Some(cx.job.id);
                after.action = "DESTROY".into();
                after.destroy_job = None;
                let mut batch = Batch::new();
                batch.update_server(&before, &after);
                return Ok(StepDone::with_batch(Value::Null, batch));
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    })
}

fn ganeti_remove(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, s) = server(cx)?;
        let job = match s.backend_id {
            None => None,
            Some(b) => {
                let rapi = cx.env.rapi(b)?;
                if rapi.instance(&s.instance_name()).await?.is_none() {
                    None
                } else {
                    match rapi.delete_instance(&s.instance_name()).await {
                        Ok(job) => Some(job),
                        Err(crate::backend::rapi::BackendError::NotFound { .. }) => None,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        };
        Ok(StepDone::recorded_with(
            GANETI_REMOVE,
            &Submitted { job },
            record_ganeti_job(&s, job, "OP_INSTANCE_REMOVE"),
        ))
    })
}

fn wait_remove(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, s) = server(cx)?;
        let Some(b) = s.backend_id else {
            return Ok(StepDone::default());
        };
        // Spec §9.1: a failed remove of an instance Ganeti no longer has is a success.
        let gone = async || {
            Ok(cx
                .env
                .rapi(b)?
                .instance(&s.instance_name())
                .await?
                .is_none())
        };
        let waited = wait_or_gone(cx, b, cx.expect(GANETI_REMOVE)?, gone).await?;
        Ok(StepDone::logged(&waited))
    })
}

fn release_quota(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, s) = server(cx)?;
        let serial = release_server_quota(&cx.env, &s, &commission_name(cx))?;
        Ok(StepDone::output(json!({"serial": serial})))
    })
}

fn finalize_destroy(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, before) = server(cx)?;
        let mut after = destroyed(&before);
        after.backend_job_status = Some("success".into());
        // Its ports go with it: addresses back to the pools, floating IPs to their owners.
        let mut batch = super::server_nics::release_ports(&cx.env.store, before.id, &[])?;
        let kept = cx.read(KEEP_VOLUMES)?.unwrap_or_default().kept;
        batch.extend(super::server_volumes::server_volumes_gone(
            &cx.env,
            before.id,
            &commission_name(cx),
            &kept,
        )?);
        batch.update_server(&before, &after);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

// ----- start, stop, reboot, resize -----

/// Provisions of a commission and whether it skips the limit check (releases do).
type Charge = (BTreeMap<String, i64>, bool);

/// Commission of an action (spec §16.2), or `None` when it charges nothing.
fn action_provisions(
    cx: &StepCx,
    p: &ServerActionParams,
    s: &Server,
) -> Result<Option<Charge>, StepError> {
    let flavor = cx.env.store.flavor_get(s.flavor_id)?;
    let cpu = i64::from(flavor.cpu);
    let ram = flavor.ram_mb as i64 * MIB;
    let active = |sign: i64| {
        BTreeMap::from([
            ("cyclades.cpu".to_string(), sign * cpu),
            ("cyclades.ram".to_string(), sign * ram),
        ])
    };
    Ok(match p.action.as_str() {
        "START" | "REBOOT" if s.operstate == "STOPPED" => Some((active(1), false)),
        "STOP" if matches!(s.operstate.as_str(), "STARTED" | "BUILD" | "ERROR") => {
            Some((active(-1), true))
        }
        "RESIZE" => {
            let target = cx
                .env
                .store
                .flavor_get(p.flavor_id.unwrap_or(s.flavor_id))?;
            let d_cpu = i64::from(target.cpu) - cpu;
            let d_ram = target.ram_mb as i64 * MIB - ram;
            let growing = d_cpu > 0 || d_ram > 0;
            Some((
                BTreeMap::from([
                    ("cyclades.total_cpu".to_string(), d_cpu),
                    ("cyclades.total_ram".to_string(), d_ram),
                ]),
                !growing,
            ))
        }
        _ => None,
    })
}

fn action_quota(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = server(cx)?;
        if !s.quota_charged {
            return Ok(StepDone::recorded(RESERVE_QUOTA, &Reservation::default()));
        }
        let serial = match action_provisions(cx, &p, &s)? {
            Some((provisions, force)) => {
                Some(issue_commission(cx, &s.project_id, provisions, force)?)
            }
            None => None,
        };
        Ok(StepDone::recorded(RESERVE_QUOTA, &Reservation { serial }))
    })
}

fn ganeti_submit(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, s) = server(cx)?;
        let rapi = cx.env.rapi(backend_id(&s)?)?;
        let name = s.instance_name();
        let (job, opcode) = match p.action.as_str() {
            "START" => (rapi.startup(&name).await?, "OP_INSTANCE_STARTUP"),
            "STOP" => (rapi.shutdown(&name, None).await?, "OP_INSTANCE_SHUTDOWN"),
            "REBOOT" => (rapi.reboot(&name, p.hard).await?, "OP_INSTANCE_REBOOT"),
            "RESIZE" => {
                let f = cx
                    .env
                    .store
                    .flavor_get(p.flavor_id.unwrap_or(s.flavor_id))?;
                let body =
                    json!({"beparams": {"vcpus": f.cpu, "minmem": f.ram_mb, "maxmem": f.ram_mb}});
                (
                    rapi.modify_instance(&name, body).await?,
                    "OP_INSTANCE_SET_PARAMS",
                )
            }
            // Spec §10.2: boot from the rescue CD-ROM, and back from the disk.
            "RESCUE" => {
                let path = p.rescue_path.as_deref().ok_or_else(|| {
                    StepError::internal("RESCUE without a recorded rescue path".to_string())
                })?;
                let body = json!({"hvparams": {"boot_order": "cdrom", "cdrom_image_path": path}});
                (
                    rapi.modify_instance(&name, body).await?,
                    "OP_INSTANCE_SET_PARAMS",
                )
            }
            "UNRESCUE" => {
                let body = json!({"hvparams": {"cdrom_image_path": "", "boot_order": "disk"}});
                (
                    rapi.modify_instance(&name, body).await?,
                    "OP_INSTANCE_SET_PARAMS",
                )
            }
            other => {
                return Err(StepError::internal(format!(
                    "unknown server action {other}"
                )));
            }
        };
        Ok(StepDone::recorded_with(
            GANETI_SUBMIT,
            &Submitted { job: Some(job) },
            record_ganeti_job(&s, Some(job), opcode),
        ))
    })
}

fn wait_action(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (_, s) = server(cx)?;
        let finished = wait_ganeti(cx, backend_id(&s)?, cx.expect(GANETI_SUBMIT)?).await?;
        Ok(StepDone::logged(&finished))
    })
}

fn finalize_action(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let (p, before) = server(cx)?;
        accept_reserved(cx)?;
        let mut after = before.clone();
        match p.action.as_str() {
            "START" | "REBOOT" => after.operstate = "STARTED".into(),
            "STOP" => after.operstate = "STOPPED".into(),
            "RESIZE" => after.flavor_id = p.flavor_id.unwrap_or(after.flavor_id),
            "RESCUE" => {
                after.rescue = true;
                after.rescue_image_id = p.rescue_image_id;
            }
            "UNRESCUE" => {
                after.rescue = false;
                after.rescue_image_id = None;
            }
            _ => {}
        }
        if after.active_job == Some(cx.job.id) {
            after.active_job = None;
            after.task = None;
        }
        after.backend_job_status = Some("success".into());
        let mut batch = Batch::new();
        batch.update_server(&before, &after);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}
