//! `POST /compute/v2.0/servers/<id>/action` (spec §2.4): parses `{"<action>": {args}}` and
//! hands each action to the service (jobs for start/stop/reboot/resize/rescue/unrescue and
//! the NIC actions addFloatingIp/removeFloatingIp/firewallProfile, direct answers for
//! console, reassign, delete), with the 501/403 answers Synnefo gives for
//! the actions it does not support. Owns request parsing only.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::body::malformed;
use super::extract::{Caller, JsonBody};
use super::{ApiError, AppState};
use crate::config::Compat;
use crate::service::servers::ServerAction;
use crate::service::{ServiceError, Services};

/// Parses `{"<action>": {args}}` (spec §2.4): exactly one action, never a second one dropped.
fn parse_action(body: &Value) -> Result<(String, Value), ApiError> {
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| malformed("the body must be an object naming one action"))?;
    let (name, args) = obj
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_default();
    Ok((name, args))
}

/// The attributes each supported action reads; any other is refused with a 400 naming it
/// (never dropped). `None`: the action is not one this cloud runs (answered below).
fn action_attributes(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "start" | "os-start" | "shutdown" | "os-stop" | "unrescue" | "delete" | "suspend" => &[],
        "reboot" => &["type"],
        "resize" => &["flavorRef"],
        "rescue" => &["rescue_image_ref"],
        "console" | "os-getVNCConsole" => &["type"],
        "reassign" => &["project", "shared_to_project"],
        "addFloatingIp" | "removeFloatingIp" => &["address"],
        "firewallProfile" => &["profile", "nic"],
        "forceDelete" | "restore" => &[],
        "os-getConsoleOutput" => &["length"],
        _ => return None,
    })
}

/// Refuses arguments an action does not read: `{"os-stop": {"force": true}}` is a 400 naming
/// `force`, not a stop that ignored it. `null` and `{}` are no arguments.
fn check_arguments(name: &str, args: &Value) -> Result<(), ApiError> {
    let Some(allowed) = action_attributes(name) else {
        return Ok(());
    };
    let attributes = match args {
        Value::Null => return Ok(()),
        Value::Object(o) => o,
        _ => return Err(malformed(&format!("'{name}' must be an object"))),
    };
    match attributes.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "Unsupported {name} attribute '{k}'"
        ))),
        None => Ok(()),
    }
}

/// A required action argument given as a string or a number (Synnefo's "Missing 'x'
/// attribute" when absent).
fn required_arg(args: &Value, key: &str) -> Result<String, ApiError> {
    match args.get(key) {
        None | Some(Value::Null) => {
            Err(ApiError::bad_request(format!("Missing '{key}' attribute")))
        }
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(ApiError::bad_request(format!("'{key}' must be a string"))),
    }
}

pub(super) async fn action(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let (name, args) = parse_action(&body)?;
    let services: &Services = &state.services;
    // The server first, as Synnefo and Nova both do: a missing one is 404 whatever the action.
    let server = services.server_for(&caller, &id)?;
    check_arguments(&name, &args)?;
    let action = match name.as_str() {
        "start" | "os-start" => ServerAction::Start,
        "shutdown" | "os-stop" => ServerAction::Stop,
        "reboot" => {
            let kind = args.get("type").and_then(Value::as_str).unwrap_or("SOFT");
            match kind.to_ascii_uppercase().as_str() {
                "SOFT" => ServerAction::Reboot { hard: false },
                "HARD" => ServerAction::Reboot { hard: true },
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid reboot type '{kind}': use SOFT or HARD"
                    )));
                }
            }
        }
        "resize" => {
            let flavor = match args.get("flavorRef") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(malformed("resize needs 'flavorRef'")),
            };
            ServerAction::Resize { flavor_ref: flavor }
        }
        "rescue" => ServerAction::Rescue {
            image_ref: match args.get("rescue_image_ref") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => return Err(malformed("'rescue_image_ref' must be an id")),
            },
        },
        "unrescue" => ServerAction::Unrescue,
        // Nova's `forceDelete` deletes whatever the state (this cloud never soft-deletes).
        "delete" | "forceDelete" if name == "delete" || state.compat == Compat::Openstack => {
            services.server_delete(&caller, &id).await?;
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        // Nova without soft deletion: nothing is ever SOFT_DELETED, so nothing is restored.
        "restore" if state.compat == Compat::Openstack => {
            return Err(ApiError(ServiceError::Conflict(format!(
                "Cannot 'restore' instance {} while it is not soft-deleted",
                server.id
            ))));
        }
        // Nova on a hypervisor that keeps no console log.
        "os-getConsoleOutput" if state.compat == Compat::Openstack => {
            return Err(ApiError(ServiceError::NotImplemented(
                "Feature not supported: Ganeti keeps no console output".into(),
            )));
        }
        "console" | "os-getVNCConsole" => {
            let requested = args.get("type").and_then(Value::as_str).unwrap_or("");
            let kind = match (name.as_str(), requested) {
                // A noVNC page served over HTTPS may only open wss:// connections.
                ("os-getVNCConsole", "novnc") if services.config().console.tls_pem.is_some() => {
                    "vnc-wss"
                }
                ("os-getVNCConsole", "novnc") => "vnc-ws",
                ("os-getVNCConsole", "xvpvnc") => "vnc",
                ("os-getVNCConsole", other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid console type '{other}': use novnc or xvpvnc"
                    )));
                }
                (_, t) => t,
            };
            let c = services
                .server_console(&caller, &id, kind, &state.public_url)
                .await?;
            let doc = if name == "console" {
                json!({"console": {"type": c.kind, "host": c.host, "port": c.port, "password": c.password}})
            } else if requested == "novnc" {
                let url = c.novnc_url.ok_or_else(|| {
                    ApiError(ServiceError::NotImplemented(
                        "noVNC consoles need [console] novnc_url (a noVNC vnc_lite.html page); the console action with type vnc-ws works without it".into(),
                    ))
                })?;
                json!({"console": {"type": "novnc", "url": url}})
            } else {
                json!({"console": {"type": requested,
                    "url": format!("{}:{}?password={}", c.host, c.port, c.password)}})
            };
            return Ok(Json(doc).into_response());
        }
        "changePassword" | "rebuild" | "confirmResize" | "revertResize" | "os-getSPICEConsole"
        | "os-getRDPConsole" => {
            return Err(ApiError(ServiceError::NotImplemented(format!(
                "Action {name} is not implemented"
            ))));
        }
        "reassign" => {
            let project = args
                .get("project")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("reassign needs 'project'"))?;
            let shared = match args.get("shared_to_project") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => return Err(malformed("'shared_to_project' must be true or false")),
            };
            services
                .server_reassign(&caller, &id, project, shared)
                .await?;
            return Ok(StatusCode::OK.into_response());
        }
        "addFloatingIp" | "removeFloatingIp" => {
            let address = required_arg(&args, "address")?;
            if name == "addFloatingIp" {
                services
                    .server_add_floating_ip(&caller, &id, &address)
                    .await?;
            } else {
                services
                    .server_remove_floating_ip(&caller, &id, &address)
                    .await?;
            }
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        "firewallProfile" => {
            let profile = required_arg(&args, "profile")?;
            let nic = required_arg(&args, "nic")?;
            services
                .server_firewall_profile(&caller, &id, &profile, &nic)
                .await?;
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        "suspend" => {
            return Err(ApiError(ServiceError::Forbidden(
                "User is not allowed to suspend his server".into(),
            )));
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "Action {other} not supported"
            )));
        }
    };
    services.server_action(&caller, &id, action).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
