//! `ApiError`: the only `IntoResponse` for errors. It renders the Synnefo/OpenStack fault body
//! `{"<faultName>": {"code": N, "message": "...", "details": "..."}}` with the status codes of
//! spec §1, adds `Allow` to 405s, and logs internal context (never sent) once.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::service::ServiceError;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub ServiceError);

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError(ServiceError::BadRequest(message.into()))
    }

    /// The fault name and HTTP status of this error.
    pub fn fault(&self) -> (&'static str, StatusCode) {
        match &self.0 {
            ServiceError::BadRequest(_) => ("badRequest", StatusCode::BAD_REQUEST),
            ServiceError::Unauthorized(_) => ("unauthorized", StatusCode::UNAUTHORIZED),
            ServiceError::Forbidden(_) => ("forbidden", StatusCode::FORBIDDEN),
            ServiceError::ItemNotFound(_) => ("itemNotFound", StatusCode::NOT_FOUND),
            ServiceError::NotAllowed { .. } => ("notAllowed", StatusCode::METHOD_NOT_ALLOWED),
            ServiceError::Conflict(_) => ("conflict", StatusCode::CONFLICT),
            ServiceError::BuildInProgress(_) => ("buildInProgress", StatusCode::CONFLICT),
            ServiceError::OverLimit(_) => ("overLimit", StatusCode::PAYLOAD_TOO_LARGE),
            ServiceError::BadMediaType(_) => ("badMediaType", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            ServiceError::ServiceUnavailable(_) => {
                ("serviceUnavailable", StatusCode::SERVICE_UNAVAILABLE)
            }
            ServiceError::NotImplemented(_) => ("notImplemented", StatusCode::NOT_IMPLEMENTED),
            ServiceError::Internal { .. } => ("computeFault", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (name, status) = self.fault();
        if let ServiceError::Internal { internal } = &self.0 {
            tracing::error!(error = %internal, "internal error");
        }
        let body = serde_json::json!({
            name: {"code": status.as_u16(), "message": self.0.to_string(), "details": ""}
        });
        let mut response = (status, axum::Json(body)).into_response();
        if let ServiceError::NotAllowed { allow, .. } = &self.0
            && let Ok(value) = HeaderValue::from_str(&allow.join(", "))
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `ServiceError` variant → (status, fault name), as spec §1 and the issue list them.
    #[test]
    fn every_variant_maps_to_its_fault() {
        let m = || "m".to_string();
        let table: Vec<(ServiceError, u16, &str)> = vec![
            (ServiceError::BadRequest(m()), 400, "badRequest"),
            (ServiceError::Unauthorized(m()), 401, "unauthorized"),
            (ServiceError::Forbidden(m()), 403, "forbidden"),
            (ServiceError::ItemNotFound(m()), 404, "itemNotFound"),
            (
                ServiceError::NotAllowed {
                    message: m(),
                    allow: vec!["GET"],
                },
                405,
                "notAllowed",
            ),
            (ServiceError::Conflict(m()), 409, "conflict"),
            (ServiceError::BuildInProgress(m()), 409, "buildInProgress"),
            (ServiceError::OverLimit(m()), 413, "overLimit"),
            (ServiceError::BadMediaType(m()), 415, "badMediaType"),
            (
                ServiceError::ServiceUnavailable(m()),
                503,
                "serviceUnavailable",
            ),
            (ServiceError::NotImplemented(m()), 501, "notImplemented"),
            (
                ServiceError::Internal {
                    internal: "secret detail".into(),
                },
                500,
                "computeFault",
            ),
        ];
        for (error, code, name) in table {
            let response = ApiError(error).into_response();
            assert_eq!(response.status().as_u16(), code, "{name}");
            let allow = response.headers().get(header::ALLOW).cloned();
            let body = futures_body(response);
            let fault = &body[name];
            assert_eq!(fault["code"], code, "{name}: {body}");
            assert!(fault["message"].is_string(), "{name}: {body}");
            assert!(fault["details"].is_string(), "{name}: {body}");
            assert!(
                !body.to_string().contains("secret detail"),
                "internal context leaked: {body}"
            );
            assert_eq!(allow.is_some(), name == "notAllowed");
        }
    }

    fn futures_body(response: Response) -> serde_json::Value {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let bytes = rt
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 16))
            .expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }
}
