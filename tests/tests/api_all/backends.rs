//! Backends through the admin API, against simulated Ganeti clusters over HTTP.

use cyclades::backend::sim::{self, Latency, RunningSim, SimOptions};
use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn cluster(password: &str) -> RunningSim {
    sim::start(SimOptions {
        tls: false,
        hypervisor: "fake".into(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        cluster_name: "extra.ganeti.test".into(),
        nodes: 2,
        username: "rapi".into(),
        password: password.into(),
        state_dir: None,
        latency: Latency::zero(),
    })
    .await
    .expect("simulator")
}

fn add_body(port: u16, password: &str) -> Value {
    json!({"backend": {"clustername": "localhost", "port": port, "username": "rapi", "password": password,
                       "hypervisor": "fake", "http": true}})
}

fn backend<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["backends"]
        .as_array()
        .and_then(|a| a.iter().find(|b| b["clustername"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn the_demo_registers_its_simulated_cluster_open() {
    let ctx = TestContext::new().await;
    let list = ctx.admin(Method::GET, "/backends", None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let demo = backend(&list.body, "127.0.0.1");
    assert_eq!(demo["drained"], false, "{}", list.text);
    assert_eq!(demo["offline"], false);
    assert!(
        demo["disk_templates"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("drbd")))
    );
    assert_eq!(demo["mtotal"], 4 * 32768);
    assert!(demo["id"].is_string());
    // The current table is what allocator-test uses when no snapshot is given.
    let test = ctx
        .admin(
            Method::POST,
            "/allocator-test",
            Some(json!({"plugin": "alloc-pack"})),
        )
        .await;
    assert_eq!(test.status, StatusCode::OK, "{}", test.text);
    assert_eq!(test.body["allocator_test"]["backends"], 1);
    let restarted = ctx.restart().await;
    let list = restarted.admin(Method::GET, "/backends", None).await;
    assert_eq!(
        list.body["backends"].as_array().map(Vec::len),
        Some(1),
        "restart reuses the registration"
    );
    assert!(backend(&list.body, "127.0.0.1")["last_error"].is_null());
}

#[tokio::test]
async fn backends_are_added_drained_and_managed() {
    let ctx = TestContext::new().await;
    let extra = cluster("s3cret-rapi").await;
    let port = extra.addr.port();

    let m = ctx
        .admin(Method::POST, "/backends", Some(add_body(port, "wrong")))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("refused"), "{m}");
    let added = ctx
        .admin(
            Method::POST,
            "/backends",
            Some(add_body(port, "s3cret-rapi")),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let b = &added.body["backend"];
    assert_eq!(b["drained"], true);
    assert_eq!(b["mtotal"], 2 * 32768);
    assert!(
        !added.text.contains("s3cret-rapi"),
        "the password is never returned"
    );
    ctx.admin(
        Method::POST,
        "/backends",
        Some(add_body(port, "s3cret-rapi")),
    )
    .await
    .fault(409, "conflict");
    let bad = json!({"backend": {"clustername": "x", "username": "u", "password": "p", "hypervisor": "vmware", "no_check": true}});
    ctx.admin(Method::POST, "/backends", Some(bad))
        .await
        .fault(400, "badRequest");
    let unreachable = json!({"backend": {"clustername": "127.0.0.2", "port": 9, "username": "u", "password": "p", "http": true}});
    ctx.admin(Method::POST, "/backends", Some(unreachable))
        .await
        .fault(503, "serviceUnavailable");

    // Open it, dedicate it, refresh it, take it offline.
    let opened = ctx
        .admin(
            Method::PATCH,
            "/backends/localhost",
            Some(json!({"backend": {"drained": false}})),
        )
        .await;
    assert_eq!(opened.body["backend"]["drained"], false, "{}", opened.text);
    let dedicate = json!({"project": "demo", "backend": "localhost"});
    assert_eq!(
        ctx.admin(Method::POST, "/project-backends", Some(dedicate.clone()))
            .await
            .status,
        StatusCode::CREATED
    );
    let shown = ctx.admin(Method::GET, "/backends/localhost", None).await;
    assert_eq!(shown.body["backend"]["projects"], json!(["demo"]));
    let list = ctx.admin(Method::GET, "/project-backends", None).await;
    assert_eq!(list.body["project_backends"][0]["clustername"], "localhost");

    let refreshed = ctx
        .admin(
            Method::POST,
            "/backends/update-status",
            Some(json!({"backend": "localhost"})),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert!(refreshed.body["backends"][0]["last_error"].is_null());
    // A cluster that stops answering is recorded, not fatal.
    reqwest::Client::new()
        .post(format!("{}/sim/faults", extra.url()))
        .basic_auth("rapi", Some("s3cret-rapi"))
        .json(&json!({"offline": true}))
        .send()
        .await
        .expect("fault");
    let failed = ctx
        .admin(
            Method::POST,
            "/backends/update-status",
            Some(json!({"backend": "localhost"})),
        )
        .await;
    assert!(
        failed.body["backends"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("502")),
        "{}",
        failed.text
    );
    ctx.admin(
        Method::PATCH,
        "/backends/localhost",
        Some(json!({"backend": {"offline": true}})),
    )
    .await;
    let all = ctx
        .admin(Method::POST, "/backends/update-status", None)
        .await;
    assert_eq!(
        all.body["backends"].as_array().map(Vec::len),
        Some(1),
        "offline backends are skipped: {}",
        all.text
    );

    assert_eq!(
        ctx.admin(Method::DELETE, "/project-backends", Some(dedicate.clone()))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    ctx.admin(Method::DELETE, "/project-backends", Some(dedicate))
        .await
        .fault(404, "itemNotFound");
    let removed = ctx.admin(Method::DELETE, "/backends/localhost", None).await;
    assert_eq!(removed.body["backend"]["deleted"], true, "{}", removed.text);
    ctx.admin(Method::GET, "/backends/localhost", None)
        .await
        .fault(404, "itemNotFound");
    let deleted = ctx.admin(Method::GET, "/backends?deleted=only", None).await;
    assert_eq!(deleted.body["backends"].as_array().map(Vec::len), Some(1));
    extra.shutdown().await;
}

#[tokio::test]
async fn rapi_passwords_are_encrypted_at_rest() {
    let ctx = TestContext::new().await;
    let extra = cluster("plaintext-canary-42").await;
    let added = ctx
        .admin(
            Method::POST,
            "/backends",
            Some(add_body(extra.addr.port(), "plaintext-canary-42")),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let data_dir = ctx.data_dir().to_path_buf();
    let ctx = ctx.restart().await; // flushes the store
    let mut found = Vec::new();
    for entry in walk(&data_dir.join("db")) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes
            .windows(b"plaintext-canary-42".len())
            .any(|w| w == b"plaintext-canary-42")
        {
            found.push(entry.display().to_string());
        }
    }
    assert!(
        found.is_empty(),
        "the RAPI password is stored in clear in {found:?}"
    );
    // ...and it still works after the restart (the key persisted).
    let refreshed = ctx
        .admin(
            Method::POST,
            "/backends/update-status",
            Some(json!({"backend": "localhost"})),
        )
        .await;
    assert!(
        refreshed.body["backends"][0]["last_error"].is_null(),
        "{}",
        refreshed.text
    );
    extra.shutdown().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn backend_resources_are_refreshed_periodically() {
    let ctx = TestContext::with_config(|c| c.backends.refresh_secs = 1).await;
    let extra = cluster("pw-refresh").await;
    let added = ctx
        .admin(
            Method::POST,
            "/backends",
            Some(add_body(extra.addr.port(), "pw-refresh")),
        )
        .await;
    assert_eq!(added.body["backend"]["pinst_cnt"], 0, "{}", added.text);
    // Something changes on the cluster behind our back...
    let create = json!({"__version__": 1, "name": "outside-1", "disk_template": "plain", "disks": [{"size": 1024}],
                        "beparams": {"maxmem": 256, "vcpus": 1}, "nics": [{"name": "nic0"}]});
    reqwest::Client::new()
        .post(format!("{}/2/instances", extra.url()))
        .basic_auth("rapi", Some("pw-refresh"))
        .json(&create)
        .send()
        .await
        .expect("create");
    // ...and the periodic refresh notices within a couple of intervals.
    let mut seen = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        seen = backend(
            &ctx.admin(Method::GET, "/backends", None).await.body,
            "localhost",
        )["pinst_cnt"]
            .clone();
        if seen == 1 {
            break;
        }
    }
    assert_eq!(seen, 1);
    extra.shutdown().await;
}
