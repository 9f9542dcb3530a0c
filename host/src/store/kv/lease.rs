//! Leases: a key owned by one replica until an expiry, taken over once it lapses.
//!
//! Owns the lease record and its four engine-specific operations: claiming lapsed leases (on
//! PostgreSQL one `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`, so replicas claiming at
//! once never wait on each other nor take the same lease), renewing every lease a replica holds
//! (one statement), acquiring or renewing one named lease, and releasing it. Expiry is judged by
//! the database's clock on PostgreSQL (replicas' clocks may disagree) and by the local clock on
//! sled (one process). Every claim bumps the lease's `attempt`: writes fenced by (owner, attempt)
//! are refused to whoever held it before, even a previous incarnation of the same replica.
//!
//! It knows nothing about what a lease guards (jobs, the reconciler): the store above does.

use serde::{Deserialize, Serialize};

use super::{Tree, TreeEngine};
use crate::store::StoreError;

/// One lease, as stored (JSON; `owner` and `expires` are indexed columns on PostgreSQL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The replica holding it.
    pub owner: String,
    /// Bumped by every claim: a holder's writes are fenced by (owner, attempt).
    pub attempt: u64,
    /// Milliseconds since the epoch, on the engine's clock.
    pub expires: i64,
}

impl Lease {
    pub(in crate::store) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(in crate::store) fn decode(raw: &[u8]) -> Result<Lease, StoreError> {
        serde_json::from_slice(raw).map_err(|source| StoreError::Corrupt {
            tree: "leases",
            source,
        })
    }
}

/// The engine's "now" in SQL: milliseconds since the epoch on the database's clock.
const PG_NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Which leases a claim may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimScope {
    /// Only lapsed ones.
    Lapsed,
    /// Lapsed ones and those `owner` holds (a previous incarnation of this replica).
    LapsedAndMine,
    /// Every lease (the store is this process's alone, so nobody else can hold one).
    All,
}

impl Tree {
    /// Takes up to `limit` leases `scope` allows, as `owner`, each for `ttl_ms` with its
    /// attempt bumped. Returns the keys and the leases now held.
    pub(in crate::store) fn lease_claim(
        &self,
        owner: &str,
        ttl_ms: i64,
        limit: usize,
        scope: ClaimScope,
        now_ms: i64,
    ) -> Result<Vec<(Vec<u8>, Lease)>, StoreError> {
        match &self.engine {
            TreeEngine::Pg(db) => {
                let mine = match scope {
                    ClaimScope::Lapsed => "false",
                    ClaimScope::LapsedAndMine => "owner = $1",
                    ClaimScope::All => "true",
                };
                let t = self.name;
                let sql = format!(
                    "WITH c AS (SELECT k FROM {t} WHERE expires < {PG_NOW} OR {mine} \
                       ORDER BY expires LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     UPDATE {t} l SET v = jsonb_build_object('owner', $1::text, \
                       'attempt', (l.v->>'attempt')::bigint + 1, 'expires', {PG_NOW} + $2::bigint) \
                     FROM c WHERE l.k = c.k RETURNING l.k, l.v::text"
                );
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                let rows = db.query_rows(
                    sql,
                    vec![
                        Box::new(owner.to_string()),
                        Box::new(ttl_ms),
                        Box::new(limit),
                    ],
                )?;
                rows.into_iter()
                    .map(|(k, v)| Ok((k, Lease::decode(&v)?)))
                    .collect()
            }
            TreeEngine::Sled(_) => {
                let mut out = Vec::new();
                for (key, raw) in self.iter()? {
                    if out.len() >= limit {
                        break;
                    }
                    let old = Lease::decode(&raw)?;
                    let take = match scope {
                        ClaimScope::Lapsed => old.expires < now_ms,
                        ClaimScope::LapsedAndMine => old.expires < now_ms || old.owner == owner,
                        ClaimScope::All => true,
                    };
                    if !take {
                        continue;
                    }
                    let new = Lease {
                        owner: owner.to_string(),
                        attempt: old.attempt + 1,
                        expires: now_ms + ttl_ms,
                    };
                    // Lost a race (the lease was renewed or finished meanwhile): skip it.
                    if self
                        .compare_and_swap(&key, Some(&raw), Some(&new.encode()))?
                        .is_ok()
                    {
                        out.push((key, new));
                    }
                }
                Ok(out)
            }
        }
    }

    /// Extends every lease `owner` holds to `ttl_ms` from now. Returns how many.
    pub(in crate::store) fn lease_renew(
        &self,
        owner: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        match &self.engine {
            TreeEngine::Pg(db) => db.execute_sql(
                format!(
                    "UPDATE {} SET v = jsonb_set(v, '{{expires}}', to_jsonb({PG_NOW} + $2::bigint)) \
                     WHERE owner = $1",
                    self.name
                ),
                vec![Box::new(owner.to_string()), Box::new(ttl_ms)],
            ),
            TreeEngine::Sled(_) => {
                let mut renewed = 0;
                for (key, raw) in self.iter()? {
                    let old = Lease::decode(&raw)?;
                    if old.owner != owner {
                        continue;
                    }
                    let new = Lease {
                        expires: now_ms + ttl_ms,
                        ..old
                    };
                    if self
                        .compare_and_swap(&key, Some(&raw), Some(&new.encode()))?
                        .is_ok()
                    {
                        renewed += 1;
                    }
                }
                Ok(renewed)
            }
        }
    }

    /// Takes `key` for `owner` if it is free or lapsed, or renews it if `owner` holds it.
    /// Returns the lease when `owner` holds it afterwards.
    pub(in crate::store) fn lease_acquire(
        &self,
        key: &[u8],
        owner: &str,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Option<Lease>, StoreError> {
        match &self.engine {
            TreeEngine::Pg(db) => {
                let t = self.name;
                let sql = format!(
                    "INSERT INTO {t} AS l (k, v) VALUES ($1, jsonb_build_object('owner', $2::text, \
                       'attempt', 1, 'expires', {PG_NOW} + $3::bigint)) \
                     ON CONFLICT (k) DO UPDATE SET v = jsonb_build_object('owner', $2::text, \
                       'attempt', CASE WHEN l.owner = $2 THEN (l.v->>'attempt')::bigint \
                         ELSE (l.v->>'attempt')::bigint + 1 END, \
                       'expires', {PG_NOW} + $3::bigint) \
                     WHERE l.owner = $2 OR l.expires < {PG_NOW} \
                     RETURNING l.k, l.v::text"
                );
                let rows = db.query_rows(
                    sql,
                    vec![
                        Box::new(key.to_vec()),
                        Box::new(owner.to_string()),
                        Box::new(ttl_ms),
                    ],
                )?;
                rows.into_iter()
                    .next()
                    .map(|(_, v)| Lease::decode(&v))
                    .transpose()
            }
            TreeEngine::Sled(_) => loop {
                let current = self.get(key)?;
                let new = match &current {
                    None => Lease {
                        owner: owner.to_string(),
                        attempt: 1,
                        expires: now_ms + ttl_ms,
                    },
                    Some(raw) => {
                        let old = Lease::decode(raw)?;
                        if old.owner == owner {
                            Lease {
                                expires: now_ms + ttl_ms,
                                ..old
                            }
                        } else if old.expires < now_ms {
                            Lease {
                                owner: owner.to_string(),
                                attempt: old.attempt + 1,
                                expires: now_ms + ttl_ms,
                            }
                        } else {
                            return Ok(None);
                        }
                    }
                };
                if self
                    .compare_and_swap(key, current.as_deref(), Some(&new.encode()))?
                    .is_ok()
                {
                    return Ok(Some(new));
                }
            },
        }
    }

    /// Gives `key` up if `owner` holds it (a replica shutting down cleanly).
    pub(in crate::store) fn lease_release(
        &self,
        key: &[u8],
        owner: &str,
    ) -> Result<(), StoreError> {
        match &self.engine {
            TreeEngine::Pg(db) => {
                db.execute_sql(
                    format!("DELETE FROM {} WHERE k = $1 AND owner = $2", self.name),
                    vec![Box::new(key.to_vec()), Box::new(owner.to_string())],
                )?;
                Ok(())
            }
            TreeEngine::Sled(_) => {
                if let Some(raw) = self.get(key)?
                    && Lease::decode(&raw)?.owner == owner
                {
                    let _ = self.compare_and_swap(key, Some(&raw), None)?;
                }
                Ok(())
            }
        }
    }
}
