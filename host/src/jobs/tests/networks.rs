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
    e.submit(
        kind,
        format!("network/{network_id}"),
        serde_json::to_value(params).expect("params"),
        job_id,
        lock,
    )
    .await
    .expect("submit");
    job_id
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

#[tokio::test]
async fn ensure_and_destroy_run_twice_reach_the_same_state() {
    let w = world().await;
    let store = open_store(w.dir.path());
    let e = engine(&store);
    e.set_test_hooks(TestHooks {
        fail_step: None,
        run_twice: true,
        ..TestHooks::default()
    });
    let network_id = private_network(&store);
    let job = submit_network(&e, &w, network_id, &NETWORK_ENSURE).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let o = net_outcome(&w, &store, network_id, job);
    assert_eq!(
        (o.record, o.in_ganeti),
        (
            (false, "ACTIVE".into(), None, false, Some("ACTIVE".into())),
            Some(1)
        )
    );
    let job = submit_network(&e, &w, network_id, &NETWORK_DESTROY).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let o = net_outcome(&w, &store, network_id, job);
    assert_eq!(o.in_ganeti, None, "gone from Ganeti");
    assert!(o.record.0, "deleted: {o:?}");
}

#[tokio::test]
async fn each_failed_network_step_releases_the_lock_and_keeps_a_live_network() {
    for kind in [&NETWORK_ENSURE, &NETWORK_DESTROY] {
        for step in kind.steps {
            let w = world().await;
            let store = open_store(w.dir.path());
            let e = engine(&store);
            let network_id = private_network(&store);
            if kind.name == "network.destroy" {
                let job = submit_network(&e, &w, network_id, &NETWORK_ENSURE).await;
                assert_eq!(finish(&e, job).await, JobState::Succeeded);
            }
            e.set_test_hooks(TestHooks {
                fail_step: Some(step.name),
                run_twice: true,
                ..TestHooks::default()
            });
            let job = submit_network(&e, &w, network_id, kind).await;
            assert_eq!(
                finish(&e, job).await,
                JobState::Failed,
                "{} {}",
                kind.name,
                step.name
            );
            let o = net_outcome(&w, &store, network_id, job);
            let (deleted, state, action, locked, _) = o.record;
            if step.name == "accept_quota" {
                // The deletion committed with `finalize`: it stands, and `finally` settles
                // the release it issued (accepted, since the change landed).
                assert_eq!((deleted, locked), (true, false), "{}", step.name);
                let release = store
                    .commission_find_by_name(&format!("job-{job}"))
                    .expect("lookup")
                    .expect("commission");
                assert_eq!(release.state, CommissionState::Accepted);
                continue;
            }
            assert_eq!(
                (deleted, state.as_str(), action, locked),
                (false, "ACTIVE", None, false),
                "{} {}",
                kind.name,
                step.name
            );
            // Nothing released for a network that stays.
            if let Some(c) = store
                .commission_find_by_name(&format!("job-{job}"))
                .expect("lookup")
            {
                assert_eq!(c.state, CommissionState::Rejected, "{}", step.name);
            }
        }
    }
}

/// Ensure, then destroy, with a crash after `crash_at` log writes of job `crash_in`.
async fn ensure_then_destroy(crash_in: usize, crash_at: Option<u64>) -> (Vec<NetOutcome>, u64) {
    let w = world().await;
    let mut store = open_store(w.dir.path());
    let mut e = engine(&store);
    let network_id = private_network(&store);
    let mut outcomes = Vec::new();
    let mut writes = 0;
    for (n, kind) in [&NETWORK_ENSURE, &NETWORK_DESTROY].into_iter().enumerate() {
        if n == crash_in {
            e.crash_after_writes(crash_at);
        }
        let job = submit_network(&e, &w, network_id, kind).await;
        if n == crash_in {
            (store, e, writes) = restart(&w, store, e).await;
        }
        assert_eq!(
            finish(&e, job).await,
            JobState::Succeeded,
            "{} crash at {crash_at:?}",
            kind.name
        );
        outcomes.push(net_outcome(&w, &store, network_id, job));
    }
    (outcomes, writes)
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_ensure_and_destroy_changes_nothing() {
    for crash_in in [0, 1] {
        let (reference, writes) = ensure_then_destroy(crash_in, None).await;
        assert!(writes >= 3, "the job logged {writes} events");
        for k in 0..writes {
            let (o, _) = ensure_then_destroy(crash_in, Some(k)).await;
            assert_eq!(o, reference, "crash after {k} log writes of job {crash_in}");
        }
    }
}

/// Synnefo turns Ganeti's IP conflict check on for public networks with IPv4 (checklist H91),
/// and only for them.
#[test]
fn public_ipv4_networks_are_created_with_conflicts_check() {
    let mut n = super::nics::network_record(7);
    assert!(!crate::jobs::network_ops::conflicts_check(&n), "private");
    n.public = true;
    assert!(crate::jobs::network_ops::conflicts_check(&n), "public IPv4");
    n.subnets.clear();
    assert!(
        !crate::jobs::network_ops::conflicts_check(&n),
        "public without IPv4"
    );
}
