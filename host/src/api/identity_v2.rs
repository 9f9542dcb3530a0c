//! Astakos / Keystone v2.0 tokens (`POST /identity/v2.0/tokens`, `GET .../tokens/<id>`) and the
//! Astakos account call kamaki needs (`POST /account/v1.0/user_catalogs`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Caller, JsonBody, OptionalJsonBody};
use super::{ApiError, AppState, catalog};
use crate::service::identity::{IssuedToken, ProjectScope};
use crate::service::{Credentials, ServiceError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/identity/v2.0/tokens", post(issue))
        .route("/identity/v2.0/tokens/", post(issue))
        .route("/identity/v2.0/tokens/{token}", get(validate))
        .route("/account/v1.0/user_catalogs", post(user_catalogs))
        .route("/account/v1.0/user_catalogs/", post(user_catalogs))
}

#[derive(Deserialize)]
struct TokensRequest {
    #[serde(default)]
    auth: Option<Auth>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Auth {
    #[serde(default)]
    password_credentials: Option<PasswordCredentials>,
    #[serde(default)]
    token: Option<TokenCredentials>,
    #[serde(default)]
    tenant_name: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
}

#[derive(Deserialize)]
struct PasswordCredentials {
    username: String,
    password: String,
}

#[derive(Deserialize)]
struct TokenCredentials {
    id: String,
}

async fn issue(
    State(state): State<AppState>,
    OptionalJsonBody(request): OptionalJsonBody<TokensRequest>,
) -> Result<Json<Value>, ApiError> {
    let catalog = catalog::v2(&state.public_url, &state.region);
    // Astakos "public mode": no credentials, only the catalog.
    let Some(auth) = request.and_then(|r| r.auth) else {
        return Ok(Json(json!({"access": {"serviceCatalog": catalog}})));
    };
    let scope = ProjectScope {
        id: auth.tenant_id,
        name: auth.tenant_name,
        domain: None,
    };
    let issued = match (auth.password_credentials, auth.token) {
        (Some(p), _) => {
            state
                .services
                .token_issue_password(&p.username, &p.password, None, &scope)
                .await?
        }
        (None, Some(t)) => state.services.token_issue_from_token(&t.id, &scope)?,
        (None, None) => {
            return Err(ApiError::bad_request(
                "Malformed request: auth needs passwordCredentials or token",
            ));
        }
    };
    Ok(Json(access_body(&issued, catalog)))
}

/// Validates a token (admin, or the token's own holder).
async fn validate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(token): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let credentials = state
        .services
        .token_validate(&token)
        .map_err(|_| ApiError(ServiceError::ItemNotFound("Token not found".into())))?;
    if !caller.is_admin && caller.user_id != credentials.user_id {
        return Err(ApiError(ServiceError::ItemNotFound(
            "Token not found".into(),
        )));
    }
    let issued = IssuedToken { token, credentials };
    Ok(Json(access_body(
        &issued,
        catalog::v2(&state.public_url, &state.region),
    )))
}

fn access_body(issued: &IssuedToken, catalog: Value) -> Value {
    let c: &Credentials = &issued.credentials;
    let mut token = json!({
        "id": issued.token,
        "expires": c.expires_at.map(|e| e.iso()).unwrap_or_else(|| "9999-12-31T23:59:59Z".into()),
        "issued_at": c.issued_at.iso(),
        "audit_ids": [c.audit_id],
    });
    if let (Some(id), Some(name)) = (&c.project_id, &c.project_name) {
        token["tenant"] = json!({"id": id, "name": name});
    }
    json!({"access": {
        "token": token,
        "user": {
            "id": c.user_id,
            "name": c.user_name,
            "username": c.user_name,
            "roles": c.roles.iter().map(|r| json!({"id": r, "name": r})).collect::<Vec<_>>(),
            "roles_links": [],
            "projects": c.project_ids,
        },
        "serviceCatalog": catalog,
        "metadata": {"is_admin": i32::from(c.is_admin), "roles": c.roles},
    }})
}

#[derive(Deserialize)]
struct UserCatalogsRequest {
    #[serde(default)]
    uuids: Vec<String>,
    #[serde(default)]
    displaynames: Vec<String>,
}

/// Astakos `user_catalogs`: user ids ↔ display names (kamaki shows owners with it).
async fn user_catalogs(
    State(state): State<AppState>,
    Caller(_): Caller,
    JsonBody(request): JsonBody<UserCatalogsRequest>,
) -> Result<Json<Value>, ApiError> {
    if request.uuids.len() + request.displaynames.len() > 1000 {
        return Err(ApiError(ServiceError::OverLimit(
            "At most 1000 uuids and displaynames per request".into(),
        )));
    }
    let uuid_catalog: BTreeMap<String, String> = state
        .services
        .user_names(&request.uuids)?
        .into_iter()
        .collect();
    let mut displayname_catalog = BTreeMap::new();
    for name in &request.displaynames {
        if let Ok(user) = state.services.user_show(name)
            && user.name == *name
        {
            displayname_catalog.insert(user.name, user.id);
        }
    }
    Ok(Json(
        json!({"uuid_catalog": uuid_catalog, "displayname_catalog": displayname_catalog}),
    ))
}
