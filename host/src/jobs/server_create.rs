//! `server.create`: allocate a backend, charge quota, record the server, render its disks with
//! the disk-template plugin, create `snf-<id>` on Ganeti, wait, and mark it ACTIVE.
//!
//! Ports: `allocate_ports` records the planned ports (addresses taken) with the server, and
//! `ensure_networks` puts their networks on the chosen backend before the create (see
//! `server_nics`). A server with no ports gets one NIC on the backend's default link, as
//! Ganeti's default instance policy wants 1–8 NICs.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::common::{allocator_view, ensure_instance_removed, nothing, params_map, template_flag};
use super::outputs::{
    ALLOCATE_BACKEND, Allocation, CREATE_WAITED, Candidate, Charge, FinishedJob, GANETI_CREATE,
    InstanceNics, RENDER_GANETI_REQUEST, RESERVE_QUOTA, RecordedPin, RenderedRequest, Reservation,
    Submitted, Waited,
};
use super::params::ServerCreateParams;
use super::quota_steps::{accept_reserved, issue_commission, reject_quota};
use super::server_nics::{allocate_ports, ensure_networks, nic_json, ports_active, release_ports};
use super::server_volumes::{
    attach_volumes, detach_volumes, server_volumes_built, server_volumes_failed, volume_records,
};
use super::{JobKind, StepCx, StepDef, StepDone, StepError, StepFuture};
use crate::backend::rapi::BackendError;
use crate::clock::Timestamp;
use crate::plugins::{PluginPin, Verdict, VmRequest, Volume};
use crate::store::{Batch, Deleted, Diagnostic, Server};

pub static SERVER_CREATE: JobKind = JobKind {
    name: "server.create",
    steps: &[
        StepDef {
            name: "allocate_backend",
            run: allocate_backend,
            undo: Some(release_backend),
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "reserve_quota",
            run: reserve_quota,
            undo: Some(reject_quota),
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "create_records",
            run: create_records,
            undo: Some(mark_error),
            remote: false,
            checkpoint: true,
        },
        StepDef {
            name: "allocate_ports",
            run: allocate_ports_step,
            undo: Some(release_ports_step),
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "ensure_networks",
            run: ensure_networks_step,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "render_ganeti_request",
            run: render_request,
            undo: None,
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "ganeti_create_undo",
            run: nothing,
            undo: Some(remove_instance),
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "ganeti_create",
            run: ganeti_create,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "wait_ganeti_job",
            run: wait_create,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        // Existing volumes (`block_device_mapping_v2` `volume` sources) once the instance
        // exists; the undo detaches them before the instance's removal (rule 5).
        StepDef {
            name: "attach_volumes_undo",
            run: nothing,
            undo: Some(detach_volumes),
            remote: false,
            checkpoint: false,
        },
        StepDef {
            name: "attach_volumes",
            run: attach_volumes,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "finalize",
            run: finalize,
            undo: None,
            remote: false,
            checkpoint: false,
        },
    ],
    finally: None,
    pivot: None,
};

const MIB: i64 = 1024 * 1024;

fn backend_of(cx: &StepCx) -> Result<u64, StepError> {
    Ok(cx.expect(ALLOCATE_BACKEND)?.backend_id)
}

fn allocate_backend(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let store = &cx.env.store;
        let flavor = store.flavor_get(p.flavor_id)?;
        let driver = cx.env.plugins.disk_template(&flavor.disk_template)?;
        let factor = driver
            .disk_capabilities()
            .map(|c| c.disk_factor)
            .unwrap_or(1);
        let disk_mb = flavor.disk_gb * 1024 * u64::from(factor);
        let (backend, mut allocation) = match p.backend_id {
            Some(id) => {
                let b = store.backend_get(id)?;
                if b.deleted || b.offline {
                    return Err(StepError::unavailable(format!(
                        "Backend {id} is not available (deleted or offline)"
                    )));
                }
                let forced = Allocation {
                    backend_id: id,
                    forced: true,
                    ..Allocation::default()
                };
                (b, forced)
            }
            None => {
                let dedicated: Vec<u64> = store
                    .project_backend_list(Some(&p.project_id))?
                    .into_iter()
                    .map(|(_, b)| b)
                    .collect();
                let live = store.backend_list(Deleted::Exclude)?;
                let table: Vec<_> = live
                    .iter()
                    .filter_map(|b| allocator_view(b, dedicated.contains(&b.id)))
                    .collect();
                let template = template_flag(&flavor.disk_template).ok_or_else(|| {
                    StepError::bad_request(format!(
                        "Unknown disk template '{}'",
                        flavor.disk_template
                    ))
                })?;
                let request = VmRequest {
                    ram_mb: flavor.ram_mb,
                    disk_mb,
                    vcpus: flavor.cpu,
                    template,
                    project_has_dedicated: !dedicated.is_empty(),
                };
                let plugins = cx.env.plugins.clone();
                let outcome =
                    tokio::task::spawn_blocking(move || plugins.allocate(&table, &request))
                        .await
                        .map_err(|e| StepError::internal(format!("allocator task: {e}")))??;
                let Some(chosen) = outcome.allocation.chosen else {
                    return Err(StepError::unavailable("No available backends"));
                };
                let b = live
                    .into_iter()
                    .find(|b| b.id == u64::from(chosen))
                    .ok_or_else(|| StepError::internal("allocator chose an unknown backend"))?;
                let candidates = outcome
                    .allocation
                    .candidates
                    .iter()
                    .map(|c| {
                        let (score, rejected) = match &c.verdict {
                            Verdict::Score(s) => (Some(*s), None),
                            Verdict::Rejected(r) => (None, Some(format!("{r:?}").to_lowercase())),
                        };
                        Candidate {
                            backend_id: u64::from(c.backend_id),
                            score,
                            rejected,
                        }
                    })
                    .collect();
                let chosen = Allocation {
                    backend_id: u64::from(chosen),
                    plugin: Some(RecordedPin::from(&outcome.plugin)),
                    candidates: Some(candidates),
                    capacity_fallback: Some(outcome.allocation.capacity_fallback),
                    ..Allocation::default()
                };
                (b, chosen)
            }
        };
        // Charge the backend optimistically so that back-to-back allocations see it (Synnefo):
        // every figure an allocator reads, so memory, disk and the instance count.
        let mut charged = backend.clone();
        charged.resources.mfree = charged.resources.mfree.saturating_sub(flavor.ram_mb);
        charged.resources.dfree = charged.resources.dfree.saturating_sub(disk_mb);
        charged.resources.pinst_cnt += 1;
        let mut batch = Batch::new();
        batch.update_backend(&charged_from(&backend, &charged));
        allocation.charge = Charge {
            mem_mb: flavor.ram_mb,
            disk_mb,
            instances: 1,
        };
        Ok(StepDone::recorded_with(
            ALLOCATE_BACKEND,
            &allocation,
            batch,
        ))
    })
}

/// `charged` with the generation of `read` (what `Batch::update_backend` expects).
fn charged_from(
    read: &crate::store::Backend,
    charged: &crate::store::Backend,
) -> crate::store::Backend {
    crate::store::Backend {
        generation: read.generation,
        ..charged.clone()
    }
}

fn release_backend(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let allocation = cx.expect(ALLOCATE_BACKEND)?;
        let charge = allocation.charge;
        let b = cx.env.store.backend_get(allocation.backend_id)?;
        let mut released = b.clone();
        let r = &mut released.resources;
        r.mfree = (r.mfree + charge.mem_mb).min(r.mtotal.max(r.mfree));
        r.dfree = (r.dfree + charge.disk_mb).min(r.dtotal.max(r.dfree));
        r.pinst_cnt = r.pinst_cnt.saturating_sub(charge.instances);
        let mut batch = Batch::new();
        batch.update_backend(&released);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn reserve_quota(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let flavor = cx.env.store.flavor_get(p.flavor_id)?;
        let cpu = i64::from(flavor.cpu);
        let ram = flavor.ram_mb as i64 * MIB;
        // Existing volumes are charged already.
        let new_gb: u64 = p
            .extra_volumes
            .iter()
            .filter(|v| !v.existing)
            .map(|v| v.size_gb)
            .sum();
        let disk_gb = flavor.disk_gb + new_gb;
        let provisions = BTreeMap::from([
            ("cyclades.vm".to_string(), 1),
            ("cyclades.total_cpu".to_string(), cpu),
            ("cyclades.cpu".to_string(), cpu),
            ("cyclades.total_ram".to_string(), ram),
            ("cyclades.ram".to_string(), ram),
            ("cyclades.disk".to_string(), disk_gb as i64 * 1024 * MIB),
        ]);
        let serial = issue_commission(cx, &p.project_id, provisions, false)?;
        Ok(StepDone::recorded(
            RESERVE_QUOTA,
            &Reservation {
                serial: Some(serial),
            },
        ))
    })
}

fn create_records(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let now = Timestamp::now();
        let server = Server {
            id: p.server_id,
            name: p.name,
            user_id: p.user_id,
            project_id: p.project_id,
            flavor_id: p.flavor_id,
            image_id: p.image_id,
            key_names: p.key_names,
            metadata: p.metadata,
            tags: p
                .tags
                .iter()
                .map(|t| (t.clone(), "ACTIVE".to_string()))
                .collect(),
            backend_id: Some(backend_of(cx)?),
            operstate: "BUILD".into(),
            action: "CREATE".into(),
            task: Some("BUILD".into()),
            active_job: Some(cx.job.id),
            backend_job_id: None,
            backend_opcode: None,
            backend_job_status: None,
            backend_log_msg: None,
            suspended: false,
            quota_charged: false,
            diagnostics: Vec::new(),
            build_percentage: 0,
            rescue: false,
            rescue_image_id: None,
            shared_to_project: p.shared_to_project,
            helper: p.helper,
            destroy_job: None,
            access_ipv4: p.access_ipv4,
            access_ipv6: p.access_ipv6,
            created: now,
            updated: now,
            deleted: false,
            generation: 1,
        };
        let flavor = cx.env.store.flavor_get(p.flavor_id)?;
        let mut batch = volume_records(&cx.env.store, &cx.params()?, &server, &flavor)?;
        batch.insert_server(&server);
        Ok(StepDone::with_batch(json!({"server_id": server.id}), batch))
    })
}

/// Undo of `create_records`: the server stays, in ERROR, with the reason (Synnefo's behaviour);
/// its resources were never charged, and the user deletes it.
fn mark_error(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let before = cx.env.store.server_get(p.server_id)?;
        let reason = cx
            .job
            .fault
            .as_ref()
            .map(|f| f.message.clone())
            .unwrap_or_else(|| "Server creation failed".into());
        let mut after = before.clone();
        after.operstate = "ERROR".into();
        if after.active_job == Some(cx.job.id) {
            after.active_job = None;
            after.task = None;
        }
        after.backend_log_msg = Some(reason.clone());
        after.quota_charged = false;
        if !after.diagnostics.iter().any(|d| d.message == reason) {
            after.add_diagnostic(Diagnostic::cyclades(
                "ERROR",
                reason,
                format!(
                    "job {} failed at step {}",
                    cx.job.id,
                    cx.job.failed_step.clone().unwrap_or_default()
                ),
            ));
        }
        let mut batch = server_volumes_failed(&cx.env.store, &p)?;
        batch.update_server(&before, &after);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn render_request(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let store = &cx.env.store;
        let flavor = store.flavor_get(p.flavor_id)?;
        let vt = store.volume_type_get(flavor.volume_type_id)?;
        let driver = cx.env.plugins.disk_template(&flavor.disk_template)?;
        let caps = driver
            .disk_capabilities()
            .cloned()
            .ok_or_else(|| StepError::internal("disk template plugin without capabilities"))?;
        let specs: Vec<(String, String)> = vt
            .specs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut volumes = vec![Volume {
            name: crate::names::volume(p.server_id),
            size_gb: u32::try_from(flavor.disk_gb).unwrap_or(u32::MAX),
            origin: caps.clone.then(|| p.image_location.clone()),
            origin_size_mb: caps.clone.then_some(flavor.disk_gb * 1024),
            specs: specs.clone(),
        }];
        for extra in &p.extra_volumes {
            // An image source is a clone of it (the service allows it on clone templates only).
            let origin = match &extra.image_id {
                _ if extra.existing => None,
                Some(image) if caps.clone => Some(store.image_get(image)?.location),
                _ => None,
            };
            volumes.push(Volume {
                name: crate::names::volume(extra.id),
                size_gb: u32::try_from(extra.size_gb).unwrap_or(u32::MAX),
                origin_size_mb: origin.is_some().then_some(extra.size_gb * 1024),
                origin,
                specs: specs.clone(),
            });
        }
        let rendered = tokio::task::spawn_blocking({
            let driver = driver.clone();
            move || driver.render_disks(&volumes)
        })
        .await
        .map_err(|e| StepError::internal(format!("disk template task: {e}")))??;
        // The instance is created with the root and the new volumes; existing volumes are
        // attached afterwards (`attach_volumes`), with these parameters if they never held data.
        if rendered.disks.len() != 1 + p.extra_volumes.len() {
            return Err(StepError::internal(format!(
                "the disk template plugin rendered {} disks for {} volumes",
                rendered.disks.len(),
                1 + p.extra_volumes.len()
            )));
        }
        let mut request = RenderedRequest {
            disk_template: caps.ganeti_template.clone(),
            instance_params: params_map(&rendered.instance_params),
            os_params: params_map(&rendered.os_params),
            plugin: RecordedPin::from(&PluginPin::of(&driver)),
            ..RenderedRequest::default()
        };
        for (i, d) in rendered.disks.iter().enumerate() {
            match i.checked_sub(1).and_then(|e| p.extra_volumes.get(e)) {
                Some(extra) if extra.existing => {
                    request
                        .attach_disks
                        .insert(extra.id.to_string(), params_map(d));
                }
                _ => request.disks.push(params_map(d)),
            }
        }
        Ok(StepDone::recorded(RENDER_GANETI_REQUEST, &request))
    })
}

/// The RAPI body of spec §10.2 (no password anywhere: it is behind `config_url`).
fn create_body(cx: &StepCx, p: &ServerCreateParams) -> Result<Value, StepError> {
    let flavor = cx.env.store.flavor_get(p.flavor_id)?;
    let backend = cx.env.store.backend_get(backend_of(cx)?)?;
    let r = cx.expect(RENDER_GANETI_REQUEST)?;
    let ports = cx.env.store.ports_of_server(p.server_id)?;
    // Ganeti's default instance policy wants 1-8 NICs: a server without ports gets one on the
    // backend's default link.
    let nics: Vec<Value> = if ports.is_empty() {
        vec![json!({"name": crate::names::nic(p.server_id)})]
    } else {
        ports.iter().map(nic_json).collect()
    };
    let mut osparams = json!({
        "config_url": p.config_url,
        "img_id": p.image_location,
        "img_format": p.image_format,
    });
    for (k, v) in &r.os_params {
        osparams[k] = v.clone();
    }
    let mut body = json!({
        "mode": "create",
        "name": crate::names::instance(p.server_id),
        "disk_template": r.disk_template,
        "disks": r.disks,
        "nics": nics,
        "beparams": {"auto_balance": true, "vcpus": flavor.cpu, "memory": flavor.ram_mb},
        "os": "snf-image+default",
        "osparams": osparams,
        "ip_check": false,
        "name_check": false,
        "wait_for_sync": false,
        "opportunistic_locking": cx.env.config.backends.opportunistic_locking,
        "tags": p
            .tags
            .iter()
            .map(|t| crate::backend::rapi::tag_to_ganeti(&format!("{}{t}", crate::backend::rapi::USER_TAG_PREFIX)))
            .collect::<Vec<_>>(),
    });
    if backend.hypervisor == "kvm" {
        body["hvparams"] = json!({"serial_console": false});
    }
    for (k, v) in &r.instance_params {
        body[k] = v.clone();
    }
    Ok(body)
}

/// The RAPI feature that says the cluster understands our create body.
const CREATE_FEATURE: &str = "instance-create-reqv1";

fn ganeti_create(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let backend_id = backend_of(cx)?;
        let rapi = cx.env.rapi(backend_id)?;
        let name = crate::names::instance(p.server_id);
        // Rule 3: look up before submitting, so a replay never creates twice.
        let job = if rapi.instance(&name).await?.is_some() {
            None
        } else {
            // Spec §10.2: the create body is request version 1; a cluster without the
            // feature would misread it, so ask first (as Synnefo does before every create).
            if !rapi.features().await?.iter().any(|f| f == CREATE_FEATURE) {
                let backend = cx.env.store.backend_get(backend_id)?;
                return Err(StepError::unavailable(format!(
                    "Backend {} does not support instance creation request version 1 (RAPI feature {CREATE_FEATURE}); upgrade Ganeti",
                    backend.clustername
                )));
            }
            Some(rapi.create_instance(create_body(cx, &p)?).await?)
        };
        let before = cx.env.store.server_get(p.server_id)?;
        let mut after = before.clone();
        after.backend_job_id = job;
        after.backend_opcode = Some("OP_INSTANCE_CREATE".into());
        after.backend_job_status = Some("queued".into());
        let mut batch = Batch::new();
        batch.update_server(&before, &after);
        Ok(StepDone::recorded_with(
            GANETI_CREATE,
            &Submitted { job },
            batch,
        ))
    })
}

fn wait_create(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let mut waited = wait_create_job(cx).await?;
        // What Ganeti made of the NICs (their MACs), recorded for `finalize` (rule 6).
        let p: ServerCreateParams = cx.params()?;
        let rapi = cx.env.rapi(backend_of(cx)?)?;
        if let Some(instance) = rapi.instance(&crate::names::instance(p.server_id)).await? {
            waited.nics = Some(InstanceNics::of(&instance));
        }
        Ok(StepDone::recorded(CREATE_WAITED, &waited))
    })
}

async fn wait_create_job(cx: &StepCx) -> Result<Waited, StepError> {
    {
        let p: ServerCreateParams = cx.params()?;
        let backend_id = backend_of(cx)?;
        let rapi = cx.env.rapi(backend_id)?;
        let name = crate::names::instance(p.server_id);
        let exists = Waited {
            instance_exists: true,
            ..Waited::default()
        };
        let Some(mut job) = cx.expect(GANETI_CREATE)?.job else {
            return Ok(exists);
        };
        let mut retried = false;
        loop {
            match rapi.wait_job(job, cx.env.settings.ganeti_job_timeout).await {
                Ok(info) => {
                    return Ok(Waited {
                        finished: Some(FinishedJob::of(job, &info)),
                        retried_without_opportunistic_locking: retried,
                        ..Waited::default()
                    });
                }
                // Spec §10.5: the iallocator found the locks it could take full; once, resubmit
                // the same request without opportunistic locking.
                Err(BackendError::JobFailed {
                    code: Some(code), ..
                }) if code == "temp_insufficient_resources"
                    && !retried
                    && cx.env.config.backends.opportunistic_locking =>
                {
                    let mut body = create_body(cx, &p)?;
                    body["opportunistic_locking"] = json!(false);
                    job = rapi.create_instance(body).await?;
                    retried = true;
                    tracing::info!(
                        server = p.server_id,
                        job,
                        "create retried without opportunistic locking"
                    );
                }
                Err(e) => {
                    // A replayed create whose first submission won (its own job then fails with
                    // "already exists"), or a job Ganeti has archived meanwhile (a long outage):
                    // if the instance exists, the creation happened (rule 3).
                    // Ganeti says "Instance 'snf-<id>' is already in the cluster", code
                    // `already_exists`.
                    let explained = matches!(&e, BackendError::NotFound { .. })
                        || matches!(&e, BackendError::JobFailed { code: Some(c), .. } if c == "already_exists")
                        || e.to_string().contains("already exists");
                    if explained && rapi.instance(&name).await?.is_some() {
                        return Ok(exists);
                    }
                    return Err(e.into());
                }
            }
        }
    }
}

fn remove_instance(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        ensure_instance_removed(
            &cx.env,
            backend_of(cx)?,
            &crate::names::instance(p.server_id),
        )
        .await?;
        Ok(StepDone::default())
    })
}

fn finalize(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        accept_reserved(cx)?;
        let before = cx.env.store.server_get(p.server_id)?;
        let mut after = before.clone();
        after.operstate = "STARTED".into();
        after.task = None;
        after.active_job = None;
        after.quota_charged = true;
        after.backend_job_status = Some("success".into());
        let mut batch = ports_active(
            &cx.env.store,
            p.server_id,
            None,
            &cx.expect(CREATE_WAITED)?.nics.unwrap_or_default(),
        )?;
        batch.extend(server_volumes_built(&cx.env.store, p.server_id)?);
        batch.update_server(&before, &after);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn allocate_ports_step(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let mut batch = allocate_ports(
            &cx.env.store,
            p.server_id,
            &p.user_id,
            &p.project_id,
            &p.nics,
        )?;
        // The server record changes with its ports (its rendered addresses do).
        let server = cx.env.store.server_get(p.server_id)?;
        batch.update_server(&server, &server);
        let ports: Vec<u64> = p.nics.iter().map(|n| n.port_id).collect();
        Ok(StepDone::with_batch(json!({"ports": ports}), batch))
    })
}

fn release_ports_step(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let existing: Vec<u64> = p
            .nics
            .iter()
            .filter(|n| n.existing)
            .map(|n| n.port_id)
            .collect();
        let mut batch = release_ports(&cx.env.store, p.server_id, &existing)?;
        // The server record changes with its ports (its rendered addresses do).
        let before = cx.env.store.server_get(p.server_id)?;
        batch.update_server(&before, &before);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn ensure_networks_step(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: ServerCreateParams = cx.params()?;
        let ports = cx.env.store.ports_of_server(p.server_id)?;
        let batch = ensure_networks(&cx.env, backend_of(cx)?, &ports).await?;
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}
