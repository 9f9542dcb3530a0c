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
    let unchecked = json!({"backend": {"clustername": "x", "username": "u", "password": "p", "no_check": true}});
    let m = ctx
        .admin(Method::POST, "/backends", Some(unchecked))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("needs its hypervisor"), "{m}");
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
    // A hypervisor the cluster does not enable (the simulator runs `fake`) is refused, as in
    // backend-add: its instances would fail in Ganeti.
    let m = ctx
        .admin(
            Method::PATCH,
            "/backends/localhost",
            Some(json!({"backend": {"hypervisor": "kvm"}})),
        )
        .await
        .fault(400, "badRequest");
    assert!(
        m.contains("'kvm' is not enabled on localhost: it enables fake"),
        "{m}"
    );
    let kept = ctx
        .admin(
            Method::PATCH,
            "/backends/localhost",
            Some(json!({"backend": {"hypervisor": "fake"}})),
        )
        .await;
    assert_eq!(kept.body["backend"]["hypervisor"], "fake", "{}", kept.text);
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
    let found = cyclades::store::testing::stored_in_clear(&data_dir, b"plaintext-canary-42");
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

/// A simulated cluster like the demo's (four nodes), listening on its own loopback address so
/// that its address can be its cluster name.
async fn twin_cluster(address: &str) -> RunningSim {
    sim::start(SimOptions {
        tls: false,
        hypervisor: "fake".into(),
        listen: format!("{address}:0").parse().expect("addr"),
        cluster_name: format!("{address}.ganeti.test"),
        nodes: 4,
        username: "rapi".into(),
        password: "twin-password".into(),
        state_dir: None,
        latency: Latency::zero(),
    })
    .await
    .expect("simulator")
}

/// Adds `extra` more clusters beside the demo's, opens them, swaps the allocator to `policy`,
/// creates `count` servers back to back (no refresh in between) and returns how many landed on
/// each backend.
async fn placements(policy: &str, extra: usize, count: usize) -> Vec<usize> {
    let ctx = TestContext::new().await;
    let mut sims = Vec::new();
    for n in 0..extra {
        let address = format!("127.0.0.{}", n + 2);
        let sim = twin_cluster(&address).await;
        let body = json!({"backend": {"clustername": address, "port": sim.addr.port(), "username": "rapi",
                                      "password": "twin-password", "hypervisor": "fake", "http": true}});
        let added = ctx.admin(Method::POST, "/backends", Some(body)).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
        let opened = ctx
            .admin(
                Method::PATCH,
                &format!("/backends/{address}"),
                Some(json!({"backend": {"drained": false}})),
            )
            .await;
        assert!(opened.status.is_success(), "{}", opened.text);
        sims.push(sim);
    }
    if policy != "alloc-default" {
        let swap = json!({"slot": "allocator", "plugin": policy});
        let r = ctx
            .admin(Method::POST, "/plugin-slots/swap", Some(swap))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    for resource in ["vm", "cpu", "total_cpu", "ram", "total_ram", "disk"] {
        let r = ctx
            .admin(
                Method::PUT,
                &format!("/quotas/demo/cyclades.{resource}"),
                Some(json!({"limit": 1_u64 << 50})),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = super::compute::flavor_id(&ctx, &token, "C1R1024D10drbd").await;
    let mut ids = Vec::new();
    for n in 0..count {
        let r = ctx.post(&token, "/compute/v2.0/servers", json!({"server": {"name": format!("vm{n}"), "imageRef": image, "flavorRef": flavor}}))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        ids.push(r.body["server"]["id"].as_str().expect("id").to_string());
    }
    let backends = ctx.admin(Method::GET, "/backends", None).await;
    let backend_ids: Vec<String> = backends.body["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_string())
        .collect();
    let mut counts = vec![0; backend_ids.len()];
    for id in &ids {
        let s = ctx
            .admin(Method::GET, &format!("/servers/{id}"), None)
            .await;
        let on = s.body["server"]["backend_id"].as_str().expect("backend");
        let at = backend_ids
            .iter()
            .position(|b| b == on)
            .expect("known backend");
        counts[at] += 1;
    }
    ctx.shutdown().await;
    drop(sims);
    counts.sort_unstable();
    counts
}

#[tokio::test]
async fn alloc_spread_spreads_back_to_back_creates_evenly() {
    assert_eq!(placements("alloc-spread", 1, 8).await, vec![4, 4]);
    assert_eq!(placements("alloc-spread", 2, 9).await, vec![3, 3, 3]);
}

#[tokio::test]
async fn alloc_pack_keeps_back_to_back_creates_on_one_backend() {
    assert_eq!(placements("alloc-pack", 1, 6).await, vec![0, 6]);
    assert_eq!(placements("alloc-pack", 2, 6).await, vec![0, 0, 6]);
}

#[tokio::test]
async fn alloc_default_balances_back_to_back_creates_by_load() {
    assert_eq!(placements("alloc-default", 1, 8).await, vec![4, 4]);
    assert_eq!(placements("alloc-default", 2, 9).await, vec![3, 3, 3]);
}

/// `backend-add` of a real Ganeti 3.0 cluster (`scripts/ganeti/up.sh`, fake hypervisor) with no
/// hypervisor named records the cluster's own, refuses one the cluster does not enable, and the
/// first server placed there becomes ACTIVE (no kvm-only `hvparams` reach it).
#[tokio::test]
async fn a_real_cluster_added_without_a_hypervisor_runs_servers() {
    let Ok(url) = std::env::var("GANETI_RAPI_URL") else {
        assert!(
            std::env::var_os("CYCLADES_REQUIRE_GANETI").is_none(),
            "CYCLADES_REQUIRE_GANETI is set but GANETI_RAPI_URL is not"
        );
        eprintln!(
            "SKIPPED a_real_cluster_added_without_a_hypervisor_runs_servers: GANETI_RAPI_URL is not set (run scripts/ganeti/up.sh as root)"
        );
        return;
    };
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port in GANETI_RAPI_URL");
    let user = std::env::var("GANETI_RAPI_USER").unwrap_or_else(|_| "cyclades".into());
    let password = std::env::var("GANETI_RAPI_PASSWORD").unwrap_or_else(|_| "cyclades".into());
    let ctx = TestContext::new().await;
    // The demo's cluster is 127.0.0.1; the real one answers on the same address as localhost.
    let body = |hypervisor: Option<&str>| {
        let mut b = json!({"backend": {"clustername": "localhost", "port": port, "username": user,
                                       "password": password, "insecure": true}});
        if let Some(h) = hypervisor {
            b["backend"]["hypervisor"] = json!(h);
        }
        b
    };
    let m = ctx
        .admin(Method::POST, "/backends", Some(body(Some("kvm"))))
        .await
        .fault(400, "badRequest");
    assert!(
        m.contains("'kvm' is not enabled") && m.contains("fake"),
        "{m}"
    );
    let added = ctx.admin(Method::POST, "/backends", Some(body(None))).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(
        added.body["backend"]["hypervisor"], "fake",
        "{}",
        added.text
    );
    // Only the real cluster takes servers.
    for (name, drained) in [("localhost", false), ("127.0.0.1", true)] {
        let r = ctx
            .admin(
                Method::PATCH,
                &format!("/backends/{name}"),
                Some(json!({"backend": {"drained": drained}})),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = super::compute::flavor_id(&ctx, &token, "C1R1024D10file").await;
    let r = ctx
        .post(
            &token,
            "/compute/v2.0/servers",
            json!({"server": {"name": "on-real-ganeti", "imageRef": image, "flavorRef": flavor}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let mut status = Value::Null;
    for _ in 0..600 {
        let s = ctx
            .admin(Method::GET, &format!("/servers/{id}"), None)
            .await;
        status = s.body["server"].clone();
        if status["status"] == "ACTIVE" || status["status"] == "ERROR" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status["status"], "ACTIVE", "{status}");
    let r = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{id}"))
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    ctx.wait_server(&token, &id, "DELETED").await;
    ctx.shutdown().await;
}
