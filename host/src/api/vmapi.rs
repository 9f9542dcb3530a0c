//! The vmapi endpoints Ganeti nodes call while a server builds (spec §10.3, §11.2): the
//! one-time configuration snf-image fetches and the progress messages its monitor forwards.
//! No user token: the key in the path, made for one server, is the credential. Decisions are
//! the service layer's; this file only maps HTTP.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::extract::JsonBody;
use super::{ApiError, AppState};
use crate::progress_monitor::ProgressMessage;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/vmapi/v1.0/server-params/{key}", get(server_params))
        .route("/vmapi/v1.0/server-progress/{key}", post(server_progress))
}

/// `GET /vmapi/v1.0/server-params/<key>`: served once, then 404.
async fn server_params(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.services.vmapi_server_params(&key)?))
}

/// `POST /vmapi/v1.0/server-progress/<key>`: one snf-image message from `cyclades
/// progress-monitor`. 204; 400 for a malformed message, 404 for a key that is not a live
/// server's.
async fn server_progress(
    State(state): State<AppState>,
    Path(key): Path<String>,
    JsonBody(message): JsonBody<ProgressMessage>,
) -> Result<StatusCode, ApiError> {
    state.services.vmapi_server_progress(&key, &message)?;
    Ok(StatusCode::NO_CONTENT)
}
