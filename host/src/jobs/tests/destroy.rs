//! The job-engine suite for a destroy queued behind another job (DESTROY is exempt from the
//! task lock, spec §9.2): it outlasts that job through a crash at every log boundary.

use super::*;

/// Submits `server.destroy` behind the job holding the server's task lock, as the services do
/// for a DELETE (DESTROY is exempt from the lock, spec §9.2): the server records the queued
/// job and the job takes the lock itself.
async fn submit_queued_destroy(e: &JobEngine, server_id: u64) -> u64 {
    let store = &e.env().store;
    let before = store.server_get(server_id).expect("server");
    assert!(before.task.is_some(), "another job holds the lock");
    let job_id = store.generate_id().expect("id");
    let mut queued = before.clone();
    queued.destroy_job = Some(job_id);
    let mut batch = Batch::new();
    batch.update_server(&before, &queued);
    let params = ServerActionParams {
        server_id,
        action: "DESTROY".into(),
        hard: false,
        flavor_id: None,
        rescue_image_id: None,
        rescue_path: None,
    };
    submit_as(
        e,
        job_id,
        &SERVER_DESTROY,
        format!("server/{server_id}"),
        params,
        batch,
    )
    .await
}

/// A destroy queued behind a running create outlasts it, through a crash at every log
/// boundary of either job: the server ends deleted, its instance and quota gone, exactly as
/// without a crash, and the two jobs never act on the instance at once.
#[tokio::test]
async fn a_destroy_queued_behind_a_create_survives_a_crash_at_every_boundary() {
    async fn run(crash_at: Option<u64>) -> (Outcome, u64) {
        let w = world().await;
        w.sim.sim.write(|c| {
            c.faults.slow_next.insert("OP_INSTANCE_CREATE".into(), 0.3);
        });
        let (server_id, destroy, writes) = {
            let store = open_store(w.dir.path());
            let e = engine(&store);
            let (server_id, _) = submit_create(&w, &e).await;
            // Queued once the create has reached Ganeti (before, the API answers 409).
            for _ in 0..500 {
                if store
                    .server_get(server_id)
                    .is_ok_and(|s| s.backend_job_id.is_some())
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let destroy = submit_queued_destroy(&e, server_id).await;
            e.crash_after_writes(crash_at);
            until_idle(&e).await;
            (server_id, destroy, e.log_writes())
        };
        let store = open_store(w.dir.path());
        let e = engine(&store);
        e.recover().expect("recover");
        assert_eq!(
            finish(&e, destroy).await,
            JobState::Succeeded,
            "crash at {crash_at:?}"
        );
        until_idle(&e).await;
        (outcome(&w, &store, server_id, destroy), writes)
    }
    let (reference, writes) = run(None).await;
    assert_eq!(reference.instances, Vec::<String>::new(), "{reference:?}");
    assert_eq!(
        reference.server.as_ref().map(|s| (s.0.as_str(), s.1, s.3)),
        Some(("DESTROYED", None, true)),
        "{reference:?}"
    );
    assert_eq!((reference.vm_usage, reference.pending), (0, 0));
    assert!(writes >= 6, "the two jobs logged {writes} events");
    for k in 0..writes {
        let (o, _) = run(Some(k)).await;
        assert_eq!(o, reference, "crash after {k} log writes");
    }
}
