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
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            ca_file: None,
            pool_size: 16,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("ca_file", &self.ca_file)
            .field("pool_size", &self.pool_size)
            .finish()
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
