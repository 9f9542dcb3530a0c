//! Ports and floating IPs (spec §3.3, §3.4) under `/network/v2.0`, and the compute view of
//! floating IPs `/compute/v2.0/os-floating-ips` (spec §2.9); also a server's NICs as the compute API
//! shows them (`addresses`, `attachments`), rendered from the same ports.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::body::{body_object, opt_bool, opt_str};
use super::extract::{Caller, JsonBody};
use super::network::reassign_args;
use super::neutron_query::{field_subset, fields, neutron_filter};
use super::{ApiError, AppState};
use crate::config::Compat;
use crate::service::floating_ips::NewFloatingIp;
use crate::service::ports::NewPort;
use crate::service::{Credentials, FloatingIp, Port};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/network/v2.0/ports", get(ports).post(port_create))
        .route("/network/v2.0/ports/detail", get(ports))
        .route(
            "/network/v2.0/ports/{id}",
            get(port_show).put(port_update).delete(port_delete),
        )
        .route("/network/v2.0/floatingips", get(fips).post(fip_create))
        .route("/network/v2.0/floatingips/detail", get(fips))
        .route(
            "/network/v2.0/floatingips/{id}",
            get(fip_show).put(fip_put).delete(fip_delete),
        )
        .route("/network/v2.0/floatingips/{id}/action", post(fip_action))
        .route(
            "/compute/v2.0/os-floating-ips",
            get(compute_fips).post(compute_fip_create),
        )
        .route(
            "/compute/v2.0/os-floating-ips/{id}",
            get(fip_show).delete(fip_delete),
        )
}

pub(super) fn port_doc(state: &AppState, p: &Port) -> Value {
    let id = p.id.to_string();
    let href = format!("{}/ports/{id}", state.network_url());
    let fixed_ips: Vec<Value> = state
        .services
        .port_addresses(p)
        .into_iter()
        .map(|(subnet, a)| json!({"subnet": subnet.to_string(), "subnet_id": subnet.to_string(), "ip_address": a.to_string()}))
        .collect();
    json!({
        "id": id,
        "name": p.name,
        "links": [{"rel": "self", "href": href}, {"rel": "bookmark", "href": href}],
        "user_id": p.user_id,
        "tenant_id": p.user_id,
        "project_id": p.project_id,
        "device_id": p.device_id.map(|d| d.to_string()),
        "device_owner": if p.device_id.is_some() { "vm" } else { "" },
        "admin_state_up": true,
        "mac_address": p.mac,
        "status": p.status,
        "network_id": p.network_id.to_string(),
        "fixed_ips": fixed_ips,
        "security_groups": p.security_groups,
        "created": p.created.iso(),
        "updated": p.updated.iso(),
    })
}

/// A server's `addresses` (by network id) and Synnefo `attachments`, from its ports.
pub(super) fn nic_docs(
    state: &AppState,
    s: &crate::service::Server,
) -> (BTreeMap<String, Vec<Value>>, Vec<Value>) {
    let mut addresses: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut attachments = Vec::new();
    let ports = state.services.ports_of_server(s.id).unwrap_or_default();
    for (index, p) in ports.iter().enumerate() {
        let kind = if p.floating_ip_id.is_some() {
            "floating"
        } else {
            "fixed"
        };
        let ips = state.services.port_addresses(p);
        let list = addresses.entry(p.network_id.to_string()).or_default();
        for (_, a) in &ips {
            // A floating IP is the port's IPv4; its IPv6 stays fixed (Synnefo).
            let kind = if a.is_ipv4() { kind } else { "fixed" };
            let version = if a.is_ipv4() { 4 } else { 6 };
            let mut entry = json!({"version": version, "addr": a.to_string(),
                "OS-EXT-IPS:type": kind, "OS-EXT-IPS-MAC:mac_addr": p.mac});
            // Until Ganeti gives the NIC its MAC: Synnefo shows null, Nova leaves it out.
            if p.mac.is_none() && state.compat == crate::config::Compat::Openstack {
                entry
                    .as_object_mut()
                    .map(|e| e.remove("OS-EXT-IPS-MAC:mac_addr"));
            }
            list.push(entry);
        }
        let ipv6 = ips
            .iter()
            .find(|(_, a)| a.is_ipv6())
            .map(|(_, a)| a.to_string());
        attachments.push(json!({
            "id": format!("nic-{}-{index}", s.id),
            "port_id": p.id.to_string(),
            "network_id": p.network_id.to_string(),
            "mac_address": p.mac,
            "ipv4": p.ipv4.map(|(_, a)| a.to_string()),
            "ipv6": ipv6,
            "OS-EXT-IPS:type": kind,
            "firewallProfile": state.services.port_firewall_profile(p),
            "fixed_ips": ips.iter().map(|(subnet, a)| json!({"subnet": subnet.to_string(), "ip_address": a.to_string()})).collect::<Vec<_>>(),
        }));
    }
    (addresses, attachments)
}

/// A floating IP as Neutron shows it. Through Synnefo's endpoints `port_id` is the NIC's port
/// holding the address and `status` is ACTIVE while it is attached; through OpenStack's,
/// `port_id` and `fixed_ip_address` are the port the client associated it with
/// (`FloatingIp::nat_port_id`) and `status` turns ACTIVE once the NIC is up.
pub(super) fn fip_doc(state: &AppState, f: &FloatingIp) -> Value {
    let (port_id, fixed, status) = match (state.compat, f.server_id) {
        (Compat::Openstack, Some(server)) => {
            let ports = state.services.ports_of_server(server).unwrap_or_default();
            let find = |id: Option<u64>| ports.iter().find(|p| Some(p.id) == id);
            let nic_up = find(f.port_id).is_some_and(|p| p.status == "ACTIVE");
            let shown = f.nat_port_id.or(f.port_id);
            let fixed = find(f.nat_port_id)
                .and_then(|p| p.ipv4)
                .map(|(_, a)| a.to_string());
            (shown, fixed, if nic_up { "ACTIVE" } else { "DOWN" })
        }
        (_, _) => {
            let status = if f.port_id.is_some() {
                "ACTIVE"
            } else {
                "DOWN"
            };
            (f.port_id, None, status)
        }
    };
    json!({
        "id": f.id.to_string(),
        "floating_ip_address": f.address.to_string(),
        "fixed_ip_address": fixed,
        "instance_id": f.server_id.map(|s| s.to_string()),
        "port_id": port_id.map(|p| p.to_string()),
        "floating_network_id": f.network_id.to_string(),
        "user_id": f.user_id,
        "tenant_id": f.project_id,
        "project_id": f.project_id,
        "shared_to_project": f.shared_to_project,
        "status": status,
        "router_id": Value::Null,
        "deleted": f.deleted,
    })
}

async fn ports(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(filters): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let docs: Vec<Value> = state
        .services
        .ports_for(&caller)?
        .iter()
        .map(|p| port_doc(&state, p))
        .collect();
    Ok(Json(
        json!({"ports": fields(neutron_filter(docs, &filters), &filters)}),
    ))
}

/// `POST /ports`, one or in bulk.
async fn port_create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    super::neutron_bulk::create(&state, &caller, &body, super::neutron_bulk::Resource::Port).await
}

pub(super) async fn port_create_one(
    state: &AppState,
    caller: &Credentials,
    body: &Value,
) -> Result<Value, ApiError> {
    let obj = body_object(
        body,
        "port",
        &["network_id", "device_id", "fixed_ips", "name"],
    )?;
    let network_id = opt_str(obj, "network_id")?
        .ok_or_else(|| ApiError::bad_request("Malformed request: 'network_id' is required"))?;
    let device_id = opt_str(obj, "device_id")?.filter(|d| !d.is_empty());
    let fixed_ip = match obj.get("fixed_ips") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            if list.len() > 1 {
                return Err(ApiError::bad_request(
                    "A port can have at most one fixed IP",
                ));
            }
            match list.first() {
                None => None,
                Some(item) => Some(
                    item.get("ip_address")
                        .and_then(Value::as_str)
                        .filter(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
                        .ok_or_else(|| {
                            ApiError::bad_request("'fixed_ips' items need an IPv4 'ip_address'")
                        })?
                        .to_string(),
                ),
            }
        }
        Some(_) => return Err(ApiError::bad_request("'fixed_ips' must be a list")),
    };
    let req = NewPort {
        network_id,
        name: opt_str(obj, "name")?.unwrap_or_default(),
        fixed_ip,
    };
    let p = match device_id {
        Some(server) => {
            state
                .services
                .port_create_attached(caller, &req, &server)
                .await?
        }
        None => state.services.port_create(caller, &req)?,
    };
    Ok(port_doc(state, &p))
}

async fn port_show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let p = state.services.port_for(&caller, &id)?;
    Ok(Json(
        json!({"port": field_subset(port_doc(&state, &p), &query)}),
    ))
}

async fn port_update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let obj = body_object(&body, "port", &["name", "security_groups"])?;
    if let Some(groups) = obj.get("security_groups").and_then(Value::as_array)
        && let Some(g) = groups.first()
    {
        return Err(ApiError::from(crate::service::ServiceError::ItemNotFound(
            format!("Security group {g} not found"),
        )));
    }
    let p = match opt_str(obj, "name")? {
        Some(name) => state.services.port_rename(&caller, &id, &name)?,
        None => state.services.port_for(&caller, &id)?,
    };
    Ok(Json(json!({"port": port_doc(&state, &p)})))
}

async fn port_delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.port_delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----- floating IPs -----

/// Floating IPs `caller` sees, or with `changes-since` those changed since (released ones
/// included); `None` when that is nothing (304).
fn fip_listing(
    state: &AppState,
    caller: &Credentials,
    filters: &[(String, String)],
) -> Result<Option<Vec<FloatingIp>>, ApiError> {
    let since = filters
        .iter()
        .find(|(k, _)| k == "changes-since")
        .map(|(_, v)| v.as_str());
    Ok(match super::extract::changes_since(state, since)? {
        Some(t) => {
            Some(state.services.floating_ips_changed_since(caller, t)?).filter(|l| !l.is_empty())
        }
        None => Some(state.services.floating_ips_for(caller)?),
    })
}

async fn fips(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(filters): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Some(list) = fip_listing(&state, &caller, &filters)? else {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    };
    let docs: Vec<Value> = list.iter().map(|f| fip_doc(&state, f)).collect();
    let docs = fields(neutron_filter(docs, &filters), &filters);
    Ok(Json(json!({ "floatingips": docs })).into_response())
}

/// `POST /floatingips`; with a `port_id` (openstacksdk's `create_floating_ip(server=...)`)
/// the new floating IP is associated at once (`Services::floating_ip_create_associated`).
/// Neutron answers 201, Synnefo 200.
async fn fip_create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(
        &body,
        "floatingip",
        &[
            "floating_network_id",
            "floating_ip_address",
            "project",
            "shared_to_project",
            "port_id",
            "fixed_ip_address",
        ],
    )?;
    let req = NewFloatingIp {
        network_id: opt_str(obj, "floating_network_id")?,
        address: opt_str(obj, "floating_ip_address")?,
        project: opt_str(obj, "project")?,
        shared_to_project: opt_bool(obj, "shared_to_project")?.unwrap_or(false),
    };
    let fixed = opt_str(obj, "fixed_ip_address")?;
    let f = match port_arg(obj)? {
        Some(port) => {
            state
                .services
                .floating_ip_create_associated(&caller, &req, &port, fixed.as_deref())
                .await?
        }
        None => state.services.floating_ip_create(&caller, &req)?,
    };
    let status = match state.compat {
        Compat::Openstack => StatusCode::CREATED,
        Compat::Synnefo => StatusCode::OK,
    };
    Ok((status, Json(json!({"floatingip": fip_doc(&state, &f)}))).into_response())
}

/// `floatingip.port_id`: a port id, or `null`/absent for none.
fn port_arg(obj: &serde_json::Map<String, Value>) -> Result<Option<String>, ApiError> {
    match obj.get("port_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(p)) => Ok(Some(p.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::bad_request(
            "'floatingip.port_id' must be a port id or null",
        )),
    }
}

async fn fip_show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let f = state.services.floating_ip_for(&caller, &id)?;
    Ok(Json(
        json!({"floatingip": field_subset(fip_doc(&state, &f), &query)}),
    ))
}

/// `PUT /floatingips/<id>` `{"floatingip": {"port_id": P | null}}`, what `openstack server
/// add/remove floating ip` sends. See `Services::floating_ip_associate` for how Neutron's
/// association maps onto Synnefo's floating IPs.
async fn fip_put(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let obj = body_object(&body, "floatingip", &["port_id", "fixed_ip_address"])?;
    if !obj.contains_key("port_id") {
        return Err(ApiError::bad_request(
            "Malformed request: 'floatingip.port_id' is required (a port id, or null)",
        ));
    }
    let port = port_arg(obj)?;
    let fixed = opt_str(obj, "fixed_ip_address")?;
    let f = state
        .services
        .floating_ip_associate(&caller, &id, port.as_deref(), fixed.as_deref())
        .await?;
    Ok(Json(json!({"floatingip": fip_doc(&state, &f)})))
}

async fn fip_delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.services.floating_ip_delete(&caller, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn fip_action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let (project, shared) = reassign_args(&body)?;
    let f = state
        .services
        .floating_ip_reassign(&caller, &id, &project, shared)?;
    Ok(Json(json!({"floatingip": fip_doc(&state, &f)})))
}

fn compute_fip_doc(f: &FloatingIp) -> Value {
    json!({
        "id": f.id.to_string(),
        "ip": f.address.to_string(),
        "fixed_ip": Value::Null,
        "instance_id": f.server_id.map(|s| s.to_string()),
        "pool": Value::Null,
    })
}

async fn compute_fips(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(filters): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Some(list) = fip_listing(&state, &caller, &filters)? else {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    };
    let docs: Vec<Value> = list.iter().map(compute_fip_doc).collect();
    Ok(Json(json!({"floating_ips": docs})).into_response())
}

/// `POST /os-floating-ips`: the body is ignored; an address from any pool.
async fn compute_fip_create(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Value>, ApiError> {
    let f = state
        .services
        .floating_ip_create(&caller, &NewFloatingIp::default())?;
    Ok(Json(json!({"floating_ip": compute_fip_doc(&f)})))
}
