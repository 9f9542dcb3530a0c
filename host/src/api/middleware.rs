//! Per-request plumbing: the request id (`x-openstack-request-id: req-<uuid>`, plus
//! `x-compute-request-id` on compute), one `tracing` span per request, Synnefo's no-cache
//! headers, and turning axum's bare 405s and unknown paths into fault bodies.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::ApiError;
use crate::service::ServiceError;

/// Path prefixes of the services; unknown paths below one are Synnefo's "API endpoint not found".
const SERVICE_PREFIXES: &[&str] = &[
    "/identity",
    "/account",
    "/compute",
    "/network",
    "/image",
    "/volume",
    "/vmapi",
    "/admin",
];

/// The outermost layer: request id, span, headers, and fault bodies for axum's own 405s.
pub async fn request_context(request: Request, next: Next) -> Response {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let span = tracing::info_span!("request", id = %request_id, %method, %path);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;

    if response.status() == StatusCode::METHOD_NOT_ALLOWED && !is_json(&response) {
        response = method_not_allowed(&response, &method, &path);
    }
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-openstack-request-id", value.clone());
        if path.starts_with("/compute") {
            headers.insert("x-compute-request-id", value);
        }
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate, max-age=0"),
    );
    headers.insert(header::VARY, HeaderValue::from_static("X-Auth-Token"));
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "handled"
        );
    });
    response
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn method_not_allowed(original: &Response, method: &Method, path: &str) -> Response {
    let allow: Vec<&'static str> = original
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(',')
                .filter_map(|m| known_method(m.trim()))
                .collect()
        })
        .unwrap_or_default();
    ApiError(ServiceError::NotAllowed {
        message: format!("Method {method} is not allowed on {path}"),
        allow,
    })
    .into_response()
}

fn known_method(m: &str) -> Option<&'static str> {
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        .into_iter()
        .find(|k| *k == m)
}

/// Fallback for paths no router knows: a fault, never an HTML page.
pub async fn unknown_endpoint(method: Method, uri: Uri) -> ApiError {
    let path = uri.path();
    let under_service = SERVICE_PREFIXES
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if under_service {
        ApiError::bad_request(format!("API endpoint not found: {method} {path}"))
    } else {
        ApiError(ServiceError::ItemNotFound(format!("Not found: {path}")))
    }
}
