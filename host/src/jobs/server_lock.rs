//! The server record as every server job changes it: the task lock (Synnefo's, rule 8) that a
//! job takes at submission and gives back in its `finalize` or `finally`, the Ganeti job it
//! records while one runs, and the record of a server that is gone.
//!
//! Owns these record changes for all the server, NIC and volume job kinds, so that no job kind
//! borrows them from another. Returns batches and records; must not commit or talk to Ganeti.

use serde::Deserialize;
use serde_json::Value;

use super::outputs::{Output, Submitted};
use super::{StepCx, StepDone, StepError, StepFuture};
use crate::store::{Batch, Diagnostic, Server};

/// What every job that holds a server's lock has in its params.
#[derive(Deserialize)]
struct LockHolder {
    server_id: u64,
    /// The action the job performs (START, CONNECT, ATTACH_VOLUME, ...).
    action: String,
}

/// The Ganeti backend of a server (a server without one cannot be acted on).
pub fn backend_id(s: &Server) -> Result<u64, StepError> {
    s.backend_id
        .ok_or_else(|| StepError::bad_request(format!("Server {} has no backend", s.id)))
}

/// `finally` of a failed server job: the lock goes and the reason is kept for the user.
pub fn release_lock(cx: &StepCx) -> StepFuture<'_> {
    Box::pin(async move {
        let p: LockHolder = cx.params()?;
        let before = cx.env.store.server_get(p.server_id)?;
        let mut after = before.clone();
        if after.active_job == Some(cx.job.id) {
            after.active_job = None;
            after.task = None;
        }
        if after.destroy_job == Some(cx.job.id) {
            after.destroy_job = None;
        }
        let reason = cx
            .job
            .fault
            .as_ref()
            .map(|f| f.message.clone())
            .unwrap_or_else(|| format!("{} failed", p.action));
        after.backend_job_status = Some("error".into());
        after.backend_log_msg = Some(reason.clone());
        after.add_diagnostic(Diagnostic::cyclades(
            "ERROR",
            reason,
            format!("job {} ({}) failed", cx.job.id, cx.job.kind),
        ));
        let mut batch = Batch::new();
        batch.update_server(&before, &after);
        Ok(StepDone::with_batch(Value::Null, batch))
    })
}

/// The server with the lock this job holds cleared (the `finalize` of every server job).
pub fn unlock(cx: &StepCx, before: &Server) -> Server {
    let mut after = before.clone();
    if after.active_job == Some(cx.job.id) {
        after.active_job = None;
        after.task = None;
    }
    after.backend_job_status = Some("success".into());
    after
}

/// Records the Ganeti job a step submitted (`None`: it found the work done) on the server.
pub fn record_ganeti_job(before: &Server, job: Option<u64>, opcode: &str) -> Batch {
    let mut after = before.clone();
    after.backend_job_id = job;
    after.backend_opcode = Some(opcode.into());
    after.backend_job_status = Some(if job.is_some() { "queued" } else { "success" }.into());
    let mut batch = Batch::new();
    batch.update_server(before, &after);
    batch
}

/// What a step that submitted `OP_INSTANCE_SET_PARAMS` on server `s` records: the Ganeti job
/// (`None` when it found the change already made) as its output `output` for the wait step,
/// and on the server record.
pub fn modify_submitted(output: Output<Submitted>, s: &Server, job: Option<u64>) -> StepDone {
    StepDone::recorded_with(
        output,
        &Submitted { job },
        record_ganeti_job(s, job, "OP_INSTANCE_SET_PARAMS"),
    )
}

/// The record of a server Ganeti no longer has: deleted, DESTROYED, lock and quota gone.
pub fn destroyed(before: &Server) -> Server {
    let mut after = before.clone();
    after.deleted = true;
    after.operstate = "DESTROYED".into();
    after.task = None;
    after.active_job = None;
    after.quota_charged = false;
    after
}
