//! `cyclades store-migrate`: a sled store holding servers, networks, subnets, ports, floating
//! IPs, volumes, images and jobs is copied into an empty PostgreSQL database and verified; a
//! server on that database then serves all of it as before; a non-empty target is refused.
//! Needs PostgreSQL (`scripts/postgres/up.sh`); says it skipped without one.

use cyclades::store::testing;
use cyclades_tests::TestContext;
use reqwest::StatusCode;
use serde_json::json;

use super::compute::active_servers;
use super::networks::private_network;

const LISTINGS: &[&str] = &[
    "/compute/v2.0/servers/detail",
    "/compute/v2.0/images/detail",
    "/compute/v2.0/flavors/detail",
    "/network/v2.0/networks",
    "/network/v2.0/subnets",
    "/network/v2.0/ports",
    "/network/v2.0/floatingips",
    "/volume/v2.0/volumes/detail",
];

/// Every listing, with the server's own address (it changes with the restart) taken out.
async fn snapshot(ctx: &TestContext, token: &str) -> Vec<String> {
    let mut out = Vec::new();
    for path in LISTINGS {
        let r = ctx.get(path, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        out.push(r.text.replace(&ctx.url, "<server>"));
    }
    out
}

#[tokio::test]
async fn a_sled_store_moves_to_postgres_with_everything_in_it() {
    let Some(server) = testing::postgres_or_skip("store_migrate") else {
        return;
    };
    // The source is sled whatever engine this run uses.
    let ctx = TestContext::with_config(|c| c.store.url = None).await;
    let token = ctx.demo_token().await;
    let servers = active_servers(&ctx, &token, &["m1", "m2"]).await;
    let (net, _subnet) = private_network(&ctx, &token, "10.9.0.0/24").await;
    let port = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": net, "device_id": servers[0]}}),
        )
        .await;
    assert_eq!(port.status, StatusCode::CREATED, "{}", port.text);
    let fip = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {}}),
        )
        .await;
    assert!(fip.status.is_success(), "{}", fip.text);
    super::volumes::standalone(&ctx, &token, "data", 1).await;
    // Let the port's connect job and the volume settle before comparing.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let before = snapshot(&ctx, &token).await;

    let target = testing::fresh_database(&server).expect("database");
    let copied_to = target.clone();
    let mut tables = Vec::new();
    let ctx = ctx
        .restart_with_config(|dir, config| {
            tables = cyclades::server::store_migrate(dir, &copied_to, None).expect("migrate");
            config.store.url = Some(copied_to.clone());
        })
        .await;
    let entries = |name: &str| {
        tables
            .iter()
            .find(|t| t.table == name)
            .map(|t| t.entries)
            .unwrap_or_else(|| panic!("no table {name}"))
    };
    for table in [
        "servers",
        "networks",
        "ports",
        "floating_ips",
        "volumes",
        "images",
        "jobs",
        "job_log",
        "users",
        "tokens",
    ] {
        assert!(entries(table) > 0, "{table} copied empty: {tables:?}");
    }
    assert_eq!(entries("meta"), 1, "only the schema version");

    // The server on PostgreSQL serves exactly what the sled one did, to the same token.
    let after = snapshot(&ctx, &token).await;
    for ((path, b), a) in LISTINGS.iter().zip(&before).zip(&after) {
        assert_eq!(b, a, "{path} differs after the move");
    }
    // And it keeps working: new ids do not collide with copied ones.
    let more = active_servers(&ctx, &token, &["m3"]).await;
    assert!(!servers.contains(&more[0]));

    // A second migration into the now non-empty database is refused by name.
    let source = tempfile::tempdir().expect("dir");
    drop(cyclades::store::Store::open(source.path()).expect("empty sled store"));
    let err = cyclades::server::store_migrate(source.path(), &target, None)
        .err()
        .expect("non-empty target refused");
    assert!(
        err.to_string().contains("in use") || err.to_string().contains("not empty"),
        "{err}"
    );
    ctx.shutdown().await;
    let err = cyclades::server::store_migrate(source.path(), &target, None)
        .err()
        .expect("non-empty target refused");
    assert!(err.to_string().contains("not empty"), "{err}");
}
