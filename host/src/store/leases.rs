//! Store methods for what replicas share about themselves: job leases (which replica runs each
//! unfinished job, fenced by attempt), named leases (the reconciler's leader) and the replica
//! registry behind `cyclades replica-list`.
//!
//! The lease mechanics live in `kv::lease`; this module names the trees and keys. A job's lease
//! row is created with the job (`Batch::insert_job_lease`), checked by every log write
//! (`Batch::fence_job`) and removed with the job's last event (`Batch::remove_job_lease`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::kv::{ClaimScope, Lease};
use super::{Store, StoreError, decode, encode};
use crate::clock::Timestamp;

#[cfg(test)]
mod tests;

/// One job's lease, as `job-inspect` and `replica-list` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobLease {
    pub job_id: u64,
    pub lease: Lease,
}

/// One replica as it last reported itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRecord {
    /// `[store] replica_id` (default: host name and listen port).
    pub id: String,
    /// Where it serves the API.
    pub address: String,
    /// The cyclades version it runs.
    pub version: String,
    /// A random value per process start: tells two processes claiming one id apart.
    pub incarnation: String,
    pub started: Timestamp,
    /// On the store's clock (milliseconds since the epoch).
    pub heartbeat: i64,
    /// A digest of the keys every replica must share (`[security]` and `[stats]`
    /// `secret_key`), never the keys: a replica with other keys is refused at registration.
    #[serde(default)]
    pub keys: String,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn job_id(key: &[u8]) -> u64 {
    key.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

impl Store {
    /// Now on the store's clock (the database's on PostgreSQL), in milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.db.now_ms()
    }

    /// Whether other processes may share this store (PostgreSQL), or it is this one's alone.
    pub fn shared(&self) -> bool {
        self.db.shared()
    }

    /// Takes up to `limit` job leases as `owner` for `ttl`: lapsed ones, and with `mine` also
    /// those a previous incarnation of `owner` held (on a store nobody shares, every lease).
    /// Returns (job id, attempt) of each taken.
    pub fn job_leases_claim(
        &self,
        owner: &str,
        ttl: Duration,
        limit: usize,
        mine: bool,
    ) -> Result<Vec<(u64, u64)>, StoreError> {
        let scope = match (mine, self.shared()) {
            (false, _) => ClaimScope::Lapsed,
            (true, true) => ClaimScope::LapsedAndMine,
            (true, false) => ClaimScope::All,
        };
        let taken =
            self.trees
                .job_leases
                .lease_claim(owner, ms(ttl), limit, scope, self.now_ms())?;
        Ok(taken
            .into_iter()
            .map(|(k, lease)| (job_id(&k), lease.attempt))
            .collect())
    }

    /// Extends every job lease `owner` holds by `ttl` from now. Returns how many.
    pub fn job_leases_renew(&self, owner: &str, ttl: Duration) -> Result<u64, StoreError> {
        self.trees
            .job_leases
            .lease_renew(owner, ms(ttl), self.now_ms())
    }

    /// Every job lease (one per unfinished job), by job id.
    pub fn job_leases(&self) -> Result<Vec<JobLease>, StoreError> {
        self.trees
            .job_leases
            .iter()?
            .into_iter()
            .map(|(k, v)| {
                Ok(JobLease {
                    job_id: job_id(&k),
                    lease: Lease::decode(&v)?,
                })
            })
            .collect()
    }

    /// Creates the lease of an unfinished job that has none (jobs written before leases
    /// existed, or copied without one), held by `owner`. Whether it was created.
    pub fn job_lease_adopt(&self, id: u64, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let lease = Lease {
            owner: owner.to_string(),
            attempt: 1,
            expires: self.now_ms() + ms(ttl),
        };
        Ok(self
            .trees
            .job_leases
            .compare_and_swap(&id.to_be_bytes(), None, Some(&lease.encode()))?
            .is_ok())
    }

    /// Takes (or renews) the named lease `name` for `owner`. Whether `owner` holds it now. On
    /// a store nobody shares, this process always may (a previous one left it, perhaps under
    /// another id).
    pub fn leader_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        if !self.shared() {
            let attempt = self.leader(name)?.map_or(0, |l| l.attempt) + 1;
            let lease = Lease {
                owner: owner.to_string(),
                attempt,
                expires: self.now_ms() + ms(ttl),
            };
            self.trees.leases.insert(name.as_bytes(), lease.encode())?;
            return Ok(true);
        }
        Ok(self
            .trees
            .leases
            .lease_acquire(name.as_bytes(), owner, ms(ttl), self.now_ms())?
            .is_some())
    }

    /// Gives the named lease up if `owner` holds it.
    pub fn leader_release(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.trees.leases.lease_release(name.as_bytes(), owner)
    }

    /// Who holds the named lease, if anyone ever took it.
    pub fn leader(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        self.trees
            .leases
            .get(name.as_bytes())?
            .map(|raw| Lease::decode(&raw))
            .transpose()
    }

    /// Writes this replica's registry entry (its heartbeat).
    pub fn replica_put(&self, replica: &ReplicaRecord) -> Result<(), StoreError> {
        self.trees
            .replicas
            .insert(replica.id.as_bytes(), encode(replica))
    }

    pub fn replica_get(&self, id: &str) -> Result<Option<ReplicaRecord>, StoreError> {
        self.trees
            .replicas
            .get(id.as_bytes())?
            .map(|raw| decode("replicas", &raw))
            .transpose()
    }

    /// Every replica that ever registered, by id.
    pub fn replica_list(&self) -> Result<Vec<ReplicaRecord>, StoreError> {
        self.trees
            .replicas
            .iter()?
            .into_iter()
            .map(|(_, raw)| decode("replicas", &raw))
            .collect()
    }
}
