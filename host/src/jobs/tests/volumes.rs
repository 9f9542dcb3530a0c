//! The job-engine suites for volumes (`volume.attach`, `volume.detach`, `volume.delete`,
//! `volume.purge`), against real sled and the simulator: every step failed in turn (nothing
//! leaks: no disk, no charge, no lock; the volume as the job found it), every remote step and
//! undo run twice, and a crash at every log boundary ending where a run without one ends.

use std::collections::BTreeMap;

use super::*;
use crate::clock::Timestamp;
use crate::store::Volume;

const GIB: i64 = 1 << 30;

/// A volume of the world's flavor's type in the store: standalone (AVAILABLE, charged) or
/// new for a server (CREATING, to be charged by `volume.attach`).
fn insert_volume(w: &World, store: &Store, size_gb: u64, standalone: bool) -> u64 {
    let flavor = store.flavor_get(w.flavor_id).expect("flavor");
    let id = store.generate_id().expect("id");
    let now = Timestamp::now();
    let v = Volume {
        id,
        name: "v".into(),
        description: String::new(),
        user_id: "u".into(),
        project_id: w.project.clone(),
        shared_to_project: false,
        size_gb,
        volume_type_id: flavor.volume_type_id,
        disk_template: flavor.disk_template,
        delete_on_termination: true,
        source: None,
        status: if standalone { "AVAILABLE" } else { "CREATING" }.into(),
        server_id: None,
        index: None,
        backend_id: None,
        backend_job_id: None,
        initialised: false,
        quota_charged: false,
        metadata: BTreeMap::new(),
        created: now,
        updated: now,
        deleted: false,
        generation: 1,
    };
    let mut batch = Batch::new();
    batch.insert(&v);
    store.commit(&batch).expect("volume");
    id
}

/// Takes the server's lock and submits a volume job.
async fn submit_volume(
    e: &JobEngine,
    server_id: u64,
    kind: &'static JobKind,
    volume_id: u64,
    charge: bool,
) -> u64 {
    let action = match kind.name {
        "volume.attach" => "ATTACH_VOLUME",
        "volume.detach" => "DETACH_VOLUME",
        _ => "DELETE_VOLUME",
    };
    let params = VolumeJobParams {
        server_id,
        action: action.into(),
        volume_id,
        hotplug: false,
        charge,
    };
    submit_locked(e, server_id, kind, action, params).await
}

/// What a volume job leaves behind, without ids (so runs in different worlds compare).
#[derive(Clone, Debug, PartialEq)]
struct VolumeOutcome {
    job: JobState,
    status: String,
    attached: bool,
    index: Option<u32>,
    /// Whether the volume's data exists somewhere (a Ganeti job initialised it).
    initialised: bool,
    charged: bool,
    /// Whether Ganeti's instance has the disk.
    in_ganeti: bool,
    disk_usage: i64,
    disk_pending: i64,
    locked: bool,
}

fn volume_outcome(
    w: &World,
    store: &Store,
    server_id: u64,
    volume_id: u64,
    job: u64,
) -> VolumeOutcome {
    let disk = format!("snf-vol-{volume_id}");
    let in_ganeti = w.sim.sim.read(|c| {
        c.instances.values().any(|i| {
            i.disks
                .iter()
                .any(|d| d.name.as_deref() == Some(disk.as_str()))
        })
    });
    let v = store.volume_get(volume_id).expect("volume");
    let usage = store
        .quota_usages(&w.project)
        .expect("usage")
        .into_iter()
        .find(|u| u.resource == "cyclades.disk")
        .expect("disk usage");
    VolumeOutcome {
        job: store.job_get(job).expect("job").state,
        status: v.status,
        attached: v.server_id.is_some(),
        index: v.index,
        initialised: v.initialised,
        charged: v.quota_charged,
        in_ganeti,
        disk_usage: usage.usage,
        disk_pending: usage.pending_add + usage.pending_remove,
        locked: store
            .server_get(server_id)
            .expect("server")
            .active_job
            .is_some(),
    }
}

/// Stops the server: Ganeti removes disks of running instances only by hot-plugging them,
/// which the fake hypervisor cannot do.
async fn stop(e: &JobEngine, server_id: u64) {
    let job = submit_on_server(e, server_id, "server.stop", "STOP").await;
    assert_eq!(finish(e, job).await, JobState::Succeeded, "stop");
}

/// A world with a running server: `(world, store, engine, server, its disk usage)`.
async fn running_server() -> (World, Store, JobEngine, u64, i64) {
    let w = world().await;
    let store = open_store(w.dir.path());
    let e = engine(&store);
    let (server_id, job) = submit_create(&w, &e).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let root = store.volume_get(server_id).expect("root volume");
    assert_eq!((root.status.as_str(), root.index), ("IN_USE", Some(0)));
    let usage = volume_outcome(&w, &store, server_id, server_id, job).disk_usage;
    (w, store, e, server_id, usage)
}

#[tokio::test]
async fn attach_detach_attach_and_delete_run_twice_reach_the_same_state() {
    let (w, store, e, server_id, base) = running_server().await;
    e.set_test_hooks(TestHooks {
        fail_step: None,
        run_twice: true,
        ..TestHooks::default()
    });
    let vol = insert_volume(&w, &store, 3, false);
    let job = submit_volume(&e, server_id, &VOLUME_ATTACH, vol, true).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let expected = VolumeOutcome {
        job: JobState::Succeeded,
        status: "IN_USE".into(),
        attached: true,
        index: Some(1),
        initialised: true,
        charged: true,
        in_ganeti: true,
        disk_usage: base + 3 * GIB,
        disk_pending: 0,
        locked: false,
    };
    assert_eq!(volume_outcome(&w, &store, server_id, vol, job), expected);

    let job = submit_volume(&e, server_id, &VOLUME_DETACH, vol, false).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    assert_eq!(
        volume_outcome(&w, &store, server_id, vol, job),
        VolumeOutcome {
            job: JobState::Succeeded,
            status: "AVAILABLE".into(),
            attached: false,
            index: None,
            in_ganeti: false,
            ..expected
        }
    );

    let job = submit_volume(&e, server_id, &VOLUME_ATTACH, vol, false).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    assert_eq!(
        volume_outcome(&w, &store, server_id, vol, job).status,
        "IN_USE"
    );

    stop(&e, server_id).await;
    let job = submit_volume(&e, server_id, &VOLUME_DELETE, vol, false).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    assert_eq!(
        volume_outcome(&w, &store, server_id, vol, job),
        VolumeOutcome {
            job: JobState::Succeeded,
            status: "DELETED".into(),
            attached: false,
            index: None,
            initialised: true,
            charged: false,
            in_ganeti: false,
            disk_usage: base,
            disk_pending: 0,
            locked: false,
        }
    );
}

#[tokio::test]
async fn each_failed_attach_step_leaves_the_volume_as_it_was() {
    for charge in [true, false] {
        for step in VOLUME_ATTACH.steps {
            let (w, store, e, server_id, base) = running_server().await;
            let vol = insert_volume(&w, &store, 2, !charge);
            e.set_test_hooks(TestHooks {
                fail_step: Some(step.name),
                run_twice: true,
                ..TestHooks::default()
            });
            let job = submit_volume(&e, server_id, &VOLUME_ATTACH, vol, charge).await;
            assert_eq!(finish(&e, job).await, JobState::Failed, "{}", step.name);
            let o = volume_outcome(&w, &store, server_id, vol, job);
            let status = if charge { "ERROR" } else { "AVAILABLE" };
            assert_eq!(
                (o.status.as_str(), o.attached, o.in_ganeti, o.charged),
                (status, false, false, false),
                "{} charge={charge}",
                step.name
            );
            assert_eq!(
                (o.disk_usage, o.disk_pending, o.locked),
                (base, 0, false),
                "{} charge={charge}",
                step.name
            );
        }
    }
}

#[tokio::test]
async fn each_failed_delete_step_keeps_the_volume_until_ganeti_removed_the_disk() {
    for (i, step) in VOLUME_DELETE.steps.iter().enumerate() {
        let (w, store, e, server_id, base) = running_server().await;
        let vol = insert_volume(&w, &store, 2, false);
        let job = submit_volume(&e, server_id, &VOLUME_ATTACH, vol, true).await;
        assert_eq!(finish(&e, job).await, JobState::Succeeded);
        stop(&e, server_id).await;
        e.set_test_hooks(TestHooks {
            fail_step: Some(step.name),
            run_twice: true,
            ..TestHooks::default()
        });
        let job = submit_volume(&e, server_id, &VOLUME_DELETE, vol, false).await;
        let state = finish(&e, job).await;
        let o = volume_outcome(&w, &store, server_id, vol, job);
        if i >= 3 {
            // Past the point of no return (Ganeti removed the disk): stuck, lock held.
            assert_eq!(
                (state, o.in_ganeti, o.locked),
                (JobState::Stuck, false, true),
                "{}",
                step.name
            );
        } else {
            assert_eq!(state, JobState::Failed, "{}", step.name);
            assert_eq!(
                (o.status.as_str(), o.attached, o.charged, o.locked),
                ("IN_USE", true, true, false),
                "{}",
                step.name
            );
            assert_eq!(o.disk_usage, base + 2 * GIB, "{}", step.name);
            if i < 2 {
                assert!(o.in_ganeti, "nothing asked of Ganeti");
            }
        }
    }
}

/// Attach a new volume, detach it, then purge it through the same (helper) server, with a
/// crash after `crash_at` log writes of job `crash_in` (0: attach, 1: detach, 2: purge).
async fn attach_detach_purge(
    crash_in: usize,
    crash_at: Option<u64>,
    older: bool,
) -> (Vec<VolumeOutcome>, u64) {
    let (w, store, e, server_id, _) = running_server().await;
    let vol = insert_volume(&w, &store, 2, false);
    let mut outcomes = Vec::new();
    let mut writes = 0;
    let (mut store, mut e) = (store, e);
    for (n, (kind, charge)) in [
        (&VOLUME_ATTACH, true),
        (&VOLUME_DETACH, false),
        (&VOLUME_PURGE, false),
    ]
    .into_iter()
    .enumerate()
    {
        if n == 2 {
            // The helper server is a stopped one.
            stop(&e, server_id).await;
        }
        if n == crash_in {
            e.crash_after_writes(crash_at);
            if older {
                e.set_test_hooks(TestHooks {
                    older_outputs: Some(older_shapes),
                    ..TestHooks::default()
                });
            }
        }
        let job = submit_volume(&e, server_id, kind, vol, charge).await;
        if n == crash_in {
            (store, e, writes) = restart(&w, store, e).await;
        }
        assert_eq!(
            finish(&e, job).await,
            JobState::Succeeded,
            "{} crash at {crash_at:?}",
            kind.name
        );
        outcomes.push(volume_outcome(&w, &store, server_id, vol, job));
    }
    (outcomes, writes)
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_attach_detach_and_purge_changes_nothing() {
    for crash_in in [0, 1, 2] {
        let (reference, writes) = attach_detach_purge(crash_in, None, false).await;
        assert_eq!(
            reference
                .iter()
                .map(|o| o.status.as_str())
                .collect::<Vec<_>>(),
            ["IN_USE", "AVAILABLE", "DELETED"]
        );
        assert!(writes >= 4, "the job logged {writes} events");
        for k in 0..writes {
            let (o, _) = attach_detach_purge(crash_in, Some(k), false).await;
            assert_eq!(o, reference, "crash after {k} log writes of job {crash_in}");
        }
    }
}

#[tokio::test]
async fn an_attach_logged_in_the_older_output_shapes_resumes_from_every_boundary() {
    let (reference, writes) = attach_detach_purge(0, None, false).await;
    for k in 0..writes {
        let (o, _) = attach_detach_purge(0, Some(k), true).await;
        assert_eq!(
            o, reference,
            "crash after {k} log writes of an older attach log"
        );
    }
}

#[tokio::test]
async fn a_destroyed_server_takes_its_volumes_and_their_quota() {
    let (w, store, e, server_id, base) = running_server().await;
    let vol = insert_volume(&w, &store, 4, false);
    let job = submit_volume(&e, server_id, &VOLUME_ATTACH, vol, true).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let job = submit_destroy(&e, server_id).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let o = volume_outcome(&w, &store, server_id, vol, job);
    assert_eq!(
        (o.status.as_str(), o.attached, o.charged),
        ("DELETED", false, false)
    );
    let root = store.volume_get(server_id).expect("root");
    assert_eq!((root.status.as_str(), root.deleted), ("DELETED", true));
    // The server's own charge (its flavor's disk) and the extra volume's are both gone.
    let flavor = store.flavor_get(w.flavor_id).expect("flavor");
    assert_eq!(o.disk_usage, base - flavor.disk_gb as i64 * GIB);
}

/// `server.create` with one volume besides the root one (a new blank one, or an existing
/// AVAILABLE one), crashing after `crash_at` log writes: the outcome of the finished job
/// (server, quota, the volume, its disk).
async fn create_with_volume(
    existing: bool,
    crash_at: Option<u64>,
) -> ((Outcome, VolumeOutcome), u64) {
    let w = world().await;
    let store = open_store(w.dir.path());
    let e = engine(&store);
    let (server_id, volume_id, job, params) = if existing {
        create_with_existing(&w, &store)
    } else {
        let server_id = store.generate_id().expect("id");
        let volume_id = store.generate_id().expect("id");
        let mut params = w.create_params(server_id);
        params["extra_volumes"] = json!([{"id": volume_id, "size_gb": 3, "image_id": null}]);
        (
            server_id,
            volume_id,
            store.generate_id().expect("id"),
            params,
        )
    };
    e.crash_after_writes(crash_at);
    e.submit(
        &SERVER_CREATE,
        format!("server/{server_id}"),
        params,
        job,
        Batch::new(),
    )
    .await
    .expect("submit");
    let (store, e, writes) = restart(&w, store, e).await;
    assert_eq!(
        finish(&e, job).await,
        JobState::Succeeded,
        "crash at {crash_at:?}"
    );
    let o = outcome(&w, &store, server_id, job);
    let v = volume_outcome(&w, &store, server_id, volume_id, job);
    ((o, v), writes)
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_create_with_a_volume_changes_nothing() {
    let (reference, writes) = create_with_volume(false, None).await;
    let v = &reference.1;
    assert_eq!(
        (v.status.as_str(), v.index, v.charged, v.in_ganeti),
        ("IN_USE", Some(1), true, true),
        "{reference:?}"
    );
    for k in 0..writes {
        let (o, _) = create_with_volume(false, Some(k)).await;
        assert_eq!(o, reference, "crash after {k} log writes");
    }
}

#[tokio::test]
async fn each_failed_create_step_leaves_its_volumes_uncharged() {
    for step in SERVER_CREATE.steps {
        let w = world().await;
        let store = open_store(w.dir.path());
        let e = engine(&store);
        e.set_test_hooks(TestHooks {
            fail_step: Some(step.name),
            run_twice: true,
            ..TestHooks::default()
        });
        let server_id = store.generate_id().expect("id");
        let volume_id = store.generate_id().expect("id");
        let job = store.generate_id().expect("id");
        let mut params = w.create_params(server_id);
        params["extra_volumes"] = json!([{"id": volume_id, "size_gb": 3, "image_id": null}]);
        e.submit(
            &SERVER_CREATE,
            format!("server/{server_id}"),
            params,
            job,
            Batch::new(),
        )
        .await
        .expect("submit");
        assert_eq!(finish(&e, job).await, JobState::Failed, "{}", step.name);
        let in_ganeti = w
            .sim
            .sim
            .read(|c| c.instances.contains_key(&format!("snf-{server_id}")));
        assert!(!in_ganeti, "{}", step.name);
        let usage = store
            .quota_usages(&w.project)
            .expect("usage")
            .into_iter()
            .find(|u| u.resource == "cyclades.disk")
            .map_or((0, 0), |u| (u.usage, u.pending_add));
        assert_eq!(usage, (0, 0), "{}", step.name);
        if let Ok(v) = store.volume_get(volume_id) {
            assert_eq!(
                (v.status.as_str(), v.quota_charged),
                ("ERROR", false),
                "{}",
                step.name
            );
        }
    }
}

/// Params of a `server.create` with one existing (AVAILABLE, standalone) volume as disk 1.
fn create_with_existing(w: &World, store: &Store) -> (u64, u64, u64, serde_json::Value) {
    let server_id = store.generate_id().expect("id");
    let volume_id = insert_volume(w, store, 2, true);
    let job = store.generate_id().expect("id");
    let mut params = w.create_params(server_id);
    params["extra_volumes"] =
        json!([{"id": volume_id, "size_gb": 2, "image_id": null, "existing": true}]);
    (server_id, volume_id, job, params)
}

/// A crash at every log boundary of a create that attaches an existing volume ends where a
/// run without one ends: the volume IN_USE as disk 1, still charged once.
#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_create_with_an_existing_volume_changes_nothing() {
    let run = |crash_at| create_with_volume(true, crash_at);
    let (reference, writes) = run(None).await;
    let v = &reference.1;
    assert_eq!(
        (
            v.status.as_str(),
            v.index,
            v.attached,
            v.in_ganeti,
            v.initialised
        ),
        ("IN_USE", Some(1), true, true, true),
        "{reference:?}"
    );
    for k in 0..writes {
        assert_eq!(
            run(Some(k)).await.0,
            reference,
            "crash after {k} log writes"
        );
    }
}

/// Each failed step of such a create gives the existing volume back as it was (AVAILABLE,
/// unattached, charged once); once Ganeti held it, it stays in Ganeti as a detached disk.
#[tokio::test]
async fn each_failed_create_step_gives_an_existing_volume_back() {
    for step in SERVER_CREATE.steps {
        let w = world().await;
        let store = open_store(w.dir.path());
        let e = engine(&store);
        e.set_test_hooks(TestHooks {
            fail_step: Some(step.name),
            run_twice: true,
            ..TestHooks::default()
        });
        let (server_id, volume_id, job, params) = create_with_existing(&w, &store);
        e.submit(
            &SERVER_CREATE,
            format!("server/{server_id}"),
            params,
            job,
            Batch::new(),
        )
        .await
        .expect("submit");
        assert_eq!(finish(&e, job).await, JobState::Failed, "{}", step.name);
        let v = store.volume_get(volume_id).expect("volume");
        assert_eq!(
            (v.status.as_str(), v.server_id, v.index, v.deleted),
            ("AVAILABLE", None, None, false),
            "{}",
            step.name
        );
        let detached = w.sim.sim.read(|c| {
            c.detached_disks
                .contains_key(&format!("snf-vol-{volume_id}"))
        });
        assert_eq!(v.initialised, detached, "{}", step.name);
        let in_instance = w.sim.sim.read(|c| {
            c.instances.values().any(|i| {
                i.disks
                    .iter()
                    .any(|d| d.name.as_deref() == Some(&*format!("snf-vol-{volume_id}")))
            })
        });
        assert!(!in_instance, "{}", step.name);
    }
}

/// A server whose attached volume is kept (`delete_on_termination` false), destroyed with a
/// crash after `crash_at` log writes: the volume ends AVAILABLE, charged, detached in Ganeti.
async fn destroy_keeping(crash_at: Option<u64>) -> (VolumeOutcome, bool, u64) {
    let (w, store, e, server_id, _) = running_server().await;
    let vol = insert_volume(&w, &store, 2, false);
    let job = submit_volume(&e, server_id, &VOLUME_ATTACH, vol, true).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let mut keep = store.volume_get(vol).expect("volume");
    keep.delete_on_termination = false;
    let mut batch = Batch::new();
    batch.update(&keep);
    store.commit(&batch).expect("keep");
    e.crash_after_writes(crash_at);
    let job = submit_destroy(&e, server_id).await;
    let (store, e, writes) = restart(&w, store, e).await;
    assert_eq!(
        finish(&e, job).await,
        JobState::Succeeded,
        "crash at {crash_at:?}"
    );
    let detached = w
        .sim
        .sim
        .read(|c| c.detached_disks.contains_key(&format!("snf-vol-{vol}")));
    (
        volume_outcome(&w, &store, server_id, vol, job),
        detached,
        writes,
    )
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_destroy_keeping_a_volume_changes_nothing() {
    let (reference, detached, writes) = destroy_keeping(None).await;
    assert_eq!(
        (
            reference.status.as_str(),
            reference.attached,
            reference.charged,
            detached
        ),
        ("AVAILABLE", false, true, true),
        "{reference:?}"
    );
    for k in 0..writes {
        let (o, d, _) = destroy_keeping(Some(k)).await;
        assert_eq!(
            (o, d),
            (reference.clone(), true),
            "crash after {k} log writes"
        );
    }
}

/// A destroy failing before Ganeti removed the instance attaches the kept volume back.
#[tokio::test]
async fn a_destroy_failing_after_detaching_a_kept_volume_attaches_it_back() {
    let (w, store, e, server_id, _) = running_server().await;
    let vol = insert_volume(&w, &store, 2, false);
    let job = submit_volume(&e, server_id, &VOLUME_ATTACH, vol, true).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let mut keep = store.volume_get(vol).expect("volume");
    keep.delete_on_termination = false;
    let mut batch = Batch::new();
    batch.update(&keep);
    store.commit(&batch).expect("keep");
    e.set_test_hooks(TestHooks {
        fail_step: Some("ganeti_remove"),
        run_twice: true,
        ..TestHooks::default()
    });
    let job = submit_destroy(&e, server_id).await;
    assert_eq!(finish(&e, job).await, JobState::Failed);
    let o = volume_outcome(&w, &store, server_id, vol, job);
    assert_eq!(
        (o.status.as_str(), o.attached, o.in_ganeti, o.locked),
        ("IN_USE", true, true, false)
    );
    assert_eq!(
        store.server_get(server_id).expect("server").operstate,
        "STARTED"
    );
}
