//! A network's presence on one Ganeti backend (spec §10.2, §15.3): put on (`OP_NETWORK_ADD`
//! with the backend's MAC prefix, then `OP_NETWORK_CONNECT` to every node group) and taken off
//! (disconnect every group, remove), each call looked up first by the deterministic name
//! `snf-net-<id>` (rule 3), plus the network record's per-backend presence.
//!
//! Owns these for every user: the `network.ensure`/`network.destroy` kinds, the
//! `ensure_networks` step of `server.create` and `server.connect` (Synnefo's
//! `ensure_network_is_active`) and the network reconciler, so that none borrows from another.
//! Returns batches; commits only a group MAC prefix it takes from the pool (with the network).

use serde_json::{Value, json};

use super::{JobEnv, StepError};
use crate::backend::rapi::BackendError;
use crate::clock::Timestamp;
use crate::store::{Backend, BackendNetwork, Batch, MAC_PREFIX, Network, Store, StoreError};

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
pub fn conflicts_check(n: &Network) -> bool {
    n.public && n.subnet_v4().is_some()
}

/// Writes the backends' records of a network (retrying on concurrent writers).
pub fn record_presence(
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

/// Takes `network` off one backend: disconnects every node group, removes it, waits.
pub async fn remove_from_backend(
    env: &JobEnv,
    network: &Network,
    backend_id: u64,
) -> Result<(), StepError> {
    remove_named(env, &network.ganeti_name(), backend_id).await
}

/// Takes Ganeti network `name` off one backend (also for orphans with no record).
pub async fn remove_named(env: &JobEnv, name: &str, backend_id: u64) -> Result<(), StepError> {
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
