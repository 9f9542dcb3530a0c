//! Helpers shared by job kinds: the allocator's view of backends, plugin parameter conversion,
//! quota commissions named after the job, and the Ganeti job wait that every remote step uses.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{StepCx, StepError};
use crate::backend::rapi::{BackendError, JobInfo};
use crate::plugins::{
    Backend as AllocBackend, BackendFlags, Param, ParamValue, PluginPin, TemplateSet,
};
use crate::store::{Backend, NewCommission};

/// The Ganeti disk template names the allocator interface knows.
pub fn template_flag(name: &str) -> Option<TemplateSet> {
    Some(match name {
        "diskless" => TemplateSet::DISKLESS,
        "file" => TemplateSet::FILE,
        "sharedfile" => TemplateSet::SHAREDFILE,
        "plain" => TemplateSet::PLAIN,
        "drbd" => TemplateSet::DRBD,
        "rbd" => TemplateSet::RBD,
        "blockdev" => TemplateSet::BLOCKDEV,
        "gluster" => TemplateSet::GLUSTER,
        n if n == "ext" || n.starts_with("ext_") => TemplateSet::EXT,
        _ => return None,
    })
}

/// A registered backend as allocators see it (none for ids beyond u32).
pub fn allocator_view(b: &Backend, dedicated: bool) -> Option<AllocBackend> {
    let mut templates = TemplateSet::empty();
    for t in &b.disk_templates {
        if let Some(flag) = template_flag(t) {
            templates |= flag;
        }
    }
    let mut state = BackendFlags::empty();
    for (on, flag) in [
        (b.offline, BackendFlags::OFFLINE),
        (b.drained, BackendFlags::DRAINED),
        (b.public, BackendFlags::PUBLIC),
        (dedicated, BackendFlags::DEDICATED),
    ] {
        if on {
            state |= flag;
        }
    }
    Some(AllocBackend {
        id: u32::try_from(b.id).ok()?,
        mem_free_mb: b.resources.mfree,
        mem_total_mb: b.resources.mtotal,
        disk_free_mb: b.resources.dfree,
        disk_total_mb: b.resources.dtotal,
        cpu_total: u32::try_from(b.resources.ctotal).unwrap_or(u32::MAX),
        instances: u32::try_from(b.resources.pinst_cnt).unwrap_or(u32::MAX),
        state,
        templates,
    })
}

/// Plugin parameters as a JSON object.
pub fn params_json(params: &[Param]) -> Value {
    let mut map = serde_json::Map::new();
    for p in params {
        let v = match &p.value {
            ParamValue::Text(t) => json!(t),
            ParamValue::Integer(i) => json!(i),
            ParamValue::Boolean(b) => json!(b),
            ParamValue::None => Value::Null,
        };
        map.insert(p.key.clone(), v);
    }
    Value::Object(map)
}

pub fn pin_json(pin: &PluginPin) -> Value {
    json!({"name": pin.name, "version": pin.version, "digest": pin.digest})
}

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
    env: &super::JobEnv,
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

/// Accepts or rejects the commission a step recorded (idempotent).
pub fn resolve_commission(serial: &Value, accept: bool, cx: &StepCx) -> Result<(), StepError> {
    let Some(serial) = serial.as_u64() else {
        return Ok(());
    };
    match cx.env.store.commission_resolve(serial, accept) {
        Ok(_) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Waits for the Ganeti job recorded as `job` in an earlier step's output. A missing job id
/// means the step found the work already done.
pub async fn wait_ganeti(
    cx: &StepCx,
    backend_id: u64,
    job: &Value,
) -> Result<Option<Value>, StepError> {
    let Some(job_id) = job.as_u64() else {
        return Ok(None);
    };
    let rapi = cx.env.rapi(backend_id)?;
    let info = rapi
        .wait_job(job_id, cx.env.settings.ganeti_job_timeout)
        .await?;
    Ok(Some(finished_job(job_id, &info)))
}

/// What a wait step records of a finished Ganeti job (its timestamps feed the overhead
/// measurements).
pub fn finished_job(job_id: u64, info: &JobInfo) -> Value {
    json!({
        "job": job_id,
        "status": info.status,
        "received_ts": info.received_ts,
        "end_ts": info.end_ts,
    })
}

/// Ensures instance `name` is gone from backend `backend_id` (rule 3: "already gone" is fine).
pub async fn ensure_instance_removed(
    env: &super::JobEnv,
    backend_id: u64,
    name: &str,
) -> Result<(), StepError> {
    let rapi = env.rapi(backend_id)?;
    if rapi.instance(name).await?.is_none() {
        return Ok(());
    }
    let job = match rapi.delete_instance(name).await {
        Ok(job) => job,
        Err(BackendError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    match rapi.wait_job(job, env.settings.ganeti_job_timeout).await {
        Ok(_) => Ok(()),
        Err(e) => {
            // Gone anyway (removed by someone else meanwhile) counts as success.
            if rapi.instance(name).await?.is_none() {
                Ok(())
            } else {
                Err(e.into())
            }
        }
    }
}

/// A step with nothing to do: the run of an `*_undo` step, whose undo is the point (rule 5).
pub fn nothing(_: &StepCx) -> super::StepFuture<'_> {
    Box::pin(async { Ok(super::StepDone::default()) })
}

/// A list of strings in a Ganeti document (`tags`, `nic.names`, `disk.names`); other entries
/// (Ganeti's null for an unnamed disk) are left out.
pub fn strings(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}
