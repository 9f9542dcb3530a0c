//! Persisted shapes of the compute service: volume types, flavors, images, servers.
//!
//! Storage shapes only (the API renders its own wire documents). Field names are persisted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::versioned;
use crate::clock::Timestamp;

/// A volume type: a name for a disk template (`drbd`, `ext_archipelago`, ...) and its specs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeType {
    pub id: u64,
    pub name: String,
    pub disk_template: String,
    /// `GNT-EXTP:<k>` entries reach Ganeti ExtStorage disks (prefix stripped).
    pub specs: BTreeMap<String, String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub generation: u64,
}
versioned!(VolumeType, "volume type");

/// A flavor: (cpu, ram MiB, disk GiB, volume type), unique among all flavors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: u64,
    pub cpu: u32,
    pub ram_mb: u64,
    pub disk_gb: u64,
    pub volume_type_id: u64,
    /// Copied from the volume type (volume types never change template).
    pub disk_template: String,
    pub public: bool,
    pub allow_create: bool,
    /// Projects with explicit access (FlavorAccess).
    pub access: Vec<String>,
    pub specs: BTreeMap<String, String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub generation: u64,
}
versioned!(Flavor, "flavor");

impl Flavor {
    /// Synnefo's generated name, `C<cpu>R<ram>D<disk><disk_template>`.
    pub fn name(&self) -> String {
        format!(
            "C{}R{}D{}{}",
            self.cpu, self.ram_mb, self.disk_gb, self.disk_template
        )
    }
}

/// An image registered in the Plankton-style registry (metadata only; data lives at `location`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// UUID (36 characters, hyphenated).
    pub id: String,
    pub name: String,
    /// Owner user id.
    pub owner: String,
    pub location: String,
    /// `available`, `queued`, `error`, `deleted` (Plankton's statuses, lower case).
    pub status: String,
    pub disk_format: String,
    pub container_format: String,
    pub size: u64,
    pub checksum: String,
    pub is_public: bool,
    pub is_snapshot: bool,
    /// Projects the image is shared with.
    pub members: Vec<String>,
    /// Free-form properties (OSFAMILY, OS, ROOT_PARTITION, USERS, ...).
    pub properties: BTreeMap<String, String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub generation: u64,
}
versioned!(Image, "image");

/// One diagnostic message about a server (newest first when listed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub created: Timestamp,
    /// ERROR, WARNING, INFO, DEBUG.
    pub level: String,
    pub source: String,
    pub message: String,
    pub details: String,
    /// When its source says it happened (snf-image's `event_time`), if it says.
    #[serde(default)]
    pub source_date: Option<Timestamp>,
}

impl Diagnostic {
    /// A diagnostic the control plane itself records now (`source` "cyclades").
    pub fn cyclades(level: &str, message: String, details: String) -> Self {
        Diagnostic {
            created: Timestamp::now(),
            level: level.into(),
            source: "cyclades".into(),
            message,
            details,
            source_date: None,
        }
    }
}

/// How many diagnostics a server keeps (newest first); older ones are dropped.
pub const DIAGNOSTICS_KEPT: usize = 50;

/// A virtual machine (Synnefo's VirtualMachine).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Server {
    pub id: u64,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub flavor_id: u64,
    pub image_id: String,
    pub key_names: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    /// User tags (without the `cyclades:user:` namespace) → `ACTIVE` once Ganeti has them.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The Ganeti cluster it lives on, once allocated.
    pub backend_id: Option<u64>,
    /// BUILD, ERROR, STOPPED, STARTED, DESTROYED (Synnefo's operstate).
    pub operstate: String,
    /// Last requested action (CREATE, START, STOP, REBOOT, DESTROY, RESIZE).
    pub action: String,
    /// The task lock: the action in flight and the job that holds it.
    pub task: Option<String>,
    pub active_job: Option<u64>,
    /// Last Ganeti job we know of for this server.
    pub backend_job_id: Option<u64>,
    pub backend_opcode: Option<String>,
    pub backend_job_status: Option<String>,
    pub backend_log_msg: Option<String>,
    pub suspended: bool,
    /// Whether the server's creation commission was accepted (its resources are charged).
    pub quota_charged: bool,
    pub diagnostics: Vec<Diagnostic>,
    /// How much of its image snf-image has copied, 0 to 100 (Synnefo's `buildpercentage`).
    #[serde(default)]
    pub build_percentage: u8,
    /// Booting from a rescue image (Synnefo's `rescue`), and which one.
    #[serde(default)]
    pub rescue: bool,
    #[serde(default)]
    pub rescue_image_id: Option<u64>,
    /// Visible to (and operable by) every member of its project, not only its owner.
    #[serde(default)]
    pub shared_to_project: bool,
    /// An operator's server for internal actions (`server-create --helper`): deleting a
    /// detached volume attaches it here first, as Ganeti only removes disks of instances.
    #[serde(default)]
    pub helper: bool,
    /// A `server.destroy` submitted while another job held the task lock (DESTROY is exempt
    /// from it, spec §9.2): it takes the lock once that job is done. Until then no other
    /// action may start.
    #[serde(default)]
    pub destroy_job: Option<u64>,
    /// Nova's `accessIPv4`/`accessIPv6`: addresses the user says reach the server, kept as
    /// given (validated) and shown; nothing routes by them.
    #[serde(default)]
    pub access_ipv4: Option<std::net::Ipv4Addr>,
    #[serde(default)]
    pub access_ipv6: Option<std::net::Ipv6Addr>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    /// Keep last: `Store::server_generations` reads it from the tail of the stored JSON.
    pub generation: u64,
}
versioned!(Server, "server");

impl Server {
    /// The Ganeti instance name (`snf-<id>`).
    pub fn instance_name(&self) -> String {
        crate::names::instance(self.id)
    }

    /// Records a diagnostic as the newest, keeping [`DIAGNOSTICS_KEPT`].
    pub fn add_diagnostic(&mut self, d: Diagnostic) {
        self.diagnostics.insert(0, d);
        self.diagnostics.truncate(DIAGNOSTICS_KEPT);
    }
}

/// A user's SSH public key (Synnefo's PublicKeyPair), unique by (user, name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyPair {
    pub id: u64,
    pub user_id: String,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
    /// `ssh` (the only kind).
    pub kind: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub generation: u64,
}
versioned!(KeyPair, "keypair");

/// A bootable rescue image (Synnefo's RescueImage): what `rescue` attaches as the server's CD-ROM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RescueImage {
    pub id: u64,
    pub name: String,
    /// A file name under `rescue.image_path` (`file`) or a URL (`http`).
    pub location: String,
    /// `file` or `http`.
    pub location_type: String,
    /// The rescue system itself.
    pub os_family: Option<String>,
    pub os: Option<String>,
    /// The servers it suits: matched against their image's `OSFAMILY` and `OS` properties.
    pub target_os_family: Option<String>,
    pub target_os: Option<String>,
    pub is_default: bool,
    pub deleted: bool,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub generation: u64,
}
versioned!(RescueImage, "rescue image");
