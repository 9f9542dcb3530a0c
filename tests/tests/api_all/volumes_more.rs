//! Volumes created on a server (charged by its job, refused while the server is busy, left in
//! ERROR and uncharged when Ganeti fails, removed with it), volumes made by
//! `block_device_mapping_v2` with their server (checklist B20), and disks
//! changed behind our back (`reconcile-servers --fix-unsynced-disks`, J105/G86), against the
//! simulated cluster.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{create, flavor_id};

/// `POST /volumes` of a volume on `server` (the reply, whatever its status).
async fn on_server(
    ctx: &TestContext,
    token: &str,
    name: &str,
    size: u64,
    server: &str,
) -> cyclades_tests::Reply {
    call(
        ctx,
        token,
        Method::POST,
        "/volumes",
        Some(json!({"volume": {"display_name": name, "size": size, "server_id": server}})),
    )
    .await
}

/// Stops a server through the API and waits until it is STOPPED.
async fn stop_server(ctx: &TestContext, token: &str, id: &str) {
    let r = ctx
        .post(
            token,
            &format!("/compute/v2.0/servers/{id}/action"),
            json!({"os-stop": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    ctx.wait_server(token, id, "STOPPED").await;
    wait_idle(ctx, token, id).await;
}
use super::volumes::{
    EXT_SMALL, GIB, call, disk_usage, ext_server, ganeti_disks, no_resource_drift, wait_idle,
    wait_volume,
};

#[tokio::test]
async fn block_device_mapping_creates_volumes_with_the_server() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let ext = flavor_id(&ctx, &token, EXT_SMALL).await;
    let drbd = flavor_id(&ctx, &token, super::compute::FLAVOR_SMALL).await;
    let root = json!({"uuid": image, "boot_index": 0, "source_type": "image",
                      "destination_type": "local", "delete_on_termination": true});
    let before = disk_usage(&ctx).await;

    // Every rule of Synnefo's parser, and what cyclades does not do, with its reason.
    let cases = [
        (
            ext.clone(),
            json!("not-a-list"),
            "Block Device Mapping is Invalid",
        ),
        (
            ext.clone(),
            json!([{"uuid": image}]),
            "Invalid source_type field",
        ),
        (
            ext.clone(),
            json!([{"uuid": image, "source_type": "snapshot"}]),
            "source_type must be on of image, volume, blank",
        ),
        (
            ext.clone(),
            json!([{"source_type": "image"}]),
            "uuid of image is missing",
        ),
        (
            ext.clone(),
            json!([{"source_type": "blank", "volume_size": 1}]),
            "Root volume cannot be blank",
        ),
        (
            ext.clone(),
            json!([{"source_type": "volume", "uuid": "7"}]),
            "Booting from an existing volume is not supported",
        ),
        (
            ext.clone(),
            json!([{"source_type": "image", "uuid": "other"}]),
            "different from the the source of the first volume",
        ),
        (
            ext.clone(),
            json!([root, {"source_type": "blank", "volume_size": "x"}]),
            "Invalid size field",
        ),
        (
            ext.clone(),
            json!([root, {"source_type": "blank"}]),
            "volume_size of a blank volume is missing",
        ),
        (
            drbd.clone(),
            json!([root, {"source_type": "blank", "volume_size": 1, "delete_on_termination": false}]),
            "cannot have 'delete_on_termination' attribute set to 'False'",
        ),
        (
            ext.clone(),
            json!([{"uuid": image, "source_type": "image", "delete_on_termination": false}]),
            "The root volume goes with its server",
        ),
        (
            ext.clone(),
            json!([root, {"source_type": "volume", "uuid": "7"}]),
            "Volume 7 not found",
        ),
        (
            ext.clone(),
            json!([{"uuid": image, "source_type": "image", "volume_size": 11}]),
            "flavor's disk size (10 GB)",
        ),
        (
            ext.clone(),
            json!([root, {"source_type": "blank", "volume_size": 201}]),
            "Maximum volume size is 200GB",
        ),
        (
            drbd.clone(),
            json!([root, {"source_type": "image", "uuid": image, "volume_size": 5}]),
            "Cannot specify a 'source' attribute",
        ),
    ];
    for (flavor, bdm, needle) in &cases {
        let r = create(
            &ctx,
            &token,
            json!({"name": "x", "imageRef": image, "flavorRef": flavor, "block_device_mapping_v2": bdm}),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bdm}: {}", r.text);
        assert!(r.text.contains(needle), "{bdm}: {}", r.text);
    }
    let many: Vec<Value> = std::iter::once(root.clone())
        .chain((0..8).map(|_| json!({"source_type": "blank", "volume_size": 1})))
        .collect();
    let r = create(
        &ctx,
        &token,
        json!({"name": "x", "imageRef": image, "flavorRef": ext, "block_device_mapping_v2": many}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("Maximum volumes per server"), "{}", r.text);
    assert_eq!(
        disk_usage(&ctx).await,
        before,
        "a refused create charged quota"
    );

    // Root, a blank volume, a clone of the image and an existing volume: four disks (the
    // existing one attached once the instance exists), the new ones charged with the server.
    let existing = super::volumes::standalone(&ctx, &token, "kept", 4).await;
    let before = disk_usage(&ctx).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "three", "imageRef": image, "flavorRef": ext, "block_device_mapping_v2": [
            root,
            {"source_type": "blank", "volume_size": 2, "destination_type": "volume"},
            {"source_type": "image", "uuid": image, "volume_size": 3, "destination_type": "volume"},
            // Nova's and Synnefo's default for an existing volume: kept when the server goes.
            {"source_type": "volume", "uuid": existing, "destination_type": "volume"},
        ]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let server = r.body["server"]["id"].as_str().expect("id").to_string();
    let s = ctx.wait_server(&token, &server, "ACTIVE").await;
    let ids: Vec<String> = s["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| v.to_string())
        .collect();
    // By id: the existing volume (older), the root volume (the server's id), then the new ones.
    assert_eq!(ids.len(), 4, "{s}");
    assert_eq!(
        (ids[0].as_str(), ids[1].as_str()),
        (existing.as_str(), server.as_str())
    );
    let disks = ganeti_disks(&ctx, &server).await;
    let in_index_order = [&ids[1], &ids[2], &ids[3], &ids[0]];
    assert_eq!(
        disks,
        in_index_order
            .iter()
            .map(|id| format!("snf-vol-{id}"))
            .collect::<Vec<_>>()
    );
    let kept = wait_volume(&ctx, &token, &existing, "in_use").await;
    assert_eq!(kept["attachments"][0]["device_index"], 3, "{kept}");
    let clone = call(
        &ctx,
        &token,
        Method::GET,
        &format!("/volumes/{}", ids[3]),
        None,
    )
    .await;
    assert_eq!(
        clone.body["volume"]["image_id"],
        image.as_str(),
        "{}",
        clone.text
    );
    assert_eq!(clone.body["volume"]["status"], "in_use");
    assert_eq!(clone.body["volume"]["attachments"][0]["device_index"], 2);
    let instance = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{server}"), None)
        .await;
    assert_eq!(
        instance.body["disk.sizes"],
        json!([10240, 2048, 3072, 4096]),
        "{}",
        instance.text
    );
    assert_eq!(disk_usage(&ctx).await, (before.0 + 15 * GIB, 0));
    no_resource_drift(&ctx).await;
    // An attached volume cannot go to a second server.
    let r = create(
        &ctx,
        &token,
        json!({"name": "again", "imageRef": image, "flavorRef": ext, "block_device_mapping_v2": [
            root, {"source_type": "volume", "uuid": existing, "delete_on_termination": true}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("'IN_USE' status"), "{}", r.text);

    // Removed with the server, quota and all; the existing volume is detached first and kept
    // (still charged), its data with Ganeti as a detached disk.
    let r = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{server}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    ctx.wait_server(&token, &server, "DELETED").await;
    for id in &ids[1..] {
        wait_volume(&ctx, &token, id, "deleted").await;
    }
    let kept = wait_volume(&ctx, &token, &existing, "available").await;
    assert_eq!(kept["attachments"], json!([]), "{kept}");
    assert_eq!(kept["delete_on_termination"], false, "{kept}");
    assert_eq!(disk_usage(&ctx).await, (before.0, 0));
    no_resource_drift(&ctx).await;
    // It goes to another server with its data (Ganeti 3.0 `attach` of the detached disk).
    let other = ext_server(&ctx, &token, "next").await;
    let r = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{other}/os-volume_attachments"),
            json!({"volumeAttachment": {"volumeId": existing}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    wait_volume(&ctx, &token, &existing, "in_use").await;
    assert!(
        ganeti_disks(&ctx, &other)
            .await
            .contains(&format!("snf-vol-{existing}"))
    );
}

/// `reconcile-servers --fix-unsynced-disks` (J105, G86): a disk removed and one added behind
/// our back are reported; the fix deletes the volume whose disk is gone and gives its quota
/// back; the unknown disk is left for an operator.
#[tokio::test]
async fn disks_changed_behind_our_back_are_reconciled() {
    let ctx = TestContext::with_config(|c| c.backends.reconcile_secs = 0).await;
    let token = ctx.demo_token().await;
    let server = ext_server(&ctx, &token, "drifty").await;
    let before = disk_usage(&ctx).await;
    let r = on_server(&ctx, &token, "lost", 2, &server).await;
    let vol = r.body["volume"]["id"].as_str().expect("id").to_string();
    wait_volume(&ctx, &token, &vol, "in_use").await;
    wait_idle(&ctx, &token, &server).await;
    let reconcile = |fix: bool| {
        let ctx = &ctx;
        async move {
            let r = ctx
                .admin(
                    Method::POST,
                    "/reconcile/servers",
                    Some(json!({"fix_unsynced_disks": fix})),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body["drift"].as_array().cloned().unwrap_or_default()
        }
    };
    assert_eq!(reconcile(false).await, Vec::<Value>::new(), "in sync");
    // (Ganeti removes disks of stopped instances only, on this hypervisor.)
    stop_server(&ctx, &token, &server).await;

    // Behind our back: the volume's disk removed, an unknown disk added.
    for body in [
        json!({"disks": [["remove", format!("snf-vol-{vol}"), {}]]}),
        json!({"disks": [["add", -1, {"size": 1024, "name": "stray"}]]}),
    ] {
        let job = ctx
            .rapi(
                Method::PUT,
                &format!("/2/instances/snf-{server}/modify"),
                Some(body),
            )
            .await;
        super::reconcile::wait_ganeti_job(&ctx, &job.body).await;
    }
    let drift = reconcile(false).await;
    let details: Vec<&str> = drift.iter().filter_map(|d| d["detail"].as_str()).collect();
    assert_eq!(drift.len(), 2, "{drift:?}");
    assert!(
        drift.iter().all(|d| d["kind"] == "unsynced_disks"),
        "{drift:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains(&format!("no disk snf-vol-{vol} in Ganeti"))),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.contains("disk stray (1024 MiB) in Ganeti")),
        "{details:?}"
    );

    let drift = reconcile(true).await;
    let fixed: Vec<bool> = drift.iter().map(|d| d["fixed"] == true).collect();
    assert_eq!(fixed, vec![true, false], "{drift:?}");
    let v = wait_volume(&ctx, &token, &vol, "deleted").await;
    assert_eq!(v["attachments"], json!([]));
    assert_eq!(disk_usage(&ctx).await, before);
    no_resource_drift(&ctx).await;
    let drift = reconcile(true).await;
    assert_eq!(drift.len(), 1, "only the stray disk is left: {drift:?}");
}

#[tokio::test]
async fn volumes_created_on_servers_and_removed_with_them() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let server = ext_server(&ctx, &token, "vm").await;
    let before = disk_usage(&ctx).await;

    // Created on the server: CREATING, charged by the attach job, then IN_USE in Ganeti.
    let r = on_server(&ctx, &token, "scratch", 4, &server).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let vol = r.body["volume"]["id"].as_str().expect("id").to_string();
    let v = wait_volume(&ctx, &token, &vol, "in_use").await;
    assert_eq!(v["attachments"][0]["server_id"], server.as_str());
    assert_eq!(v["attachments"][0]["device_index"], 1);
    wait_idle(&ctx, &token, &server).await;
    assert_eq!(disk_usage(&ctx).await, (before.0 + 4 * GIB, 0));
    assert!(
        ganeti_disks(&ctx, &server)
            .await
            .contains(&format!("snf-vol-{vol}"))
    );
    no_resource_drift(&ctx).await;

    // The task lock: a volume for a server busy rebooting (its Ganeti job held 3 s) is refused
    // with 400 (spec §9.2), and nothing of it is recorded.
    ctx.sim_faults(json!({"slow_next": {"OP_INSTANCE_REBOOT": 3.0}}))
        .await;
    let r = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{server}/action"),
            json!({"reboot": {"type": "SOFT"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r = on_server(&ctx, &token, "busy", 1, &server).await;
    // Spec §9.2: a pending action other than BUILD is a 400.
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("pending REBOOT"), "{}", r.text);
    let listed = call(&ctx, &token, Method::GET, "/volumes", None).await;
    assert!(!listed.text.contains("\"busy\""), "{}", listed.text);
    wait_idle(&ctx, &token, &server).await;

    // A failed attach: the Ganeti job fails, the new volume ends in ERROR, uncharged.
    let usage = disk_usage(&ctx).await;
    ctx.sim_faults(json!({"fail_next": {"OP_INSTANCE_SET_PARAMS": 1}}))
        .await;
    let r = on_server(&ctx, &token, "doomed", 1, &server).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let doomed = r.body["volume"]["id"].as_str().expect("id").to_string();
    let v = wait_volume(&ctx, &token, &doomed, "error").await;
    assert_eq!(v["attachments"], json!([]));
    wait_idle(&ctx, &token, &server).await;
    assert_eq!(
        disk_usage(&ctx).await,
        usage,
        "a failed attach left quota behind"
    );
    assert!(
        !ganeti_disks(&ctx, &server)
            .await
            .contains(&format!("snf-vol-{doomed}"))
    );
    // An ERROR volume without data is deleted at once.
    let r = call(
        &ctx,
        &token,
        Method::DELETE,
        &format!("/volumes/{doomed}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);

    // Delete while attached: Ganeti removes disks of a running instance only by hot-plugging,
    // which this (fake-hypervisor) backend cannot do: 409 until the server is stopped.
    let r = call(
        &ctx,
        &token,
        Method::DELETE,
        &format!("/volumes/{vol}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("stop the server first"), "{}", r.text);
    stop_server(&ctx, &token, &server).await;
    // Then a DELETE_VOLUME job: the disk goes, quota back.
    let r = call(
        &ctx,
        &token,
        Method::DELETE,
        &format!("/volumes/{vol}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    wait_volume(&ctx, &token, &vol, "deleted").await;
    wait_idle(&ctx, &token, &server).await;
    assert!(
        !ganeti_disks(&ctx, &server)
            .await
            .contains(&format!("snf-vol-{vol}"))
    );
    assert_eq!(disk_usage(&ctx).await, before);

    // A server's removal takes its volumes with it, and their quota.
    let r = on_server(&ctx, &token, "last", 5, &server).await;
    let last = r.body["volume"]["id"].as_str().expect("id").to_string();
    wait_volume(&ctx, &token, &last, "in_use").await;
    wait_idle(&ctx, &token, &server).await;
    let r = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{server}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    ctx.wait_server(&token, &server, "DELETED").await;
    wait_volume(&ctx, &token, &last, "deleted").await;
    wait_volume(&ctx, &token, &server, "deleted").await;
    let after = disk_usage(&ctx).await;
    assert_eq!(
        after.0,
        before.0 - 10 * GIB,
        "root and extra volume quota released"
    );
    no_resource_drift(&ctx).await;
}

/// The quota sets `openstack quota show [--usage]` reads from the three services: Cinder's
/// (`gigabytes` is `cyclades.disk`), Neutron's and Nova's detail view; another project's are 404.
#[tokio::test]
async fn quota_sets_of_every_service_follow_the_quota_holder() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    super::volumes::standalone(&ctx, &token, "q", 3).await;
    let project = ctx.admin(Method::GET, "/projects/demo", None).await.body["project"]["id"]
        .as_str()
        .expect("project id")
        .to_string();
    let r = ctx
        .get(
            &format!("/volume/v3/os-quota-sets/{project}?usage=True"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["quota_set"]["gigabytes"]["in_use"], 3, "{}", r.text);
    assert_eq!(r.body["quota_set"]["volumes"]["in_use"], 1, "{}", r.text);
    let r = ctx
        .get(
            &format!("/volume/v2.0/os-quota-sets/{project}"),
            Some(&token),
        )
        .await;
    assert_eq!(
        r.body["quota_set"]["per_volume_gigabytes"], 200,
        "{}",
        r.text
    );
    let r = ctx
        .get(
            &format!("/network/v2.0/quotas/{project}/details.json"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["quota"]["network"]["used"], 0, "{}", r.text);
    assert!(
        r.body["quota"]["floatingip"]["limit"].as_i64().is_some(),
        "{}",
        r.text
    );
    let r = ctx
        .get(
            &format!("/compute/v2.0/os-quota-sets/{project}/detail"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["quota_set"]["instances"]["in_use"], 0, "{}", r.text);
    assert!(
        r.body["quota_set"]["ram"]["limit"]
            .as_i64()
            .is_some_and(|l| l > 0),
        "{}",
        r.text
    );

    ctx.create_project("rivals").await;
    ctx.create_user("mallory", "mallory-password", "rivals", false)
        .await;
    let eve = ctx.token("mallory", "mallory-password", "rivals").await;
    for path in [
        format!("/volume/v3/os-quota-sets/{project}"),
        format!("/network/v2.0/quotas/{project}"),
        format!("/compute/v2.0/os-quota-sets/{project}/detail"),
    ] {
        ctx.get(&path, Some(&eve)).await.fault(404, "itemNotFound");
    }
}
