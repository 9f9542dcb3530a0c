//! `serve --demo`: the embedded default. Seeds (idempotently) the demo project and user and
//! gives the bootstrap admin a password, so a newcomer can log in with the `openstack` CLI at
//! once. Later layers add the simulated Ganeti cluster, flavors, an image and networks here.
//!
//! Uses services only; it must not touch the store directly.

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
