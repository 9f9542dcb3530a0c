//! Keystone v3 tokens: `POST/GET/HEAD/DELETE /identity/v3/auth/tokens` and
//! `GET /identity/v3/auth/catalog`, in the shapes today's `openstack` CLI, openstacksdk and
//! tempest require (clients contract §2).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::malformed;
use super::extract::{Caller, JsonBody};
use super::{ApiError, AppState, catalog};
use crate::service::identity::{DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, IssuedToken, ProjectScope};
use crate::service::{Credentials, ServiceError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/identity/v3/auth/tokens",
            get(validate).head(check).post(issue).delete(revoke),
        )
        .route("/identity/v3/auth/catalog", get(own_catalog))
}

#[derive(Deserialize)]
struct AuthRequest {
    auth: Auth,
}

#[derive(Deserialize)]
struct Auth {
    identity: Identity,
    #[serde(default)]
    scope: Option<Scope>,
}

#[derive(Deserialize)]
struct Identity {
    methods: Vec<String>,
    #[serde(default)]
    password: Option<PasswordMethod>,
    #[serde(default)]
    token: Option<TokenMethod>,
}

#[derive(Deserialize)]
struct PasswordMethod {
    user: PasswordUser,
}

#[derive(Deserialize)]
struct PasswordUser {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    password: String,
    #[serde(default)]
    domain: Option<DomainRef>,
}

#[derive(Deserialize)]
struct TokenMethod {
    id: String,
}

#[derive(Deserialize)]
struct DomainRef {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl DomainRef {
    fn label(&self) -> Option<String> {
        self.id.clone().or_else(|| self.name.clone())
    }
}

/// `auth.scope` as sent; judged by `project_scope` so that every malformed shape gets a 400
/// naming the field (and only a well-formed domain or system scope the 501).
type Scope = serde_json::Map<String, Value>;

#[derive(Deserialize)]
struct ProjectRef {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain: Option<DomainRef>,
}

/// The project a token request is scoped to, or a 400 naming what is malformed; scopes that
/// are well formed but not to a project (domain, system) are 501.
fn project_scope(scope: Scope) -> Result<ProjectScope, ApiError> {
    let mut entries = scope.into_iter();
    let (kind, value) = match (entries.next(), entries.next()) {
        (None, _) => return Err(malformed("scope is empty")),
        (Some(_), Some(_)) => return Err(malformed("scope names more than one target")),
        (Some(entry), None) => entry,
    };
    match kind.as_str() {
        "project" => {
            if !value.is_object() {
                return Err(malformed("scope.project must be an object"));
            }
            if value.get("domain").is_some_and(|d| !d.is_object()) {
                return Err(malformed("scope.project.domain must be an object"));
            }
            let project: ProjectRef = serde_json::from_value(value)
                .map_err(|e| malformed(&format!("scope.project: {e}")))?;
            if project.id.is_none() && project.name.is_none() {
                return Err(malformed("scope.project needs an id or a name"));
            }
            if project.name.is_some() && project.id.is_none() && project.domain.is_none() {
                return Err(malformed("scope.project.name needs a domain"));
            }
            Ok(ProjectScope {
                id: project.id,
                name: project.name,
                domain: project.domain.and_then(|d| d.label()),
            })
        }
        "domain" | "system" | "OS-TRUST:trust" if value.is_object() => {
            Err(ApiError(ServiceError::NotImplemented(format!(
                "Scoping a token to '{kind}' is not supported; scope it to a project"
            ))))
        }
        "domain" | "system" | "OS-TRUST:trust" => {
            Err(malformed(&format!("scope.{kind} must be an object")))
        }
        other => Err(malformed(&format!(
            "unknown scope '{other}': scope the token to a project"
        ))),
    }
}

#[derive(Deserialize)]
struct CatalogQuery {
    #[serde(default)]
    nocatalog: Option<String>,
}

async fn issue(
    State(state): State<AppState>,
    Query(query): Query<CatalogQuery>,
    JsonBody(request): JsonBody<AuthRequest>,
) -> Result<Response, ApiError> {
    let auth = request.auth;
    let scope = match auth.scope {
        None => ProjectScope::default(),
        Some(scope) => project_scope(scope)?,
    };
    let issued = match auth.identity.methods.first().map(String::as_str) {
        Some("password") => {
            let user = auth
                .identity
                .password
                .ok_or_else(|| ApiError::bad_request("Malformed request: methods lists 'password' but identity.password is missing"))?
                .user;
            let login = user.name.or(user.id).ok_or_else(|| {
                ApiError::bad_request(
                    "Malformed request: identity.password.user needs a name or an id",
                )
            })?;
            let domain = user.domain.and_then(|d| d.label());
            state
                .services
                .token_issue_password(&login, &user.password, domain.as_deref(), &scope)
                .await?
        }
        Some("token") => {
            let token = auth.identity.token.ok_or_else(|| {
                ApiError::bad_request(
                    "Malformed request: methods lists 'token' but identity.token is missing",
                )
            })?;
            state.services.token_issue_from_token(&token.id, &scope)?
        }
        Some(other) => {
            return Err(ApiError(ServiceError::Unauthorized(format!(
                "Unsupported authentication method '{other}': use password or token"
            ))));
        }
        None => {
            return Err(ApiError::bad_request(
                "Malformed request: identity.methods is empty",
            ));
        }
    };
    let IssuedToken { token, credentials } = issued;
    let body = token_body(&state, &credentials, query.nocatalog.is_none());
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    let value = HeaderValue::from_str(&token).map_err(|e| ApiError(ServiceError::internal(&e)))?;
    response.headers_mut().insert("x-subject-token", value);
    Ok(response)
}

/// The subject token of GET/HEAD/DELETE, which the caller must own or be admin for.
fn subject(
    headers: &HeaderMap,
    caller: &Credentials,
    state: &AppState,
) -> Result<(String, Credentials), ApiError> {
    let token = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("Missing X-Subject-Token header"))?;
    let subject = state.services.token_validate(&token).map_err(|e| match e {
        ServiceError::Unauthorized(message) => ApiError(ServiceError::ItemNotFound(format!(
            "Could not find token: {message}"
        ))),
        other => ApiError(other),
    })?;
    if !caller.is_admin && caller.user_id != subject.user_id {
        return Err(ApiError(ServiceError::ItemNotFound(
            "Could not find token".into(),
        )));
    }
    Ok((token, subject))
}

async fn validate(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(query): Query<CatalogQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (token, subject) = subject(&headers, &caller, &state)?;
    let mut response =
        Json(token_body(&state, &subject, query.nocatalog.is_none())).into_response();
    if let Ok(value) = HeaderValue::from_str(&token) {
        response.headers_mut().insert("x-subject-token", value);
    }
    Ok(response)
}

async fn check(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    subject(&headers, &caller, &state)?;
    Ok(StatusCode::OK)
}

async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (token, _) = subject(&headers, &caller, &state)?;
    state.services.token_revoke(&token)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn own_catalog(State(state): State<AppState>, Caller(_): Caller) -> Json<Value> {
    Json(
        json!({"catalog": catalog::v3(&state.public_url, &state.region), "links": {"self": format!("{}/identity/v3/auth/catalog", state.public_url)}}),
    )
}

/// The `{"token": ...}` document for a token.
fn token_body(state: &AppState, c: &Credentials, with_catalog: bool) -> Value {
    let domain = json!({"id": DEFAULT_DOMAIN_ID, "name": DEFAULT_DOMAIN_NAME});
    let mut token = json!({
        "methods": c.methods,
        "issued_at": c.issued_at.keystone(),
        // The operator token never expires; clients require the field, so show a far date.
        "expires_at": c.expires_at.map(|e| e.keystone()).unwrap_or_else(|| "9999-12-31T23:59:59.000000Z".into()),
        "audit_ids": [c.audit_id],
        "user": {"id": c.user_id, "name": c.user_name, "domain": domain, "password_expires_at": null},
        "roles": c.roles.iter().map(|r| json!({"id": r, "name": r})).collect::<Vec<_>>(),
        "is_domain": false,
    });
    if let (Some(id), Some(name)) = (&c.project_id, &c.project_name) {
        token["project"] = json!({"id": id, "name": name, "domain": domain});
        if with_catalog {
            token["catalog"] = catalog::v3(&state.public_url, &state.region);
        }
    }
    json!({"token": token})
}
