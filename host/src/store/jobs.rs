//! Resource-first store methods for jobs and their append-only logs.

use super::{Store, StoreError, decode, get, scan};
use crate::store::{JobEvent, JobRecord};

/// `job_log` key: job id ‖ seq, both big-endian, so a prefix scan returns events in order.
pub(super) fn log_key(job_id: u64, seq: u64) -> Vec<u8> {
    let mut key = job_id.to_be_bytes().to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

impl Store {
    pub fn job_get(&self, id: u64) -> Result<JobRecord, StoreError> {
        get(&self.trees.jobs, "jobs", &id.to_be_bytes()).map_err(|e| match e {
            StoreError::NotFound { kind, .. } => StoreError::NotFound {
                kind,
                id: id.to_string(),
            },
            other => other,
        })
    }

    /// Every job, oldest first.
    pub fn job_list(&self) -> Result<Vec<JobRecord>, StoreError> {
        scan(&self.trees.jobs, "jobs", b"")
    }

    /// Jobs that have not reached a final state (recovery scans these at start).
    pub fn job_list_unfinished(&self) -> Result<Vec<JobRecord>, StoreError> {
        let mut out = Vec::new();
        for (_, raw) in self.trees.jobs.iter()? {
            let job: JobRecord = decode("jobs", &raw)?;
            if !job.state.finished() {
                out.push(job);
            }
        }
        Ok(out)
    }

    /// A job's log, in order.
    pub fn job_log(&self, id: u64) -> Result<Vec<JobEvent>, StoreError> {
        scan(&self.trees.job_log, "job_log", &id.to_be_bytes())
    }
}
