//! Quota as jobs charge it: commissions named after the job (rule 4), the `reserve_quota`
//! output every charging kind records, the one `reject_quota` undo they share, and the
//! accepted commissions that give back what a destroyed server or a deleted volume held
//! (shared by the jobs and the reconciler).
//!
//! Owns the commission side of jobs; the quota arithmetic itself is the store's
//! (`commission_issue` / `commission_resolve`). Must not talk to Ganeti.

use std::collections::BTreeMap;

use super::outputs::RESERVE_QUOTA;
use super::{JobEnv, StepCx, StepDone, StepError, StepFuture};
use crate::store::{NewCommission, Server, Volume};

const MIB: i64 = 1024 * 1024;
const GIB: i64 = 1024 * MIB;

/// The commission name of a job (its idempotency key, rule 4).
pub fn commission_name(cx: &StepCx) -> String {
    format!("job-{}", cx.job.id)
}

/// Issues (or finds, on replay) the job's pending commission. Returns its serial.
pub fn issue_commission(
    cx: &StepCx,
    project_id: &str,
    provisions: BTreeMap<String, i64>,
    force: bool,
) -> Result<u64, StepError> {
    issue_named_commission(&cx.env, &commission_name(cx), project_id, provisions, force)
}

/// Issues (or finds, by its unique name) a pending commission. Returns its serial.
pub fn issue_named_commission(
    env: &JobEnv,
    name: &str,
    project_id: &str,
    provisions: BTreeMap<String, i64>,
    force: bool,
) -> Result<u64, StepError> {
    let config = env.config.clone();
    let commission = env.store.commission_issue(
        &NewCommission {
            name: name.to_string(),
            project_id: project_id.to_string(),
            provisions,
            force,
        },
        &|r| config.default_limit(r),
    )?;
    Ok(commission.serial)
}

/// Accepts or rejects a commission (idempotent); `None` is nothing to resolve.
pub fn resolve_commission(
    env: &JobEnv,
    serial: Option<u64>,
    accept: bool,
) -> Result<(), StepError> {
    if let Some(serial) = serial {
        env.store.commission_resolve(serial, accept)?;
    }
    Ok(())
}

/// Accepts the commission `reserve_quota` recorded (the `finalize` of a charging kind).
pub fn accept_reserved(cx: &StepCx) -> Result<(), StepError> {
    let reserved = cx.read(RESERVE_QUOTA)?.unwrap_or_default();
    resolve_commission(&cx.env, reserved.serial, true)
}

/// Undo of `reserve_quota`, in every kind that charges: rejects the pending commission.
pub fn reject_quota(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let reserved = cx.read(RESERVE_QUOTA)?.unwrap_or_default();
        resolve_commission(&cx.env, reserved.serial, false)?;
        Ok(StepDone::default())
    })
}

/// Gives back everything a destroyed server held (spec §16.2 DESTROY), as an accepted
/// commission named `name`. Shared by `server.destroy` and the reconciler.
pub fn release_server_quota(
    env: &JobEnv,
    s: &Server,
    name: &str,
) -> Result<Option<u64>, StepError> {
    if !s.quota_charged {
        return Ok(None);
    }
    let flavor = env.store.flavor_get(s.flavor_id)?;
    let cpu = i64::from(flavor.cpu);
    let ram = flavor.ram_mb as i64 * MIB;
    let mut provisions = BTreeMap::from([
        ("cyclades.vm".to_string(), -1),
        ("cyclades.total_cpu".to_string(), -cpu),
        ("cyclades.total_ram".to_string(), -ram),
        (
            "cyclades.disk".to_string(),
            -(flavor.disk_gb as i64) * 1024 * MIB,
        ),
    ]);
    if matches!(s.operstate.as_str(), "STARTED" | "BUILD" | "ERROR") {
        provisions.insert("cyclades.cpu".into(), -cpu);
        provisions.insert("cyclades.ram".into(), -ram);
    }
    let serial = issue_named_commission(env, name, &s.project_id, provisions, true)?;
    env.store.commission_resolve(serial, true)?;
    Ok(Some(serial))
}

/// Gives a deleted volume's size back to its project, as an accepted commission named `name`
/// (volumes charged with their server give nothing here).
pub fn release_volume_quota(
    env: &JobEnv,
    v: &Volume,
    name: &str,
) -> Result<Option<u64>, StepError> {
    if !v.quota_charged {
        return Ok(None);
    }
    let provisions = BTreeMap::from([("cyclades.disk".to_string(), -(v.size_gb as i64) * GIB)]);
    let serial = issue_named_commission(env, name, &v.project_id, provisions, true)?;
    env.store.commission_resolve(serial, true)?;
    Ok(Some(serial))
}
