//! The params of the job kinds that act on servers and volumes: what the service layer decides
//! before submission (ids generated, addresses planned, rule 4) and every step reads back
//! with `StepCx::params`. Persisted with the job: fields added later take a default.
//!
//! Owns these types only, so that the service layer and every job kind share them without a job
//! kind importing another. Every kind that holds a server's lock has `server_id` and `action`
//! (what `server_lock::release_lock` reads).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Inputs of `server.create`, all decided (and ids generated) before submission.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerCreateParams {
    pub server_id: u64,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub flavor_id: u64,
    pub image_id: String,
    /// Where snf-image finds the image (`img_id` osparam).
    pub image_location: String,
    pub image_format: String,
    pub metadata: BTreeMap<String, String>,
    pub key_names: Vec<String>,
    /// Operator override (`server-create --backend-id`): skip the allocator.
    pub backend_id: Option<u64>,
    /// The one-time vmapi URL (the secrets behind it live in memory only).
    pub config_url: String,
    /// The server's NICs, in order (empty: the backend's default NIC).
    #[serde(default)]
    pub nics: Vec<NicPlan>,
    /// An operator's helper server (see `Server::helper`).
    #[serde(default)]
    pub helper: bool,
    /// New volumes besides the root one (`block_device_mapping_v2`), disks 1, 2, ...
    #[serde(default)]
    pub extra_volumes: Vec<ExtraVolume>,
    /// User tags given at create (without the `cyclades:user:` namespace).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Shared with the members of its project from the start.
    #[serde(default)]
    pub shared_to_project: bool,
    /// Nova's `accessIPv4`/`accessIPv6` (see `Server::access_ipv4`).
    #[serde(default)]
    pub access_ipv4: Option<std::net::Ipv4Addr>,
    #[serde(default)]
    pub access_ipv6: Option<std::net::Ipv6Addr>,
}

/// A volume created with its server, after the root volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtraVolume {
    pub id: u64,
    pub size_gb: u64,
    /// A clone of this image (clone-capable templates), or blank.
    pub image_id: Option<String>,
    /// An existing AVAILABLE volume (its id and size), attached once the instance exists.
    #[serde(default)]
    pub existing: bool,
    /// Deleted with the server; false: detached and kept (`server.destroy`'s `keep_volumes`).
    #[serde(default = "yes")]
    pub delete_on_termination: bool,
}

fn yes() -> bool {
    true
}

/// One NIC of a server to create, decided at submission (rule 4: ids are chosen up front).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NicPlan {
    /// The port's id: new, or an existing unattached port of the user (`existing`).
    pub port_id: u64,
    #[serde(default)]
    pub existing: bool,
    pub network_id: u64,
    /// The address asked for (private networks), if any.
    #[serde(default)]
    pub address: Option<Ipv4Addr>,
    /// The floating IP that gives the port its address (public networks).
    #[serde(default)]
    pub floating_ip_id: Option<u64>,
    /// The new port's name (`POST /ports` with a `device_id`).
    #[serde(default)]
    pub name: String,
    /// The server's port a Neutron client associated `floating_ip_id` with
    /// (`FloatingIp::nat_port_id`).
    #[serde(default)]
    pub nat_port_id: Option<u64>,
}

/// Inputs of the server jobs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerActionParams {
    pub server_id: u64,
    /// START, STOP, REBOOT, RESIZE, RESCUE, UNRESCUE or DESTROY.
    pub action: String,
    /// REBOOT: HARD (`shutdown_timeout: 0`) or SOFT.
    #[serde(default)]
    pub hard: bool,
    /// RESIZE: the new flavor.
    #[serde(default)]
    pub flavor_id: Option<u64>,
    /// RESCUE: the rescue image chosen at request time, and the CD-ROM path Ganeti gets.
    #[serde(default)]
    pub rescue_image_id: Option<u64>,
    #[serde(default)]
    pub rescue_path: Option<String>,
}

/// Inputs of `server.connect`, `server.disconnect` and `server.firewall`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerNicParams {
    pub server_id: u64,
    /// CONNECT, DISCONNECT or SET_FIREWALL_PROFILE.
    pub action: String,
    pub port_id: u64,
    /// CONNECT: the NIC to add.
    #[serde(default)]
    pub plan: Option<NicPlan>,
    /// Ask Ganeti to hot-plug the change (`hotplug_if_possible`).
    #[serde(default)]
    pub hotplug: bool,
    /// SET_FIREWALL_PROFILE: ENABLED, DISABLED or PROTECTED.
    #[serde(default)]
    pub profile: Option<String>,
}

/// Inputs of the volume jobs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeJobParams {
    pub server_id: u64,
    /// ATTACH_VOLUME, DETACH_VOLUME or DELETE_VOLUME.
    pub action: String,
    pub volume_id: u64,
    /// Ask Ganeti to hot-plug the change (`hotplug_if_possible`).
    #[serde(default)]
    pub hotplug: bool,
    /// ATTACH of a volume created for this server: charge its size to its project.
    #[serde(default)]
    pub charge: bool,
}
