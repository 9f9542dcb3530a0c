//! Rescue: the `rescue`/`unrescue` actions behind `[rescue] enabled`, the rescue-image registry,
//! the choice of image (explicit, by the server's OS, the default), and what Ganeti gets
//! (`hvparams` boot_order/cdrom_image_path) on a KVM cluster, and on a fake-hypervisor cluster
//! (as the real test cluster), which refuses those parameters: the job fails and nothing changes.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, create, flavor_id};

async fn server(ctx: &TestContext, token: &str, id: &str) -> Value {
    ctx.get(&format!("/compute/v2.0/servers/{id}"), Some(token))
        .await
        .body["server"]
        .clone()
}

/// Waits until no task holds the server and returns it.
async fn settled(ctx: &TestContext, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let s = server(ctx, token, id).await;
        if s["SNF:task_state"] == "" {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("server {id} kept a task");
}

async fn act(ctx: &TestContext, token: &str, id: &str, body: Value) -> cyclades_tests::Reply {
    ctx.post(token, &format!("/compute/v2.0/servers/{id}/action"), body)
        .await
}

async fn hvparams(ctx: &TestContext, id: &str) -> Value {
    ctx.rapi(Method::GET, &format!("/2/instances/snf-{id}"), None)
        .await
        .body["hvparams"]
        .clone()
}

async fn stopped_server(ctx: &TestContext, token: &str) -> String {
    let image = ctx.demo_image(token).await;
    let flavor = flavor_id(ctx, token, FLAVOR_SMALL).await;
    let r = create(
        ctx,
        token,
        json!({"name": "sick", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(token, &id, "ACTIVE").await;
    let r = act(ctx, token, &id, json!({"os-stop": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    ctx.wait_server(token, &id, "STOPPED").await;
    settled(ctx, token, &id).await;
    id
}

#[tokio::test]
async fn rescue_is_404_unless_enabled() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let id = stopped_server(&ctx, &token).await;
    act(&ctx, &token, &id, json!({"rescue": {}}))
        .await
        .fault(404, "itemNotFound");
    act(&ctx, &token, &id, json!({"unrescue": {}}))
        .await
        .fault(404, "itemNotFound");
    ctx.shutdown().await;
}

#[tokio::test]
async fn rescue_boots_the_chosen_image_on_kvm_and_unrescue_undoes_it() {
    let ctx = TestContext::with_config(|c| {
        c.rescue.enabled = true;
        c.demo.ganeti_hypervisor = "kvm".into();
        c.backends.reconcile_secs = 0;
    })
    .await;
    let token = ctx.demo_token().await;
    let id = stopped_server(&ctx, &token).await;

    // No rescue image at all: a clear 400, and nothing changes.
    act(&ctx, &token, &id, json!({"rescue": {}}))
        .await
        .fault(400, "badRequest");
    let debian = ctx
        .admin(
            Method::POST,
            "/rescue-images",
            Some(
                json!({"name": "debian-rescue", "location": "debian-rescue.iso",
                "target_os_family": "linux", "target_os": "debian"}),
            ),
        )
        .await;
    assert_eq!(debian.status, StatusCode::CREATED, "{}", debian.text);
    assert_eq!(debian.body["rescue_image"]["location_type"], "file");
    let generic = ctx
        .admin(
            Method::POST,
            "/rescue-images",
            Some(json!({"location": "https://rescue.example.org/generic.iso", "default": true})),
        )
        .await;
    assert_eq!(generic.body["rescue_image"]["location_type"], "http");
    let generic_id = generic.body["rescue_image"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    ctx.admin(
        Method::POST,
        "/rescue-images",
        Some(json!({"location": "another.iso", "default": true})),
    )
    .await
    .fault(409, "conflict");

    // The server's image is linux/debian: the matching image wins over the default.
    let r = act(&ctx, &token, &id, json!({"rescue": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let s = settled(&ctx, &token, &id).await;
    assert_eq!(s["SNF:rescue"], true, "{s}");
    assert_eq!(s["status"], "STOPPED");
    let hv = hvparams(&ctx, &id).await;
    assert_eq!(hv["boot_order"], "cdrom");
    assert_eq!(
        hv["cdrom_image_path"],
        "/usr/share/cyclades/rescue-images/debian-rescue.iso"
    );
    act(&ctx, &token, &id, json!({"rescue": {}}))
        .await
        .fault(409, "conflict");

    let r = act(&ctx, &token, &id, json!({"unrescue": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let s = settled(&ctx, &token, &id).await;
    assert_eq!(s["SNF:rescue"], false);
    let hv = hvparams(&ctx, &id).await;
    assert_eq!(
        (hv["boot_order"].as_str(), hv["cdrom_image_path"].as_str()),
        (Some("disk"), Some(""))
    );
    act(&ctx, &token, &id, json!({"unrescue": {}}))
        .await
        .fault(409, "conflict");

    // An explicit image; an unknown one is refused.
    act(
        &ctx,
        &token,
        &id,
        json!({"rescue": {"rescue_image_ref": "999999"}}),
    )
    .await
    .fault(400, "badRequest");
    let r = act(
        &ctx,
        &token,
        &id,
        json!({"rescue": {"rescue_image_ref": generic_id}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    settled(&ctx, &token, &id).await;
    assert_eq!(
        hvparams(&ctx, &id).await["cdrom_image_path"],
        "https://rescue.example.org/generic.iso"
    );
    // Only stopped servers: start it (from the rescue CD), then rescue is refused.
    let r = act(&ctx, &token, &id, json!({"os-start": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    ctx.wait_server(&token, &id, "ACTIVE").await;
    settled(&ctx, &token, &id).await;
    act(&ctx, &token, &id, json!({"unrescue": {}}))
        .await
        .fault(409, "conflict");

    // Drift: someone resets the boot device behind our back; reconcile-servers sees it and
    // --fix-unsynced-rescue makes the record follow Ganeti.
    let job = ctx
        .rapi(
            Method::PUT,
            &format!("/2/instances/snf-{id}/modify"),
            Some(json!({"hvparams": {"boot_order": "disk", "cdrom_image_path": ""}})),
        )
        .await
        .body;
    for _ in 0..100 {
        if hvparams(&ctx, &id).await["boot_order"] == "disk" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!job.is_null());
    let report = ctx
        .admin(Method::POST, "/reconcile/servers", Some(json!({})))
        .await;
    let kinds: Vec<&str> = report.body["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["unsynced_rescue"], "{}", report.text);
    let fixed = ctx
        .admin(
            Method::POST,
            "/reconcile/servers",
            Some(json!({"fix_unsynced_rescue": true})),
        )
        .await;
    assert_eq!(fixed.body["drift"][0]["fixed"], true, "{}", fixed.text);
    assert_eq!(server(&ctx, &token, &id).await["SNF:rescue"], false);
    // The default cannot be unmarked, only moved.
    ctx.admin(
        Method::PATCH,
        &format!("/rescue-images/{generic_id}"),
        Some(json!({"default": false})),
    )
    .await
    .fault(400, "badRequest");
    ctx.shutdown().await;
}

#[tokio::test]
async fn a_fake_hypervisor_refuses_rescue_and_nothing_changes() {
    let ctx = TestContext::with_config(|c| c.rescue.enabled = true).await;
    let token = ctx.demo_token().await;
    let id = stopped_server(&ctx, &token).await;
    let r = ctx
        .admin(
            Method::POST,
            "/rescue-images",
            Some(json!({"location": "generic.iso", "default": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = act(&ctx, &token, &id, json!({"rescue": {}})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let s = settled(&ctx, &token, &id).await;
    assert_eq!(
        (s["status"].as_str(), s["SNF:rescue"].as_bool()),
        (Some("STOPPED"), Some(false)),
        "{s}"
    );
    let hv = hvparams(&ctx, &id).await;
    assert!(hv.get("boot_order").is_none(), "{hv}");
    let jobs = ctx.admin(Method::GET, "/jobs", None).await;
    let rescue_job = jobs.body["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["kind"] == "server.rescue")
        .cloned()
        .expect("the rescue job");
    assert_eq!(rescue_job["state"], "failed", "{rescue_job}");
    ctx.shutdown().await;
}
