//! Resource-first store methods for the quota holder: limits, usage and commissions.
//!
//! Issuing and resolving a commission touch several trees (usage, commissions, the name index)
//! in one store transaction, so a crash can never leave usage charged without its commission or
//! the other way round. The limit check happens inside the same transaction as the charge.

use std::collections::BTreeMap;

use super::kv::{self, TxError, TxTree};

use super::{Store, StoreError, decode, encode, get, project_prefix, project_resource_key, scan};
use crate::clock::Timestamp;
use crate::store::model::{Commission, CommissionState, QuotaLimit, QuotaUsage};

/// What to charge: a new commission before the store assigns its serial.
#[derive(Clone, Debug)]
pub struct NewCommission {
    /// Client-chosen unique name (the idempotency key).
    pub name: String,
    pub project_id: String,
    pub provisions: BTreeMap<String, i64>,
    /// Skip the limit check (removals and operator corrections).
    pub force: bool,
}

impl Store {
    /// Sets (creating or replacing) one project's limit for one resource.
    pub fn quota_limit_set(
        &self,
        project_id: &str,
        resource: &str,
        limit: i64,
    ) -> Result<QuotaLimit, StoreError> {
        let key = project_resource_key(project_id, resource);
        let tree = &self.trees.quota_limits;
        loop {
            let old = tree.get(&key)?;
            let generation = match &old {
                Some(raw) => decode::<QuotaLimit>("quota_limits", raw)?.generation + 1,
                None => 1,
            };
            let record = QuotaLimit {
                project_id: project_id.to_string(),
                resource: resource.to_string(),
                limit,
                updated: Timestamp::now(),
                generation,
            };
            if tree
                .compare_and_swap(&key, old.as_deref(), Some(&encode(&record)))?
                .is_ok()
            {
                return Ok(record);
            }
        }
    }

    /// The explicit limits of one project (resources without one use the configured default).
    pub fn quota_limits(&self, project_id: &str) -> Result<Vec<QuotaLimit>, StoreError> {
        scan(
            &self.trees.quota_limits,
            "quota_limits",
            &project_prefix(project_id),
        )
    }

    /// What one project holds, per resource that has ever been charged.
    pub fn quota_usages(&self, project_id: &str) -> Result<Vec<QuotaUsage>, StoreError> {
        scan(
            &self.trees.quota_usage,
            "quota_usage",
            &project_prefix(project_id),
        )
    }

    /// Issues a pending commission, checking every positive provision against its limit
    /// (`default_limit(resource)` where the project has no explicit one). Issuing a name that
    /// already exists returns that commission if its provisions are the same.
    pub fn commission_issue(
        &self,
        new: &NewCommission,
        default_limit: &dyn Fn(&str) -> i64,
    ) -> Result<Commission, StoreError> {
        let trees = &self.trees;
        kv::transact(
            &[
                &trees.quota_limits,
                &trees.quota_usage,
                &trees.commissions,
                &trees.commissions_by_name,
            ],
            |t| {
                let (limits, usage, commissions, by_name) = (&t[0], &t[1], &t[2], &t[3]);
                if let Some(serial) = by_name.get(new.name.as_bytes())? {
                    let existing: Commission =
                        read(commissions, "commissions", &serial, &new.name)?;
                    if existing.project_id == new.project_id
                        && existing.provisions == new.provisions
                    {
                        return Ok(existing);
                    }
                    return abort(StoreError::CommissionNameReused {
                        name: new.name.clone(),
                    });
                }
                for (resource, &quantity) in &new.provisions {
                    let key = project_resource_key(&new.project_id, resource);
                    let mut holding: QuotaUsage = match usage.get(&key)? {
                        Some(raw) => decode("quota_usage", &raw).map_err(TxError::Abort)?,
                        None => QuotaUsage {
                            project_id: new.project_id.clone(),
                            resource: resource.clone(),
                            ..QuotaUsage::default()
                        },
                    };
                    if quantity > 0 && !new.force {
                        let limit = match limits.get(&key)? {
                            Some(raw) => {
                                decode::<QuotaLimit>("quota_limits", &raw)
                                    .map_err(TxError::Abort)?
                                    .limit
                            }
                            None => default_limit(resource),
                        };
                        let held = holding.usage + holding.pending_add;
                        if held.saturating_add(quantity) > limit {
                            return abort(StoreError::LimitExceeded {
                                resource: resource.clone(),
                                limit,
                                usage: held,
                                requested: quantity,
                            });
                        }
                    }
                    if quantity >= 0 {
                        holding.pending_add += quantity;
                    } else {
                        holding.pending_remove += -quantity;
                    }
                    holding.generation += 1;
                    usage.insert(key, encode(&holding))?;
                }
                let serial = commissions.generate_id()?;
                let commission = Commission {
                    serial,
                    name: new.name.clone(),
                    project_id: new.project_id.clone(),
                    provisions: new.provisions.clone(),
                    state: CommissionState::Pending,
                    created: Timestamp::now(),
                    resolved: None,
                    generation: 1,
                };
                commissions.insert(serial.to_be_bytes(), encode(&commission))?;
                by_name.insert(new.name.as_bytes(), serial.to_be_bytes())?;
                Ok(commission)
            },
        )
    }

    /// Accepts (`accept = true`) or rejects a pending commission. Resolving it again the same
    /// way is a no-op returning the commission; resolving it the other way is an error.
    pub fn commission_resolve(&self, serial: u64, accept: bool) -> Result<Commission, StoreError> {
        let target = if accept {
            CommissionState::Accepted
        } else {
            CommissionState::Rejected
        };
        kv::transact(&[&self.trees.quota_usage, &self.trees.commissions], |t| {
            let (usage, commissions) = (&t[0], &t[1]);
            let key = serial.to_be_bytes();
            let mut commission: Commission = read(commissions, "commissions", &key, &serial)?;
            if commission.state == target {
                return Ok(commission);
            }
            if commission.state != CommissionState::Pending {
                return abort(StoreError::CommissionResolved {
                    serial,
                    state: commission.state.as_str(),
                });
            }
            for (resource, &quantity) in &commission.provisions {
                let key = project_resource_key(&commission.project_id, resource);
                let mut holding: QuotaUsage = read(usage, "quota_usage", &key, resource)?;
                if quantity >= 0 {
                    holding.pending_add -= quantity;
                } else {
                    holding.pending_remove -= -quantity;
                }
                if accept {
                    holding.usage += quantity;
                }
                holding.generation += 1;
                usage.insert(key, encode(&holding))?;
            }
            commission.state = target;
            commission.resolved = Some(Timestamp::now());
            commission.generation += 1;
            commissions.insert(key, encode(&commission))?;
            Ok(commission)
        })
    }

    pub fn commission_get(&self, serial: u64) -> Result<Commission, StoreError> {
        get(
            &self.trees.commissions,
            "commissions",
            &serial.to_be_bytes(),
        )
        .map_err(|e| match e {
            StoreError::NotFound { kind, .. } => StoreError::NotFound {
                kind,
                id: serial.to_string(),
            },
            other => other,
        })
    }

    /// Looks a commission up by its client-chosen name.
    pub fn commission_find_by_name(&self, name: &str) -> Result<Option<Commission>, StoreError> {
        match self.trees.commissions_by_name.get(name.as_bytes())? {
            Some(serial) => Ok(Some(get(&self.trees.commissions, "commissions", &serial)?)),
            None => Ok(None),
        }
    }

    /// All commissions in serial order, optionally only those in `state`.
    pub fn commission_list(
        &self,
        state: Option<CommissionState>,
    ) -> Result<Vec<Commission>, StoreError> {
        let mut all: Vec<Commission> = scan(&self.trees.commissions, "commissions", b"")?;
        if let Some(state) = state {
            all.retain(|c| c.state == state);
        }
        Ok(all)
    }
}

fn abort<T>(e: StoreError) -> Result<T, TxError> {
    Err(TxError::Abort(e))
}

fn read<T: serde::de::DeserializeOwned + crate::store::model::Versioned>(
    tree: &TxTree,
    tree_name: &'static str,
    key: &[u8],
    id: &dyn std::fmt::Display,
) -> Result<T, TxError> {
    match tree.get(key)? {
        Some(raw) => decode(tree_name, &raw).map_err(TxError::Abort),
        None => abort(StoreError::NotFound {
            kind: T::KIND,
            id: id.to_string(),
        }),
    }
}
