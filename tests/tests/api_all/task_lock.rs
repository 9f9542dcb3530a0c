//! The task lock through the API (spec §9.2, checklist C50): DESTROY is exempt.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, create, flavor_id};

/// DESTROY is exempt from the task lock (spec §9.2, checklist C50): deleting a server while
/// another action runs is accepted at once and the destroy outlasts that action; meanwhile
/// other actions (a reassign too) are refused with 400, a second delete is accepted, and the server ends
/// DELETED with its instance and quota gone. A server still building once its create reached
/// Ganeti is deleted the same way.
#[tokio::test]
async fn delete_is_exempt_from_the_task_lock() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["busy"]).await;
    let id = &ids[0];
    let base = format!("/compute/v2.0/servers/{id}");
    let act = |body: Value| ctx.action(&token, id, body);
    ctx.sim_faults(json!({"slow_next": {"OP_INSTANCE_SHUTDOWN": 2.0}}))
        .await;
    let r = act(json!({"os-stop": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let m = act(json!({"reboot": {"type": "SOFT"}}))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("pending STOP"), "{m}");
    // Reassigning is an action like the others (Synnefo's validate_server_action): 400.
    let m = act(json!({"reassign": {"project": "demo"}}))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("REASSIGN while there is a pending STOP"), "{m}");
    for _ in 0..2 {
        let r = ctx.delete(&token, &base).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }
    let m = act(json!({"os-start": {}})).await.fault(400, "badRequest");
    assert!(m.contains("pending DESTROY"), "{m}");
    ctx.wait_server(&token, id, "DELETED").await;
    let instance = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{id}"), None)
        .await;
    assert_eq!(instance.status, StatusCode::NOT_FOUND, "{}", instance.text);

    // Still building, its create already in Ganeti: deleted once the create is done.
    ctx.sim_faults(json!({"slow_next": {"OP_INSTANCE_CREATE": 2.0}}))
        .await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "young", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    let young = r.body["server"]["id"].as_str().expect("id").to_string();
    for _ in 0..100 {
        let s = ctx
            .admin(Method::GET, &format!("/servers/{young}"), None)
            .await;
        if !s.body["server"]["backend_job_id"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{young}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    ctx.wait_server(&token, &young, "DELETED").await;
    let instances = ctx.rapi(Method::GET, "/2/instances", None).await;
    assert_eq!(instances.body, json!([]), "{}", instances.text);
    let quota = ctx.admin(Method::GET, "/quotas?project=demo", None).await;
    let vm = quota.body["quotas"]
        .as_array()
        .and_then(|q| q.iter().find(|r| r["resource"] == "cyclades.vm"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(vm["usage"], 0, "{vm}");
    ctx.shutdown().await;
}
