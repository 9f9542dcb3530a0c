//! Persisted shape of a volume (Synnefo's `Volume`): a server's disk, or a detachable disk
//! that exists without one. Storage shape only; the API renders its own documents.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::versioned;
use crate::clock::Timestamp;

/// A volume. A server's root volume shares the server's id (ids come from one sequence, so
/// they never collide), which keeps its Ganeti disk name `snf-vol-<server id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub user_id: String,
    pub project_id: String,
    pub shared_to_project: bool,
    /// GiB.
    pub size_gb: u64,
    pub volume_type_id: u64,
    /// Copied from the volume type.
    pub disk_template: String,
    pub delete_on_termination: bool,
    /// `image:<id>` (root volumes), or none (blank).
    pub source: Option<String>,
    /// CREATING, AVAILABLE, ATTACHING, IN_USE, DETACHING, DELETING, DELETED, ERROR.
    pub status: String,
    /// The server it is attached to, and its position among the server's disks (0: root).
    pub server_id: Option<u64>,
    pub index: Option<u32>,
    /// The backend whose storage holds its data once initialised (detached volumes too).
    pub backend_id: Option<u64>,
    /// The last Ganeti job that touched it, when known (Synnefo's `backendjobid`).
    pub backend_job_id: Option<u64>,
    /// Ganeti has held it as a disk, so its data exists (Synnefo tells this by
    /// `backendjobid`): a detached volume with data comes back with `reuse_data` and needs a
    /// helper server to be deleted.
    pub initialised: bool,
    /// Its size is charged to `cyclades.disk` by its own commissions (root volumes are charged
    /// with their server).
    pub quota_charged: bool,
    pub metadata: BTreeMap<String, String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub generation: u64,
}
versioned!(Volume, "volume");

impl Volume {
    /// The Ganeti disk name (`snf-vol-<id>`).
    pub fn ganeti_name(&self) -> String {
        crate::names::volume(self.id)
    }

    /// The root volume of a server (its index is 0).
    pub fn is_root(&self) -> bool {
        self.index == Some(0)
    }

    /// The record once the volume and its data are gone: DELETED, unattached, nothing charged.
    pub fn as_deleted(&self) -> Volume {
        Volume {
            status: "DELETED".into(),
            deleted: true,
            server_id: None,
            index: None,
            quota_charged: false,
            ..self.clone()
        }
    }
}
