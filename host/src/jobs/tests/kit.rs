//! The one crash-test kit every job kind's suite uses (omicron's `action_failure_can_unwind`
//! and `actions_succeed_idempotently` are the model).
//!
//! A suite writes a `Scenario`: a setup, the jobs it runs one after another, and what must hold
//! after each (`outcome`, without ids, so that runs in different worlds compare). From it the
//! kit gives three properties:
//! - `crash_at_every_boundary`: a crash after every log write of a job (engine dropped, store
//!   reopened, jobs recovered) ends where a run without one ends; `older_logs_resume` does the
//!   same with the log written in the older output shapes (`older_shapes`);
//! - `fail_each_step`: each step of a job failed once (and every remote step and undo run
//!   twice) unwinds; the suite says what "unwound" means for its kind;
//! - `run_twice_matches_once`: every step and undo run twice reaches the state one run reaches.
//!
//! Each run gets a fresh world (temp store, simulator, fixture records). Test-only.

use super::*;

/// A sequence of jobs on one world.
pub(super) trait Scenario {
    /// What `setup` made that the jobs and the outcome need (ids).
    type Ids;
    /// What must hold after a job, without ids.
    type Outcome: PartialEq + std::fmt::Debug;
    /// The fewest log writes each crashed job must make (a check that the crash suite crashes
    /// at several points at all).
    const MIN_WRITES: u64 = 4;

    /// The kinds of the jobs, in the order `submit` submits them.
    fn kinds(&self) -> Vec<&'static JobKind>;
    /// The records (and earlier jobs, run to success) the scenario starts from.
    async fn setup(&self, w: &World, store: &Store, e: &JobEngine) -> Self::Ids;
    /// What job `n` needs done first, before any hook applies (stopping the server, say).
    async fn prepare(&self, _n: usize, _e: &JobEngine, _ids: &Self::Ids) {}
    /// Submits job `n`; returns its id.
    async fn submit(&self, n: usize, w: &World, e: &JobEngine, ids: &Self::Ids) -> u64;
    /// What holds once job `job` (the `n`th) finished.
    fn outcome(&self, w: &World, store: &Store, ids: &Self::Ids, job: u64) -> Self::Outcome;
}

/// How a run is disturbed.
#[derive(Clone, Copy, Debug)]
pub(super) enum Mode {
    /// Undisturbed.
    Plain,
    /// Every step and undo of every job runs twice.
    Twice,
    /// Job `job` crashes after `after` log writes (`None`: it only restarts once idle),
    /// writing its log in the older output shapes when `older`.
    Crash {
        job: usize,
        after: Option<u64>,
        older: bool,
    },
    /// Step `step` of job `job` fails (every remote step and undo running twice); the run stops
    /// after that job.
    Fail { job: usize, step: &'static str },
}

/// A scenario run to its end (or, under `Mode::Fail`, to the failed job).
pub(super) struct Ran<S: Scenario> {
    pub w: World,
    pub store: Store,
    pub ids: S::Ids,
    /// The outcome after each job that ran.
    pub outcomes: Vec<S::Outcome>,
    /// The id of the last job that ran, and how it ended.
    pub job: u64,
    pub state: JobState,
    /// The log writes of the crashed job (under `Mode::Crash`).
    pub writes: u64,
}

impl<S: Scenario> Ran<S> {
    pub fn last(&self) -> &S::Outcome {
        self.outcomes.last().expect("a job ran")
    }
}

/// Runs the scenario under `mode`. Every job but a failed one must succeed.
pub(super) async fn run<S: Scenario>(s: &S, mode: Mode) -> Ran<S> {
    let w = world().await;
    let mut store = open_store(w.dir.path());
    let mut e = engine(&store);
    let ids = s.setup(&w, &store, &e).await;
    if let Mode::Twice = mode {
        e.set_test_hooks(TestHooks {
            run_twice: true,
            ..TestHooks::default()
        });
    }
    let (mut outcomes, mut last, mut state, mut writes) = (Vec::new(), 0, JobState::Running, 0);
    for (n, kind) in s.kinds().into_iter().enumerate() {
        s.prepare(n, &e, &ids).await;
        match mode {
            Mode::Crash { job, after, older } if job == n => {
                e.crash_after_writes(after);
                if older {
                    e.set_test_hooks(TestHooks {
                        older_outputs: Some(older_shapes),
                        ..TestHooks::default()
                    });
                }
            }
            Mode::Fail { job, step } if job == n => e.set_test_hooks(TestHooks {
                fail_step: Some(step),
                run_twice: true,
                ..TestHooks::default()
            }),
            _ => {}
        }
        let job = s.submit(n, &w, &e, &ids).await;
        if matches!(mode, Mode::Crash { job, .. } if job == n) {
            (store, e, writes) = restart(&w, store, e).await;
        }
        (last, state) = (job, finish(&e, job).await);
        outcomes.push(s.outcome(&w, &store, &ids, job));
        if matches!(mode, Mode::Fail { job, .. } if job == n) {
            break;
        }
        assert_eq!(state, JobState::Succeeded, "{} under {mode:?}", kind.name);
    }
    until_idle(&e).await;
    Ran {
        w,
        store,
        ids,
        outcomes,
        job: last,
        state,
        writes,
    }
}

/// For each job in `jobs`: a crash after every one of its log writes ends with the outcomes
/// of a run without a crash. Returns those outcomes (to assert what they are).
pub(super) async fn crash_at_every_boundary<S: Scenario>(s: &S, jobs: &[usize]) -> Vec<S::Outcome> {
    let mut first = None;
    for &n in jobs {
        first.get_or_insert(crashes_end_undisturbed(s, n, false).await);
    }
    first.expect("at least one job")
}

/// Job `n` with its log written in the older output shapes resumes from every boundary to the
/// outcomes of a run in today's shapes.
pub(super) async fn older_logs_resume<S: Scenario>(s: &S, n: usize) {
    crashes_end_undisturbed(s, n, true).await;
}

/// A crash after each log write of job `n` (`older`: logged in the older output shapes) ends
/// with the outcomes of a run that only restarts; returns those.
async fn crashes_end_undisturbed<S: Scenario>(s: &S, n: usize, older: bool) -> Vec<S::Outcome> {
    let reference = undisturbed_crash_run(s, n).await;
    for k in 0..reference.writes {
        let after = Some(k);
        let crashed = run(
            s,
            Mode::Crash {
                job: n,
                after,
                older,
            },
        )
        .await;
        assert_eq!(
            crashed.outcomes, reference.outcomes,
            "crash after {k} log writes of job {n} (older shapes: {older})"
        );
    }
    reference.outcomes
}

/// A run that restarts after job `n` without crashing: the reference, and how many log
/// writes job `n` makes.
async fn undisturbed_crash_run<S: Scenario>(s: &S, n: usize) -> Ran<S> {
    let reference = run(
        s,
        Mode::Crash {
            job: n,
            after: None,
            older: false,
        },
    )
    .await;
    assert!(
        reference.writes >= S::MIN_WRITES,
        "job {n} logged {} events",
        reference.writes
    );
    reference
}

/// Fails each step of job `n` in turn (in a fresh world each time) and hands the run to
/// `check` with the step's index and name.
pub(super) async fn fail_each_step<S: Scenario>(
    s: &S,
    n: usize,
    mut check: impl FnMut(usize, &'static str, &Ran<S>),
) {
    let kind = s.kinds()[n];
    for (i, step) in kind.steps.iter().enumerate() {
        let ran = run(
            s,
            Mode::Fail {
                job: n,
                step: step.name,
            },
        )
        .await;
        check(i, step.name, &ran);
    }
}

/// Every step and undo run twice ends with the outcomes of one run. Returns the run (to
/// assert what its outcomes are).
pub(super) async fn run_twice_matches_once<S: Scenario>(s: &S) -> Ran<S> {
    let once = run(s, Mode::Plain).await;
    let twice = run(s, Mode::Twice).await;
    assert_eq!(
        twice.outcomes, once.outcomes,
        "running every step twice changed the outcome"
    );
    twice
}
