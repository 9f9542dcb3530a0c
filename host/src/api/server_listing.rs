//! `GET /compute/v2.x/servers[/detail]`: the listings, with Synnefo's `changes-since` (304 when
//! nothing changed, Synnefo's endpoints only), `name` and `status`, Nova's `flavor` and
//! `image` filters, and Nova's paging (`limit`, `marker`, `servers_links`). The plain
//! detail listing comes from the cache of rendered documents (`server_docs.rs`). Owns the
//! query and the page; the documents are `compute_servers.rs`'s.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::compute_servers::{ServerDoc, server_doc, summary};
use super::extract::Caller;
use super::paging::PageQuery;
use super::{ApiError, AppState};
use crate::config::Compat;
use crate::service::servers::status_of;
use crate::service::{Server, ServiceError};

fn detail_body(state: &AppState, servers: &[Server], next: Option<Value>) -> Response {
    #[derive(Serialize)]
    struct Body<'a> {
        servers: Vec<ServerDoc<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        servers_links: Option<Value>,
    }
    let body = Body {
        servers: servers.iter().map(|s| server_doc(state, s)).collect(),
        servers_links: next,
    };
    match serde_json::to_vec(&body) {
        Ok(bytes) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(e) => ApiError(ServiceError::internal(&e)).into_response(),
    }
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(rename = "changes-since")]
    changes_since: Option<String>,
    name: Option<String>,
    status: Option<String>,
    /// Nova's filters by flavor and image id.
    flavor: Option<String>,
    image: Option<String>,
    /// Nova's paging: at most `limit` servers after the one with id `marker`.
    #[serde(flatten)]
    page: PageQuery,
}

impl ListQuery {
    /// Whether the listing is the plain one every client polls (served from the cache).
    fn is_plain(&self) -> bool {
        [
            &self.changes_since,
            &self.name,
            &self.status,
            &self.flavor,
            &self.image,
        ]
        .iter()
        .all(|v| v.is_none())
            && self.page.is_empty()
    }
}

fn listing(
    state: &AppState,
    caller: &crate::service::Credentials,
    q: &ListQuery,
) -> Result<Option<Vec<Server>>, ApiError> {
    let since = super::extract::changes_since(state, q.changes_since.as_deref())?;
    let mut servers = state.services.server_list_for(caller, since)?;
    // Synnefo answers an empty `changes-since` listing 304; Nova 200 with an empty list.
    if since.is_some() && servers.is_empty() && state.compat == Compat::Synnefo {
        return Ok(None);
    }
    if let Some(flavor) = &q.flavor {
        servers.retain(|s| s.flavor_id.to_string() == *flavor);
    }
    if let Some(image) = &q.image {
        servers.retain(|s| s.image_id == *image);
    }
    if let Some(name) = &q.name {
        servers.retain(|s| s.name.contains(name.as_str()));
    }
    if let Some(status) = &q.status {
        let wanted = if status.eq_ignore_ascii_case("SHUTOFF") {
            "STOPPED"
        } else {
            status.as_str()
        };
        servers.retain(|s| status_of(s).eq_ignore_ascii_case(wanted));
    }
    Ok(Some(servers))
}

pub(super) async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let Some(list) = listing(&state, &caller, &q)? else {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    };
    let url = format!("{}/servers", state.compute_url());
    let (page, next) = q.page.apply(list, |s| s.id.to_string(), &url)?;
    let mut doc = json!({"servers": page.iter().map(|s| summary(&state, s)).collect::<Vec<_>>()});
    if let Some(links) = next {
        doc["servers_links"] = links;
    }
    Ok(Json(doc).into_response())
}

pub(super) async fn detail(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    if q.is_plain() {
        // The plain listing every client polls: from the cache of rendered documents.
        let body = state
            .server_docs
            .detail_listing(&state.services, &caller, |s| {
                serde_json::to_vec(&server_doc(&state, s)).map_err(|e| ServiceError::internal(&e))
            })?;
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    }
    let Some(list) = listing(&state, &caller, &q)? else {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    };
    let url = format!("{}/servers/detail", state.compute_url());
    let (page, next) = q.page.apply(list, |s| s.id.to_string(), &url)?;
    Ok(detail_body(&state, &page, next))
}
