//! The in-memory secret caches (spec §6, §10.3): the one-time VM configuration served at
//! `/vmapi/v1.0/server-params/<uuid>` and the admin password cache behind
//! `GET /servers/<id>/password`. Nothing here is ever written to sled, logs or Ganeti: a restart
//! forgets it, as Synnefo's memcached did.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ServiceError, Services};

/// How long an unread VM configuration stays available.
pub const CONFIG_TTL: Duration = Duration::from_secs(3600);
/// How long a created server's admin password stays retrievable.
pub const PASSWORD_TTL: Duration = Duration::from_secs(24 * 3600);

/// The two caches.
#[derive(Default)]
pub struct SecretCache {
    configs: Mutex<HashMap<String, (Value, Instant)>>,
    passwords: Mutex<HashMap<u64, (String, Instant)>>,
}

impl SecretCache {
    fn sweep<K: Clone + Eq + std::hash::Hash, V>(map: &mut HashMap<K, (V, Instant)>) {
        let now = Instant::now();
        map.retain(|_, (_, expires)| *expires > now);
    }

    /// Stores a VM configuration under its (random, unguessable) key.
    pub fn put_config(&self, key: &str, config: Value) {
        if let Ok(mut map) = self.configs.lock() {
            Self::sweep(&mut map);
            map.insert(key.to_string(), (config, Instant::now() + CONFIG_TTL));
        }
    }

    /// Takes a VM configuration: it is served once, then gone.
    pub fn take_config(&self, key: &str) -> Option<Value> {
        let mut map = self.configs.lock().ok()?;
        Self::sweep(&mut map);
        map.remove(key).map(|(v, _)| v)
    }

    pub fn forget_config(&self, key: &str) {
        if let Ok(mut map) = self.configs.lock() {
            map.remove(key);
        }
    }

    pub fn put_password(&self, server_id: u64, password: &str) {
        if let Ok(mut map) = self.passwords.lock() {
            Self::sweep(&mut map);
            map.insert(
                server_id,
                (password.to_string(), Instant::now() + PASSWORD_TTL),
            );
        }
    }

    pub fn password(&self, server_id: u64) -> Option<String> {
        let mut map = self.passwords.lock().ok()?;
        Self::sweep(&mut map);
        map.get(&server_id).map(|(p, _)| p.clone())
    }

    pub fn forget_password(&self, server_id: u64) {
        if let Ok(mut map) = self.passwords.lock() {
            map.remove(&server_id);
        }
    }
}

impl Services {
    /// `GET /vmapi/v1.0/server-params/<uuid>`: the configuration, once (404 afterwards).
    pub fn vmapi_server_params(&self, key: &str) -> Result<Value, ServiceError> {
        self.secrets()
            .take_config(key)
            .ok_or_else(|| ServiceError::ItemNotFound("Not found".into()))
    }
}
