//! `GET /compute/v2.0/servers/<id>/stats`: where a server's CPU and network graphs are, as
//! Synnefo answers it. The graphs themselves come from a separate stats host (snf-stats-app
//! reading collectd); the URLs name the instance by its Ganeti name encrypted with a key shared
//! with that host, so a URL neither reveals nor lets anyone guess another server's graphs.
//!
//! Encryption is Synnefo's `stats_encrypt`: AES-256 in ECB mode under SHA-256 of the key, the
//! name zero-padded with 1 to 16 bytes to a multiple of 16, URL-safe base64, then percent-quoted.
//! Owns that function and the handler; the settings come from `[stats]`.

use aes::Aes256;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::extract::Caller;
use super::fault::ApiError;

/// The stats settings resolved at start.
#[derive(Clone)]
pub struct StatsUrls {
    cipher: Aes256,
    refresh_secs: u64,
    /// cpu bar, cpu time series, net bar, net time series; each with one `%s`.
    templates: [String; 4],
}

impl StatsUrls {
    /// From `[stats]`, the shared secret and the public base URL (for the default templates).
    pub fn new(config: &crate::config::StatsConfig, secret: &str, public_url: &str) -> Self {
        let key = Sha256::digest(secret.as_bytes());
        let default = |kind: &str| format!("{public_url}/stats/v1.0/{kind}/%s");
        let pick = |configured: &Option<String>, kind: &str| {
            configured.clone().unwrap_or_else(|| default(kind))
        };
        StatsUrls {
            cipher: Aes256::new(GenericArray::from_slice(&key)),
            refresh_secs: config.refresh_secs,
            templates: [
                pick(&config.cpu_bar_url, "cpu-bar"),
                pick(&config.cpu_timeseries_url, "cpu-ts"),
                pick(&config.net_bar_url, "net-bar"),
                pick(&config.net_timeseries_url, "net-ts"),
            ],
        }
    }

    /// The instance name as it appears in the URLs.
    pub fn encrypt(&self, instance_name: &str) -> String {
        let mut bytes = instance_name.as_bytes().to_vec();
        let pad = 16 - bytes.len() % 16;
        bytes.resize(bytes.len() + pad, 0);
        for block in bytes.chunks_exact_mut(16) {
            self.cipher
                .encrypt_block(GenericArray::from_mut_slice(block));
        }
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(&bytes);
        // Python's `quote`: only `=` of the URL-safe alphabet needs escaping.
        encoded.replace('=', "%3D")
    }

    fn document(&self, server_id: u64, instance_name: &str) -> Value {
        let secret = self.encrypt(instance_name);
        let url = |i: usize| self.templates[i].replacen("%s", &secret, 1);
        json!({"stats": {
            "serverRef": server_id,
            "refresh": self.refresh_secs,
            "cpuBar": url(0),
            "cpuTimeSeries": url(1),
            "netBar": url(2),
            "netTimeSeries": url(3),
        }})
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/compute/v2.0/servers/{id}/stats", get(stats))
}

async fn stats(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let server = state.services.server_for(&caller, &id)?;
    Ok(Json(
        state.stats.document(server.id, &server.instance_name()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers from an independent implementation (OpenSSL), for key "secret":
    /// `printf 'snf-42\0...' | openssl enc -aes-256-ecb -nopad -K $(printf secret | sha256sum |
    /// cut -c1-64) | base64 | tr '+/' '-_'`, with `=` quoted as Python's `quote` does.
    #[test]
    fn encryption_matches_an_independent_aes_ecb() {
        let urls = StatsUrls::new(
            &crate::config::StatsConfig::default(),
            "secret",
            "https://cloud.example.org",
        );
        assert_eq!(urls.encrypt("snf-42"), "GCeSDNy9l8A05cC3q-Zpmw%3D%3D");
        // Exactly 16 bytes get a whole block of zero padding, as Synnefo's zeropad does.
        assert_eq!(
            urls.encrypt("snf-123456789012"),
            "rdBNJFyloR6FpAHGIZP0YmN8iGDM2ybkPkEINOtEU3c%3D"
        );
        let doc = urls.document(42, "snf-42");
        assert_eq!(
            doc["stats"]["cpuBar"],
            "https://cloud.example.org/stats/v1.0/cpu-bar/GCeSDNy9l8A05cC3q-Zpmw%3D%3D"
        );
        assert_eq!(
            doc["stats"]["netTimeSeries"],
            "https://cloud.example.org/stats/v1.0/net-ts/GCeSDNy9l8A05cC3q-Zpmw%3D%3D"
        );
        assert_eq!(doc["stats"]["refresh"], 60);
        assert_eq!(doc["stats"]["serverRef"], 42);
    }
}
