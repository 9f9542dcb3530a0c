//! The job engine's side of sharing a store between replicas: recovery at start, the lease
//! heartbeat that renews this replica's jobs and claims lapsed ones, the running-task set, and
//! following a job another replica took over so that waiters here still get their answer.
//! Owns no state of its own (it is `JobEngine`'s); the fence on every log write is in
//! `engine.rs`'s `log`, the lease mechanics in `store`.

use super::*;

impl JobEngine {
    /// Resumes the unfinished jobs this replica may take (rule 7): those a previous process
    /// of this replica left (at once), those whose lease lapsed, and any without a lease (from
    /// before leases). On a store nobody shares, every unfinished job. Returns how many.
    pub fn recover(&self) -> Result<usize, StoreError> {
        let store = &self.inner.env.store;
        let settings = &self.inner.env.settings;
        for job in store.job_list_unfinished()? {
            store.job_lease_adopt(job.id, &settings.replica, settings.lease)?;
        }
        let claimed =
            store.job_leases_claim(&settings.replica, settings.lease, usize::MAX, true)?;
        for (id, attempt) in &claimed {
            self.hold(*id, *attempt);
            self.spawn(*id);
        }
        Ok(claimed.len())
    }

    /// One heartbeat: renews this replica's leases, then claims and resumes jobs whose lease
    /// lapsed. Returns how many it claimed.
    pub fn heartbeat(&self) -> Result<usize, StoreError> {
        let store = &self.inner.env.store;
        let settings = &self.inner.env.settings;
        store.job_leases_renew(&settings.replica, settings.lease)?;
        let claimed =
            store.job_leases_claim(&settings.replica, settings.lease, CLAIM_BATCH, false)?;
        for (id, attempt) in &claimed {
            tracing::info!(job = id, attempt, "took over a job whose lease lapsed");
            self.hold(*id, *attempt);
            self.spawn(*id);
        }
        Ok(claimed.len())
    }

    /// Runs `heartbeat` every third of the lease until the engine is dropped.
    pub fn start_heartbeat(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        let every = (self.inner.env.settings.lease / 3).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let e = engine.clone();
                match tokio::task::spawn_blocking(move || e.heartbeat()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => {
                        tracing::warn!(error = %crate::jobs::chain(&err), "job lease heartbeat failed")
                    }
                    Err(err) => tracing::warn!(error = %err, "job lease heartbeat panicked"),
                }
            }
        })
    }

    /// Ids of the jobs running in this process now.
    pub fn running(&self) -> Vec<u64> {
        self.inner
            .running
            .lock()
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Records that this replica holds job `id`'s lease at `attempt`.
    pub(super) fn hold(&self, id: u64, attempt: u64) {
        if let Ok(mut held) = self.inner.held.lock() {
            held.insert(id, attempt);
        }
    }

    pub(super) fn held(&self, id: u64) -> Option<u64> {
        self.inner
            .held
            .lock()
            .ok()
            .and_then(|h| h.get(&id).copied())
    }

    pub(super) fn release(&self, id: u64, attempt: u64) {
        if let Ok(mut held) = self.inner.held.lock()
            && held.get(&id) == Some(&attempt)
        {
            held.remove(&id);
        }
    }

    /// Starts a task running job `id` under the attempt this replica holds, unless one runs.
    /// A task still running an older attempt restarts from the log when it ends.
    pub(super) fn spawn(&self, id: u64) {
        let Some(attempt) = self.held(id) else {
            return;
        };
        {
            let Ok(mut running) = self.inner.running.lock() else {
                return;
            };
            if running.contains_key(&id) {
                return;
            }
            running.insert(id, attempt);
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let result = engine.run(id, attempt).await;
            if let Ok(mut running) = engine.inner.running.lock() {
                running.remove(&id);
            }
            match result {
                Ok(()) => {
                    engine.release(id, attempt);
                    engine.count_finished(id);
                }
                Err(Stop::Crashed) => engine.notify_checkpoint(id, Checkpoint::Interrupted),
                Err(Stop::LeaseLost) => {
                    engine.release(id, attempt);
                    if engine.held(id).is_some() {
                        // This replica claimed the job again meanwhile: resume from the log.
                        engine.spawn(id);
                    } else {
                        tracing::warn!(
                            job = id,
                            attempt,
                            "lost the job's lease to another replica; following it"
                        );
                        engine.follow(id);
                    }
                }
                Err(Stop::Store(e)) => {
                    tracing::error!(job = id, error = %crate::jobs::chain(&e), "job stopped on a store error; it resumes when its lease lapses");
                    engine.release(id, attempt);
                    engine.notify_checkpoint(id, Checkpoint::Interrupted);
                }
            }
        });
    }

    /// Answers this replica's waiters on a job another replica runs, from the store.
    pub(super) fn follow(&self, id: u64) {
        let engine = self.clone();
        tokio::spawn(async move {
            let checkpoint_step = engine
                .inner
                .env
                .store
                .job_get(id)
                .ok()
                .and_then(|j| kind(&j.kind))
                .and_then(|k| k.steps.iter().find(|s| s.checkpoint))
                .map(|s| s.name);
            loop {
                tokio::time::sleep(FOLLOW_EVERY).await;
                if engine.held(id).is_some() {
                    return; // ours again: the task notifies
                }
                let Ok(job) = engine.inner.env.store.job_get(id) else {
                    continue;
                };
                let reached = checkpoint_step.is_some_and(|step| {
                    engine.inner.env.store.job_log(id).is_ok_and(|log| {
                        log.iter().any(|e| {
                            e.step == step && matches!(e.kind, JobEventKind::Succeeded { .. })
                        })
                    })
                });
                if reached || job.state == JobState::Succeeded {
                    engine.notify_checkpoint(id, Checkpoint::Reached);
                }
                if job.state.finished() {
                    let fault = job.fault.clone().unwrap_or_else(JobFault::unrecorded);
                    engine.notify_checkpoint(id, Checkpoint::Failed(fault));
                    engine.notify_finished(id, job.state);
                    return;
                }
            }
        });
    }
}
