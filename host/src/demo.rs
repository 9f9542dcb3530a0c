//! `serve --demo`: the embedded default. Seeds (idempotently) the demo project and user and
//! gives the bootstrap admin a password, so a newcomer can log in with the `openstack` CLI at
//! once, and registers the in-process simulated Ganeti cluster as an open backend. Later
//! layers add flavors, an image and networks here.
//!
//! Uses services only; it must not touch the store directly.

use crate::service::backends::{BackendChanges, NewBackend};
use crate::service::{ServiceError, Services};

pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo";
pub const DEMO_PROJECT: &str = "demo";
pub const ADMIN_USER: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin";

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
pub async fn register_simulator(services: &Services, port: u16) -> Result<(), ServiceError> {
    let existing = services.backend_list(crate::service::Deleted::Exclude)?;
    match existing
        .iter()
        .find(|b| b.backend.clustername == "127.0.0.1")
    {
        Some(b) => {
            let id = b.backend.id.to_string();
            services.backend_modify(
                &id,
                &BackendChanges {
                    port: Some(port),
                    drained: Some(false),
                    ..Default::default()
                },
            )?;
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
                hypervisor: "fake".into(),
                public: true,
                http: true,
            };
            let added = services.backend_add(&new).await?;
            services.backend_modify(
                &added.backend.id.to_string(),
                &BackendChanges {
                    drained: Some(false),
                    ..Default::default()
                },
            )?;
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
    Ok(DemoInfo {
        user: DEMO_USER,
        password: DEMO_PASSWORD,
        project: DEMO_PROJECT,
        admin_user: ADMIN_USER,
        admin_password: ADMIN_PASSWORD,
    })
}
