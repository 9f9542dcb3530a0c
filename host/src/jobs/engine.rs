//! Running jobs: submission, the forward and unwind loops, retries, recovery, checkpoints.
//!
//! One tokio task per running job; an in-memory set of running ids prevents double runs in one
//! process, and a lease per job (owner, attempt, expiry) across replicas: a job is created
//! leased to the replica that accepted it, a heartbeat renews this replica's leases, and jobs
//! whose lease lapsed (their replica died or stalled) are claimed and resumed from their logs.
//! Every log write is a store commit, fenced by the lease (a replica that lost it can no longer
//! write), followed by a flush (rules 1 and 2). A request waiting on a job another replica took
//! over follows it through the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::{JobEnv, JobKind, StepCx, StepDef, StepError, kind};
use crate::clock::Timestamp;
use crate::store::{
    Batch, FaultKind, JobEvent, JobEventKind, JobFault, JobRecord, JobState, StoreError,
};

mod leases;

/// What a request waiting on a job learns.
#[derive(Clone, Debug, PartialEq)]
pub enum Checkpoint {
    /// The checkpoint step succeeded (or the whole job did).
    Reached,
    /// The job failed before reaching its checkpoint (and has unwound).
    Failed(JobFault),
    /// The engine stopped before the job got there (shutdown); the job resumes at next start.
    Interrupted,
}

/// A submitted job and a way to wait for its checkpoint.
pub struct JobHandle {
    pub id: u64,
    pub checkpoint: oneshot::Receiver<Checkpoint>,
}

impl JobHandle {
    /// Waits for the checkpoint (or the job's failure).
    pub async fn wait(self) -> Checkpoint {
        self.checkpoint.await.unwrap_or(Checkpoint::Interrupted)
    }
}

/// Fault injection for the engine's test suites.
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct TestHooks {
    pub fail_step: Option<&'static str>,
    pub run_twice: bool,
    /// Rewrites a step's output (job kind, step, output) before it is logged, as an older
    /// build would have written it: the resumed job must read it all the same.
    pub older_outputs: Option<fn(&str, &str, Value) -> Value>,
}

#[derive(Default)]
struct Waiters {
    checkpoint: HashMap<u64, Vec<oneshot::Sender<Checkpoint>>>,
    finished: HashMap<u64, Vec<oneshot::Sender<JobState>>>,
}

struct Inner {
    env: JobEnv,
    /// Jobs with a task in this process, and the lease attempt that task runs under.
    running: Mutex<HashMap<u64, u64>>,
    /// The newest lease attempt this replica holds, per job.
    held: Mutex<HashMap<u64, u64>>,
    waiters: Mutex<Waiters>,
    /// Test hook: stop (as if killed) once this many log writes happened.
    crash_after: Mutex<Option<u64>>,
    /// Test hooks: fail this step (non-retryably) instead of running it; run remote steps and
    /// undos twice (committing the first run's mutations) to prove they are idempotent.
    hooks: Mutex<TestHooks>,
    log_writes: AtomicU64,
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct JobEngine {
    inner: Arc<Inner>,
}

/// The log name of a kind's `finally` step.
const FINALLY: &str = "(finally)";

/// The engine stopped a job on purpose (test crash hook).
#[derive(Debug)]
struct Crashed;

enum Stop {
    Crashed,
    /// Another replica claimed the job (this one stalled past its lease).
    LeaseLost,
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost { .. } => Stop::LeaseLost,
            e => Stop::Store(e),
        }
    }
}

/// How often a waiter on a job run elsewhere looks at the store.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);
/// Jobs one heartbeat claims at most (the rest at the next).
const CLAIM_BATCH: usize = 32;

impl From<Crashed> for Stop {
    fn from(_: Crashed) -> Self {
        Stop::Crashed
    }
}

impl JobEngine {
    pub fn new(env: JobEnv) -> Self {
        JobEngine {
            inner: Arc::new(Inner {
                env,
                running: Mutex::new(HashMap::new()),
                held: Mutex::new(HashMap::new()),
                waiters: Mutex::new(Waiters::default()),
                crash_after: Mutex::new(None),
                hooks: Mutex::new(TestHooks::default()),
                log_writes: AtomicU64::new(0),
            }),
        }
    }

    pub fn env(&self) -> &JobEnv {
        &self.inner.env
    }

    /// Test hook: after `n` more log writes the engine behaves as if the process died.
    #[doc(hidden)]
    pub fn crash_after_writes(&self, n: Option<u64>) {
        self.inner.log_writes.store(0, Ordering::SeqCst);
        if let Ok(mut c) = self.inner.crash_after.lock() {
            *c = n;
        }
    }

    /// Resolves once the test crash hook has fired (never in production): a step that waits
    /// (a destroy queued behind another job) stops then, as it would with the process.
    async fn halted(&self) {
        loop {
            let limit = self.inner.crash_after.lock().ok().and_then(|c| *c);
            match limit {
                None => std::future::pending::<()>().await,
                Some(limit) if self.inner.log_writes.load(Ordering::SeqCst) >= limit => return,
                Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Test hook: see `TestHooks`.
    #[doc(hidden)]
    pub fn set_test_hooks(&self, hooks: TestHooks) {
        if let Ok(mut h) = self.inner.hooks.lock() {
            *h = hooks;
        }
    }

    fn hooks(&self) -> TestHooks {
        self.inner
            .hooks
            .lock()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// How many log writes the engine made since the last `crash_after_writes`.
    #[doc(hidden)]
    pub fn log_writes(&self) -> u64 {
        self.inner.log_writes.load(Ordering::SeqCst)
    }

    /// Records a new job (committed with `lock`, the target's task lock, in one transaction),
    /// flushes, and starts it. `params` must already hold every generated id (rule 4).
    pub async fn submit(
        &self,
        kind: &'static JobKind,
        target: String,
        params: Value,
        id: u64,
        lock: Batch,
    ) -> Result<JobHandle, StoreError> {
        let now = Timestamp::now();
        let job = JobRecord {
            id,
            kind: kind.name.to_string(),
            target,
            params,
            state: JobState::Running,
            fault: None,
            failed_step: None,
            created: now,
            updated: now,
            finished: None,
            generation: 1,
        };
        let store = &self.inner.env.store;
        let settings = &self.inner.env.settings;
        let mut batch = lock;
        batch.insert_job(&job);
        batch.insert_job_lease(
            id,
            &settings.replica,
            store.now_ms() + i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX),
        );
        self.commit(batch).await?;
        self.hold(id, 1);
        self.inner.env.store.flush().await?;
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.inner.waiters.lock() {
            w.checkpoint.entry(id).or_default().push(tx);
        }
        self.spawn(id);
        Ok(JobHandle { id, checkpoint: rx })
    }

    /// Resolves when the job reaches a final state (immediately if it already has), whichever
    /// replica runs it: this one's own jobs notify, others' are followed through the store.
    pub async fn wait_finished(&self, id: u64) -> Result<JobState, StoreError> {
        let mut rx = {
            let (tx, rx) = oneshot::channel();
            if let Ok(mut w) = self.inner.waiters.lock() {
                w.finished.entry(id).or_default().push(tx);
            }
            rx
        };
        loop {
            let job = self.inner.env.store.job_get(id)?;
            if job.state.finished() {
                return Ok(job.state);
            }
            tokio::select! {
                state = &mut rx => return Ok(state.unwrap_or(job.state)),
                () = tokio::time::sleep(FOLLOW_EVERY * 3) => {}
            }
        }
    }

    /// Counts a job that reached an end state in the metrics (by kind, fault and duration).
    fn count_finished(&self, id: u64) {
        let Ok(job) = self.inner.env.store.job_get(id) else {
            return;
        };
        let finished = job.finished.unwrap_or(job.updated);
        if !matches!(
            job.state,
            JobState::Succeeded | JobState::Failed | JobState::Stuck
        ) {
            return;
        }
        let took = Duration::from_millis(u64::try_from(finished.0 - job.created.0).unwrap_or(0));
        let fault = match job.state {
            JobState::Succeeded => None,
            _ => Some(
                job.fault
                    .as_ref()
                    .map_or(FaultKind::Internal, |f| f.kind)
                    .as_str(),
            ),
        };
        self.inner.env.metrics.job_finished(&job.kind, fault, took);
    }

    fn notify_checkpoint(&self, id: u64, checkpoint: Checkpoint) {
        let senders = self
            .inner
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.checkpoint.remove(&id))
            .unwrap_or_default();
        for tx in senders {
            let _ = tx.send(checkpoint.clone());
        }
    }

    fn notify_finished(&self, id: u64, state: JobState) {
        let senders = self
            .inner
            .waiters
            .lock()
            .ok()
            .and_then(|mut w| w.finished.remove(&id))
            .unwrap_or_default();
        for tx in senders {
            let _ = tx.send(state);
        }
    }

    /// Commits `batch`. On a shared store each commit is a database round trip: it runs on the
    /// blocking pool so that hundreds of jobs wait on PostgreSQL at once instead of taking
    /// turns on the few async workers. sled's commits take microseconds and run in place.
    async fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let store = self.inner.env.store.clone();
        if !store.shared() {
            return store.commit(&batch);
        }
        tokio::task::spawn_blocking(move || store.commit(&batch))
            .await
            .map_err(|e| StoreError::Database(Box::new(e)))?
    }

    /// Commits `batch` plus one log event, fenced by the job's lease, then flushes. The crash
    /// hook fires here.
    #[allow(clippy::too_many_arguments)]
    async fn log(
        &self,
        attempt: u64,
        job: &mut JobRecord,
        next_seq: &mut u64,
        step: &str,
        event: JobEventKind,
        mut batch: Batch,
        job_update: Option<&(dyn Fn(&mut JobRecord) + Sync)>,
    ) -> Result<(), Stop> {
        if let Ok(limit) = self.inner.crash_after.lock()
            && let Some(limit) = *limit
            && self.inner.log_writes.load(Ordering::SeqCst) >= limit
        {
            return Err(Crashed.into());
        }
        let entry = JobEvent {
            seq: *next_seq,
            at: Timestamp::now(),
            step: step.to_string(),
            kind: event,
        };
        batch.append_event(job.id, &entry);
        batch.fence_job(job.id, &self.inner.env.settings.replica, attempt);
        let mut updated = job.clone();
        if let Some(f) = job_update {
            f(&mut updated);
            batch.update_job(&updated);
            if updated.state.finished() {
                batch.remove_job_lease(job.id);
            }
        }
        self.commit(batch).await?;
        self.inner.env.store.flush().await?;
        self.inner.log_writes.fetch_add(1, Ordering::SeqCst);
        *next_seq += 1;
        if job_update.is_some() {
            updated.generation += 1;
            *job = updated;
        }
        Ok(())
    }

    async fn run(&self, id: u64, attempt: u64) -> Result<(), Stop> {
        let store = &self.inner.env.store;
        let mut job = store.job_get(id)?;
        let Some(kind) = kind(&job.kind) else {
            tracing::error!(job = id, kind = %job.kind, "unknown job kind; left for an operator");
            return Ok(());
        };
        // Rebuild the position from the log.
        let log = store.job_log(id)?;
        let mut next_seq = log.last().map(|e| e.seq + 1).unwrap_or(0);
        let mut outputs = BTreeMap::new();
        let mut done: Vec<&str> = Vec::new();
        let mut undone: HashSet<String> = HashSet::new();
        let mut undo_failed = false;
        for event in &log {
            match &event.kind {
                JobEventKind::Succeeded { output } => {
                    outputs.insert(event.step.clone(), output.clone());
                    if let Some(step) = kind.steps.iter().find(|s| s.name == event.step) {
                        done.push(step.name);
                    }
                }
                JobEventKind::UndoDone => {
                    undone.insert(event.step.clone());
                }
                JobEventKind::UndoFailed { .. } => undo_failed = true,
                _ => {}
            }
        }
        if job.state == JobState::Running {
            match self
                .forward(
                    attempt,
                    kind,
                    &mut job,
                    &mut next_seq,
                    &mut outputs,
                    &mut done,
                )
                .await?
            {
                None => {
                    self.log(
                        attempt,
                        &mut job,
                        &mut next_seq,
                        "(job)",
                        JobEventKind::Succeeded {
                            output: Value::Null,
                        },
                        Batch::new(),
                        Some(&|j: &mut JobRecord| {
                            j.state = JobState::Succeeded;
                            j.finished = Some(Timestamp::now());
                        }),
                    )
                    .await?;
                    self.notify_checkpoint(id, Checkpoint::Reached);
                    self.notify_finished(id, JobState::Succeeded);
                    return Ok(());
                }
                Some((step, error)) => {
                    // Past the point of no return a failure cannot unwind: the job is stuck.
                    let stuck = kind.pivot.is_some_and(|p| done.contains(&p));
                    if stuck {
                        tracing::error!(job = id, kind = kind.name, step, error = %error.fault.message, "job step failed past its point of no return; job is stuck");
                    } else {
                        tracing::warn!(job = id, kind = kind.name, step, error = %error.fault.message, "job step failed; unwinding");
                    }
                    let fault = error.fault.clone();
                    self.log(
                        attempt,
                        &mut job,
                        &mut next_seq,
                        step,
                        JobEventKind::Failed {
                            error: error.fault.message.clone(),
                        },
                        Batch::new(),
                        Some(&move |j: &mut JobRecord| {
                            j.fault = Some(fault.clone());
                            j.failed_step = Some(step.to_string());
                            if stuck {
                                j.state = JobState::Stuck;
                                j.finished = Some(Timestamp::now());
                            } else {
                                j.state = JobState::Unwinding;
                            }
                        }),
                    )
                    .await?;
                    if stuck {
                        self.notify_checkpoint(id, Checkpoint::Failed(error.fault));
                        self.notify_finished(id, JobState::Stuck);
                        return Ok(());
                    }
                }
            }
        }
        if job.state == JobState::Unwinding && !undo_failed {
            let cx_outputs = outputs.clone();
            let final_state = self
                .unwind(
                    attempt,
                    kind,
                    &mut job,
                    &mut next_seq,
                    cx_outputs,
                    &done,
                    &undone,
                )
                .await?;
            let fault = job.fault.clone().unwrap_or_else(JobFault::unrecorded);
            self.notify_checkpoint(id, Checkpoint::Failed(fault));
            self.notify_finished(id, final_state);
        }
        Ok(())
    }

    /// Runs the steps not yet done. `None` when all succeeded, or the failing step and error.
    async fn forward(
        &self,
        attempt: u64,
        kind: &'static JobKind,
        job: &mut JobRecord,
        next_seq: &mut u64,
        outputs: &mut BTreeMap<String, Value>,
        done: &mut Vec<&'static str>,
    ) -> Result<Option<(&'static str, StepError)>, Stop> {
        for step in kind.steps {
            if done.contains(&step.name) {
                continue;
            }
            if step.remote {
                self.log(
                    attempt,
                    job,
                    next_seq,
                    step.name,
                    JobEventKind::Started,
                    Batch::new(),
                    None,
                )
                .await?;
            }
            let hooks = self.hooks();
            if hooks.fail_step == Some(step.name) {
                return Ok(Some((
                    step.name,
                    StepError::internal(format!("injected failure at {}", step.name)),
                )));
            }
            if hooks.run_twice && step.remote {
                let first = self.attempt(step, step.run, job, outputs).await;
                if let Ok(first) = first {
                    self.inner.env.store.commit(&first.batch)?;
                }
            }
            let result = self.attempt(step, step.run, job, outputs).await;
            match result {
                Ok(mut step_done) => {
                    if let Some(older) = hooks.older_outputs {
                        step_done.output = older(&job.kind, step.name, step_done.output);
                    }
                    let committed = self
                        .log(
                            attempt,
                            job,
                            next_seq,
                            step.name,
                            JobEventKind::Succeeded {
                                output: step_done.output.clone(),
                            },
                            step_done.batch,
                            None,
                        )
                        .await;
                    match committed {
                        Ok(()) => {}
                        // Someone changed a record the step read: run the step again on fresh data.
                        Err(Stop::Store(StoreError::GenerationMismatch { .. })) => {
                            return Box::pin(
                                self.forward(attempt, kind, job, next_seq, outputs, done),
                            )
                            .await;
                        }
                        Err(e) => return Err(e),
                    }
                    outputs.insert(step.name.to_string(), step_done.output);
                    done.push(step.name);
                    if step.checkpoint {
                        self.notify_checkpoint(job.id, Checkpoint::Reached);
                    }
                }
                Err(error) => return Ok(Some((step.name, error))),
            }
        }
        Ok(None)
    }

    /// Runs `f` for `step`, retrying transient errors with backoff.
    async fn attempt(
        &self,
        step: &StepDef,
        f: super::StepFn,
        job: &JobRecord,
        outputs: &BTreeMap<String, Value>,
    ) -> Result<super::StepDone, StepError> {
        let started = std::time::Instant::now();
        let result = self.attempt_with_retries(step, f, job, outputs).await;
        self.inner
            .env
            .metrics
            .step(&job.kind, step.name, started.elapsed());
        result
    }

    async fn attempt_with_retries(
        &self,
        step: &StepDef,
        f: super::StepFn,
        job: &JobRecord,
        outputs: &BTreeMap<String, Value>,
    ) -> Result<super::StepDone, StepError> {
        let settings = &self.inner.env.settings;
        let mut delay = settings.retry_base;
        let mut attempt = 1;
        loop {
            let cx = StepCx {
                env: self.inner.env.clone(),
                job: job.clone(),
                outputs: outputs.clone(),
            };
            let outcome = tokio::select! {
                outcome = f(&cx) => outcome,
                () = self.halted() => Err(StepError::internal("the engine stopped (test crash hook)")),
            };
            match outcome {
                Ok(done) => return Ok(done),
                Err(e) if e.retryable && attempt < settings.retry_attempts => {
                    tracing::info!(job = job.id, step = step.name, attempt, error = %e.fault.message, "transient step failure; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// An undo (or `finally`) failed: the job is stuck, kept for an operator (rule 7).
    async fn undo_failed(
        &self,
        attempt: u64,
        job: &mut JobRecord,
        next_seq: &mut u64,
        step: &str,
        error: StepError,
    ) -> Result<JobState, Stop> {
        tracing::error!(job = job.id, step, error = %error.fault.message, "undo failed; job is stuck");
        self.log(
            attempt,
            job,
            next_seq,
            step,
            JobEventKind::UndoFailed {
                error: error.fault.message,
            },
            Batch::new(),
            Some(&|j: &mut JobRecord| {
                j.state = JobState::Stuck;
                j.finished = Some(Timestamp::now());
            }),
        )
        .await?;
        Ok(JobState::Stuck)
    }

    /// Undoes the succeeded steps, newest first. Returns the final state.
    #[allow(clippy::too_many_arguments)]
    async fn unwind(
        &self,
        attempt: u64,
        kind: &'static JobKind,
        job: &mut JobRecord,
        next_seq: &mut u64,
        outputs: BTreeMap<String, Value>,
        done: &[&'static str],
        undone: &HashSet<String>,
    ) -> Result<JobState, Stop> {
        for step in kind.steps.iter().rev() {
            let Some(undo) = step.undo else { continue };
            if !done.contains(&step.name) || undone.contains(step.name) {
                continue;
            }
            self.log(
                attempt,
                job,
                next_seq,
                step.name,
                JobEventKind::UndoStarted,
                Batch::new(),
                None,
            )
            .await?;
            if self.hooks().run_twice
                && let Ok(first) = self.attempt(step, undo, job, &outputs).await
            {
                self.inner.env.store.commit(&first.batch)?;
            }
            loop {
                match self.attempt(step, undo, job, &outputs).await {
                    Ok(step_done) => {
                        match self
                            .log(
                                attempt,
                                job,
                                next_seq,
                                step.name,
                                JobEventKind::UndoDone,
                                step_done.batch,
                                None,
                            )
                            .await
                        {
                            Ok(()) => break,
                            Err(Stop::Store(StoreError::GenerationMismatch { .. })) => continue,
                            Err(e) => return Err(e),
                        }
                    }
                    Err(error) => {
                        return self
                            .undo_failed(attempt, job, next_seq, step.name, error)
                            .await;
                    }
                }
            }
        }
        if let Some(finally) = kind.finally
            && !undone.contains(FINALLY)
        {
            let step = StepDef {
                name: FINALLY,
                run: finally,
                undo: None,
                remote: false,
                checkpoint: false,
            };
            match self.attempt(&step, finally, job, &outputs).await {
                Ok(done) => {
                    self.log(
                        attempt,
                        job,
                        next_seq,
                        FINALLY,
                        JobEventKind::UndoDone,
                        done.batch,
                        None,
                    )
                    .await?;
                }
                Err(error) => {
                    return self
                        .undo_failed(attempt, job, next_seq, FINALLY, error)
                        .await;
                }
            }
        }
        self.log(
            attempt,
            job,
            next_seq,
            "(job)",
            JobEventKind::UndoDone,
            Batch::new(),
            Some(&|j: &mut JobRecord| {
                j.state = JobState::Failed;
                j.finished = Some(Timestamp::now());
            }),
        )
        .await?;
        Ok(JobState::Failed)
    }
}
