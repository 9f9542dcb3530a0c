//! Operator views of the job engine: `job-list` and `job-inspect` (stuck jobs included; they
//! are never dropped).

use super::{ServiceError, Services};
use crate::store::{JobEvent, JobRecord, StoreError};

/// A job and its log.
pub struct JobDetail {
    pub job: JobRecord,
    pub log: Vec<JobEvent>,
    /// Running in this process right now.
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
        Ok(JobDetail {
            log: self.store().job_log(n)?,
            running: self.jobs().running().contains(&n),
            lease: self
                .store()
                .job_leases()?
                .into_iter()
                .find(|l| l.job_id == n)
                .map(|l| l.lease),
            job,
        })
    }

    /// Resumes unfinished jobs (at start). Returns how many.
    pub fn jobs_recover(&self) -> Result<usize, ServiceError> {
        Ok(self.jobs().recover()?)
    }
}
