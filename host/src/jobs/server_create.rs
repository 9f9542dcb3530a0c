//! `server.create`: allocate a backend, charge quota, record the server, render its disks with
//! the disk-template plugin, create `snf-<id>` on Ganeti, wait, and mark it ACTIVE.
//!
//! Ports: `allocate_ports` records the planned ports (addresses taken) with the server, and
//! `ensure_networks` puts their networks on the chosen backend before the create (see
//! `server_nics`). A server with no ports gets one NIC on the backend's default link, as
//! Ganeti's default instance policy wants 1–8 NICs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::{
    allocator_view, ensure_instance_removed, finished_job, issue_commission, nothing, params_json,
    pin_json, resolve_commission, template_flag,
};
use super::server_nics::{
    NicPlan, allocate_ports, ensure_networks, nic_json, ports_active, release_ports,
};
use super::server_volumes::{
    attach_volumes, detach_volumes, server_volumes_built, server_volumes_failed, volume_records,
};
use super::{JobKind, StepCx, StepDef, StepDone, StepError, StepFuture};
use crate::backend::rapi::BackendError;
use crate::clock::Timestamp;
use crate::plugins::{PluginPin, Verdict, VmRequest, Volume};
use crate::store::{Batch, Deleted, Diagnostic, Server};

/// Inputs of `server.create`, all decided (and ids generated) before submission.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerCreateParams {
    pub server_id: u64,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub flavor_id: u64,
    pub image_id: String,
    /// Where snf-image finds the image (`img_id` osparam).
    pub image_location: String,
    pub image_format: String,
    pub metadata: BTreeMap<String, String>,
    pub key_names: Vec<String>,
    /// Operator override (`server-create --backend-id`): skip the allocator.
    pub backend_id: Option<u64>,
    /// The one-time vmapi URL (the secrets behind it live in memory only).
    pub config_url: String,
    /// The server's NICs, in order (empty: the backend's default NIC).
    #[serde(default)]
    pub nics: Vec<NicPlan>,
    /// An operator's helper server (see `Server::helper`).
    #[serde(default)]
    pub helper: bool,
    /// New volumes besides the root one (`block_device_mapping_v2`), disks 1, 2, ...
    #[serde(default)]
    pub extra_volumes: Vec<ExtraVolume>,
    /// User tags given at create (without the `cyclades:user:` namespace).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Shared with the members of its project from the start.
    #[serde(default)]
    pub shared_to_project: bool,
}

/// A volume created with its server, after the root volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtraVolume {
    pub id: u64,
    pub size_gb: u64,
    /// A clone of this image (clone-capable templates), or blank.
    pub image_id: Option<String>,
    /// An existing AVAILABLE volume (its id and size), attached once the instance exists.
    #[serde(default)]
    pub existing: bool,
    /// Deleted with the server; false: detached and kept (`server.destroy`'s `keep_volumes`).
    #[serde(default = "yes")]
    pub delete_on_termination: bool,
}

fn yes() -> bool {
    true
}

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
    cx.output("allocate_backend")["backend_id"]
        .as_u64()
        .ok_or_else(|| StepError::internal("allocate_backend recorded no backend"))
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
        let (backend, output) = match p.backend_id {
            Some(id) => {
                let b = store.backend_get(id)?;
                if b.deleted || b.offline {
                    return Err(StepError::unavailable(format!(
                        "Backend {id} is not available (deleted or offline)"
                    )));
                }
                (b, json!({"backend_id": id, "forced": true}))
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
                let candidates: Vec<Value> = outcome
                    .allocation
                    .candidates
                    .iter()
                    .map(|c| match &c.verdict {
                        Verdict::Score(s) => json!({"backend_id": c.backend_id, "score": s}),
                        Verdict::Rejected(r) => {
                            json!({"backend_id": c.backend_id, "rejected": format!("{r:?}").to_lowercase()})
                        }
                    })
                    .collect();
                (
                    b,
                    json!({"backend_id": chosen, "plugin": pin_json(&outcome.plugin),
                           "candidates": candidates,
                           "capacity_fallback": outcome.allocation.capacity_fallback}),
                )
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
        let mut output = output;
        output["charge"] = json!({"mem_mb": flavor.ram_mb, "disk_mb": disk_mb, "instances": 1});
        Ok(StepDone::with_batch(output, batch))
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
        let out = cx.output("allocate_backend");
        let b = cx.env.store.backend_get(backend_of(cx)?)?;
        let mut released = b.clone();
        let r = &mut released.resources;
        r.mfree =
            (r.mfree + out["charge"]["mem_mb"].as_u64().unwrap_or(0)).min(r.mtotal.max(r.mfree));
        r.dfree =
            (r.dfree + out["charge"]["disk_mb"].as_u64().unwrap_or(0)).min(r.dtotal.max(r.dfree));
        // A log written before instances were charged has no count to give back.
        r.pinst_cnt = r
            .pinst_cnt
            .saturating_sub(out["charge"]["instances"].as_u64().unwrap_or(0));
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
        Ok(StepDone::output(json!({"serial": serial})))
    })
}

fn reject_quota(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        resolve_commission(&cx.output("reserve_quota")["serial"], false, cx)?;
        Ok(StepDone::default())
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
        let mut disks = Vec::new();
        let mut attach_disks = serde_json::Map::new();
        for (i, d) in rendered.disks.iter().enumerate() {
            match i.checked_sub(1).and_then(|e| p.extra_volumes.get(e)) {
                Some(extra) if extra.existing => {
                    attach_disks.insert(extra.id.to_string(), params_json(d));
                }
                _ => disks.push(params_json(d)),
            }
        }
        Ok(StepDone::output(json!({
            "disk_template": caps.ganeti_template,
            "disks": disks,
            "attach_disks": attach_disks,
            "instance_params": params_json(&rendered.instance_params),
            "os_params": params_json(&rendered.os_params),
            "plugin": pin_json(&PluginPin::of(&driver)),
        })))
    })
}

/// The RAPI body of spec §10.2 (no password anywhere: it is behind `config_url`).
fn create_body(cx: &StepCx, p: &ServerCreateParams) -> Result<Value, StepError> {
    let flavor = cx.env.store.flavor_get(p.flavor_id)?;
    let backend = cx.env.store.backend_get(backend_of(cx)?)?;
    let r = cx.output("render_ganeti_request");
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
    if let Some(extra) = r["os_params"].as_object() {
        for (k, v) in extra {
            osparams[k] = v.clone();
        }
    }
    let mut body = json!({
        "mode": "create",
        "name": crate::names::instance(p.server_id),
        "disk_template": r["disk_template"],
        "disks": r["disks"],
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
    if let Some(extra) = r["instance_params"].as_object() {
        for (k, v) in extra {
            body[k] = v.clone();
        }
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
        Ok(StepDone::with_batch(json!({"job": job}), batch))
    })
}

fn wait_create(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let mut done = wait_create_job(cx).await?;
        // What Ganeti made of the NICs (their MACs), recorded for `finalize` (rule 6).
        let p: ServerCreateParams = cx.params()?;
        let rapi = cx.env.rapi(backend_of(cx)?)?;
        if let Some(instance) = rapi.instance(&crate::names::instance(p.server_id)).await? {
            done.output["nics"] =
                json!({"nic.names": instance["nic.names"], "nic.macs": instance["nic.macs"]});
        }
        Ok(done)
    })
}

async fn wait_create_job(cx: &StepCx) -> Result<StepDone, StepError> {
    {
        let p: ServerCreateParams = cx.params()?;
        let backend_id = backend_of(cx)?;
        let rapi = cx.env.rapi(backend_id)?;
        let name = crate::names::instance(p.server_id);
        let Some(mut job) = cx.output("ganeti_create")["job"].as_u64() else {
            return Ok(StepDone::output(json!({"instance_exists": true})));
        };
        let mut retried = false;
        loop {
            match rapi.wait_job(job, cx.env.settings.ganeti_job_timeout).await {
                Ok(info) => {
                    let mut out = finished_job(job, &info);
                    if retried {
                        out["retried_without_opportunistic_locking"] = json!(true);
                    }
                    return Ok(StepDone::output(out));
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
                        return Ok(StepDone::output(json!({"instance_exists": true})));
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
        resolve_commission(&cx.output("reserve_quota")["serial"], true, cx)?;
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
            &cx.output("wait_ganeti_job")["nics"],
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
