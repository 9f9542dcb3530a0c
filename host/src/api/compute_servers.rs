//! Compute `/compute/v2.0/servers`: create, get, rename, delete, password, metadata,
//! diagnostics, ips, and the server documents (listings: `server_listing.rs`; actions:
//! `compute_server_actions.rs`). Wire shapes follow Synnefo's `vm_to_dict` (spec §2.2)
//! through Synnefo's endpoints, exactly Nova's through OpenStack's.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::body::{MapRules, body_object, malformed, string_map};
use super::extract::{Caller, JsonBody};
use super::{ApiError, AppState};
use crate::config::Compat;
use crate::service::Server;
use crate::service::ServiceError;
use crate::service::ports::RequestedNic;
use crate::service::server_batch::Count;
use crate::service::server_records::ServerUpdate;
use crate::service::servers::{AccessIps, NewServer, status_of, task_state_of};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/compute/v2.0/servers",
            get(super::server_listing::list).post(create),
        )
        .route(
            "/compute/v2.0/servers/detail",
            get(super::server_listing::detail),
        )
        .route(
            "/compute/v2.0/servers/{id}",
            get(show).put(rename).delete(remove),
        )
        .route(
            "/compute/v2.0/servers/{id}/action",
            post(super::compute_server_actions::action),
        )
        .route(
            "/compute/v2.0/servers/{id}/password",
            get(password).delete(forget_password),
        )
        .route(
            "/compute/v2.0/servers/{id}/metadata",
            get(metadata).post(metadata_merge).put(metadata_replace),
        )
        .route(
            "/compute/v2.0/servers/{id}/metadata/{key}",
            get(meta_get).put(meta_put).delete(meta_delete),
        )
        .route("/compute/v2.0/servers/{id}/diagnostics", get(diagnostics))
        .route("/compute/v2.0/servers/{id}/ips", get(ips))
        .route("/compute/v2.0/servers/{id}/ips/{network}", get(ips_on))
}

/// `base` is the compute URL of the request's endpoint family (`AppState::compute_url`).
fn links(base: &str, kind: &str, id: &str) -> Value {
    let href = format!("{base}/{kind}/{id}");
    json!([{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}])
}

pub(super) fn summary(state: &AppState, s: &Server) -> Value {
    let id = s.id.to_string();
    json!({"id": id, "name": s.name, "links": links(&state.compute_url(), "servers", &id)})
}

#[derive(Serialize)]
struct Link {
    rel: &'static str,
    href: String,
}

fn link_pair(base: &str, kind: &str, id: &str) -> Vec<Link> {
    let href = format!("{base}/{kind}/{id}");
    vec![
        Link {
            rel: "self",
            href: href.clone(),
        },
        Link {
            rel: "bookmark",
            href,
        },
    ]
}

#[derive(Serialize)]
struct Ref {
    id: String,
    links: Vec<Link>,
}

#[derive(Serialize)]
struct NamedGroup {
    name: &'static str,
}

#[derive(Serialize)]
struct Fault<'a> {
    code: u16,
    message: &'a str,
    created: String,
}

#[derive(Serialize)]
struct DiagnosticDoc<'a> {
    level: &'a str,
    created: String,
    source: &'a str,
    message: &'a str,
    details: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_date: Option<String>,
}

/// Synnefo's extra fields (absent with `api.compat = "openstack"`).
#[derive(Serialize)]
struct SnfFields<'a> {
    #[serde(rename = "SNF:task_state")]
    task_state: &'static str,
    #[serde(rename = "SNF:key_names")]
    key_names: &'a [String],
    /// User tags Ganeti has (status ACTIVE).
    tags: Vec<&'a String>,
    #[serde(rename = "SNF:fqdn")]
    fqdn: Option<String>,
    #[serde(rename = "SNF:port_forwarding")]
    port_forwarding: BTreeMap<String, String>,
    #[serde(rename = "SNF:rescue")]
    rescue: bool,
    suspended: bool,
    shared_to_project: bool,
    attachments: Vec<Value>,
    /// Ids of its volumes, by id (Synnefo renders numbers here).
    volumes: Vec<u64>,
    deleted: bool,
    diagnostics: Vec<DiagnosticDoc<'a>>,
}

/// One server as the compute API shows it (spec §2.2), borrowed from the record: listing
/// 10,000 of these allocates a handful of strings each, not a JSON tree.
#[derive(Serialize)]
pub(super) struct ServerDoc<'a> {
    id: String,
    name: &'a str,
    links: Vec<Link>,
    user_id: &'a str,
    tenant_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<u8>,
    #[serde(rename = "hostId")]
    host_id: &'static str,
    created: String,
    updated: String,
    flavor: Ref,
    image: Ref,
    metadata: &'a BTreeMap<String, String>,
    addresses: BTreeMap<String, Vec<Value>>,
    key_name: Option<&'a String>,
    security_groups: [NamedGroup; 1],
    config_drive: &'static str,
    #[serde(rename = "accessIPv4")]
    access_ipv4: String,
    #[serde(rename = "accessIPv6")]
    access_ipv6: String,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: &'static str,
    #[serde(rename = "os-extended-volumes:volumes_attached")]
    volumes_attached: Vec<VolumeRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<Fault<'a>>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    snf: Option<SnfFields<'a>>,
}

/// Nova 2.1's `os-extended-volumes:volumes_attached` item (exactly `id`).
#[derive(Serialize)]
struct VolumeRef {
    id: String,
}

pub(super) fn server_doc<'a>(state: &AppState, s: &'a Server) -> ServerDoc<'a> {
    let id = s.id.to_string();
    let (addresses, attachments) = super::network_ports::nic_docs(state, s);
    let mut volumes = if s.deleted {
        Vec::new()
    } else {
        state.services.volumes_of_server(s.id).unwrap_or_default()
    };
    volumes.sort_by_key(|v| v.id);
    let base = &state.compute_url();
    let status = match (status_of(s), state.compat) {
        // Nova calls a stopped server SHUTOFF; Synnefo calls it STOPPED.
        ("STOPPED", Compat::Openstack) => "SHUTOFF",
        (other, _) => other,
    };
    let flavor_id = s.flavor_id.to_string();
    let mut image_links = link_pair(base, "images", &s.image_id);
    image_links.push(Link {
        rel: "alternate",
        href: format!("{}/image/v1.0/images/{}", state.public_url, s.image_id),
    });
    ServerDoc {
        links: link_pair(base, "servers", &id),
        id,
        name: &s.name,
        user_id: &s.user_id,
        tenant_id: &s.project_id,
        status,
        // snf-image's copy percentage while building (spec §2.2); Nova shows progress only
        // in the states where something progresses.
        progress: match (status, state.compat) {
            ("ACTIVE", _) => Some(100),
            ("BUILD", _) | (_, Compat::Synnefo) => Some(s.build_percentage),
            (_, Compat::Openstack) => None,
        },
        host_id: "",
        created: s.created.iso(),
        updated: s.updated.iso(),
        flavor: Ref {
            links: link_pair(base, "flavors", &flavor_id),
            id: flavor_id,
        },
        image: Ref {
            id: s.image_id.clone(),
            links: image_links,
        },
        metadata: &s.metadata,
        addresses,
        key_name: s.key_names.first(),
        security_groups: [NamedGroup { name: "default" }],
        config_drive: "",
        access_ipv4: s.access_ipv4.map(|a| a.to_string()).unwrap_or_default(),
        access_ipv6: s.access_ipv6.map(|a| a.to_string()).unwrap_or_default(),
        disk_config: "MANUAL",
        volumes_attached: volumes
            .iter()
            .map(|v| VolumeRef {
                id: v.id.to_string(),
            })
            .collect(),
        fault: match (&s.backend_log_msg, status) {
            (Some(msg), "ERROR") => Some(Fault {
                code: 500,
                message: msg,
                created: s.updated.iso(),
            }),
            _ => None,
        },
        snf: (state.compat == Compat::Synnefo).then(|| SnfFields {
            task_state: task_state_of(s),
            key_names: &s.key_names,
            tags: s
                .tags
                .iter()
                .filter(|(_, status)| *status == "ACTIVE")
                .map(|(t, _)| t)
                .collect(),
            fqdn: None,
            port_forwarding: BTreeMap::new(),
            rescue: s.rescue,
            suspended: s.suspended,
            shared_to_project: s.shared_to_project,
            attachments,
            volumes: volumes.iter().map(|v| v.id).collect(),
            deleted: s.deleted,
            diagnostics: s.diagnostics.iter().take(1).map(diagnostic_doc).collect(),
        }),
    }
}

fn diagnostic_doc(d: &crate::service::Diagnostic) -> DiagnosticDoc<'_> {
    DiagnosticDoc {
        level: &d.level,
        created: d.created.iso(),
        source: &d.source,
        message: &d.message,
        details: &d.details,
        source_date: d.source_date.map(|t| t.iso()),
    }
}

/// The detail document of one server, as a JSON value (single-server replies).
pub(super) fn server_json(state: &AppState, s: &Server) -> Value {
    serde_json::to_value(server_doc(state, s)).unwrap_or(Value::Null)
}

/// `{"servers": [...]}` serialized straight from the records.
/// Parses the create body (spec §2.3) into a `NewServer`, naming the first bad field.
pub(super) fn parse_create(body: &Value, public_url: &str) -> Result<NewServer, ApiError> {
    let server = body
        .get("server")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("missing 'server' object"))?;
    let text = |key: &str| -> Result<String, ApiError> {
        match server.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(malformed(&format!("'{key}' must be a string"))),
            None => Err(malformed(&format!("missing '{key}'"))),
        }
    };
    super::server_create_attributes::check(server)?;
    let name = match server.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(malformed("'name' must be a string")),
        None => return Err(malformed("missing 'name'")),
    };
    let flavor_ref = text("flavorRef")?;
    let image_ref = match text("imageRef") {
        Ok(i) if !i.is_empty() => i,
        _ => server
            .get("block_device_mapping_v2")
            .and_then(|b| b.get(0))
            .filter(|d| d["source_type"] == "image")
            .and_then(|d| d["uuid"].as_str())
            .map(str::to_string)
            .ok_or_else(|| malformed("missing 'imageRef'"))?,
    };
    let (root_size_gb, volumes) = match server.get("block_device_mapping_v2") {
        None | Some(Value::Null) => (None, Vec::new()),
        Some(bdm) => super::server_bdm::parse(bdm, &image_ref)?,
    };
    let networks = parse_networks(server.get("networks"))?;
    let personality = match server.get("personality") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(malformed("'personality' must be a list")),
    };
    let mut key_names = Vec::new();
    if let Some(k) = server.get("key_name").filter(|v| !v.is_null()) {
        key_names.push(
            k.as_str()
                .ok_or_else(|| malformed("'key_name' must be a string"))?
                .to_string(),
        );
    }
    if let Some(list) = server.get("SNF:key_names").and_then(Value::as_array)
        && !list.is_empty()
    {
        if !key_names.is_empty() {
            return Err(ApiError::bad_request(
                "Use either 'key_name' or 'SNF:key_names', not both",
            ));
        }
        for k in list {
            let k = k
                .as_str()
                .ok_or_else(|| malformed("'SNF:key_names' must be a list of strings"))?;
            if !key_names.iter().any(|n| n == k) {
                key_names.push(k.to_string());
            }
        }
    }
    let optional_text = |key: &str| -> Result<Option<String>, ApiError> {
        match server.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(malformed(&format!("'{key}' must be a string"))),
        }
    };
    let tags = match server.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|t| t.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| malformed("'tags' must be a list of strings"))?,
        Some(_) => return Err(malformed("'tags' must be a list of strings")),
    };
    let shared_to_project = match server.get("shared_to_project") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(malformed("'shared_to_project' must be a boolean")),
    };
    let access_ips = AccessIps {
        v4: access_ip(server, "accessIPv4")?.flatten(),
        v6: access_ip(server, "accessIPv6")?.flatten(),
    };
    Ok(NewServer {
        name,
        access_ips,
        image_ref,
        flavor_ref,
        tags,
        shared_to_project,
        metadata: string_map(server.get("metadata"), "metadata", MapRules::Compute)?,
        personality,
        user_data: optional_text("user_data")?,
        key_names,
        admin_pass: optional_text("adminPass")?,
        project: optional_text("project")?,
        backend_id: None,
        public_url: public_url.to_string(),
        networks,
        helper: false,
        password_as_given: false,
        root_size_gb,
        volumes,
    })
}

/// The `networks` of a create request: absent (`None`: the default networks), `"none"`/`[]`
/// (no NIC but the forced ones), `"auto"` (the defaults), or a list of `{"uuid", "fixed_ip"?}`
/// and `{"port"}` items.
fn parse_networks(value: Option<&Value>) -> Result<Option<Vec<RequestedNic>>, ApiError> {
    let list = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s == "auto" => return Ok(None),
        Some(Value::String(s)) if s == "none" => return Ok(Some(Vec::new())),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(malformed("'networks' must be a list")),
    };
    let mut out = Vec::new();
    for item in list {
        let obj = item
            .as_object()
            .ok_or_else(|| malformed("each item of 'networks' must be an object"))?;
        let text = |v: &Value, key: &str| -> Result<String, ApiError> {
            match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(malformed(&format!(
                    "'networks' item '{key}' must be a string"
                ))),
            }
        };
        if let Some(port) = obj.get("port").filter(|v| !v.is_null()) {
            out.push(RequestedNic::Port(text(port, "port")?));
            continue;
        }
        let uuid = obj
            .get("uuid")
            .ok_or_else(|| malformed("each item of 'networks' needs 'uuid' or 'port'"))?;
        let fixed_ip = match obj.get("fixed_ip") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => Some(Some(text(v, "fixed_ip")?)),
        };
        out.push(RequestedNic::Network {
            uuid: text(uuid, "uuid")?,
            fixed_ip,
        });
    }
    Ok(Some(out))
}

/// `min_count`/`max_count`: a positive integer, or one as a string (what some clients send).
fn count_arg(server: &Value, key: &str) -> Result<Option<u32>, ApiError> {
    let bad = || malformed(&format!("'{key}' must be a positive integer"));
    match server.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(bad),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// What Nova's create rules differ in from Synnefo's: no password strength rule, and metadata
/// values of at most 255 characters (Synnefo allows 500).
fn nova_create_rules(req: &mut NewServer) -> Result<(), ApiError> {
    req.password_as_given = true;
    if let Some((k, _)) = req.metadata.iter().find(|(_, v)| v.chars().count() > 255) {
        return Err(ApiError::bad_request(format!(
            "Invalid metadata: the value of '{k}' is longer than 255 characters"
        )));
    }
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let mut req = parse_create(&body, &state.public_url)?;
    if state.compat == Compat::Openstack {
        nova_create_rules(&mut req)?;
    }
    let server = &body["server"];
    let count = Count::new(
        count_arg(server, "min_count")?,
        count_arg(server, "max_count")?,
    )?;
    let mut all = state
        .services
        .server_create_many(&caller, &req, count)
        .await
        .map_err(|e| match (state.compat, e) {
            // Nova answers 400 for a create naming a flavor, image, keypair or network that
            // does not exist; Synnefo 404.
            (Compat::Openstack, ServiceError::ItemNotFound(m)) => ServiceError::BadRequest(m),
            (_, e) => e,
        })?;
    if server["return_reservation_id"] == true {
        // One id for the whole request (Nova's `r-...`): its first server's.
        let first = all.first().map(|c| c.server.id).unwrap_or_default();
        let doc = json!({"reservation_id": format!("r-{first:08}")});
        return Ok((StatusCode::ACCEPTED, Json(doc)).into_response());
    }
    // Nova answers the first server of a multiple create.
    let created = all.swap_remove(0);
    let mut doc = match state.compat {
        Compat::Synnefo => server_json(&state, &created.server),
        Compat::Openstack => {
            let id = created.server.id.to_string();
            json!({"id": id, "links": links(&state.compute_url(), "servers", &id),
                   "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}]})
        }
    };
    doc["adminPass"] = json!(created.admin_pass);
    if state.compat == Compat::Synnefo {
        doc["status"] = json!("BUILD");
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"server": doc}))).into_response())
}

async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = state.services.server_for(&caller, &id)?;
    Ok(Json(json!({"server": server_json(&state, &s)})))
}

/// Nova's addresses outside the server document (`/ips`, and `PUT`'s view): `addr` and
/// `version` only, without the `OS-EXT-IPS` type and MAC. `addresses` maps networks to lists.
fn plain_addresses(addresses: &mut Value) {
    let entries = addresses
        .as_object_mut()
        .into_iter()
        .flat_map(|nets| nets.values_mut())
        .filter_map(Value::as_array_mut)
        .flatten()
        .filter_map(Value::as_object_mut);
    for entry in entries {
        entry.retain(|k, _| k == "addr" || k == "version");
    }
}

/// What Nova's `PUT /servers/<id>` leaves out of the document `GET` shows.
const NOT_IN_UPDATE_VIEW: [&str; 4] = [
    "key_name",
    "config_drive",
    "security_groups",
    "os-extended-volumes:volumes_attached",
];

/// Nova's `accessIPv4`/`accessIPv6` in a body: absent is `None` (unchanged), `""` or `null`
/// is `Some(None)` (none), an address `Some(Some(a))`; anything else a 400 naming it.
fn access_ip<T: std::str::FromStr>(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<Option<T>>, ApiError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => s
            .parse()
            .map(|a| Some(Some(a)))
            .map_err(|_| ApiError::bad_request(format!("Invalid {key} '{s}'"))),
        Some(_) => Err(malformed(&format!("'{key}' must be a string"))),
    }
}

/// `PUT /servers/<id>`: the name and Nova's access addresses.
async fn rename(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "server", &["name", "accessIPv4", "accessIPv6"])?;
    let name = match obj.get("name") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(malformed("'server.name' must be a string")),
    };
    let update = ServerUpdate {
        name,
        access_ipv4: access_ip(obj, "accessIPv4")?,
        access_ipv6: access_ip(obj, "accessIPv6")?,
    };
    if update.name.is_none() && update.access_ipv4.is_none() && update.access_ipv6.is_none() {
        return Err(malformed(
            "'server' must name what to change: name, accessIPv4 or accessIPv6",
        ));
    }
    let s = state.services.server_update(&caller, &id, &update)?;
    Ok(match state.compat {
        Compat::Synnefo => StatusCode::NO_CONTENT.into_response(),
        Compat::Openstack => {
            // Nova's update view: the server document without what only `GET` shows (the
            // keypair, config drive, security groups and attached volumes; tempest's
            // `update_server` schema refuses them) ...
            let mut doc = server_json(&state, &s);
            if let Some(map) = doc.as_object_mut() {
                for key in NOT_IN_UPDATE_VIEW {
                    map.remove(key);
                }
            }
            // ... and addresses without their extended attributes.
            plain_addresses(&mut doc["addresses"]);
            Json(json!({ "server": doc })).into_response()
        }
    })
}

async fn remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.server_delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = state.services.server_password(&caller, &id)?;
    Ok(Json(json!({"password": p})))
}

async fn forget_password(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.server_password_forget(&caller, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn metadata(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = state.services.server_for(&caller, &id)?;
    Ok(Json(json!({"metadata": s.metadata})))
}

fn metadata_status(state: &AppState) -> StatusCode {
    match state.compat {
        Compat::Synnefo => StatusCode::CREATED,
        Compat::Openstack => StatusCode::OK,
    }
}

async fn metadata_write(
    state: AppState,
    caller: crate::service::Credentials,
    id: String,
    body: Value,
    replace: bool,
) -> Result<Response, ApiError> {
    let items = string_map(body.get("metadata"), "metadata", MapRules::Compute)?;
    if body.get("metadata").is_none() {
        return Err(malformed("missing 'metadata' object"));
    }
    let s = state
        .services
        .server_metadata_set(&caller, &id, &items, replace)?;
    Ok((
        metadata_status(&state),
        Json(json!({"metadata": s.metadata})),
    )
        .into_response())
}

async fn metadata_merge(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    metadata_write(state, caller, id, body, false).await
}

async fn metadata_replace(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    metadata_write(state, caller, id, body, true).await
}

async fn meta_get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let s = state.services.server_for(&caller, &id)?;
    let value = s
        .metadata
        .get(&key)
        .ok_or_else(|| ApiError(ServiceError::ItemNotFound("Metadata key not found.".into())))?;
    Ok(Json(json!({"meta": {key: value}})))
}

async fn meta_put(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let meta = string_map(body.get("meta"), "meta", MapRules::Compute)?;
    if meta.len() != 1 || !meta.contains_key(&key) {
        return Err(ApiError::bad_request(
            "Malformed request: 'meta' must hold exactly the key named in the URL",
        ));
    }
    state
        .services
        .server_metadata_set(&caller, &id, &meta, false)?;
    let mut out = Map::new();
    out.insert(key.clone(), json!(meta[&key]));
    Ok((metadata_status(&state), Json(json!({"meta": out}))).into_response())
}

async fn meta_delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.server_metadata_delete(&caller, &id, &key)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn diagnostics(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = state.services.server_for(&caller, &id)?;
    Ok(Json(
        serde_json::to_value(s.diagnostics.iter().map(diagnostic_doc).collect::<Vec<_>>())
            .unwrap_or(Value::Null),
    ))
}

async fn ips(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = state.services.server_for(&caller, &id)?;
    let (addresses, attachments) = super::network_ports::nic_docs(&state, &s);
    Ok(Json(match state.compat {
        Compat::Synnefo => json!({"addresses": addresses, "attachments": attachments}),
        // Nova: exactly `{"addresses": ...}`, plain.
        Compat::Openstack => {
            let mut addresses = json!(addresses);
            plain_addresses(&mut addresses);
            json!({ "addresses": addresses })
        }
    }))
}

/// `GET /servers/<id>/ips/<network>`: the server's addresses on one network: Synnefo's
/// `{"network": {<id>: [...]}}` (empty when it has no NIC there), or Nova's `{<id>: [...]}`
/// through OpenStack's endpoints (404 when it has none).
async fn ips_on(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, network)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let s = state.services.server_for(&caller, &id)?;
    let n = state.services.network_for(&caller, &network)?;
    let (mut addresses, _) = super::network_ports::nic_docs(&state, &s);
    addresses.retain(|k, _| *k == n.id.to_string());
    match state.compat {
        Compat::Synnefo => Ok(Json(json!({"network": addresses}))),
        // Nova: 404 for a network the server is not on.
        Compat::Openstack if addresses.is_empty() => Err(ApiError(ServiceError::ItemNotFound(
            "Instance is not a member of specified network".into(),
        ))),
        Compat::Openstack => {
            let mut addresses = json!(addresses);
            plain_addresses(&mut addresses);
            Ok(Json(addresses))
        }
    }
}
