//! The RAPI client against the simulator over real HTTP.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::backend::sim::{self, Latency, RunningSim, SimOptions};

async fn simulator() -> RunningSim {
    sim::start(SimOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        cluster_name: "c1.test".into(),
        nodes: 3,
        username: "cyclades".into(),
        password: "pw".into(),
        state_dir: None,
        latency: Latency::zero(),
    })
    .await
    .expect("simulator")
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
           "beparams": {"maxmem": 1024, "minmem": 1024, "vcpus": 2}, "nics": [], "os": "snf-image+default",
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
