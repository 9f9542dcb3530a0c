//! Resource-first store methods for SSH keypairs, keyed by user ‖ 0 ‖ name.

use super::{Store, StoreError, encode, get, project_resource_key, scan};
use crate::store::KeyPair;

impl Store {
    /// Inserts a keypair unless the user already has one with that name (`AlreadyExists`).
    pub fn keypair_insert(&self, keypair: &KeyPair) -> Result<KeyPair, StoreError> {
        let record = KeyPair {
            id: self.generate_id()?,
            generation: 1,
            ..keypair.clone()
        };
        let key = project_resource_key(&record.user_id, &record.name);
        let swapped = self
            .trees
            .keypairs
            .compare_and_swap(&key, None, Some(&encode(&record)))?;
        if swapped.is_err() {
            return Err(StoreError::AlreadyExists {
                kind: "keypair",
                id: record.name.clone(),
            });
        }
        Ok(record)
    }

    pub fn keypair_get(&self, user_id: &str, name: &str) -> Result<KeyPair, StoreError> {
        get(
            &self.trees.keypairs,
            "keypairs",
            &project_resource_key(user_id, name),
        )
        .map_err(|e| match e {
            StoreError::NotFound { kind, .. } => StoreError::NotFound {
                kind,
                id: name.to_string(),
            },
            other => other,
        })
    }

    /// A user's keypairs, ordered by name.
    pub fn keypair_list(&self, user_id: &str) -> Result<Vec<KeyPair>, StoreError> {
        scan(
            &self.trees.keypairs,
            "keypairs",
            &super::project_prefix(user_id),
        )
    }

    /// Removes a keypair; false if there was none.
    pub fn keypair_remove(&self, user_id: &str, name: &str) -> Result<bool, StoreError> {
        self.trees
            .keypairs
            .remove(project_resource_key(user_id, name))
    }
}
