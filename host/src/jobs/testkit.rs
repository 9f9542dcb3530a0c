//! Fixture records for the job engine's test suites and benchmarks: a backend pointing at a
//! RAPI simulator, a volume type, a flavor and a public image. The server never uses this.

use std::collections::BTreeMap;

use crate::clock::Timestamp;
use crate::secrets::Sealer;
use crate::store::{Backend, BackendResources, Flavor, Image, Store, StoreError, VolumeType};

/// What to seed.
pub struct Fixture<'a> {
    /// `http` for the simulator, `https` for a real cluster.
    pub scheme: &'a str,
    /// Accept a self-signed certificate (real Ganeti's default).
    pub insecure: bool,
    pub sim_port: u16,
    pub username: &'a str,
    pub password: &'a str,
    pub sealer: &'a Sealer,
    pub resources: BackendResources,
    pub disk_templates: &'a [&'a str],
    /// (vCPUs, RAM MiB, disk GiB, disk template) of the one flavor.
    pub flavor: (u32, u64, u64, &'a str),
}

/// The image every fixture server boots.
pub const IMAGE_ID: &str = "img-1";
pub const IMAGE_LOCATION: &str = "pithos://u/images/debian";

/// Inserts the records; returns (backend id, flavor id).
pub fn seed(store: &Store, f: &Fixture<'_>) -> Result<(u64, u64), StoreError> {
    let now = Timestamp::now();
    let backend = store.backend_insert(&Backend {
        id: 0,
        clustername: "127.0.0.1".into(),
        port: f.sim_port,
        scheme: f.scheme.into(),
        username: f.username.into(),
        password_sealed: f.sealer.seal(f.password),
        insecure: f.insecure,
        hypervisor: "fake".into(),
        public: true,
        drained: false,
        offline: false,
        index: 0,
        disk_templates: f.disk_templates.iter().map(|t| t.to_string()).collect(),
        resources: f.resources,
        resources_updated: None,
        last_contact: None,
        last_error: None,
        created: now,
        updated: now,
        deleted: false,
        generation: 0,
    })?;
    let (cpu, ram_mb, disk_gb, template) = f.flavor;
    let vt = store.volume_type_insert(&VolumeType {
        id: 0,
        name: template.into(),
        disk_template: template.into(),
        specs: BTreeMap::new(),
        created: now,
        updated: now,
        deleted: false,
        generation: 0,
    })?;
    let flavor = store.flavor_insert(&Flavor {
        id: 0,
        cpu,
        ram_mb,
        disk_gb,
        volume_type_id: vt.id,
        disk_template: template.into(),
        public: true,
        allow_create: true,
        access: vec![],
        specs: BTreeMap::new(),
        created: now,
        updated: now,
        deleted: false,
        generation: 0,
    })?;
    store.image_insert(&Image {
        id: IMAGE_ID.into(),
        name: "debian".into(),
        owner: "u".into(),
        location: IMAGE_LOCATION.into(),
        status: "available".into(),
        disk_format: "diskdump".into(),
        container_format: "bare".into(),
        size: 1,
        checksum: String::new(),
        is_public: true,
        is_snapshot: false,
        members: vec![],
        properties: BTreeMap::new(),
        created: now,
        updated: now,
        deleted: false,
        generation: 0,
    })?;
    Ok((backend.id, flavor.id))
}
