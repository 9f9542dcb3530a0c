//! Prometheus metrics (issue 16 item 5, partly): `GET /metrics` for the operator token
//! (`X-Auth-Token` or `Authorization: Bearer`), refused to everyone else with a fault; and the
//! figures move as requests, jobs, RAPI calls and reconciliation happen.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::compute::{FLAVOR_SMALL, create, flavor_id};

/// The value of the sample line starting with `series` (labels included), 0 if absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(ctx: &TestContext) -> String {
    let r = TestContext::reply(
        ctx.http
            .get(format!("{}/metrics", ctx.url))
            .header("Authorization", format!("Bearer {}", ctx.admin_token)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{:?}",
        r.header("content-type")
    );
    r.text
}

#[tokio::test]
async fn metrics_are_for_operators_and_move_with_the_work() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    ctx.get("/metrics", None).await.fault(401, "unauthorized");
    ctx.get("/metrics", Some(&token))
        .await
        .fault(403, "forbidden");

    let before = scrape(&ctx).await;
    let show = r#"cyclades_http_requests_total{route="/compute/v2.0/servers/{id}",method="GET",status="200"}"#;
    let created = r#"cyclades_jobs_total{kind="server.create",outcome="succeeded"}"#;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "m", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(&token, &id, "ACTIVE").await;
    for _ in 0..3 {
        ctx.get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
            .await;
    }
    ctx.get("/compute/v2.0/servers/123456789", Some(&token))
        .await
        .fault(404, "itemNotFound");
    let r = ctx
        .admin(Method::POST, "/reconcile/servers", Some(json!({})))
        .await;
    assert!(r.status.is_success(), "{}", r.text);

    let after = scrape(&ctx).await;
    assert!(
        sample(&after, show) >= sample(&before, show) + 3.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            r#"cyclades_http_requests_total{route="/compute/v2.0/servers/{id}",method="GET",status="404"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(sample(&after, created), sample(&before, created) + 1.0);
    assert!(
        after.contains(r#"cyclades_job_step_duration_seconds_count{kind="server.create",step="allocate_backend"}"#),
        "{after}"
    );
    let rapi_ok: f64 = after
        .lines()
        .filter(|l| l.starts_with("cyclades_rapi_calls_total{") && l.contains(r#"outcome="ok""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(rapi_ok >= 2.0, "{after}");
    // The create called the allocator and the disk template: counted per plugin and function.
    for function in ["choose", "render_disks"] {
        let calls: f64 = after
            .lines()
            .filter(|l| l.starts_with("cyclades_plugin_calls_total{"))
            .filter(|l| l.contains(&format!(r#"function="{function}",outcome="ok""#)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(calls >= 1.0, "{function}: {after}");
    }
    assert!(
        after.contains("cyclades_plugin_call_duration_seconds_count{"),
        "{after}"
    );
    assert!(
        after.contains("cyclades_reconcile_passes_total{"),
        "{after}"
    );
    assert!(sample(&after, "cyclades_store_size_bytes") > 0.0, "{after}");
    assert!(
        !after.contains(&format!("/servers/{id}")),
        "raw paths never become labels"
    );
    ctx.shutdown().await;
}
