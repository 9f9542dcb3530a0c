//! Networks on Ganeti (spec §10.2, §15.3): `network.ensure` puts a network on backends
//! (`OP_NETWORK_ADD`, then `OP_NETWORK_CONNECT` for every node group), `network.destroy` takes
//! it off them (disconnect, remove) and deletes the record, returning pooled values and quota.
//!
//! `ensure_on_backend` is also the `ensure_networks` step of `server.create` and
//! `server.connect` (Synnefo's `ensure_network_is_active`). Every remote call is idempotent by
//! the deterministic name `snf-net-<id>` (rule 3).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::quota_steps::{issue_named_commission, resolve_commission};
use super::{JobEnv, JobKind, StepCx, StepDef, StepDone, StepError, StepFuture};
use crate::backend::rapi::BackendError;
use crate::clock::Timestamp;
use crate::store::{
    Backend, BackendNetwork, Batch, MAC_PREFIX, Network, ResourcePool, Store, StoreError,
};

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

/// Puts `network` on one backend: adds it if Ganeti lacks it, connects it to every node group
/// it is not connected to, and waits for each job. Returns the backend's record of it.
pub async fn ensure_on_backend(
    env: &JobEnv,
    network: &Network,
    backend_id: u64,
) -> Result<BackendNetwork, StepError> {
    let backend = env.store.backend_get(backend_id)?;
    let rapi = env.rapi(backend_id)?;
    let name = network.ganeti_name();
    let mac_prefix = match network.backends.get(&backend_id) {
        Some(b) if b.state != "DELETED" => b.mac_prefix.clone(),
        _ => {
            let base = group_mac_prefix(&env.store, network, &backend)?;
            let plugin = env.plugins.network_flavor(&network.flavor)?;
            plugin.backend_mac_prefix(&base, u32::from(backend.mac_digit()))?
        }
    };
    let timeout = env.settings.ganeti_job_timeout;
    if rapi.network(&name).await?.is_none() {
        let job = rapi.create_network(add_body(network, &mac_prefix)).await?;
        if let Err(e) = rapi.wait_job(job, timeout).await {
            // A replay whose first submission won finds it there (rule 3).
            if rapi.network(&name).await?.is_none() {
                return Err(e.into());
            }
        }
    }
    let info = rapi
        .network(&name)
        .await?
        .ok_or_else(|| StepError::transient(format!("{name} vanished after being added")))?;
    let connected: Vec<String> = info["group_list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g[0].as_str().map(str::to_string))
        .collect();
    for group in rapi.groups().await? {
        let Some(group) = group["name"].as_str() else {
            continue;
        };
        if connected.iter().any(|c| c == group) {
            continue;
        }
        let job = rapi
            .connect_network(
                &name,
                group,
                &network.mode,
                &network.link,
                conflicts_check(network),
            )
            .await?;
        rapi.wait_job(job, timeout).await?;
    }
    Ok(BackendNetwork {
        state: "ACTIVE".into(),
        mac_prefix,
        updated: Timestamp::now(),
    })
}

/// The prefix a network's MAC prefix on `backend` extends by the backend's digit: the
/// network's own on the first 16 backends (Synnefo's scheme, spec §15.2, so their MACs never
/// change), else its prefix for the backend's group, taken from the MAC-prefix pool and
/// recorded on the network the first time the network reaches that group. The take commits
/// at once, with the network, and a replay finds it recorded (rule 3).
fn group_mac_prefix(
    store: &Store,
    network: &Network,
    backend: &Backend,
) -> Result<String, StepError> {
    let group = backend.mac_group();
    if group == 0 {
        return Ok(network.mac_prefix.clone());
    }
    for _ in 0..GROUP_PREFIX_ATTEMPTS {
        let n = store.network_get(network.id)?;
        if let Some(prefix) = n.group_mac_prefixes.get(&group) {
            return Ok(prefix.clone());
        }
        let unavailable = || {
            StepError::unavailable(format!(
                "backend {} is in MAC-prefix group {group} (index {}): network {} needs a \
                 prefix from the mac-prefix pool there, and the pool is missing or exhausted",
                backend.clustername, backend.index, n.id
            ))
        };
        let mut pool = store
            .pool_list()?
            .into_iter()
            .find(|p| p.kind == MAC_PREFIX)
            .ok_or_else(unavailable)?;
        let prefix = pool.take().ok_or_else(unavailable)?;
        let mut after = n.clone();
        after.group_mac_prefixes.insert(group, prefix.clone());
        let mut batch = Batch::new();
        batch.update(&pool);
        batch.update(&after);
        match store.commit(&batch) {
            Ok(()) => return Ok(prefix),
            Err(StoreError::GenerationMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StepError::transient(format!(
        "network {} or the mac-prefix pool kept changing while a group prefix was taken",
        network.id
    )))
}

/// How often `group_mac_prefix` re-reads after losing a race for the network or the pool.
const GROUP_PREFIX_ATTEMPTS: usize = 16;

/// The `OP_NETWORK_ADD` body (spec §10.2): IPv6-only networks get Ganeti's dummy IPv4.
fn add_body(n: &Network, mac_prefix: &str) -> Value {
    let mut tags = n.tags.clone();
    tags.push(if n.public { "public" } else { "private" }.into());
    if n.subnets.iter().any(|s| s.dhcp) {
        tags.push("nfdhcpd".into());
    }
    let v4 = n.subnet_v4();
    let v6 = n.subnet_v6();
    json!({
        "network_name": n.ganeti_name(),
        "network": v4.map(|s| s.cidr.clone()).unwrap_or_else(|| "10.0.0.0/29".into()),
        "gateway": v4.and_then(|s| s.gateway.clone()),
        "network6": v6.map(|s| s.cidr.clone()),
        "gateway6": v6.and_then(|s| s.gateway.clone()),
        "mac_prefix": mac_prefix,
        "tags": tags,
        "conflicts_check": conflicts_check(n),
    })
}

/// Synnefo asks Ganeti to check IP conflicts on public networks with IPv4 (checklist H91):
/// their addresses are routed, so one in use elsewhere on the segment is a real conflict.
pub(super) fn conflicts_check(n: &Network) -> bool {
    n.public && n.subnet_v4().is_some()
}

/// Writes the backends' records of a network (retrying on concurrent writers).
pub(super) fn record_presence(
    store: &Store,
    network_id: u64,
    presence: &[(u64, BackendNetwork)],
) -> Result<Batch, StepError> {
    let n = store.network_get(network_id)?;
    let mut after = n.clone();
    for (backend, record) in presence {
        after.backends.insert(*backend, record.clone());
    }
    let mut batch = Batch::new();
    if after != n {
        batch.update(&after);
    }
    Ok(batch)
}

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

/// Takes `network` off one backend: disconnects every node group, removes it, waits.
pub async fn remove_from_backend(
    env: &JobEnv,
    network: &Network,
    backend_id: u64,
) -> Result<(), StepError> {
    remove_named(env, &network.ganeti_name(), backend_id).await
}

/// Takes Ganeti network `name` off one backend (also for orphans with no record).
pub(super) async fn remove_named(
    env: &JobEnv,
    name: &str,
    backend_id: u64,
) -> Result<(), StepError> {
    let rapi = env.rapi(backend_id)?;
    let timeout = env.settings.ganeti_job_timeout;
    let Some(info) = rapi.network(name).await? else {
        return Ok(());
    };
    for g in info["group_list"].as_array().into_iter().flatten() {
        if let Some(group) = g[0].as_str() {
            let job = rapi.disconnect_network(name, group).await?;
            rapi.wait_job(job, timeout).await?;
        }
    }
    match rapi.delete_network(name).await {
        Ok(job) => {
            if let Err(e) = rapi.wait_job(job, timeout).await
                && rapi.network(name).await?.is_some()
            {
                return Err(e.into());
            }
            Ok(())
        }
        Err(BackendError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
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
