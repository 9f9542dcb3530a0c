//! Compute flavors (`/flavors`, `/flavors/detail`, `/flavors/<id>`, `os-extra_specs`), the
//! compute view of images (`/images`, spec §2.7) and `/extensions`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Caller, JsonBody};
use super::paging::PageQuery;
use super::{ApiError, AppState};
use crate::config::Compat;
use crate::service::images::ImageChanges;
use crate::service::{Credentials, ServiceError};
use crate::service::{Flavor, Image};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/compute/v2.0/flavors", get(flavors))
        .route("/compute/v2.0/flavors/detail", get(flavors_detail))
        .route("/compute/v2.0/flavors/{id}", get(flavor))
        .route(
            "/compute/v2.0/flavors/{id}/os-extra_specs",
            get(extra_specs),
        )
        .route("/compute/v2.0/images", get(images).post(image_create))
        .route("/compute/v2.0/images/detail", get(images_detail))
        .route(
            "/compute/v2.0/images/{id}",
            get(image).delete(super::image::unregister),
        )
        .route(
            "/compute/v2.0/images/{id}/metadata",
            get(image_metadata).post(image_metadata_merge),
        )
        .route(
            "/compute/v2.0/images/{id}/metadata/{key}",
            get(image_meta_get)
                .put(image_meta_put)
                .delete(image_meta_delete),
        )
        .route("/compute/v2.0/os-quota-sets/{project}", get(quota_set))
        .route("/compute/v2.0/limits", get(limits))
        .route(
            "/compute/v2.0/os-quota-sets/{project}/detail",
            get(quota_set_detail),
        )
        .route("/compute/v2.0/extensions", get(extensions))
        .route("/compute/v2.0/extensions/{alias}", get(extension))
}

/// `base` is the compute URL of the request's endpoint family (`AppState::compute_url`).
fn links(base: &str, kind: &str, id: &str) -> Value {
    let href = format!("{base}/{kind}/{id}");
    json!([{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}])
}

fn flavor_json(state: &AppState, caller: &Credentials, f: &Flavor, detail: bool) -> Value {
    let id = f.id.to_string();
    let mut doc =
        json!({"id": id, "name": f.name(), "links": links(&state.compute_url(), "flavors", &id)});
    if detail {
        doc["ram"] = json!(f.ram_mb);
        doc["disk"] = json!(f.disk_gb);
        doc["vcpus"] = json!(f.cpu);
        doc["os-flavor-access:is_public"] = json!(f.public);
        doc["OS-FLV-EXT-DATA:ephemeral"] = json!(0);
        // Nova's: no swap disk (`""`), no bandwidth factor, and Synnefo's `allow_create`
        // as whether new servers may use it.
        doc["swap"] = json!("");
        doc["rxtx_factor"] = json!(1.0);
        doc["OS-FLV-DISABLED:disabled"] = json!(!f.allow_create);
        if state.compat == Compat::Synnefo {
            doc["SNF:disk_template"] = json!(f.disk_template);
            doc["SNF:volume_type"] = json!(f.volume_type_id);
            doc["SNF:allow_create"] = json!(f.allow_create);
            let access: Vec<&String> = f.access.iter().filter(|p| caller.is_member_of(p)).collect();
            doc["SNF:flavor-access"] = json!(access);
        }
    }
    doc
}

#[derive(Deserialize, Default)]
struct FlavorQuery {
    #[serde(rename = "SNF:is_public")]
    snf_is_public: Option<String>,
    is_public: Option<String>,
    #[serde(rename = "SNF:flavor-access")]
    flavor_access: Option<String>,
    /// Nova's filters: at least this much disk (GB) and RAM (MB).
    #[serde(rename = "minDisk")]
    min_disk: Option<String>,
    #[serde(rename = "minRam")]
    min_ram: Option<String>,
    /// Nova's ordering: `flavorid` (the default), `id`, `name`, `memory_mb`, `vcpus`,
    /// `root_gb`; `asc` (the default) or `desc`.
    sort_key: Option<String>,
    sort_dir: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

/// A non-negative integer query parameter, or a 400 naming it.
fn min_filter(name: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    value
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("Invalid {name} '{v}': use a non-negative integer"))
            })
        })
        .transpose()
}

/// Orders flavors as Nova's `sort_key` and `sort_dir` ask.
fn sort_flavors(list: &mut [Flavor], q: &FlavorQuery) -> Result<(), ApiError> {
    let key = q.sort_key.as_deref().unwrap_or("flavorid");
    match key {
        "flavorid" | "id" => list.sort_by_key(|f| f.id),
        "name" => list.sort_by_key(|f| f.name()),
        "memory_mb" => list.sort_by_key(|f| (f.ram_mb, f.id)),
        "vcpus" => list.sort_by_key(|f| (f.cpu, f.id)),
        "root_gb" => list.sort_by_key(|f| (f.disk_gb, f.id)),
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid sort_key '{other}': use flavorid, id, name, memory_mb, vcpus or root_gb"
            )));
        }
    }
    match q.sort_dir.as_deref().unwrap_or("asc") {
        "asc" => {}
        "desc" => list.reverse(),
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid sort_dir '{other}': use asc or desc"
            )));
        }
    }
    Ok(())
}

fn flavor_listing(
    state: &AppState,
    caller: &Credentials,
    q: &FlavorQuery,
) -> Result<Vec<Flavor>, ApiError> {
    let mut list = state.services.flavors_for(caller)?;
    let public = q.snf_is_public.as_deref().or(q.is_public.as_deref());
    match public.map(str::to_ascii_lowercase).as_deref() {
        Some("true") => list.retain(|f| f.public),
        Some("false") => list.retain(|f| !f.public),
        // `is_public=None` (the OSC's "all") and absent mean no filter.
        _ => {}
    }
    if let Some(project) = &q.flavor_access {
        if caller.is_member_of(project) {
            list.retain(|f| f.access.iter().any(|p| p == project));
        } else {
            list.clear();
        }
    }
    if let Some(disk) = min_filter("minDisk", q.min_disk.as_deref())? {
        list.retain(|f| f.disk_gb >= disk);
    }
    if let Some(ram) = min_filter("minRam", q.min_ram.as_deref())? {
        list.retain(|f| f.ram_mb >= ram);
    }
    sort_flavors(&mut list, q)?;
    Ok(list)
}

/// `GET /flavors[/detail]`: filtered, ordered, and paged with `flavors_links`.
fn flavors_page(
    state: &AppState,
    caller: &Credentials,
    q: &FlavorQuery,
    detail: bool,
) -> Result<Json<Value>, ApiError> {
    let list = flavor_listing(state, caller, q)?;
    let collection = if detail { "flavors/detail" } else { "flavors" };
    let url = format!("{}/{collection}", state.compute_url());
    let (page, next) = q.page.apply(list, |f| f.id.to_string(), &url)?;
    let docs: Vec<Value> = page
        .iter()
        .map(|f| flavor_json(state, caller, f, detail))
        .collect();
    let mut body = json!({ "flavors": docs });
    if let Some(links) = next {
        body["flavors_links"] = links;
    }
    Ok(Json(body))
}

async fn flavors(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<FlavorQuery>,
) -> Result<Json<Value>, ApiError> {
    flavors_page(&state, &caller, &q, false)
}

async fn flavors_detail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<FlavorQuery>,
) -> Result<Json<Value>, ApiError> {
    flavors_page(&state, &caller, &q, true)
}

/// A flavor the caller can see; a non-numeric id is 404 so that clients fall back to a name
/// search (Synnefo answers 400 here; the `openstack` CLI needs 404).
fn visible_flavor(state: &AppState, caller: &Credentials, id: &str) -> Result<Flavor, ApiError> {
    match state.services.flavor_for(caller, id) {
        Err(ServiceError::BadRequest(_)) => Err(ApiError(ServiceError::ItemNotFound(
            "Flavor not found.".into(),
        ))),
        other => Ok(other?),
    }
}

async fn flavor(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = visible_flavor(&state, &caller, &id)?;
    Ok(Json(
        json!({"flavor": flavor_json(&state, &caller, &f, true)}),
    ))
}

async fn extra_specs(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    visible_flavor(&state, &caller, &id)?;
    Ok(Json(json!({"extra_specs": {}})))
}

fn image_json(state: &AppState, i: &Image, detail: bool) -> Value {
    let mut links = links(&state.compute_url(), "images", &i.id);
    if let Some(list) = links.as_array_mut() {
        let href = format!("{}/image/v1.0/images/{}", state.public_url, i.id);
        list.push(json!({"rel": "alternate", "href": href}));
    }
    let mut doc = json!({"id": i.id, "name": i.name, "links": links});
    if detail {
        let status = match i.status.as_str() {
            "available" => "ACTIVE",
            "queued" | "saving" => "SAVING",
            "error" => "ERROR",
            "deleted" => "DELETED",
            _ => "UNKNOWN",
        };
        doc["status"] = json!(status);
        doc["progress"] = json!(if status == "ACTIVE" { 100 } else { 0 });
        doc["created"] = json!(i.created.iso());
        doc["updated"] = json!(i.updated.iso());
        doc["minDisk"] = json!(0);
        doc["minRam"] = json!(0);
        doc["metadata"] = json!(i.properties);
        if state.compat == Compat::Synnefo {
            doc["user_id"] = json!(i.owner);
            doc["tenant_id"] = json!(i.owner);
            doc["public"] = json!(i.is_public);
            doc["is_snapshot"] = json!(i.is_snapshot);
        }
    }
    doc
}

#[derive(Deserialize, Default)]
struct ImageQuery {
    #[serde(rename = "changes-since")]
    changes_since: Option<String>,
}

/// The images listing, or with `changes-since` the images changed since (deleted ones
/// included, shown DELETED), 304 when none did.
fn image_listing(
    state: &AppState,
    caller: &Credentials,
    q: &ImageQuery,
    detail: bool,
) -> Result<Response, ApiError> {
    let list = match super::extract::changes_since(state, q.changes_since.as_deref())? {
        Some(t) => {
            let changed = state.services.images_changed_since(caller, t)?;
            if changed.is_empty() {
                return Ok(StatusCode::NOT_MODIFIED.into_response());
            }
            changed
        }
        None => state.services.images_for(caller)?,
    };
    let docs: Vec<Value> = list.iter().map(|i| image_json(state, i, detail)).collect();
    Ok(Json(json!({ "images": docs })).into_response())
}

async fn images(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ImageQuery>,
) -> Result<Response, ApiError> {
    image_listing(&state, &caller, &q, false)
}

async fn images_detail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ImageQuery>,
) -> Result<Response, ApiError> {
    image_listing(&state, &caller, &q, true)
}

async fn image_create(Caller(_): Caller) -> Result<StatusCode, ApiError> {
    Err(ApiError(ServiceError::NotImplemented(
        "Images are registered through the image API (/image/v1.0) or `cyclades image-register`"
            .into(),
    )))
}

async fn image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i = state.services.image_for(&caller, &id)?;
    Ok(Json(json!({"image": image_json(&state, &i, true)})))
}

async fn image_metadata(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i = state.services.image_for(&caller, &id)?;
    Ok(Json(json!({"metadata": i.properties})))
}

/// `GET .../extensions` (compute and network): none. Neutron clients ask before some
/// commands (`openstack network create`) and need the list, even empty.
pub(super) async fn extensions(Caller(_): Caller) -> Json<Value> {
    Json(json!({"extensions": []}))
}

pub(super) async fn extension(
    Caller(_): Caller,
    axum::extract::Path(alias): axum::extract::Path<String>,
) -> ApiError {
    ApiError(ServiceError::ItemNotFound(format!(
        "Extension {alias} not found."
    )))
}

/// `{"metadata": {k: v}}` (or `{"meta": ...}`) with string values, naming the first bad entry.
fn string_pairs(
    body: &Value,
    key: &str,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    let obj = body.get(key).and_then(Value::as_object).ok_or_else(|| {
        ApiError::bad_request(format!("Malformed request: missing '{key}' object"))
    })?;
    obj.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(ApiError::bad_request(format!(
                "Invalid value for metadata key '{k}': use a string"
            ))),
        })
        .collect()
}

async fn image_metadata_merge(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let changes = ImageChanges {
        set_properties: string_pairs(&body, "metadata")?,
        ..Default::default()
    };
    let i = state.services.image_update(&caller, &id, &changes)?;
    Ok((StatusCode::CREATED, Json(json!({"metadata": i.properties}))))
}

async fn image_meta_get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let i = state.services.image_for(&caller, &id)?;
    let v = i
        .properties
        .get(&key)
        .ok_or_else(|| ApiError(ServiceError::ItemNotFound("Metadata key not found.".into())))?;
    Ok(Json(json!({"meta": {key: v}})))
}

async fn image_meta_put(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let meta = string_pairs(&body, "meta")?;
    if meta.len() != 1 || !meta.contains_key(&key) {
        return Err(ApiError::bad_request(
            "Malformed request: 'meta' must hold exactly the key named in the URL",
        ));
    }
    let changes = ImageChanges {
        set_properties: meta.clone(),
        ..Default::default()
    };
    state.services.image_update(&caller, &id, &changes)?;
    Ok((StatusCode::CREATED, Json(json!({"meta": meta}))))
}

/// Removes one key; an absent key is not an error (spec §2.7).
async fn image_meta_delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let changes = ImageChanges {
        remove_properties: vec![key],
        ..Default::default()
    };
    state.services.image_update(&caller, &id, &changes)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Nova's quota set of a project the caller belongs to, from the quota holder's limits
/// (`openstack quota show`).
/// Nova's quota set of a project the caller belongs to; with `detail`, `{limit, in_use,
/// reserved}` per item (`/detail`, what `openstack quota show --usage` reads).
/// The compute quota set of `project` as Nova names it: (limit, in use, reserved) per item,
/// from the quota holder where Synnefo counts the resource, else this cloud's fixed limits.
fn quota_items(
    state: &AppState,
    caller: &crate::service::Credentials,
    project: &str,
) -> Result<Vec<(&'static str, (i64, i64, i64))>, ApiError> {
    if !caller.is_member_of(project) && !caller.is_admin {
        return Err(ApiError(ServiceError::ItemNotFound(format!(
            "Project {project} not found"
        ))));
    }
    let rows = state.services.quota_list(Some(project))?;
    let row = |r: &str, unit: i64| {
        rows.iter()
            .find(|q| q.resource == r)
            .map_or((0, 0, 0), |q| {
                // Negative limits mean "unlimited" (-1), whatever the unit.
                let scale = |v: i64| if v < 0 { -1 } else { v / unit };
                (scale(q.limit), scale(q.usage), scale(q.pending))
            })
    };
    let fixed = |n: usize| (n as i64, 0, 0);
    Ok(vec![
        ("instances", row("cyclades.vm", 1)),
        ("cores", row("cyclades.total_cpu", 1)),
        ("ram", row("cyclades.total_ram", 1024 * 1024)),
        ("floating_ips", row("cyclades.floating_ip", 1)),
        // Addresses come from subnets' pools, without a per-project limit.
        ("fixed_ips", (-1, 0, 0)),
        ("key_pairs", fixed(crate::service::keypairs::MAX_KEYPAIRS)),
        (
            "metadata_items",
            fixed(crate::service::servers::MAX_METADATA),
        ),
        (
            "injected_files",
            fixed(crate::service::servers::MAX_PERSONALITY),
        ),
        (
            "injected_file_content_bytes",
            fixed(crate::service::servers::MAX_PERSONALITY_SIZE),
        ),
        ("injected_file_path_bytes", fixed(255)),
        // The one security group, `default`, with no rules of its own.
        ("security_groups", (1, 1, 0)),
        ("security_group_rules", fixed(0)),
        ("server_groups", fixed(0)),
        ("server_group_members", fixed(0)),
    ])
}

fn quota_set_doc(
    state: &AppState,
    caller: &crate::service::Credentials,
    project: &str,
    detail: bool,
) -> Result<Value, ApiError> {
    let mut set = serde_json::Map::new();
    set.insert("id".into(), json!(project));
    for (key, (limit, in_use, reserved)) in quota_items(state, caller, project)? {
        let value = if detail {
            json!({"limit": limit, "in_use": in_use, "reserved": reserved})
        } else {
            json!(limit)
        };
        set.insert(key.into(), value);
    }
    Ok(json!({"quota_set": set}))
}

/// `GET /limits`: Nova's absolute limits of the token's project (no rate limits).
async fn limits(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Value>, ApiError> {
    let project = caller.project_id.clone().ok_or_else(|| {
        ApiError::bad_request("The token is not scoped to a project: limits are per project")
    })?;
    let items: BTreeMap<&str, (i64, i64, i64)> = quota_items(&state, &caller, &project)?
        .into_iter()
        .collect();
    let item = |k: &str| items.get(k).copied().unwrap_or((0, 0, 0));
    let mut absolute = serde_json::Map::new();
    for (max, used, key) in [
        ("maxTotalInstances", Some("totalInstancesUsed"), "instances"),
        ("maxTotalCores", Some("totalCoresUsed"), "cores"),
        ("maxTotalRAMSize", Some("totalRAMUsed"), "ram"),
        (
            "maxTotalFloatingIps",
            Some("totalFloatingIpsUsed"),
            "floating_ips",
        ),
        (
            "maxSecurityGroups",
            Some("totalSecurityGroupsUsed"),
            "security_groups",
        ),
        ("maxSecurityGroupRules", None, "security_group_rules"),
        (
            "maxServerGroups",
            Some("totalServerGroupsUsed"),
            "server_groups",
        ),
        ("maxServerGroupMembers", None, "server_group_members"),
        ("maxTotalKeypairs", None, "key_pairs"),
        ("maxServerMeta", None, "metadata_items"),
        ("maxImageMeta", None, "metadata_items"),
        ("maxPersonality", None, "injected_files"),
        ("maxPersonalitySize", None, "injected_file_content_bytes"),
    ] {
        let (limit, in_use, _) = item(key);
        absolute.insert(max.into(), json!(limit));
        if let Some(used) = used {
            absolute.insert(used.into(), json!(in_use));
        }
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": absolute}})))
}

async fn quota_set(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(quota_set_doc(&state, &caller, &project, false)?))
}

async fn quota_set_detail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(quota_set_doc(&state, &caller, &project, true)?))
}
