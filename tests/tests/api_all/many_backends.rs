//! More than 16 Ganeti backends (issue 14 item 4): Synnefo's one hex digit per backend caps a
//! cloud at 16 clusters; here 100 simulated clusters are added and the 17th and the 100th run
//! servers on a MAC-filtered network, each backend with a MAC prefix of its own, while the
//! first 16 keep Synnefo's prefixes.

use std::collections::BTreeSet;

use cyclades::backend::sim::{self, Latency, RunningSim, SimOptions};
use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "many-password";

/// A one-node simulated cluster on its own loopback address (its cluster name).
async fn cluster_at(address: &str) -> RunningSim {
    sim::start(SimOptions {
        tls: false,
        hypervisor: "fake".into(),
        listen: format!("{address}:0").parse().expect("addr"),
        cluster_name: format!("{address}.ganeti.test"),
        nodes: 1,
        username: "rapi".into(),
        password: PASSWORD.into(),
        state_dir: None,
        latency: Latency::zero(),
    })
    .await
    .expect("simulator")
}

/// Opens `open` for new servers and drains every other backend.
async fn only_open(ctx: &TestContext, backends: &[Value], open: &Value) {
    for b in backends {
        let drained = b["id"] != open["id"];
        let r = ctx
            .admin(
                Method::PATCH,
                &format!("/backends/{}", b["id"].as_str().expect("id")),
                Some(json!({"backend": {"drained": drained}})),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.text);
    }
}

/// The network's record in a simulated cluster's RAPI.
async fn ganeti_network(sim_url: &str, network: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{sim_url}/2/networks/snf-net-{network}"))
        .basic_auth("rapi", Some(PASSWORD))
        .send()
        .await
        .expect("rapi");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("json")
}

async fn mac_pool(ctx: &TestContext) -> Value {
    let pools = ctx.admin(Method::GET, "/pools", None).await;
    pools.body["pools"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["type"] == "mac-prefix"))
        .cloned()
        .expect("the demo's mac-prefix pool")
}

#[tokio::test]
async fn a_hundred_backends_run_mac_filtered_networks_with_distinct_prefixes() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    // Backends 2 to 100, beside the demo's (index 0); each gets the public network on add.
    let mut sims = Vec::new();
    for n in 2..=100 {
        let address = format!("127.0.0.{n}");
        let sim = cluster_at(&address).await;
        let body = json!({"backend": {"clustername": address, "port": sim.addr.port(),
                                      "username": "rapi", "password": PASSWORD, "http": true}});
        let added = ctx.admin(Method::POST, "/backends", Some(body)).await;
        assert_eq!(
            added.status,
            StatusCode::CREATED,
            "backend {n}: {}",
            added.text
        );
        sims.push(sim);
    }
    let list = ctx.admin(Method::GET, "/backends", None).await;
    let backends = list.body["backends"].as_array().expect("backends").clone();
    assert_eq!(backends.len(), 100);
    let by_name = |name: &str| -> Value {
        backends
            .iter()
            .find(|b| b["clustername"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("backend {name}"))
    };
    let (first, seventeenth, hundredth) = (
        backends[0].clone(),
        by_name("127.0.0.17"),
        by_name("127.0.0.100"),
    );
    assert_eq!(
        (&first["index"], &seventeenth["index"], &hundredth["index"]),
        (&json!(0), &json!(16), &json!(99))
    );

    let pool_before = mac_pool(&ctx).await;
    let (network, _) = super::networks::private_network(&ctx, &token, "10.7.0.0/24").await;
    let image = ctx.demo_image(&token).await;
    let flavor = super::compute::flavor_id(&ctx, &token, super::compute::FLAVOR_SMALL).await;
    let mut servers = Vec::new();
    for backend in [&first, &seventeenth, &hundredth] {
        only_open(&ctx, &backends, backend).await;
        let r = super::compute::create(
            &ctx,
            &token,
            json!({"name": format!("on-{}", backend["index"]), "imageRef": image,
                   "flavorRef": flavor, "networks": [{"uuid": network}]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        let id = r.body["server"]["id"].as_str().expect("id").to_string();
        ctx.wait_server(&token, &id, "ACTIVE").await;
        let placed = ctx
            .admin(Method::GET, &format!("/servers/{id}"), None)
            .await;
        assert_eq!(placed.body["server"]["backend_id"], backend["id"]);
        servers.push(id);
    }

    // Each backend has its own prefix for the network: the network's pooled prefix plus the
    // backend's digit on the first 16 (Synnefo's), a prefix of the backend's group beyond.
    let doc = ctx
        .admin(Method::GET, &format!("/networks/{network}"), None)
        .await;
    let doc = &doc.body["network"];
    let pooled = doc["mac_prefix"].as_str().expect("mac_prefix").to_string();
    let groups = &doc["group_mac_prefixes"];
    let group1 = groups["1"].as_str().expect("group 1 prefix");
    let group6 = groups["6"].as_str().expect("group 6 prefix");
    let expected = [
        format!("{pooled}0"),
        format!("{group1}0"),
        format!("{group6}3"),
    ];
    let distinct: BTreeSet<&str> = [pooled.as_str(), group1, group6].into_iter().collect();
    assert_eq!(distinct.len(), 3, "{doc}");
    for (backend, prefix) in [&first, &seventeenth, &hundredth].iter().zip(&expected) {
        let id = backend["id"].as_str().expect("id");
        assert_eq!(doc["backend_mac_prefixes"][id], prefix.as_str(), "{doc}");
    }
    // What Ganeti holds: the prefix on the cluster, and each server's MAC under it.
    for (sim, prefix) in [(&sims[15], &expected[1]), (&sims[98], &expected[2])] {
        let net = ganeti_network(&sim.url(), &network).await;
        assert_eq!(net["mac_prefix"], prefix.as_str(), "{net}");
    }
    for (server, prefix) in servers.iter().zip(&expected) {
        let ports = ctx
            .get(
                &format!("/network/v2.0/ports?device_id={server}&network_id={network}"),
                Some(&token),
            )
            .await;
        let mac = ports.body["ports"][0]["mac_address"]
            .as_str()
            .unwrap_or_else(|| panic!("a port of {server}: {}", ports.text));
        assert!(
            mac.starts_with(&format!("{prefix}:")),
            "{mac} under {prefix}"
        );
    }
    let pool_taken = mac_pool(&ctx).await;
    assert_eq!(
        pool_taken["used"].as_u64().expect("used"),
        pool_before["used"].as_u64().expect("used") + 3,
        "the network's prefix and two group prefixes"
    );

    // Removing the servers and the network gives all three prefixes back.
    for server in &servers {
        let r = ctx
            .delete(&token, &format!("/compute/v2.0/servers/{server}"))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        ctx.wait_server(&token, server, "DELETED").await;
    }
    let r = ctx
        .delete(&token, &format!("/network/v2.0/networks/{network}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let mut given_back = false;
    for _ in 0..100 {
        if mac_pool(&ctx).await["used"] == pool_before["used"] {
            given_back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        given_back,
        "pool after the network's removal: {}",
        mac_pool(&ctx).await
    );
    let drift = ctx.admin(Method::POST, "/reconcile/pools", None).await;
    assert!(drift.status.is_success(), "{}", drift.text);
    assert_eq!(drift.body["drift"], json!([]), "{}", drift.text);
    ctx.shutdown().await;
    drop(sims);
}
