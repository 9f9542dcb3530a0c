//! Compute `/servers/<id>/tags` (spec §2.5): list, replace, clear, and one tag at a time.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::{Caller, JsonBody};
use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/compute/v2.0/servers/{id}/tags",
            get(list).put(replace).delete(clear),
        )
        .route(
            "/compute/v2.0/servers/{id}/tags/{tag}",
            get(show).put(add).delete(remove),
        )
}

fn tags_doc(tags: &std::collections::BTreeMap<String, String>) -> Value {
    json!({"tags": tags.keys().collect::<Vec<_>>(), "statuses": tags.values().collect::<Vec<_>>()})
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(tags_doc(&state.services.server_tags(&caller, &id)?)))
}

async fn replace(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let tags: Vec<String> = body
        .get("tags")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("Malformed request: 'tags' must be a list"))?
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::to_string)
                .ok_or_else(|| ApiError::bad_request("Malformed request: tags must be strings"))
        })
        .collect::<Result<_, _>>()?;
    let tags = state
        .services
        .server_tags_replace(&caller, &id, &tags)
        .await?;
    Ok(Json(tags_doc(&tags)))
}

async fn clear(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.server_tag_remove(&caller, &id, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let tags = state.services.server_tags(&caller, &id)?;
    let status = tags.get(&tag).ok_or_else(|| {
        ApiError(crate::service::ServiceError::ItemNotFound(format!(
            "Tag {tag} not found"
        )))
    })?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(status) {
        response.headers_mut().insert("tag-status", v);
    }
    Ok(response)
}

async fn add(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let created = state.services.server_tag_add(&caller, &id, &tag).await?;
    if !created {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut response = StatusCode::CREATED.into_response();
    let location = format!("{}/servers/{id}/tags/{tag}", state.compute_url());
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

async fn remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state
        .services
        .server_tag_remove(&caller, &id, Some(&tag))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
