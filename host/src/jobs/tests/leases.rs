//! Two engines over one store stand for two replicas (the store is shared exactly as two
//! processes share PostgreSQL; on sled, as the threads of one): a replica that stalls past its
//! job's lease is fenced, another takes the job over from its log and finishes it once, and a
//! request waiting on the first replica still gets its answer.

use super::*;

fn engine_as(store: &Store, replica: &str, lease: Duration) -> JobEngine {
    let e = engine(store);
    let mut env = e.env().clone();
    env.settings.replica = replica.into();
    env.settings.lease = lease;
    JobEngine::new(env)
}

#[tokio::test]
async fn a_replica_stalled_past_its_lease_is_fenced_and_another_finishes_the_job_once() {
    let w = world().await;
    // The create takes long enough in Ganeti for the lease to lapse meanwhile.
    w.sim.sim.write(|c| {
        c.faults.slow_next.insert("OP_INSTANCE_CREATE".into(), 1.5);
    });
    let store = open_store(w.dir.path());
    let lease = Duration::from_millis(300);
    // Replica a accepts the request; its heartbeat never runs (as if stopped with SIGSTOP),
    // while its job task keeps going (as when it resumes).
    let a = engine_as(&store, "a", lease);
    let b = engine_as(&store, "b", lease);
    let server_id = store.generate_id().expect("id");
    let job_id = store.generate_id().expect("id");
    let handle = a
        .submit(
            &SERVER_CREATE,
            format!("server/{server_id}"),
            w.create_params(server_id),
            job_id,
            Batch::new(),
        )
        .await
        .expect("submit");
    assert!(b.heartbeat().expect("heartbeat") == 0, "a's lease holds");
    let mut claimed = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        claimed = b.heartbeat().expect("heartbeat");
        if claimed > 0 {
            break;
        }
    }
    assert_eq!(claimed, 1, "b takes the job over once a's lease lapsed");
    assert_eq!(finish(&b, job_id).await, JobState::Succeeded);
    // a's answer to its waiting request comes through the store.
    let answer = tokio::time::timeout(Duration::from_secs(10), handle.wait())
        .await
        .expect("a's waiter is answered");
    assert_eq!(answer, Checkpoint::Reached);
    until_idle(&a).await;
    until_idle(&b).await;
    assert_eq!(w.instances().len(), 1, "one Ganeti instance");
    let log = store.job_log(job_id).expect("log");
    let mut succeeded: Vec<&str> = log
        .iter()
        .filter(|e| matches!(e.kind, crate::store::JobEventKind::Succeeded { .. }))
        .map(|e| e.step.as_str())
        .collect();
    let all = succeeded.len();
    succeeded.sort();
    succeeded.dedup();
    assert_eq!(succeeded.len(), all, "no step succeeded twice: {log:?}");
    assert!(
        a.log_writes() < log.len() as u64,
        "a stopped writing once fenced"
    );
    assert!(store.job_leases().expect("leases").is_empty());
    let server = store.server_get(server_id).expect("server");
    assert_eq!(server.active_job, None);
}

#[tokio::test]
async fn a_restarted_replica_resumes_its_own_jobs_at_once_but_not_a_live_ones() {
    let w = world().await;
    let store = open_store(w.dir.path());
    let lease = Duration::from_secs(30);
    let a = engine_as(&store, "a", lease);
    a.crash_after_writes(Some(2));
    let (_, job_a) = submit_create(&w, &a).await;
    until_idle(&a).await;
    let b = engine_as(&store, "b", lease);
    b.crash_after_writes(Some(2));
    let (_, job_b) = submit_create(&w, &b).await;
    until_idle(&b).await;
    // A new incarnation of a: a's job resumes now (not in 30 s); b's, whose lease holds, not.
    let a2 = engine_as(&store, "a", lease);
    let resumed = a2.recover().expect("recover");
    if store.shared() {
        assert_eq!(resumed, 1);
        assert_eq!(finish(&a2, job_a).await, JobState::Succeeded);
        assert_eq!(store.job_get(job_b).expect("job").state, JobState::Running);
        let leases = store.job_leases().expect("leases");
        assert_eq!(leases.len(), 1);
        assert_eq!(leases[0].lease.owner, "b");
    } else {
        // A store nobody shares: this process resumes every unfinished job.
        assert_eq!(resumed, 2);
        assert_eq!(finish(&a2, job_a).await, JobState::Succeeded);
        assert_eq!(finish(&a2, job_b).await, JobState::Succeeded);
    }
}
