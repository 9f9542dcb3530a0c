//! `ServiceError`: the one public error type of the service layer.
//!
//! Every variant corresponds to one OpenStack/Synnefo fault (rendered by `api::fault`). The
//! message is the external text shown to clients; `Internal` also carries internal context,
//! which is logged once at the API edge and never sent.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    ItemNotFound(String),
    #[error("{message}")]
    NotAllowed {
        message: String,
        allow: Vec<&'static str>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BuildInProgress(String),
    #[error("{0}")]
    OverLimit(String),
    #[error("{0}")]
    BadMediaType(String),
    #[error("{0}")]
    ServiceUnavailable(String),
    #[error("{0}")]
    NotImplemented(String),
    /// An unexpected failure. Clients see only "Unexpected error"; `internal` is logged.
    #[error("Unexpected error")]
    Internal { internal: String },
}

impl ServiceError {
    /// An internal error carrying the full chain of `error` as context.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        ServiceError::Internal {
            internal: chain(error),
        }
    }
}

/// An error and its causes on one line.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound { kind, id } => {
                ServiceError::ItemNotFound(format!("{} {id} not found", capitalize(kind)))
            }
            StoreError::AlreadyExists { .. }
            | StoreError::GenerationMismatch { .. }
            | StoreError::CommissionResolved { .. }
            | StoreError::CommissionNameReused { .. } => {
                ServiceError::Conflict(capitalize(&e.to_string()))
            }
            StoreError::LimitExceeded { .. } => ServiceError::OverLimit(capitalize(&e.to_string())),
            StoreError::Locked { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::Open { .. }
            | StoreError::Corrupt { .. }
            | StoreError::TargetNotEmpty { .. }
            | StoreError::LeaseLost { .. }
            | StoreError::Database(_) => ServiceError::internal(&e),
        }
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
