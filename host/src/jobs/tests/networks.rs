//! The job-engine suites for `network.ensure` and `network.destroy`, against real sled and the
//! simulator: every step failed in turn (the lock always goes, a failed destroy leaves a live
//! network), every remote step and undo run twice, and a crash at every log boundary of an
//! ensure followed by a destroy ending where a run without one ends.

use super::nics::private_network;
use super::*;

/// Takes the network's lock (and DESTROY) as the service does, and submits `kind`.
async fn submit_network(e: &JobEngine, w: &World, network_id: u64, kind: &'static JobKind) -> u64 {
    let store = &e.env().store;
    let job_id = store.generate_id().expect("id");
    let n = store.network_get(network_id).expect("network");
    let mut locked = n.clone();
    locked.active_job = Some(job_id);
    if kind.name == "network.destroy" {
        locked.action = Some("DESTROY".into());
    }
    let mut lock = Batch::new();
    lock.update(&locked);
    let params = NetworkJobParams {
        network_id,
        backend_ids: vec![w.backend_id],
    };
    submit_as(
        e,
        job_id,
        kind,
        format!("network/{network_id}"),
        params,
        lock,
    )
    .await
}

/// What a network job leaves behind, without ids.
#[derive(Debug, PartialEq)]
struct NetOutcome {
    job: JobState,
    /// deleted, state, action, locked, presence on the backend.
    record: (bool, String, Option<String>, bool, Option<String>),
    /// Whether Ganeti has the network, and how many node groups it is connected to.
    in_ganeti: Option<usize>,
}

fn net_outcome(w: &World, store: &Store, network_id: u64, job: u64) -> NetOutcome {
    let n = store.network_get(network_id).expect("network");
    let name = n.ganeti_name();
    NetOutcome {
        job: store.job_get(job).expect("job").state,
        record: (
            n.deleted,
            n.state.clone(),
            n.action.clone(),
            n.active_job.is_some(),
            n.backends.get(&w.backend_id).map(|b| b.state.clone()),
        ),
        in_ganeti: w
            .sim
            .sim
            .read(|c| c.networks.get(&name).map(|g| g.groups.len())),
    }
}

/// The network suites' scenario: a private network (the setup), then the jobs `kinds` on it.
struct NetworkJobs(&'static [&'static JobKind]);

impl kit::Scenario for NetworkJobs {
    type Ids = u64;
    type Outcome = NetOutcome;
    const MIN_WRITES: u64 = 3;

    fn kinds(&self) -> Vec<&'static JobKind> {
        self.0.to_vec()
    }

    async fn setup(&self, _: &World, store: &Store, _: &JobEngine) -> u64 {
        private_network(store)
    }

    async fn submit(&self, n: usize, w: &World, e: &JobEngine, network_id: &u64) -> u64 {
        submit_network(e, w, *network_id, self.0[n]).await
    }

    fn outcome(&self, w: &World, store: &Store, network_id: &u64, job: u64) -> NetOutcome {
        net_outcome(w, store, *network_id, job)
    }
}

const ENSURE_THEN_DESTROY: NetworkJobs = NetworkJobs(&[&NETWORK_ENSURE, &NETWORK_DESTROY]);

#[tokio::test]
async fn ensure_and_destroy_run_twice_reach_the_same_state() {
    let ran = kit::run_twice_matches_once(&ENSURE_THEN_DESTROY).await;
    let o = &ran.outcomes[0];
    assert_eq!(
        (o.record.clone(), o.in_ganeti),
        (
            (false, "ACTIVE".into(), None, false, Some("ACTIVE".into())),
            Some(1)
        )
    );
    let o = ran.last();
    assert_eq!(o.in_ganeti, None, "gone from Ganeti");
    assert!(o.record.0, "deleted: {o:?}");
}

#[tokio::test]
async fn each_failed_network_step_releases_the_lock_and_keeps_a_live_network() {
    const ENSURE: NetworkJobs = NetworkJobs(&[&NETWORK_ENSURE]);
    for (scenario, n) in [(&ENSURE, 0), (&ENSURE_THEN_DESTROY, 1)] {
        let kind = scenario.0[n].name;
        kit::fail_each_step(scenario, n, |_, step, ran| {
            assert_eq!(ran.state, JobState::Failed, "{kind} {step}");
            let (deleted, state, action, locked, _) = ran.last().record.clone();
            let commission = ran
                .store
                .commission_find_by_name(&format!("job-{}", ran.job))
                .expect("lookup");
            if step == "accept_quota" {
                // The deletion committed with `finalize`: it stands, and `finally` settles
                // the release it issued (accepted, since the change landed).
                assert_eq!((deleted, locked), (true, false), "{step}");
                let release = commission.expect("commission");
                assert_eq!(release.state, CommissionState::Accepted);
                return;
            }
            assert_eq!(
                (deleted, state.as_str(), action, locked),
                (false, "ACTIVE", None, false),
                "{kind} {step}"
            );
            // Nothing released for a network that stays.
            if let Some(c) = commission {
                assert_eq!(c.state, CommissionState::Rejected, "{step}");
            }
        })
        .await;
    }
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_ensure_and_destroy_changes_nothing() {
    kit::crash_at_every_boundary(&ENSURE_THEN_DESTROY, &[0, 1]).await;
}

/// Synnefo turns Ganeti's IP conflict check on for public networks with IPv4 (checklist H91),
/// and only for them.
#[test]
fn public_ipv4_networks_are_created_with_conflicts_check() {
    let mut n = super::nics::network_record(7);
    assert!(
        !crate::jobs::network_presence::conflicts_check(&n),
        "private"
    );
    n.public = true;
    assert!(
        crate::jobs::network_presence::conflicts_check(&n),
        "public IPv4"
    );
    n.subnets.clear();
    assert!(
        !crate::jobs::network_presence::conflicts_check(&n),
        "public without IPv4"
    );
}
