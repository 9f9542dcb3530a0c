//! `JobEnv`: what job steps may use (store, plugin host, RAPI clients, settings).

use std::sync::Arc;
use std::time::Duration;

use super::StepError;
use crate::backend::rapi::{BackendError, RapiClient, RapiConfig};
use crate::config::Config;
use crate::plugins::PluginHost;
use crate::secrets::Sealer;
use crate::store::{Backend, Store};

/// Timing knobs of the engine.
#[derive(Clone, Debug)]
pub struct JobSettings {
    /// How long a step waits for one Ganeti job.
    pub ganeti_job_timeout: Duration,
    /// Attempts for a step that fails transiently (RAPI 5xx, connection refused).
    pub retry_attempts: u32,
    /// First retry delay (doubles, capped at 5 s).
    pub retry_base: Duration,
    /// Timeout of each RAPI call.
    pub rapi_timeout: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            ganeti_job_timeout: Duration::from_secs(600),
            retry_attempts: 5,
            retry_base: Duration::from_millis(200),
            rapi_timeout: Duration::from_secs(30),
        }
    }
}

/// The environment shared by every job. Cheap to clone.
#[derive(Clone)]
pub struct JobEnv {
    pub store: Store,
    pub plugins: Arc<PluginHost>,
    pub sealer: Sealer,
    pub config: Arc<Config>,
    pub settings: JobSettings,
}

/// A RAPI client for a registered backend (its password unsealed in memory only).
pub fn rapi_client(
    b: &Backend,
    sealer: &Sealer,
    timeout: Duration,
) -> Result<RapiClient, BackendError> {
    let password = sealer
        .open(&b.password_sealed)
        .map_err(|_| BackendError::Decode {
            cluster: b.clustername.clone(),
            what: "stored RAPI password".into(),
            reason: "it cannot be unsealed with this server's secret key".into(),
        })?;
    RapiClient::new(RapiConfig {
        base_url: format!("{}://{}:{}", b.scheme, b.clustername, b.port),
        username: b.username.clone(),
        password,
        insecure: b.insecure,
        timeout,
        offline: b.offline,
    })
}

impl JobEnv {
    /// The RAPI client of backend `id` (re-read, so credential changes apply).
    pub fn rapi(&self, backend_id: u64) -> Result<RapiClient, StepError> {
        let b = self.store.backend_get(backend_id)?;
        Ok(rapi_client(&b, &self.sealer, self.settings.rapi_timeout)?)
    }
}
