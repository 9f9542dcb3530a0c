//! The operator API for volumes under `/admin/v1/volumes` (Synnefo's `volume-create`,
//! `-list`, `-show`/`-inspect`, `-modify`, `-attach`, `-detach`, `-remove`): every volume,
//! created for a user, and changed as its owner with the admin role. The rules and jobs are the
//! block storage service's (`service::volumes`).

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{AdminCaller, JsonBody};
use super::{ApiError, AppState};
use crate::service::Volume;
use crate::service::volumes::NewVolume;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/volumes", get(list).post(create))
        .route(
            "/admin/v1/volumes/{id}",
            get(show).patch(modify).delete(remove),
        )
        .route("/admin/v1/volumes/{id}/attach", post(attach))
        .route("/admin/v1/volumes/{id}/detach", post(detach))
}

fn volume_json(v: &Volume) -> Value {
    json!({"id": v.id.to_string(), "name": v.name, "description": v.description,
           "user_id": v.user_id, "project_id": v.project_id, "shared_to_project": v.shared_to_project,
           "size": v.size_gb, "volume_type": v.volume_type_id.to_string(), "disk_template": v.disk_template,
           "status": v.status, "server_id": v.server_id.map(|s| s.to_string()), "index": v.index,
           "backend_id": v.backend_id.map(|b| b.to_string()), "backend_job_id": v.backend_job_id,
           "initialised": v.initialised, "source": v.source, "delete_on_termination": v.delete_on_termination,
           "disk": v.ganeti_name(), "metadata": v.metadata, "deleted": v.deleted,
           "created": v.created.iso(), "updated": v.updated.iso()})
}

#[derive(Deserialize, Default)]
struct ListQuery {
    deleted: Option<String>,
    user: Option<String>,
    project: Option<String>,
    server: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let deleted = super::admin::parse_deleted(q.deleted.as_deref())?;
    let mut list = state.services.volume_list(deleted)?;
    if let Some(user) = &q.user {
        let id = state.services.user_show(user)?.id;
        list.retain(|v| v.user_id == id);
    }
    if let Some(project) = &q.project {
        let id = state.services.project_lookup(project)?.id;
        list.retain(|v| v.project_id == id);
    }
    if let Some(server) = &q.server {
        list.retain(|v| v.server_id.map(|s| s.to_string()).as_ref() == Some(server));
    }
    Ok(Json(
        json!({"volumes": list.iter().map(volume_json).collect::<Vec<_>>()}),
    ))
}

/// One volume, with the Ganeti disk that holds it when attached (`volume-inspect`).
async fn show(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = state.services.volume_for(&admin, &id)?;
    let ganeti = match v.server_id.map(|s| state.services.server_record(s)) {
        Some(Ok(Some(server))) => {
            let view = state.services.server_ganeti_view(&server).await;
            match view.get("error") {
                Some(e) => json!({"error": e}),
                None => json!({"instance": view["name"], "disk.names": view["disk.names"],
                               "disk.sizes": view["disk.sizes"]}),
            }
        }
        _ => Value::Null,
    };
    Ok(Json(json!({"volume": volume_json(&v), "ganeti": ganeti})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    size: u64,
    user: String,
    project: Option<String>,
    volume_type: Option<String>,
    server: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    wait: bool,
}

async fn create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(b): JsonBody<CreateBody>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let caller = state.services.act_as(&b.user, b.project.as_deref())?;
    let req = NewVolume {
        name: b.name,
        size_gb: b.size,
        volume_type: b.volume_type,
        description: b.description,
        server_id: b.server,
        project: caller.project_id.clone(),
        ..Default::default()
    };
    let mut v = state.services.volume_create(&caller, &req).await?;
    if b.wait {
        v = settled(&state, &v.id.to_string(), v.server_id).await?;
    }
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(json!({"volume": volume_json(&v)})),
    ))
}

/// Waits for the job holding `server` (the volume jobs hold their server's lock), then
/// rereads volume `id` as its owner (`--wait`).
async fn settled(state: &AppState, id: &str, server: Option<u64>) -> Result<Volume, ApiError> {
    if let Some(server) = server
        && let Some(s) = state.services.server_record(server)?
        && let Some(job) = s.active_job
    {
        state.services.job_wait(job).await?;
    }
    let owner = state.services.act_as_volume_owner(id)?;
    Ok(state.services.volume_for(&owner, id)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModifyBody {
    name: Option<String>,
    description: Option<String>,
}

async fn modify(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<ModifyBody>,
) -> Result<Json<Value>, ApiError> {
    let owner = state.services.act_as_volume_owner(&id)?;
    let v = state
        .services
        .volume_update(&owner, &id, b.name, b.description, None)?;
    Ok(Json(json!({"volume": volume_json(&v)})))
}

#[derive(Deserialize, Default)]
struct WaitQuery {
    wait: Option<String>,
}

fn waits(q: &WaitQuery) -> bool {
    matches!(q.wait.as_deref(), Some("1" | "true"))
}

async fn remove(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<Value>, ApiError> {
    let owner = state.services.act_as_volume_owner(&id)?;
    let before = state.services.volume_for(&owner, &id)?;
    let server = before.server_id;
    state.services.volume_delete(&owner, &id).await?;
    let mut v = state.services.volume_for(&owner, &id)?;
    if waits(&q) {
        // The job runs on the volume's server, or on the helper it now names.
        v = settled(&state, &id, v.server_id.or(server)).await?;
    }
    Ok(Json(json!({"volume": volume_json(&v)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    server: String,
}

async fn attach(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
    JsonBody(b): JsonBody<AttachBody>,
) -> Result<Json<Value>, ApiError> {
    let owner = state.services.act_as_volume_owner(&id)?;
    let mut v = state.services.volume_attach(&owner, &b.server, &id).await?;
    if waits(&q) {
        v = settled(&state, &id, v.server_id).await?;
    }
    Ok(Json(json!({"volume": volume_json(&v)})))
}

async fn detach(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Json<Value>, ApiError> {
    let owner = state.services.act_as_volume_owner(&id)?;
    let v = state.services.volume_for(&owner, &id)?;
    let server = v
        .server_id
        .ok_or_else(|| ApiError::bad_request("Volume is already detached"))?;
    state
        .services
        .volume_detach(&owner, &server.to_string(), &id)
        .await?;
    let mut v = state.services.volume_for(&owner, &id)?;
    if waits(&q) {
        v = settled(&state, &id, Some(server)).await?;
    }
    Ok(Json(json!({"volume": volume_json(&v)})))
}
