//! Operator views of the job engine: `job-list` and `job-inspect` (stuck jobs included; they
//! are never dropped).

use super::{ServiceError, Services};
use crate::store::{JobEvent, JobRecord, StoreError};

/// A job and its log.
pub struct JobDetail {
    pub job: JobRecord,
    pub log: Vec<JobEvent>,
    /// Running right now: in this process, or on a replica holding a live lease on it.
    pub running: bool,
    /// The lease of an unfinished job: which replica runs it, at which attempt, until when.
    pub lease: Option<crate::store::Lease>,
}

impl Services {
    /// Every job, newest first; `unfinished_only` keeps running, unwinding and stuck ones.
    pub fn job_list(&self, unfinished_only: bool) -> Result<Vec<JobRecord>, ServiceError> {
        let mut jobs = self.store().job_list()?;
        if unfinished_only {
            jobs.retain(|j| !j.state.finished() || j.state == crate::store::JobState::Stuck);
        }
        jobs.reverse();
        Ok(jobs)
    }

    pub fn job_inspect(&self, id: &str) -> Result<JobDetail, ServiceError> {
        let n: u64 = id
            .parse()
            .map_err(|_| ServiceError::BadRequest(format!("Invalid job id '{id}'")))?;
        let job = match self.store().job_get(n) {
            Err(StoreError::NotFound { .. }) => {
                return Err(ServiceError::ItemNotFound(format!("Job {id} not found")));
            }
            other => other?,
        };
        let lease = self
            .store()
            .job_leases()?
            .into_iter()
            .find(|l| l.job_id == n)
            .map(|l| l.lease);
        // Running here, or on whichever replica holds a live lease on it.
        let now = self.store().now_ms();
        let running = self.jobs().running().contains(&n)
            || (job.finished.is_none() && lease.as_ref().is_some_and(|l| l.expires >= now));
        Ok(JobDetail {
            log: self.store().job_log(n)?,
            running,
            lease,
            job,
        })
    }

    /// Resumes unfinished jobs (at start). Returns how many.
    pub fn jobs_recover(&self) -> Result<usize, ServiceError> {
        Ok(self.jobs().recover()?)
    }
}
