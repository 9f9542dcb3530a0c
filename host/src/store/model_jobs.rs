//! Persisted shapes of the job engine: the job record and its append-only event log.
//!
//! Step names and event kinds are persisted: renaming one breaks recovery of jobs written by an
//! older build (the golden test in `jobs::tests` lists them).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::Versioned;
use crate::clock::Timestamp;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Running its steps forward.
    Running,
    /// A step failed; undoing the steps that succeeded, newest first.
    Unwinding,
    /// Every step succeeded.
    Succeeded,
    /// A step failed and every undo succeeded: nothing leaked.
    Failed,
    /// An undo failed: an operator must look (never dropped, never retried automatically).
    Stuck,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Unwinding => "unwinding",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Stuck => "stuck",
        }
    }

    pub fn finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Stuck
        )
    }
}

/// What kind of failure a job's fault is: decided by the step that failed (`StepError`),
/// persisted with the job (`JobFault`) and mapped to an API fault by the service layer. Persisted
/// as the strings of the API faults (`badRequest`, ...); a kind this build does not know reads
/// as `internal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    #[serde(rename = "badRequest")]
    BadRequest,
    #[serde(rename = "overLimit")]
    OverLimit,
    #[serde(rename = "serviceUnavailable")]
    ServiceUnavailable,
    #[serde(rename = "itemNotFound")]
    ItemNotFound,
    /// The request conflicts with the current state (an address taken meanwhile).
    #[serde(rename = "conflict")]
    Conflict,
    /// Ganeti ran our job and it failed.
    #[serde(rename = "ganeti")]
    Ganeti,
    #[serde(rename = "internal", other)]
    Internal,
}

impl FaultKind {
    /// The persisted (and API fault) name.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::BadRequest => "badRequest",
            FaultKind::OverLimit => "overLimit",
            FaultKind::ServiceUnavailable => "serviceUnavailable",
            FaultKind::ItemNotFound => "itemNotFound",
            FaultKind::Conflict => "conflict",
            FaultKind::Ganeti => "ganeti",
            FaultKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The API fault a failed job maps to, so that a waiting request can answer with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFault {
    pub kind: FaultKind,
    pub message: String,
}

impl JobFault {
    /// What a failed job without a recorded fault reports.
    pub fn unrecorded() -> Self {
        JobFault {
            kind: FaultKind::Internal,
            message: "job failed".into(),
        }
    }
}

/// One multi-step job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: u64,
    /// `server.create`, `server.destroy`, ... (persisted; never renamed).
    pub kind: String,
    /// The resource the job holds the task lock of, e.g. `server/12`.
    pub target: String,
    /// The job's inputs, decoded by the job kind.
    pub params: Value,
    pub state: JobState,
    /// Why it failed (the first failing step's error).
    pub fault: Option<JobFault>,
    /// The failing step, when there is one.
    pub failed_step: Option<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub finished: Option<Timestamp>,
    pub generation: u64,
}
super::model::versioned!(JobRecord, "job");

/// What happened to one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEventKind {
    /// Logged (and flushed) before a step's external effect.
    Started,
    Succeeded {
        output: Value,
    },
    Failed {
        error: String,
    },
    UndoStarted,
    UndoDone,
    UndoFailed {
        error: String,
    },
}

/// One entry of a job's log (`job_log` key: job id ‖ seq, both big-endian).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    pub seq: u64,
    pub at: Timestamp,
    pub step: String,
    #[serde(flatten)]
    pub kind: JobEventKind,
}

impl Versioned for JobEvent {
    const KIND: &'static str = "job event";
    fn generation(&self) -> u64 {
        0
    }
    fn set_generation(&mut self, _generation: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_kinds_persist_as_the_api_fault_names_and_unknown_ones_read_as_internal() {
        for kind in [
            FaultKind::BadRequest,
            FaultKind::OverLimit,
            FaultKind::ServiceUnavailable,
            FaultKind::ItemNotFound,
            FaultKind::Conflict,
            FaultKind::Ganeti,
            FaultKind::Internal,
        ] {
            let text = serde_json::to_value(kind).unwrap();
            assert_eq!(text, serde_json::json!(kind.as_str()));
            assert_eq!(serde_json::from_value::<FaultKind>(text).unwrap(), kind);
        }
        // A fault written before the enum existed, and one of a kind a later build may add.
        let old: JobFault =
            serde_json::from_str(r#"{"kind": "overLimit", "message": "quota"}"#).unwrap();
        assert_eq!(old.kind, FaultKind::OverLimit);
        let newer: JobFault =
            serde_json::from_str(r#"{"kind": "somethingNew", "message": "?"}"#).unwrap();
        assert_eq!(newer.kind, FaultKind::Internal);
    }
}
