//! Reconciliation as a service: one pass over every online backend (or one), the operator's
//! `reconcile-servers` report with its `--fix-*` flags, the continuous pass the server runs every
//! `backends.reconcile_secs` with the safe fixes only, and the per-backend health view (last
//! reached, last reconciled, jobs in flight, repairs made).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::{Deleted, ServiceError, Services};
use crate::clock::Timestamp;
/// Which drift to repair (the `--fix-*` flags).
pub use crate::jobs::ServerFixes as Fixes;
use crate::jobs::ServerFixes;
use crate::jobs::{BackendDrift, NetworkDrift, reconcile_networks, reconcile_servers};
use crate::store::Backend;

/// What the reconciler knows of one backend (in memory; a restart starts afresh).
#[derive(Clone, Debug, Default)]
pub struct ReconcileState {
    pub last_reconciled: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Repairs made, by drift kind, since start.
    pub repairs: BTreeMap<String, u64>,
}

/// Health of one backend for `backend-list` and `GET /admin/v1/backends/health`.
#[derive(Clone, Debug)]
pub struct BackendHealth {
    pub backend_id: u64,
    pub clustername: String,
    pub offline: bool,
    pub last_contact: Option<Timestamp>,
    pub last_reconciled: Option<Timestamp>,
    pub reconcile_error: Option<String>,
    pub jobs_in_flight: usize,
    pub repairs: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct ReconcileBook {
    by_backend: Mutex<BTreeMap<u64, ReconcileState>>,
    /// Network repairs that failed in the continuous pass, by (network, backend): how many
    /// times in a row, and when the next try may be (exponential backoff).
    network_retries: Mutex<BTreeMap<(u64, u64), (u32, Timestamp)>>,
}

/// The continuous pass retries a network repair Ganeti refused after 30 s, 1 min, 2 min, ...
/// up to an hour (operators' `reconcile-networks --fix-all` always tries at once).
fn retry_delay_ms(failures: u32) -> i64 {
    (30_000i64 << failures.saturating_sub(1).min(7)).min(3_600_000)
}

impl Services {
    /// The backend named (id or cluster name), or every online one.
    fn reconcile_targets(&self, backend: Option<&str>) -> Result<Vec<Backend>, ServiceError> {
        Ok(match backend {
            Some(b) => vec![self.backend_show(b)?.backend],
            None => self
                .store()
                .backend_list(Deleted::Exclude)?
                .into_iter()
                .filter(|b| !b.offline)
                .collect(),
        })
    }

    /// One pass: every online backend, or the one named. Returns the drift found per backend.
    pub async fn reconcile(
        &self,
        backend: Option<&str>,
        fixes: ServerFixes,
    ) -> Result<Vec<BackendDrift>, ServiceError> {
        let targets = self.reconcile_targets(backend)?;
        // Backends are independent: reconcile them at the same time (Synnefo's per-backend
        // parallelism), then book the results in order.
        let mut passes = tokio::task::JoinSet::new();
        for (index, b) in targets.iter().enumerate() {
            let env = self.jobs().env().clone();
            let id = b.id;
            passes.spawn(async move { (index, reconcile_servers(&env, id, fixes).await) });
        }
        let mut results: Vec<Option<Result<BackendDrift, _>>> =
            (0..targets.len()).map(|_| None).collect();
        while let Some(done) = passes.join_next().await {
            let (index, result) = done.map_err(|e| ServiceError::Internal {
                internal: format!("reconciliation task failed: {e}"),
            })?;
            results[index] = Some(result);
        }
        let mut reports = Vec::new();
        for (b, result) in targets.into_iter().zip(results) {
            let Some(result) = result else { continue };
            let mut book =
                self.reconcile_book()
                    .by_backend
                    .lock()
                    .map_err(|_| ServiceError::Internal {
                        internal: "reconcile book poisoned".into(),
                    })?;
            let state = book.entry(b.id).or_default();
            match result {
                Ok(report) => {
                    state.last_reconciled = Some(Timestamp::now());
                    state.last_error = None;
                    let mut repaired = 0;
                    for d in report.drift.iter().filter(|d| d.fixed) {
                        *state.repairs.entry(d.kind.to_string()).or_default() += 1;
                        repaired += 1;
                    }
                    self.metrics().reconcile_pass(&b.clustername, repaired);
                    reports.push(report);
                }
                Err(e) => {
                    state.last_error = Some(e.fault.message.clone());
                    if backend.is_some() {
                        return Err(ServiceError::ServiceUnavailable(format!(
                            "Cannot reconcile backend {}: {}",
                            b.clustername, e.fault.message
                        )));
                    }
                    tracing::warn!(backend = %b.clustername, error = %e.fault.message, "reconciliation failed");
                }
            }
        }
        Ok(reports)
    }

    /// `reconcile-networks`: every online backend, or the one named, one after another.
    /// `fix` repairs everything, orphans included (`--fix-all`).
    pub async fn reconcile_networks(
        &self,
        backend: Option<&str>,
        fix: bool,
    ) -> Result<Vec<NetworkDrift>, ServiceError> {
        let targets = self.reconcile_targets(backend)?;
        let env = self.jobs().env().clone();
        let mut reports = Vec::new();
        for b in targets {
            match reconcile_networks(&env, b.id, fix, fix, &BTreeSet::new()).await {
                Ok(report) => reports.push(report),
                Err(e) => {
                    return Err(ServiceError::ServiceUnavailable(format!(
                        "Cannot reconcile networks on backend {}: {}",
                        b.clustername, e.fault.message
                    )));
                }
            }
        }
        Ok(reports)
    }

    /// The continuous pass's network part: the safe network fixes on every online backend
    /// (orphan networks are only reported) and the pools rebuilt from actual use. Returns the
    /// repairs made and the drift left for an operator.
    pub async fn reconcile_networks_safe(&self) -> Result<(usize, usize), ServiceError> {
        let env = self.jobs().env().clone();
        let (mut repaired, mut open) = (0, 0);
        for b in self.reconcile_targets(None)? {
            let now = Timestamp::now();
            let postponed: BTreeSet<u64> = self
                .reconcile_book()
                .network_retries
                .lock()
                .map(|r| {
                    r.iter()
                        .filter(|((_, backend), (_, next))| *backend == b.id && *next > now)
                        .map(|((network, _), _)| *network)
                        .collect()
                })
                .unwrap_or_default();
            match reconcile_networks(&env, b.id, true, false, &postponed).await {
                Ok(report) => {
                    if let Ok(mut retries) = self.reconcile_book().network_retries.lock() {
                        retries.retain(|(network, backend), _| {
                            *backend != b.id
                                || postponed.contains(network)
                                || report
                                    .drift
                                    .iter()
                                    .any(|d| d.repair_failed && d.network_id == Some(*network))
                        });
                        for d in report.drift.iter().filter(|d| d.repair_failed) {
                            let Some(network) = d.network_id else {
                                continue;
                            };
                            let entry = retries.entry((network, b.id)).or_insert((0, now));
                            entry.0 += 1;
                            entry.1 = Timestamp(now.0 + retry_delay_ms(entry.0));
                            tracing::warn!(backend = %b.clustername, network = %d.ganeti_name, failures = entry.0, retry_in_s = retry_delay_ms(entry.0) / 1000, detail = %d.detail, "network repair failed; postponed");
                        }
                    }
                    for d in &report.drift {
                        if d.fixed {
                            repaired += 1;
                            tracing::info!(backend = %b.clustername, kind = d.kind, network = %d.ganeti_name, detail = %d.detail, "reconciler repaired a network");
                        } else {
                            open += 1;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(backend = %b.clustername, error = %e.fault.message, "network reconciliation failed");
                }
            }
        }
        for d in self.reconcile_pools(true)? {
            if d.fixed {
                repaired += 1;
                tracing::info!(pool = %d.pool, detail = %d.detail, "reconciler rebuilt a pool");
            } else {
                open += 1;
            }
        }
        Ok((repaired, open))
    }

    /// Health of every live backend.
    pub fn backend_health(&self) -> Result<Vec<BackendHealth>, ServiceError> {
        let unfinished = self.store().job_list_unfinished()?;
        let mut in_flight: BTreeMap<u64, usize> = BTreeMap::new();
        for job in &unfinished {
            let server = job
                .target
                .strip_prefix("server/")
                .and_then(|id| id.parse::<u64>().ok())
                .and_then(|id| self.store().server_get(id).ok());
            if let Some(b) = server.and_then(|s| s.backend_id) {
                *in_flight.entry(b).or_default() += 1;
            }
        }
        let book = self
            .reconcile_book()
            .by_backend
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default();
        Ok(self
            .store()
            .backend_list(Deleted::Exclude)?
            .into_iter()
            .map(|b| {
                let state = book.get(&b.id).cloned().unwrap_or_default();
                BackendHealth {
                    backend_id: b.id,
                    clustername: b.clustername,
                    offline: b.offline,
                    last_contact: b.last_contact,
                    last_reconciled: state.last_reconciled,
                    reconcile_error: state.last_error,
                    jobs_in_flight: in_flight.get(&b.id).copied().unwrap_or(0),
                    repairs: state.repairs,
                }
            })
            .collect())
    }
}

/// One pending commission and what reconciliation makes of it.
#[derive(Clone, Debug)]
pub struct CommissionDrift {
    pub serial: u64,
    pub name: String,
    pub project_id: String,
    /// `accept`, `reject`, or `keep` (its job still runs, or it is not ours to judge).
    pub verdict: &'static str,
    pub reason: String,
    pub fixed: bool,
}

impl Services {
    /// `reconcile-commissions`: pending commissions whose owner is gone. A job's commission
    /// (`job-<id>`) follows its job: accepted if the job succeeded, rejected if it failed or no
    /// longer exists, kept while it runs. A repair's (`reconcile-*`) is rejected (the record
    /// change it paid for did not land). Others are reported only.
    /// The verdict on a pending commission the network service issued around one record
    /// change (`network-<id>-create`, `-delete-<n>`, `-reassign-<n>-from|to`, the same for
    /// `floating-ip-` and `volume-`):
    /// did the change land? Commissions younger than a minute may still be in flight: kept.
    fn judge_named_commission(
        &self,
        c: &crate::store::Commission,
    ) -> Result<Option<(&'static str, String)>, ServiceError> {
        let (kind, rest) = if let Some(r) = c.name.strip_prefix("network-") {
            ("network", r)
        } else if let Some(r) = c.name.strip_prefix("floating-ip-") {
            ("floating IP", r)
        } else if let Some(r) = c.name.strip_prefix("volume-") {
            ("volume", r)
        } else {
            return Ok(None);
        };
        let Some((id, what)) = rest
            .split_once('-')
            .and_then(|(id, what)| Some((id.parse::<u64>().ok()?, what)))
        else {
            return Ok(None);
        };
        if Timestamp::now().0 - c.created.0 < 60_000 {
            return Ok(Some(("keep", "issued less than a minute ago".into())));
        }
        // The record's project, if it is live.
        let live_project = match kind {
            "network" => self
                .store()
                .network_get(id)
                .ok()
                .filter(|n| !n.deleted)
                .map(|n| n.project_id.unwrap_or_default()),
            "volume" => self
                .store()
                .volume_get(id)
                .ok()
                .filter(|v| !v.deleted)
                .map(|v| v.project_id),
            _ => self.store().floating_ip_get(id).ok().map(|f| f.project_id),
        };
        let Some(landed) = change_landed(what, &c.project_id, live_project.as_deref()) else {
            return Ok(None);
        };
        Ok(Some(if landed {
            ("accept", format!("{kind} {id}: the {what} happened"))
        } else {
            ("reject", format!("{kind} {id}: the {what} did not happen"))
        }))
    }

    pub fn reconcile_commissions(&self, fix: bool) -> Result<Vec<CommissionDrift>, ServiceError> {
        use crate::store::{CommissionState, JobState};
        let mut out = Vec::new();
        for c in self
            .store()
            .commission_list(Some(CommissionState::Pending))?
        {
            let (verdict, reason) = if let Some(job) = c
                .name
                .strip_prefix("job-")
                .and_then(|id| id.parse::<u64>().ok())
            {
                match self.store().job_get(job) {
                    Ok(j) if !j.state.finished() => {
                        ("keep", format!("job {job} is {}", j.state.as_str()))
                    }
                    Ok(j) if j.state == JobState::Succeeded => {
                        ("accept", format!("job {job} succeeded"))
                    }
                    Ok(j) => ("reject", format!("job {job} is {}", j.state.as_str())),
                    Err(_) => ("reject", format!("job {job} does not exist")),
                }
            } else if let Some(judged) = self.judge_named_commission(&c)? {
                judged
            } else if c.name.starts_with("reconcile-") {
                (
                    "reject",
                    "a repair's commission whose record change did not land".into(),
                )
            } else {
                (
                    "keep",
                    "issued through the admin API: resolve it by hand".into(),
                )
            };
            let fixed = fix && verdict != "keep" && {
                self.store()
                    .commission_resolve(c.serial, verdict == "accept")?;
                true
            };
            out.push(CommissionDrift {
                serial: c.serial,
                name: c.name,
                project_id: c.project_id,
                verdict,
                reason,
                fixed,
            });
        }
        Ok(out)
    }
}

/// Whether the change a named commission charged for happened, given the project of the live
/// record (`None`: no live record). `None` for a name this does not know.
fn change_landed(what: &str, commission_project: &str, live_project: Option<&str>) -> Option<bool> {
    Some(match what {
        w if w == "create" || w.starts_with("create-") => live_project.is_some(),
        w if w == "delete" || w.starts_with("delete-") => live_project.is_none(),
        w if w.starts_with("reassign-") && w.ends_with("-to") => {
            live_project == Some(commission_project)
        }
        w if w.starts_with("reassign-") && w.ends_with("-from") => {
            live_project.is_some_and(|p| p != commission_project)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::change_landed;

    #[test]
    fn network_repairs_back_off_exponentially_up_to_an_hour() {
        let delays: Vec<i64> = (1..=10).map(super::retry_delay_ms).collect();
        assert_eq!(&delays[..4], &[30_000, 60_000, 120_000, 240_000]);
        assert_eq!(delays[7], 3_600_000);
        assert!(delays.iter().all(|d| *d <= 3_600_000));
    }

    #[test]
    fn named_commissions_follow_what_the_records_say() {
        assert_eq!(change_landed("create", "p", Some("p")), Some(true));
        assert_eq!(change_landed("create", "p", None), Some(false));
        assert_eq!(change_landed("delete", "p", None), Some(true));
        assert_eq!(change_landed("delete-81", "p", None), Some(true));
        assert_eq!(change_landed("delete", "p", Some("p")), Some(false));
        // A reassign from p1 to p2: the record now in p2 means both halves landed.
        assert_eq!(change_landed("reassign-4-to", "p2", Some("p2")), Some(true));
        assert_eq!(
            change_landed("reassign-4-from", "p1", Some("p2")),
            Some(true)
        );
        assert_eq!(
            change_landed("reassign-4-to", "p2", Some("p1")),
            Some(false)
        );
        assert_eq!(
            change_landed("reassign-4-from", "p1", Some("p1")),
            Some(false)
        );
        assert_eq!(change_landed("rename", "p", Some("p")), None);
    }
}
