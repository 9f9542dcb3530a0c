//! The operator API under `/admin/v1` (admin role only), which the `cyclades` CLI drives:
//! users, projects, quotas and quota commissions. Lists take `?deleted=true|only`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{AdminCaller, JsonBody};
use super::{ApiError, AppState};
use crate::resources::Unit;
use crate::service::identity::{NewUser, ProjectInfo, UserChanges, UserInfo};
use crate::service::quota::{CommissionInfo, CommissionRequest, QuotaRow};
use crate::service::{Deleted, ServiceError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/users", get(user_list).post(user_create))
        .route("/admin/v1/users/{user}", get(user_show).patch(user_modify))
        .route("/admin/v1/projects", get(project_list).post(project_create))
        .route("/admin/v1/projects/{project}", get(project_show))
        .route("/admin/v1/quotas", get(quota_list))
        .route("/admin/v1/quotas/{project}/{resource}", put(quota_set))
        .route(
            "/admin/v1/commissions",
            get(commission_list).post(commission_issue),
        )
        .route("/admin/v1/commissions/{serial}", get(commission_show))
        .route(
            "/admin/v1/commissions/{serial}/accept",
            post(commission_accept),
        )
        .route(
            "/admin/v1/commissions/{serial}/reject",
            post(commission_reject),
        )
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    deleted: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    pending: Option<String>,
}

pub(super) fn parse_deleted(value: Option<&str>) -> Result<Deleted, ApiError> {
    match value {
        None | Some("false") => Ok(Deleted::Exclude),
        Some("only") | Some("true") => Ok(Deleted::Only),
        Some("all") => Ok(Deleted::Include),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid value '{other}' for deleted: use true, false or all"
        ))),
    }
}

fn project_names(state: &AppState) -> Result<HashMap<String, String>, ApiError> {
    Ok(state
        .services
        .project_list(Deleted::Include)?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect())
}

fn user_json(u: &UserInfo, names: &HashMap<String, String>) -> Value {
    let name_of = |id: &String| names.get(id).cloned().unwrap_or_else(|| id.clone());
    json!({
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "admin": u.is_admin,
        "enabled": u.enabled,
        "has_password": u.has_password,
        "default_project": u.default_project_id.as_ref().map(name_of),
        "default_project_id": u.default_project_id,
        "projects": u.project_ids.iter().map(name_of).collect::<Vec<_>>(),
        "created": u.created.iso(),
        "updated": u.updated.iso(),
        "deleted": u.deleted,
    })
}

fn project_json(p: &ProjectInfo) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "enabled": p.enabled,
        "created": p.created.iso(),
        "updated": p.updated.iso(),
        "deleted": p.deleted,
    })
}

fn quota_json(r: &QuotaRow) -> Value {
    json!({
        "project_id": r.project_id,
        "project": r.project_name,
        "resource": r.resource,
        "unit": match r.unit { Unit::Count => "count", Unit::Bytes => "bytes" },
        "limit": r.limit,
        "usage": r.usage,
        "pending": r.pending,
    })
}

fn commission_json(c: &CommissionInfo) -> Value {
    json!({
        "serial": c.serial.to_string(),
        "name": c.name,
        "project_id": c.project_id,
        "provisions": c.provisions,
        "state": c.state,
        "created": c.created.iso(),
        "resolved": c.resolved.map(|t| t.iso()),
    })
}

async fn user_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let users = state
        .services
        .user_list(parse_deleted(q.deleted.as_deref())?)?;
    let names = project_names(&state)?;
    Ok(Json(
        json!({"users": users.iter().map(|u| user_json(u, &names)).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct UserCreateBody {
    user: UserCreate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserCreate {
    name: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    admin: bool,
}

async fn user_create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<UserCreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let u = body.user;
    let new = NewUser {
        name: u.name,
        password: u.password,
        email: u.email,
        project: u.project,
        is_admin: u.admin,
    };
    let user = state.services.user_create(&new).await?;
    let names = project_names(&state)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user_json(&user, &names)})),
    ))
}

async fn user_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(user): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = state.services.user_show(&user)?;
    let names = project_names(&state)?;
    Ok(Json(json!({"user": user_json(&user, &names)})))
}

#[derive(Deserialize)]
struct UserModifyBody {
    user: UserModify,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserModify {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    admin: Option<bool>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    add_projects: Vec<String>,
    #[serde(default)]
    remove_projects: Vec<String>,
    #[serde(default)]
    default_project: Option<String>,
}

async fn user_modify(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<UserModifyBody>,
) -> Result<Json<Value>, ApiError> {
    let m = body.user;
    let target = state.services.user_show(&user)?;
    if target.id == caller.user_id && (m.admin == Some(false) || m.enabled == Some(false)) {
        return Err(ApiError(ServiceError::Forbidden(
            "You cannot remove your own admin role or disable your own account".into(),
        )));
    }
    let changes = UserChanges {
        password: m.password,
        email: m.email,
        is_admin: m.admin,
        enabled: m.enabled,
        add_projects: m.add_projects,
        remove_projects: m.remove_projects,
        default_project: m.default_project,
    };
    let user = state.services.user_modify(&target.id, &changes).await?;
    let names = project_names(&state)?;
    Ok(Json(json!({"user": user_json(&user, &names)})))
}

async fn project_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let projects = state
        .services
        .project_list(parse_deleted(q.deleted.as_deref())?)?;
    Ok(Json(
        json!({"projects": projects.iter().map(project_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct ProjectCreateBody {
    project: ProjectCreate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectCreate {
    name: String,
    #[serde(default)]
    description: String,
}

async fn project_create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<ProjectCreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = state
        .services
        .project_create(&body.project.name, &body.project.description)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": project_json(&project)})),
    ))
}

async fn project_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"project": project_json(&state.services.project_lookup(&project)?)}),
    ))
}

async fn quota_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = state.services.quota_list(q.project.as_deref())?;
    Ok(Json(
        json!({"quotas": rows.iter().map(quota_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaSetBody {
    limit: i64,
}

async fn quota_set(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path((project, resource)): Path<(String, String)>,
    JsonBody(body): JsonBody<QuotaSetBody>,
) -> Result<Json<Value>, ApiError> {
    let row = state.services.quota_set(&project, &resource, body.limit)?;
    Ok(Json(json!({"quota": quota_json(&row)})))
}

async fn commission_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let pending_only = matches!(q.pending.as_deref(), Some("true") | Some("1"));
    let list = state.services.commission_list(pending_only)?;
    Ok(Json(
        json!({"commissions": list.iter().map(commission_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct CommissionBody {
    commission: CommissionCreate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommissionCreate {
    name: String,
    project: String,
    provisions: BTreeMap<String, i64>,
    #[serde(default)]
    force: bool,
}

async fn commission_issue(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<CommissionBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let c = body.commission;
    let request = CommissionRequest {
        name: c.name,
        project: c.project,
        provisions: c.provisions,
        force: c.force,
    };
    let issued = state.services.commission_issue(&request)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"commission": commission_json(&issued)})),
    ))
}

fn parse_serial(text: &str) -> Result<u64, ApiError> {
    text.parse().map_err(|_| {
        ApiError(ServiceError::ItemNotFound(format!(
            "Commission {text} not found"
        )))
    })
}

async fn commission_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(serial): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = state.services.commission_show(parse_serial(&serial)?)?;
    Ok(Json(json!({"commission": commission_json(&c)})))
}

async fn commission_accept(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(serial): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = state
        .services
        .commission_resolve(parse_serial(&serial)?, true)?;
    Ok(Json(json!({"commission": commission_json(&c)})))
}

async fn commission_reject(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(serial): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = state
        .services
        .commission_resolve(parse_serial(&serial)?, false)?;
    Ok(Json(json!({"commission": commission_json(&c)})))
}
