//! Leases on a real database (sled in a temp dir, or PostgreSQL when the run asks for it):
//! fencing by (owner, attempt), claims that never hand one lease out twice, the leader lease.

use std::time::Duration;

use super::super::*;
use crate::clock::Timestamp;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = testing::open(dir.path()).expect("open");
    (dir, store)
}

fn job(id: u64) -> JobRecord {
    JobRecord {
        id,
        kind: "server.create".into(),
        target: format!("server/{id}"),
        params: serde_json::Value::Null,
        state: JobState::Running,
        fault: None,
        failed_step: None,
        created: Timestamp::now(),
        updated: Timestamp::now(),
        finished: None,
        generation: 1,
    }
}

fn event(seq: u64) -> JobEvent {
    JobEvent {
        seq,
        at: Timestamp::now(),
        step: "allocate_backend".into(),
        kind: JobEventKind::Started,
    }
}

/// Submits job `id` leased to `owner` for `ttl`.
fn submit(store: &Store, id: u64, owner: &str, ttl: Duration) {
    let mut batch = Batch::new();
    batch.insert_job(&job(id));
    batch.insert_job_lease(id, owner, store.now_ms() + ttl.as_millis() as i64);
    store.commit(&batch).expect("submit");
}

fn fenced_write(
    store: &Store,
    id: u64,
    seq: u64,
    owner: &str,
    attempt: u64,
) -> Result<(), StoreError> {
    let mut batch = Batch::new();
    batch.append_event(id, &event(seq));
    batch.fence_job(id, owner, attempt);
    store.commit(&batch)
}

#[test]
fn a_replica_that_lost_a_jobs_lease_can_no_longer_write_to_it() {
    let (_dir, store) = temp_store();
    // TTLs of a second: a loaded CI machine must not lapse a lease between two statements.
    submit(&store, 7, "a", Duration::from_secs(1));
    fenced_write(&store, 7, 0, "a", 1).expect("the holder writes");
    // Not lapsed yet: nobody else may claim it.
    assert!(
        store
            .job_leases_claim("b", Duration::from_secs(10), 10, false)
            .unwrap()
            .is_empty()
    );
    std::thread::sleep(Duration::from_millis(1300));
    let claimed = store
        .job_leases_claim("b", Duration::from_secs(10), 10, false)
        .unwrap();
    assert_eq!(claimed, vec![(7, 2)]);
    let err = fenced_write(&store, 7, 1, "a", 1).expect_err("the old holder is fenced");
    assert!(matches!(err, StoreError::LeaseLost { job: 7, .. }), "{err}");
    assert!(err.to_string().contains("b (attempt 2)"), "{err}");
    // Nothing of the refused batch landed; the new holder writes.
    assert_eq!(store.job_log(7).unwrap().len(), 1);
    fenced_write(&store, 7, 1, "b", 2).expect("the new holder writes");
    // The same replica's previous attempt is fenced too (a restarted incarnation claims anew).
    let again = store
        .job_leases_claim("b", Duration::from_secs(10), 10, true)
        .unwrap();
    assert_eq!(again, vec![(7, 3)]);
    assert!(fenced_write(&store, 7, 2, "b", 2).is_err());
    // Renewal keeps only the holder's leases alive.
    assert_eq!(
        store
            .job_leases_renew("b", Duration::from_secs(10))
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .job_leases_renew("a", Duration::from_secs(10))
            .unwrap(),
        0
    );
    let leases = store.job_leases().unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(
        (leases[0].lease.owner.as_str(), leases[0].lease.attempt),
        ("b", 3)
    );
}

#[test]
fn a_finished_jobs_lease_goes_with_its_last_event() {
    let (_dir, store) = temp_store();
    submit(&store, 9, "a", Duration::from_secs(10));
    let mut done = job(9);
    done.state = JobState::Succeeded;
    let mut batch = Batch::new();
    batch.append_event(9, &event(0));
    batch.fence_job(9, "a", 1);
    batch.update_job(&done);
    batch.remove_job_lease(9);
    store.commit(&batch).expect("finish");
    assert!(store.job_leases().unwrap().is_empty());
}

/// Replicas claiming at once (threads here): every lapsed lease is taken exactly once.
#[test]
fn concurrent_claims_hand_each_lapsed_lease_out_once() {
    let (_dir, store) = temp_store();
    for id in 1..=40 {
        submit(&store, id, "dead", Duration::ZERO);
    }
    std::thread::sleep(Duration::from_millis(5));
    let taken: Vec<Vec<(u64, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|r| {
                let store = &store;
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for _ in 0..10 {
                        mine.extend(
                            store
                                .job_leases_claim(
                                    &format!("r{r}"),
                                    Duration::from_secs(30),
                                    3,
                                    false,
                                )
                                .unwrap(),
                        );
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ids: Vec<u64> = taken.iter().flatten().map(|(id, _)| *id).collect();
    ids.sort();
    assert_eq!(ids, (1..=40).collect::<Vec<_>>(), "each lease claimed once");
    assert!(taken.iter().flatten().all(|(_, attempt)| *attempt == 2));
}

#[test]
fn one_replica_leads_until_its_lease_lapses() {
    let (_dir, store) = temp_store();
    let ttl = Duration::from_secs(1);
    assert!(store.leader_acquire("reconciler", "a", ttl).unwrap());
    assert!(
        store.leader_acquire("reconciler", "a", ttl).unwrap(),
        "renewed"
    );
    let b_takes = store.leader_acquire("reconciler", "b", ttl).unwrap();
    if store.shared() {
        assert!(!b_takes, "a leads while its lease holds");
        std::thread::sleep(Duration::from_millis(1300));
        assert!(
            store.leader_acquire("reconciler", "b", ttl).unwrap(),
            "taken over"
        );
        assert!(
            !store.leader_acquire("reconciler", "a", ttl).unwrap(),
            "a lost it"
        );
        assert_eq!(store.leader("reconciler").unwrap().unwrap().owner, "b");
        store.leader_release("reconciler", "b").unwrap();
        assert!(
            store.leader_acquire("reconciler", "a", ttl).unwrap(),
            "released"
        );
    } else {
        // A store nobody shares: this process always leads.
        assert!(b_takes);
    }
}

#[test]
fn the_replica_registry_keeps_each_replicas_last_heartbeat() {
    let (_dir, store) = temp_store();
    let mut r = ReplicaRecord {
        id: "r1".into(),
        address: "http://127.0.0.1:1".into(),
        version: "0".into(),
        incarnation: "x".into(),
        started: Timestamp::now(),
        heartbeat: store.now_ms(),
        keys: String::new(),
    };
    store.replica_put(&r).unwrap();
    r.heartbeat += 5;
    store.replica_put(&r).unwrap();
    assert_eq!(store.replica_list().unwrap(), vec![r.clone()]);
    assert_eq!(store.replica_get("r1").unwrap(), Some(r));
    assert_eq!(store.replica_get("r2").unwrap(), None);
}
