//! Reassigning networks and floating IPs between projects (Synnefo's `reassign` action on
//! `/networks/<id>/action` and `/floatingips/<id>/action`): quota moves with the record, a full
//! target project refuses (413, nothing moves), non-members and public networks are refused.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn networks_and_floating_ips_move_between_projects_with_their_quota() {
    let ctx = TestContext::new().await;
    ctx.create_project("lab").await;
    let r = ctx
        .admin(
            Method::PATCH,
            "/users/demo",
            Some(json!({"user": {"add_projects": ["lab"]}})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let token = ctx.demo_token().await;
    let r = ctx
        .post(
            &token,
            "/network/v2.0/networks",
            json!({"network": {"name": "moving"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let net = r.body["network"]["id"].as_str().expect("id").to_string();
    let r = ctx
        .post(&token, "/compute/v2.0/os-floating-ips", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let fip = r.body["floating_ip"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let private = "cyclades.network.private";
    let floating = "cyclades.floating_ip";
    assert_eq!(
        (
            ctx.usage("demo", private).await.0,
            ctx.usage("lab", private).await.0
        ),
        (1, 0)
    );
    assert_eq!(
        (
            ctx.usage("demo", floating).await.0,
            ctx.usage("lab", floating).await.0
        ),
        (1, 0)
    );

    // Validation: no project, unknown project, a project the caller is not in.
    let net_action = format!("/network/v2.0/networks/{net}/action");
    let fip_action = format!("/network/v2.0/floatingips/{fip}/action");
    let r = ctx.post(&token, &net_action, json!({"reassign": {}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = ctx
        .post(
            &token,
            &net_action,
            json!({"reassign": {"project": "nowhere"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    ctx.create_project("elsewhere").await;
    let r = ctx
        .post(
            &token,
            &fip_action,
            json!({"reassign": {"project": "elsewhere"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // The target is full: 413 naming the resource, nothing moves.
    ctx.admin(
        Method::PUT,
        &format!("/quotas/lab/{private}"),
        Some(json!({"limit": 0})),
    )
    .await;
    let r = ctx
        .post(&token, &net_action, json!({"reassign": {"project": "lab"}}))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(r.text.contains(private), "{}", r.text);
    assert_eq!(
        (
            ctx.usage("demo", private).await.0,
            ctx.usage("lab", private).await.0
        ),
        (1, 0)
    );
    ctx.admin(
        Method::PUT,
        &format!("/quotas/lab/{private}"),
        Some(json!({"limit": 5})),
    )
    .await;

    // Both move, and their quota with them.
    let r = ctx
        .post(&token, &net_action, json!({"reassign": {"project": "lab"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = ctx
        .post(&token, &fip_action, json!({"reassign": {"project": "lab"}}))
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(
        (
            ctx.usage("demo", private).await.0,
            ctx.usage("lab", private).await.0
        ),
        (0, 1)
    );
    assert_eq!(
        (
            ctx.usage("demo", floating).await.0,
            ctx.usage("lab", floating).await.0
        ),
        (0, 1)
    );
    let lab = ctx.admin(Method::GET, "/projects/lab", None).await.body["project"]["id"]
        .as_str()
        .map(str::to_string);
    let n = ctx
        .get(&format!("/network/v2.0/networks/{net}"), Some(&token))
        .await;
    assert_eq!(
        n.body["network"]["tenant_id"].as_str().map(str::to_string),
        lab,
        "{}",
        n.text
    );
    // Nothing left pending for reconcile-commissions to settle.
    let r = ctx
        .admin(Method::POST, "/reconcile/commissions", Some(json!({})))
        .await;
    assert_eq!(r.body["commissions"], json!([]), "{}", r.text);

    // Public networks stay where they are.
    let nets = ctx.get("/network/v2.0/networks", Some(&token)).await;
    let public = nets.body["networks"]
        .as_array()
        .expect("networks")
        .iter()
        .find(|n| n["public"] == true)
        .and_then(|n| n["id"].as_str())
        .expect("public")
        .to_string();
    let r = ctx
        .post(
            &token,
            &format!("/network/v2.0/networks/{public}/action"),
            json!({"reassign": {"project": "lab"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}
