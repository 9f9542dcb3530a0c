//! Resource-first store methods for users, projects and tokens.
//!
//! Names are unique per kind through the `*_by_name` index trees, written in the same
//! multi-tree transaction as the record. Tokens are keyed by their SHA-256 digest: the store
//! never sees a token itself.

use super::kv::{self, TxError};

use super::{Deleted, Store, StoreError, decode, encode, get, scan, update_cas};
use crate::clock::Timestamp;
use crate::store::model::{Project, TokenRecord, User};

impl Store {
    // ----- users -----

    /// Inserts a new user and its name index entry in one transaction.
    pub fn user_insert(&self, user: &User) -> Result<(), StoreError> {
        insert_named(
            &self.trees.users,
            &self.trees.users_by_name,
            "user",
            &user.id,
            &user.name,
            user,
        )
    }

    pub fn user_get(&self, id: &str) -> Result<User, StoreError> {
        get(&self.trees.users, "users", id.as_bytes())
    }

    /// Finds a user by name, then by id.
    pub fn user_find(&self, name_or_id: &str) -> Result<User, StoreError> {
        match self.trees.users_by_name.get(name_or_id.as_bytes())? {
            Some(id) => get(&self.trees.users, "users", &id),
            None => self.user_get(name_or_id),
        }
    }

    pub fn user_list(&self, deleted: Deleted) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = scan(&self.trees.users, "users", b"")?;
        users.retain(|u| deleted.keeps(u.deleted));
        users.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(users)
    }

    /// Compare-and-swap update of one user (see `update_cas`). The name cannot change here.
    pub fn user_update(
        &self,
        id: &str,
        expected_generation: Option<u64>,
        mut mutate: impl FnMut(&mut User) -> Result<(), StoreError>,
    ) -> Result<User, StoreError> {
        update_cas(
            &self.trees.users,
            "users",
            id.as_bytes(),
            expected_generation,
            |u: &mut User| {
                let name = u.name.clone();
                mutate(u)?;
                u.name = name;
                u.updated = Timestamp::now();
                Ok(())
            },
        )
    }

    // ----- projects -----

    pub fn project_insert(&self, project: &Project) -> Result<(), StoreError> {
        insert_named(
            &self.trees.projects,
            &self.trees.projects_by_name,
            "project",
            &project.id,
            &project.name,
            project,
        )
    }

    pub fn project_get(&self, id: &str) -> Result<Project, StoreError> {
        get(&self.trees.projects, "projects", id.as_bytes())
    }

    /// Finds a project by name, then by id.
    pub fn project_find(&self, name_or_id: &str) -> Result<Project, StoreError> {
        match self.trees.projects_by_name.get(name_or_id.as_bytes())? {
            Some(id) => get(&self.trees.projects, "projects", &id),
            None => self.project_get(name_or_id),
        }
    }

    pub fn project_list(&self, deleted: Deleted) -> Result<Vec<Project>, StoreError> {
        let mut projects: Vec<Project> = scan(&self.trees.projects, "projects", b"")?;
        projects.retain(|p| deleted.keeps(p.deleted));
        projects.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        Ok(projects)
    }

    pub fn project_update(
        &self,
        id: &str,
        expected_generation: Option<u64>,
        mut mutate: impl FnMut(&mut Project) -> Result<(), StoreError>,
    ) -> Result<Project, StoreError> {
        update_cas(
            &self.trees.projects,
            "projects",
            id.as_bytes(),
            expected_generation,
            |p: &mut Project| {
                let name = p.name.clone();
                mutate(p)?;
                p.name = name;
                p.updated = Timestamp::now();
                Ok(())
            },
        )
    }

    /// Soft-deletes a project: the record stays (listed with `Deleted::Only`), its name is freed.
    pub fn project_soft_delete(
        &self,
        id: &str,
        expected_generation: Option<u64>,
    ) -> Result<Project, StoreError> {
        let project = self.project_get(id)?;
        if let Some(expected) = expected_generation
            && project.generation != expected
        {
            return Err(StoreError::GenerationMismatch {
                kind: "project",
                id: id.to_string(),
                expected,
                found: project.generation,
            });
        }
        kv::transact(&[&self.trees.projects, &self.trees.projects_by_name], |t| {
            let (projects, by_name) = (&t[0], &t[1]);
            let raw = projects.get(id.as_bytes())?.ok_or_else(|| {
                TxError::Abort(StoreError::NotFound {
                    kind: "project",
                    id: id.to_string(),
                })
            })?;
            let mut current: Project = decode("projects", &raw).map_err(TxError::Abort)?;
            if current.generation != project.generation {
                return Err(TxError::Abort(StoreError::GenerationMismatch {
                    kind: "project",
                    id: id.to_string(),
                    expected: project.generation,
                    found: current.generation,
                }));
            }
            current.deleted = true;
            current.updated = Timestamp::now();
            current.generation += 1;
            projects.insert(id.as_bytes(), encode(&current))?;
            by_name.remove(current.name.as_bytes())?;
            Ok(current)
        })
    }

    // ----- tokens -----

    /// Records a token under its digest.
    pub fn token_insert(&self, digest: &[u8], token: &TokenRecord) -> Result<(), StoreError> {
        self.trees.tokens.insert(digest, encode(token))?;
        Ok(())
    }

    pub fn token_get(&self, digest: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        match self.trees.tokens.get(digest)? {
            Some(raw) => Ok(Some(decode("tokens", &raw)?)),
            None => Ok(None),
        }
    }

    /// Marks a token revoked (idempotent). Returns false if there is no such token.
    pub fn token_revoke(&self, digest: &[u8]) -> Result<bool, StoreError> {
        match update_cas(
            &self.trees.tokens,
            "tokens",
            digest,
            None,
            |t: &mut TokenRecord| {
                t.revoked = true;
                Ok(())
            },
        ) {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Revokes every token of a user (password change, disabled account). Returns how many.
    pub fn token_revoke_user(&self, user_id: &str) -> Result<usize, StoreError> {
        let mut revoked = 0;
        for (digest, raw) in self.trees.tokens.iter()? {
            let token: TokenRecord = decode("tokens", &raw)?;
            if token.user_id == user_id && !token.revoked && self.token_revoke(&digest)? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }

    /// Deletes tokens that expired or were revoked before `cutoff`. Returns how many.
    pub fn token_purge(&self, cutoff: Timestamp) -> Result<usize, StoreError> {
        let mut purged = 0;
        for (digest, raw) in self.trees.tokens.iter()? {
            let token: TokenRecord = decode("tokens", &raw)?;
            let expired = token.expires_at.is_some_and(|e| e < cutoff);
            if expired || (token.revoked && token.issued_at < cutoff) {
                self.trees.tokens.remove(digest)?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}

/// Inserts `record` under `id` and `name → id` in the index, failing if either exists.
fn insert_named<T: serde::Serialize>(
    records: &kv::Tree,
    by_name: &kv::Tree,
    kind: &'static str,
    id: &str,
    name: &str,
    record: &T,
) -> Result<(), StoreError> {
    let encoded = encode(record);
    kv::transact(&[records, by_name], |t| {
        let (records, by_name) = (&t[0], &t[1]);
        if by_name.get(name.as_bytes())?.is_some() {
            return Err(TxError::Abort(StoreError::AlreadyExists {
                kind,
                id: name.to_string(),
            }));
        }
        if records.get(id.as_bytes())?.is_some() {
            return Err(TxError::Abort(StoreError::AlreadyExists {
                kind,
                id: id.to_string(),
            }));
        }
        records.insert(id.as_bytes(), encoded.as_slice())?;
        by_name.insert(name.as_bytes(), id.as_bytes())?;
        Ok(())
    })
}
