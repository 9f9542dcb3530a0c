//! The simulator's HTTP surface: RAPI `/2/...` with basic auth and Ganeti's error bodies,
//! plus `/sim/...` for fault injection.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Sim;
use super::state::RapiError;

impl IntoResponse for RapiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            axum::Json(
                json!({"code": self.code, "message": self.message, "explain": self.explain}),
            ),
        )
            .into_response()
    }
}

type Reply = Result<axum::Json<Value>, RapiError>;

pub fn router(sim: Sim) -> Router {
    Router::new()
        .route("/version", get(|| async { axum::Json(json!(2)) }))
        .route("/2/info", get(info))
        .route("/2/features", get(features))
        .route(
            "/2/os",
            get(|| async { axum::Json(json!(["snf-image+default"])) }),
        )
        .route("/2/tags", get(|| async { axum::Json(json!([])) }))
        .route("/2/nodes", get(nodes))
        .route("/2/nodes/{name}", get(node))
        .route("/2/groups", get(groups))
        .route("/2/instances", get(instances).post(create))
        .route("/2/instances/{name}", get(instance).delete(remove))
        .route("/2/instances/{name}/startup", put(startup))
        .route("/2/instances/{name}/shutdown", put(shutdown))
        .route("/2/instances/{name}/reboot", post(reboot))
        .route("/2/instances/{name}/modify", put(modify))
        .route("/2/instances/{name}/console", get(console))
        .route(
            "/2/instances/{name}/tags",
            get(instance_tags)
                .put(instance_tags_add)
                .delete(instance_tags_delete),
        )
        .route("/2/networks", get(networks).post(network_create))
        .route("/2/networks/{name}", get(network).delete(network_delete))
        .route("/2/networks/{name}/connect", put(network_connect))
        .route("/2/networks/{name}/disconnect", put(network_disconnect))
        .route("/2/jobs", get(jobs))
        .route("/2/jobs/{id}", get(job))
        .route("/2/jobs/{id}/wait", get(job_wait))
        .route("/sim/faults", get(faults_show).post(faults_set))
        .route(
            "/sim/instances/{name}",
            axum::routing::delete(lose_instance),
        )
        .fallback(|| async { RapiError::new(404, "Nothing matches the given URI") })
        .method_not_allowed_fallback(|| async {
            RapiError::new(501, "Method not implemented for this resource")
        })
        .layer(axum::middleware::from_fn_with_state(sim.clone(), guard))
        .with_state(sim)
}

/// Basic auth on everything but `/version`, and the injected transport faults.
async fn guard(State(sim): State<Sim>, request: Request, next: Next) -> Response {
    if request.uri().path() != "/version" {
        let (user, password) = (&sim.credentials.0, &sim.credentials.1);
        if !authorized(request.headers(), user, password) {
            return RapiError::new(401, "No permission -- see authorization schemes")
                .into_response();
        }
    }
    if !request.uri().path().starts_with("/sim/") {
        let (offline, errors_next) = sim.read(|c| (c.faults.offline, c.faults.errors_next));
        let injected = if offline {
            Some(RapiError::new(
                502,
                "The cluster is unreachable (simulated)",
            ))
        } else if errors_next > 0 {
            sim.write(|c| c.faults.errors_next = c.faults.errors_next.saturating_sub(1));
            Some(RapiError::new(500, "Internal error (simulated)"))
        } else {
            None
        };
        if let Some(e) = injected {
            return e.into_response();
        }
    }
    next.run(request).await
}

fn authorized(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    decode_base64(encoded.trim()).is_some_and(|d| d == format!("{user}:{password}").as_bytes())
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        buffer = (buffer << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[derive(Deserialize, Default)]
struct Bulk {
    #[serde(default)]
    bulk: Option<String>,
}

impl Bulk {
    fn on(&self) -> bool {
        matches!(self.bulk.as_deref(), Some("1") | Some("true"))
    }
}

/// Ganeti 3.0's RAPI features, less those a fault hides.
async fn features(State(sim): State<Sim>) -> Reply {
    let missing = sim.read(|c| c.faults.features_missing.clone());
    let all = [
        "instance-reinstall-reqv1",
        "node-migrate-reqv1",
        "instance-create-reqv1",
        "node-evac-res1",
    ];
    Ok(axum::Json(json!(
        all.iter()
            .filter(|f| !missing.iter().any(|m| m == *f))
            .collect::<Vec<_>>()
    )))
}

async fn info(State(sim): State<Sim>) -> Reply {
    Ok(axum::Json(sim.read(|c| c.render_info())))
}

async fn nodes(State(sim): State<Sim>, Query(q): Query<Bulk>) -> Reply {
    Ok(axum::Json(sim.read(|c| {
        if q.on() {
            json!(c.nodes.iter().map(|n| c.render_node(n)).collect::<Vec<_>>())
        } else {
            json!(
                c.nodes
                    .iter()
                    .map(|n| json!({"id": n.name, "uri": format!("/2/nodes/{}", n.name)}))
                    .collect::<Vec<_>>()
            )
        }
    })))
}

async fn node(State(sim): State<Sim>, Path(name): Path<String>) -> Reply {
    sim.read(|c| {
        c.nodes
            .iter()
            .find(|n| n.name == name)
            .map(|n| c.render_node(n))
    })
    .map(axum::Json)
    .ok_or_else(|| RapiError::new(404, format!("Node '{name}' not known")))
}

async fn groups(State(sim): State<Sim>, Query(q): Query<Bulk>) -> Reply {
    Ok(axum::Json(sim.read(|c| {
        if q.on() {
            json!([c.render_group()])
        } else {
            json!([{"name": "default", "uri": "/2/groups/default"}])
        }
    })))
}

async fn instances(State(sim): State<Sim>, Query(q): Query<Bulk>) -> Reply {
    Ok(axum::Json(sim.read(|c| {
        if q.on() {
            json!(
                c.instances
                    .values()
                    .map(|i| c.render_instance(i))
                    .collect::<Vec<_>>()
            )
        } else {
            json!(
                c.instances
                    .keys()
                    .map(|n| json!({"id": n, "uri": format!("/2/instances/{n}")}))
                    .collect::<Vec<_>>()
            )
        }
    })))
}

async fn instance(State(sim): State<Sim>, Path(name): Path<String>) -> Reply {
    sim.read(|c| c.instances.get(&name).map(|i| c.render_instance(i)))
        .map(axum::Json)
        .ok_or_else(|| RapiError::new(404, format!("Instance '{name}' not known")))
}

/// Ganeti's console info: VNC on kvm (the simulator's one VNC server), a message otherwise.
async fn console(State(sim): State<Sim>, Path(name): Path<String>) -> Reply {
    let running = sim
        .read(|c| c.instances.get(&name).map(|i| i.admin_up))
        .ok_or_else(|| RapiError::new(404, format!("Instance '{name}' not known")))?;
    let Some(vnc) = sim.vnc else {
        let hypervisor = sim.read(|c| c.hypervisor.clone());
        return Ok(axum::Json(json!({"instance": name, "kind": "msg",
            "message": format!("Console not available for {hypervisor} hypervisor")})));
    };
    if !running {
        return Err(RapiError::new(
            400,
            format!("Instance {name} is stopped, cannot get console"),
        ));
    }
    Ok(axum::Json(json!({"instance": name, "kind": "vnc",
        "host": vnc.ip().to_string(), "port": vnc.port(), "display": vnc.port().saturating_sub(5900)})))
}

fn json_body(body: &Bytes) -> Result<Value, RapiError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| RapiError::new(400, format!("Invalid JSON body: {e}")))
}

/// `POST /2/instances` (`__version__: 1` required), answered with the bare job id.
async fn create(State(sim): State<Sim>, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let Some(fields) = body.as_object() else {
        return Err(RapiError::new(400, "The body must be a JSON object"));
    };
    if fields.get("__version__").and_then(Value::as_i64) != Some(1) {
        return Err(RapiError::new(
            400,
            "Instance creation request version 1 is required (__version__)",
        ));
    }
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| RapiError::new(400, "Missing instance name"))?
        .to_string();
    let mut op = serde_json::Map::new();
    op.insert("OP_ID".into(), json!("OP_INSTANCE_CREATE"));
    for (k, v) in fields {
        match k.as_str() {
            "__version__" => {}
            "name" => {
                op.insert("instance_name".into(), v.clone());
            }
            "os" => {
                op.insert("os_type".into(), v.clone());
            }
            _ => {
                op.insert(k.clone(), v.clone());
            }
        }
    }
    let config_url = op
        .get("osparams")
        .and_then(|o| o["config_url"].as_str())
        .map(str::to_string);
    let (id, seconds) = sim.write(|c| {
        let id = c.submit(Value::Object(op), format!("INSTANCE_CREATE({name})"));
        (id, c.latency.queued + c.latency.create)
    });
    super::deploy::report_progress(config_url.as_deref(), &name, seconds);
    Ok(axum::Json(json!(id)))
}

fn instance_job(sim: &Sim, name: &str, opcode: &str, extra: Value) -> Reply {
    let mut op = json!({"OP_ID": opcode, "instance_name": name});
    if let (Some(op), Some(extra)) = (op.as_object_mut(), extra.as_object()) {
        op.extend(extra.clone());
    }
    let summary = format!("{}({name})", opcode.trim_start_matches("OP_"));
    Ok(axum::Json(json!(sim.write(|c| c.submit(op, summary)))))
}

async fn startup(State(sim): State<Sim>, Path(name): Path<String>, body: Bytes) -> Reply {
    instance_job(&sim, &name, "OP_INSTANCE_STARTUP", json_body(&body)?)
}

async fn shutdown(State(sim): State<Sim>, Path(name): Path<String>, body: Bytes) -> Reply {
    instance_job(&sim, &name, "OP_INSTANCE_SHUTDOWN", json_body(&body)?)
}

async fn reboot(
    State(sim): State<Sim>,
    Path(name): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: Bytes,
) -> Reply {
    let mut extra = json_body(&body)?;
    extra["reboot_type"] = json!(q.get("type").cloned().unwrap_or_else(|| "hard".into()));
    instance_job(&sim, &name, "OP_INSTANCE_REBOOT", extra)
}

async fn remove(State(sim): State<Sim>, Path(name): Path<String>, body: Bytes) -> Reply {
    instance_job(&sim, &name, "OP_INSTANCE_REMOVE", json_body(&body)?)
}

/// The `tag=` values of a query string (repeated), percent-decoded.
fn query_tags(query: Option<&str>) -> Vec<String> {
    let decode = |v: &str| {
        let bytes = v.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let Ok(b) =
                    u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
            {
                out.push(b);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("tag="))
        .map(decode)
        .collect()
}

async fn instance_tags(State(sim): State<Sim>, Path(name): Path<String>) -> Reply {
    sim.read(|c| c.instances.get(&name).map(|i| json!(i.tags)))
        .map(axum::Json)
        .ok_or_else(|| RapiError::new(404, format!("Instance {name} not known")))
}

async fn instance_tags_add(
    State(sim): State<Sim>,
    Path(name): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Reply {
    let tags = query_tags(query.as_deref());
    instance_job(
        &sim,
        &name,
        "OP_TAGS_SET",
        json!({"kind": "instance", "name": name, "tags": tags}),
    )
}

async fn instance_tags_delete(
    State(sim): State<Sim>,
    Path(name): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Reply {
    let tags = query_tags(query.as_deref());
    instance_job(
        &sim,
        &name,
        "OP_TAGS_DEL",
        json!({"kind": "instance", "name": name, "tags": tags}),
    )
}

async fn modify(State(sim): State<Sim>, Path(name): Path<String>, body: Bytes) -> Reply {
    instance_job(&sim, &name, "OP_INSTANCE_SET_PARAMS", json_body(&body)?)
}

async fn networks(State(sim): State<Sim>, Query(q): Query<Bulk>) -> Reply {
    Ok(axum::Json(sim.read(|c| {
        if q.on() {
            json!(
                c.networks
                    .values()
                    .map(|n| c.render_network(n))
                    .collect::<Vec<_>>()
            )
        } else {
            json!(
                c.networks
                    .keys()
                    .map(|n| json!({"name": n, "uri": format!("/2/networks/{n}")}))
                    .collect::<Vec<_>>()
            )
        }
    })))
}

async fn network(State(sim): State<Sim>, Path(name): Path<String>) -> Reply {
    sim.read(|c| c.networks.get(&name).map(|n| c.render_network(n)))
        .map(axum::Json)
        .ok_or_else(|| RapiError::new(404, format!("Network '{name}' not known")))
}

fn network_job(sim: &Sim, name: &str, opcode: &str, extra: Value) -> Reply {
    let mut op = json!({"OP_ID": opcode, "network_name": name});
    if let (Some(op), Some(extra)) = (op.as_object_mut(), extra.as_object()) {
        op.extend(extra.clone());
    }
    let summary = format!("{}({name})", opcode.trim_start_matches("OP_"));
    Ok(axum::Json(json!(sim.write(|c| c.submit(op, summary)))))
}

async fn network_create(State(sim): State<Sim>, body: Bytes) -> Reply {
    let body = json_body(&body)?;
    let name = body["network_name"]
        .as_str()
        .ok_or_else(|| RapiError::new(400, "Missing network_name"))?
        .to_string();
    network_job(&sim, &name, "OP_NETWORK_ADD", body)
}

async fn network_connect(State(sim): State<Sim>, Path(name): Path<String>, body: Bytes) -> Reply {
    network_job(&sim, &name, "OP_NETWORK_CONNECT", json_body(&body)?)
}

async fn network_disconnect(
    State(sim): State<Sim>,
    Path(name): Path<String>,
    body: Bytes,
) -> Reply {
    network_job(&sim, &name, "OP_NETWORK_DISCONNECT", json_body(&body)?)
}

async fn network_delete(State(sim): State<Sim>, Path(name): Path<String>, body: Bytes) -> Reply {
    network_job(&sim, &name, "OP_NETWORK_REMOVE", json_body(&body)?)
}

async fn jobs(State(sim): State<Sim>, Query(q): Query<Bulk>) -> Reply {
    Ok(axum::Json(sim.read(|c| {
        if q.on() {
            json!(c.jobs.values().map(|j| j.render()).collect::<Vec<_>>())
        } else {
            json!(
                c.jobs
                    .keys()
                    .map(|id| json!({"id": id, "uri": format!("/2/jobs/{id}")}))
                    .collect::<Vec<_>>()
            )
        }
    })))
}

/// Unknown job ids answer 200 with null fields, as real Ganeti does.
async fn job(State(sim): State<Sim>, Path(id): Path<String>) -> Reply {
    let id: u64 = id
        .parse()
        .map_err(|_| RapiError::new(400, format!("Invalid job id '{id}'")))?;
    Ok(axum::Json(sim.read(|c| match c.jobs.get(&id) {
        Some(j) => j.render(),
        None => json!({"id": id, "status": null, "ops": null, "opstatus": null, "opresult": null, "oplog": null,
                       "summary": null, "received_ts": null, "start_ts": null, "end_ts": null}),
    })))
}

/// How long `GET /2/jobs/<id>/wait` waits for a change (Ganeti's RAPI: `_WFJC_TIMEOUT`).
const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `GET /2/jobs/<id>/wait` (Ganeti's `WaitForJobChange`), body `{"fields": [...],
/// "previous_job_info": [...] | null, "previous_log_serial": N | null}`: answers as soon as the
/// job's `fields` differ from `previous_job_info`, it has log entries past
/// `previous_log_serial`, or it has finished; after the timeout it answers the unchanged
/// fields with no log entries, as Ganeti 3.x's luxid does. An unknown job is a 500 (luxid's
/// `JobLost`).
async fn job_wait(State(sim): State<Sim>, Path(id): Path<String>, body: Bytes) -> Reply {
    if sim.read(|c| c.faults.wait_unsupported) {
        return Err(RapiError::new(404, "Nothing matches the given URI"));
    }
    let id: u64 = id
        .parse()
        .map_err(|_| RapiError::new(400, format!("Invalid job id '{id}'")))?;
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| RapiError::new(400, format!("Invalid request body: {e}")))?;
    let fields: Vec<String> = request["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .ok_or_else(|| RapiError::new(400, "The 'fields' parameter should be a list"))?;
    let previous = request["previous_job_info"].clone();
    let previous_serial = request["previous_log_serial"].as_u64();
    let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
    loop {
        let seen = sim.read(|c| {
            c.jobs.get(&id).map(|j| {
                let doc = j.render();
                let info: Vec<Value> = fields.iter().map(|f| doc[f.as_str()].clone()).collect();
                let logs: Vec<Value> = doc["oplog"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter(|e| e[0].as_u64().is_some_and(|s| Some(s) > previous_serial))
                    .cloned()
                    .collect();
                (Value::Array(info), logs, j.status.finished())
            })
        });
        let Some((info, logs, finished)) = seen else {
            return Err(RapiError::new(500, format!("Job {id} not found")));
        };
        let changed = previous.is_null() || info != previous || !logs.is_empty() || finished;
        if changed || tokio::time::Instant::now() >= deadline {
            return Ok(axum::Json(json!({"job_info": info, "log_entries": logs})));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

async fn faults_show(State(sim): State<Sim>) -> Reply {
    Ok(axum::Json(sim.read(|c| {
        serde_json::to_value(&c.faults).unwrap_or(Value::Null)
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    #[serde(default)]
    fail_next: Option<std::collections::BTreeMap<String, u32>>,
    #[serde(default)]
    offline: Option<bool>,
    #[serde(default)]
    errors_next: Option<u32>,
    #[serde(default)]
    lock_contention: Option<u32>,
    #[serde(default)]
    features_missing: Option<Vec<String>>,
    #[serde(default)]
    slow_next: Option<std::collections::BTreeMap<String, f64>>,
    #[serde(default)]
    wait_unsupported: Option<bool>,
}

async fn faults_set(State(sim): State<Sim>, body: Bytes) -> Reply {
    let request: FaultRequest = serde_json::from_slice(&body)
        .map_err(|e| RapiError::new(400, format!("Invalid fault request: {e}")))?;
    Ok(axum::Json(sim.write(|c| {
        if let Some(fail) = request.fail_next {
            c.faults.fail_next.extend(fail);
        }
        if let Some(offline) = request.offline {
            c.faults.offline = offline;
        }
        if let Some(n) = request.errors_next {
            c.faults.errors_next = n;
        }
        if let Some(n) = request.lock_contention {
            c.faults.lock_contention = n;
        }
        if let Some(missing) = request.features_missing {
            c.faults.features_missing = missing;
        }
        if let Some(slow) = request.slow_next {
            c.faults.slow_next.extend(slow);
        }
        if let Some(unsupported) = request.wait_unsupported {
            c.faults.wait_unsupported = unsupported;
        }
        serde_json::to_value(&c.faults).unwrap_or(Value::Null)
    })))
}

/// Loses an instance behind cyclades' back (drift for the reconciler to find).
async fn lose_instance(
    State(sim): State<Sim>,
    Path(name): Path<String>,
) -> Result<StatusCode, RapiError> {
    let removed = sim.write(|c| c.instances.remove(&name).is_some());
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(RapiError::new(404, format!("Instance '{name}' not known")))
    }
}
