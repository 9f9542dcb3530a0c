//! Resource-first store reads for volumes. Writes go through `Batch` (`insert`/`update`), so a
//! volume, the server it serves and the job that changes it move in one transaction; `commit`
//! keeps the `volumes_by_server` index.

use super::{Deleted, Store, StoreError, get, scan};
use crate::store::Volume;

impl Store {
    pub fn volume_get(&self, id: u64) -> Result<Volume, StoreError> {
        get(&self.trees.volumes, "volumes", &id.to_be_bytes()).map_err(|e| match e {
            StoreError::NotFound { kind, .. } => StoreError::NotFound {
                kind,
                id: id.to_string(),
            },
            other => other,
        })
    }

    pub fn volume_list(&self, deleted: Deleted) -> Result<Vec<Volume>, StoreError> {
        let mut all: Vec<Volume> = scan(&self.trees.volumes, "volumes", b"")?;
        all.retain(|v| deleted.keeps(v.deleted));
        Ok(all)
    }

    /// The volumes attached to a server, by disk index (root first), through the
    /// `volumes_by_server` index.
    pub fn volumes_of_server(&self, server_id: u64) -> Result<Vec<Volume>, StoreError> {
        let mut volumes = Vec::new();
        for (key, _) in self
            .trees
            .volumes_by_server
            .scan_prefix(server_id.to_be_bytes())?
        {
            let Some(id) = key.get(8..16).and_then(|b| b.try_into().ok()) else {
                continue;
            };
            match self.volume_get(u64::from_be_bytes(id)) {
                Ok(v) if v.server_id == Some(server_id) => volumes.push(v),
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        volumes.sort_by_key(|v| (v.index.unwrap_or(u32::MAX), v.id));
        Ok(volumes)
    }

    /// Rebuilds the `volumes_by_server` index from the volumes (at every open).
    pub(super) fn rebuild_volume_index(&self) -> Result<(), StoreError> {
        self.trees.volumes_by_server.clear()?;
        for v in self.volume_list(Deleted::Include)? {
            if let Some(server) = v.server_id {
                self.trees
                    .volumes_by_server
                    .insert(super::network::by_server_key(server, v.id), [])?;
            }
        }
        Ok(())
    }
}
