//! Copying a whole store into another (`cyclades store-migrate`, sled → PostgreSQL) and proving
//! the copy: per tree, the number of entries and a SHA-256 digest over keys and values (JSON
//! values in a canonical form, so sled's bytes and PostgreSQL's JSONB compare by meaning).

use sha2::{Digest, Sha256};

use super::kv::Tree;
use super::{Store, StoreError};

/// What one tree holds: its name, entry count and digest (hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeReport {
    pub tree: &'static str,
    pub entries: usize,
    pub digest: String,
}

impl Store {
    /// Every tree, `meta` first.
    fn all_trees(&self) -> Vec<&Tree> {
        let t = &self.trees;
        vec![
            &self.meta,
            &t.users,
            &t.users_by_name,
            &t.projects,
            &t.projects_by_name,
            &t.tokens,
            &t.quota_limits,
            &t.quota_usage,
            &t.commissions,
            &t.commissions_by_name,
            &t.backends,
            &t.backends_by_name,
            &t.project_backends,
            &t.jobs,
            &t.job_log,
            &t.volume_types,
            &t.flavors,
            &t.flavor_keys,
            &t.images,
            &t.servers,
            &t.servers_by_update,
            &t.keypairs,
            &t.rescue_images,
            &t.networks,
            &t.ports,
            &t.ports_by_server,
            &t.floating_ips,
            &t.pools,
            &t.volumes,
            &t.volumes_by_server,
            // Unfinished jobs move with their leases; named leases and the replica registry
            // are the running replicas' own and are not copied.
            &t.job_leases,
        ]
    }

    /// Count and digest of every tree.
    pub fn tree_reports(&self) -> Result<Vec<TreeReport>, StoreError> {
        self.all_trees()
            .into_iter()
            .map(|tree| {
                let entries = tree.iter()?;
                let mut hash = Sha256::new();
                for (k, v) in &entries {
                    let v = canonical(tree, v);
                    hash.update((k.len() as u64).to_be_bytes());
                    hash.update(k);
                    hash.update((v.len() as u64).to_be_bytes());
                    hash.update(&v);
                }
                Ok(TreeReport {
                    tree: tree.name(),
                    entries: entries.len(),
                    digest: hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
                })
            })
            .collect()
    }

    /// Copies every entry of this store into `target`, which must hold nothing but its schema
    /// version, moves `target`'s id generator past every id handed out here, and verifies the
    /// copy tree by tree. Returns the verified reports.
    pub fn copy_into(&self, target: &Store) -> Result<Vec<TreeReport>, StoreError> {
        for tree in target.all_trees().into_iter().skip(1) {
            let entries = tree.len()?;
            if entries > 0 {
                return Err(StoreError::TargetNotEmpty {
                    tree: tree.name(),
                    entries,
                });
            }
        }
        if self.schema_version()? != target.schema_version()? {
            return Err(StoreError::Database(
                format!(
                    "the source holds schema version {} and the target {}: open the source with \
                     this cyclades first (it migrates at open)",
                    self.schema_version()?,
                    target.schema_version()?
                )
                .into(),
            ));
        }
        for (from, to) in self.all_trees().into_iter().zip(target.all_trees()).skip(1) {
            for (k, v) in from.iter()? {
                to.insert(&k, &v)?;
            }
        }
        // Ids handed out by the source (the next one it would give is past all of them).
        let next = self.generate_id()?;
        target.db.advance_ids_to(next)?;
        target.flush_blocking()?;
        let (source, copied) = (self.tree_reports()?, target.tree_reports()?);
        for (s, c) in source.iter().zip(&copied) {
            if s != c {
                return Err(StoreError::Database(
                    format!(
                        "verification failed for tree {}: source {} entries ({}), copy {} ({})",
                        s.tree, s.entries, s.digest, c.entries, c.digest
                    )
                    .into(),
                ));
            }
        }
        Ok(copied)
    }
}

fn canonical(tree: &Tree, value: &[u8]) -> Vec<u8> {
    if !tree.holds_json() {
        return value.to_vec();
    }
    // serde_json's maps are sorted (no preserve_order), so this is key-order independent.
    match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(v) => serde_json::to_vec(&v).unwrap_or_default(),
        Err(_) => value.to_vec(),
    }
}
