//! `JobEnv`: what job steps may use (store, plugin host, RAPI clients, settings).

use std::sync::Arc;
use std::time::Duration;

use super::StepError;
use crate::backend::rapi::{BackendError, RapiClient, RapiConfig, RapiPool};
use crate::config::Config;
use crate::metrics::Metrics;
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
    /// Who owns the jobs this engine runs (`[store] replica_id`).
    pub replica: String,
    /// How long a job's lease lasts unrenewed; the heartbeat renews every third of it, and
    /// another replica takes the job over once it lapses.
    pub lease: Duration,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            ganeti_job_timeout: Duration::from_secs(600),
            retry_attempts: 5,
            retry_base: Duration::from_millis(200),
            rapi_timeout: Duration::from_secs(30),
            replica: "local".into(),
            lease: Duration::from_secs(10),
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
    /// One RAPI client per backend, shared by every step (and the services).
    pub rapi_pool: Arc<RapiPool>,
    /// Where jobs, steps, RAPI calls and reconciliation are counted.
    pub metrics: Metrics,
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

/// What a backend's client is built from: a change of any of it builds a new client. The
/// sealed password stands for the password (a new password is sealed anew).
fn client_fingerprint(b: &Backend, timeout: Duration) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &b.scheme,
        &b.clustername,
        b.port,
        &b.username,
        &b.password_sealed,
        b.insecure,
        b.offline,
        timeout,
    )
        .hash(&mut h);
    h.finish()
}

impl JobEnv {
    /// The RAPI client of backend `id`: the pooled one, rebuilt when the backend's record says
    /// its credentials or address changed (re-read on every call, so changes apply at once).
    pub fn rapi(&self, backend_id: u64) -> Result<RapiClient, StepError> {
        let b = self.store.backend_get(backend_id)?;
        Ok(self.rapi_for(&b)?)
    }

    /// `rapi` for a backend record already read.
    pub fn rapi_for(&self, b: &Backend) -> Result<RapiClient, BackendError> {
        let timeout = self.settings.rapi_timeout;
        self.rapi_pool
            .client(b.id, client_fingerprint(b, timeout), || {
                rapi_client(b, &self.sealer, timeout)
            })
    }
}
