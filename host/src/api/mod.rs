//! The HTTP API: one axum router per service, all under one port.
//!
//! Owns routing, request extraction, wire shapes and fault rendering. Handlers call `Services`
//! only: they must never touch the store, the job engine, plugins or the RAPI client directly.
//!
//! | prefix            | service                                        |
//! |-------------------|------------------------------------------------|
//! | `/identity`       | Keystone v3 and Astakos/Keystone v2.0 tokens   |
//! | `/account/v1.0`   | Astakos account API (kamaki's `user_catalogs`) |
//! | `/compute/v2.0`   | Compute (Nova-style, Synnefo extensions)       |
//! | `/network/v2.0`   | Network (Neutron-style)                        |
//! | `/image/v1.0`     | Image (Plankton; `/image/v1` is an alias)      |
//! | `/image/v2`       | Image (Glance v2 read views)                   |
//! | `/volume/v2.0`    | Block storage (Cinder-style; `/volume/v2`, `/volume/v3` aliases) |
//! | `/vmapi/v1.0`     | One-time VM configuration URLs and build progress |
//! | `/admin/v1`       | Operator API behind the `cyclades` CLI         |
//! | `/healthz`        | Liveness and store reachability of this replica |
//! | `/metrics`        | Prometheus metrics (operator token)            |

mod admin;
mod admin_backends;
mod admin_compute;
mod admin_networks;
mod admin_plugins;
mod admin_replicas;
mod admin_rescue;
mod admin_volumes;
mod body;
mod catalog;
mod compute_catalog;
mod compute_keypairs;
mod compute_server_actions;
mod compute_servers;
mod compute_tags;
mod extract;
mod fault;
mod identity_v2;
mod identity_v3;
mod image;
mod middleware;
mod network;
mod network_ports;
mod server_bdm;
mod server_create_attributes;
mod server_docs;
mod server_stats;

pub use server_stats::StatsUrls;
mod versions;
mod vmapi;
mod volume;

use axum::Router;
use axum::routing::get;

pub use fault::ApiError;

use crate::service::Services;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// Base URL published in catalogs and version documents, without a trailing slash.
    pub public_url: String,
    pub region: String,
    pub max_body_bytes: usize,
    /// Response shapes of the compute API (`api.compat`).
    pub compat: crate::config::Compat,
    /// Rendered server documents by (id, generation), for `/servers/detail`.
    pub server_docs: std::sync::Arc<server_docs::ServerDocCache>,
    /// Graph URLs of `/servers/<id>/stats` (`[stats]`).
    pub stats: std::sync::Arc<StatsUrls>,
}

/// Builds the whole HTTP application.
pub fn router(state: AppState) -> Router {
    let metrics = state.services.metrics().clone();
    let services = Router::new()
        .merge(admin_replicas::routes())
        .merge(versions::routes())
        .merge(identity_v3::routes())
        .merge(identity_v2::routes())
        .merge(admin::routes())
        .merge(admin_plugins::routes())
        .merge(admin_backends::routes())
        .merge(admin_compute::routes())
        .merge(compute_servers::routes())
        .merge(server_stats::routes())
        .merge(admin_rescue::routes())
        .merge(compute_tags::routes())
        .merge(compute_catalog::routes())
        .merge(compute_keypairs::routes())
        .merge(image::routes())
        .merge(vmapi::routes())
        .merge(network::routes())
        .merge(network_ports::routes())
        .merge(volume::routes())
        .merge(admin_volumes::routes())
        .merge(admin_networks::routes())
        .route("/metrics", get(metrics_endpoint))
        .route_layer(axum::middleware::from_fn(middleware::remember_route))
        .fallback(middleware::unknown_endpoint)
        .with_state(state);
    // The request-context layer wraps the finished router (not each route), so it sees the
    // final response, including the `Allow` header axum adds to 405s.
    Router::new()
        .fallback_service(services)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            middleware::request_context,
        ))
}

/// `GET /metrics`: the Prometheus exposition, for the operator token (`X-Auth-Token` or
/// `Authorization: Bearer`, as Prometheus' `authorization` setting sends it).
async fn metrics_endpoint(
    axum::extract::State(state): axum::extract::State<AppState>,
    extract::AdminCaller(_): extract::AdminCaller,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.services.metrics_exposition(),
    )
}
