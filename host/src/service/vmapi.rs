//! The short-lived secrets (spec §6, §10.3): the one-time VM configuration served at
//! `/vmapi/v1.0/server-params/<key>` and the admin password behind
//! `GET /servers/<id>/password`. Any replica must serve them (snf-image and the user reach
//! whichever the load balancer picks), so they live in the store, but never in clear: each is
//! sealed under the deployment secret (`[security] secret_key`, held in memory by every
//! replica), stored under a digest of its name (the database never holds the URL's key), bound
//! to that name inside the seal, and kept until its first read (configurations) or its expiry.
//! Nothing here reaches logs or Ganeti. `ARCHITECTURE.md` ("Secrets across replicas") has the
//! threat model.
//!
//! Also the build progress snf-image reports through `cyclades progress-monitor` to
//! `/vmapi/v1.0/server-progress/<key>` (spec §11.4 `update_build_progress`). The key is the
//! server's id sealed under the deployment secret: unguessable, checked without any stored
//! state (so any replica, before or after a restart, accepts it), and shared with the
//! configuration URL Ganeti already passes to snf-image.

use std::time::Duration;

use serde_json::{Value, json};

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

/// What a sealed secret holds: its name (checked on open, so a value moved to another
/// record in the database does not open there) and the value.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    name: String,
    value: Value,
}

/// The store key of secret `name`: a SHA-256 digest, so the database never holds a vmapi key.
fn secret_key(name: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config_name(key: &str) -> String {
    format!("vmapi-config:{key}")
}

fn password_name(server_id: u64) -> String {
    format!("admin-password:{server_id}")
}

impl Services {
    fn secret_put(&self, name: &str, value: Value, ttl: Duration) -> Result<(), ServiceError> {
        let plain = serde_json::to_string(&Sealed {
            name: name.to_string(),
            value,
        })
        .map_err(|e| ServiceError::internal(&e))?;
        let secret = crate::store::SealedSecret {
            sealed: self.sealer().seal(&plain),
            expires: Timestamp::now().plus_secs(ttl.as_secs()),
        };
        Ok(self.store().sealed_secret_put(&secret_key(name), &secret)?)
    }

    fn secret_open(&self, name: &str, secret: &crate::store::SealedSecret) -> Option<Value> {
        let plain = self.sealer().open(&secret.sealed).ok()?;
        let sealed: Sealed = serde_json::from_str(&plain).ok()?;
        (sealed.name == name).then_some(sealed.value)
    }

    /// Stores a VM configuration under its (random, unguessable) key, for `CONFIG_TTL`.
    pub(super) fn vm_config_put(&self, key: &str, config: Value) -> Result<(), ServiceError> {
        self.secret_put(&config_name(key), config, CONFIG_TTL)
    }

    pub(super) fn vm_config_forget(&self, key: &str) -> Result<(), ServiceError> {
        Ok(self
            .store()
            .sealed_secret_remove(&secret_key(&config_name(key)))?)
    }

    /// Keeps a created server's admin password for `PASSWORD_TTL`.
    pub(super) fn admin_password_put(
        &self,
        server_id: u64,
        password: &str,
    ) -> Result<(), ServiceError> {
        self.secret_put(&password_name(server_id), json!(password), PASSWORD_TTL)
    }

    pub(super) fn admin_password(&self, server_id: u64) -> Result<Option<String>, ServiceError> {
        let name = password_name(server_id);
        let Some(secret) = self.store().sealed_secret_get(&secret_key(&name))? else {
            return Ok(None);
        };
        Ok(self
            .secret_open(&name, &secret)
            .and_then(|v| v.as_str().map(str::to_string)))
    }

    pub(super) fn admin_password_forget(&self, server_id: u64) -> Result<(), ServiceError> {
        Ok(self
            .store()
            .sealed_secret_remove(&secret_key(&password_name(server_id)))?)
    }

    /// Removes expired configurations and passwords (housekeeping); how many.
    pub fn secrets_purge_expired(&self) -> Result<usize, ServiceError> {
        Ok(self.store().sealed_secrets_purge()?)
    }
}

impl Services {
    /// `GET /vmapi/v1.0/server-params/<uuid>`: the configuration, once (404 afterwards),
    /// from whichever replica is asked.
    pub fn vmapi_server_params(&self, key: &str) -> Result<Value, ServiceError> {
        let name = config_name(key);
        self.store()
            .sealed_secret_take(&secret_key(&name))?
            .and_then(|secret| self.secret_open(&name, &secret))
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

#[cfg(test)]
mod tests {
    //! Two `Services` over one store stand for two replicas sharing PostgreSQL (on sled, the
    //! threads of one process): a configuration put by one is served once, by either; a
    //! password set by one is read by the other; neither is in the store in clear.

    use std::sync::Arc;

    use serde_json::json;

    use crate::config::Config;
    use crate::plugins::{PluginHost, PluginHostOptions};
    use crate::secrets::Sealer;
    use crate::service::Services;
    use crate::store::testing;

    fn replica(store: &crate::store::Store) -> Services {
        let plugins = PluginHost::new(PluginHostOptions::default()).expect("plugin host");
        Services::new(
            store.clone(),
            Config::default(),
            Arc::new(plugins),
            Sealer::new("shared-deployment-secret"),
        )
    }

    #[test]
    fn any_replica_serves_a_vm_secret_once_and_none_holds_it_in_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = testing::open(dir.path()).expect("store");
        let (a, b) = (replica(&store), replica(&store));
        let key = a.vmapi_key(41);
        a.vm_config_put(&key, json!({"img_passwd": "pw-Config-7781"}))
            .expect("put");
        a.admin_password_put(41, "pw-Admin-5513").expect("put");
        assert_eq!(
            b.admin_password(41).expect("read").as_deref(),
            Some("pw-Admin-5513")
        );
        store.flush_blocking().expect("flush");
        assert!(testing::stored_in_clear(dir.path(), b"pw-Config-7781").is_empty());
        assert!(testing::stored_in_clear(dir.path(), b"pw-Admin-5513").is_empty());
        assert!(testing::stored_in_clear(dir.path(), key.as_bytes()).is_empty());
        let served = b
            .vmapi_server_params(&key)
            .expect("served by the other replica");
        assert_eq!(served["img_passwd"], "pw-Config-7781");
        assert!(a.vmapi_server_params(&key).is_err(), "served once");
        assert!(b.vmapi_server_params(&key).is_err(), "served once");
        b.admin_password_forget(41).expect("forget");
        assert_eq!(a.admin_password(41).expect("read"), None);
        // Sealed under another deployment's secret, nothing opens.
        a.admin_password_put(42, "pw-Other").expect("put");
        let other = Services::new(
            store.clone(),
            Config::default(),
            Arc::new(PluginHost::new(PluginHostOptions::default()).expect("plugin host")),
            Sealer::new("another-secret"),
        );
        assert_eq!(other.admin_password(42).expect("read"), None);
    }
}
