//! `[store]` of the configuration, and how a database URL is shown without its password.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[store]`: where the state lives. Without `url`, sled in `server.data_dir`; with a
/// `postgres://` URL, that PostgreSQL database (the shared store of several replicas).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `postgres://user:password@host:port/database?sslmode=require` (`--store-url`,
    /// `CYCLADES_STORE_URL`). Its password is never printed nor logged.
    pub url: Option<String>,
    /// PEM file of CA certificates to trust for TLS to the database (beside the web PKI roots).
    pub ca_file: Option<PathBuf>,
    /// Connections each process keeps to the database.
    pub pool_size: usize,
    /// This replica's name among those sharing the store: owner of its job leases, shown by
    /// `replica-list`. Default: the host name, and the listen port when one is set. Two
    /// processes must never share one; a restarted replica keeping its id resumes its own
    /// unfinished jobs at once instead of after their leases lapse.
    pub replica_id: Option<String>,
    /// How long a job's or the reconciler's lease lasts unrenewed (renewed every third of
    /// it): the longest a dead replica's jobs wait before another replica resumes them.
    pub lease_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            ca_file: None,
            pool_size: 16,
            replica_id: None,
            lease_secs: 10,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("ca_file", &self.ca_file)
            .field("pool_size", &self.pool_size)
            .field("replica_id", &self.replica_id)
            .field("lease_secs", &self.lease_secs)
            .finish()
    }
}

impl StoreConfig {
    /// `replica_id`, else the host name (and `listen`'s port when it is not 0).
    pub fn replica_id(&self, listen: std::net::SocketAddr) -> String {
        if let Some(id) = &self.replica_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        match listen.port() {
            0 => host,
            port => format!("{host}:{port}"),
        }
    }

    pub fn lease(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_secs.max(1))
    }
}

/// The URL with its password replaced by `***` (for logs, errors and `config show`).
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    // key=value strings and `?password=` parameters.
    let lower = out.to_ascii_lowercase();
    if let Some(i) = lower.find("password=") {
        let start = i + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |j| start + j);
        out.replace_range(start..end, "***");
    }
    out
}
