//! The RAPI client against the simulator over real HTTP.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::backend::sim::{self, Latency, RunningSim, SimOptions};

async fn simulator() -> RunningSim {
    sim::start(sim_options()).await.expect("simulator")
}

fn client(s: &RunningSim, password: &str) -> RapiClient {
    RapiClient::new(RapiConfig {
        base_url: s.url(),
        username: "cyclades".into(),
        password: password.into(),
        insecure: false,
        timeout: Duration::from_secs(5),
        offline: false,
    })
    .expect("client")
}

fn body(name: &str) -> serde_json::Value {
    json!({"mode": "create", "name": name, "disk_template": "drbd", "disks": [{"name": "snf-vol-1", "size": 2048}],
           "beparams": {"maxmem": 1024, "minmem": 1024, "vcpus": 2}, "nics": [{"name": "snf-nic-0"}], "os": "snf-image+default",
           "ip_check": false, "name_check": false})
}

#[tokio::test]
async fn reads_cluster_facts() {
    let s = simulator().await;
    let c = client(&s, "pw");
    assert!(
        c.features()
            .await
            .expect("features")
            .contains(&"instance-create-reqv1".to_string())
    );
    assert!(
        c.disk_templates()
            .await
            .expect("templates")
            .contains(&"drbd".to_string())
    );
    let r = c.resources().await.expect("resources");
    assert_eq!((r.mtotal, r.ctotal, r.pinst_cnt), (3 * 32768, 24, 0));
    assert_eq!(c.groups().await.expect("groups").len(), 1);
    assert!(c.instance("snf-404").await.expect("lookup").is_none());
    s.shutdown().await;
}

#[tokio::test]
async fn drives_an_instance_through_jobs() {
    let s = simulator().await;
    let c = client(&s, "pw");
    let wait = Duration::from_secs(10);
    let before = c.resources().await.expect("resources");
    let job = c.create_instance(body("snf-11")).await.expect("submit");
    let done = c.wait_job(job, wait).await.expect("created");
    assert_eq!(
        done.summary,
        Some(vec!["INSTANCE_CREATE(snf-11)".to_string()])
    );
    let after = c.resources().await.expect("resources");
    assert_eq!(before.mfree - after.mfree, 1024);
    assert_eq!(before.dfree - after.dfree, 4096, "drbd uses twice the disk");
    assert_eq!(after.pinst_cnt, 1);
    c.wait_job(c.shutdown("snf-11", Some(0)).await.expect("submit"), wait)
        .await
        .expect("stopped");
    assert_eq!(
        c.instance("snf-11").await.expect("get").expect("exists")["status"],
        "ADMIN_down"
    );
    c.wait_job(c.startup("snf-11").await.expect("submit"), wait)
        .await
        .expect("started");
    c.wait_job(c.reboot("snf-11", true).await.expect("submit"), wait)
        .await
        .expect("rebooted");
    c.wait_job(c.delete_instance("snf-11").await.expect("submit"), wait)
        .await
        .expect("deleted");
    assert!(c.instance("snf-11").await.expect("lookup").is_none());

    // A failed job is typed, with Ganeti's class, message and code.
    c.wait_job(
        c.create_instance(body("snf-12")).await.expect("submit"),
        wait,
    )
    .await
    .expect("created");
    let e = c
        .wait_job(
            c.create_instance(body("snf-12")).await.expect("submit"),
            wait,
        )
        .await
        .expect_err("duplicate");
    match &e {
        BackendError::JobFailed { kind, code, .. } => {
            assert_eq!(
                (kind.as_str(), code.as_deref()),
                ("OpPrereqError", Some("already_exists"))
            );
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert!(!e.retryable());
    let e = c.wait_job(999_999, wait).await.expect_err("unknown job");
    assert!(matches!(e, BackendError::NotFound { .. }), "{e}");
    s.shutdown().await;
}

#[tokio::test]
async fn failures_are_typed_and_classified() {
    let s = simulator().await;
    let e = client(&s, "wrong").info().await.expect_err("bad password");
    assert!(matches!(e, BackendError::Unauthorized { .. }), "{e}");
    assert!(!e.retryable());

    let c = client(&s, "pw");
    let http = reqwest::Client::new();
    http.post(format!("{}/sim/faults", s.url()))
        .basic_auth("cyclades", Some("pw"))
        .json(&json!({"errors_next": 1}))
        .send()
        .await
        .expect("fault");
    let e = c.info().await.expect_err("500");
    assert!(
        matches!(e, BackendError::Rapi { status: 500, .. }) && e.retryable(),
        "{e}"
    );
    assert!(c.info().await.is_ok());

    // An offline backend is answered without contacting it (the address is unused).
    let offline = RapiClient::new(RapiConfig {
        base_url: "http://127.0.0.1:9".into(),
        username: "u".into(),
        password: "p".into(),
        insecure: false,
        timeout: Duration::from_secs(5),
        offline: true,
    })
    .expect("client");
    assert!(matches!(
        offline.info().await,
        Err(BackendError::Offline { .. })
    ));
    // A closed port is a retryable transport error.
    let closed = RapiClient::new(RapiConfig {
        offline: false,
        ..offline.config.clone()
    })
    .expect("client");
    let e = closed.info().await.expect_err("closed");
    assert!(
        matches!(e, BackendError::Transport { .. }) && e.retryable(),
        "{e}"
    );
    // Secrets stay out of debug output.
    assert!(!format!("{:?}", c.config).contains("pw\""));
    s.shutdown().await;
}

#[tokio::test]
async fn networks_and_nics_round_trip() {
    let s = simulator().await;
    let c = client(&s, "pw");
    let wait = Duration::from_secs(10);
    let net = json!({"network_name": "snf-net-7", "network": "10.7.0.0/24", "gateway": "10.7.0.1", "mac_prefix": "aa:00:07",
                     "add_reserved_ips": ["10.7.0.254"], "conflicts_check": false, "tags": ["synnefo:network:7"]});
    c.wait_job(c.create_network(net).await.expect("submit"), wait)
        .await
        .expect("created");
    c.wait_job(
        c.connect_network("snf-net-7", "default", "bridged", "prv0", false)
            .await
            .expect("submit"),
        wait,
    )
    .await
    .expect("connected");
    let shown = c.network("snf-net-7").await.expect("get").expect("exists");
    assert_eq!(
        shown["group_list"],
        json!([["default", "bridged", "prv0", ""]])
    );
    assert_eq!(shown["free_count"], 252);
    let mut create = body("snf-21");
    create["nics"] = json!([{"name": "snf-nic-1", "network": "snf-net-7", "ip": "10.7.0.5"}]);
    c.wait_job(c.create_instance(create).await.expect("submit"), wait)
        .await
        .expect("created");
    let add = json!({"hotplug_if_possible": true, "nics": [["add", -1, {"name": "snf-nic-2", "network": "snf-net-7", "ip": "10.7.0.6"}]]});
    c.wait_job(
        c.modify_instance("snf-21", add).await.expect("submit"),
        wait,
    )
    .await
    .expect("nic added");
    let inst = c.instance("snf-21").await.expect("get").expect("exists");
    assert_eq!(inst["nic.names"], json!(["snf-nic-1", "snf-nic-2"]));
    assert!(
        inst["nic.macs"][1]
            .as_str()
            .is_some_and(|m| m.starts_with("aa:00:07:"))
    );
    let taken = json!({"nics": [["add", -1, {"name": "snf-nic-3", "network": "snf-net-7", "ip": "10.7.0.6"}]]});
    let e = c
        .wait_job(
            c.modify_instance("snf-21", taken).await.expect("submit"),
            wait,
        )
        .await
        .expect_err("ip in use");
    assert!(
        matches!(&e, BackendError::JobFailed { code: Some(code), .. } if code == "resource_not_unique"),
        "{e}"
    );
    let e = c
        .wait_job(
            c.disconnect_network("snf-net-7", "default")
                .await
                .expect("submit"),
            wait,
        )
        .await
        .expect_err("in use");
    assert!(matches!(e, BackendError::JobFailed { .. }), "{e}");
    let remove = json!({"nics": [["remove", "snf-nic-2", {}]]});
    c.wait_job(
        c.modify_instance("snf-21", remove).await.expect("submit"),
        wait,
    )
    .await
    .expect("removed");
    c.wait_job(c.delete_instance("snf-21").await.expect("submit"), wait)
        .await
        .expect("deleted");
    c.wait_job(
        c.disconnect_network("snf-net-7", "default")
            .await
            .expect("submit"),
        wait,
    )
    .await
    .expect("disconnected");
    c.wait_job(c.delete_network("snf-net-7").await.expect("submit"), wait)
        .await
        .expect("deleted");
    assert!(c.networks().await.expect("list").is_empty());
    s.shutdown().await;
}

/// `ganeti-sim --tls` serves HTTPS with a self-signed certificate, as real Ganeti does: a
/// client verifying certificates refuses it with a message that says so, `--insecure` reaches
/// it, and the certificate (0600 in the state dir) survives a restart.
#[tokio::test]
async fn tls_simulator_needs_insecure_and_keeps_its_certificate() {
    let dir = tempfile::tempdir().expect("tmp");
    let start = || {
        sim::start(SimOptions {
            tls: true,
            hypervisor: "fake".into(),
            listen: "127.0.0.1:0".parse().expect("addr"),
            cluster_name: "tls.test".into(),
            nodes: 2,
            username: "cyclades".into(),
            password: "pw".into(),
            state_dir: Some(dir.path().to_path_buf()),
            latency: Latency::zero(),
        })
    };
    let with = |s: &RunningSim, insecure: bool| {
        RapiClient::new(RapiConfig {
            base_url: s.url(),
            username: "cyclades".into(),
            password: "pw".into(),
            insecure,
            timeout: Duration::from_secs(5),
            offline: false,
        })
        .expect("client")
    };
    let s = start().await.expect("simulator");
    assert!(s.url().starts_with("https://127.0.0.1:"), "{}", s.url());
    let refused = with(&s, false).features().await.expect_err("self-signed");
    let message = format!("{refused:#}");
    assert!(message.contains("certificate"), "{message}");
    let features = with(&s, true)
        .features()
        .await
        .expect("insecure reaches it");
    assert!(features.contains(&"instance-create-reqv1".to_string()));
    // Plain HTTP to the TLS port gets nowhere.
    let plain = RapiClient::new(RapiConfig {
        base_url: format!("http://{}", s.addr),
        username: "cyclades".into(),
        password: "pw".into(),
        insecure: true,
        timeout: Duration::from_secs(5),
        offline: false,
    })
    .expect("client");
    assert!(plain.features().await.is_err());

    let pem_path = dir.path().join(sim::tls::PEM_FILE);
    let pem = std::fs::read(&pem_path).expect("rapi.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pem_path)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    s.shutdown().await;
    let s = start().await.expect("simulator");
    with(&s, true).features().await.expect("after restart");
    assert_eq!(std::fs::read(&pem_path).expect("rapi.pem"), pem);
    s.shutdown().await;
}

/// `GET /2/jobs/<id>/wait` as Ganeti answers it: it returns when the status changes (or at
/// once for a first call or a finished job), refuses a body without `fields`, and is a 500
/// for an unknown job. The client uses it where it exists and polls where it does not.
#[tokio::test]
async fn jobs_are_followed_through_wait_for_job_change_or_polling() {
    let s = sim::start(SimOptions {
        latency: Latency {
            queued: 0.05,
            create: 0.3,
            other: 0.05,
        },
        ..sim_options()
    })
    .await
    .expect("simulator");
    let c = client(&s, "pw");
    assert_eq!(c.waits_for_job_changes(), None);
    let job = c.create_instance(body("snf-41")).await.expect("submit");
    let path = format!("/2/jobs/{job}/wait");
    let first = c
        .call(
            Method::GET,
            &path,
            Some(json!({"fields": ["status"], "previous_job_info": null, "previous_log_serial": null})),
        )
        .await
        .expect("wait");
    let status = first["job_info"][0].clone();
    let started = Instant::now();
    let changed = c
        .call(
            Method::GET,
            &path,
            Some(json!({"fields": ["status"], "previous_job_info": [status], "previous_log_serial": null})),
        )
        .await
        .expect("wait");
    assert_ne!(changed["job_info"][0], status, "{changed}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it answered on the change"
    );
    let bad = c
        .call(Method::GET, &path, Some(json!({"fields": "status"})))
        .await;
    assert!(
        matches!(bad, Err(BackendError::Rapi { status: 400, .. })),
        "{bad:?}"
    );
    let lost = c
        .call(
            Method::GET,
            "/2/jobs/999999/wait",
            Some(json!({"fields": ["status"], "previous_job_info": null})),
        )
        .await;
    assert!(
        matches!(lost, Err(BackendError::Rapi { status: 500, .. })),
        "{lost:?}"
    );
    let done = c.wait_job(job, Duration::from_secs(10)).await.expect("job");
    assert_eq!(done.status.as_deref(), Some("success"));
    assert_eq!(c.waits_for_job_changes(), Some(true));

    // A RAPI without the call: the client polls, and remembers.
    s.sim.write(|cl| cl.faults.wait_unsupported = true);
    let other = client(&s, "pw");
    let job = other.create_instance(body("snf-42")).await.expect("submit");
    let done = other
        .wait_job(job, Duration::from_secs(10))
        .await
        .expect("job");
    assert_eq!(done.status.as_deref(), Some("success"));
    assert_eq!(other.waits_for_job_changes(), Some(false));
    s.shutdown().await;
}

fn sim_options() -> SimOptions {
    SimOptions {
        tls: false,
        hypervisor: "fake".into(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        cluster_name: "c1.test".into(),
        nodes: 3,
        username: "cyclades".into(),
        password: "pw".into(),
        state_dir: None,
        latency: Latency::zero(),
    }
}
