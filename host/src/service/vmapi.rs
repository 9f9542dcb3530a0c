//! The in-memory secret caches (spec §6, §10.3): the one-time VM configuration served at
//! `/vmapi/v1.0/server-params/<key>` and the admin password cache behind
//! `GET /servers/<id>/password`. Nothing here is ever written to sled, logs or Ganeti: a restart
//! forgets it, as Synnefo's memcached did.
//!
//! Also the build progress snf-image reports through `cyclades progress-monitor` to
//! `/vmapi/v1.0/server-progress/<key>` (spec §11.4 `update_build_progress`). The key is the
//! server's id sealed under the deployment secret: unguessable, checked without any stored
//! state (so any replica, before or after a restart, accepts it), and shared with the
//! configuration URL Ganeti already passes to snf-image.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ServiceError, Services};
use crate::clock::Timestamp;
use crate::progress_monitor::{MESSAGE_TYPES, ProgressMessage};
use crate::store::Diagnostic;

/// What a vmapi key seals, before the server id.
const KEY_PURPOSE: &str = "vmapi-server:";

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

    /// A new vmapi key for a server (hex, URL-safe; a fresh one each time).
    pub(super) fn vmapi_key(&self, server_id: u64) -> String {
        let sealed = self.sealer().seal(&format!("{KEY_PURPOSE}{server_id}"));
        sealed.trim_start_matches("v1:").to_string()
    }

    /// The server a vmapi key was made for, if it is one of ours.
    fn vmapi_key_server(&self, key: &str) -> Option<u64> {
        let plain = self.sealer().open(&format!("v1:{key}")).ok()?;
        plain.strip_prefix(KEY_PURPOSE)?.parse().ok()
    }

    /// `POST /vmapi/v1.0/server-progress/<key>`: one snf-image message. Copy progress sets
    /// the build percentage (capped at 100); every other message becomes a diagnostic
    /// (levels as Synnefo's dispatcher). 404 for a key that is not a live server's.
    pub fn vmapi_server_progress(
        &self,
        key: &str,
        message: &ProgressMessage,
    ) -> Result<(), ServiceError> {
        let not_found = || ServiceError::ItemNotFound("Not found".into());
        let id = self.vmapi_key_server(key).ok_or_else(not_found)?;
        let server = self.store().server_get(id).map_err(|_| not_found())?;
        if server.deleted {
            return Err(not_found());
        }
        if let Some(instance) = &message.instance
            && *instance != server.instance_name()
        {
            return Err(ServiceError::BadRequest(format!(
                "The message names instance '{instance}', but this key is {}'s",
                server.instance_name()
            )));
        }
        let change = progress_change(message)?;
        self.store().server_update(id, |s| {
            match &change {
                ProgressChange::Percentage(p) => s.build_percentage = *p,
                ProgressChange::Diagnostic(d) => s.add_diagnostic(d.clone()),
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// What one snf-image message changes on its server.
enum ProgressChange {
    Percentage(u8),
    Diagnostic(Diagnostic),
}

/// Synnefo's `update_build_progress`: `image-copy-progress` → the percentage (negative is an
/// error, above 100 is capped); `image-error` → ERROR, `image-warning` → WARNING,
/// `image-helper` → its subtype's level (task starts and ends are DEBUG), others DEBUG.
fn progress_change(m: &ProgressMessage) -> Result<ProgressChange, ServiceError> {
    if !MESSAGE_TYPES.contains(&m.kind.as_str()) {
        return Err(ServiceError::BadRequest(format!(
            "Unknown message type '{}': use one of {}",
            m.kind,
            MESSAGE_TYPES.join(", ")
        )));
    }
    if m.kind == "image-copy-progress" {
        return match m.progress {
            Some(p) if p >= 0.0 => Ok(ProgressChange::Percentage(p.min(100.0) as u8)),
            Some(p) => Err(ServiceError::BadRequest(format!(
                "'progress' must be 0 or more, not {p}"
            ))),
            None => Err(ServiceError::BadRequest(
                "An image-copy-progress message needs 'progress'".into(),
            )),
        };
    }
    let (source, level) = match (m.kind.as_str(), m.subtype.as_deref()) {
        ("image-helper", Some(sub @ ("error" | "warning" | "info"))) => {
            (format!("image-helper-{sub}"), sub.to_ascii_uppercase())
        }
        ("image-helper", Some(sub)) => (format!("image-helper-{sub}"), "DEBUG".to_string()),
        ("image-error", _) => (m.kind.clone(), "ERROR".into()),
        ("image-warning", _) => (m.kind.clone(), "WARNING".into()),
        _ => (m.kind.clone(), "DEBUG".into()),
    };
    let message = m
        .messages
        .as_ref()
        .map(|t| t.text())
        .filter(|t| !t.is_empty())
        .or_else(|| m.task.clone())
        .unwrap_or_else(|| capitalised(&source));
    Ok(ProgressChange::Diagnostic(Diagnostic {
        created: Timestamp::now(),
        level,
        source,
        message,
        details: m.stderr.clone().unwrap_or_default(),
        source_date: m
            .event_time
            .map(|(secs, micros)| secs.saturating_mul(1000).saturating_add(micros / 1000))
            .map(|ms| Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))),
    }))
}

/// `image-helper-task-start` → `Image-helper-task-start` (Python's `str.capitalize`).
fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
