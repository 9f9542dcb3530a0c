//! Replicas sharing one store: registering this one, its heartbeat, the reconciler's leader
//! lease, and the operator's view (`cyclades replica-list`).
//!
//! Job leases themselves belong to the job engine; this module only reads them to say which
//! replica owns how many jobs. It never touches HTTP.

use std::time::Duration;

use super::{ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{Lease, ReplicaRecord};

/// The named lease whose holder runs the continuous reconciler.
pub const RECONCILER_LEASE: &str = "reconciler";

/// One replica as `replica-list` shows it.
pub struct ReplicaView {
    pub record: ReplicaRecord,
    /// Its heartbeat is younger than the lease time.
    pub alive: bool,
    /// Unfinished jobs whose lease it holds.
    pub jobs_owned: usize,
    /// It holds the reconciler's lease.
    pub reconciler: bool,
}

/// What `ReplicaRecord::keys` holds for these keys: a SHA-256 digest, so the registry can
/// tell replicas with different keys apart without holding anything that opens a secret.
pub fn replica_keys(secret_key: &str, stats_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in ["cyclades replica keys", secret_key, stats_key] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Services {
    /// This replica's id (the owner of its leases).
    pub fn replica_id(&self) -> &str {
        &self.jobs().env().settings.replica
    }

    fn lease_time(&self) -> Duration {
        self.jobs().env().settings.lease
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease_time().as_millis()).unwrap_or(i64::MAX)
    }

    /// Registers this process as replica `replica_id` serving at `address`. On a shared store,
    /// if a live process (a heartbeat younger than the lease time) already uses the id, waits
    /// for it to lapse (a previous incarnation just killed) and then refuses: two processes
    /// must never share an id.
    ///
    /// `keys` is `replica_keys` of this process's keys: a live replica with others is refused,
    /// since whatever one replica seals (RAPI passwords, VM secrets) or signs (stats URLs)
    /// every other must open.
    pub async fn replica_register(
        &self,
        address: &str,
        keys: String,
    ) -> Result<ReplicaRecord, ServiceError> {
        let store = self.store();
        let record = ReplicaRecord {
            id: self.replica_id().to_string(),
            address: address.to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            incarnation: crate::secrets::Sealer::generate_secret(),
            started: Timestamp::now(),
            heartbeat: store.now_ms(),
            keys,
        };
        if store.shared()
            && let Some(other) = store.replica_list()?.into_iter().find(|r| {
                r.id != record.id
                    && !r.keys.is_empty()
                    && r.keys != record.keys
                    && store.now_ms() - r.heartbeat < self.lease_ms()
            })
        {
            return Err(ServiceError::Conflict(format!(
                "Replica '{}' at {} uses another [security] secret_key or [stats] secret_key: \
                 every replica sharing a store needs the same keys (set them in the \
                 configuration rather than leaving each data directory its own)",
                other.id, other.address
            )));
        }
        if store.shared() {
            let deadline = tokio::time::Instant::now() + self.lease_time() + Duration::from_secs(1);
            loop {
                let live = store.replica_get(&record.id)?.filter(|r| {
                    r.incarnation != record.incarnation
                        && store.now_ms() - r.heartbeat < self.lease_ms()
                });
                let Some(other) = live else { break };
                if tokio::time::Instant::now() >= deadline {
                    return Err(ServiceError::Conflict(format!(
                        "Replica id '{}' is in use by a live process at {} (heartbeat {} ms ago); \
                         give each replica its own [store] replica_id",
                        record.id,
                        other.address,
                        store.now_ms() - other.heartbeat
                    )));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        store.replica_put(&record)?;
        Ok(record)
    }

    /// Renews this replica's registry entry; refuses if another process took the id over.
    pub fn replica_heartbeat(&self, record: &mut ReplicaRecord) -> Result<(), ServiceError> {
        let store = self.store();
        if let Some(current) = store.replica_get(&record.id)?
            && current.incarnation != record.incarnation
        {
            return Err(ServiceError::Conflict(format!(
                "Replica id '{}' was registered by another process at {}",
                record.id, current.address
            )));
        }
        record.heartbeat = store.now_ms();
        store.replica_put(record)?;
        Ok(())
    }

    /// Whether the store answers (for `/healthz`), its error on one line if not.
    pub fn store_ping(&self) -> Result<(), String> {
        self.store().ping().map_err(|e| crate::jobs::chain(&e))
    }

    /// "sled" or "postgres".
    pub fn store_engine(&self) -> &'static str {
        self.store().engine()
    }

    /// Takes or renews the reconciler's lease; whether this replica leads now.
    pub fn reconciler_lead(&self) -> Result<bool, ServiceError> {
        Ok(self
            .store()
            .leader_acquire(RECONCILER_LEASE, self.replica_id(), self.lease_time())?)
    }

    /// Who leads the reconciler (the lease, even if lapsed).
    pub fn reconciler_leader(&self) -> Result<Option<Lease>, ServiceError> {
        Ok(self.store().leader(RECONCILER_LEASE)?)
    }

    /// Every registered replica with its liveness, jobs owned and leadership, by id.
    pub fn replica_list(&self) -> Result<Vec<ReplicaView>, ServiceError> {
        let store = self.store();
        let now = store.now_ms();
        let leases = store.job_leases()?;
        let leader = self
            .reconciler_leader()?
            .filter(|l| l.expires >= now)
            .map(|l| l.owner);
        Ok(store
            .replica_list()?
            .into_iter()
            .map(|record| ReplicaView {
                alive: now - record.heartbeat < self.lease_ms(),
                jobs_owned: leases.iter().filter(|l| l.lease.owner == record.id).count(),
                reconciler: leader.as_deref() == Some(record.id.as_str()),
                record,
            })
            .collect())
    }
}
