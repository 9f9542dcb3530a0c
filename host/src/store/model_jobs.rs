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

/// The API fault a failed job maps to, so that a waiting request can answer with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFault {
    /// `badRequest`, `overLimit`, `serviceUnavailable`, `itemNotFound`, `conflict`, `internal`.
    pub kind: String,
    pub message: String,
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
