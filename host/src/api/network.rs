//! Network API `/network/v2.0` (spec §3.1, §3.2): networks and subnets, Neutron shapes with
//! Synnefo's extra fields. Ports and floating IPs are in `network_ports`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::{body_object, opt_bool, opt_str};
use super::extract::{Caller, JsonBody};
use super::neutron_query::{field_subset, fields, neutron_filter};
use super::{ApiError, AppState};
use crate::clock::Timestamp;
use crate::service::networks::{NewNetwork, network_status};
use crate::service::subnets::NewSubnet;
use crate::service::{Network, Subnet};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/network/v2.0/networks", get(list).post(create))
        .route("/network/v2.0/networks/detail", get(list))
        .route(
            "/network/v2.0/networks/{id}",
            get(show).put(rename).delete(remove),
        )
        .route("/network/v2.0/networks/{id}/action", post(action))
        .route(
            "/network/v2.0/extensions",
            get(super::compute_catalog::extensions),
        )
        .route(
            "/network/v2.0/extensions/{alias}",
            get(super::compute_catalog::extension),
        )
        .route("/network/v2.0/quotas/{project}", get(quota))
        .route("/network/v2.0/quotas/{project}/details", get(quota_details))
        .route(
            "/network/v2.0/quotas/{project}/details.json",
            get(quota_details),
        )
        .route("/network/v2.0/subnets", get(subnets).post(subnet_create))
        .route("/network/v2.0/subnets/detail", get(subnets))
        .route(
            "/network/v2.0/subnets/{id}",
            get(subnet_show).put(subnet_rename).delete(subnet_delete),
        )
}

fn links(state: &AppState, kind: &str, id: &str) -> Value {
    let href = format!("{}/{kind}/{id}", state.network_url());
    json!([{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}])
}

pub(super) fn network_doc(state: &AppState, n: &Network) -> Value {
    let id = n.id.to_string();
    json!({
        "id": id,
        "name": n.name,
        "links": links(state, "networks", &id),
        "user_id": n.user_id,
        "tenant_id": n.project_id,
        "project_id": n.project_id,
        "shared_to_project": n.shared_to_project,
        "type": n.flavor,
        "created": n.created.iso(),
        "updated": n.updated.iso(),
        "status": network_status(n),
        "public": n.public,
        "shared": n.public,
        "router:external": n.public,
        "admin_state_up": true,
        "subnets": n.subnets.iter().map(|s| s.id.to_string()).collect::<Vec<_>>(),
        "SNF:floating_ip_pool": n.floating_ip_pool,
        "deleted": n.deleted,
    })
}

pub(super) fn subnet_doc(state: &AppState, n: &Network, s: &Subnet) -> Value {
    let id = s.id.to_string();
    let mut doc = json!({
        "id": id,
        "network_id": n.id.to_string(),
        "name": s.name,
        "tenant_id": n.user_id,
        "user_id": n.user_id,
        "public": n.public,
        "gateway_ip": s.gateway,
        "ip_version": s.ip_version,
        "cidr": s.cidr,
        "enable_dhcp": s.dhcp,
        "dns_nameservers": s.dns_nameservers,
        "host_routes": s.host_routes,
        "allocation_pools": s.pools.iter().map(|(a, b)| json!({"start": a.to_string(), "end": b.to_string()})).collect::<Vec<_>>(),
        "deleted": n.deleted,
        "links": links(state, "subnets", &id),
    });
    if s.ip_version == 6 {
        doc["enable_slaac"] = json!(s.dhcp);
    }
    doc
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(rename = "changes-since")]
    changes_since: Option<String>,
    name: Option<String>,
}

fn since(state: &AppState, q: &ListQuery) -> Result<Option<Timestamp>, ApiError> {
    super::extract::changes_since(state, q.changes_since.as_deref())
}

async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListQuery>,
    Query(filters): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let mut list = match since(&state, &q)? {
        Some(t) => {
            let changed = state.services.networks_changed_since(&caller, t)?;
            if changed.is_empty() {
                return Ok(StatusCode::NOT_MODIFIED.into_response());
            }
            changed
        }
        None => state.services.networks_for(&caller)?,
    };
    if let Some(name) = &q.name {
        list.retain(|n| &n.name == name);
    }
    let docs: Vec<Value> = list.iter().map(|n| network_doc(&state, n)).collect();
    let docs = neutron_filter(docs, &filters);
    Ok(Json(json!({"networks": fields(docs, &filters)})).into_response())
}

/// `{"reassign": {"project": P, "shared_to_project"?: bool}}` of networks and floating IPs.
pub(super) fn reassign_args(body: &Value) -> Result<(String, Option<bool>), ApiError> {
    let obj = body_object(body, "reassign", &["project", "shared_to_project"])?;
    let project = opt_str(obj, "project")?.ok_or_else(|| {
        ApiError::bad_request("Malformed request: 'reassign.project' is required")
    })?;
    Ok((project, opt_bool(obj, "shared_to_project")?))
}

/// `POST /networks`, one or in bulk.
async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    super::neutron_bulk::create(
        &state,
        &caller,
        &body,
        super::neutron_bulk::Resource::Network,
    )
    .await
}

pub(super) async fn create_one(
    state: &AppState,
    caller: &crate::service::Credentials,
    body: &Value,
) -> Result<Value, ApiError> {
    let obj = body_object(
        body,
        "network",
        &["name", "type", "project", "shared_to_project"],
    )?;
    // Synnefo requires `type`; Neutron clients (`openstack network create`) send none, so it
    // defaults to the first flavor users may create.
    let flavor = match opt_str(obj, "type")? {
        Some(t) => t,
        None => state
            .services
            .config()
            .network
            .api_enabled_flavors
            .first()
            .cloned()
            .ok_or_else(|| ApiError::bad_request("Malformed request: 'type' is required"))?,
    };
    let req = NewNetwork {
        name: opt_str(obj, "name")?.unwrap_or_default(),
        flavor,
        project: opt_str(obj, "project")?,
        shared_to_project: opt_bool(obj, "shared_to_project")?.unwrap_or(false),
        ..Default::default()
    };
    let n = state.services.network_create(caller, &req, false).await?;
    Ok(network_doc(state, &n))
}

async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let n = state.services.network_for(&caller, &id)?;
    Ok(Json(
        json!({"network": field_subset(network_doc(&state, &n), &query)}),
    ))
}

async fn rename(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let obj = body_object(&body, "network", &["name"])?;
    let name = opt_str(obj, "name")?
        .ok_or_else(|| ApiError::bad_request("Malformed request: 'network.name' is required"))?;
    let n = state.services.network_rename(&caller, &id, &name)?;
    Ok(Json(json!({"network": network_doc(&state, &n)})))
}

async fn remove(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.network_delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let (project, shared) = reassign_args(&body)?;
    let n = state
        .services
        .network_reassign(&caller, &id, &project, shared)?;
    Ok(Json(json!({"network": network_doc(&state, &n)})))
}

// ----- subnets -----

async fn subnets(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListQuery>,
    Query(filters): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let mut list = match since(&state, &q)? {
        // Subnets of deleted networks too (they went with their network), shown deleted.
        Some(t) => {
            let changed = state.services.subnets_changed_since(&caller, t)?;
            if changed.is_empty() {
                return Ok(StatusCode::NOT_MODIFIED.into_response());
            }
            changed
        }
        None => state.services.subnets_for(&caller)?,
    };
    if let Some(name) = &q.name {
        list.retain(|(_, s)| &s.name == name);
    }
    let docs: Vec<Value> = list.iter().map(|(n, s)| subnet_doc(&state, n, s)).collect();
    let docs = neutron_filter(docs, &filters);
    Ok(Json(json!({"subnets": fields(docs, &filters)})).into_response())
}

/// `POST /subnets`, one or in bulk.
async fn subnet_create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    super::neutron_bulk::create(
        &state,
        &caller,
        &body,
        super::neutron_bulk::Resource::Subnet,
    )
    .await
}

pub(super) fn subnet_create_one(
    state: &AppState,
    caller: &crate::service::Credentials,
    body: &Value,
) -> Result<Value, ApiError> {
    let req = parse_subnet(body_object(
        body,
        "subnet",
        &[
            "network_id",
            "cidr",
            "name",
            "ip_version",
            "gateway_ip",
            "enable_dhcp",
            "enable_slaac",
            "dns_nameservers",
            "host_routes",
            "allocation_pools",
        ],
    )?)?;
    let (n, s) = state.services.subnet_create(caller, &req)?;
    Ok(subnet_doc(state, &n, &s))
}

/// A subnet request (`POST /subnets`, the admin `subnet-create`).
pub(super) fn parse_subnet(obj: &serde_json::Map<String, Value>) -> Result<NewSubnet, ApiError> {
    let required = |key: &str| -> Result<String, ApiError> {
        opt_str(obj, key)?
            .ok_or_else(|| ApiError::bad_request(format!("Malformed request: '{key}' is required")))
    };
    let ip_version = match obj.get("ip_version") {
        None | Some(Value::Null) => 4,
        Some(v) => match v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        {
            Some(4) => 4,
            Some(6) => 6,
            _ => return Err(ApiError::bad_request("Invalid ip_version: use 4 or 6")),
        },
    };
    let dhcp = match ip_version {
        6 => opt_bool(obj, "enable_slaac")?.or(opt_bool(obj, "enable_dhcp")?),
        _ => opt_bool(obj, "enable_dhcp")?,
    }
    .unwrap_or(true);
    let strings = |key: &str| -> Result<Vec<String>, ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Malformed request: '{key}' must be a list of strings"
                        ))
                    })
                })
                .collect(),
            Some(_) => Err(ApiError::bad_request(format!(
                "Malformed request: '{key}' must be a list"
            ))),
        }
    };
    let allocation_pools = match obj.get("allocation_pools") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|p| match (p["start"].as_str(), p["end"].as_str()) {
                    (Some(s), Some(e)) => Ok((s.to_string(), e.to_string())),
                    _ => Err(ApiError::bad_request(
                        "Malformed request: each allocation pool needs 'start' and 'end'",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Malformed request: 'allocation_pools' must be a list",
            ));
        }
    };
    Ok(NewSubnet {
        network_id: required("network_id")?,
        cidr: required("cidr")?,
        name: opt_str(obj, "name")?.unwrap_or_default(),
        ip_version,
        gateway: match obj.get("gateway_ip") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => Some(opt_str(obj, "gateway_ip")?),
        },
        dhcp,
        dns_nameservers: strings("dns_nameservers")?,
        host_routes: match obj.get("host_routes") {
            Some(Value::Array(a)) => a.clone(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "Malformed request: 'host_routes' must be a list",
                ));
            }
        },
        allocation_pools,
    })
}

async fn subnet_show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let (n, s) = state.services.subnet_for(&caller, &id)?;
    Ok(Json(
        json!({"subnet": field_subset(subnet_doc(&state, &n, &s), &query)}),
    ))
}

async fn subnet_rename(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let obj = body_object(&body, "subnet", &["name"])?;
    if obj.len() != 1 || !obj.contains_key("name") {
        return Err(ApiError::bad_request(
            "Only the name of a subnet can be updated: send {\"subnet\": {\"name\": ...}}",
        ));
    }
    let name = opt_str(obj, "name")?.unwrap_or_default();
    let (n, s) = state.services.subnet_rename(&caller, &id, &name)?;
    Ok(Json(json!({"subnet": subnet_doc(&state, &n, &s)})))
}

/// Synnefo deletes subnets only with their network (400); Neutron deletes unused ones.
async fn subnet_delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.compat == crate::config::Compat::Openstack {
        state.services.subnet_delete(&caller, &id)?;
        return Ok(StatusCode::NO_CONTENT);
    }
    state.services.subnet_for(&caller, &id)?;
    Err(ApiError::bad_request(
        "Deletion of a subnet is not supported",
    ))
}

/// Neutron's quota of a project the caller belongs to, from the quota holder: `network` is
/// `cyclades.network.private`, `floatingip` is `cyclades.floating_ip`; ports and subnets have
/// no limit (-1); routers and security groups do not exist (0). With usage: `{limit, used,
/// reserved}` per resource (`.../details`, what `openstack quota show --usage` reads).
fn quota_doc(
    state: &AppState,
    caller: &crate::service::Credentials,
    project: &str,
    details: bool,
) -> Result<Value, ApiError> {
    if !caller.is_member_of(project) && !caller.is_admin {
        return Err(ApiError(crate::service::ServiceError::ItemNotFound(
            format!("Project {project} not found"),
        )));
    }
    let rows = state.services.quota_list(Some(project))?;
    let row = |r: &str| {
        rows.iter()
            .find(|q| q.resource == r)
            .map_or((0, 0, 0), |q| (q.limit, q.usage, q.pending))
    };
    let items = [
        ("network", row("cyclades.network.private")),
        ("floatingip", row("cyclades.floating_ip")),
        ("port", (-1, 0, 0)),
        ("subnet", (-1, 0, 0)),
        ("router", (0, 0, 0)),
        ("security_group", (0, 0, 0)),
        ("security_group_rule", (0, 0, 0)),
        ("rbac_policy", (-1, 0, 0)),
    ];
    let mut quota = serde_json::Map::new();
    for (key, (limit, used, reserved)) in items {
        let value = if details {
            json!({"limit": limit, "used": used, "reserved": reserved})
        } else {
            json!(limit)
        };
        quota.insert(key.into(), value);
    }
    Ok(json!({"quota": quota}))
}

async fn quota(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(quota_doc(&state, &caller, &project, false)?))
}

async fn quota_details(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(quota_doc(&state, &caller, &project, true)?))
}
