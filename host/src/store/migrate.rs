//! Schema migrations, one version at a time, run by `Store::open` before anything else reads
//! the database. Each is idempotent (a crash half-way re-runs it at the next open: the version
//! is written last).
//!
//! - v1 → v2: volumes. Servers recorded before volumes existed get their root volume
//!   (id = server id, disk `snf-vol-<id>`, the flavor's size and type, a status that follows
//!   the server's), so that listings, reconciliation and `os-volume_attachments` see it.

use std::collections::BTreeMap;

use super::{Batch, Deleted, Store, StoreError, Volume};

/// v1 → v2: a root volume for every live server that has none.
pub(super) fn add_root_volumes(store: &Store) -> Result<usize, StoreError> {
    let mut added = 0;
    for s in store.server_list(Deleted::Exclude)? {
        if store.volume_get(s.id).is_ok() {
            continue;
        }
        let Ok(flavor) = store.flavor_get(s.flavor_id) else {
            continue;
        };
        let (status, initialised) = match s.operstate.as_str() {
            "BUILD" => ("CREATING", false),
            "ERROR" => ("ERROR", false),
            _ => ("IN_USE", true),
        };
        let root = Volume {
            id: s.id,
            name: String::new(),
            description: String::new(),
            user_id: s.user_id.clone(),
            project_id: s.project_id.clone(),
            shared_to_project: false,
            size_gb: flavor.disk_gb,
            volume_type_id: flavor.volume_type_id,
            disk_template: flavor.disk_template.clone(),
            delete_on_termination: true,
            source: Some(format!("image:{}", s.image_id)),
            status: status.into(),
            server_id: Some(s.id),
            index: Some(0),
            backend_id: s.backend_id,
            backend_job_id: None,
            initialised,
            quota_charged: false,
            metadata: BTreeMap::new(),
            created: s.created,
            updated: s.updated,
            deleted: false,
            generation: 1,
        };
        let mut batch = Batch::new();
        batch.insert(&root);
        match store.commit(&batch) {
            Ok(()) => added += 1,
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(added)
}
