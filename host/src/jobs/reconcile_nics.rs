//! NIC drift of one server (spec §9.3, §12 `--fix-unsynced-nics`): the server's ports against
//! the NICs of its Ganeti instance, named `snf-nic-<port>`.
//!
//! - a port whose NIC Ganeti lacks (not a port in BUILD younger than two minutes): the port is
//!   released as when its server goes (address back, floating IP kept by its owner);
//! - a NIC whose address, MAC or firewall tag differs from the port: the port follows Ganeti
//!   (an address change releases the old one and takes the new, if it is free in the pools);
//! - a port not yet ACTIVE whose NIC Ganeti has: ACTIVE;
//! - a `snf-nic-*` NIC with no port: reported only (as Synnefo does), never removed (the
//!   default NIC `snf-nic-<server>` of a server created without ports is no drift).
//!
//! Called by `reconcile_servers` for servers no job holds; writes go through compare-and-swap.

use std::net::Ipv4Addr;

use serde_json::Value;

use super::common::strings;
use super::reconcile::{Drift, commit_repair};
use super::server_connect::profile_from_tags;
use super::server_nics::release_port;
use super::{JobEnv, StepError};
use crate::clock::Timestamp;
use crate::store::{Batch, Server};

/// A port in BUILD this young may still be on its way to Ganeti.
const BUILD_GRACE_MS: i64 = 120_000;

/// One NIC as Ganeti reports it.
struct GanetiNic {
    name: String,
    ip: Option<Ipv4Addr>,
    mac: Option<String>,
}

fn column(instance: &Value, key: &str, i: usize) -> Option<String> {
    instance[key]
        .get(i)
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn ganeti_nics(instance: &Value) -> Vec<GanetiNic> {
    let count = instance["nic.names"].as_array().map(Vec::len).unwrap_or(0);
    (0..count)
        .filter_map(|i| {
            Some(GanetiNic {
                name: column(instance, "nic.names", i)?,
                ip: column(instance, "nic.ips", i).and_then(|a| a.parse().ok()),
                mac: column(instance, "nic.macs", i),
            })
        })
        .collect()
}

/// Compares the ports of `s` with `instance`; repairs when `fix`. Returns the drift found.
pub fn nic_drift(
    env: &JobEnv,
    s: &Server,
    instance: &Value,
    fix: bool,
) -> Result<Vec<Drift>, StepError> {
    let nics = ganeti_nics(instance);
    let tags = strings(&instance["tags"]);
    let ports = env.store.ports_of_server(s.id)?;
    let mut drift = Vec::new();
    let now = Timestamp::now();
    for port in &ports {
        let name = port.ganeti_name();
        let report = |detail: String, fixed: bool| Drift {
            kind: "unsynced_nics",
            server_id: Some(s.id),
            instance: s.instance_name(),
            detail,
            fixed,
        };
        let Some(nic) = nics.iter().find(|n| n.name == name) else {
            if port.status == "BUILD" && now.0 - port.updated.0 < BUILD_GRACE_MS {
                continue;
            }
            let fixed =
                fix && commit_repair(env, s.id, "NICs", release_port(&env.store, port.id, false)?)?;
            drift.push(report(
                format!("port {} in the database, no NIC {name} in Ganeti", port.id),
                fixed,
            ));
            continue;
        };
        let mut after = port.clone();
        let mut changes = Vec::new();
        let mut batch = Batch::new();
        let recorded_ip = port.ipv4.map(|(_, a)| a);
        if recorded_ip != nic.ip && port.floating_ip_id.is_none() {
            changes.push(format!(
                "address {} in the database, {} in Ganeti",
                show(recorded_ip),
                show(nic.ip)
            ));
            let mut network = env.store.network_get(port.network_id)?;
            let before_network = network.clone();
            if let Some(old) = recorded_ip {
                network.release_v4(old);
            }
            after.ipv4 = match nic.ip {
                Some(new) => match network.allocate_v4(Some(new)) {
                    Ok(taken) => taken,
                    Err(e) => {
                        drift.push(report(
                            format!("{name}: {}; cannot follow Ganeti: {e}", changes[0]),
                            false,
                        ));
                        continue;
                    }
                },
                None => None,
            };
            if network != before_network {
                batch.update(&network);
            }
        }
        if nic.mac.is_some() && nic.mac != port.mac {
            changes.push(format!(
                "MAC {} in the database, {} in Ganeti",
                port.mac.as_deref().unwrap_or("-"),
                nic.mac.as_deref().unwrap_or("-")
            ));
            after.mac = nic.mac.clone();
        }
        if port.status != "ACTIVE" {
            changes.push(format!(
                "status {} in the database, NIC in Ganeti",
                port.status
            ));
            after.status = "ACTIVE".into();
        }
        let ganeti_profile = profile_from_tags(&name, &tags).unwrap_or("DISABLED");
        let recorded_profile = port.firewall_profile.as_deref().unwrap_or("DISABLED");
        if ganeti_profile != recorded_profile {
            changes.push(format!(
                "firewall {recorded_profile} in the database, {ganeti_profile} in Ganeti"
            ));
            after.firewall_profile = Some(ganeti_profile.to_string());
        }
        if changes.is_empty() {
            continue;
        }
        batch.update(&after);
        let fixed = fix && commit_repair(env, s.id, "NICs", batch)?;
        drift.push(report(format!("{name}: {}", changes.join("; ")), fixed));
    }
    // A server created without ports has one default NIC named after the server itself.
    let default_nic = crate::names::nic(s.id);
    for nic in &nics {
        let known = nic.name == default_nic || ports.iter().any(|p| p.ganeti_name() == nic.name);
        if !known && crate::names::is_nic(&nic.name) {
            drift.push(Drift {
                kind: "unsynced_nics",
                server_id: Some(s.id),
                instance: s.instance_name(),
                detail: format!(
                    "NIC {} ({}) in Ganeti, no port in the database (left for an operator)",
                    nic.name,
                    show(nic.ip)
                ),
                fixed: false,
            });
        }
    }
    Ok(drift)
}

fn show(ip: Option<Ipv4Addr>) -> String {
    ip.map(|a| a.to_string()).unwrap_or_else(|| "none".into())
}
