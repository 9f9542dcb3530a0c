//! The operator API for compute under `/admin/v1`: volume types, flavors (cartesian create,
//! modify, access), images (register, list, show), servers (create with `--backend-id`, list,
//! inspect with the Ganeti view, modify, remove) and jobs (list, inspect).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{AdminCaller, JsonBody};
use super::{ApiError, AppState};
use crate::service::flavors::{FlavorChanges, FlavorCreate};
use crate::service::images::NewImage;
use crate::service::servers::{status_of, task_state_of};
use crate::service::{Flavor, Image, JobRecord, Server, VolumeType};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/volume-types", get(vt_list).post(vt_create))
        .route("/admin/v1/volume-types/{id}", get(vt_show).patch(vt_modify))
        .route("/admin/v1/flavors", get(flavor_list).post(flavor_create))
        .route(
            "/admin/v1/flavors/{id}",
            get(flavor_show).patch(flavor_modify),
        )
        .route(
            "/admin/v1/flavors/{id}/access",
            post(flavor_access_add).delete(flavor_access_remove),
        )
        .route("/admin/v1/images", get(image_list).post(image_register))
        .route("/admin/v1/images/{id}", get(image_show))
        .route("/admin/v1/servers", get(server_list).post(server_create))
        .route(
            "/admin/v1/servers/{id}",
            get(server_show).patch(server_modify).delete(server_remove),
        )
        .route("/admin/v1/helper-servers/sync", post(helper_sync))
        .route("/admin/v1/jobs", get(job_list))
        .route("/admin/v1/jobs/{id}", get(job_show))
}

#[derive(Deserialize, Default)]
struct DeletedQuery {
    deleted: Option<String>,
}

fn vt_json(v: &VolumeType) -> Value {
    json!({"id": v.id.to_string(), "name": v.name, "disk_template": v.disk_template,
           "specs": v.specs, "deleted": v.deleted, "created": v.created.iso()})
}

async fn vt_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<DeletedQuery>,
) -> Result<Json<Value>, ApiError> {
    let deleted = super::admin::parse_deleted(q.deleted.as_deref())?;
    let list = state.services.volume_type_list(deleted)?;
    Ok(Json(
        json!({"volume_types": list.iter().map(vt_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VtCreate {
    name: String,
    disk_template: String,
    #[serde(default)]
    specs: BTreeMap<String, String>,
}

async fn vt_create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<VtCreate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let v = state
        .services
        .volume_type_create(&body.name, &body.disk_template, body.specs)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"volume_type": vt_json(&v)})),
    ))
}

async fn vt_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"volume_type": vt_json(&state.services.volume_type_show(&id)?)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VtModify {
    deleted: bool,
}

async fn vt_modify(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VtModify>,
) -> Result<Json<Value>, ApiError> {
    let v = state.services.volume_type_set_deleted(&id, body.deleted)?;
    Ok(Json(json!({"volume_type": vt_json(&v)})))
}

fn flavor_json(f: &Flavor) -> Value {
    json!({"id": f.id.to_string(), "name": f.name(), "cpu": f.cpu, "ram": f.ram_mb, "disk": f.disk_gb,
           "volume_type": f.volume_type_id.to_string(), "disk_template": f.disk_template,
           "public": f.public, "allow_create": f.allow_create, "access": f.access,
           "specs": f.specs, "deleted": f.deleted, "created": f.created.iso()})
}

async fn flavor_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<DeletedQuery>,
) -> Result<Json<Value>, ApiError> {
    let deleted = super::admin::parse_deleted(q.deleted.as_deref())?;
    let list = state.services.flavor_list(deleted)?;
    Ok(Json(
        json!({"flavors": list.iter().map(flavor_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlavorCreateBody {
    cpus: Vec<u32>,
    rams: Vec<u64>,
    disks: Vec<u64>,
    volume_types: Vec<String>,
    #[serde(default = "yes")]
    public: bool,
    #[serde(default)]
    specs: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

async fn flavor_create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(b): JsonBody<FlavorCreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let report = state.services.flavor_create(&FlavorCreate {
        cpus: b.cpus,
        rams: b.rams,
        disks: b.disks,
        volume_types: b.volume_types,
        public: b.public,
        specs: b.specs,
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "created": report.created.iter().map(flavor_json).collect::<Vec<_>>(),
            "existing": report.existing.iter().map(|(f, hint)| {
                let mut v = flavor_json(f);
                v["hint"] = json!(hint);
                v
            }).collect::<Vec<_>>(),
            "warnings": report.warnings,
        })),
    ))
}

async fn flavor_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"flavor": flavor_json(&state.services.flavor_show(&id)?)}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FlavorModify {
    deleted: Option<bool>,
    allow_create: Option<bool>,
    public: Option<bool>,
}

async fn flavor_modify(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<FlavorModify>,
) -> Result<Json<Value>, ApiError> {
    let f = state.services.flavor_modify(
        &id,
        &FlavorChanges {
            deleted: b.deleted,
            allow_create: b.allow_create,
            public: b.public,
        },
    )?;
    Ok(Json(json!({"flavor": flavor_json(&f)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessBody {
    project: String,
}

async fn flavor_access_add(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<AccessBody>,
) -> Result<Json<Value>, ApiError> {
    let f = state.services.flavor_access(&id, &b.project, true)?;
    Ok(Json(json!({"flavor": flavor_json(&f)})))
}

async fn flavor_access_remove(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<AccessBody>,
) -> Result<Json<Value>, ApiError> {
    let f = state.services.flavor_access(&id, &b.project, false)?;
    Ok(Json(json!({"flavor": flavor_json(&f)})))
}

fn image_json(i: &Image) -> Value {
    json!({"id": i.id, "name": i.name, "owner": i.owner, "location": i.location, "status": i.status,
           "disk_format": i.disk_format, "container_format": i.container_format, "size": i.size,
           "public": i.is_public, "members": i.members, "properties": i.properties,
           "deleted": i.deleted, "created": i.created.iso(), "updated": i.updated.iso()})
}

async fn image_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<DeletedQuery>,
) -> Result<Json<Value>, ApiError> {
    let deleted = super::admin::parse_deleted(q.deleted.as_deref())?;
    let list = state.services.image_list(deleted)?;
    Ok(Json(
        json!({"images": list.iter().map(image_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageRegister {
    name: String,
    location: String,
    /// User name or id of the owner (default: the operator).
    owner: Option<String>,
    #[serde(default)]
    public: bool,
    disk_format: Option<String>,
    container_format: Option<String>,
    #[serde(default)]
    size: u64,
    checksum: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

async fn image_register(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    JsonBody(b): JsonBody<ImageRegister>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let owner = match &b.owner {
        Some(o) => state.services.user_show(o)?.id,
        None => caller.user_id.clone(),
    };
    let image = state.services.image_register(&NewImage {
        name: b.name,
        location: b.location,
        owner,
        public: b.public,
        disk_format: b.disk_format,
        container_format: b.container_format,
        size: b.size,
        checksum: b.checksum,
        properties: b.properties,
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"image": image_json(&image)})),
    ))
}

async fn image_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"image": image_json(&state.services.image_show(&id)?)}),
    ))
}

fn server_json(s: &Server) -> Value {
    json!({"id": s.id.to_string(), "name": s.name, "user_id": s.user_id, "project_id": s.project_id,
           "flavor_id": s.flavor_id.to_string(), "image_id": s.image_id,
           "backend_id": s.backend_id.map(|b| b.to_string()), "instance": s.instance_name(),
           "status": status_of(s), "operstate": s.operstate, "task_state": task_state_of(s),
           "action": s.action, "active_job": s.active_job.map(|j| j.to_string()),
           "backend_job_id": s.backend_job_id, "backend_opcode": s.backend_opcode,
           "backend_job_status": s.backend_job_status, "backend_log_msg": s.backend_log_msg,
           "suspended": s.suspended, "helper": s.helper, "metadata": s.metadata, "deleted": s.deleted,
           "created": s.created.iso(), "updated": s.updated.iso()})
}

#[derive(Deserialize, Default)]
struct ServerQuery {
    deleted: Option<String>,
    user: Option<String>,
    project: Option<String>,
}

async fn server_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ServerQuery>,
) -> Result<Json<Value>, ApiError> {
    let deleted = super::admin::parse_deleted(q.deleted.as_deref())?;
    let mut list = state.services.server_list(deleted)?;
    if let Some(user) = &q.user {
        let id = state.services.user_show(user)?.id;
        list.retain(|s| s.user_id == id);
    }
    if let Some(project) = &q.project {
        let id = state.services.project_lookup(project)?.id;
        list.retain(|s| s.project_id == id);
    }
    Ok(Json(
        json!({"servers": list.iter().map(server_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerCreateBody {
    name: String,
    user: String,
    project: Option<String>,
    flavor: String,
    image: String,
    backend_id: Option<u64>,
    password: Option<String>,
    #[serde(default)]
    wait: bool,
    #[serde(default)]
    helper: bool,
}

async fn server_create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(b): JsonBody<ServerCreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = state.services.act_as(&b.user, b.project.as_deref())?;
    let (flavor, image) = state
        .services
        .resolve_flavor_and_image(&caller, &b.flavor, &b.image)?;
    let req = crate::service::servers::NewServer {
        name: b.name,
        image_ref: image,
        flavor_ref: flavor,
        admin_pass: b.password,
        project: caller.project_id.clone(),
        backend_id: b.backend_id,
        public_url: state.public_url.clone(),
        helper: b.helper,
        password_as_given: true,
        ..Default::default()
    };
    let created = state.services.server_create(&caller, &req).await?;
    let mut server = created.server;
    if b.wait {
        if let Some(job) = server.active_job {
            state.services.job_wait(job).await?;
        }
        server = state.services.server_show(&server.id.to_string())?;
    }
    let mut doc = server_json(&server);
    doc["adminPass"] = json!(created.admin_pass);
    Ok((StatusCode::ACCEPTED, Json(json!({"server": doc}))))
}

async fn server_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = state.services.server_show(&id)?;
    let ganeti = state.services.server_ganeti_view(&s).await;
    let jobs: Vec<Value> = state
        .services
        .job_list(false)?
        .iter()
        .filter(|j| j.target == format!("server/{}", s.id))
        .map(job_json)
        .collect();
    let allocation = state.services.server_allocation(&s)?;
    // The NICs as the database has them, beside Ganeti's `nic.*` columns.
    let ports: Vec<Value> = state
        .services
        .ports_of_server(s.id)?
        .iter()
        .map(|p| {
            json!({"port": p.id.to_string(), "nic": p.ganeti_name(),
                   "network": p.network_id.to_string(),
                   "ipv4": p.ipv4.map(|(_, a)| a.to_string()), "mac": p.mac,
                   "status": p.status, "floating_ip": p.floating_ip_id.map(|f| f.to_string()),
                   "firewall": state.services.port_firewall_profile(p)})
        })
        .collect();
    Ok(Json(
        json!({"server": server_json(&s), "ports": ports, "ganeti": ganeti, "jobs": jobs, "allocation": allocation}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServerModify {
    suspended: Option<bool>,
    name: Option<String>,
    flavor: Option<String>,
    action: Option<String>,
}

async fn server_modify(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
    JsonBody(b): JsonBody<ServerModify>,
) -> Result<Json<Value>, ApiError> {
    let (s, job) = state
        .services
        .server_modify_admin(
            &id,
            b.suspended,
            b.name.as_deref(),
            b.flavor.as_deref(),
            b.action.as_deref(),
        )
        .await?;
    let mut result = json!({"server": server_json(&s), "job": job.map(|j| j.to_string())});
    if let Some(job) = job
        && matches!(q.wait.as_deref(), Some("1" | "true"))
    {
        let final_state = state.services.job_wait(job).await?;
        result["state"] = json!(final_state.as_str());
        result["server"] = server_json(&state.services.server_show(&id)?);
    }
    Ok(Json(result))
}

#[derive(Deserialize, Default)]
struct WaitQuery {
    wait: Option<String>,
}

async fn server_remove(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<Value>, ApiError> {
    let job = state.services.server_remove_admin(&id).await?;
    let mut result = json!({"job": job.to_string()});
    if matches!(q.wait.as_deref(), Some("1" | "true")) {
        let final_state = state.services.job_wait(job).await?;
        result["state"] = json!(final_state.as_str());
    }
    Ok(Json(result))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HelperSyncBody {
    user: String,
    project: Option<String>,
    flavor: String,
    image: String,
    backend_id: Option<u64>,
    #[serde(default = "one")]
    copies: usize,
    name: Option<String>,
}

fn one() -> usize {
    1
}

/// `helper-servers-sync`: N stopped helper servers per backend (see `service::helper_servers`).
async fn helper_sync(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(b): JsonBody<HelperSyncBody>,
) -> Result<Json<Value>, ApiError> {
    let owner = state.services.act_as(&b.user, b.project.as_deref())?;
    let (flavor, image) = state
        .services
        .resolve_flavor_and_image(&owner, &b.flavor, &b.image)?;
    let report = state
        .services
        .helper_servers_sync(
            &owner,
            &crate::service::helper_servers::HelperSyncRequest {
                flavor_ref: flavor,
                image_ref: image,
                name: b.name.unwrap_or_else(|| "Helper VM".into()),
                copies: b.copies,
                backend_id: b.backend_id,
                public_url: state.public_url.clone(),
            },
        )
        .await?;
    Ok(Json(json!({"backends": report.iter().map(|r| json!({
        "backend_id": r.backend_id.to_string(), "clustername": r.clustername,
        "created": r.created.iter().map(u64::to_string).collect::<Vec<_>>(),
        "stopped": r.stopped.iter().map(u64::to_string).collect::<Vec<_>>(),
        "helpers": r.helpers, "errors": r.errors,
    })).collect::<Vec<_>>()})))
}

fn job_json(j: &JobRecord) -> Value {
    json!({"id": j.id.to_string(), "kind": j.kind, "target": j.target, "state": j.state.as_str(),
           "failed_step": j.failed_step, "fault": j.fault.as_ref().map(|f| json!({"kind": f.kind, "message": f.message})),
           "created": j.created.iso(), "updated": j.updated.iso(), "finished": j.finished.map(|t| t.iso())})
}

#[derive(Deserialize, Default)]
struct JobQuery {
    unfinished: Option<String>,
}

async fn job_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<JobQuery>,
) -> Result<Json<Value>, ApiError> {
    let only = matches!(q.unfinished.as_deref(), Some("1" | "true"));
    let list = state.services.job_list(only)?;
    Ok(Json(
        json!({"jobs": list.iter().map(job_json).collect::<Vec<_>>()}),
    ))
}

async fn job_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = state.services.job_inspect(&id)?;
    let mut doc = job_json(&d.job);
    doc["params"] = d.job.params.clone();
    doc["running"] = json!(d.running);
    doc["owner"] = json!(d.lease.as_ref().map(|l| &l.owner));
    doc["attempt"] = json!(d.lease.as_ref().map(|l| l.attempt));
    doc["lease_expires"] = json!(
        d.lease
            .as_ref()
            .map(|l| crate::clock::Timestamp(l.expires).iso())
    );
    doc["log"] = json!(d.log);
    Ok(Json(json!({"job": doc})))
}
