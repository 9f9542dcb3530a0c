//! Network-side reconciliation against the simulated cluster: NIC drift of servers
//! (`reconcile-servers --fix-unsynced-nics`), networks changed behind cyclades' back
//! (`reconcile-networks`: missing, parted, external reservations, orphans) and pool bookkeeping
//! damaged in the store (`reconcile-pools`). Each drift is reported first, then repaired.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, create, flavor_id};
use super::reconcile::wait_ganeti_job;

/// A RAPI call behind cyclades' back, waited for.
async fn behind_our_back(ctx: &TestContext, method: Method, path: &str, body: Option<Value>) {
    let r = ctx.rapi(method, path, body).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    wait_ganeti_job(ctx, &r.body).await;
}

async fn admin_post(ctx: &TestContext, path: &str, body: Value) -> Vec<Value> {
    let r = ctx.admin(Method::POST, path, Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    r.body["drift"].as_array().cloned().unwrap_or_default()
}

fn kinds(drift: &[Value]) -> Vec<(String, bool)> {
    let mut k: Vec<(String, bool)> = drift
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or("").to_string(),
                d["fixed"] == true,
            )
        })
        .collect();
    k.sort();
    k
}

/// The id of the demo's public network.
async fn public_network(ctx: &TestContext, token: &str) -> String {
    let r = ctx.get("/network/v2.0/networks", Some(token)).await;
    r.body["networks"]
        .as_array()
        .expect("networks")
        .iter()
        .find(|n| n["public"] == true)
        .and_then(|n| n["id"].as_str())
        .expect("the demo public network")
        .to_string()
}

/// The simulated cluster's (only) node group.
async fn node_group(ctx: &TestContext) -> String {
    let groups = ctx.rapi(Method::GET, "/2/groups", None).await.body;
    groups[0]["name"].as_str().expect("group").to_string()
}

async fn private_network(ctx: &TestContext, token: &str, cidr: &str) -> String {
    let r = ctx
        .post(
            token,
            "/network/v2.0/networks",
            json!({"network": {"name": "n"}}),
        )
        .await;
    let id = r.body["network"]["id"].as_str().expect("id").to_string();
    let r = ctx
        .post(
            token,
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    id
}

#[tokio::test]
async fn nic_drift_is_reported_then_repaired() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let net = private_network(&ctx, &token, "10.30.0.0/24").await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "n", "imageRef": image, "flavorRef": flavor,
            "networks": [{"uuid": net, "fixed_ip": "10.30.0.10"}, {"uuid": net, "fixed_ip": "10.30.0.11"}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let s = ctx.wait_server(&token, &id, "ACTIVE").await;
    let ports: Vec<String> = s["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .map(|a| a["port_id"].as_str().expect("port").to_string())
        .collect();
    assert_eq!(ports.len(), 2);
    assert!(
        admin_post(&ctx, "/reconcile/servers", json!({}))
            .await
            .is_empty(),
        "in sync after create"
    );
    // Rendered (and cached) while both NICs are there.
    let detail = ctx.get("/compute/v2.0/servers/detail", Some(&token)).await;
    assert!(detail.text.contains("10.30.0.10"), "{}", detail.text);

    // Behind our back: the first NIC goes, the second gets a firewall tag, a NIC nobody
    // knows of appears.
    let inst = format!("/2/instances/snf-{id}");
    behind_our_back(
        &ctx,
        Method::PUT,
        &format!("{inst}/modify"),
        Some(json!({"nics": [["remove", format!("snf-nic-{}", ports[0]), {}]]})),
    )
    .await;
    behind_our_back(
        &ctx,
        Method::PUT,
        &format!(
            "{inst}/tags?tag=synnefo:network:snf-nic-{}:limited",
            ports[1]
        ),
        None,
    )
    .await;
    behind_our_back(
        &ctx,
        Method::PUT,
        &format!("{inst}/modify"),
        Some(json!({"nics": [["add", -1, {"name": "snf-nic-999999", "network": format!("snf-net-{net}"), "ip": "10.30.0.99"}]]})),
    )
    .await;

    let drift = admin_post(&ctx, "/reconcile/servers", json!({})).await;
    assert_eq!(
        kinds(&drift),
        vec![
            ("unsynced_nics".to_string(), false),
            ("unsynced_nics".to_string(), false),
            ("unsynced_nics".to_string(), false)
        ],
        "{drift:?}"
    );
    let text = serde_json::to_string(&drift).expect("json");
    assert!(text.contains("no NIC"), "{text}");
    assert!(
        text.contains("firewall DISABLED in the database, PROTECTED in Ganeti"),
        "{text}"
    );
    assert!(text.contains("snf-nic-999999"), "{text}");

    let drift = admin_post(
        &ctx,
        "/reconcile/servers",
        json!({"fix_unsynced_nics": true}),
    )
    .await;
    let fixed = drift.iter().filter(|d| d["fixed"] == true).count();
    assert_eq!(
        fixed, 2,
        "the unknown NIC is left for an operator: {drift:?}"
    );
    let r = ctx
        .get(&format!("/network/v2.0/ports/{}", ports[0]), Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let s = ctx
        .get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
        .await
        .body["server"]
        .clone();
    assert_eq!(s["attachments"].as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(s["attachments"][0]["firewallProfile"], "PROTECTED", "{s}");
    // The cached listing follows too (the repair moves the server's generation).
    let detail = ctx.get("/compute/v2.0/servers/detail", Some(&token)).await;
    assert!(!detail.text.contains("10.30.0.10"), "{}", detail.text);
    assert!(detail.text.contains("10.30.0.11"), "{}", detail.text);
    // The released address can be taken again.
    let r = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.30.0.10"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let left = admin_post(&ctx, "/reconcile/servers", json!({})).await;
    assert_eq!(
        kinds(&left),
        vec![("unsynced_nics".to_string(), false)],
        "{left:?}"
    );
}

#[tokio::test]
async fn network_drift_is_reported_then_repaired() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let public = public_network(&ctx, &token).await;
    let public_name = format!("snf-net-{public}");
    assert!(
        admin_post(&ctx, "/reconcile/networks", json!({}))
            .await
            .is_empty(),
        "in sync at start"
    );
    let group = node_group(&ctx).await;

    // Behind our back: the public network is disconnected (parted), an orphan appears.
    behind_our_back(
        &ctx,
        Method::PUT,
        &format!("/2/networks/{public_name}/disconnect"),
        Some(json!({"group_name": group})),
    )
    .await;
    behind_our_back(
        &ctx,
        Method::POST,
        "/2/networks",
        Some(json!({"network_name": "snf-net-987654", "network": "10.98.0.0/24"})),
    )
    .await;
    let drift = admin_post(&ctx, "/reconcile/networks", json!({})).await;
    assert_eq!(
        kinds(&drift),
        vec![("orphan".to_string(), false), ("parted".to_string(), false)],
        "{drift:?}"
    );
    let drift = admin_post(&ctx, "/reconcile/networks", json!({"fix": true})).await;
    assert!(drift.iter().all(|d| d["fixed"] == true), "{drift:?}");
    let info = ctx
        .rapi(Method::GET, &format!("/2/networks/{public_name}"), None)
        .await
        .body;
    assert_eq!(info["group_list"][0][0], group.as_str(), "{info}");
    let r = ctx
        .rapi(Method::GET, "/2/networks/snf-net-987654", None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "orphan removed: {}",
        r.text
    );

    // The public network vanishes from Ganeti (missing); then it is recreated behind our back
    // with an address Ganeti reserves (external reservation).
    behind_our_back(
        &ctx,
        Method::PUT,
        &format!("/2/networks/{public_name}/disconnect"),
        Some(json!({"group_name": group})),
    )
    .await;
    behind_our_back(
        &ctx,
        Method::DELETE,
        &format!("/2/networks/{public_name}"),
        None,
    )
    .await;
    let drift = admin_post(&ctx, "/reconcile/networks", json!({})).await;
    assert_eq!(
        kinds(&drift),
        vec![("missing".to_string(), false)],
        "{drift:?}"
    );
    // A repair Ganeti refuses is reported on its item (the pass goes on, no 5xx).
    ctx.sim_faults(json!({"fail_next": {"OP_NETWORK_ADD": 1}}))
        .await;
    let drift = admin_post(&ctx, "/reconcile/networks", json!({"fix": true})).await;
    assert_eq!(
        kinds(&drift),
        vec![("missing".to_string(), false)],
        "{drift:?}"
    );
    assert_eq!(drift[0]["repair_failed"], true, "{drift:?}");
    assert!(
        drift[0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("repair failed")),
        "{drift:?}"
    );
    behind_our_back(
        &ctx,
        Method::POST,
        "/2/networks",
        Some(
            json!({"network_name": public_name, "network": "198.51.100.0/24",
            "gateway": "198.51.100.1", "add_reserved_ips": ["198.51.100.77"]}),
        ),
    )
    .await;
    let drift = admin_post(&ctx, "/reconcile/networks", json!({})).await;
    assert_eq!(
        kinds(&drift),
        vec![
            ("external_reservations".to_string(), false),
            ("parted".to_string(), false)
        ],
        "{drift:?}"
    );
    let drift = admin_post(&ctx, "/reconcile/networks", json!({"fix": true})).await;
    assert!(drift.iter().all(|d| d["fixed"] == true), "{drift:?}");
    assert!(
        admin_post(&ctx, "/reconcile/networks", json!({}))
            .await
            .is_empty(),
        "in sync after the repairs"
    );
    // The reserved address is never handed out: floating IPs skip it.
    let r = ctx
        .admin(Method::GET, &format!("/networks/{public}"), None)
        .await;
    assert!(r.text.contains("198.51.100.77"), "{}", r.text);
}

#[tokio::test]
async fn pool_bookkeeping_is_rebuilt_from_actual_use() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let net = private_network(&ctx, &token, "10.40.0.0/24").await;
    let r = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.40.0.5"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(
        admin_post(&ctx, "/reconcile/pools", json!({}))
            .await
            .is_empty(),
        "in sync at start"
    );
    let net_id: u64 = net.parse().expect("id");

    // Damage the bookkeeping while the server is down: a bridge taken by nobody, an address
    // marked used that no port holds, and the port's address forgotten.
    let ctx = ctx
        .restart_with(|dir| {
            let store = cyclades::store::testing::open(dir).expect("store");
            let mut batch = cyclades::store::Batch::new();
            let mut pool = store
                .pool_list()
                .expect("pools")
                .into_iter()
                .find(|p| p.kind == cyclades::store::BRIDGE)
                .expect("bridge pool");
            pool.take().expect("a free bridge");
            batch.update(&pool);
            let mut n = store.network_get(net_id).expect("network");
            let used = &mut n.subnets[0].used;
            used.remove(&"10.40.0.5".parse().expect("ip"));
            used.insert("10.40.0.9".parse().expect("ip"));
            batch.update(&n);
            store.commit(&batch).expect("commit");
        })
        .await;
    let drift = admin_post(&ctx, "/reconcile/pools", json!({})).await;
    assert_eq!(
        kinds(&drift),
        vec![
            ("unsynced".to_string(), false),
            ("unsynced".to_string(), false)
        ],
        "{drift:?}"
    );
    let drift = admin_post(&ctx, "/reconcile/pools", json!({"fix": true})).await;
    assert!(drift.iter().all(|d| d["fixed"] == true), "{drift:?}");
    assert!(
        admin_post(&ctx, "/reconcile/pools", json!({}))
            .await
            .is_empty(),
        "rebuilt"
    );
    // 10.40.0.5 is held again (409 for a second port), 10.40.0.9 is free.
    let token = ctx.demo_token().await;
    for (address, status) in [
        ("10.40.0.5", StatusCode::CONFLICT),
        ("10.40.0.9", StatusCode::CREATED),
    ] {
        let r = ctx
            .post(
                &token,
                "/network/v2.0/ports",
                json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": address}]}}),
            )
            .await;
        assert_eq!(r.status, status, "{address}: {}", r.text);
    }
}

/// The continuous pass backs off a network repair Ganeti keeps refusing (30 s, then doubling)
/// instead of retrying it every pass.
#[tokio::test]
async fn the_continuous_pass_backs_off_a_refused_network_repair() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 1).await;
    let token = ctx.demo_token().await;
    let public = public_network(&ctx, &token).await;
    let name = format!("snf-net-{public}");
    let group = node_group(&ctx).await;
    // Every repair fails (a pass may catch the network disconnected but not yet removed, and
    // try to connect it: that fails too, so our removal is never raced).
    ctx.sim_faults(json!({"fail_next": {"OP_NETWORK_ADD": 100, "OP_NETWORK_CONNECT": 100}}))
        .await;
    behind_our_back(
        &ctx,
        Method::PUT,
        &format!("/2/networks/{name}/disconnect"),
        Some(json!({"group_name": group})),
    )
    .await;
    behind_our_back(&ctx, Method::DELETE, &format!("/2/networks/{name}"), None).await;
    // Five passes (one a second): the first tries and fails, the next try is 30 s away.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let jobs = ctx.rapi(Method::GET, "/2/jobs?bulk=1", None).await.body;
    // (A pass between the disconnect and the removal may try to reconnect first and fail on
    // the removed network: either way one repair fails, then the network waits.)
    let refused = jobs
        .as_array()
        .expect("jobs")
        .iter()
        .filter(|j| j["ops"][0]["network_name"] == name.as_str())
        .filter(|j| j["status"] == "error")
        .count();
    assert_eq!(refused, 1, "one refused attempt, then backoff: {jobs}");
}
