//! Business logic: validation, authorization and state changes, one file per resource.
//!
//! The API layer calls `Services`; services call the store, the job engine (`jobs`: every
//! change that reaches Ganeti is submitted as a job), the plugin host and the backends' RAPI
//! client. Services never see HTTP types and never format wire documents: they take and return
//! the plain structs defined here (and the store's records as read-only views).

pub mod backends;
mod credentials;
pub mod enforce_resources;
mod error;
pub mod flavors;
pub mod floating_ips;
pub mod helper_servers;
pub mod identity;
pub mod images;
pub mod jobs;
pub mod keypairs;
pub mod network_pools;
pub mod networks;
pub mod plugin_sync;
pub mod plugins;
pub mod ports;
pub mod quota;
pub mod reconcile;
pub mod reconcile_pools;
pub mod reconcile_resources;
pub mod replicas;
pub mod server_admin;
pub mod server_batch;
pub mod server_console;
mod server_input;
pub mod server_ports;
pub mod server_reassign;
pub mod server_records;
pub mod server_rescue;
pub mod server_tags;
mod server_task;
pub mod servers;
pub mod subnets;
pub mod vmapi;
pub mod volume_attachments;
pub mod volumes;

use std::sync::Arc;

/// Whether list calls include soft-deleted records (defined by the store, used by every layer).
pub use crate::store::Deleted;
/// Records the services hand out to the API as read-only views (the API never opens the store).
pub use crate::store::{
    Diagnostic, Flavor, FloatingIp, Image, JobEvent, JobRecord, JobState, KeyPair, Network, Port,
    RescueImage, ResourcePool, Server, Subnet, Volume, VolumeType,
};
pub use credentials::{Credentials, ROLE_ADMIN, ROLE_MEMBER};
pub use error::{ServiceError, chain as error_chain};

use crate::config::Config;
use crate::jobs::{JobEngine, JobEnv, JobSettings};
use crate::plugins::PluginHost;
use crate::secrets::Sealer;
use crate::store::Store;

/// Handle to every service, shared by all requests. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Config,
    plugins: Arc<PluginHost>,
    sealer: Sealer,
    jobs: JobEngine,
    reconcile: reconcile::ReconcileBook,
    /// Console forwardings waiting for their client (bounded by `[console] max_waiting`).
    console_waiting: crate::console::WaitingCount,
    console_waiting_by_user:
        std::sync::Mutex<std::collections::HashMap<String, crate::console::WaitingCount>>,
    /// The generation of the shared plugin state this host follows (`plugin_sync`).
    plugin_generation: std::sync::atomic::AtomicU64,
}

impl Services {
    pub fn new(store: Store, config: Config, plugins: Arc<PluginHost>, sealer: Sealer) -> Self {
        let settings = JobSettings {
            replica: config.store.replica_id(config.server.listen),
            lease: config.store.lease(),
            ..JobSettings::default()
        };
        Self::with_job_settings(store, config, plugins, sealer, settings)
    }

    /// Like `new`, with explicit job engine timings (tests use short retries).
    pub fn with_job_settings(
        store: Store,
        config: Config,
        plugins: Arc<PluginHost>,
        sealer: Sealer,
        settings: JobSettings,
    ) -> Self {
        // One registry per server: the plugin host records its calls into the same one.
        let metrics = plugins.metrics().clone();
        let jobs = JobEngine::new(JobEnv {
            store: store.clone(),
            plugins: plugins.clone(),
            sealer: sealer.clone(),
            config: Arc::new(config.clone()),
            settings,
            rapi_pool: Arc::new(crate::backend::rapi::RapiPool::new(metrics.clone())),
            metrics,
        });
        Services {
            inner: Arc::new(Inner {
                store,
                config,
                plugins,
                sealer,
                jobs,
                reconcile: reconcile::ReconcileBook::default(),
                console_waiting: Default::default(),
                console_waiting_by_user: Default::default(),
                plugin_generation: Default::default(),
            }),
        }
    }

    /// The job engine (tests and the server's recovery at start).
    pub fn jobs(&self) -> &JobEngine {
        &self.inner.jobs
    }

    /// This server's metrics (the API records requests into them).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.jobs.env().metrics
    }

    /// The Prometheus text exposition, the store's size read now.
    pub fn metrics_exposition(&self) -> String {
        self.metrics().render(self.store().size_on_disk())
    }

    fn console_waiting(&self) -> &crate::console::WaitingCount {
        &self.inner.console_waiting
    }

    fn console_waiting_by_user(
        &self,
    ) -> &std::sync::Mutex<std::collections::HashMap<String, crate::console::WaitingCount>> {
        &self.inner.console_waiting_by_user
    }

    fn reconcile_book(&self) -> &reconcile::ReconcileBook {
        &self.inner.reconcile
    }

    fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    fn plugins(&self) -> &Arc<PluginHost> {
        &self.inner.plugins
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Makes every write so far durable (shutdown path).
    pub async fn flush(&self) -> Result<(), ServiceError> {
        Ok(self.store().flush().await?)
    }
}
