//! Version documents at every service root, served without authentication, in the shapes the
//! OpenStack clients negotiate with (see `../shared/spec/openstack-clients-contract.md` §3).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::behaviour::{self, Prefixes};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, handler) in [
        ("/identity", get(identity_versions)),
        ("/identity/v3", get(identity_v3)),
        ("/identity/v2.0", get(identity_v2)),
        ("/compute", get(compute_versions)),
        ("/compute/v2.0", get(compute_v2)),
        ("/network", get(network_versions)),
        ("/network/v2.0", get(network_v2)),
        ("/image", get(image_versions)),
        ("/image/v1.0", get(image_v1)),
        ("/image/v2", get(image_v2)),
        ("/volume", get(volume_versions)),
        // `/volume/v3` (OpenStack's) is routed here too: `volume_v2_or_v3` tells them apart.
        ("/volume/v2.0", get(volume_v2_or_v3)),
        ("/volume/v2", get(volume_v2)),
        ("/vmapi/v1.0", get(vmapi_v1)),
        ("/admin/v1", get(admin_v1)),
    ] {
        router = router
            .route(path, handler.clone())
            .route(&format!("{path}/"), handler);
    }
    router
}

fn link(url: String) -> Value {
    json!([{"rel": "self", "href": url}])
}

fn identity_v3_doc(base: &str) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": link(format!("{base}/identity/v3/")),
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

fn identity_v2_doc(base: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "deprecated",
        "updated": "2014-04-17T00:00:00Z",
        "links": link(format!("{base}/identity/v2.0/")),
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}],
    })
}

async fn identity_versions(State(s): State<AppState>) -> Response {
    let body = json!({"versions": {"values": [identity_v3_doc(&s.public_url), identity_v2_doc(&s.public_url)]}});
    (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

async fn identity_v3(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"version": identity_v3_doc(&s.public_url)}))
}

async fn identity_v2(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"version": identity_v2_doc(&s.public_url)}))
}

/// The compute version document of one endpoint family: Synnefo's `v2.0` or Nova's `v2.1`.
fn compute_doc(base: &str, prefixes: &Prefixes) -> Value {
    // No microversions are advertised: `version`/`min_version` stay empty (clients contract §3).
    json!({
        "id": prefixes.compute_version,
        "status": "CURRENT",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": link(format!("{base}{}/", prefixes.compute)),
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}],
    })
}

/// Both endpoint families, as Nova lists v2.0 beside v2.1.
async fn compute_versions(State(s): State<AppState>) -> Json<Value> {
    let mut v2 = compute_doc(&s.public_url, &behaviour::SYNNEFO);
    v2["status"] = json!("SUPPORTED");
    Json(json!({"versions": [v2, compute_doc(&s.public_url, &behaviour::OPENSTACK)]}))
}

async fn compute_v2(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"version": compute_doc(&s.public_url, s.prefixes)}))
}

/// `GET /network` (Synnefo's) or `GET /networking` (Neutron's unversioned root).
async fn network_versions(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"versions": [{
        "id": "v2.0", "status": "CURRENT", "links": link(format!("{}/", s.network_url())),
    }]}))
}

async fn network_v2(State(s): State<AppState>) -> Json<Value> {
    let resources: Vec<Value> = [
        ("network", "networks"),
        ("subnet", "subnets"),
        ("port", "ports"),
        ("floatingip", "floatingips"),
    ]
    .iter()
    .map(|(name, collection)| {
        json!({"name": name, "collection": collection,
               "links": link(format!("{}/{collection}", s.network_url()))})
    })
    .collect();
    Json(json!({"resources": resources}))
}

fn image_v1_doc(base: &str) -> Value {
    json!({"id": "v1.0", "status": "CURRENT", "links": link(format!("{base}/image/v1.0/"))})
}

async fn image_versions(State(s): State<AppState>) -> Response {
    // Glance v2 is CURRENT so that today's `openstack` CLI uses it; Plankton v1.0 stays for kamaki.
    let v2 = image_v2_doc(&s.public_url);
    let mut v1 = image_v1_doc(&s.public_url);
    v1["status"] = json!("SUPPORTED");
    let body = json!({"versions": [v2, v1]});
    (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

async fn image_v2(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"version": image_v2_doc(&s.public_url)}))
}

fn image_v2_doc(base: &str) -> Value {
    json!({"id": "v2.9", "status": "CURRENT", "links": link(format!("{base}/image/v2/"))})
}

async fn image_v1(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"version": image_v1_doc(&s.public_url)}))
}

fn volume_doc(base: &str) -> Value {
    json!({
        "id": "v2.0", "status": "CURRENT", "updated": "2014-06-28T12:20:21Z",
        "links": link(format!("{base}/volume/v2.0/")),
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=2"}],
    })
}

/// Cinder v3 (no microversions beyond 3.0): the same resources, for clients that only
/// speak v3 (`openstack volume ...`).
fn volume_v3_doc(base: &str) -> Value {
    json!({
        "id": "v3.0", "status": "CURRENT", "updated": "2016-02-08T12:20:21Z",
        "version": "3.0", "min_version": "3.0",
        "links": link(format!("{base}/volume/v3/")),
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    })
}

async fn volume_versions(State(s): State<AppState>) -> Response {
    let mut v2 = volume_doc(&s.public_url);
    v2["status"] = json!("SUPPORTED");
    let body = json!({"versions": [volume_v3_doc(&s.public_url), v2]});
    (StatusCode::MULTIPLE_CHOICES, Json(body)).into_response()
}

async fn volume_v2_or_v3(State(s): State<AppState>) -> Json<Value> {
    if s.prefixes.volume == behaviour::OPENSTACK.volume {
        return Json(json!({"version": volume_v3_doc(&s.public_url)}));
    }
    Json(json!({"version": volume_doc(&s.public_url)}))
}

async fn volume_v2(State(s): State<AppState>) -> Json<Value> {
    Json(json!({"version": volume_doc(&s.public_url)}))
}

async fn vmapi_v1(State(s): State<AppState>) -> Json<Value> {
    Json(
        json!({"version": {"id": "v1.0", "status": "CURRENT", "links": link(format!("{}/vmapi/v1.0/", s.public_url))}}),
    )
}

async fn admin_v1(State(s): State<AppState>) -> Json<Value> {
    Json(
        json!({"version": {"id": "v1", "status": "CURRENT", "links": link(format!("{}/admin/v1/", s.public_url))}}),
    )
}
