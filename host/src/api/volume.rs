//! Block storage API (spec §5, Cinder v2 subset as Synnefo has it) at `/volume/v2.0`, its
//! alias `/volume/v2`, and `/volume/v3` (the same resources, for clients that only speak
//! Cinder v3, such as today's `openstack volume` commands); and the compute view of
//! attachments, `/compute/v2.0/servers/<id>/os-volume_attachments` (spec §2.1).
//!
//! Documents carry Cinder's `name`/`description` and Synnefo's `display_name`/
//! `display_description` (kamaki reads the latter); requests may use either.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{MapRules, body_object, opt_bool, opt_str, string_map};
use super::extract::{Caller, JsonBody};
use super::{ApiError, AppState};
use crate::service::Volume;
use crate::service::volumes::{NewVolume, VolumeTypeView};

/// The path prefixes the block storage API answers under (`/volume/v3`, OpenStack's, is
/// routed onto `/volume/v2.0` by `behaviour.rs`).
const PREFIXES: [&str; 2] = ["/volume/v2.0", "/volume/v2"];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for base in PREFIXES {
        router = router
            .route(&format!("{base}/volumes"), get(list).post(create))
            .route(&format!("{base}/volumes/detail"), get(detail))
            .route(
                &format!("{base}/volumes/{{id}}"),
                get(show).put(update).delete(remove),
            )
            .route(
                &format!("{base}/volumes/{{id}}/metadata"),
                get(metadata).post(metadata_merge).put(metadata_replace),
            )
            .route(
                &format!("{base}/volumes/{{id}}/metadata/{{key}}"),
                axum::routing::delete(metadata_delete),
            )
            .route(&format!("{base}/volumes/{{id}}/action"), post(action))
            .route(&format!("{base}/types"), get(types))
            .route(&format!("{base}/types/{{id}}"), get(type_show))
            .route(
                &format!("{base}/snapshots"),
                get(snapshots_off).post(snapshots_off),
            )
            .route(&format!("{base}/snapshots/detail"), get(snapshots_off))
            .route(
                &format!("{base}/snapshots/{{id}}"),
                get(snapshots_off).put(snapshots_off).delete(snapshots_off),
            )
            .route(&format!("{base}/os-quota-sets/{{project}}"), get(quota_set))
    }
    router
        .route(
            "/compute/v2.0/servers/{id}/os-volume_attachments",
            get(attachments).post(attach),
        )
        .route(
            "/compute/v2.0/servers/{id}/os-volume_attachments/{volume}",
            get(attachment).delete(detach),
        )
}

fn volume_links(state: &AppState, id: &str) -> Value {
    let href = format!("{}/volumes/{id}", state.volume_url());
    json!([{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}])
}

/// The list view (`GET /volumes`): id, names and links.
fn volume_brief(state: &AppState, v: &Volume) -> Value {
    let id = v.id.to_string();
    let mut doc = json!({"id": id, "name": v.name, "links": volume_links(state, &id)});
    if state.compat == crate::config::Compat::Synnefo {
        doc["display_name"] = json!(v.name);
    }
    doc
}

/// `source` = `image:<id>` (or `snapshot:`/`volume:`) split into Cinder's fields.
fn source_of<'a>(v: &'a Volume, kind: &str) -> Option<&'a str> {
    v.source
        .as_deref()
        .and_then(|s| s.strip_prefix(kind))
        .and_then(|s| s.strip_prefix(':'))
}

/// Synnefo shows the lower-cased status (`in_use`); Cinder clients expect `in-use`, which
/// `api.compat = "openstack"` gives.
fn status_of(state: &AppState, v: &Volume) -> String {
    let status = v.status.to_lowercase();
    match state.compat {
        crate::config::Compat::Openstack => status.replace('_', "-"),
        crate::config::Compat::Synnefo => status,
    }
}

/// Which of Cinder's volume views a document is: `GET`'s, or a create's or update's (which
/// leave out the tenant attribute).
#[derive(Clone, Copy, PartialEq)]
enum View {
    Show,
    Write,
}

/// What Cinder's volume documents do not have: Synnefo's fields and Cinder v1's names.
const NOT_CINDER: [&str; 7] = [
    "display_name",
    "display_description",
    "image_id",
    "deleted",
    "delete_on_termination",
    "tenant_id",
    "shared_to_project",
];

/// The detail view: Synnefo's (spec §5 volume object, plus Cinder's names) through
/// Synnefo's endpoints, exactly Cinder v3's through OpenStack's.
fn volume_doc(state: &AppState, v: &Volume, view: View) -> Value {
    let mut doc = synnefo_volume_doc(state, v);
    if state.compat == crate::config::Compat::Openstack
        && let Some(map) = doc.as_object_mut()
    {
        for key in NOT_CINDER {
            map.remove(key);
        }
        if view == View::Write {
            map.remove("os-vol-tenant-attr:tenant_id");
        }
        for a in map
            .get_mut("attachments")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(a) = a.as_object_mut() {
                a.remove("device_index");
                a.insert("attached_at".into(), Value::Null);
            }
        }
    }
    doc
}

fn synnefo_volume_doc(state: &AppState, v: &Volume) -> Value {
    let id = v.id.to_string();
    let attachments: Vec<Value> = match v.server_id {
        Some(server) if !v.deleted => vec![json!({
            "server_id": server.to_string(),
            "volume_id": id,
            "id": id,
            "attachment_id": id,
            "device_index": v.index,
            "device": device_path(v.index),
            "host_name": Value::Null,
        })],
        _ => Vec::new(),
    };
    json!({
        "id": id,
        "name": v.name,
        "display_name": v.name,
        "description": v.description,
        "display_description": v.description,
        "links": volume_links(state, &id),
        "status": status_of(state, v),
        "size": v.size_gb,
        "created_at": v.created.iso(),
        "updated_at": v.updated.iso(),
        "metadata": v.metadata,
        "snapshot_id": source_of(v, "snapshot"),
        "source_volid": source_of(v, "volume"),
        "image_id": source_of(v, "image"),
        "attachments": attachments,
        "volume_type": v.volume_type_id.to_string(),
        "deleted": v.deleted,
        "delete_on_termination": v.delete_on_termination,
        "bootable": if v.is_root() { "true" } else { "false" },
        "encrypted": false,
        "multiattach": false,
        "availability_zone": "nova",
        "replication_status": "disabled",
        "consistencygroup_id": null,
        "os-vol-tenant-attr:tenant_id": v.project_id,
        "user_id": v.user_id,
        "tenant_id": v.project_id,
        "shared_to_project": v.shared_to_project,
    })
}

fn type_doc(t: &VolumeTypeView) -> Value {
    let vt = &t.volume_type;
    json!({
        "id": vt.id.to_string(),
        "name": vt.name,
        "deleted": vt.deleted,
        "description": null,
        "is_public": true,
        "extra_specs": vt.specs,
        "SNF:disk_template": vt.disk_template,
        "SNF:detachable": t.detachable,
    })
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(rename = "changes-since")]
    changes_since: Option<String>,
    name: Option<String>,
    status: Option<String>,
    all_tenants: Option<String>,
}

/// The volumes a listing shows, or `None` for 304 (nothing changed since `changes-since`).
fn listed(
    state: &AppState,
    caller: &crate::service::Credentials,
    q: &ListQuery,
) -> Result<Option<Vec<Volume>>, ApiError> {
    let mut list = match super::extract::changes_since(state, q.changes_since.as_deref())? {
        Some(t) => {
            let changed = state.services.volumes_changed_since(caller, t)?;
            if changed.is_empty() {
                return Ok(None);
            }
            changed
        }
        None if caller.is_admin && q.all_tenants.as_deref().is_some_and(|a| a != "0") => state
            .services
            .volume_list(crate::service::Deleted::Exclude)?,
        None => state.services.volumes_for(caller)?,
    };
    if let Some(name) = &q.name {
        list.retain(|v| &v.name == name);
    }
    if let Some(status) = &q.status {
        list.retain(|v| v.status.eq_ignore_ascii_case(status));
    }
    Ok(Some(list))
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let Some(list) = listed(&state, &caller, &q)? else {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    };
    let docs: Vec<Value> = list.iter().map(|v| volume_brief(&state, v)).collect();
    Ok(Json(json!({"volumes": docs})).into_response())
}

async fn detail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let Some(list) = listed(&state, &caller, &q)? else {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    };
    let docs: Vec<Value> = list
        .iter()
        .map(|v| volume_doc(&state, v, View::Show))
        .collect();
    Ok(Json(json!({"volumes": docs})).into_response())
}

/// A size given as a number or a numeric string (Synnefo accepts both).
fn size_of(obj: &serde_json::Map<String, Value>) -> Result<u64, ApiError> {
    let raw = obj
        .get("size")
        .ok_or_else(|| ApiError::bad_request("Malformed request: 'size' is required"))?;
    let parsed = match raw {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if n > 0 => Ok(n as u64),
        _ => Err(ApiError::bad_request(format!(
            "Volume 'size' needs to be a positive integer value. '{}' cannot be accepted.",
            match raw {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }
        ))),
    }
}

/// `display_name` (Synnefo, Cinder v1) or `name` (Cinder v2/v3).
fn either(
    obj: &serde_json::Map<String, Value>,
    synnefo: &str,
    cinder: &str,
) -> Result<Option<String>, ApiError> {
    Ok(opt_str(obj, synnefo)?.or(opt_str(obj, cinder)?))
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "volume",
        &[
            "display_name",
            "name",
            "size",
            "volume_type",
            "display_description",
            "description",
            "metadata",
            "source_volid",
            "snapshot_id",
            "imageRef",
            "image_id",
            "server_id",
            "project",
            "shared_to_project",
        ],
    )?;
    let name = either(obj, "display_name", "name")?
        .ok_or_else(|| ApiError::bad_request("Malformed request: 'display_name' is required"))?;
    let req = NewVolume {
        name,
        size_gb: size_of(obj)?,
        volume_type: opt_str(obj, "volume_type")?,
        description: either(obj, "display_description", "description")?.unwrap_or_default(),
        metadata: string_map(obj.get("metadata"), "metadata", MapRules::Volume)?,
        source_volid: opt_str(obj, "source_volid")?,
        snapshot_id: opt_str(obj, "snapshot_id")?,
        image_ref: either(obj, "imageRef", "image_id")?,
        server_id: opt_str(obj, "server_id")?,
        project: opt_str(obj, "project")?,
        shared_to_project: opt_bool(obj, "shared_to_project")?.unwrap_or(false),
        default_type: state.compat == crate::config::Compat::Openstack,
    };
    let v = state.services.volume_create(&caller, &req).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"volume": volume_doc(&state, &v, View::Write)})),
    )
        .into_response())
}

async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = state.services.volume_for(&caller, &id)?;
    Ok(Json(json!({"volume": volume_doc(&state, &v, View::Show)})))
}

async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let obj = body_object(
        &body,
        "volume",
        &[
            "display_name",
            "name",
            "display_description",
            "description",
            "delete_on_termination",
        ],
    )?;
    let v = state.services.volume_update(
        &caller,
        &id,
        either(obj, "display_name", "name")?,
        either(obj, "display_description", "description")?,
        opt_bool(obj, "delete_on_termination")?,
    )?;
    Ok(Json(json!({"volume": volume_doc(&state, &v, View::Write)})))
}

async fn remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.volume_delete(&caller, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn metadata(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let v = state.services.volume_for(&caller, &id)?;
    Ok(Json(json!({"metadata": v.metadata})))
}

async fn metadata_write(
    state: AppState,
    caller: crate::service::Credentials,
    id: String,
    body: Value,
    replace: bool,
) -> Result<Json<Value>, ApiError> {
    if !body.get("metadata").is_some_and(Value::is_object) {
        return Err(ApiError::bad_request(
            "Malformed request: missing 'metadata' object",
        ));
    }
    let items = string_map(body.get("metadata"), "metadata", MapRules::Volume)?;
    let v = state
        .services
        .volume_metadata_set(&caller, &id, items, replace)?;
    Ok(Json(json!({"metadata": v.metadata})))
}

async fn metadata_merge(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    metadata_write(state, caller, id, body, false).await
}

async fn metadata_replace(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    metadata_write(state, caller, id, body, true).await
}

async fn metadata_delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.volume_metadata_delete(&caller, &id, &key)?;
    Ok(StatusCode::OK)
}

/// `POST /volumes/<id>/action`: `reassign` (Synnefo); anything else is a 400 naming it.
async fn action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let name = body
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.keys().next().cloned())
        .ok_or_else(|| ApiError::bad_request("Malformed request: one action expected"))?;
    match name.as_str() {
        "reassign" => {
            let (project, shared) = super::network::reassign_args(&body)?;
            state
                .services
                .volume_reassign(&caller, &id, &project, shared.unwrap_or(false))?;
            Ok(StatusCode::OK.into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "Volume action '{other}' is not supported"
        ))),
    }
}

async fn types(State(state): State<AppState>, Caller(_): Caller) -> Result<Json<Value>, ApiError> {
    let docs: Vec<Value> = state
        .services
        .volume_types_view()?
        .iter()
        .map(type_doc)
        .collect();
    Ok(Json(json!({"volume_types": docs})))
}

async fn type_show(
    State(state): State<AppState>,
    Caller(_): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = state.services.volume_type_view(&id)?;
    Ok(Json(json!({"volume_type": type_doc(&t)})))
}

/// Snapshots are not enabled in this deployment (Synnefo's `CYCLADES_SNAPSHOTS_ENABLED`
/// false): 501, as Synnefo answers.
async fn snapshots_off(Caller(_): Caller) -> ApiError {
    ApiError(crate::service::ServiceError::NotImplemented(
        "Snapshots are not enabled".into(),
    ))
}

#[derive(Deserialize, Default)]
struct QuotaQuery {
    usage: Option<String>,
}

/// Cinder's quota set of a project the caller belongs to (`openstack quota show` reads it once
/// a block-storage service is in the catalog): `gigabytes` is `cyclades.disk` (every volume,
/// root volumes included, as Synnefo counts it); volumes have no count limit (-1); snapshots
/// and backups do not exist (0). `?usage=true` gives `{limit, in_use, reserved, allocated}`.
async fn quota_set(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    Query(q): Query<QuotaQuery>,
) -> Result<Json<Value>, ApiError> {
    if !caller.is_member_of(&project) && !caller.is_admin {
        return Err(ApiError(crate::service::ServiceError::ItemNotFound(
            format!("Project {project} not found"),
        )));
    }
    let rows = state.services.quota_list(Some(&project))?;
    let disk = rows.iter().find(|r| r.resource == "cyclades.disk");
    let gib = |bytes: i64| if bytes < 0 { -1 } else { bytes >> 30 };
    let volumes_in_use = state
        .services
        .volume_list(crate::service::Deleted::Exclude)?
        .iter()
        .filter(|v| v.project_id == project)
        .count() as i64;
    let items = [
        ("volumes", -1, volumes_in_use),
        (
            "gigabytes",
            disk.map_or(0, |d| gib(d.limit)),
            disk.map_or(0, |d| gib(d.usage)),
        ),
        ("snapshots", 0, 0),
        ("backups", 0, 0),
        ("backup_gigabytes", 0, 0),
        ("groups", 0, 0),
        (
            "per_volume_gigabytes",
            state.services.config().volumes.max_size_gb as i64,
            0,
        ),
    ];
    let with_usage = q
        .usage
        .as_deref()
        .is_some_and(|u| u.eq_ignore_ascii_case("true") || u == "1");
    let mut set = serde_json::Map::new();
    set.insert("id".into(), json!(project));
    for (key, limit, in_use) in items {
        let value = if with_usage {
            json!({"limit": limit, "in_use": in_use, "reserved": 0, "allocated": 0})
        } else {
            json!(limit)
        };
        set.insert(key.into(), value);
    }
    Ok(Json(json!({"quota_set": set})))
}

// ----- compute view: os-volume_attachments -----

fn attachment_doc(server_id: u64, v: &Volume) -> Value {
    json!({
        "id": v.id.to_string(),
        "volumeId": v.id.to_string(),
        "serverId": server_id.to_string(),
        "device": device_path(v.index),
    })
}

/// The guest device of the disk at `index` among a server's disks (0 is the root), as the
/// virtio disks of a KVM instance are named (`/dev/vda`, `/dev/vdb`, ..., `/dev/vdaa`): what
/// Nova reports too, and what openstacksdk's `attach_volume` waits to see; `""` when detached.
fn device_path(index: Option<u32>) -> String {
    let Some(mut n) = index else {
        return String::new();
    };
    let mut letters = Vec::new();
    loop {
        letters.push(char::from(b'a' + (n % 26) as u8));
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    letters.reverse();
    format!("/dev/vd{}", letters.into_iter().collect::<String>())
}

async fn attachments(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let server = state.services.server_for(&caller, &id)?;
    let docs: Vec<Value> = state
        .services
        .volumes_of_server(server.id)?
        .iter()
        .map(|v| attachment_doc(server.id, v))
        .collect();
    Ok(Json(json!({"volumeAttachments": docs})))
}

async fn attach(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "volumeAttachment", &["volumeId"])?;
    let volume = opt_str(obj, "volumeId")?.ok_or_else(|| {
        ApiError::bad_request("Malformed request: 'volumeAttachment.volumeId' is required")
    })?;
    let v = state.services.volume_attach(&caller, &id, &volume).await?;
    let server_id = v.server_id.unwrap_or_default();
    // Nova answers 200 (the attachment goes on in the background either way).
    let status = match state.compat {
        crate::config::Compat::Openstack => StatusCode::OK,
        crate::config::Compat::Synnefo => StatusCode::ACCEPTED,
    };
    Ok((
        status,
        Json(json!({"volumeAttachment": attachment_doc(server_id, &v)})),
    )
        .into_response())
}

async fn attachment(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, volume)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let v = state.services.volume_attachment(&caller, &id, &volume)?;
    Ok(Json(
        json!({"volumeAttachment": attachment_doc(v.server_id.unwrap_or_default(), &v)}),
    ))
}

async fn detach(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, volume)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.volume_detach(&caller, &id, &volume).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    #[test]
    fn device_paths_follow_the_kernel_naming() {
        let names: Vec<String> = [None, Some(0), Some(1), Some(25), Some(26), Some(27)]
            .into_iter()
            .map(super::device_path)
            .collect();
        assert_eq!(
            names,
            [
                "",
                "/dev/vda",
                "/dev/vdb",
                "/dev/vdz",
                "/dev/vdaa",
                "/dev/vdab"
            ]
        );
    }
}
