//! The operator API of the plugin platform under `/admin/v1`: `plugins` (list, load, inspect,
//! release), `plugin-slots` (list, swap, rollback), `plugin-shadow` and `allocator-test`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{AdminCaller, JsonBody};
use super::{ApiError, AppState};
use crate::service::plugins::{AllocatorTestReport, BackendSnapshot, PluginInfo, verdict_text};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/plugins", get(list).post(load))
        .route("/admin/v1/plugins/{plugin}", get(inspect))
        .route("/admin/v1/plugins/{plugin}/release", post(release))
        .route("/admin/v1/plugin-slots", get(slots))
        .route("/admin/v1/plugin-slots/swap", post(swap))
        .route("/admin/v1/plugin-slots/rollback", post(rollback))
        .route(
            "/admin/v1/plugin-shadow",
            get(shadow_show).put(shadow_set).delete(shadow_off),
        )
        .route("/admin/v1/allocator-test", post(allocator_test))
}

fn plugin_json(p: &PluginInfo) -> Value {
    json!({
        "name": p.name,
        "kind": p.kind.as_str(),
        "version": p.version,
        "digest": p.digest,
        "source": p.source,
        "state": p.state,
        "slots": p.slots,
        "calls": p.calls,
        "faults": p.faults,
        "last_fault": p.last_fault,
        "cached": p.cached,
        "load_ms": (p.load_ms * 100.0).round() / 100.0,
        "loaded_at": p.loaded_at.iso(),
    })
}

fn plugin_detail(p: &PluginInfo) -> Value {
    let mut value = plugin_json(p);
    let plugin = &p.plugin;
    value["capabilities"] = json!(plugin.description.capabilities);
    value["limits"] = json!({
        "memory_mib": plugin.limits.memory_mib,
        "deadline_ms": plugin.limits.deadline_ms,
        "fuel": plugin.limits.fuel,
        "table_elements": plugin.limits.table_elements,
    });
    // Setting names only: values may be site secrets.
    value["settings"] = json!(plugin.settings().keys().collect::<Vec<_>>());
    if let Some(c) = plugin.disk_capabilities() {
        value["disk_template"] = json!({
            "ganeti_template": c.ganeti_template,
            "provider": c.provider,
            "mirrored": c.mirrored,
            "shared": c.shared,
            "snapshots": c.snapshots,
            "detachable": c.detachable,
            "clone": c.clone,
            "disk_factor": c.disk_factor,
        });
    }
    if let Some(pools) = plugin.network_pools() {
        value["pools"] = json!({"bridge": pools.bridge, "mac_prefix": pools.mac_prefix});
    }
    value
}

async fn list(State(state): State<AppState>, AdminCaller(_): AdminCaller) -> Json<Value> {
    let plugins: Vec<Value> = state
        .services
        .plugin_list()
        .iter()
        .map(plugin_json)
        .collect();
    Json(json!({"plugins": plugins}))
}

async fn inspect(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(plugin): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let info = state.services.plugin_inspect(&plugin)?;
    Ok(Json(json!({"plugin": plugin_detail(&info)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadBody {
    /// Absolute path of the component on the server.
    path: String,
}

async fn load(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<LoadBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let info = state.services.plugin_load(&body.path).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"plugin": plugin_detail(&info)})),
    ))
}

async fn release(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(plugin): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let info = state.services.plugin_release(&plugin)?;
    Ok(Json(json!({"plugin": plugin_json(&info)})))
}

async fn slots(State(state): State<AppState>, AdminCaller(_): AdminCaller) -> Json<Value> {
    let slots: Vec<Value> = state
        .services
        .plugin_slots()
        .iter()
        .map(|(slot, current, previous)| {
            json!({
                "slot": slot,
                "plugin": current.name,
                "version": current.version,
                "digest": current.digest,
                "previous": previous.as_ref().map(|p| format!("{} {} {}", p.name, p.version, &p.digest[..12])),
            })
        })
        .collect();
    Json(json!({"slots": slots}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapBody {
    slot: String,
    /// A loaded plugin (name or digest prefix) or an absolute path to load first.
    plugin: String,
}

async fn swap(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<SwapBody>,
) -> Result<Json<Value>, ApiError> {
    let (old, new) = state.services.plugin_swap(&body.slot, &body.plugin).await?;
    Ok(Json(json!({"slot": {
        "slot": body.slot,
        "plugin": new.name, "version": new.version, "digest": new.digest,
        "previous": {"plugin": old.name, "version": old.version, "digest": old.digest},
    }})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    slot: String,
}

async fn rollback(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<RollbackBody>,
) -> Result<Json<Value>, ApiError> {
    let now = state.services.plugin_rollback(&body.slot)?;
    Ok(Json(
        json!({"slot": {"slot": body.slot, "plugin": now.name, "version": now.version, "digest": now.digest}}),
    ))
}

async fn shadow_show(State(state): State<AppState>, AdminCaller(_): AdminCaller) -> Json<Value> {
    let Some((plugin, records)) = state.services.plugin_shadow() else {
        return Json(json!({"shadow": null}));
    };
    let agree = records
        .iter()
        .filter(|r| r.shadow.as_ref().ok() == Some(&r.active))
        .count();
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "at": r.at.iso(),
                "ram_mb": r.request.ram_mb,
                "disk_mb": r.request.disk_mb,
                "vcpus": r.request.vcpus,
                "candidates": r.candidates,
                "active": r.active.map(|b| b.to_string()),
                "shadow": match &r.shadow { Ok(c) => json!(c.map(|b| b.to_string())), Err(e) => json!({"error": e}) },
            })
        })
        .collect();
    Json(
        json!({"shadow": {"slot": "allocator", "plugin": plugin, "requests": records.len(), "agree": agree, "records": records}}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShadowBody {
    plugin: String,
}

async fn shadow_set(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<ShadowBody>,
) -> Result<Json<Value>, ApiError> {
    state.services.plugin_shadow_set(Some(&body.plugin))?;
    Ok(Json(
        json!({"shadow": {"slot": "allocator", "plugin": body.plugin, "requests": 0, "agree": 0, "records": []}}),
    ))
}

async fn shadow_off(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> Result<StatusCode, ApiError> {
    state.services.plugin_shadow_set(None)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllocatorTestBody {
    plugin: String,
    #[serde(default)]
    backends: Option<Vec<BackendSnapshot>>,
}

fn choice(c: &Result<Option<u32>, String>) -> Value {
    match c {
        Ok(Some(id)) => json!(id.to_string()),
        Ok(None) => json!("none"),
        Err(e) => json!({"error": e}),
    }
}

async fn allocator_test(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(body): JsonBody<AllocatorTestBody>,
) -> Result<Json<Value>, ApiError> {
    let report: AllocatorTestReport = state
        .services
        .allocator_test(&body.plugin, body.backends)
        .await?;
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|r| {
            let explanation: Vec<Value> = r
                .explanation
                .iter()
                .flat_map(|a| a.candidates.iter())
                .map(|c| json!({"backend": c.backend_id.to_string(), "verdict": verdict_text(&c.verdict)}))
                .collect();
            json!({
                "request": r.request,
                "active": choice(&r.active),
                "candidate": choice(&r.candidate),
                "same": r.active == r.candidate,
                "explanation": explanation,
            })
        })
        .collect();
    let same = report
        .rows
        .iter()
        .filter(|r| r.active == r.candidate)
        .count();
    Ok(Json(json!({"allocator_test": {
        "candidate": report.candidate,
        "active": report.active,
        "backends": report.backends,
        "requests": rows.len(),
        "same": same,
        "results": rows,
    }})))
}
