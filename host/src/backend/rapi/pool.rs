//! One RAPI client per backend, reused by every job step and request, so that calls to a
//! cluster share its HTTP connections (and TLS sessions) instead of building a client, and
//! handshaking, each time (checklist H87). Owns only the cache: callers say which backend a
//! client is for and give a fingerprint of its credentials; a different fingerprint (a new
//! password, port, `--insecure`, offline flag) builds a new client. Knows nothing of the store.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{BackendError, RapiClient};
use crate::metrics::Metrics;

/// The clients, by backend id, with the fingerprint of the settings each was built from.
#[derive(Default)]
pub struct RapiPool {
    clients: Mutex<HashMap<u64, (u64, RapiClient)>>,
    /// Given to every client it builds, which counts its calls there.
    metrics: Metrics,
}

impl RapiPool {
    pub fn new(metrics: Metrics) -> Self {
        RapiPool {
            clients: Mutex::default(),
            metrics,
        }
    }

    /// The client of `backend`, built by `build` if there is none for `fingerprint` yet.
    pub fn client(
        &self,
        backend: u64,
        fingerprint: u64,
        build: impl FnOnce() -> Result<RapiClient, BackendError>,
    ) -> Result<RapiClient, BackendError> {
        if let Ok(clients) = self.clients.lock()
            && let Some((seen, client)) = clients.get(&backend)
            && *seen == fingerprint
        {
            return Ok(client.clone());
        }
        let client = build()?.with_metrics(self.metrics.clone());
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(backend, (fingerprint, client.clone()));
        }
        Ok(client)
    }

    /// Drops the client of a removed backend.
    pub fn forget(&self, backend: u64) {
        if let Ok(mut clients) = self.clients.lock() {
            clients.remove(&backend);
        }
    }

    /// How many clients are cached (for tests).
    pub fn len(&self) -> usize {
        self.clients.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::rapi::RapiConfig;
    use std::time::Duration;

    fn build(url: &str) -> Result<RapiClient, BackendError> {
        RapiClient::new(RapiConfig {
            base_url: url.into(),
            username: "u".into(),
            password: "p".into(),
            insecure: false,
            timeout: Duration::from_secs(1),
            offline: false,
        })
    }

    #[test]
    fn a_client_is_reused_until_its_settings_change() {
        let pool = RapiPool::default();
        let mut builds = 0;
        for fingerprint in [1, 1, 1, 2, 2] {
            pool.client(7, fingerprint, || {
                builds += 1;
                build("http://127.0.0.1:1")
            })
            .expect("client");
        }
        assert_eq!((builds, pool.len()), (2, 1));
        pool.forget(7);
        assert!(pool.is_empty());
    }
}
