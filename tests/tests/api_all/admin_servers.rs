//! Operators on users' servers: `server-modify` through the admin API — suspension (users get
//! 403, operators still act), `--action` and `--flavor` as the same jobs a user's request would
//! submit (`?wait=1` waits for them), and its validation.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn server_modify_suspends_acts_and_resizes_through_jobs() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["managed"]).await;
    let id = &ids[0];
    let modify = |body: serde_json::Value, wait: bool| {
        let ctx = &ctx;
        let path = format!("/servers/{id}{}", if wait { "?wait=1" } else { "" });
        async move { ctx.admin(Method::PATCH, &path, Some(body)).await }
    };

    let r = modify(json!({"suspended": true}), false).await;
    assert_eq!(r.body["server"]["suspended"], true, "{}", r.text);
    assert!(r.body["job"].is_null());
    ctx.request(
        Method::POST,
        &format!("/compute/v2.0/servers/{id}/action"),
        Some(&token),
        Some(json!({"os-stop": {}})),
    )
    .await
    .fault(403, "forbidden");

    // The operator still acts on a suspended server, and can wait for the job.
    let r = modify(json!({"action": "stop"}), true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["state"], "succeeded", "{}", r.text);
    assert_eq!(r.body["server"]["operstate"], "STOPPED", "{}", r.text);

    // --flavor is a resize job: Ganeti gets the new beparams, the record the new flavor.
    let bigger = "C2R2048D10drbd";
    let created = ctx
        .admin(
            Method::POST,
            "/flavors",
            Some(json!({"cpus": [2], "rams": [2048], "disks": [10], "volume_types": ["drbd"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let r = modify(json!({"flavor": bigger}), true).await;
    assert_eq!(r.body["state"], "succeeded", "{}", r.text);
    let instance = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{id}"), None)
        .await;
    assert_eq!(instance.body["beparams"]["vcpus"], 2, "{}", instance.text);
    assert_eq!(instance.body["beparams"]["maxmem"], 2048);

    modify(json!({"flavor": bigger, "action": "start"}), false)
        .await
        .fault(400, "badRequest");
    modify(json!({"action": "explode"}), false)
        .await
        .fault(400, "badRequest");
    let r = modify(json!({"action": "start", "suspended": false}), true).await;
    assert_eq!(r.body["state"], "succeeded", "{}", r.text);
    assert_eq!(
        (
            r.body["server"]["operstate"].as_str(),
            r.body["server"]["suspended"].as_bool()
        ),
        (Some("STARTED"), Some(false))
    );
    ctx.shutdown().await;
}
