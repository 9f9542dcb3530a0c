//! `serve --demo`: the embedded default. Seeds (idempotently) the demo project and user and
//! gives the bootstrap admin a password, so a newcomer can log in with the `openstack` CLI at
//! once, registers the in-process simulated Ganeti cluster as an open backend, and seeds
//! flavors (three sizes on `drbd`, `plain`, `file` and `ext_archipelago`) and a public demo
//! image, so that `openstack server create` works at once. Later layers add networks here.
//!
//! Uses services only; it must not touch the store directly.

use std::collections::BTreeMap;

use crate::service::backends::{BackendChanges, NewBackend};
use crate::service::flavors::FlavorCreate;
use crate::service::images::NewImage;
use crate::service::{ServiceError, Services};

pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo";
pub const DEMO_PROJECT: &str = "demo";
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin";
/// The demo image's name.
pub const DEMO_IMAGE: &str = "debian-12";
/// The demo flavors: (vCPUs, RAM MiB, disk GiB), each on every demo disk template.
pub const DEMO_SIZES: &[(u32, u64, u64)] = &[(1, 1024, 10), (2, 2048, 20), (4, 4096, 40)];
pub const DEMO_TEMPLATES: &[&str] = &["drbd", "plain", "file", "ext_archipelago"];

/// The name of the demo's public network (a floating-IP pool).
pub const DEMO_PUBLIC_NETWORK: &str = "public";

/// What the demo seeded, for the start-up banner.
#[derive(Clone, Debug)]
pub struct DemoInfo {
    pub user: &'static str,
    pub password: &'static str,
    pub project: &'static str,
    pub admin_user: &'static str,
    pub admin_password: &'static str,
}

/// The demo cluster's RAPI credentials (the simulator runs on loopback only).
pub const SIM_USERNAME: &str = "cyclades";
pub const SIM_PASSWORD: &str = "cyclades-demo";

/// Registers the in-process simulated cluster at `port` as an open backend (or, on a
/// restart, points the existing registration at the simulator's new port).
pub async fn register_simulator(
    services: &Services,
    port: u16,
    hypervisor: &str,
) -> Result<(), ServiceError> {
    let existing = services.backend_list(crate::service::Deleted::Exclude)?;
    match existing
        .iter()
        .find(|b| b.backend.clustername == "127.0.0.1")
    {
        Some(b) => {
            let id = b.backend.id.to_string();
            services
                .backend_modify(
                    &id,
                    &BackendChanges {
                        port: Some(port),
                        drained: Some(false),
                        ..Default::default()
                    },
                )
                .await?;
            services.backend_update_status(Some(&id)).await?;
        }
        None => {
            let new = NewBackend {
                clustername: "127.0.0.1".into(),
                port,
                username: SIM_USERNAME.into(),
                password: SIM_PASSWORD.into(),
                no_check: false,
                insecure: false,
                hypervisor: Some(hypervisor.into()),
                public: true,
                http: true,
            };
            let added = services.backend_add(&new).await?;
            services
                .backend_modify(
                    &added.backend.id.to_string(),
                    &BackendChanges {
                        drained: Some(false),
                        ..Default::default()
                    },
                )
                .await?;
        }
    }
    Ok(())
}

/// Creates the demo project and user unless they already exist.
pub async fn seed(services: &Services) -> Result<DemoInfo, ServiceError> {
    let project = services.project_ensure(DEMO_PROJECT, "Demo project created by serve --demo")?;
    services
        .user_ensure(DEMO_USER, Some(DEMO_PASSWORD), &project, false)
        .await?;
    seed_compute(services)?;
    seed_network(services).await?;
    Ok(DemoInfo {
        user: DEMO_USER,
        password: DEMO_PASSWORD,
        project: DEMO_PROJECT,
        admin_user: ADMIN_USER,
        admin_password: ADMIN_PASSWORD,
    })
}

/// The demo public network's IPv6 subnet (documentation prefix): NICs get EUI-64 addresses.
pub const DEMO_PUBLIC_IPV6: &str = "2001:db8::/64";

/// The demo's public network, dual-stack: a floating-IP pool on 198.51.100.0/24 (TEST-NET-2,
/// bridged on `br0`) and [`DEMO_PUBLIC_IPV6`], and the bridge and MAC-prefix pools private networks draw from. Idempotent. The
/// network reaches the simulated cluster when `register_simulator` adds it as a backend.
async fn seed_network(services: &Services) -> Result<(), ServiceError> {
    use crate::service::networks::NewNetwork;
    use crate::service::subnets::NewSubnet;
    for (kind, base, size) in [("bridge", "prv", 20), ("mac-prefix", "aa:00:0", 4096)] {
        if services.pool_of_kind(kind)?.is_none() {
            services.pool_create(kind, base, size)?;
        }
    }
    let existing = services.network_list(crate::service::Deleted::Exclude)?;
    if existing
        .iter()
        .any(|n| n.public && n.name == DEMO_PUBLIC_NETWORK)
    {
        return Ok(());
    }
    let mut admin = services.act_as(ADMIN_USER, None)?;
    admin.is_admin = true;
    let n = services
        .network_create(
            &admin,
            &NewNetwork {
                name: DEMO_PUBLIC_NETWORK.into(),
                flavor: "CUSTOM".into(),
                public: true,
                floating_ip_pool: true,
                link: Some("br0".into()),
                ..Default::default()
            },
            true,
        )
        .await?;
    services.subnet_create(
        &admin,
        &NewSubnet {
            network_id: n.id.to_string(),
            cidr: "198.51.100.0/24".into(),
            name: "public-v4".into(),
            ip_version: 4,
            dhcp: true,
            ..Default::default()
        },
    )?;
    services.subnet_create(
        &admin,
        &NewSubnet {
            network_id: n.id.to_string(),
            cidr: DEMO_PUBLIC_IPV6.into(),
            name: "public-v6".into(),
            ip_version: 6,
            dhcp: true,
            ..Default::default()
        },
    )?;
    Ok(())
}

/// Flavors and the demo image (idempotent: existing flavors are reported, not duplicated).
fn seed_compute(services: &Services) -> Result<(), ServiceError> {
    for &(cpu, ram, disk) in DEMO_SIZES {
        services.flavor_create(&FlavorCreate {
            cpus: vec![cpu],
            rams: vec![ram],
            disks: vec![disk],
            volume_types: DEMO_TEMPLATES.iter().map(|t| t.to_string()).collect(),
            public: true,
            specs: BTreeMap::new(),
        })?;
    }
    let images = services.image_list(crate::service::Deleted::Exclude)?;
    if !images.iter().any(|i| i.name == DEMO_IMAGE) {
        let admin = services.user_show(ADMIN_USER)?;
        services.image_register(&NewImage {
            name: DEMO_IMAGE.into(),
            location: "pithos://admin/images/debian-12.diskdump".into(),
            owner: admin.id,
            public: true,
            disk_format: Some("diskdump".into()),
            container_format: Some("bare".into()),
            size: 2 * 1024 * 1024 * 1024,
            checksum: None,
            properties: BTreeMap::from([
                ("OSFAMILY".to_string(), "linux".to_string()),
                ("OS".to_string(), "debian".to_string()),
                ("ROOT_PARTITION".to_string(), "1".to_string()),
                ("USERS".to_string(), "root".to_string()),
            ]),
        })?;
    }
    Ok(())
}
