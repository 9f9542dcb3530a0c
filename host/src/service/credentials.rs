//! `Credentials`: who is calling, as established from a validated token.

use super::ServiceError;
use crate::clock::Timestamp;

/// Name of the role that grants the admin API.
pub const ROLE_ADMIN: &str = "admin";
/// Name of the role every project member has.
pub const ROLE_MEMBER: &str = "member";

/// The caller of a request (Synnefo's `Credentials`), built from a validated token.
#[derive(Clone, Debug, PartialEq)]
pub struct Credentials {
    pub user_id: String,
    pub user_name: String,
    /// The project the token is scoped to, if any.
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    /// Every project the user is a member of.
    pub project_ids: Vec<String>,
    pub roles: Vec<&'static str>,
    pub is_admin: bool,
    pub methods: Vec<String>,
    pub issued_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub audit_id: String,
    /// Whether lookups by id find deleted resources (Nova's `read_deleted`): Synnefo shows a
    /// deleted server as DELETED, OpenStack answers 404. Listings with `changes-since` show
    /// deleted resources either way; listings without never do.
    pub read_deleted: bool,
}

impl Credentials {
    /// Whether the caller may act on resources of `project_id`.
    pub fn is_member_of(&self, project_id: &str) -> bool {
        self.project_ids.iter().any(|p| p == project_id)
    }

    /// 403 "Not a member of project <id>" unless the caller is a member of the project (or an
    /// operator): who may create or move resources into it.
    pub fn require_member(&self, project_id: &str) -> Result<(), ServiceError> {
        if self.is_admin || self.is_member_of(project_id) {
            return Ok(());
        }
        Err(ServiceError::Forbidden(format!(
            "Not a member of project {project_id}"
        )))
    }

    /// 404 `not_found` for a deleted resource unless the caller reads deleted ones.
    pub fn require_live(
        &self,
        deleted: bool,
        not_found: impl FnOnce() -> ServiceError,
    ) -> Result<(), ServiceError> {
        if deleted && !self.read_deleted {
            return Err(not_found());
        }
        Ok(())
    }

    /// Synnefo's visibility of owned resources (spec §1, A10): the owner sees it, and so do
    /// the members of its project once it is shared with the project.
    pub fn can_see(&self, owner: &str, project_id: &str, shared_to_project: bool) -> bool {
        owner == self.user_id || (shared_to_project && self.is_member_of(project_id))
    }
}
