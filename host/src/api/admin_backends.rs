//! The operator API for backends under `/admin/v1`: `backends` (add, list, show, modify,
//! remove, update-status) and `project-backends` (dedications).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{AdminCaller, JsonBody, OptionalJsonBody};
use super::{ApiError, AppState};
use crate::service::backends::{BackendChanges, BackendInfo, NewBackend};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/backends", get(list).post(add))
        .route("/admin/v1/backends/update-status", post(update_status))
        .route("/admin/v1/backends/health", get(health))
        .route("/admin/v1/reconcile/servers", post(reconcile_servers))
        .route(
            "/admin/v1/reconcile/commissions",
            post(reconcile_commissions),
        )
        .route("/admin/v1/reconcile/resources", post(reconcile_resources))
        .route("/admin/v1/reconcile/networks", post(reconcile_networks))
        .route("/admin/v1/reconcile/pools", post(reconcile_pools))
        .route("/admin/v1/enforce/resources", post(enforce_resources))
        .route(
            "/admin/v1/backends/{backend}",
            get(show).patch(modify).delete(remove),
        )
        .route(
            "/admin/v1/project-backends",
            get(dedications).post(dedicate).delete(undedicate),
        )
}

fn backend_json(info: &BackendInfo) -> Value {
    let b = &info.backend;
    json!({
        "id": b.id.to_string(),
        "clustername": b.clustername,
        "port": b.port,
        "scheme": b.scheme,
        "username": b.username,
        "insecure": b.insecure,
        "hypervisor": b.hypervisor,
        "public": b.public,
        "drained": b.drained,
        "offline": b.offline,
        "index": b.index,
        "disk_templates": b.disk_templates,
        "mfree": b.resources.mfree,
        "mtotal": b.resources.mtotal,
        "dfree": b.resources.dfree,
        "dtotal": b.resources.dtotal,
        "ctotal": b.resources.ctotal,
        "pinst_cnt": b.resources.pinst_cnt,
        "resources_updated": b.resources_updated.map(|t| t.iso()),
        "last_contact": b.last_contact.map(|t| t.iso()),
        "last_error": b.last_error,
        "projects": info.projects,
        "created": b.created.iso(),
        "deleted": b.deleted,
    })
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    deleted: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let deleted = super::admin::parse_deleted(q.deleted.as_deref())?;
    let list = state.services.backend_list(deleted)?;
    let health = state.services.backend_health()?;
    let docs: Vec<Value> = list
        .iter()
        .map(|b| {
            let mut doc = backend_json(b);
            let h = health.iter().find(|h| h.backend_id == b.backend.id);
            doc["last_reconciled"] = json!(h.and_then(|h| h.last_reconciled).map(|t| t.iso()));
            doc["jobs_in_flight"] = json!(h.map(|h| h.jobs_in_flight).unwrap_or(0));
            doc
        })
        .collect();
    Ok(Json(json!({"backends": docs})))
}

#[derive(Deserialize)]
struct AddBody {
    backend: AddFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddFields {
    clustername: String,
    #[serde(default = "default_port")]
    port: u16,
    username: String,
    password: String,
    #[serde(default)]
    no_check: bool,
    #[serde(default)]
    insecure: bool,
    /// Absent: the cluster's default hypervisor.
    #[serde(default)]
    hypervisor: Option<String>,
    #[serde(default = "default_public")]
    public: bool,
    #[serde(default)]
    http: bool,
}

fn default_port() -> u16 {
    5080
}
fn default_public() -> bool {
    true
}

async fn add(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let f = body.backend;
    let new = NewBackend {
        clustername: f.clustername,
        port: f.port,
        username: f.username,
        password: f.password,
        no_check: f.no_check,
        insecure: f.insecure,
        hypervisor: f.hypervisor,
        public: f.public,
        http: f.http,
    };
    let info = state.services.backend_add(&new).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"backend": backend_json(&info)})),
    ))
}

async fn show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(b): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"backend": backend_json(&state.services.backend_show(&b)?)}),
    ))
}

#[derive(Deserialize)]
struct ModifyBody {
    backend: ModifyFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModifyFields {
    #[serde(default)]
    drained: Option<bool>,
    #[serde(default)]
    offline: Option<bool>,
    #[serde(default)]
    public: Option<bool>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    insecure: Option<bool>,
    #[serde(default)]
    hypervisor: Option<String>,
}

async fn modify(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(b): Path<String>,
    JsonBody(body): JsonBody<ModifyBody>,
) -> Result<Json<Value>, ApiError> {
    let f = body.backend;
    let changes = BackendChanges {
        drained: f.drained,
        offline: f.offline,
        public: f.public,
        port: f.port,
        username: f.username,
        password: f.password,
        insecure: f.insecure,
        hypervisor: f.hypervisor,
    };
    Ok(Json(
        json!({"backend": backend_json(&state.services.backend_modify(&b, &changes).await?)}),
    ))
}

async fn remove(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(b): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"backend": backend_json(&state.services.backend_remove(&b)?)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateStatusBody {
    #[serde(default)]
    backend: Option<String>,
}

async fn update_status(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    OptionalJsonBody(body): OptionalJsonBody<UpdateStatusBody>,
) -> Result<Json<Value>, ApiError> {
    let target = body.and_then(|b| b.backend);
    let list = state
        .services
        .backend_update_status(target.as_deref())
        .await?;
    Ok(Json(
        json!({"backends": list.iter().map(backend_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DedicationBody {
    project: String,
    backend: String,
}

async fn dedications(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let list = state.services.project_backend_list()?;
    let rows: Vec<Value> =
        list.iter().map(|(p, id, name)| json!({"project": p, "backend_id": id.to_string(), "clustername": name})).collect();
    Ok(Json(json!({"project_backends": rows})))
}

async fn dedicate(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<DedicationBody>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .project_backend_add(&body.project, &body.backend)?;
    Ok(StatusCode::CREATED)
}

async fn undedicate(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<DedicationBody>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .project_backend_remove(&body.project, &body.backend)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn health(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let list = state.services.backend_health()?;
    Ok(Json(json!({"backends": list.iter().map(|h| json!({
        "id": h.backend_id.to_string(),
        "clustername": h.clustername,
        "offline": h.offline,
        "last_contact": h.last_contact.map(|t| t.iso()),
        "last_reconciled": h.last_reconciled.map(|t| t.iso()),
        "reconcile_error": h.reconcile_error,
        "jobs_in_flight": h.jobs_in_flight,
        "repairs": h.repairs,
    })).collect::<Vec<_>>()})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReconcileBody {
    backend: Option<String>,
    #[serde(default)]
    fix_stale: bool,
    #[serde(default)]
    fix_orphans: bool,
    #[serde(default)]
    fix_unsynced: bool,
    #[serde(default)]
    fix_unsynced_flavors: bool,
    #[serde(default)]
    fix_unsynced_rescue: bool,
    #[serde(default)]
    fix_unsynced_tags: bool,
    #[serde(default)]
    fix_unsynced_nics: bool,
    #[serde(default)]
    fix_unsynced_disks: bool,
    #[serde(default)]
    fix_pending_tasks: bool,
}

async fn reconcile_servers(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    OptionalJsonBody(body): OptionalJsonBody<ReconcileBody>,
) -> Result<Json<Value>, ApiError> {
    let b = body.unwrap_or_default();
    let fixes = crate::service::reconcile::Fixes {
        stale: b.fix_stale,
        orphans: b.fix_orphans,
        unsynced: b.fix_unsynced,
        unsynced_flavors: b.fix_unsynced_flavors,
        unsynced_rescue: b.fix_unsynced_rescue,
        unsynced_tags: b.fix_unsynced_tags,
        unsynced_nics: b.fix_unsynced_nics,
        unsynced_disks: b.fix_unsynced_disks,
        pending_tasks: b.fix_pending_tasks,
    };
    let reports = state
        .services
        .reconcile(b.backend.as_deref(), fixes)
        .await?;
    let drift: Vec<Value> = reports
        .iter()
        .flat_map(|r| {
            r.drift.iter().map(move |d| {
                json!({"backend": r.clustername, "kind": d.kind, "server_id": d.server_id.map(|i| i.to_string()),
                       "instance": d.instance, "detail": d.detail, "fixed": d.fixed})
            })
        })
        .collect();
    Ok(Json(json!({"backends": reports.len(), "drift": drift})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CommissionFix {
    #[serde(default)]
    fix: bool,
}

async fn reconcile_commissions(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    OptionalJsonBody(body): OptionalJsonBody<CommissionFix>,
) -> Result<Json<Value>, ApiError> {
    let fix = body.unwrap_or_default().fix;
    let list = state.services.reconcile_commissions(fix)?;
    Ok(Json(json!({"commissions": list.iter().map(|c| json!({
        "serial": c.serial.to_string(), "name": c.name, "project_id": c.project_id,
        "verdict": c.verdict, "reason": c.reason, "fixed": c.fixed,
    })).collect::<Vec<_>>()})))
}

async fn reconcile_resources(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    OptionalJsonBody(body): OptionalJsonBody<CommissionFix>,
) -> Result<Json<Value>, ApiError> {
    let fix = body.unwrap_or_default().fix;
    let list = state.services.reconcile_resources(fix)?;
    Ok(Json(json!({"resources": list.iter().map(|d| json!({
        "project_id": d.project_id, "resource": d.resource, "recorded": d.recorded,
        "actual": d.actual, "fixed": d.fixed, "note": d.note,
    })).collect::<Vec<_>>()})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EnforceBody {
    resources: Option<Vec<String>>,
    #[serde(default)]
    soft_resources: Vec<String>,
    projects: Option<Vec<String>>,
    #[serde(default)]
    exclude_projects: Vec<String>,
    max_operations: Option<usize>,
    #[serde(default)]
    fix: bool,
}

/// Resource names with or without the `cyclades.` prefix (`vm` or `cyclades.vm`).
fn full_resource_names(names: Vec<String>) -> Vec<String> {
    names
        .into_iter()
        .map(|n| {
            if n.contains('.') {
                n
            } else {
                format!("cyclades.{n}")
            }
        })
        .collect()
}

async fn enforce_resources(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    OptionalJsonBody(body): OptionalJsonBody<EnforceBody>,
) -> Result<Json<Value>, ApiError> {
    let b = body.unwrap_or_default();
    let options = crate::service::enforce_resources::EnforceOptions {
        resources: b.resources.map(full_resource_names),
        soft_resources: full_resource_names(b.soft_resources),
        projects: b.projects,
        exclude_projects: b.exclude_projects,
        max_operations: b.max_operations,
        fix: b.fix,
    };
    let plan = state.services.enforce_resources(&options).await?;
    Ok(Json(json!({"actions": plan.iter().map(|a| json!({
        "project_id": a.project_id, "resource": a.resource, "usage": a.usage, "limit": a.limit,
        "server_id": a.server_id.to_string(), "action": a.action,
        "job_id": a.job_id.map(|j| j.to_string()), "error": a.error,
    })).collect::<Vec<_>>()})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NetworkReconcileBody {
    backend: Option<String>,
    #[serde(default)]
    fix: bool,
}

async fn reconcile_networks(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    OptionalJsonBody(body): OptionalJsonBody<NetworkReconcileBody>,
) -> Result<Json<Value>, ApiError> {
    let b = body.unwrap_or_default();
    let reports = state
        .services
        .reconcile_networks(b.backend.as_deref(), b.fix)
        .await?;
    let drift: Vec<Value> = reports
        .iter()
        .flat_map(|r| {
            r.drift.iter().map(move |d| {
                json!({"backend": r.clustername, "kind": d.kind,
                       "network_id": d.network_id.map(|i| i.to_string()),
                       "ganeti_name": d.ganeti_name, "detail": d.detail, "fixed": d.fixed,
                       "repair_failed": d.repair_failed})
            })
        })
        .collect();
    Ok(Json(json!({"backends": reports.len(), "drift": drift})))
}

async fn reconcile_pools(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    OptionalJsonBody(body): OptionalJsonBody<CommissionFix>,
) -> Result<Json<Value>, ApiError> {
    let fix = body.unwrap_or_default().fix;
    let list = state.services.reconcile_pools(fix)?;
    Ok(Json(json!({"drift": list})))
}
