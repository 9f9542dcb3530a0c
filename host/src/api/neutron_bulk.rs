//! Neutron's bulk create (`{"networks": [...]}`, `{"subnets": [...]}`, `{"ports": [...]}`)
//! beside the single one (`{"network": {...}}`): each item is created as a single request
//! would be, all or nothing (a refused item deletes the ones made before it, newest first).
//! Owns the body shapes and the undo order; each resource's rules stay in its handler
//! (`network::create_one`, `network::subnet_create_one`, `network_ports::port_create_one`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::body::malformed;
use super::{ApiError, AppState};
use crate::service::Credentials;

/// The three resources Neutron creates in bulk.
#[derive(Clone, Copy)]
pub(super) enum Resource {
    Network,
    Subnet,
    Port,
}

impl Resource {
    fn keys(self) -> (&'static str, &'static str) {
        match self {
            Resource::Network => ("network", "networks"),
            Resource::Subnet => ("subnet", "subnets"),
            Resource::Port => ("port", "ports"),
        }
    }

    async fn create(
        self,
        state: &AppState,
        caller: &Credentials,
        body: &Value,
    ) -> Result<Value, ApiError> {
        match self {
            Resource::Network => super::network::create_one(state, caller, body).await,
            Resource::Subnet => super::network::subnet_create_one(state, caller, body),
            Resource::Port => super::network_ports::port_create_one(state, caller, body).await,
        }
    }

    /// Deletes one made earlier in a refused batch (best effort: it is logged if it fails).
    async fn undo(self, state: &AppState, caller: &Credentials, id: &str) {
        let undone = match self {
            Resource::Network => state.services.network_delete(caller, id).await.map(|_| ()),
            Resource::Subnet => state.services.subnet_delete(caller, id),
            Resource::Port => state.services.port_delete(caller, id).await,
        };
        if let Err(e) = undone {
            tracing::warn!(id, error = %e, "could not undo part of a refused bulk create");
        }
    }
}

fn wrap(key: &str, value: Value) -> Value {
    Value::Object(Map::from_iter([(key.to_string(), value)]))
}

/// Answers a create of one resource or of a list of them: 201 with `{singular: doc}` or
/// `{plural: [docs]}`.
pub(super) async fn create(
    state: &AppState,
    caller: &Credentials,
    body: &Value,
    resource: Resource,
) -> Result<Response, ApiError> {
    let (singular, plural) = resource.keys();
    let Some(items) = body.get(plural) else {
        let doc = resource.create(state, caller, body).await?;
        return Ok((StatusCode::CREATED, Json(wrap(singular, doc))).into_response());
    };
    let items = items
        .as_array()
        .filter(|items| !items.is_empty())
        .ok_or_else(|| malformed(&format!("'{plural}' must be a non-empty list")))?;
    let mut made: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        match resource
            .create(state, caller, &wrap(singular, item.clone()))
            .await
        {
            Ok(doc) => made.push(doc),
            Err(refused) => {
                for doc in made.iter().rev() {
                    if let Some(id) = doc["id"].as_str() {
                        resource.undo(state, caller, id).await;
                    }
                }
                return Err(refused);
            }
        }
    }
    Ok((StatusCode::CREATED, Json(wrap(plural, Value::Array(made)))).into_response())
}
