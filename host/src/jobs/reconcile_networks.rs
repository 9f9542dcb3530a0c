//! Reconciliation of networks with one backend (spec §12 `reconcile-networks`): every live
//! network against Ganeti's `snf-net-<id>` networks.
//!
//! - `unregistered`: Ganeti has the network, the record does not know it is there → record it;
//! - `missing`: the record (or, for public networks, the rule "on every backend") says it is
//!   there, Ganeti lacks it → create and connect it (the `network.ensure` code path);
//! - `stale`: a network being destroyed that Ganeti no longer has → record it DELETED there;
//! - `parted`: not connected to every node group → connect the missing groups;
//! - `unsynced_state`: connected everywhere but not recorded ACTIVE → ACTIVE;
//! - `external_reservations`: addresses Ganeti reserves inside the subnet's pools that the
//!   record does not → reserved in the record (never one a port holds: reported);
//! - `orphan`: an `snf-net-<id>` with no live network → disconnected and removed.
//!
//! Networks a job holds are skipped: their job owns them. Fixes go through the same helpers the
//! network jobs use (`network_presence`: `ensure_on_backend`, `record_presence`, `remove_named`).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::Value;

use super::network_presence::{ensure_on_backend, record_presence, remove_named};
use super::{JobEnv, StepError};
use crate::clock::Timestamp;
use crate::store::{BackendNetwork, Batch, Deleted, Network, StoreError};

/// One drifted network.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkDriftItem {
    pub kind: &'static str,
    pub network_id: Option<u64>,
    /// The Ganeti name (`snf-net-<id>`).
    pub ganeti_name: String,
    pub detail: String,
    pub fixed: bool,
    /// The repair was tried and Ganeti (or the store) refused it: the detail says why.
    #[serde(default)]
    pub repair_failed: bool,
}

/// What one pass over one backend found.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkDrift {
    pub backend_id: u64,
    pub clustername: String,
    pub drift: Vec<NetworkDriftItem>,
}

fn network_id(name: &str) -> Option<u64> {
    crate::names::network_id(name)
}

fn connected_groups(info: &Value) -> BTreeSet<String> {
    info["group_list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g[0].as_str().map(str::to_string))
        .collect()
}

/// Ganeti's `external_reservations` ("10.0.0.0, 10.0.0.1, ...").
fn external_reservations(info: &Value) -> BTreeSet<Ipv4Addr> {
    info["external_reservations"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect()
}

/// The pass over one backend; repairs when `fix` (except the networks in `postponed`, whose
/// repairs failed lately), and removes orphans when `fix_orphans` (the one destructive fix,
/// left to operators). A repair that fails is reported on its item; the pass goes on.
pub async fn reconcile_networks(
    env: &JobEnv,
    backend_id: u64,
    fix: bool,
    fix_orphans: bool,
    postponed: &BTreeSet<u64>,
) -> Result<NetworkDrift, StepError> {
    let backend = env.store.backend_get(backend_id)?;
    let rapi = env.rapi(backend_id)?;
    let in_ganeti: HashMap<String, Value> = rapi
        .networks()
        .await?
        .into_iter()
        .filter_map(|n| Some((n["name"].as_str()?.to_string(), n)))
        .collect();
    let groups: BTreeSet<String> = rapi
        .groups()
        .await?
        .iter()
        .filter_map(|g| g["name"].as_str().map(str::to_string))
        .collect();
    let networks = env.store.network_list(Deleted::Exclude)?;
    let mut drift = Vec::new();
    for n in &networks {
        if n.active_job.is_some() {
            continue;
        }
        let name = n.ganeti_name();
        let fix = fix && !postponed.contains(&n.id);
        let item = |kind, detail: String, fixed: Result<bool, String>| {
            let (fixed, repair_failed, detail) = match fixed {
                Ok(fixed) => (fixed, false, detail),
                Err(why) => (false, true, format!("{detail}; repair failed: {why}")),
            };
            NetworkDriftItem {
                kind,
                network_id: Some(n.id),
                ganeti_name: name.clone(),
                detail,
                fixed,
                repair_failed,
            }
        };
        let recorded = n.backends.get(&backend_id).filter(|b| b.state != "DELETED");
        let destroying = n.action.as_deref() == Some("DESTROY");
        let Some(info) = in_ganeti.get(&name) else {
            if recorded.is_some() && destroying {
                let fixed = Ok(fix && mark_deleted(env, n, backend_id)?);
                drift.push(item(
                    "stale",
                    "being destroyed, already gone from Ganeti".into(),
                    fixed,
                ));
            } else if recorded.is_some() || (n.public && !destroying) {
                let fixed = repair(fix, ensure(env, n, backend_id)).await;
                let why = if recorded.is_some() {
                    format!(
                        "{} in the database, missing from Ganeti",
                        recorded.map(|b| b.state.as_str()).unwrap_or("")
                    )
                } else {
                    "public network missing from this backend".into()
                };
                drift.push(item("missing", why, fixed));
            }
            continue;
        };
        let connected = connected_groups(info);
        let unconnected: Vec<&String> = groups.difference(&connected).collect();
        match recorded {
            None => {
                let fixed = repair(fix, ensure(env, n, backend_id)).await;
                drift.push(item(
                    "unregistered",
                    "in Ganeti, not recorded on this backend".into(),
                    fixed,
                ));
            }
            Some(_) if !unconnected.is_empty() => {
                let fixed = repair(fix, ensure(env, n, backend_id)).await;
                drift.push(item(
                    "parted",
                    format!("not connected to node group(s) {unconnected:?}"),
                    fixed,
                ));
            }
            Some(b) if b.state != "ACTIVE" => {
                let fixed = repair(fix, ensure(env, n, backend_id)).await;
                drift.push(item(
                    "unsynced_state",
                    format!(
                        "{} in the database, connected to every node group in Ganeti",
                        b.state
                    ),
                    fixed,
                ));
            }
            Some(_) => {}
        }
        if let Some(found) = reservation_drift(env, n, info, fix)? {
            drift.push(item("external_reservations", found.0, Ok(found.1)));
        }
    }
    let live: BTreeSet<u64> = networks.iter().map(|n| n.id).collect();
    let mut orphans: Vec<&String> = in_ganeti
        .keys()
        .filter(|name| network_id(name).is_some_and(|id| !live.contains(&id)))
        .collect();
    orphans.sort();
    for name in orphans {
        let fixed = if fix_orphans {
            remove_named(env, name, backend_id).await?;
            tracing::warn!(backend = %backend.clustername, network = %name, "reconciler removed an orphan network");
            true
        } else {
            false
        };
        drift.push(NetworkDriftItem {
            kind: "orphan",
            network_id: network_id(name),
            ganeti_name: name.clone(),
            detail: "in Ganeti, no live network in the database".into(),
            fixed,
            repair_failed: false,
        });
    }
    Ok(NetworkDrift {
        backend_id,
        clustername: backend.clustername,
        drift,
    })
}

/// Runs `attempt` when `fix`; its error becomes the item's reason instead of stopping the pass.
async fn repair(
    fix: bool,
    attempt: impl std::future::Future<Output = Result<bool, StepError>>,
) -> Result<bool, String> {
    if !fix {
        return Ok(false);
    }
    attempt.await.map_err(|e| e.fault.message)
}

/// Creates and connects the network on the backend, then records it (`network.ensure`'s path).
async fn ensure(env: &JobEnv, n: &Network, backend_id: u64) -> Result<bool, StepError> {
    let presence = ensure_on_backend(env, n, backend_id).await?;
    commit(
        env,
        record_presence(&env.store, n.id, &[(backend_id, presence)])?,
    )
}

fn mark_deleted(env: &JobEnv, n: &Network, backend_id: u64) -> Result<bool, StepError> {
    let mac_prefix = n
        .backends
        .get(&backend_id)
        .map(|b| b.mac_prefix.clone())
        .unwrap_or_default();
    let presence = BackendNetwork {
        state: "DELETED".into(),
        mac_prefix,
        updated: Timestamp::now(),
    };
    commit(
        env,
        record_presence(&env.store, n.id, &[(backend_id, presence)])?,
    )
}

/// Addresses Ganeti reserves inside the IPv4 pools that the record neither reserves nor has
/// as the gateway: `(detail, fixed)`, or `None` without drift.
fn reservation_drift(
    env: &JobEnv,
    n: &Network,
    info: &Value,
    fix: bool,
) -> Result<Option<(String, bool)>, StepError> {
    let Some(subnet) = n.subnet_v4() else {
        return Ok(None);
    };
    let gateway: Option<Ipv4Addr> = subnet.gateway.as_deref().and_then(|g| g.parse().ok());
    let extra: Vec<Ipv4Addr> = external_reservations(info)
        .into_iter()
        .filter(|a| crate::ipam::in_pools(&subnet.pools, *a))
        .filter(|a| !subnet.reserved.contains(a) && Some(*a) != gateway)
        .collect();
    if extra.is_empty() {
        return Ok(None);
    }
    let (held, free): (Vec<Ipv4Addr>, Vec<Ipv4Addr>) =
        extra.iter().partition(|a| subnet.used.contains(a));
    let mut detail = format!("Ganeti reserves {extra:?}, the database does not");
    if !held.is_empty() {
        detail.push_str(&format!(" ({held:?} held by ports: left for an operator)"));
    }
    let fixed = if fix && !free.is_empty() {
        // Read afresh: a repair above may have written the network already.
        let mut after = env.store.network_get(n.id)?;
        if let Some(s) = after.subnets.iter_mut().find(|s| s.ip_version == 4) {
            s.reserved.extend(free.iter().copied());
        }
        let mut batch = Batch::new();
        batch.update(&after);
        commit(env, batch)? && held.is_empty()
    } else {
        false
    };
    Ok(Some((detail, fixed)))
}

fn commit(env: &JobEnv, batch: Batch) -> Result<bool, StepError> {
    match env.store.commit(&batch) {
        Ok(()) => Ok(true),
        Err(StoreError::GenerationMismatch { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
