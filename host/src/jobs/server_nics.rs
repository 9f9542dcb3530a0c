//! A server's ports as job steps (spec §15.6): `allocate_ports` takes addresses and records
//! the ports in BUILD, `ensure_networks` puts their networks on the server's backend, the
//! create body lists them as NICs `snf-nic-<port>`, and when the server is gone its ports are
//! released (addresses back to the pools, floating IPs kept by their owners, unattached ports
//! the user made kept and detached).
//!
//! Every write here is a `Batch` committed with the step that produced it (rule 2).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::network_presence::{ensure_on_backend, record_presence};
use super::outputs::InstanceNics;
use super::params::NicPlan;
use super::{JobEnv, StepError};
use crate::clock::Timestamp;
use crate::store::{Batch, Network, Port, Store};

/// The ports of `plans` attached to `server_id` in BUILD, with their addresses taken, as one
/// batch. Fails (nothing written) if an address is gone or a port was taken meanwhile.
pub fn allocate_ports(
    store: &Store,
    server_id: u64,
    user_id: &str,
    project_id: &str,
    plans: &[NicPlan],
) -> Result<Batch, StepError> {
    let mut networks: BTreeMap<u64, (Network, Network)> = BTreeMap::new();
    let mut batch = Batch::new();
    let now = Timestamp::now();
    for plan in plans {
        if !networks.contains_key(&plan.network_id) {
            let n = store.network_get(plan.network_id)?;
            if n.deleted || n.action.as_deref() == Some("DESTROY") {
                return Err(StepError::conflict(format!(
                    "Network {} is being deleted",
                    n.id
                )));
            }
            networks.insert(n.id, (n.clone(), n));
        }
        let (_, network) = networks
            .get_mut(&plan.network_id)
            .ok_or_else(|| StepError::internal("network vanished from the plan"))?;
        if plan.existing {
            let port = store.port_get(plan.port_id)?;
            if port.device_id.is_some_and(|d| d != server_id) {
                return Err(StepError::conflict(format!(
                    "Port {} is already in use",
                    port.id
                )));
            }
            let mut after = port.clone();
            after.device_id = Some(server_id);
            after.status = "BUILD".into();
            batch.update(&after);
            continue;
        }
        let (ipv4, floating_ip_id) = match plan.floating_ip_id {
            Some(fid) => {
                let fip = store.floating_ip_get(fid)?;
                if fip.port_id.is_some() {
                    return Err(StepError::conflict(format!(
                        "Floating IP {} is already in use",
                        fip.address
                    )));
                }
                let mut after = fip.clone();
                after.port_id = Some(plan.port_id);
                after.server_id = Some(server_id);
                after.nat_port_id = plan.nat_port_id;
                batch.update(&after);
                (Some((fip.subnet_id, fip.address)), Some(fid))
            }
            None => (
                network
                    .allocate_v4(plan.address)
                    .map_err(|e| StepError::conflict(e.to_string()))?,
                None,
            ),
        };
        batch.insert(&Port {
            id: plan.port_id,
            name: plan.name.clone(),
            network_id: plan.network_id,
            user_id: user_id.into(),
            project_id: project_id.into(),
            device_id: Some(server_id),
            mac: None,
            ipv4,
            floating_ip_id,
            status: "BUILD".into(),
            firewall_profile: None,
            security_groups: Vec::new(),
            created: now,
            updated: now,
            generation: 1,
        });
    }
    for (read, after) in networks.values() {
        if read != after {
            batch.update(after);
        }
    }
    Ok(batch)
}

/// Releases ports of a server that is gone (or failed to build): ports created with it are
/// removed and their addresses returned (floating IPs stay with their owner, detached); ports
/// the user made beforehand are detached and kept.
pub fn release_ports(store: &Store, server_id: u64, existing: &[u64]) -> Result<Batch, StepError> {
    let mut batch = Batch::new();
    let mut networks: BTreeMap<u64, (Network, Network)> = BTreeMap::new();
    for port in store.ports_of_server(server_id)? {
        release_one(
            store,
            &port,
            existing.contains(&port.id),
            &mut batch,
            &mut networks,
        )?;
    }
    finish(batch, &networks)
}

/// Releases one port (`keep`: detach it and keep it, else remove it). A port already gone
/// releases nothing.
pub fn release_port(store: &Store, port_id: u64, keep: bool) -> Result<Batch, StepError> {
    let mut batch = Batch::new();
    let mut networks = BTreeMap::new();
    if let Ok(port) = store.port_get(port_id) {
        release_one(store, &port, keep, &mut batch, &mut networks)?;
    }
    finish(batch, &networks)
}

fn release_one(
    store: &Store,
    port: &Port,
    keep: bool,
    batch: &mut Batch,
    networks: &mut BTreeMap<u64, (Network, Network)>,
) -> Result<(), StepError> {
    if keep {
        let mut after = port.clone();
        after.device_id = None;
        after.status = "DOWN".into();
        after.firewall_profile = None;
        batch.update(&after);
        return Ok(());
    }
    batch.remove(port);
    match port.floating_ip_id {
        Some(fid) => {
            if let Ok(fip) = store.floating_ip_get(fid) {
                let mut after = fip.clone();
                after.port_id = None;
                after.server_id = None;
                after.nat_port_id = None;
                batch.update(&after);
            }
        }
        None => {
            if let Some((_, address)) = port.ipv4 {
                if !networks.contains_key(&port.network_id) {
                    let n = store.network_get(port.network_id)?;
                    networks.insert(n.id, (n.clone(), n));
                }
                if let Some((_, n)) = networks.get_mut(&port.network_id) {
                    n.release_v4(address);
                }
            }
        }
    }
    Ok(())
}

/// Adds the networks whose address sets changed to `batch`.
fn finish(
    mut batch: Batch,
    networks: &BTreeMap<u64, (Network, Network)>,
) -> Result<Batch, StepError> {
    for (read, after) in networks.values() {
        if read != after {
            batch.update(after);
        }
    }
    Ok(batch)
}

/// Puts every network of `ports` on `backend_id` (the `ensure_networks` step); returns the
/// batch recording their presence.
pub async fn ensure_networks(
    env: &JobEnv,
    backend_id: u64,
    ports: &[Port],
) -> Result<Batch, StepError> {
    let mut batch = Batch::new();
    let mut done: Vec<u64> = Vec::new();
    for port in ports {
        if done.contains(&port.network_id) {
            continue;
        }
        done.push(port.network_id);
        let n = env.store.network_get(port.network_id)?;
        if n.backends
            .get(&backend_id)
            .is_some_and(|b| b.state == "ACTIVE")
        {
            continue;
        }
        let presence = ensure_on_backend(env, &n, backend_id).await?;
        batch.extend(record_presence(
            &env.store,
            n.id,
            &[(backend_id, presence)],
        )?);
    }
    Ok(batch)
}

/// The Ganeti NIC of a port (`name`, `network`, `ip`).
pub fn nic_json(port: &Port) -> Value {
    json!({
        "name": port.ganeti_name(),
        "network": crate::names::network(port.network_id),
        "ip": port.ipv4.map(|(_, a)| a.to_string()),
    })
}

/// Marks the ports ACTIVE with the MACs Ganeti reports (`nic.names` / `nic.macs`), ERROR when
/// Ganeti lacks them; `only` limits this to one port.
pub fn ports_active(
    store: &Store,
    server_id: u64,
    only: Option<u64>,
    nics: &InstanceNics,
) -> Result<Batch, StepError> {
    let mut batch = Batch::new();
    for port in store.ports_of_server(server_id)? {
        if only.is_some_and(|id| id != port.id) {
            continue;
        }
        let mac = nics.mac_of(&port.ganeti_name()).map(str::to_string);
        let mut after = port.clone();
        after.status = if mac.is_some() { "ACTIVE" } else { "ERROR" }.into();
        after.mac = mac.or(port.mac.clone());
        if after != port {
            batch.update(&after);
        }
    }
    Ok(batch)
}
