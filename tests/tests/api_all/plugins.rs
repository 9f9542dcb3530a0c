//! The plugin platform through the admin API: list, inspect, load, swap, rollback, release,
//! allocator-test and shadowing.

use cyclades_tests::{TestContext, fixture_plugin};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn names(reply: &Value, key: &str) -> Vec<String> {
    reply[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn snapshot() -> Value {
    json!([
        {"id": 1, "mem_free_mb": 30000, "mem_total_mb": 65536, "disk_free_mb": 800000, "disk_total_mb": 1000000,
         "cpu_total": 32, "instances": 10, "disk_templates": ["plain", "drbd", "ext"]},
        {"id": 2, "mem_free_mb": 60000, "mem_total_mb": 65536, "disk_free_mb": 900000, "disk_total_mb": 1000000,
         "cpu_total": 32, "instances": 2, "disk_templates": ["plain", "drbd"]},
        {"id": 3, "mem_free_mb": 60000, "mem_total_mb": 65536, "disk_free_mb": 900000, "disk_total_mb": 1000000,
         "cpu_total": 32, "instances": 0, "disk_templates": ["plain", "drbd"], "offline": true}
    ])
}

#[tokio::test]
async fn builtins_are_listed_and_inspectable() {
    let ctx = TestContext::new().await;
    let list = ctx.admin(Method::GET, "/plugins", None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let listed = names(&list.body, "plugins");
    // 13 built-ins, plus the 3 examples that `serve --demo` loads.
    assert_eq!(listed.len(), 16, "{listed:?}");
    for name in [
        "alloc-default",
        "alloc-pack",
        "alloc-spread",
        "drbd",
        "ext_archipelago",
        "MAC_FILTERED",
        "PHYSICAL_VLAN",
        "ext_san",
        "OVS_VLAN",
        "alloc-headroom",
    ] {
        assert!(
            listed.iter().any(|n| n == name),
            "{name} missing from {listed:?}"
        );
    }
    let first = &list.body["plugins"][0];
    for field in [
        "name", "kind", "version", "digest", "source", "state", "calls", "faults",
    ] {
        assert!(!first[field].is_null(), "{field} missing: {first}");
    }
    let drbd = ctx.admin(Method::GET, "/plugins/drbd", None).await;
    assert_eq!(
        drbd.body["plugin"]["disk_template"]["disk_factor"], 2,
        "{}",
        drbd.text
    );
    assert_eq!(drbd.body["plugin"]["slots"], json!(["disk-template:drbd"]));
    let mac = ctx.admin(Method::GET, "/plugins/MAC_FILTERED", None).await;
    assert_eq!(mac.body["plugin"]["pools"]["mac_prefix"], true);
    ctx.admin(Method::GET, "/plugins/nope", None)
        .await
        .fault(404, "itemNotFound");
    let slots = ctx.admin(Method::GET, "/plugin-slots", None).await;
    // allocator + 7 disk templates (ext_san among them) + 5 network flavors (OVS_VLAN).
    assert_eq!(slots.body["slots"].as_array().map(Vec::len), Some(13));
    let ext_san = ctx.admin(Method::GET, "/plugins/ext_san", None).await;
    assert_eq!(ext_san.body["plugin"]["source"], "example:disk-ext-san");
    assert_eq!(ext_san.body["plugin"]["state"], "active");
    // Only admins.
    let demo = ctx.demo_token().await;
    ctx.get("/admin/v1/plugins", Some(&demo))
        .await
        .fault(403, "forbidden");
}

async fn active(ctx: &TestContext) -> Option<Value> {
    let slots = ctx.admin(Method::GET, "/plugin-slots", None).await;
    slots.body["slots"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["slot"] == "allocator"))
        .map(|s| s["plugin"].clone())
}

#[tokio::test]
async fn the_allocator_is_swapped_and_rolled_back_live() {
    let ctx = TestContext::new().await;
    let swap = |plugin: &str| json!({"slot": "allocator", "plugin": plugin});
    let reply = ctx
        .admin(Method::POST, "/plugin-slots/swap", Some(swap("alloc-pack")))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["slot"]["previous"]["plugin"], "alloc-default");
    assert_eq!(active(&ctx).await, Some(json!("alloc-pack")));

    // Wrong world and unknown slots are refused; the slot is unchanged.
    let m = ctx
        .admin(Method::POST, "/plugin-slots/swap", Some(swap("drbd")))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("wrong world"), "{m}");
    let m = ctx
        .admin(
            Method::POST,
            "/plugin-slots/swap",
            Some(json!({"slot": "gpu", "plugin": "alloc-pack"})),
        )
        .await
        .fault(400, "badRequest");
    assert!(m.contains("unknown plugin slot"), "{m}");
    ctx.admin(Method::POST, "/plugin-slots/swap", Some(swap("ghost")))
        .await
        .fault(404, "itemNotFound");
    assert_eq!(active(&ctx).await, Some(json!("alloc-pack")));

    let back = ctx
        .admin(
            Method::POST,
            "/plugin-slots/rollback",
            Some(json!({"slot": "allocator"})),
        )
        .await;
    assert_eq!(
        back.body["slot"]["plugin"], "alloc-default",
        "{}",
        back.text
    );
    ctx.admin(
        Method::POST,
        "/plugin-slots/rollback",
        Some(json!({"slot": "allocator"})),
    )
    .await
    .fault(409, "conflict");
}

#[tokio::test]
async fn loading_validates_and_keeps_the_old_plugin_on_failure() {
    let ctx = TestContext::new().await;
    let load = |path: std::path::PathBuf| json!({"path": path.display().to_string()});
    let m = ctx
        .admin(
            Method::POST,
            "/plugins",
            Some(load(fixture_plugin("fixture_future_wit"))),
        )
        .await
        .fault(400, "badRequest");
    assert!(
        m.contains("unsupported WIT version") && m.contains("0.9.0"),
        "{m}"
    );
    let garbage = ctx.data_dir().join("garbage.wasm");
    std::fs::write(&garbage, b"\0asm garbage").expect("write");
    let m = ctx
        .admin(Method::POST, "/plugins", Some(load(garbage)))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("not a valid WebAssembly component"), "{m}");
    let m = ctx
        .admin(
            Method::POST,
            "/plugins",
            Some(json!({"path": "relative.wasm"})),
        )
        .await
        .fault(400, "badRequest");
    assert!(m.contains("absolute"), "{m}");
    assert_eq!(
        names(
            &ctx.admin(Method::GET, "/plugins", None).await.body,
            "plugins"
        )
        .len(),
        16
    );

    // A valid operator plugin loads, and can then be put into the allocator slot by path or name.
    let loaded = ctx
        .admin(
            Method::POST,
            "/plugins",
            Some(load(fixture_plugin("fixture_evil"))),
        )
        .await;
    assert_eq!(loaded.status, StatusCode::CREATED, "{}", loaded.text);
    assert_eq!(loaded.body["plugin"]["state"], "loaded");
    assert_eq!(loaded.body["plugin"]["kind"], "allocator");
    let swapped = ctx
        .admin(
            Method::POST,
            "/plugin-slots/swap",
            Some(json!({"slot": "allocator", "plugin": "fixture-evil"})),
        )
        .await;
    assert_eq!(swapped.status, StatusCode::OK, "{}", swapped.text);
    let shown = ctx.admin(Method::GET, "/plugins/fixture-evil", None).await;
    assert_eq!(shown.body["plugin"]["state"], "active");
}

#[tokio::test]
async fn allocator_test_compares_placements() {
    let ctx = TestContext::new().await;
    let body = json!({"plugin": "alloc-spread", "backends": snapshot()});
    let reply = ctx.admin(Method::POST, "/allocator-test", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let report = &reply.body["allocator_test"];
    assert_eq!(
        (report["candidate"].as_str(), report["active"].as_str()),
        (Some("alloc-spread"), Some("alloc-default"))
    );
    assert_eq!(report["backends"], 3);
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 21, "3 sizes × 7 disk templates");
    let drbd_small = results
        .iter()
        .find(|r| r["request"] == "drbd 1 vCPU 1024 MiB 10 GiB")
        .expect("row");
    assert_eq!(drbd_small["candidate"], "2", "fewest instances");
    let offline = drbd_small["explanation"]
        .as_array()
        .and_then(|e| e.iter().find(|c| c["backend"] == "3"))
        .expect("backend 3");
    assert_eq!(offline["verdict"], "rejected: offline");
    let rbd = results
        .iter()
        .find(|r| r["request"] == "rbd 1 vCPU 1024 MiB 10 GiB")
        .expect("row");
    assert_eq!(rbd["candidate"], "none", "no backend has rbd");

    // Without a snapshot, the registered backends are the table (the demo's simulated cluster).
    let current = ctx
        .admin(
            Method::POST,
            "/allocator-test",
            Some(json!({"plugin": "alloc-spread"})),
        )
        .await;
    assert_eq!(
        current.body["allocator_test"]["backends"], 1,
        "{}",
        current.text
    );
    ctx.admin(
        Method::POST,
        "/allocator-test",
        Some(json!({"plugin": "drbd", "backends": snapshot()})),
    )
    .await
    .fault(400, "badRequest");
    let bad = json!({"plugin": "alloc-spread", "backends": [{"id": 1, "mem_free_mb": 1, "mem_total_mb": 1, "disk_free_mb": 1,
        "disk_total_mb": 1, "cpu_total": 1, "disk_templates": ["floppy"]}]});
    let m = ctx
        .admin(Method::POST, "/allocator-test", Some(bad))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("floppy"), "{m}");
}

#[tokio::test]
async fn shadowing_is_switched_on_and_off() {
    let ctx = TestContext::new().await;
    assert_eq!(
        ctx.admin(Method::GET, "/plugin-shadow", None).await.body["shadow"],
        Value::Null
    );
    let on = ctx
        .admin(
            Method::PUT,
            "/plugin-shadow",
            Some(json!({"plugin": "alloc-spread"})),
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    let shown = ctx.admin(Method::GET, "/plugin-shadow", None).await;
    assert_eq!(shown.body["shadow"]["plugin"], "alloc-spread");
    let list = ctx.admin(Method::GET, "/plugins/alloc-spread", None).await;
    assert_eq!(list.body["plugin"]["state"], "shadow");
    ctx.admin(
        Method::PUT,
        "/plugin-shadow",
        Some(json!({"plugin": "plain"})),
    )
    .await
    .fault(400, "badRequest");
    assert_eq!(
        ctx.admin(Method::DELETE, "/plugin-shadow", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ctx.admin(Method::GET, "/plugin-shadow", None).await.body["shadow"],
        Value::Null
    );
}

#[tokio::test]
async fn configured_slots_and_settings_apply_at_start() {
    let ctx = TestContext::with_config(|c| {
        c.plugins
            .slots
            .insert("allocator".into(), "alloc-spread".into());
        c.plugins.settings.insert(
            "drbd".into(),
            [("wait_for_sync".to_string(), "true".to_string())].into(),
        );
        c.plugins.limits.insert(
            "alloc-pack".into(),
            cyclades::config::PluginLimitsOverride {
                deadline_ms: Some(50),
                ..Default::default()
            },
        );
    })
    .await;
    let slots = ctx.admin(Method::GET, "/plugin-slots", None).await;
    let allocator = slots.body["slots"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["slot"] == "allocator"))
        .cloned();
    assert_eq!(
        allocator.map(|s| s["plugin"].clone()),
        Some(json!("alloc-spread"))
    );
    let drbd = ctx.admin(Method::GET, "/plugins/drbd", None).await;
    assert_eq!(drbd.body["plugin"]["settings"], json!(["wait_for_sync"]));
    let pack = ctx.admin(Method::GET, "/plugins/alloc-pack", None).await;
    assert_eq!(pack.body["plugin"]["limits"]["deadline_ms"], 50);
}

#[tokio::test]
async fn the_plugin_directory_is_loaded_at_start_and_bad_files_are_skipped() {
    let plugins = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        fixture_plugin("fixture_evil"),
        plugins.path().join("evil.wasm"),
    )
    .expect("copy");
    std::fs::write(plugins.path().join("broken.wasm"), b"not a component").expect("write");
    std::fs::write(plugins.path().join("notes.txt"), b"ignored").expect("write");
    let dir = plugins.path().to_path_buf();
    let ctx = TestContext::with_config(move |c| c.plugins.dir = Some(dir)).await;
    let evil = ctx.admin(Method::GET, "/plugins/fixture-evil", None).await;
    assert_eq!(evil.status, StatusCode::OK, "{}", evil.text);
    assert!(
        evil.body["plugin"]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("evil.wasm"))
    );
    assert_eq!(
        names(
            &ctx.admin(Method::GET, "/plugins", None).await.body,
            "plugins"
        )
        .len(),
        17
    );
}
