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
    // No usage row yet: nothing was ever charged to the project.
    let (disk_usage, disk_pending) = store
        .quota_usages(&w.project)
        .expect("usage")
        .into_iter()
        .find(|u| u.resource == "cyclades.disk")
        .map_or((0, 0), |u| (u.usage, u.pending_add + u.pending_remove));
    VolumeOutcome {
        job: store.job_get(job).expect("job").state,
        status: v.status,
        attached: v.server_id.is_some(),
        index: v.index,
        initialised: v.initialised,
        charged: v.quota_charged,
        in_ganeti,
        disk_usage,
        disk_pending,
        // (A create that failed before recording its server has none.)
        locked: store
            .server_get(server_id)
            .is_ok_and(|s| s.active_job.is_some()),
    }
}

/// Stops the server: Ganeti removes disks of running instances only by hot-plugging them,
/// which the fake hypervisor cannot do.
async fn stop(e: &JobEngine, server_id: u64) {
    let job = submit_on_server(e, server_id, "server.stop", "STOP").await;
    assert_eq!(finish(e, job).await, JobState::Succeeded, "stop");
}

/// The volume suites' scenario: a running server and one volume of `size_gb` (standalone:
/// AVAILABLE and charged; else CREATING, for `volume.attach` to charge), then the jobs on it:
/// (kind, whether the job charges the volume, whether the server is stopped first).
struct VolumeJobs {
    size_gb: u64,
    standalone: bool,
    jobs: &'static [(&'static JobKind, bool, bool)],
}

/// What the volume jobs work on: the server, its disk usage before the volume, the volume.
struct VolumeIds {
    server: u64,
    base: i64,
    volume: u64,
}

impl kit::Scenario for VolumeJobs {
    type Ids = VolumeIds;
    type Outcome = VolumeOutcome;

    fn kinds(&self) -> Vec<&'static JobKind> {
        self.jobs.iter().map(|j| j.0).collect()
    }

    async fn setup(&self, w: &World, store: &Store, e: &JobEngine) -> VolumeIds {
        let (server, base) = running_server(w, store, e).await;
        VolumeIds {
            server,
            base,
            volume: insert_volume(w, store, self.size_gb, self.standalone),
        }
    }

    async fn prepare(&self, n: usize, e: &JobEngine, ids: &VolumeIds) {
        if self.jobs[n].2 {
            stop(e, ids.server).await;
        }
    }

    async fn submit(&self, n: usize, _: &World, e: &JobEngine, ids: &VolumeIds) -> u64 {
        let (kind, charge, _) = self.jobs[n];
        submit_volume(e, ids.server, kind, ids.volume, charge).await
    }

    fn outcome(&self, w: &World, store: &Store, ids: &VolumeIds, job: u64) -> VolumeOutcome {
        volume_outcome(w, store, ids.server, ids.volume, job)
    }
}

/// Creates a server and waits for it; returns it and its disk usage.
async fn running_server(w: &World, store: &Store, e: &JobEngine) -> (u64, i64) {
    let (server_id, job) = submit_create(w, e).await;
    assert_eq!(finish(e, job).await, JobState::Succeeded);
    let root = store.volume_get(server_id).expect("root volume");
    assert_eq!((root.status.as_str(), root.index), ("IN_USE", Some(0)));
    let usage = volume_outcome(w, store, server_id, server_id, job).disk_usage;
    (server_id, usage)
}

#[tokio::test]
async fn attach_detach_attach_and_delete_run_twice_reach_the_same_state() {
    const LIFECYCLE: VolumeJobs = VolumeJobs {
        size_gb: 3,
        standalone: false,
        jobs: &[
            (&VOLUME_ATTACH, true, false),
            (&VOLUME_DETACH, false, false),
            (&VOLUME_ATTACH, false, false),
            (&VOLUME_DELETE, false, true),
        ],
    };
    let ran = kit::run_twice_matches_once(&LIFECYCLE).await;
    let base = ran.ids.base;
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
    assert_eq!(ran.outcomes[0], expected);
    assert_eq!(
        ran.outcomes[1],
        VolumeOutcome {
            job: JobState::Succeeded,
            status: "AVAILABLE".into(),
            attached: false,
            index: None,
            in_ganeti: false,
            ..expected
        }
    );
    assert_eq!(ran.outcomes[2].status, "IN_USE");
    assert_eq!(
        ran.outcomes[3],
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
    const CHARGING: &[(&JobKind, bool, bool)] = &[(&VOLUME_ATTACH, true, false)];
    const NOT_CHARGING: &[(&JobKind, bool, bool)] = &[(&VOLUME_ATTACH, false, false)];
    for (charge, attach) in [(true, CHARGING), (false, NOT_CHARGING)] {
        let scenario = VolumeJobs {
            size_gb: 2,
            standalone: !charge,
            jobs: attach,
        };
        kit::fail_each_step(&scenario, 0, |_, step, ran| {
            assert_eq!(ran.state, JobState::Failed, "{step}");
            let o = ran.last();
            let status = if charge { "ERROR" } else { "AVAILABLE" };
            assert_eq!(
                (o.status.as_str(), o.attached, o.in_ganeti, o.charged),
                (status, false, false, false),
                "{step} charge={charge}"
            );
            assert_eq!(
                (o.disk_usage, o.disk_pending, o.locked),
                (ran.ids.base, 0, false),
                "{step} charge={charge}"
            );
        })
        .await;
    }
}

#[tokio::test]
async fn each_failed_delete_step_keeps_the_volume_until_ganeti_removed_the_disk() {
    const ATTACH_THEN_DELETE: VolumeJobs = VolumeJobs {
        size_gb: 2,
        standalone: false,
        jobs: &[(&VOLUME_ATTACH, true, false), (&VOLUME_DELETE, false, true)],
    };
    kit::fail_each_step(&ATTACH_THEN_DELETE, 1, |i, step, ran| {
        let o = ran.last();
        if i >= 3 {
            // Past the point of no return (Ganeti removed the disk): stuck, lock held.
            assert_eq!(
                (ran.state, o.in_ganeti, o.locked),
                (JobState::Stuck, false, true),
                "{step}"
            );
        } else {
            assert_eq!(ran.state, JobState::Failed, "{step}");
            assert_eq!(
                (o.status.as_str(), o.attached, o.charged, o.locked),
                ("IN_USE", true, true, false),
                "{step}"
            );
            assert_eq!(o.disk_usage, ran.ids.base + 2 * GIB, "{step}");
            if i < 2 {
                assert!(o.in_ganeti, "nothing asked of Ganeti");
            }
        }
    })
    .await;
}

/// Attach a new volume, detach it, then purge it through the same (helper, stopped) server.
const ATTACH_DETACH_PURGE: VolumeJobs = VolumeJobs {
    size_gb: 2,
    standalone: false,
    jobs: &[
        (&VOLUME_ATTACH, true, false),
        (&VOLUME_DETACH, false, false),
        (&VOLUME_PURGE, false, true),
    ],
};

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_attach_detach_and_purge_changes_nothing() {
    let reference = kit::crash_at_every_boundary(&ATTACH_DETACH_PURGE, &[0, 1, 2]).await;
    assert_eq!(
        reference
            .iter()
            .map(|o| o.status.as_str())
            .collect::<Vec<_>>(),
        ["IN_USE", "AVAILABLE", "DELETED"]
    );
}

#[tokio::test]
async fn an_attach_logged_in_the_older_output_shapes_resumes_from_every_boundary() {
    kit::older_logs_resume(&ATTACH_DETACH_PURGE, 0).await;
}

#[tokio::test]
async fn a_destroyed_server_takes_its_volumes_and_their_quota() {
    let w = world().await;
    let store = open_store(w.dir.path());
    let e = engine(&store);
    let (server_id, base) = running_server(&w, &store, &e).await;
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

/// `server.create` with one volume besides the root one: a new blank one of 3 GiB, or (with
/// `existing`) an AVAILABLE standalone one of 2 GiB made in the setup. The outcome is the
/// server's and the volume's (if the job got as far as recording it).
struct CreateWithVolume {
    existing: bool,
}

impl kit::Scenario for CreateWithVolume {
    type Ids = VolumeIds;
    type Outcome = (Outcome, Option<VolumeOutcome>);

    fn kinds(&self) -> Vec<&'static JobKind> {
        vec![&SERVER_CREATE]
    }

    async fn setup(&self, w: &World, store: &Store, _: &JobEngine) -> VolumeIds {
        let server = store.generate_id().expect("id");
        let volume = if self.existing {
            insert_volume(w, store, 2, true)
        } else {
            store.generate_id().expect("id")
        };
        VolumeIds {
            server,
            base: 0,
            volume,
        }
    }

    async fn submit(&self, _: usize, w: &World, e: &JobEngine, ids: &VolumeIds) -> u64 {
        let job = e.env().store.generate_id().expect("id");
        let mut params = w.create_params(ids.server);
        params["extra_volumes"] = if self.existing {
            json!([{"id": ids.volume, "size_gb": 2, "image_id": null, "existing": true}])
        } else {
            json!([{"id": ids.volume, "size_gb": 3, "image_id": null}])
        };
        let target = format!("server/{}", ids.server);
        submit_as(e, job, &SERVER_CREATE, target, params, Batch::new()).await
    }

    fn outcome(&self, w: &World, store: &Store, ids: &VolumeIds, job: u64) -> Self::Outcome {
        let volume = store
            .volume_get(ids.volume)
            .is_ok()
            .then(|| volume_outcome(w, store, ids.server, ids.volume, job));
        (outcome(w, store, ids.server, job), volume)
    }
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_create_with_a_volume_changes_nothing() {
    let reference = kit::crash_at_every_boundary(&CreateWithVolume { existing: false }, &[0]).await;
    let v = reference[0].1.as_ref().expect("the volume");
    assert_eq!(
        (v.status.as_str(), v.index, v.charged, v.in_ganeti),
        ("IN_USE", Some(1), true, true),
        "{reference:?}"
    );
}

#[tokio::test]
async fn each_failed_create_step_leaves_its_volumes_uncharged() {
    kit::fail_each_step(&CreateWithVolume { existing: false }, 0, |_, step, ran| {
        assert_eq!(ran.state, JobState::Failed, "{step}");
        let server_id = ran.ids.server;
        let in_ganeti = ran
            .w
            .sim
            .sim
            .read(|c| c.instances.contains_key(&format!("snf-{server_id}")));
        assert!(!in_ganeti, "{step}");
        let usage = ran
            .store
            .quota_usages(&ran.w.project)
            .expect("usage")
            .into_iter()
            .find(|u| u.resource == "cyclades.disk")
            .map_or((0, 0), |u| (u.usage, u.pending_add));
        assert_eq!(usage, (0, 0), "{step}");
        if let Ok(v) = ran.store.volume_get(ran.ids.volume) {
            assert_eq!(
                (v.status.as_str(), v.quota_charged),
                ("ERROR", false),
                "{step}"
            );
        }
    })
    .await;
}

/// A crash at every log boundary of a create that attaches an existing volume ends where a
/// run without one ends: the volume IN_USE as disk 1, still charged once.
#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_create_with_an_existing_volume_changes_nothing() {
    let reference = kit::crash_at_every_boundary(&CreateWithVolume { existing: true }, &[0]).await;
    let v = reference[0].1.as_ref().expect("the volume");
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
}

/// Each failed step of such a create gives the existing volume back as it was (AVAILABLE,
/// unattached, charged once); once Ganeti held it, it stays in Ganeti as a detached disk.
#[tokio::test]
async fn each_failed_create_step_gives_an_existing_volume_back() {
    kit::fail_each_step(&CreateWithVolume { existing: true }, 0, |_, step, ran| {
        assert_eq!(ran.state, JobState::Failed, "{step}");
        let volume_id = ran.ids.volume;
        let v = ran.store.volume_get(volume_id).expect("volume");
        assert_eq!(
            (v.status.as_str(), v.server_id, v.index, v.deleted),
            ("AVAILABLE", None, None, false),
            "{step}"
        );
        let disk = format!("snf-vol-{volume_id}");
        let detached = ran.w.sim.sim.read(|c| c.detached_disks.contains_key(&disk));
        assert_eq!(v.initialised, detached, "{step}");
        let in_instance = ran.w.sim.sim.read(|c| {
            c.instances
                .values()
                .any(|i| i.disks.iter().any(|d| d.name.as_deref() == Some(&*disk)))
        });
        assert!(!in_instance, "{step}");
    })
    .await;
}

/// A running server with an attached 2 GiB volume it keeps (`delete_on_termination` false),
/// then `server.destroy`: the volume's outcome, and whether Ganeti holds it as a detached disk.
struct DestroyKeeping;

impl kit::Scenario for DestroyKeeping {
    type Ids = VolumeIds;
    type Outcome = (VolumeOutcome, bool);

    fn kinds(&self) -> Vec<&'static JobKind> {
        vec![&SERVER_DESTROY]
    }

    async fn setup(&self, w: &World, store: &Store, e: &JobEngine) -> VolumeIds {
        let (server, base) = running_server(w, store, e).await;
        let volume = insert_volume(w, store, 2, false);
        let job = submit_volume(e, server, &VOLUME_ATTACH, volume, true).await;
        assert_eq!(finish(e, job).await, JobState::Succeeded);
        let mut keep = store.volume_get(volume).expect("volume");
        keep.delete_on_termination = false;
        let mut batch = Batch::new();
        batch.update(&keep);
        store.commit(&batch).expect("keep");
        VolumeIds {
            server,
            base,
            volume,
        }
    }

    async fn submit(&self, _: usize, _: &World, e: &JobEngine, ids: &VolumeIds) -> u64 {
        submit_destroy(e, ids.server).await
    }

    fn outcome(&self, w: &World, store: &Store, ids: &VolumeIds, job: u64) -> Self::Outcome {
        let disk = format!("snf-vol-{}", ids.volume);
        let detached = w.sim.sim.read(|c| c.detached_disks.contains_key(&disk));
        (
            volume_outcome(w, store, ids.server, ids.volume, job),
            detached,
        )
    }
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_destroy_keeping_a_volume_changes_nothing() {
    let reference = kit::crash_at_every_boundary(&DestroyKeeping, &[0]).await;
    let (v, detached) = &reference[0];
    assert_eq!(
        (v.status.as_str(), v.attached, v.charged, *detached),
        ("AVAILABLE", false, true, true),
        "{reference:?}"
    );
}

/// A destroy failing before Ganeti removed the instance attaches the kept volume back.
#[tokio::test]
async fn a_destroy_failing_after_detaching_a_kept_volume_attaches_it_back() {
    let ran = kit::run(
        &DestroyKeeping,
        kit::Mode::Fail {
            job: 0,
            step: "ganeti_remove",
        },
    )
    .await;
    assert_eq!(ran.state, JobState::Failed);
    let o = &ran.last().0;
    assert_eq!(
        (o.status.as_str(), o.attached, o.in_ganeti, o.locked),
        ("IN_USE", true, true, false)
    );
    assert_eq!(
        ran.store
            .server_get(ran.ids.server)
            .expect("server")
            .operstate,
        "STARTED"
    );
}
