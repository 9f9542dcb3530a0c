//! Admin API for rescue images (`/admin/v1/rescue-images`), behind `rescue-image-*`.
//! Owns only the JSON shapes; the rules are `service::server_rescue`'s.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{AdminCaller, JsonBody};
use super::{ApiError, AppState};
use crate::service::RescueImage;
use crate::service::server_rescue::{NewRescueImage, RescueImageChanges};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/rescue-images", get(list).post(create))
        .route(
            "/admin/v1/rescue-images/{id}",
            get(show).patch(modify).delete(remove),
        )
}

fn doc(i: &RescueImage) -> Value {
    json!({"id": i.id.to_string(), "name": i.name, "location": i.location,
           "location_type": i.location_type, "os_family": i.os_family, "os": i.os,
           "target_os_family": i.target_os_family, "target_os": i.target_os,
           "default": i.is_default, "deleted": i.deleted, "created": i.created.iso()})
}

#[derive(Deserialize, Default)]
struct ListQuery {
    deleted: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let deleted = super::admin::parse_deleted(q.deleted.as_deref())?;
    let mut images = state.services.rescue_image_list(true)?;
    images.retain(|i| deleted.keeps(i.deleted));
    Ok(Json(
        json!({"rescue_images": images.iter().map(doc).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: Option<String>,
    location: String,
    location_type: Option<String>,
    os_family: Option<String>,
    os: Option<String>,
    target_os_family: Option<String>,
    target_os: Option<String>,
    #[serde(default)]
    default: bool,
}

async fn create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(b): JsonBody<Create>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let image = state.services.rescue_image_create(&NewRescueImage {
        name: b.name,
        location: b.location,
        location_type: b.location_type,
        os_family: b.os_family,
        os: b.os,
        target_os_family: b.target_os_family,
        target_os: b.target_os,
        default: b.default,
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"rescue_image": doc(&image)})),
    ))
}

async fn show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"rescue_image": doc(&state.services.rescue_image_get(&id)?)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Modify {
    name: Option<String>,
    location: Option<String>,
    location_type: Option<String>,
    os_family: Option<String>,
    os: Option<String>,
    target_os_family: Option<String>,
    target_os: Option<String>,
    default: Option<bool>,
    deleted: Option<bool>,
}

async fn modify(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<Modify>,
) -> Result<Json<Value>, ApiError> {
    let image = state.services.rescue_image_modify(
        &id,
        &RescueImageChanges {
            name: b.name,
            location: b.location,
            location_type: b.location_type,
            os_family: b.os_family,
            os: b.os,
            target_os_family: b.target_os_family,
            target_os: b.target_os,
            default: b.default,
            deleted: b.deleted,
        },
    )?;
    Ok(Json(json!({"rescue_image": doc(&image)})))
}

/// `rescue-image-remove`: a soft delete.
async fn remove(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.rescue_image_modify(
        &id,
        &RescueImageChanges {
            deleted: Some(true),
            ..Default::default()
        },
    )?;
    Ok(StatusCode::NO_CONTENT)
}
