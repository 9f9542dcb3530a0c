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
//! | `/volume/v2.0`    | Block storage (Cinder-style; `/volume/v2` alias) |
//! | `/compute/v2.1`, `/networking`, `/volume/v3`, `/image/v2` | The same, with OpenStack's behaviour (`behaviour.rs`) |
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
mod behaviour;
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
mod neutron_bulk;
mod neutron_query;
mod paging;
mod server_bdm;
mod server_create_attributes;
mod server_docs;
mod server_listing;
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
    /// The behaviour this request gets (the endpoint's, or the one `api.compat` forces).
    pub compat: crate::config::Compat,
    /// Where the endpoints of this request's endpoint family live, for links.
    pub prefixes: &'static behaviour::Prefixes,
    /// Rendered server documents by (id, generation), for `/servers/detail`: one cache per
    /// endpoint family, since the two render differently.
    pub server_docs: std::sync::Arc<server_docs::ServerDocCache>,
    /// Graph URLs of `/servers/<id>/stats` (`[stats]`).
    pub stats: std::sync::Arc<StatsUrls>,
}

impl AppState {
    /// The state of Synnefo's endpoints; `router` derives the OpenStack endpoints' from it.
    pub fn new(
        services: Services,
        public_url: String,
        region: String,
        max_body_bytes: usize,
        stats: StatsUrls,
    ) -> AppState {
        let forced = services.config().api.compat.forced();
        AppState {
            services,
            public_url,
            region,
            max_body_bytes,
            compat: behaviour::behaviour(&behaviour::SYNNEFO, forced),
            prefixes: &behaviour::SYNNEFO,
            server_docs: Default::default(),
            stats: std::sync::Arc::new(stats),
        }
    }

    /// The same services behind the OpenStack endpoints.
    fn for_openstack(&self) -> AppState {
        let forced = self.services.config().api.compat.forced();
        AppState {
            compat: behaviour::behaviour(&behaviour::OPENSTACK, forced),
            prefixes: &behaviour::OPENSTACK,
            server_docs: Default::default(),
            ..self.clone()
        }
    }

    /// `<public URL>/compute/v2.x` of this request's endpoint family.
    pub fn compute_url(&self) -> String {
        format!("{}{}", self.public_url, self.prefixes.compute)
    }

    /// `<public URL>/network/v2.0` (or `/networking/v2.0`) of this request's endpoint family.
    pub fn network_url(&self) -> String {
        format!("{}{}", self.public_url, self.prefixes.network)
    }

    /// `<public URL>/volume/v2.0` (or `/volume/v3`) of this request's endpoint family.
    pub fn volume_url(&self) -> String {
        format!("{}{}", self.public_url, self.prefixes.volume)
    }
}

/// Builds the whole HTTP application: the routes twice, once with Synnefo's endpoint state and
/// once with OpenStack's, and a dispatcher that sends each request to one of them by its path.
pub fn router(state: AppState) -> Router {
    let metrics = state.services.metrics().clone();
    let openstack = services_router(state.for_openstack());
    let synnefo = services_router(state);
    let dispatch = move |mut req: axum::extract::Request| {
        let (openstack, synnefo) = (openstack.clone(), synnefo.clone());
        async move {
            use tower::ServiceExt;
            let routed = behaviour::openstack_route(req.uri().path());
            let Some(path) = routed else {
                return synnefo.oneshot(req).await;
            };
            let query = req
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            if let Ok(uri) = format!("{path}{query}").parse() {
                *req.uri_mut() = uri;
            }
            openstack.oneshot(req).await
        }
    };
    // The request-context layer wraps the finished router (not each route), so it sees the
    // final response, including the `Allow` header axum adds to 405s, and the path as sent.
    Router::new()
        .fallback(dispatch)
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            middleware::request_context,
        ))
}

fn services_router(state: AppState) -> Router {
    Router::new()
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
        .with_state(state)
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
