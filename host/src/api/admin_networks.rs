//! Admin API for networks, pools, ports and floating IPs (`/admin/v1/networks`, `/pools`,
//! `/ports`, `/floating-ips`), behind `network-*`, `pool-*`, `port-*`, `floating-ip-list`.
//! Owns only the JSON shapes; the rules are the network services'.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{AdminCaller, JsonBody};
use super::network::{network_doc, parse_subnet, subnet_doc};
use super::network_ports::{fip_doc, port_doc};
use super::{ApiError, AppState};
use crate::service::networks::{NetworkChanges, NewNetwork};
use crate::service::{Network, ResourcePool};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/networks", get(list).post(create))
        .route(
            "/admin/v1/networks/{id}",
            get(show).patch(modify).delete(remove),
        )
        .route("/admin/v1/pools", get(pools).post(pool_create))
        .route(
            "/admin/v1/pools/{id}",
            get(pool_show).patch(pool_modify).delete(pool_remove),
        )
        .route("/admin/v1/ports", get(ports).post(port_create))
        .route("/admin/v1/ports/{id}", get(port_show).delete(port_remove))
        .route("/admin/v1/floating-ips", get(fips).post(fip_create))
        .route(
            "/admin/v1/floating-ips/{id}",
            get(fip_show).delete(fip_remove),
        )
        .route("/admin/v1/floating-ips/{id}/attach", post(fip_attach))
        .route("/admin/v1/floating-ips/{id}/detach", post(fip_detach))
        .route("/admin/v1/subnets", get(subnets))
        .route("/admin/v1/subnets/{id}", get(subnet_show))
}

fn admin_doc(state: &AppState, n: &Network) -> Value {
    let mut doc = network_doc(state, n);
    let v4 = n.subnet_v4();
    for (k, v) in [
        ("mode", json!(n.mode)),
        ("link", json!(n.link)),
        ("mac_prefix", json!(n.mac_prefix)),
        ("tags", json!(n.tags.join(","))),
        ("drained", json!(n.drained)),
        ("cidr", json!(v4.map(|s| s.cidr.clone()))),
        ("gateway", json!(v4.and_then(|s| s.gateway.clone()))),
        (
            "addresses_used",
            json!(v4.map(|s| s.used.len()).unwrap_or(0)),
        ),
        (
            "addresses_free",
            json!(
                v4.map(|s| crate::ipam::pool_size(&s.pools) as usize
                    - s.used.len()
                    - s.reserved
                        .iter()
                        .filter(|a| crate::ipam::in_pools(&s.pools, **a))
                        .count())
                    .unwrap_or(0)
            ),
        ),
        (
            "reserved_ips",
            json!(
                v4.map(|s| s
                    .reserved
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(","))
                    .unwrap_or_default()
            ),
        ),
        (
            "backends",
            json!(
                n.backends
                    .iter()
                    .map(|(b, bn)| format!("{b}:{}", bn.state))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ),
        // The network's MAC prefix on each backend (by backend id), and the prefixes it took
        // for backend groups past the first 16 (by group).
        (
            "backend_mac_prefixes",
            json!(
                n.backends
                    .iter()
                    .map(|(b, bn)| (b.to_string(), json!(bn.mac_prefix)))
                    .collect::<serde_json::Map<_, _>>()
            ),
        ),
        ("group_mac_prefixes", json!(n.group_mac_prefixes)),
        ("action", json!(n.action)),
        ("plugin", n.plugin.clone()),
    ] {
        doc[k] = v;
    }
    doc
}

#[derive(Deserialize, Default)]
struct ListQuery {
    deleted: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let deleted = super::admin::parse_deleted(q.deleted.as_deref())?;
    let docs: Vec<Value> = state
        .services
        .network_list(deleted)?
        .iter()
        .map(|n| admin_doc(&state, n))
        .collect();
    Ok(Json(json!({"networks": docs})))
}

async fn show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let n = state.services.network_show(id)?;
    Ok(Json(json!({"network": admin_doc(&state, &n)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: String,
    flavor: String,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    floating_ip_pool: bool,
    #[serde(default)]
    drained: bool,
    mode: Option<String>,
    link: Option<String>,
    mac_prefix: Option<String>,
    tags: Option<Vec<String>>,
    /// Owner of a private network (user name or id) and its project.
    user: Option<String>,
    project: Option<String>,
    /// `{cidr, gateway_ip, ip_version, enable_dhcp, allocation_pools}`.
    subnet: Option<serde_json::Map<String, Value>>,
    subnet6: Option<serde_json::Map<String, Value>>,
}

async fn create(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    JsonBody(b): JsonBody<Create>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if b.floating_ip_pool && !b.public {
        return Err(ApiError::bad_request(
            "Only public networks can be floating IP pools (add --public)",
        ));
    }
    let caller = match &b.user {
        Some(user) => state.services.act_as(user, b.project.as_deref())?,
        None => admin,
    };
    let req = NewNetwork {
        name: b.name,
        flavor: b.flavor,
        project: b.project,
        shared_to_project: false,
        public: b.public,
        floating_ip_pool: b.floating_ip_pool,
        drained: b.drained,
        mode: b.mode,
        link: b.link,
        mac_prefix: b.mac_prefix,
        tags: b.tags,
    };
    let mut subnets = Vec::new();
    for (version, sub) in [(4, &b.subnet), (6, &b.subnet6)] {
        if let Some(obj) = sub {
            let mut obj = obj.clone();
            obj.insert("network_id".into(), json!("0"));
            obj.entry("ip_version").or_insert(json!(version));
            subnets.push(parse_subnet(&obj)?);
        }
    }
    let n = state.services.network_create(&caller, &req, true).await?;
    for mut s in subnets {
        s.network_id = n.id.to_string();
        state.services.subnet_create(&caller, &s)?;
    }
    if n.public {
        // Spec §15.3: public networks exist on every online backend at once.
        let backends = state.services.online_backends_without(&n)?;
        state
            .services
            .network_ensure_on(n.id, backends, true)
            .await?;
    }
    let n = state.services.network_show(n.id)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"network": admin_doc(&state, &n)})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Modify {
    name: Option<String>,
    drained: Option<bool>,
    floating_ip_pool: Option<bool>,
    #[serde(default)]
    add_reserved_ips: Vec<String>,
    #[serde(default)]
    remove_reserved_ips: Vec<String>,
    /// Backend ids to put the network on now.
    #[serde(default)]
    add_to_backends: Vec<u64>,
}

async fn modify(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<u64>,
    JsonBody(b): JsonBody<Modify>,
) -> Result<Json<Value>, ApiError> {
    let changes = NetworkChanges {
        name: b.name,
        drained: b.drained,
        floating_ip_pool: b.floating_ip_pool,
        add_reserved_ips: b.add_reserved_ips,
        remove_reserved_ips: b.remove_reserved_ips,
    };
    state.services.network_modify(id, &changes).await?;
    if !b.add_to_backends.is_empty() {
        for backend in &b.add_to_backends {
            state.services.backend_show(&backend.to_string())?;
        }
        state
            .services
            .network_ensure_on(id, b.add_to_backends, true)
            .await?;
    }
    let n = state.services.network_show(id)?;
    Ok(Json(json!({"network": admin_doc(&state, &n)})))
}

async fn remove(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let job = state
        .services
        .network_delete(&admin, &id.to_string())
        .await?;
    if let Some(job) = job {
        state.services.job_wait(job).await?;
    }
    let n = state.services.network_show(id)?;
    Ok(Json(json!({"network": admin_doc(&state, &n), "job": job})))
}

// ----- pools -----

fn pool_doc(p: &ResourcePool) -> Value {
    json!({"id": p.id.to_string(), "type": p.kind, "base": p.base, "size": p.size,
           "used": p.used.len(), "reserved": p.reserved.len(),
           "available": (p.size as usize).saturating_sub(p.used.len() + p.reserved.len()),
           "created": p.created.iso()})
}

async fn pools(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let docs: Vec<Value> = state.services.pool_list()?.iter().map(pool_doc).collect();
    Ok(Json(json!({"pools": docs})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolCreate {
    #[serde(rename = "type")]
    kind: String,
    base: String,
    size: u32,
}

async fn pool_create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(b): JsonBody<PoolCreate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let p = state.services.pool_create(&b.kind, &b.base, b.size)?;
    Ok((StatusCode::CREATED, Json(json!({"pool": pool_doc(&p)}))))
}

async fn pool_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"pool": pool_doc(&state.services.pool_show(id)?)}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolModify {
    #[serde(default)]
    add_reserved: Vec<String>,
    #[serde(default)]
    remove_reserved: Vec<String>,
}

async fn pool_modify(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<u64>,
    JsonBody(b): JsonBody<PoolModify>,
) -> Result<Json<Value>, ApiError> {
    let p = state
        .services
        .pool_modify(id, &b.add_reserved, &b.remove_reserved)?;
    Ok(Json(json!({"pool": pool_doc(&p)})))
}

async fn pool_remove(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    state.services.pool_remove(id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn ports(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let docs: Vec<Value> = state
        .services
        .port_list()?
        .iter()
        .map(|p| port_doc(&state, p))
        .collect();
    Ok(Json(json!({"ports": docs})))
}

/// `port-create --network --server [--ipv4-address]` (Synnefo's): a port of the server's
/// owner on the network, attached to the server (a `server.connect` job).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortCreateBody {
    network: String,
    server: String,
    #[serde(default)]
    ipv4_address: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

async fn port_create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(b): JsonBody<PortCreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = state.services.act_as_server_owner(&b.server)?;
    let req = crate::service::ports::NewPort {
        network_id: b.network,
        name: b.name.unwrap_or_default(),
        fixed_ip: b.ipv4_address,
    };
    let p = state
        .services
        .port_create_attached(&caller, &req, &b.server)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"port": port_doc(&state, &p)})),
    ))
}

/// `port-show`/`port-inspect`: the record, and the NIC as its server's Ganeti instance has it
/// (`nic.*` at the port's index; null when the server has none or Ganeti cannot be asked).
async fn port_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = state.services.port_show(&id)?;
    let mut ganeti = Value::Null;
    if let Some(server) = p.device_id {
        let s = state.services.server_show(&server.to_string())?;
        let view = state.services.server_ganeti_view(&s).await;
        let names = view["nic.names"].as_array().cloned().unwrap_or_default();
        if let Some(i) = names.iter().position(|n| n == p.ganeti_name().as_str()) {
            ganeti = json!({"name": names[i], "mac": view["nic.macs"][i], "ip": view["nic.ips"][i],
                "network": view["nic.networks.names"][i]});
        } else if view.get("error").is_some() {
            ganeti = view;
        }
    }
    Ok(Json(
        json!({"port": port_doc(&state, &p), "ganeti": ganeti}),
    ))
}

/// `port-remove`: as the owner would delete it (a `server.disconnect` job when attached).
async fn port_remove(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let caller = state.services.act_as_port_owner(&id)?;
    state.services.port_delete(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn subnets(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let docs: Vec<Value> = state
        .services
        .subnet_list()?
        .iter()
        .map(|(n, s)| subnet_doc(&state, n, s))
        .collect();
    Ok(Json(json!({"subnets": docs})))
}

/// `subnet-show`/`subnet-inspect`: the subnet, and for IPv4 its address pool (Synnefo's
/// counts and pool map, `ipam::pool_map`).
async fn subnet_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (n, s) = state.services.subnet_show(&id)?;
    let pool = crate::service::subnets::subnet_pool(&s).map(|p| {
        json!({"size": p.size, "used": p.used, "reserved": p.reserved, "free": p.free,
               "map": p.map,
               "legend": ". free, X in use, R reserved, G gateway, blank outside the pools"})
    });
    Ok(Json(
        json!({"subnet": subnet_doc(&state, &n, &s), "pool": pool}),
    ))
}

/// `floating-ip-create --user [--project] [--network] [--address]`: a floating IP of the user's,
/// allocated as the user's own would be (quota charged), any free address allowed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FipCreateBody {
    user: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

async fn fip_create(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    JsonBody(b): JsonBody<FipCreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = state
        .services
        .act_as_operator(&b.user, b.project.as_deref())?;
    let req = crate::service::floating_ips::NewFloatingIp {
        network_id: b.network,
        address: b.address,
        project: caller.project_id.clone(),
        shared_to_project: false,
    };
    let f = state.services.floating_ip_create(&caller, &req)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"floating_ip": fip_doc(&state, &f)})),
    ))
}

async fn fip_show(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = state.services.floating_ip_show(&id)?;
    Ok(Json(json!({"floating_ip": fip_doc(&state, &f)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FipAttachBody {
    server: String,
}

/// `floating-ip-attach --server`: the server's owner's `addFloatingIp` (a NIC job).
async fn fip_attach(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<FipAttachBody>,
) -> Result<StatusCode, ApiError> {
    let f = state.services.floating_ip_show(&id)?;
    let caller = state.services.act_as_server_owner(&b.server)?;
    state
        .services
        .server_add_floating_ip(&caller, &b.server, &f.address.to_string())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `floating-ip-detach`: its server's owner's `removeFloatingIp` (a NIC job).
async fn fip_detach(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let f = state.services.floating_ip_show(&id)?;
    let server = f.server_id.ok_or_else(|| {
        ApiError::bad_request(format!("Floating IP {id} is not attached to a server"))
    })?;
    let server = server.to_string();
    let caller = state.services.act_as_server_owner(&server)?;
    state
        .services
        .server_remove_floating_ip(&caller, &server, &f.address.to_string())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `floating-ip-remove`: released as its owner would release it (refused while attached).
async fn fip_remove(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let caller = state.services.act_as_floating_ip_owner(&id)?;
    state.services.floating_ip_delete(&caller, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn fips(
    State(state): State<AppState>,
    AdminCaller(_): AdminCaller,
) -> Result<Json<Value>, ApiError> {
    let docs: Vec<Value> = state
        .services
        .floating_ip_list()?
        .iter()
        .map(|f| fip_doc(&state, f))
        .collect();
    Ok(Json(json!({"floating_ips": docs})))
}
