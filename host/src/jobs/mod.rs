//! The job engine: multi-step operations on Ganeti that survive crashes.
//!
//! Owns job kinds (their ordered steps and undos), running and recovering jobs, the task
//! lock, and the reconcilers (`reconcile*.rs`) that compare the store with Ganeti. It uses the
//! store, the plugin host and the RAPI client; it never sees HTTP or the service layer
//! (services submit jobs and wait for their checkpoint). Shared step pieces have their own
//! modules (`params`, `outputs`, `server_lock`, `quota_steps`, `network_presence`, `common`) so
//! that no job kind imports another.
//!
//! # The eight rules (see `ARCHITECTURE.md`)
//!
//! 1. **Log, flush, act.** A remote step appends `Started` and flushes before its external effect,
//!    then appends `Succeeded{output}` and flushes.
//! 2. **Local steps are exactly-once.** A local step returns its mutations as a `Batch`; the engine
//!    commits them together with the step's `Succeeded` event in one store transaction.
//! 3. **Remote steps are at-least-once, so idempotent.** Ganeti names are deterministic
//!    (`snf-<id>`); a step looks the instance up before creating or removing it and treats
//!    "already exists" / "already gone" as success; Ganeti job ids are step outputs.
//! 4. **Anything random or allocated is recorded.** Ids are generated at submission and stored in
//!    the job's params; commission names derive from the job id. The one exception is the admin
//!    password, which is never in a job's params or log: it is sealed in the store with the
//!    server's secret key (a vmapi secret with a time to live) and read from there.
//! 5. **Undo comes before the risky step.** `ganeti_create_undo` is a no-op step whose undo removes
//!    `snf-<id>`, placed before `ganeti_create`.
//! 6. **Plugin results are recorded, never recomputed.** Steps that call a plugin put its output
//!    and `{name, version, digest}` in their step output; replays reuse it.
//! 7. **Recovery on start.** Unfinished jobs are resumed from their logs; an in-memory set of
//!    running ids prevents double runs in a process, and a lease per job (owner, attempt,
//!    expiry) across replicas: every log write is fenced by it, and a lapsed lease is claimed
//!    and its job resumed by another replica. A failed undo makes the job `stuck`: kept, shown by
//!    `job-list`/`job-inspect`, never dropped.
//! 8. **Compare-and-swap on generations.** Every resource write is a CAS; a job sets and clears the
//!    resource's `active_job` (Synnefo's task lock, 409 `buildInProgress` for others).

mod common;
mod engine;
mod env;
mod network_ops;
mod network_presence;
mod outputs;
mod params;
mod quota_steps;
mod reconcile;
mod reconcile_disks;
mod reconcile_networks;
mod reconcile_nics;
mod server_connect;
mod server_create;
mod server_lock;
mod server_nics;
mod server_ops;
mod server_volumes;
#[doc(hidden)]
pub mod testkit;
#[cfg(test)]
mod tests;
mod volume_ops;

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

pub use common::{allocator_view, pin_json, template_flag};
pub use engine::{Checkpoint, JobEngine, JobHandle, TestHooks};
pub use env::{JobEnv, JobSettings, rapi_client};
pub use network_ops::{NETWORK_DESTROY, NETWORK_ENSURE, NetworkJobParams, network_deleted};
pub use params::{
    ExtraVolume, NicPlan, ServerActionParams, ServerCreateParams, ServerNicParams, VolumeJobParams,
};
pub use reconcile::{BackendDrift, Drift, ServerFixes, reconcile_servers};
pub use reconcile_networks::{NetworkDrift, NetworkDriftItem, reconcile_networks};
pub use server_connect::{
    FIREWALL_PROFILES, SERVER_CONNECT, SERVER_DISCONNECT, SERVER_FIREWALL, firewall_tag,
    profile_from_tags,
};
pub use server_create::SERVER_CREATE;
pub use server_ops::{SERVER_ACTIONS, SERVER_DESTROY};
pub use volume_ops::{VOLUME_ATTACH, VOLUME_DELETE, VOLUME_DETACH, VOLUME_PURGE};

use crate::store::{Batch, FaultKind, JobFault};
use outputs::Output;

/// Everything a step can read: the environment, the job and the outputs of earlier steps.
pub struct StepCx {
    pub env: JobEnv,
    pub job: crate::store::JobRecord,
    pub outputs: std::collections::BTreeMap<String, Value>,
}

impl StepCx {
    /// The recorded output of an earlier step, decoded; `None` if that step has not run (or
    /// recorded nothing), as an undo of a step that never ran sees it.
    pub fn read<T: serde::de::DeserializeOwned>(
        &self,
        output: Output<T>,
    ) -> Result<Option<T>, StepError> {
        match self.outputs.get(output.step()) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
                StepError::internal(format!(
                    "the recorded output of step {} does not decode: {e}",
                    output.step()
                ))
            }),
        }
    }

    /// The recorded output of an earlier step that must have run.
    pub fn expect<T: serde::de::DeserializeOwned>(
        &self,
        output: Output<T>,
    ) -> Result<T, StepError> {
        self.read(output)?.ok_or_else(|| {
            StepError::internal(format!("step {} recorded no output", output.step()))
        })
    }

    /// The job's params, decoded.
    pub fn params<T: serde::de::DeserializeOwned>(&self) -> Result<T, StepError> {
        serde_json::from_value(self.job.params.clone())
            .map_err(|e| StepError::internal(format!("job params do not decode: {e}")))
    }
}

/// What a step produced: its output and the local mutations to commit with its event.
#[derive(Default)]
pub struct StepDone {
    pub output: Value,
    pub batch: Batch,
}

impl StepDone {
    /// A typed output for the steps after this one (`outputs::Output` names who reads it).
    pub fn recorded<T: serde::Serialize>(_: Output<T>, value: &T) -> Self {
        Self::logged(value)
    }
    /// The same with local mutations.
    pub fn recorded_with<T: serde::Serialize>(output: Output<T>, value: &T, batch: Batch) -> Self {
        StepDone {
            batch,
            ..Self::recorded(output, value)
        }
    }
    /// A typed output no later step reads, kept in the log for operators.
    pub fn logged<T: serde::Serialize>(value: &T) -> Self {
        Self::output(serde_json::to_value(value).unwrap_or(Value::Null))
    }
    /// An output no later step reads (kept in the log for operators).
    pub fn output(output: Value) -> Self {
        StepDone {
            output,
            batch: Batch::new(),
        }
    }
    pub fn with_batch(output: Value, batch: Batch) -> Self {
        StepDone { output, batch }
    }
}

/// Why a step failed, and whether trying again may help.
#[derive(Clone, Debug)]
pub struct StepError {
    pub fault: JobFault,
    pub retryable: bool,
}

impl StepError {
    fn new(kind: FaultKind, message: impl Into<String>, retryable: bool) -> Self {
        StepError {
            fault: JobFault {
                kind,
                message: message.into(),
            },
            retryable,
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(FaultKind::Internal, message, false)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(FaultKind::BadRequest, message, false)
    }
    /// The request conflicts with the current state (an address or port taken meanwhile).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(FaultKind::Conflict, message, false)
    }
    pub fn over_limit(message: impl Into<String>) -> Self {
        Self::new(FaultKind::OverLimit, message, false)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(FaultKind::ServiceUnavailable, message, false)
    }
    /// A transient failure: the engine retries with backoff before giving up.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(FaultKind::ServiceUnavailable, message, true)
    }
    /// Ganeti ran our job and it failed.
    pub fn ganeti(message: impl Into<String>) -> Self {
        Self::new(FaultKind::Ganeti, message, false)
    }
}

impl From<crate::store::StoreError> for StepError {
    fn from(e: crate::store::StoreError) -> Self {
        match &e {
            crate::store::StoreError::LimitExceeded { .. } => StepError::over_limit(e.to_string()),
            crate::store::StoreError::GenerationMismatch { .. } => {
                StepError::new(FaultKind::Conflict, e.to_string(), true)
            }
            _ => StepError::internal(chain(&e)),
        }
    }
}

impl From<crate::backend::rapi::BackendError> for StepError {
    fn from(e: crate::backend::rapi::BackendError) -> Self {
        use crate::backend::rapi::BackendError as B;
        let text = chain(&e);
        match &e {
            B::JobFailed { .. } => StepError::ganeti(text),
            B::Offline { .. } => StepError::unavailable(text),
            _ if e.retryable() => StepError::transient(text),
            _ => StepError::internal(text),
        }
    }
}

impl From<crate::plugins::PluginError> for StepError {
    fn from(e: crate::plugins::PluginError) -> Self {
        match &e {
            crate::plugins::PluginError::Quarantined { .. } => {
                StepError::unavailable(e.to_string())
            }
            crate::plugins::PluginError::InvalidInput { .. } => {
                StepError::bad_request(e.to_string())
            }
            _ => StepError::internal(e.to_string()),
        }
    }
}

/// An error and its causes on one line.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A boxed step future.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<StepDone, StepError>> + Send + 'a>>;
/// A step or undo function.
pub type StepFn = for<'a> fn(&'a StepCx) -> StepFuture<'a>;

/// One step of a job kind. Its `name` is persisted in job logs: never rename one.
pub struct StepDef {
    pub name: &'static str,
    pub run: StepFn,
    pub undo: Option<StepFn>,
    /// Has an external effect (logged `Started` and flushed before running).
    pub remote: bool,
    /// A request waiting for this job is answered once this step has succeeded.
    pub checkpoint: bool,
}

/// A job kind: a persisted name and its ordered steps.
pub struct JobKind {
    pub name: &'static str,
    pub steps: &'static [StepDef],
    /// Runs (idempotently) after every undo of a failed job, whichever step failed: releases
    /// what submission took, such as the task lock. Logged as step `(finally)`.
    pub finally: Option<StepFn>,
    /// The point of no return: once this step has succeeded, a later failure does not unwind
    /// (the external effect cannot be undone); the job is marked stuck for an operator instead.
    pub pivot: Option<&'static str>,
}

/// Every job kind this build knows.
pub fn kinds() -> Vec<&'static JobKind> {
    let mut all = vec![
        &SERVER_CREATE,
        &SERVER_DESTROY,
        &NETWORK_ENSURE,
        &NETWORK_DESTROY,
    ];
    all.extend(SERVER_ACTIONS.iter());
    all.extend([&SERVER_CONNECT, &SERVER_DISCONNECT, &SERVER_FIREWALL]);
    all.extend([
        &VOLUME_ATTACH,
        &VOLUME_DETACH,
        &VOLUME_DELETE,
        &VOLUME_PURGE,
    ]);
    all
}

/// Looks a kind up by its persisted name.
pub fn kind(name: &str) -> Option<&'static JobKind> {
    kinds().into_iter().find(|k| k.name == name)
}
