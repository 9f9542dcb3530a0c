//! Resource-first store methods for backends (Ganeti clusters) and the projects they are
//! dedicated to. Cluster names are unique through `backends_by_name`; each live backend holds
//! a distinct index 0-255 (its MAC prefix group and digit, see `Backend::mac_group`).

use super::kv::{self, TxError};

use super::{Deleted, Store, StoreError, decode, encode, get, scan, update_cas};
use crate::clock::Timestamp;
use crate::store::model::Backend;

/// The most live backends: 16 groups of 16 (Synnefo's one hex digit per backend allows one
/// group; each further group extends a further prefix from the MAC-prefix pool).
pub const MAX_BACKENDS: usize = 256;

impl Store {
    /// Inserts a backend, assigning its id and the lowest free index.
    pub fn backend_insert(&self, backend: &Backend) -> Result<Backend, StoreError> {
        let live = self.backend_list(Deleted::Exclude)?;
        let index = (0..=u8::MAX)
            .take(MAX_BACKENDS)
            .find(|i| !live.iter().any(|b| b.index == *i))
            .ok_or_else(|| StoreError::AlreadyExists {
                kind: "backend",
                id: format!("(all {MAX_BACKENDS} backend slots are taken)"),
            })?;
        let id = self.generate_id()?;
        let record = Backend {
            id,
            index,
            ..backend.clone()
        };
        let encoded = encode(&record);
        kv::transact(&[&self.trees.backends, &self.trees.backends_by_name], |t| {
            let (backends, by_name) = (&t[0], &t[1]);
            if by_name.get(record.clustername.as_bytes())?.is_some() {
                return Err(TxError::Abort(StoreError::AlreadyExists {
                    kind: "backend",
                    id: record.clustername.clone(),
                }));
            }
            backends.insert(id.to_be_bytes(), encoded.as_slice())?;
            by_name.insert(record.clustername.as_bytes(), id.to_be_bytes())?;
            Ok(())
        })?;
        Ok(record)
    }

    pub fn backend_get(&self, id: u64) -> Result<Backend, StoreError> {
        get(&self.trees.backends, "backends", &id.to_be_bytes()).map_err(|e| match e {
            StoreError::NotFound { kind, .. } => StoreError::NotFound {
                kind,
                id: id.to_string(),
            },
            other => other,
        })
    }

    /// A live backend by id or cluster name.
    pub fn backend_find(&self, id_or_name: &str) -> Result<Backend, StoreError> {
        if let Some(id) = self.trees.backends_by_name.get(id_or_name.as_bytes())? {
            return get(&self.trees.backends, "backends", &id);
        }
        match id_or_name.parse::<u64>() {
            Ok(id) => self.backend_get(id),
            Err(_) => Err(StoreError::NotFound {
                kind: "backend",
                id: id_or_name.to_string(),
            }),
        }
    }

    pub fn backend_list(&self, deleted: Deleted) -> Result<Vec<Backend>, StoreError> {
        let mut all: Vec<Backend> = scan(&self.trees.backends, "backends", b"")?;
        all.retain(|b| deleted.keeps(b.deleted));
        Ok(all)
    }

    pub fn backend_update(
        &self,
        id: u64,
        expected_generation: Option<u64>,
        mut mutate: impl FnMut(&mut Backend) -> Result<(), StoreError>,
    ) -> Result<Backend, StoreError> {
        update_cas(
            &self.trees.backends,
            "backends",
            &id.to_be_bytes(),
            expected_generation,
            |b: &mut Backend| {
                let name = b.clustername.clone();
                mutate(b)?;
                b.clustername = name;
                b.updated = Timestamp::now();
                Ok(())
            },
        )
    }

    /// Soft-deletes a backend: it frees its name and index, and its project dedications go.
    pub fn backend_soft_delete(&self, id: u64) -> Result<Backend, StoreError> {
        let removed = kv::transact(&[&self.trees.backends, &self.trees.backends_by_name], |t| {
            let (backends, by_name) = (&t[0], &t[1]);
            let raw = backends.get(id.to_be_bytes())?.ok_or_else(|| {
                TxError::Abort(StoreError::NotFound {
                    kind: "backend",
                    id: id.to_string(),
                })
            })?;
            let mut b: Backend = decode("backends", &raw).map_err(TxError::Abort)?;
            b.deleted = true;
            b.updated = Timestamp::now();
            b.generation += 1;
            backends.insert(id.to_be_bytes(), encode(&b))?;
            by_name.remove(b.clustername.as_bytes())?;
            Ok(b)
        })?;
        // Dedications to a deleted backend are harmless (lookups skip deleted backends), so
        // removing them after the transaction cannot leave anything that matters behind.
        for (project, backend) in self.project_backend_list(None)? {
            if backend == id {
                self.project_backend_remove(&project, id)?;
            }
        }
        Ok(removed)
    }

    // ----- project dedications -----

    fn project_backend_key(project_id: &str, backend_id: u64) -> Vec<u8> {
        let mut key = project_id.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(&backend_id.to_be_bytes());
        key
    }

    /// Dedicates a backend to a project (idempotent).
    pub fn project_backend_add(&self, project_id: &str, backend_id: u64) -> Result<(), StoreError> {
        self.trees
            .project_backends
            .insert(Self::project_backend_key(project_id, backend_id), [])?;
        Ok(())
    }

    /// Removes a dedication; false if there was none.
    pub fn project_backend_remove(
        &self,
        project_id: &str,
        backend_id: u64,
    ) -> Result<bool, StoreError> {
        self.trees
            .project_backends
            .remove(Self::project_backend_key(project_id, backend_id))
    }

    /// (project id, backend id) pairs, for one project or all.
    pub fn project_backend_list(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let prefix = project_id.map(|p| {
            let mut k = p.as_bytes().to_vec();
            k.push(0);
            k
        });
        let mut out = Vec::new();
        for (key, _) in self
            .trees
            .project_backends
            .scan_prefix(prefix.unwrap_or_default())?
        {
            if key.len() < 9 {
                continue;
            }
            let (project, rest) = key.split_at(key.len() - 9);
            let id = u64::from_be_bytes(rest[1..].try_into().unwrap_or([0; 8]));
            out.push((String::from_utf8_lossy(project).into_owned(), id));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn backend(name: &str) -> Backend {
        let now = Timestamp::now();
        Backend {
            id: 0,
            clustername: name.into(),
            port: 5080,
            scheme: "https".into(),
            username: "rapi".into(),
            password_sealed: String::new(),
            insecure: false,
            hypervisor: "fake".into(),
            public: true,
            drained: false,
            offline: false,
            index: 0,
            disk_templates: vec![],
            resources: Default::default(),
            resources_updated: None,
            last_contact: None,
            last_error: None,
            created: now,
            updated: now,
            deleted: false,
            generation: 0,
        }
    }

    /// 256 live backends each get their own index (16 MAC-prefix groups of 16); the 257th is
    /// refused, and a removed backend's index goes to the next one added.
    #[test]
    fn up_to_256_backends_hold_distinct_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = testing::open(dir.path()).expect("open");
        let added: Vec<Backend> = (0..MAX_BACKENDS)
            .map(|n| {
                store
                    .backend_insert(&backend(&format!("c{n}")))
                    .expect("insert")
            })
            .collect();
        let indexes: Vec<usize> = added.iter().map(|b| usize::from(b.index)).collect();
        assert_eq!(indexes, (0..MAX_BACKENDS).collect::<Vec<_>>());
        assert_eq!((added[16].mac_group(), added[16].mac_digit()), (1, 0));
        assert_eq!((added[99].mac_group(), added[99].mac_digit()), (6, 3));
        let err = store.backend_insert(&backend("one-too-many")).unwrap_err();
        assert!(err.to_string().contains("256 backend slots"), "{err}");
        store.backend_soft_delete(added[99].id).expect("delete");
        let again = store.backend_insert(&backend("c99-again")).expect("insert");
        assert_eq!(again.index, 99);
    }
}
