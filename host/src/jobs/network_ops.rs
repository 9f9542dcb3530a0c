//! Networks on Ganeti (spec §10.2, §15.3): `network.ensure` puts a network on backends
//! (`OP_NETWORK_ADD`, then `OP_NETWORK_CONNECT` for every node group), `network.destroy` takes
//! it off them (disconnect, remove) and deletes the record, returning pooled values and quota.
//!
//! The presence of a network on one backend (put on, taken off) is `network_presence`'s, which
//! `server.create`, `server.connect` and the reconciler use too.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::network_presence::{ensure_on_backend, record_presence, remove_from_backend};
use super::quota_steps::{issue_named_commission, resolve_commission};
use super::{JobKind, StepCx, StepDef, StepDone, StepError, StepFuture};
use crate::clock::Timestamp;
use crate::store::{BackendNetwork, Batch, Network, ResourcePool, Store, StoreError};

/// Inputs of `network.ensure` and `network.destroy`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetworkJobParams {
    pub network_id: u64,
    pub backend_ids: Vec<u64>,
}

pub static NETWORK_ENSURE: JobKind = JobKind {
    name: "network.ensure",
    steps: &[
        StepDef {
            name: "ensure_on_backends",
            run: ensure_step,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "release_lock",
            run: release_lock,
            undo: None,
            remote: false,
            checkpoint: false,
        },
    ],
    finally: Some(release_lock),
    pivot: None,
};

pub static NETWORK_DESTROY: JobKind = JobKind {
    name: "network.destroy",
    steps: &[
        StepDef {
            name: "remove_from_backends",
            run: remove_step,
            undo: None,
            remote: true,
            checkpoint: false,
        },
        StepDef {
            name: "finalize",
            run: finalize_destroy,
            undo: None,
            remote: false,
            checkpoint: false,
        },
        // The quota goes back once the record change has committed (with `finalize`).
        StepDef {
            name: "accept_quota",
            run: accept_quota,
            undo: None,
            remote: false,
            checkpoint: false,
        },
    ],
    finally: Some(abandon_destroy),
    pivot: None,
};

fn params(cx: &StepCx) -> Result<NetworkJobParams, StepError> {
    cx.params()
}

fn ensure_step(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p = params(cx)?;
        let n = cx.env.store.network_get(p.network_id)?;
        let mut presence = Vec::new();
        for backend in &p.backend_ids {
            presence.push((*backend, ensure_on_backend(&cx.env, &n, *backend).await?));
        }
        let batch = record_presence(&cx.env.store, n.id, &presence)?;
        Ok(StepDone::with_batch(
            json!({"backends": p.backend_ids}),
            batch,
        ))
    })
}

fn release_lock(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p = params(cx)?;
        let n = cx.env.store.network_get(p.network_id)?;
        let mut batch = Batch::new();
        if n.active_job == Some(cx.job.id) {
            let mut after = n.clone();
            after.active_job = None;
            batch.update(&after);
        }
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

/// A failed destroy leaves the network as it was (not being destroyed; public ones stay
/// drained for the operator to look at).
fn abandon_destroy(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p = params(cx)?;
        let n = cx.env.store.network_get(p.network_id)?;
        let mut batch = Batch::new();
        if n.active_job == Some(cx.job.id) && !n.deleted {
            let mut after = n.clone();
            after.active_job = None;
            after.action = None;
            batch.update(&after);
        }
        // A release `finalize` issued settles by whether the deletion landed.
        if let Some(c) = cx
            .env
            .store
            .commission_find_by_name(&format!("job-{}", cx.job.id))?
            .filter(|c| c.state == crate::store::CommissionState::Pending)
        {
            resolve_commission(&cx.env, Some(c.serial), n.deleted)?;
        }
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

fn remove_step(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p = params(cx)?;
        let n = cx.env.store.network_get(p.network_id)?;
        let mut presence = Vec::new();
        for backend in &p.backend_ids {
            // A backend removed meanwhile has nothing left to take the network off.
            let gone = cx
                .env
                .store
                .backend_get(*backend)
                .map(|b| b.deleted)
                .unwrap_or(true);
            if !gone {
                remove_from_backend(&cx.env, &n, *backend).await?;
            }
            let mac_prefix = n
                .backends
                .get(backend)
                .map(|b| b.mac_prefix.clone())
                .unwrap_or_default();
            presence.push((
                *backend,
                BackendNetwork {
                    state: "DELETED".into(),
                    mac_prefix,
                    updated: Timestamp::now(),
                },
            ));
        }
        let batch = record_presence(&cx.env.store, n.id, &presence)?;
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

/// `network` marked deleted (state DELETED, not drained, subnets' addresses dropped), and the
/// pools with its pooled values given back; both to be written in one batch.
pub fn network_deleted(
    store: &Store,
    n: &Network,
) -> Result<(Network, Vec<ResourcePool>), StoreError> {
    let mut after = n.clone();
    after.deleted = true;
    after.state = "DELETED".into();
    after.drained = false;
    after.action = Some("DESTROY".into());
    after.active_job = None;
    for s in &mut after.subnets {
        s.used.clear();
    }
    let mut pools = Vec::new();
    for mut pool in store.pool_list()? {
        let read = pool.clone();
        for (kind, value) in n.pooled_values() {
            if kind == pool.kind {
                pool.give_back(value);
            }
        }
        if pool != read {
            pools.push(pool);
        }
    }
    Ok((after, pools))
}

fn accept_quota(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        // By name: whatever `finalize` recorded, its commission is `job-<id>`.
        if let Some(c) = cx
            .env
            .store
            .commission_find_by_name(&format!("job-{}", cx.job.id))?
        {
            resolve_commission(&cx.env, Some(c.serial), true)?;
        }
        Ok(StepDone::default())
    })
}

fn finalize_destroy(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p = params(cx)?;
        let n = cx.env.store.network_get(p.network_id)?;
        if n.deleted {
            return Ok(StepDone::default());
        }
        // Issued pending before the record change commits with this step (a replay finds it
        // by name), accepted by `accept_quota` once it has: a store error here releases nothing.
        let serial = match (&n.project_id, n.public) {
            (Some(project), false) => Some(issue_named_commission(
                &cx.env,
                &format!("job-{}", cx.job.id),
                project,
                [("cyclades.network.private".to_string(), -1)].into(),
                true,
            )?),
            _ => None,
        };
        let (after, pools) = network_deleted(&cx.env.store, &n)?;
        let mut batch = Batch::new();
        batch.update(&after);
        for pool in &pools {
            batch.update(pool);
        }
        Ok(StepDone::with_batch(json!({"commission": serial}), batch))
    })
}
