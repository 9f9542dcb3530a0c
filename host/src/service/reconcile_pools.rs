//! `reconcile-pools` (spec §12): the bridge and MAC-prefix pools against the links and MAC
//! prefixes live networks took from them, and each IPv4 subnet's used-address set against the
//! ports and floating IPs that hold its addresses. Reports values held twice (`duplicate`,
//! never fixed: an operator decides) and pools whose bookkeeping differs from actual use
//! (`unsynced`, rebuilt from actual use with `--fix`). Store-only: Ganeti is not involved.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::Serialize;

use super::{Deleted, ServiceError, Services};
use crate::store::{BRIDGE, Batch, MAC_PREFIX, StoreError};

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct PoolDrift {
    /// `duplicate` or `unsynced`.
    pub kind: &'static str,
    /// `bridge <base>`, `mac-prefix <base>` or `network <id> <cidr>`.
    pub pool: String,
    pub detail: String,
    pub fixed: bool,
}

/// Values held more than once, with their holders.
fn duplicates<T: Ord + Clone>(holders: &[(T, String)]) -> BTreeMap<T, Vec<String>> {
    let mut by_value: BTreeMap<T, Vec<String>> = BTreeMap::new();
    for (value, holder) in holders {
        by_value
            .entry(value.clone())
            .or_default()
            .push(holder.clone());
    }
    by_value.retain(|_, h| h.len() > 1);
    by_value
}

impl Services {
    /// Compares every pool with actual use; rebuilds the bookkeeping when `fix`.
    pub fn reconcile_pools(&self, fix: bool) -> Result<Vec<PoolDrift>, ServiceError> {
        // Read order matters for the compare-and-swap repairs: pools, then networks, then the
        // ports and floating IPs. Anything taken or given back after a read changes the record
        // read first (the pool, or the network), so a repair built on a stale view fails.
        let pools = self.store().pool_list()?;
        let networks = self.store().network_list(Deleted::Exclude)?;
        let mut report = Vec::new();
        for pool in pools {
            let label = match pool.kind.as_str() {
                BRIDGE => format!("bridge {}", pool.base),
                MAC_PREFIX => format!("mac-prefix {}", pool.base),
                other => format!("{other} {}", pool.base),
            };
            let holders: Vec<(u32, String)> = networks
                .iter()
                .flat_map(|n| {
                    n.pooled_values()
                        .filter(|(kind, _)| *kind == pool.kind)
                        .filter_map(|(_, value)| pool.index_of(value))
                        .map(move |index| (index, format!("network {}", n.id)))
                })
                .collect();
            for (index, who) in duplicates(&holders) {
                report.push(PoolDrift {
                    kind: "duplicate",
                    pool: label.clone(),
                    detail: format!("{} held by {}", pool.value_at(index), who.join(", ")),
                    fixed: false,
                });
            }
            let actual: BTreeSet<u32> = holders.iter().map(|(i, _)| *i).collect();
            if actual != pool.used {
                let show = |set: &BTreeSet<u32>| -> Vec<String> {
                    set.iter().map(|i| pool.value_at(*i)).collect()
                };
                let fixed = fix && {
                    let mut after = pool.clone();
                    after.used = actual.clone();
                    self.commit_repair(&after)?
                };
                report.push(PoolDrift {
                    kind: "unsynced",
                    pool: label,
                    detail: format!(
                        "taken in the pool {:?}, held by networks {:?}",
                        show(&pool.used),
                        show(&actual)
                    ),
                    fixed,
                });
            }
        }
        let ports = self.store().port_list()?;
        let floating = self.store().floating_ip_list()?;
        for n in &networks {
            let Some(subnet) = n.subnet_v4() else {
                continue;
            };
            let label = format!("network {} {}", n.id, subnet.cidr);
            let mut holders: Vec<(Ipv4Addr, String)> = ports
                .iter()
                .filter(|p| p.network_id == n.id && p.floating_ip_id.is_none())
                .filter_map(|p| Some((p.ipv4?.1, format!("port {}", p.id))))
                .collect();
            holders.extend(
                floating
                    .iter()
                    .filter(|f| f.network_id == n.id)
                    .map(|f| (f.address, format!("floating IP {}", f.id))),
            );
            for (address, who) in duplicates(&holders) {
                report.push(PoolDrift {
                    kind: "duplicate",
                    pool: label.clone(),
                    detail: format!("{address} held by {}", who.join(", ")),
                    fixed: false,
                });
            }
            let actual: BTreeSet<Ipv4Addr> = holders.iter().map(|(a, _)| *a).collect();
            if actual != subnet.used {
                let fixed = fix && {
                    let mut after = n.clone();
                    if let Some(s) = after.subnets.iter_mut().find(|s| s.ip_version == 4) {
                        s.used = actual.clone();
                    }
                    self.commit_repair(&after)?
                };
                let missing: Vec<_> = actual.difference(&subnet.used).collect();
                let extra: Vec<_> = subnet.used.difference(&actual).collect();
                report.push(PoolDrift {
                    kind: "unsynced",
                    pool: label,
                    detail: format!(
                        "held but not marked used {missing:?}; marked used but held by nothing {extra:?}"
                    ),
                    fixed,
                });
            }
        }
        Ok(report)
    }

    /// Writes one repaired record; false if it changed meanwhile (run the command again).
    fn commit_repair<T: crate::store::BatchRecord>(&self, after: &T) -> Result<bool, ServiceError> {
        let mut batch = Batch::new();
        batch.update(after);
        match self.store().commit(&batch) {
            Ok(()) => Ok(true),
            Err(StoreError::GenerationMismatch { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
