//! Compute `/os-keypairs` (spec §2.8): list, import or generate, get, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::{Caller, JsonBody};
use super::{ApiError, AppState};
use crate::config::Compat;
use crate::service::KeyPair;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/compute/v2.0/os-keypairs", get(list).post(create))
        .route("/compute/v2.0/os-keypairs/{name}", get(show).delete(remove))
}

fn short(k: &KeyPair) -> Value {
    json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint})
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Value>, ApiError> {
    let list = state.services.keypair_list(&caller)?;
    Ok(Json(
        json!({"keypairs": list.iter().map(|k| json!({"keypair": short(k)})).collect::<Vec<_>>()}),
    ))
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let kp = super::body::body_object(&body, "keypair", &["name", "public_key"])?;
    let name = kp.get("name").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request("Malformed request: 'keypair.name' must be a string")
    })?;
    let public_key = match kp.get("public_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Malformed request: 'keypair.public_key' must be a string",
            ));
        }
    };
    let created = state.services.keypair_create(&caller, name, public_key)?;
    let mut doc = short(&created.keypair);
    doc["user_id"] = json!(created.keypair.user_id);
    if let Some(private) = created.private_key {
        doc["private_key"] = json!(private);
    }
    let status = match state.compat {
        Compat::Synnefo => StatusCode::CREATED,
        Compat::Openstack => StatusCode::OK,
    };
    Ok((status, Json(json!({"keypair": doc}))).into_response())
}

async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let k = state.services.keypair_get(&caller, &name)?;
    let mut doc = short(&k);
    for (key, value) in [
        ("user_id", json!(k.user_id)),
        ("id", json!(k.id)),
        ("deleted", json!(false)),
        ("created_at", json!(k.created.iso())),
        ("updated_at", json!(k.updated.iso())),
        ("deleted_at", Value::Null),
    ] {
        doc[key] = value;
    }
    Ok(Json(json!({"keypair": doc})))
}

async fn remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.keypair_delete(&caller, &name)?;
    Ok(match state.compat {
        Compat::Synnefo => StatusCode::NO_CONTENT,
        Compat::Openstack => StatusCode::ACCEPTED,
    })
}
