//! The image registry's two image APIs: Plankton at `/image/v1.0` as Synnefo has it (bare JSON
//! lists, `X-Image-Meta-*` headers; kamaki depends on it) and a Glance v2 subset at `/image/v2`
//! (what today's `openstack` CLI uses).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::Caller;
use super::{ApiError, AppState};
use crate::service::Image;
use crate::service::ServiceError;
use crate::service::images::{ImageChanges, NewImage};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/image/v2/images", get(v2_list))
        .route(
            "/image/v2/images/{id}",
            get(v2_get).patch(v2_update).delete(unregister),
        )
        .route("/image/v2/schemas/image", get(v2_schema));
    for base in ["/image/v1.0", "/image/v1"] {
        router = router
            .route(&format!("{base}/images"), get(v1_list).post(v1_register))
            .route(&format!("{base}/images/"), get(v1_list).post(v1_register))
            .route(&format!("{base}/images/detail"), get(v1_detail))
            .route(
                &format!("{base}/images/{{id}}"),
                get(v1_get).head(v1_head).put(v1_update).delete(unregister),
            )
            .route(
                &format!("{base}/images/{{id}}/members"),
                get(v1_members).put(v1_members_replace),
            )
            .route(
                &format!("{base}/shared-images/{{member}}"),
                get(v1_shared_images),
            )
            .route(
                &format!("{base}/images/{{id}}/members/{{project}}"),
                put(v1_member_add).delete(v1_member_remove),
            );
    }
    router
}

// ----- Glance v2 -----

fn v2_json(i: &Image) -> Value {
    let visibility = if i.is_public {
        "public"
    } else if i.members.is_empty() {
        "private"
    } else {
        "shared"
    };
    let status = if i.status == "available" {
        "active"
    } else {
        i.status.as_str()
    };
    let mut doc = json!({
        "id": i.id, "name": i.name, "status": status, "visibility": visibility,
        "disk_format": i.disk_format, "container_format": i.container_format,
        "size": i.size, "checksum": if i.checksum.is_empty() { Value::Null } else { json!(i.checksum) },
        "min_disk": 0, "min_ram": 0, "owner": i.owner, "protected": false,
        "created_at": i.created.iso(), "updated_at": i.updated.iso(), "tags": [],
        "self": format!("/v2/images/{}", i.id), "file": format!("/v2/images/{}/file", i.id),
        "schema": "/v2/schemas/image", "location": i.location,
    });
    for (k, v) in &i.properties {
        if doc.get(k).is_none() {
            doc[k] = json!(v);
        }
    }
    doc
}

#[derive(Deserialize, Default)]
struct V2Query {
    name: Option<String>,
    id: Option<String>,
    visibility: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
    marker: Option<String>,
}

async fn v2_list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<V2Query>,
) -> Result<Json<Value>, ApiError> {
    let mut list = state.services.images_for(&caller)?;
    if let Some(name) = &q.name {
        list.retain(|i| &i.name == name);
    }
    if let Some(ids) = q.id.as_deref() {
        let wanted: Vec<&str> = ids.strip_prefix("in:").unwrap_or(ids).split(',').collect();
        list.retain(|i| wanted.contains(&i.id.as_str()));
    }
    let docs: Vec<Value> = list.iter().map(v2_json).collect();
    let mut docs: Vec<Value> = docs
        .into_iter()
        .filter(|d| q.visibility.as_ref().is_none_or(|v| d["visibility"] == *v))
        .filter(|d| q.status.as_ref().is_none_or(|s| d["status"] == *s))
        .collect();
    if let Some(marker) = &q.marker {
        match docs.iter().position(|d| d["id"] == *marker) {
            Some(p) => {
                docs.drain(..=p);
            }
            None => {
                return Err(ApiError::bad_request(format!("Invalid marker '{marker}'")));
            }
        }
    }
    if let Some(limit) = q.limit {
        docs.truncate(limit);
    }
    Ok(Json(
        json!({"images": docs, "first": "/v2/images", "schema": "/v2/schemas/images"}),
    ))
}

async fn v2_get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(v2_json(&state.services.image_for(&caller, &id)?)))
}

/// Glance v2's image attributes a patch may not touch (Glance answers 403 for them).
const GLANCE_READ_ONLY: &[&str] = &[
    "id",
    "status",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "owner",
    "file",
    "schema",
    "self",
    "direct_url",
    "locations",
    "location",
    "members",
    "tags",
    "protected",
    "min_disk",
    "min_ram",
    "os_hidden",
];

/// `PATCH` with a JSON patch (`application/openstack-images-v2.1-json-patch`): replace/add/
/// remove of `/name`, `/visibility` and custom properties.
async fn v2_update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let ops: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON patch: {e}")))?;
    let mut changes = ImageChanges::default();
    for op in &ops {
        let kind = op["op"].as_str().unwrap_or("");
        let path = op["path"].as_str().unwrap_or("");
        let key = path.trim_start_matches('/');
        if key.is_empty() || !path.starts_with('/') {
            return Err(ApiError::bad_request(format!(
                "Invalid patch path '{path}'"
            )));
        }
        if GLANCE_READ_ONLY.contains(&key) {
            return Err(ApiError(ServiceError::Forbidden(format!(
                "Attribute '{key}' is read-only."
            ))));
        }
        match (kind, key) {
            ("replace" | "add", "disk_format" | "container_format") => {
                let value = op["value"]
                    .as_str()
                    .ok_or_else(|| ApiError::bad_request(format!("{key} must be a string")))?
                    .to_string();
                if key == "disk_format" {
                    changes.disk_format = Some(value);
                } else {
                    changes.container_format = Some(value);
                }
            }
            ("replace" | "add", "name") => {
                changes.name = Some(
                    op["value"]
                        .as_str()
                        .ok_or_else(|| ApiError::bad_request("name must be a string"))?
                        .to_string(),
                )
            }
            ("replace" | "add", "visibility") => match op["value"].as_str() {
                Some("public") => changes.public = Some(true),
                Some("private") => changes.public = Some(false),
                _ => {
                    return Err(ApiError::bad_request(
                        "visibility must be public or private",
                    ));
                }
            },
            ("replace" | "add", k) => {
                let v = match &op["value"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                changes.set_properties.insert(k.to_string(), v);
            }
            ("remove", k) => changes.remove_properties.push(k.to_string()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Unsupported patch op '{kind}'"
                )));
            }
        }
    }
    let image = state.services.image_update(&caller, &id, &changes)?;
    Ok(Json(v2_json(&image)))
}

async fn v2_schema() -> Json<Value> {
    Json(json!({"name": "image", "properties": {
        "id": {"type": "string"}, "name": {"type": ["null", "string"]},
        "status": {"type": "string"}, "visibility": {"type": "string"},
        "owner": {"type": ["null", "string"]}, "disk_format": {"type": ["null", "string"]},
        "container_format": {"type": ["null", "string"]}, "size": {"type": ["null", "integer"]}}}))
}

// ----- Plankton v1.0 -----

fn v1_json(i: &Image) -> Value {
    json!({
        "id": i.id, "name": i.name, "status": i.status.to_uppercase(), "location": i.location,
        "disk_format": i.disk_format, "container_format": i.container_format,
        "size": i.size, "checksum": i.checksum, "owner": i.owner, "is_public": i.is_public,
        "created_at": i.created.iso(), "updated_at": i.updated.iso(),
        "deleted_at": if i.deleted { json!(i.updated.iso()) } else { json!("") },
        "properties": i.properties,
    })
}

#[derive(Deserialize, Default)]
struct V1Query {
    name: Option<String>,
    status: Option<String>,
    disk_format: Option<String>,
    container_format: Option<String>,
    size_min: Option<u64>,
    size_max: Option<u64>,
    sort_key: Option<String>,
    sort_dir: Option<String>,
}

fn v1_listing(
    state: &AppState,
    caller: &crate::service::Credentials,
    q: &V1Query,
) -> Result<Vec<Image>, ApiError> {
    let mut list = state.services.images_for(caller)?;
    list.retain(|i| {
        q.name.as_ref().is_none_or(|n| &i.name == n)
            && q.status
                .as_ref()
                .is_none_or(|s| i.status.eq_ignore_ascii_case(s))
            && q.disk_format.as_ref().is_none_or(|f| &i.disk_format == f)
            && q.container_format
                .as_ref()
                .is_none_or(|f| &i.container_format == f)
            && q.size_min.is_none_or(|m| i.size >= m)
            && q.size_max.is_none_or(|m| i.size <= m)
    });
    let key = q.sort_key.as_deref().unwrap_or("created_at");
    match key {
        "id" => list.sort_by(|a, b| a.id.cmp(&b.id)),
        "name" => list.sort_by(|a, b| a.name.cmp(&b.name)),
        "size" => list.sort_by_key(|i| i.size),
        "disk_format" => list.sort_by(|a, b| a.disk_format.cmp(&b.disk_format)),
        "container_format" => list.sort_by(|a, b| a.container_format.cmp(&b.container_format)),
        "status" => list.sort_by(|a, b| a.status.cmp(&b.status)),
        "created_at" => list.sort_by_key(|i| i.created),
        "updated_at" => list.sort_by_key(|i| i.updated),
        other => return Err(ApiError::bad_request(format!("Invalid sort_key '{other}'"))),
    }
    match q.sort_dir.as_deref().unwrap_or("desc") {
        "desc" => list.reverse(),
        "asc" => {}
        other => return Err(ApiError::bad_request(format!("Invalid sort_dir '{other}'"))),
    }
    Ok(list)
}

async fn v1_list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<V1Query>,
) -> Result<Json<Value>, ApiError> {
    let list = v1_listing(&state, &caller, &q)?;
    Ok(Json(Value::Array(
        list.iter()
            .map(|i| json!({"id": i.id, "name": i.name, "status": i.status.to_uppercase(),
                             "disk_format": i.disk_format, "container_format": i.container_format, "size": i.size}))
            .collect(),
    )))
}

async fn v1_detail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<V1Query>,
) -> Result<Json<Value>, ApiError> {
    let list = v1_listing(&state, &caller, &q)?;
    Ok(Json(Value::Array(list.iter().map(v1_json).collect())))
}

/// `X-Image-Meta-*` headers of an image (Plankton's HEAD).
fn meta_headers(i: &Image) -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut put = |k: String, v: String| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            h.insert(name, value);
        }
    };
    let doc = v1_json(i);
    if let Some(obj) = doc.as_object() {
        for (k, v) in obj {
            if k == "properties" {
                continue;
            }
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            put(format!("x-image-meta-{}", k.replace('_', "-")), text);
        }
    }
    for (k, v) in &i.properties {
        put(
            format!("x-image-meta-property-{}", k.to_ascii_lowercase()),
            v.clone(),
        );
    }
    h
}

async fn v1_head(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let i = state.services.image_for(&caller, &id)?;
    Ok((StatusCode::OK, meta_headers(&i)).into_response())
}

async fn v1_get(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.services.image_for(&caller, &id)?;
    Err(ApiError(ServiceError::NotImplemented(
        "Image data is not served: download it from the image's location".into(),
    )))
}

/// Reads `X-Image-Meta-*` request headers: plain fields and `Property-*` properties.
fn read_meta(headers: &HeaderMap) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut fields = BTreeMap::new();
    let mut properties = BTreeMap::new();
    for (name, value) in headers {
        let name = name.as_str().to_ascii_lowercase();
        let Some(rest) = name.strip_prefix("x-image-meta-") else {
            continue;
        };
        let value = value.to_str().unwrap_or("").to_string();
        match rest.strip_prefix("property-") {
            Some(p) => {
                properties.insert(p.to_ascii_uppercase(), value);
            }
            None => {
                fields.insert(rest.replace('-', "_"), value);
            }
        }
    }
    (fields, properties)
}

fn parse_bool(field: &str, text: &str) -> Result<bool, ApiError> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid value '{text}' for {field}: use true or false"
        ))),
    }
}

async fn v1_register(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (fields, properties) = read_meta(&headers);
    let need = |k: &str| {
        fields.get(k).cloned().ok_or_else(|| {
            ApiError::bad_request(format!("Missing X-Image-Meta-{} header", header_case(k)))
        })
    };
    let new = NewImage {
        name: need("name")?,
        location: need("location")?,
        owner: caller.user_id.clone(),
        public: match fields.get("is_public") {
            Some(v) => parse_bool("X-Image-Meta-Is-Public", v)?,
            None => false,
        },
        disk_format: fields.get("disk_format").cloned(),
        container_format: fields.get("container_format").cloned(),
        size: match fields.get("size") {
            Some(s) => s
                .parse()
                .map_err(|_| ApiError::bad_request(format!("Invalid size '{s}'")))?,
            None => 0,
        },
        checksum: fields.get("checksum").cloned(),
        properties,
    };
    let image = state.services.image_register(&new)?;
    Ok((
        StatusCode::OK,
        meta_headers(&image),
        Json(json!({"image": v1_json(&image)})),
    )
        .into_response())
}

/// The `X-Image-Meta-*` fields `PUT /images/<id>` changes; any other is refused.
const V1_UPDATABLE: &[&str] = &[
    "name",
    "disk_format",
    "container_format",
    "is_public",
    "owner",
    "status",
];

async fn v1_update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (fields, properties) = read_meta(&headers);
    if let Some(field) = fields.keys().find(|f| !V1_UPDATABLE.contains(&f.as_str())) {
        return Err(ApiError::bad_request(format!(
            "X-Image-Meta-{} cannot be updated: only {} and properties can",
            header_case(field),
            V1_UPDATABLE.join(", ")
        )));
    }
    // Properties merge into the image's; an empty value removes one (Plankton).
    let (removed, set): (Vec<_>, Vec<_>) = properties.into_iter().partition(|(_, v)| v.is_empty());
    let changes = ImageChanges {
        name: fields.get("name").cloned(),
        public: match fields.get("is_public") {
            Some(v) => Some(parse_bool("X-Image-Meta-Is-Public", v)?),
            None => None,
        },
        disk_format: fields.get("disk_format").cloned(),
        container_format: fields.get("container_format").cloned(),
        owner: fields.get("owner").cloned(),
        status: fields.get("status").cloned(),
        set_properties: set.into_iter().collect(),
        remove_properties: removed.into_iter().map(|(k, _)| k).collect(),
    };
    let image = state.services.image_update(&caller, &id, &changes)?;
    Ok(Json(json!({"image": v1_json(&image)})))
}

/// Unregisters an image (every image view deletes the same way; the data stays at its
/// location).
pub(super) async fn unregister(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.image_unregister(&caller, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn v1_members(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i = state.services.image_for(&caller, &id)?;
    Ok(Json(
        json!({"members": i.members.iter().map(|m| json!({"member_id": m, "can_share": false})).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembershipsBody {
    memberships: Vec<Membership>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Membership {
    member_id: String,
    /// Plankton answers `can_share: false` and ignores a request for more.
    #[serde(default)]
    #[allow(dead_code)]
    can_share: bool,
}

/// `PUT /images/<id>/members`: the body's members replace the image's.
async fn v1_members_replace(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let body: MembershipsBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "Invalid memberships body: {e} (expected {{\"memberships\": [{{\"member_id\": ...}}]}})"
        ))
    })?;
    let members: Vec<String> = body.memberships.into_iter().map(|m| m.member_id).collect();
    state
        .services
        .image_members_replace(&caller, &id, &members)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /shared-images/<member>`: the images `<member>` shares that the caller sees.
async fn v1_shared_images(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(member): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let images = state.services.images_shared_by(&caller, &member)?;
    Ok(Json(json!({"shared_images": images
        .iter()
        .map(|i| json!({"image_id": i.id, "can_share": false}))
        .collect::<Vec<_>>()})))
}

async fn v1_member_add(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, project)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.image_member(&caller, &id, &project, true)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn v1_member_remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, project)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.services.image_member(&caller, &id, &project, false)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `disk_format` → `Disk-Format`.
fn header_case(field: &str) -> String {
    field
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}
