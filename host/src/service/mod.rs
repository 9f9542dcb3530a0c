//! Business logic: validation, authorization and state changes, one file per resource.
//!
//! The API layer calls `Services`; services call the store (and, in later layers, the job
//! engine and plugins). Services never see HTTP types and never format wire documents: they
//! take and return the plain structs defined here.

pub mod backends;
mod credentials;
mod error;
pub mod identity;
pub mod plugins;
pub mod quota;

use std::sync::Arc;

/// Whether list calls include soft-deleted records (defined by the store, used by every layer).
pub use crate::store::Deleted;
pub use credentials::{Credentials, ROLE_ADMIN, ROLE_MEMBER};
pub use error::ServiceError;

use crate::config::Config;
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
}

impl Services {
    pub fn new(store: Store, config: Config, plugins: Arc<PluginHost>, sealer: Sealer) -> Self {
        Services {
            inner: Arc::new(Inner {
                store,
                config,
                plugins,
                sealer,
            }),
        }
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
