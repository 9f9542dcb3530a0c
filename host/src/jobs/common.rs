//! Helpers shared by job kinds: the allocator's view of backends, plugin parameter conversion,
//! and the Ganeti job wait (plain, or wait-then-verify) that every remote step uses. Quota is
//! `quota_steps`', the server's task lock `server_lock`'s.

use serde_json::{Value, json};

use super::outputs::{FinishedJob, Submitted, Waited};
use super::{StepCx, StepError};
use crate::backend::rapi::BackendError;
use crate::plugins::{
    Backend as AllocBackend, BackendFlags, Param, ParamValue, PluginPin, TemplateSet,
};
use crate::store::Backend;

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
pub fn params_map(params: &[Param]) -> serde_json::Map<String, Value> {
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
    map
}

pub fn pin_json(pin: &PluginPin) -> Value {
    json!({"name": pin.name, "version": pin.version, "digest": pin.digest})
}

/// An `OP_INSTANCE_SET_PARAMS` body asking Ganeti to hot-plug the change when `hotplug`.
pub fn with_hotplug(mut body: Value, hotplug: bool) -> Value {
    if hotplug {
        body["hotplug_if_possible"] = json!(true);
    }
    body
}

/// Waits for the Ganeti job a submitting step recorded; `None` when it submitted none (it found
/// the work already done).
pub async fn wait_ganeti(
    cx: &StepCx,
    backend_id: u64,
    submitted: Submitted,
) -> Result<Option<FinishedJob>, StepError> {
    let Some(job_id) = submitted.job else {
        return Ok(None);
    };
    let rapi = cx.env.rapi(backend_id)?;
    let info = rapi
        .wait_job(job_id, cx.env.settings.ganeti_job_timeout)
        .await?;
    Ok(Some(FinishedJob::of(job_id, &info)))
}

/// The wait step of an addition (a NIC, a disk): waits for the Ganeti job `submitted`, then
/// looks whether the effect is `present`. A failed job whose effect is there anyway (a replayed
/// submission raced the first) is a success; a job that succeeded without it is `missing`.
pub async fn wait_then_verify(
    cx: &StepCx,
    backend_id: u64,
    submitted: Submitted,
    present: impl AsyncFnOnce() -> Result<bool, StepError>,
    missing: impl FnOnce() -> StepError,
) -> Result<Waited, StepError> {
    let waited = wait_ganeti(cx, backend_id, submitted).await;
    match (waited, present().await?) {
        (Err(e), false) => Err(e),
        (Ok(_), false) => Err(missing()),
        (waited, true) => Ok(Waited {
            finished: waited.ok().flatten(),
            ..Waited::default()
        }),
    }
}

/// The wait step of a removal: waits for the Ganeti job `submitted`; a failed job whose target
/// is `gone` anyway is a success (recorded as `already_gone`).
pub async fn wait_or_gone(
    cx: &StepCx,
    backend_id: u64,
    submitted: Submitted,
    gone: impl AsyncFnOnce() -> Result<bool, StepError>,
) -> Result<Waited, StepError> {
    match wait_ganeti(cx, backend_id, submitted).await {
        Ok(finished) => Ok(Waited {
            finished,
            ..Waited::default()
        }),
        Err(e) if gone().await? => {
            tracing::debug!(error = %e.fault.message, "a failed removal whose target is gone anyway");
            Ok(Waited {
                already_gone: true,
                ..Waited::default()
            })
        }
        Err(e) => Err(e),
    }
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
