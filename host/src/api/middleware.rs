//! Per-request plumbing: the request id (`x-openstack-request-id: req-<uuid>`, plus
//! `x-compute-request-id` on compute), one `tracing` span per request, Synnefo's no-cache
//! headers, turning axum's bare 405s and unknown paths into fault bodies, and each request's
//! count and latency in the metrics (by matched route, never by raw path).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::ApiError;
use crate::metrics::Metrics;
use crate::service::ServiceError;

/// Path prefixes of the services; unknown paths below one are Synnefo's "API endpoint not found".
const SERVICE_PREFIXES: &[&str] = &[
    "/identity",
    "/account",
    "/compute",
    "/network",
    "/networking",
    "/image",
    "/volume",
    "/vmapi",
    "/admin",
];

/// `path` as logs may show it: a vmapi key is a server's credential, so it is masked.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/vmapi/v1.0/") {
        Some(rest) if rest.contains('/') => {
            let endpoint = rest.split('/').next().unwrap_or_default();
            format!("/vmapi/v1.0/{endpoint}/<key>").into()
        }
        _ => path.into(),
    }
}

/// The route a request matched (axum's pattern, `/compute/v2.0/servers/{id}`), passed out
/// to [`request_context`] in the response's extensions for the metrics.
#[derive(Clone)]
struct MatchedRoute(String);

/// Inside the router, after routing: remembers the matched route on the response.
pub async fn remember_route(
    matched: Option<axum::extract::MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let route = matched.map(|m| m.as_str().to_string());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(MatchedRoute(route));
    }
    response
}

/// A method as a metrics label: the standard ones, anything else as `OTHER` (so a client
/// cannot mint label values).
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// The outermost layer: request id, span, headers, fault bodies for axum's own 405s, and
/// the request's count and latency in the metrics.
pub async fn request_context(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let logged = loggable_path(&path);
    let span = tracing::info_span!("request", id = %request_id, %method, path = %logged);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;

    if response.status() == StatusCode::METHOD_NOT_ALLOWED && !is_json(&response) {
        response = method_not_allowed(&response, &method, &path);
    } else if is_bare_error(&response, &method) {
        response = as_fault(response).await;
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
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = elapsed.as_millis() as u64,
            "handled"
        );
    });
    let route = response
        .extensions()
        .get::<MatchedRoute>()
        .map_or("(unmatched)", |r| r.0.as_str());
    metrics.request(
        route,
        method_label(&method),
        response.status().as_u16(),
        elapsed,
    );
    response
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// An error that left a handler or an extractor without a fault body (axum's rejections of
/// a path or query that does not parse, say): every 4xx and 5xx carries one (spec §1). HEAD
/// answers have no body by definition, and 405s have their own rendering.
fn is_bare_error(response: &Response, method: &Method) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && status != StatusCode::METHOD_NOT_ALLOWED
        && *method != Method::HEAD
        && !is_json(response)
}

/// The same status with a fault body; the original text becomes the message (axum's texts
/// name the problem, e.g. "Cannot parse `abc` to a `u64`"), with a generic one for 5xx.
async fn as_fault(response: Response) -> Response {
    let status = response.status();
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() || status.is_server_error() {
        status
            .canonical_reason()
            .unwrap_or("Request failed")
            .to_string()
    } else {
        text
    };
    let error = match status {
        StatusCode::UNAUTHORIZED => ServiceError::Unauthorized(message),
        StatusCode::FORBIDDEN => ServiceError::Forbidden(message),
        StatusCode::NOT_FOUND => ServiceError::ItemNotFound(message),
        StatusCode::CONFLICT => ServiceError::Conflict(message),
        StatusCode::PAYLOAD_TOO_LARGE => ServiceError::OverLimit(message),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ServiceError::BadMediaType(message),
        StatusCode::NOT_IMPLEMENTED => ServiceError::NotImplemented(message),
        StatusCode::SERVICE_UNAVAILABLE => ServiceError::ServiceUnavailable(message),
        s if s.is_server_error() => ServiceError::Internal { internal: message },
        _ => ServiceError::BadRequest(message),
    };
    let mut fault = ApiError(error).into_response();
    *fault.status_mut() = status;
    if let Some(allow) = allow {
        fault.headers_mut().insert(header::ALLOW, allow);
    }
    fault
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
pub async fn unknown_endpoint(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    method: Method,
    axum::extract::OriginalUri(uri): axum::extract::OriginalUri,
) -> ApiError {
    // The path as the client sent it, before `behaviour.rs` routed an OpenStack prefix.
    let path = uri.path();
    if state.compat == crate::config::Compat::Openstack {
        // Nova and Neutron: 404 for what they do not have (`/routers` without the router
        // extension, for one).
        return ApiError(ServiceError::ItemNotFound(format!(
            "The resource could not be found: {method} {path}"
        )));
    }
    let under_service = SERVICE_PREFIXES
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if under_service {
        ApiError::bad_request(format!("API endpoint not found: {method} {path}"))
    } else {
        ApiError(ServiceError::ItemNotFound(format!("Not found: {path}")))
    }
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn vmapi_keys_never_reach_the_request_log() {
        assert_eq!(
            loggable_path("/vmapi/v1.0/server-progress/0123abcd"),
            "/vmapi/v1.0/server-progress/<key>"
        );
        assert_eq!(
            loggable_path("/vmapi/v1.0/server-params/0123abcd"),
            "/vmapi/v1.0/server-params/<key>"
        );
        assert_eq!(loggable_path("/vmapi/v1.0/"), "/vmapi/v1.0/");
        assert_eq!(
            loggable_path("/compute/v2.0/servers/12"),
            "/compute/v2.0/servers/12"
        );
    }
}
