//! Identity: users, projects, password hashing, and the tokens that authenticate every request.
//!
//! Passwords are hashed with argon2 (PHC strings) off the async worker threads. Tokens are 256
//! random bits shown once to the client; the store keeps only their SHA-256 digest. This module
//! must not know about Keystone or Astakos wire formats: the API layer renders `Credentials`.

use std::sync::OnceLock;

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use sha2::{Digest, Sha256};

use super::{Credentials, ROLE_ADMIN, ROLE_MEMBER, ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{Deleted, Project, StoreError, TokenRecord, User};

/// The only identity domain (Keystone v3 clients always name one).
pub const DEFAULT_DOMAIN_ID: &str = "default";
pub const DEFAULT_DOMAIN_NAME: &str = "Default";

const NAME_MAX: usize = 64;
const PASSWORD_MIN: usize = 4;
const PASSWORD_MAX: usize = 512;

/// A token just issued: the secret (shown once) and what it stands for.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub credentials: Credentials,
}

/// Which project a new token should be scoped to.
#[derive(Clone, Debug, Default)]
pub struct ProjectScope {
    pub id: Option<String>,
    pub name: Option<String>,
    /// Keystone domain of the project (by id or name); only the default domain exists.
    pub domain: Option<String>,
}

impl ProjectScope {
    pub fn is_empty(&self) -> bool {
        self.id.is_none() && self.name.is_none()
    }
}

/// A user as shown to operators.
#[derive(Clone, Debug, PartialEq)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub is_admin: bool,
    pub enabled: bool,
    pub has_password: bool,
    pub default_project_id: Option<String>,
    pub project_ids: Vec<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
}

/// A project as shown to operators.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
}

/// What `user_create` needs.
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub name: String,
    pub password: Option<String>,
    pub email: Option<String>,
    /// Project (name or id) the user joins and is scoped to by default.
    pub project: Option<String>,
    pub is_admin: bool,
}

/// What `user_modify` changes; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    pub password: Option<String>,
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    pub enabled: Option<bool>,
    pub add_projects: Vec<String>,
    pub remove_projects: Vec<String>,
    pub default_project: Option<String>,
}

/// SHA-256 of a token: the key it is stored under.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn new_token_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServiceError::Internal {
            internal: format!("argon2 hashing failed: {e}"),
        })
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that timing does not reveal it.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

fn validate_name(kind: &str, name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "Invalid {kind} name '{name}': use 1 to {NAME_MAX} letters, digits or '-_.@'"
        )))
    }
}

fn validate_password(password: &str) -> Result<(), ServiceError> {
    if password.len() < PASSWORD_MIN || password.len() > PASSWORD_MAX {
        return Err(ServiceError::BadRequest(format!(
            "Invalid password: it must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long"
        )));
    }
    Ok(())
}

fn unauthorized(message: &str) -> ServiceError {
    ServiceError::Unauthorized(message.to_string())
}

impl From<User> for UserInfo {
    fn from(u: User) -> Self {
        UserInfo {
            id: u.id,
            name: u.name,
            email: u.email,
            is_admin: u.is_admin,
            enabled: u.enabled,
            has_password: u.password_hash.is_some(),
            default_project_id: u.default_project_id,
            project_ids: u.project_ids,
            created: u.created,
            updated: u.updated,
            deleted: u.deleted,
        }
    }
}

impl From<Project> for ProjectInfo {
    fn from(p: Project) -> Self {
        ProjectInfo {
            id: p.id,
            name: p.name,
            description: p.description,
            enabled: p.enabled,
            created: p.created,
            updated: p.updated,
            deleted: p.deleted,
        }
    }
}

impl Services {
    // ----- authentication -----

    /// Keystone/Astakos password authentication: checks the password and issues a token.
    pub async fn token_issue_password(
        &self,
        username: &str,
        password: &str,
        domain: Option<&str>,
        scope: &ProjectScope,
    ) -> Result<IssuedToken, ServiceError> {
        check_domain(domain)?;
        let user = match self.store().user_find(username) {
            Ok(u) if !u.deleted => Some(u),
            Ok(_) | Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let phc = user.as_ref().and_then(|u| u.password_hash.clone());
        let password = password.to_string();
        let verified = tokio::task::spawn_blocking(move || match phc {
            Some(phc) => verify_password(&password, &phc),
            None => {
                verify_password(&password, dummy_hash());
                false
            }
        })
        .await
        .map_err(|e| ServiceError::Internal {
            internal: format!("password check task: {e}"),
        })?;
        let user = match user {
            Some(u) if verified => u,
            _ => return Err(unauthorized("Invalid username or password")),
        };
        if !user.enabled {
            return Err(unauthorized("User account is disabled"));
        }
        self.token_issue_for(&user, scope, vec!["password".into()])
    }

    /// Exchanges a valid token for a new one, optionally scoped elsewhere (Keystone's `token`
    /// method; Astakos `{"auth":{"token":{"id":...}}}`).
    pub fn token_issue_from_token(
        &self,
        token: &str,
        scope: &ProjectScope,
    ) -> Result<IssuedToken, ServiceError> {
        let caller = self.token_validate(token)?;
        let user = self.store().user_get(&caller.user_id)?;
        let scope = if scope.is_empty() {
            ProjectScope {
                id: caller.project_id.clone(),
                ..ProjectScope::default()
            }
        } else {
            scope.clone()
        };
        self.token_issue_for(&user, &scope, vec!["token".into()])
    }

    fn token_issue_for(
        &self,
        user: &User,
        scope: &ProjectScope,
        methods: Vec<String>,
    ) -> Result<IssuedToken, ServiceError> {
        let project = self.resolve_scope(user, scope)?;
        let now = Timestamp::now();
        let expires = now.plus_secs(self.config().identity.token_ttl_secs);
        self.token_record(user, project, methods, Some(expires))
    }

    fn token_record(
        &self,
        user: &User,
        project: Option<Project>,
        methods: Vec<String>,
        expires_at: Option<Timestamp>,
    ) -> Result<IssuedToken, ServiceError> {
        let token = new_token_secret();
        let record = TokenRecord {
            user_id: user.id.clone(),
            project_id: project.as_ref().map(|p| p.id.clone()),
            methods,
            issued_at: Timestamp::now(),
            expires_at,
            audit_id: new_id()[..22].to_string(),
            revoked: false,
            generation: 1,
        };
        self.store().token_insert(&token_digest(&token), &record)?;
        let credentials = credentials_of(user, project.as_ref(), &record);
        Ok(IssuedToken { token, credentials })
    }

    fn resolve_scope(
        &self,
        user: &User,
        scope: &ProjectScope,
    ) -> Result<Option<Project>, ServiceError> {
        check_domain(scope.domain.as_deref())?;
        let wanted = match (&scope.id, &scope.name) {
            (Some(id), _) => self.store().project_get(id),
            (None, Some(name)) => self.store().project_find(name),
            (None, None) => match &user.default_project_id {
                Some(id) => self.store().project_get(id),
                None => return Ok(None),
            },
        };
        let label = scope
            .id
            .as_deref()
            .or(scope.name.as_deref())
            .unwrap_or("(default)");
        let project = match wanted {
            Ok(p) if !p.deleted && p.enabled => p,
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                return Err(unauthorized(&format!(
                    "Project {label} not found or not accessible"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if !user.project_ids.contains(&project.id) {
            return Err(unauthorized(&format!(
                "User {} has no access to project {label}",
                user.name
            )));
        }
        Ok(Some(project))
    }

    /// Checks a token presented in `X-Auth-Token` and returns who is calling.
    pub fn token_validate(&self, token: &str) -> Result<Credentials, ServiceError> {
        if token.is_empty() || token.len() > 256 {
            return Err(unauthorized("Invalid token"));
        }
        let record = self
            .store()
            .token_get(&token_digest(token))?
            .ok_or_else(|| unauthorized("Invalid token"))?;
        if record.revoked {
            return Err(unauthorized("Token has been revoked"));
        }
        if record.expires_at.is_some_and(|e| e <= Timestamp::now()) {
            return Err(unauthorized("Token has expired"));
        }
        let user = match self.store().user_get(&record.user_id) {
            Ok(u) if u.enabled && !u.deleted => u,
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                return Err(unauthorized("User account is disabled"));
            }
            Err(e) => return Err(e.into()),
        };
        let project = match &record.project_id {
            Some(id) => match self.store().project_get(id) {
                Ok(p) if !p.deleted && p.enabled && user.project_ids.contains(&p.id) => Some(p),
                Ok(_) | Err(StoreError::NotFound { .. }) => {
                    return Err(unauthorized("Token project is no longer accessible"));
                }
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        Ok(credentials_of(&user, project.as_ref(), &record))
    }

    /// Revokes a token. Unknown tokens are a 404, as in Keystone.
    pub fn token_revoke(&self, token: &str) -> Result<(), ServiceError> {
        if self.store().token_revoke(&token_digest(token))? {
            Ok(())
        } else {
            Err(ServiceError::ItemNotFound("Token not found".into()))
        }
    }

    /// Drops tokens that expired (or were revoked) more than a day ago. Returns how many.
    pub fn token_purge_expired(&self) -> Result<usize, ServiceError> {
        let cutoff = Timestamp(Timestamp::now().0 - 24 * 3600 * 1000);
        Ok(self.store().token_purge(cutoff)?)
    }

    /// Makes sure the operator token in `existing` (read from the `admin-token` file) is valid
    /// for an admin; otherwise issues a new never-expiring one for the `admin` user.
    /// Returns the token to (re)write, or `None` if `existing` is still good.
    pub fn admin_token_ensure(
        &self,
        existing: Option<&str>,
    ) -> Result<Option<String>, ServiceError> {
        if let Some(token) = existing
            && let Ok(credentials) = self.token_validate(token)
            && credentials.is_admin
        {
            return Ok(None);
        }
        let admin = self.store().user_find(BOOTSTRAP_ADMIN)?;
        let project = match &admin.default_project_id {
            Some(id) => Some(self.store().project_get(id)?),
            None => None,
        };
        let issued = self.token_record(&admin, project, vec!["token".into()], None)?;
        Ok(Some(issued.token))
    }

    // ----- bootstrap -----

    /// Creates the `admin` project and user at first start (idempotent). The user has no
    /// password unless `admin_password` is given (demo mode); operators use the admin token.
    pub async fn identity_bootstrap(
        &self,
        admin_password: Option<&str>,
    ) -> Result<(), ServiceError> {
        let project = self.project_ensure(BOOTSTRAP_ADMIN, "Operators of this cyclades")?;
        self.user_ensure(BOOTSTRAP_ADMIN, admin_password, &project, true)
            .await
    }

    /// Ensures a project exists (by name) and returns it.
    pub fn project_ensure(
        &self,
        name: &str,
        description: &str,
    ) -> Result<ProjectInfo, ServiceError> {
        match self.store().project_find(name) {
            Ok(p) => Ok(p.into()),
            Err(StoreError::NotFound { .. }) => self.project_create(name, description),
            Err(e) => Err(e.into()),
        }
    }

    /// Ensures a user exists (by name), member of `project`; never changes an existing user.
    pub async fn user_ensure(
        &self,
        name: &str,
        password: Option<&str>,
        project: &ProjectInfo,
        is_admin: bool,
    ) -> Result<(), ServiceError> {
        match self.store().user_find(name) {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound { .. }) => {
                let new = NewUser {
                    name: name.into(),
                    password: password.map(str::to_string),
                    email: None,
                    project: Some(project.id.clone()),
                    is_admin,
                };
                self.user_create(&new).await.map(|_| ())
            }
            Err(e) => Err(e.into()),
        }
    }

    // ----- users and projects (admin API) -----

    pub async fn user_create(&self, new: &NewUser) -> Result<UserInfo, ServiceError> {
        validate_name("user", &new.name)?;
        let project = match &new.project {
            Some(p) => Some(self.project_lookup(p)?),
            None => None,
        };
        let password_hash = match &new.password {
            Some(password) => {
                validate_password(password)?;
                Some(self.hash_off_thread(password.clone()).await?)
            }
            None => None,
        };
        let now = Timestamp::now();
        let user = User {
            id: new_id(),
            name: new.name.clone(),
            email: new.email.clone(),
            password_hash,
            is_admin: new.is_admin,
            enabled: true,
            default_project_id: project.as_ref().map(|p| p.id.clone()),
            project_ids: project.iter().map(|p| p.id.clone()).collect(),
            created: now,
            updated: now,
            deleted: false,
            generation: 1,
        };
        self.store().user_insert(&user).map_err(|e| match e {
            StoreError::AlreadyExists { .. } => {
                ServiceError::Conflict(format!("User {} already exists", new.name))
            }
            other => other.into(),
        })?;
        Ok(user.into())
    }

    pub fn user_list(&self, deleted: Deleted) -> Result<Vec<UserInfo>, ServiceError> {
        Ok(self
            .store()
            .user_list(deleted)?
            .into_iter()
            .map(UserInfo::from)
            .collect())
    }

    /// A user by name or id.
    pub fn user_show(&self, name_or_id: &str) -> Result<UserInfo, ServiceError> {
        Ok(self.store().user_find(name_or_id)?.into())
    }

    pub async fn user_modify(
        &self,
        name_or_id: &str,
        changes: &UserChanges,
    ) -> Result<UserInfo, ServiceError> {
        let user = self.store().user_find(name_or_id)?;
        let resolve = |names: &[String]| -> Result<Vec<String>, ServiceError> {
            names
                .iter()
                .map(|p| self.project_lookup(p).map(|p| p.id))
                .collect()
        };
        let add = resolve(&changes.add_projects)?;
        let remove = resolve(&changes.remove_projects)?;
        let default = match &changes.default_project {
            Some(p) => Some(self.project_lookup(p)?.id),
            None => None,
        };
        let password_hash = match &changes.password {
            Some(password) => {
                validate_password(password)?;
                Some(self.hash_off_thread(password.clone()).await?)
            }
            None => None,
        };
        if let Some(email) = &changes.email
            && !email.contains('@')
        {
            return Err(ServiceError::BadRequest(format!("Invalid email '{email}'")));
        }
        let updated = self
            .store()
            .user_update(&user.id, Some(user.generation), |u| {
                if let Some(hash) = &password_hash {
                    u.password_hash = Some(hash.clone());
                }
                if let Some(email) = &changes.email {
                    u.email = Some(email.clone());
                }
                if let Some(admin) = changes.is_admin {
                    u.is_admin = admin;
                }
                if let Some(enabled) = changes.enabled {
                    u.enabled = enabled;
                }
                for p in &add {
                    if !u.project_ids.contains(p) {
                        u.project_ids.push(p.clone());
                    }
                }
                u.project_ids.retain(|p| !remove.contains(p));
                if let Some(d) = &default {
                    if !u.project_ids.contains(d) {
                        u.project_ids.push(d.clone());
                    }
                    u.default_project_id = Some(d.clone());
                }
                if u.default_project_id
                    .as_ref()
                    .is_some_and(|d| !u.project_ids.contains(d))
                {
                    u.default_project_id = u.project_ids.first().cloned();
                }
                Ok(())
            })?;
        // A new password or a disabled account ends every session of the user.
        if password_hash.is_some() || changes.enabled == Some(false) {
            self.store().token_revoke_user(&updated.id)?;
        }
        Ok(updated.into())
    }

    pub fn project_create(
        &self,
        name: &str,
        description: &str,
    ) -> Result<ProjectInfo, ServiceError> {
        validate_name("project", name)?;
        if description.len() > 255 {
            return Err(ServiceError::BadRequest(
                "Project description is too long (at most 255 characters)".into(),
            ));
        }
        let now = Timestamp::now();
        let project = Project {
            id: new_id(),
            name: name.to_string(),
            description: description.to_string(),
            enabled: true,
            created: now,
            updated: now,
            deleted: false,
            generation: 1,
        };
        self.store().project_insert(&project).map_err(|e| match e {
            StoreError::AlreadyExists { .. } => {
                ServiceError::Conflict(format!("Project {name} already exists"))
            }
            other => other.into(),
        })?;
        Ok(project.into())
    }

    pub fn project_list(&self, deleted: Deleted) -> Result<Vec<ProjectInfo>, ServiceError> {
        Ok(self
            .store()
            .project_list(deleted)?
            .into_iter()
            .map(ProjectInfo::from)
            .collect())
    }

    /// A live project by name or id (404 otherwise).
    pub fn project_lookup(&self, name_or_id: &str) -> Result<ProjectInfo, ServiceError> {
        match self.store().project_find(name_or_id) {
            Ok(p) if !p.deleted => Ok(p.into()),
            Ok(_) | Err(StoreError::NotFound { .. }) => Err(ServiceError::ItemNotFound(format!(
                "Project {name_or_id} not found"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Names of the given user ids (kamaki's `user_catalogs`); unknown ids are left out.
    pub fn user_names(&self, ids: &[String]) -> Result<Vec<(String, String)>, ServiceError> {
        let mut names = Vec::new();
        for id in ids {
            match self.store().user_get(id) {
                Ok(u) => names.push((u.id, u.name)),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(names)
    }

    async fn hash_off_thread(&self, password: String) -> Result<String, ServiceError> {
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| ServiceError::Internal {
                internal: format!("password hashing task: {e}"),
            })?
    }
}

/// Name of the operator account and project created at first start.
pub const BOOTSTRAP_ADMIN: &str = "admin";

fn check_domain(domain: Option<&str>) -> Result<(), ServiceError> {
    match domain {
        None => Ok(()),
        Some(d) if d == DEFAULT_DOMAIN_ID || d == DEFAULT_DOMAIN_NAME => Ok(()),
        Some(d) => Err(unauthorized(&format!(
            "Unknown domain '{d}': only '{DEFAULT_DOMAIN_NAME}' exists"
        ))),
    }
}

fn credentials_of(user: &User, project: Option<&Project>, record: &TokenRecord) -> Credentials {
    let mut roles = vec![ROLE_MEMBER];
    if user.is_admin {
        roles.push(ROLE_ADMIN);
    }
    Credentials {
        user_id: user.id.clone(),
        user_name: user.name.clone(),
        project_id: project.map(|p| p.id.clone()),
        project_name: project.map(|p| p.name.clone()),
        project_ids: user.project_ids.clone(),
        roles,
        is_admin: user.is_admin,
        methods: record.methods.clone(),
        issued_at: record.issued_at,
        expires_at: record.expires_at,
        audit_id: record.audit_id.clone(),
        read_deleted: true,
    }
}
