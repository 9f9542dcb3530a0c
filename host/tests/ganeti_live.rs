//! One Synnefo-shaped scenario through our RAPI client and job tracking, run against the
//! simulator and, when `GANETI_RAPI_URL` is set (by `scripts/ganeti/up.sh` in CI), against a
//! real Ganeti 3.0 cluster, so that both must agree: create a network and connect it, create an
//! instance with the body Synnefo builds, stop, start, reboot it, add and remove a NIC, add,
//! detach, attach and remove a disk, delete it, then disconnect and delete the network.

use std::time::Duration;

use cyclades::backend::rapi::{BackendError, RapiClient, RapiConfig};
use cyclades::backend::sim::{self, Latency, SimOptions};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

async fn scenario(c: &RapiClient, id: u64, template: &str) {
    assert!(
        c.features()
            .await
            .expect("features")
            .iter()
            .any(|f| f == "instance-create-reqv1")
    );
    let (net, inst) = (format!("snf-net-{id}"), format!("snf-{id}"));
    let cidr_octet = id % 200 + 20;
    let subnet = format!("10.{cidr_octet}.0.0/24");
    let ip = |host: u8| format!("10.{cidr_octet}.0.{host}");

    let create_net = json!({"network_name": net, "network": subnet, "gateway": ip(1), "gateway6": null, "network6": null,
                            "mac_prefix": "aa:00:55", "add_reserved_ips": null, "conflicts_check": false,
                            "tags": [format!("synnefo:network:{id}"), "private"]});
    let net_job = c
        .create_network(create_net)
        .await
        .expect("network create submitted");
    c.wait_job(net_job, WAIT).await.expect("network created");
    let connect = c
        .connect_network(&net, "default", "bridged", "br0", false)
        .await
        .expect("connect submitted");

    // The body synnefo.logic.backend.create_instance builds (no pnode: the cluster's iallocator).
    let body = json!({"mode": "create", "name": inst, "disk_template": template,
                      "disks": [{"name": format!("snf-vol-{id}"), "size": 1024}],
                      "nics": [{"name": format!("snf-nic-{id}"), "network": net, "ip": ip(5)}],
                      "depends": [[connect, ["success", "error", "canceled"]]],
                      "beparams": {"auto_balance": true, "memory": 256, "vcpus": 1},
                      "os": "snf-image+default",
                      "osparams": {"config_url": "http://127.0.0.1:1/cfg", "img_format": "diskdump", "img_id": "pithos://u/c/img"},
                      "ip_check": false, "name_check": false, "wait_for_sync": false, "opportunistic_locking": false,
                      "tags": [format!("synnefo:network:{id}")]});
    let created = c.create_instance(body).await.expect("create submitted");
    c.wait_job(connect, WAIT).await.expect("network connected");
    let job = c.wait_job(created, WAIT).await.expect("instance created");
    assert!(job.received_ts.is_some() && job.end_ts.is_some());
    let info = c
        .instance(&inst)
        .await
        .expect("get")
        .expect("instance exists");
    assert_eq!(info["status"], "running", "{info}");
    assert_eq!(info["nic.ips"], json!([ip(5)]));

    c.wait_job(c.shutdown(&inst, Some(0)).await.expect("submit"), WAIT)
        .await
        .expect("stopped");
    assert_eq!(
        c.instance(&inst).await.expect("get").expect("exists")["status"],
        "ADMIN_down"
    );
    c.wait_job(c.startup(&inst).await.expect("submit"), WAIT)
        .await
        .expect("started");
    c.wait_job(c.reboot(&inst, true).await.expect("submit"), WAIT)
        .await
        .expect("rebooted");
    assert_eq!(
        c.instance(&inst).await.expect("get").expect("exists")["status"],
        "running"
    );

    let add = json!({"hotplug_if_possible": true,
                     "nics": [["add", -1, {"name": format!("snf-nic-{id}-2"), "network": net, "ip": ip(6)}]]});
    c.wait_job(c.modify_instance(&inst, add).await.expect("submit"), WAIT)
        .await
        .expect("NIC added");
    assert_eq!(
        c.instance(&inst).await.expect("get").expect("exists")["nic.ips"],
        json!([ip(5), ip(6)])
    );
    // The same address twice is refused by Ganeti, and typed by the client.
    let again = json!({"nics": [["add", -1, {"name": format!("snf-nic-{id}-3"), "network": net, "ip": ip(6)}]]});
    let e = c
        .wait_job(c.modify_instance(&inst, again).await.expect("submit"), WAIT)
        .await
        .expect_err("IP in use");
    assert!(
        matches!(&e, BackendError::JobFailed { kind, .. } if kind == "OpPrereqError"),
        "{e}"
    );
    // Rescue's boot-device change is KVM-only: the fake hypervisor refuses it in the job.
    let rescue =
        json!({"hvparams": {"boot_order": "cdrom", "cdrom_image_path": "/srv/rescue.iso"}});
    let e = c
        .wait_job(
            c.modify_instance(&inst, rescue).await.expect("submit"),
            WAIT,
        )
        .await
        .expect_err("fake hypervisor has no boot_order");
    assert!(
        matches!(&e, BackendError::JobFailed { message, .. } if message.contains("boot_order")),
        "{e:?}"
    );
    let remove =
        json!({"hotplug_if_possible": true, "nics": [["remove", format!("snf-nic-{id}-2"), {}]]});
    c.wait_job(
        c.modify_instance(&inst, remove).await.expect("submit"),
        WAIT,
    )
    .await
    .expect("NIC removed");

    // Volumes (Ganeti 3.0 disk actions, as the volume jobs send them): add a disk to the
    // running instance, detach it (Ganeti keeps it), attach it again; removing it is refused
    // while the instance runs (no hot-plug on this hypervisor), and works once it is stopped.
    let vol = format!("snf-vol-{id}-2");
    let disks = |info: serde_json::Value| info["disk.names"].clone();
    for (body, expect) in [
        (
            json!({"hotplug_if_possible": true, "disks": [["add", -1, {"name": vol, "size": 1024}]]}),
            json!([format!("snf-vol-{id}"), vol]),
        ),
        (
            json!({"hotplug_if_possible": true, "disks": [["detach", vol, {}]]}),
            json!([format!("snf-vol-{id}")]),
        ),
        (
            json!({"hotplug_if_possible": true, "disks": [["attach", -1, {"name": vol}]]}),
            json!([format!("snf-vol-{id}"), vol]),
        ),
    ] {
        c.wait_job(
            c.modify_instance(&inst, body.clone())
                .await
                .expect("submit"),
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{body}: {e}"));
        assert_eq!(
            disks(c.instance(&inst).await.expect("get").expect("exists")),
            expect,
            "{body}"
        );
    }
    let remove = json!({"hotplug_if_possible": true, "disks": [["remove", vol, {}]]});
    let e = c
        .wait_job(
            c.modify_instance(&inst, remove.clone())
                .await
                .expect("submit"),
            WAIT,
        )
        .await
        .expect_err("a running instance keeps its disks");
    assert!(
        matches!(&e, BackendError::JobFailed { kind, message, .. }
            if kind == "OpPrereqError" && message.contains("without using hotplug")),
        "{e:?}"
    );
    c.wait_job(c.shutdown(&inst, Some(0)).await.expect("submit"), WAIT)
        .await
        .expect("stopped");
    c.wait_job(
        c.modify_instance(&inst, remove).await.expect("submit"),
        WAIT,
    )
    .await
    .expect("disk removed");
    assert_eq!(
        disks(c.instance(&inst).await.expect("get").expect("exists")),
        json!([format!("snf-vol-{id}")])
    );

    c.wait_job(c.delete_instance(&inst).await.expect("submit"), WAIT)
        .await
        .expect("deleted");
    assert!(c.instance(&inst).await.expect("lookup").is_none());
    c.wait_job(
        c.disconnect_network(&net, "default").await.expect("submit"),
        WAIT,
    )
    .await
    .expect("disconnected");
    c.wait_job(c.delete_network(&net).await.expect("submit"), WAIT)
        .await
        .expect("network deleted");
    assert!(c.network(&net).await.expect("lookup").is_none());
}

fn unique_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(std::process::id() % 1000) * 1000 + u64::from(nanos % 1000)
}

#[tokio::test]
async fn synnefo_scenario_against_the_simulator() {
    let s = sim::start(SimOptions {
        tls: false,
        hypervisor: "fake".into(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        cluster_name: "cluster.ganeti.test".into(),
        nodes: 1,
        username: "cyclades".into(),
        password: "cyclades".into(),
        state_dir: None,
        latency: Latency::zero(),
    })
    .await
    .expect("simulator");
    let c = RapiClient::new(RapiConfig {
        base_url: s.url(),
        username: "cyclades".into(),
        password: "cyclades".into(),
        insecure: false,
        timeout: Duration::from_secs(10),
        offline: false,
    })
    .expect("client");
    scenario(&c, unique_id(), "file").await;
    s.shutdown().await;
}

#[tokio::test]
async fn synnefo_scenario_against_real_ganeti() {
    let Ok(url) = std::env::var("GANETI_RAPI_URL") else {
        assert!(
            std::env::var_os("CYCLADES_REQUIRE_GANETI").is_none(),
            "CYCLADES_REQUIRE_GANETI is set but GANETI_RAPI_URL is not: scripts/ganeti/up.sh did not run"
        );
        eprintln!(
            "SKIPPED synnefo_scenario_against_real_ganeti: GANETI_RAPI_URL is not set (run scripts/ganeti/up.sh as root)"
        );
        return;
    };
    let c = RapiClient::new(RapiConfig {
        base_url: url,
        username: std::env::var("GANETI_RAPI_USER").unwrap_or_else(|_| "cyclades".into()),
        password: std::env::var("GANETI_RAPI_PASSWORD").unwrap_or_else(|_| "cyclades".into()),
        // Ganeti's RAPI certificate is self-signed.
        insecure: true,
        timeout: Duration::from_secs(30),
        offline: false,
    })
    .expect("client");
    scenario(&c, unique_id(), "file").await;
}

/// The job engine drives a real Ganeti 3.0 cluster: `server.create` (allocator and disk-template
/// plugins, the Synnefo-shaped body), `server.stop`, `server.start`, `server.reboot` and
/// `server.destroy`, each through its recorded steps; and the tracking overhead on top of
/// Ganeti's own job time is printed.
#[tokio::test]
async fn server_jobs_against_real_ganeti() {
    use cyclades::jobs::{
        JobEngine, JobEnv, JobSettings, SERVER_CREATE, ServerActionParams, ServerCreateParams,
        VOLUME_ATTACH, VOLUME_DELETE, VOLUME_DETACH, VolumeJobParams, kind, testkit,
    };
    use cyclades::store::{BackendResources, Batch, JobEventKind, JobState, Store};
    let Ok(url) = std::env::var("GANETI_RAPI_URL") else {
        assert!(
            std::env::var_os("CYCLADES_REQUIRE_GANETI").is_none(),
            "CYCLADES_REQUIRE_GANETI is set but GANETI_RAPI_URL is not"
        );
        eprintln!("SKIPPED server_jobs_against_real_ganeti: GANETI_RAPI_URL is not set");
        return;
    };
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in GANETI_RAPI_URL");
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("store");
    let sealer = cyclades::secrets::Sealer::new("live");
    let user = std::env::var("GANETI_RAPI_USER").unwrap_or_else(|_| "cyclades".into());
    let password = std::env::var("GANETI_RAPI_PASSWORD").unwrap_or_else(|_| "cyclades".into());
    let (_, flavor_id) = testkit::seed(
        &store,
        &testkit::Fixture {
            scheme: "https",
            insecure: true,
            sim_port: port,
            username: &user,
            password: &password,
            sealer: &sealer,
            resources: BackendResources {
                mfree: 8192,
                mtotal: 8192,
                dfree: 100_000,
                dtotal: 100_000,
                ctotal: 4,
                pinst_cnt: 0,
            },
            disk_templates: &["file", "plain", "diskless"],
            flavor: (1, 128, 1, "file"),
        },
    )
    .expect("fixture");
    let plugins = cyclades::plugins::PluginHost::new(cyclades::plugins::PluginHostOptions {
        cache_dir: Some(std::env::temp_dir().join("cyclades-test-plugin-cache")),
        quarantine_after: 3,
        ..Default::default()
    })
    .expect("plugin host");
    plugins.load_builtins().expect("built-ins");
    let engine = JobEngine::new(JobEnv {
        store: store.clone(),
        plugins: std::sync::Arc::new(plugins),
        sealer,
        config: std::sync::Arc::new(cyclades::config::Config::default()),
        settings: JobSettings::default(),
        rapi_pool: Default::default(),
        metrics: Default::default(),
    });
    let server_id = 900_000 + unique_id() % 90_000;
    let job = store.generate_id().expect("id");
    let params = ServerCreateParams {
        server_id,
        name: "live".into(),
        user_id: "u".into(),
        project_id: "p".into(),
        flavor_id,
        image_id: testkit::IMAGE_ID.into(),
        image_location: testkit::IMAGE_LOCATION.into(),
        image_format: "diskdump".into(),
        metadata: Default::default(),
        key_names: vec![],
        backend_id: None,
        config_url: "http://127.0.0.1:1/vmapi/v1.0/server-params/x".into(),
        nics: vec![],
        helper: false,
        extra_volumes: vec![],
        tags: vec![],
        shared_to_project: false,
        access_ipv4: None,
        access_ipv6: None,
    };
    engine
        .submit(
            &SERVER_CREATE,
            format!("server/{server_id}"),
            serde_json::to_value(params).expect("json"),
            job,
            Batch::new(),
        )
        .await
        .expect("submit");
    let state = engine.wait_finished(job).await.expect("state");
    let record = store.job_get(job).expect("job");
    assert_eq!(
        state,
        JobState::Succeeded,
        "create: {:?} {:?}",
        record.fault,
        store.job_log(job)
    );
    let overhead = |job: u64| -> f64 {
        let record = store.job_get(job).expect("job");
        let waited = store
            .job_log(job)
            .expect("log")
            .into_iter()
            .find_map(|e| match (&e.step[..], e.kind) {
                ("wait_ganeti_job", JobEventKind::Succeeded { output }) => Some(output),
                _ => None,
            })
            .expect("wait recorded");
        let ts = |v: &serde_json::Value| {
            v[0].as_f64().unwrap_or(0.0) + v[1].as_f64().unwrap_or(0.0) / 1e6
        };
        let ganeti = ts(&waited["end_ts"]) - ts(&waited["received_ts"]);
        let ours = (record.finished.expect("finished").0 - record.created.0) as f64 / 1000.0;
        (ours - ganeti) * 1000.0
    };
    let mut overheads = vec![overhead(job)];
    assert_eq!(
        store.server_get(server_id).expect("server").operstate,
        "STARTED"
    );
    // Tags in Synnefo's encoding are accepted by real Ganeti and read back as sent.
    let rapi = engine.env().rapi(1).expect("client");
    let tag = cyclades::backend::rapi::tag_to_ganeti("cyclades:user:web_tier one");
    let name = format!("snf-{server_id}");
    let j = rapi
        .add_instance_tags(&name, std::slice::from_ref(&tag))
        .await
        .expect("tags");
    rapi.wait_job(j, WAIT).await.expect("tagged");
    let info = rapi.instance(&name).await.expect("get").expect("exists");
    assert!(
        info["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .any(|t| t == tag.as_str()),
        "{info}"
    );
    let j = rapi
        .delete_instance_tags(&name, std::slice::from_ref(&tag))
        .await
        .expect("untag");
    rapi.wait_job(j, WAIT).await.expect("untagged");

    // Volume jobs on the running instance: a new volume (the disk-template plugin's disk
    // parameters), detached, attached again; deleted below once the server is stopped.
    let flavor = store.flavor_get(flavor_id).expect("flavor");
    let volume_id = server_id + 1;
    let now = cyclades::clock::Timestamp::now();
    let mut batch = Batch::new();
    batch.insert(&cyclades::store::Volume {
        id: volume_id,
        name: "data".into(),
        description: String::new(),
        user_id: "u".into(),
        project_id: "p".into(),
        shared_to_project: false,
        size_gb: 1,
        volume_type_id: flavor.volume_type_id,
        disk_template: flavor.disk_template.clone(),
        delete_on_termination: true,
        source: None,
        status: "CREATING".into(),
        server_id: None,
        index: None,
        backend_id: None,
        backend_job_id: None,
        initialised: false,
        quota_charged: false,
        metadata: Default::default(),
        created: now,
        updated: now,
        deleted: false,
        generation: 1,
    });
    store.commit(&batch).expect("volume");
    let volume_job = |kind: &'static cyclades::jobs::JobKind, action: &str, charge: bool| {
        let store = store.clone();
        let engine = &engine;
        let action = action.to_string();
        async move {
            let before = store.server_get(server_id).expect("server");
            let job = store.generate_id().expect("id");
            let mut locked = before.clone();
            locked.task = Some(action.clone());
            locked.active_job = Some(job);
            let mut lock = Batch::new();
            lock.update_server(&before, &locked);
            let params = VolumeJobParams {
                server_id,
                action,
                volume_id,
                hotplug: false,
                charge,
            };
            engine
                .submit(
                    kind,
                    format!("server/{server_id}"),
                    serde_json::to_value(params).expect("json"),
                    job,
                    lock,
                )
                .await
                .expect("submit");
            let state = engine.wait_finished(job).await.expect("state");
            assert_eq!(
                state,
                JobState::Succeeded,
                "{}: {:?}",
                kind.name,
                store.job_get(job).map(|j| j.fault)
            );
            store.volume_get(volume_id).expect("volume").status
        }
    };
    let disk = format!("snf-vol-{volume_id}");
    let has_disk = || async {
        let info = rapi.instance(&name).await.expect("get").expect("exists");
        info["disk.names"]
            .as_array()
            .expect("names")
            .iter()
            .any(|d| d == disk.as_str())
    };
    assert_eq!(
        volume_job(&VOLUME_ATTACH, "ATTACH_VOLUME", true).await,
        "IN_USE"
    );
    assert!(has_disk().await);
    assert_eq!(
        volume_job(&VOLUME_DETACH, "DETACH_VOLUME", false).await,
        "AVAILABLE"
    );
    assert!(!has_disk().await);
    assert_eq!(
        volume_job(&VOLUME_ATTACH, "ATTACH_VOLUME", false).await,
        "IN_USE"
    );
    assert!(has_disk().await);

    for (kind_name, action, expect) in [
        ("server.stop", "STOP", "STOPPED"),
        ("server.start", "START", "STARTED"),
        ("server.reboot", "REBOOT", "STARTED"),
        ("server.destroy", "DESTROY", "DESTROYED"),
    ] {
        let before = store.server_get(server_id).expect("server");
        let job = store.generate_id().expect("id");
        let mut locked = before.clone();
        locked.task = Some(action.into());
        locked.active_job = Some(job);
        let mut lock = Batch::new();
        lock.update_server(&before, &locked);
        let params = ServerActionParams {
            server_id,
            action: action.into(),
            hard: false,
            flavor_id: None,
            rescue_image_id: None,
            rescue_path: None,
        };
        engine
            .submit(
                kind(kind_name).expect("kind"),
                format!("server/{server_id}"),
                serde_json::to_value(params).expect("json"),
                job,
                lock,
            )
            .await
            .expect("submit");
        let state = engine.wait_finished(job).await.expect("state");
        assert_eq!(
            state,
            JobState::Succeeded,
            "{kind_name}: {:?}",
            store.job_get(job).map(|j| j.fault)
        );
        assert_eq!(
            store.server_get(server_id).expect("server").operstate,
            expect,
            "{kind_name}"
        );
        if kind_name != "server.destroy" {
            overheads.push(overhead(job));
        }
        if kind_name == "server.stop" {
            assert_eq!(
                volume_job(&VOLUME_DELETE, "DELETE_VOLUME", false).await,
                "DELETED"
            );
            assert!(!has_disk().await);
        }
    }
    overheads.sort_by(|a, b| a.total_cmp(b));
    eprintln!(
        "tracking overhead against real Ganeti over {} jobs: median {:.0} ms, max {:.0} ms",
        overheads.len(),
        overheads[overheads.len() / 2],
        overheads[overheads.len() - 1]
    );
}
