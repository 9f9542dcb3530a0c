//! `/healthz` (this replica and whether its store answers) and `GET /admin/v1/replicas`
//! (every replica sharing the store: `cyclades replica-list`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::AdminCaller;
use super::{ApiError, AppState};
use crate::clock::Timestamp;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/admin/v1/replicas", get(replica_list))
}

/// 200 when the store answers, 503 (naming the failure) when it does not: a load balancer
/// takes a replica that lost its database out of rotation.
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let services = state.services.clone();
    let ping = tokio::task::spawn_blocking(move || services.store_ping()).await;
    let (status, reachable, error) = match ping {
        Ok(Ok(())) => (StatusCode::OK, true, None),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, false, Some(e)),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            false,
            Some(format!("the store check did not finish: {e}")),
        ),
    };
    (
        status,
        Json(json!({
            "status": if reachable { "ok" } else { "unavailable" },
            "replica": state.services.replica_id(),
            "version": env!("CARGO_PKG_VERSION"),
            "store": {
                "engine": state.services.store_engine(),
                "reachable": reachable,
                "error": error,
            },
        })),
    )
}

async fn replica_list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let replicas = state.services.replica_list()?;
    let rows: Vec<Value> = replicas
        .iter()
        .map(|r| {
            json!({
                "id": r.record.id,
                "address": r.record.address,
                "version": r.record.version,
                "started": r.record.started.iso(),
                "last_heartbeat": Timestamp(r.record.heartbeat).iso(),
                "alive": r.alive,
                "jobs_owned": r.jobs_owned,
                "reconciler": r.reconciler,
            })
        })
        .collect();
    Ok(Json(json!({ "replicas": rows })))
}
