//! The quota holder through the admin API: limits, usage, commissions.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn row<'a>(rows: &'a Value, project: &str, resource: &str) -> &'a Value {
    rows["quotas"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|r| r["project"] == project && r["resource"] == resource)
        })
        .unwrap_or_else(|| panic!("no quota row {project}/{resource}: {rows}"))
}

#[tokio::test]
async fn limits_default_and_can_be_set() {
    let ctx = TestContext::with_config(|c| {
        c.quota.default_limits.insert("cyclades.vm".into(), 3);
    })
    .await;
    let all = ctx.admin(Method::GET, "/quotas", None).await;
    // 2 projects (admin, demo) × 8 resources.
    assert_eq!(
        all.body["quotas"].as_array().map(Vec::len),
        Some(16),
        "{}",
        all.text
    );
    assert_eq!(row(&all.body, "demo", "cyclades.vm")["limit"], 3);
    assert_eq!(row(&all.body, "demo", "cyclades.ram")["unit"], "bytes");

    let set = ctx
        .admin(
            Method::PUT,
            "/quotas/demo/cyclades.ram",
            Some(json!({"limit": 8u64 << 30})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.body["quota"]["limit"], 8u64 << 30);
    let demo = ctx.admin(Method::GET, "/quotas?project=demo", None).await;
    assert_eq!(demo.body["quotas"].as_array().map(Vec::len), Some(8));
    assert_eq!(row(&demo.body, "demo", "cyclades.ram")["limit"], 8u64 << 30);

    let m = ctx
        .admin(
            Method::PUT,
            "/quotas/demo/cyclades.gpu",
            Some(json!({"limit": 1})),
        )
        .await
        .fault(400, "badRequest");
    assert!(
        m.contains("cyclades.gpu") && m.contains("cyclades.vm"),
        "{m}"
    );
    ctx.admin(
        Method::PUT,
        "/quotas/demo/cyclades.vm",
        Some(json!({"limit": -1})),
    )
    .await
    .fault(400, "badRequest");
    ctx.admin(
        Method::PUT,
        "/quotas/nowhere/cyclades.vm",
        Some(json!({"limit": 1})),
    )
    .await
    .fault(404, "itemNotFound");
    ctx.admin(
        Method::PUT,
        "/quotas/demo/cyclades.vm",
        Some(json!({"limit": "many"})),
    )
    .await
    .fault(400, "badRequest");
}

async fn issue(ctx: &TestContext, name: &str, provisions: Value) -> cyclades_tests::Reply {
    let body = json!({"commission": {"name": name, "project": "demo", "provisions": provisions}});
    ctx.admin(Method::POST, "/commissions", Some(body)).await
}

#[tokio::test]
async fn commissions_reserve_accept_and_reject() {
    let ctx = TestContext::new().await;
    ctx.admin(
        Method::PUT,
        "/quotas/demo/cyclades.vm",
        Some(json!({"limit": 2})),
    )
    .await;

    let first = issue(
        &ctx,
        "create-1",
        json!({"cyclades.vm": 1, "cyclades.cpu": 2}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let serial = first.body["commission"]["serial"]
        .as_str()
        .expect("serial is a string")
        .to_string();
    assert_eq!(first.body["commission"]["state"], "pending");
    // Idempotent by name.
    let again = issue(
        &ctx,
        "create-1",
        json!({"cyclades.vm": 1, "cyclades.cpu": 2}),
    )
    .await;
    assert_eq!(again.body["commission"]["serial"], serial.as_str());
    issue(&ctx, "create-1", json!({"cyclades.vm": 2}))
        .await
        .fault(409, "conflict");

    let quotas = ctx.admin(Method::GET, "/quotas?project=demo", None).await;
    assert_eq!(row(&quotas.body, "demo", "cyclades.vm")["pending"], 1);
    assert_eq!(row(&quotas.body, "demo", "cyclades.vm")["usage"], 0);

    // Pending reservations count against the limit; the fault names the resource.
    let m = issue(&ctx, "create-2", json!({"cyclades.vm": 2}))
        .await
        .fault(413, "overLimit");
    assert!(m.contains("cyclades.vm"), "{m}");
    issue(&ctx, "create-3", json!({"cyclades.nope": 1}))
        .await
        .fault(400, "badRequest");
    issue(&ctx, "create-4", json!({}))
        .await
        .fault(400, "badRequest");

    let accepted = ctx
        .admin(Method::POST, &format!("/commissions/{serial}/accept"), None)
        .await;
    assert_eq!(
        accepted.body["commission"]["state"], "accepted",
        "{}",
        accepted.text
    );
    let accepted_again = ctx
        .admin(Method::POST, &format!("/commissions/{serial}/accept"), None)
        .await;
    assert_eq!(accepted_again.status, StatusCode::OK);
    ctx.admin(Method::POST, &format!("/commissions/{serial}/reject"), None)
        .await
        .fault(409, "conflict");
    let quotas = ctx.admin(Method::GET, "/quotas?project=demo", None).await;
    assert_eq!(row(&quotas.body, "demo", "cyclades.vm")["usage"], 1);
    assert_eq!(row(&quotas.body, "demo", "cyclades.cpu")["usage"], 2);

    // A rejected commission gives its reservation back.
    let second = issue(&ctx, "create-5", json!({"cyclades.vm": 1})).await;
    let serial2 = second.body["commission"]["serial"]
        .as_str()
        .expect("serial")
        .to_string();
    issue(&ctx, "create-6", json!({"cyclades.vm": 1}))
        .await
        .fault(413, "overLimit");
    ctx.admin(
        Method::POST,
        &format!("/commissions/{serial2}/reject"),
        None,
    )
    .await;
    assert_eq!(
        issue(&ctx, "create-7", json!({"cyclades.vm": 1}))
            .await
            .status,
        StatusCode::CREATED
    );

    let pending = ctx
        .admin(Method::GET, "/commissions?pending=true", None)
        .await;
    assert_eq!(
        pending.body["commissions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        pending.text
    );
    ctx.admin(Method::GET, "/commissions/999999999", None)
        .await
        .fault(404, "itemNotFound");
    ctx.admin(Method::POST, "/commissions/abc/accept", None)
        .await
        .fault(404, "itemNotFound");
}

/// `enforce-resources`: after an operator lowers limits, the plan names the servers to delete
/// or shut down in Synnefo's order (STOPPED before running, newest first), soft resources shut
/// down instead of deleting, and `--fix` submits the jobs until the project fits.
#[tokio::test]
async fn enforce_resources_plans_and_applies_in_synnefos_order() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["a", "b", "c"]).await;
    let r = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{}/action", ids[0]),
            json!({"os-stop": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    ctx.wait_server(&token, &ids[0], "STOPPED").await;
    // Let the stop job release its lock before planning.
    for _ in 0..100 {
        let s = ctx
            .get(&format!("/compute/v2.0/servers/{}", ids[0]), Some(&token))
            .await;
        if s.body["server"]["SNF:task_state"] == "" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let enforce = |body: Value| {
        let ctx = &ctx;
        async move {
            let r = ctx
                .admin(Method::POST, "/enforce/resources", Some(body))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body["actions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    (
                        a["server_id"].as_str().unwrap_or("").to_string(),
                        a["action"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert!(enforce(json!({})).await.is_empty(), "within limits");
    let set = |resource: &'static str, limit: i64| {
        let ctx = &ctx;
        async move {
            let r = ctx
                .admin(
                    Method::PUT,
                    &format!("/quotas/demo/{resource}"),
                    Some(json!({"limit": limit})),
                )
                .await;
            assert!(r.status.is_success(), "{}", r.text);
        }
    };
    set("cyclades.vm", 1).await;
    let pair = |i: usize, a: &str| (ids[i].clone(), a.to_string());
    assert_eq!(
        enforce(json!({})).await,
        [pair(0, "DELETE"), pair(2, "DELETE")],
        "the stopped server first, then the newest running one"
    );
    assert_eq!(
        enforce(json!({"soft_resources": ["vm"]})).await,
        [pair(2, "SHUTDOWN"), pair(1, "SHUTDOWN")],
        "soft: running servers shut down, newest first"
    );
    set("cyclades.vm", 10).await;
    set("cyclades.cpu", 1).await;
    assert_eq!(enforce(json!({})).await, [pair(2, "SHUTDOWN")]);
    assert!(
        enforce(json!({"resources": ["vm"]})).await.is_empty(),
        "only the resources asked for"
    );
    ctx.admin(
        Method::POST,
        "/enforce/resources",
        Some(json!({"resources": ["gpu"]})),
    )
    .await
    .fault(400, "badRequest");
    assert_eq!(enforce(json!({"fix": true})).await, [pair(2, "SHUTDOWN")]);
    ctx.wait_server(&token, &ids[2], "STOPPED").await;
    for _ in 0..100 {
        if enforce(json!({})).await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(enforce(json!({})).await.is_empty(), "the project fits now");
    ctx.shutdown().await;
}
