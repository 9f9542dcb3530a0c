//! Block storage end to end against the simulated cluster (spec §5, §9.5, checklist B45, G):
//! volume types, standalone volumes and their rules (metadata, update, reassign, another
//! tenant's view), attach / detach / delete through `os-volume_attachments` and `/volumes` with
//! what Ganeti ends up with, deletion of a detached volume through a helper server, and quota
//! after every path. The shared helpers serve `volumes_more` too.

use cyclades_tests::{Reply, TestContext};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{create, flavor_id};

pub(super) const GIB: i64 = 1 << 30;
pub(super) const EXT_SMALL: &str = "C1R1024D10ext_archipelago";

pub(super) async fn call(
    ctx: &TestContext,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    ctx.request(method, &format!("/volume/v2.0{path}"), Some(token), body)
        .await
}

pub(super) async fn disk_usage(ctx: &TestContext) -> (i64, i64) {
    let reply = ctx.admin(Method::GET, "/quotas?project=demo", None).await;
    let row = reply.body["quotas"]
        .as_array()
        .expect("quotas")
        .iter()
        .find(|r| r["resource"] == "cyclades.disk")
        .cloned()
        .expect("disk row");
    (
        row["usage"].as_i64().unwrap_or(0),
        row["pending"].as_i64().unwrap_or(0),
    )
}

/// `reconcile-resources` finds recorded usage equal to what servers and volumes hold.
pub(super) async fn no_resource_drift(ctx: &TestContext) {
    let r = ctx
        .admin(
            Method::POST,
            "/reconcile/resources",
            Some(json!({"fix": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["resources"], json!([]), "{}", r.text);
}

pub(super) async fn type_id(ctx: &TestContext, token: &str, template: &str) -> String {
    let r = call(ctx, token, Method::GET, "/types", None).await;
    r.body["volume_types"]
        .as_array()
        .expect("types")
        .iter()
        .find(|t| t["SNF:disk_template"] == template)
        .and_then(|t| t["id"].as_str())
        .expect("type")
        .to_string()
}

/// Polls a volume until `done` holds (panics after 30 s).
pub(super) async fn wait_volume(ctx: &TestContext, token: &str, id: &str, status: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        last = call(ctx, token, Method::GET, &format!("/volumes/{id}"), None)
            .await
            .body["volume"]
            .clone();
        if last["status"] == status {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("volume {id} never reached {status}: {last}");
}

/// Waits until the server holds no task lock.
pub(super) async fn wait_idle(ctx: &TestContext, token: &str, id: &str) -> Value {
    for _ in 0..300 {
        let s = ctx
            .get(&format!("/compute/v2.0/servers/{id}"), Some(token))
            .await
            .body["server"]
            .clone();
        if s["SNF:task_state"] == "" {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("server {id} stayed locked");
}

pub(super) async fn ganeti_disks(ctx: &TestContext, server: &str) -> Vec<String> {
    let r = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{server}"), None)
        .await;
    r.body["disk.names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

pub(super) async fn ext_server(ctx: &TestContext, token: &str, name: &str) -> String {
    let image = ctx.demo_image(token).await;
    let flavor = flavor_id(ctx, token, EXT_SMALL).await;
    let r = create(
        ctx,
        token,
        json!({"name": name, "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(token, &id, "ACTIVE").await;
    id
}

pub(super) async fn standalone(ctx: &TestContext, token: &str, name: &str, size: u64) -> String {
    let vt = type_id(ctx, token, "ext_archipelago").await;
    let r = call(
        ctx,
        token,
        Method::POST,
        "/volumes",
        Some(json!({"volume": {"display_name": name, "size": size, "volume_type": vt}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    r.body["volume"]["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn volume_types_and_standalone_volume_rules() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;

    // Types: every demo template, detachable only where the plugin says so.
    let r = call(&ctx, &token, Method::GET, "/types", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let types = r.body["volume_types"].as_array().expect("types").clone();
    assert!(types.len() >= 4, "{}", r.text);
    for t in &types {
        let ext = t["SNF:disk_template"] == "ext_archipelago";
        assert_eq!(t["SNF:detachable"], json!(ext), "{t}");
        let one = call(
            &ctx,
            &token,
            Method::GET,
            &format!("/types/{}", t["id"].as_str().expect("id")),
            None,
        )
        .await;
        assert_eq!(one.body["volume_type"], *t);
    }
    assert_eq!(
        call(&ctx, &token, Method::GET, "/types/999999", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let ext = type_id(&ctx, &token, "ext_archipelago").await;
    let drbd = type_id(&ctx, &token, "drbd").await;

    // Validation, each rule with its message.
    let cases = [
        (json!({"size": 1, "volume_type": ext}), 400, "display_name"),
        (
            json!({"display_name": "v", "volume_type": ext}),
            400,
            "size",
        ),
        (
            json!({"display_name": "v", "size": "abc", "volume_type": ext}),
            400,
            "positive integer",
        ),
        (
            json!({"display_name": "v", "size": 0, "volume_type": ext}),
            400,
            "positive integer",
        ),
        (
            json!({"display_name": "v", "size": 201, "volume_type": ext}),
            400,
            "Maximum volume size is 200GB",
        ),
        (json!({"display_name": "v", "size": 1}), 400, "volume_type"),
        (
            json!({"display_name": "v", "size": 1, "volume_type": drbd}),
            400,
            "is not detachable",
        ),
        (
            json!({"display_name": "v", "size": 1, "volume_type": "424242"}),
            400,
            "does not exist",
        ),
        (
            json!({"display_name": "v", "size": 1, "volume_type": ext, "source_volid": "1", "imageRef": "x"}),
            400,
            "more than one source",
        ),
        (
            json!({"display_name": "v", "size": 1, "volume_type": ext, "snapshot_id": "1"}),
            501,
            "snapshot",
        ),
        (
            json!({"display_name": "v", "size": 1, "volume_type": ext, "source_volid": "1"}),
            400,
            "Cloning a volume is not supported",
        ),
        (
            json!({"display_name": "x".repeat(256), "size": 1, "volume_type": ext}),
            400,
            "name is too long",
        ),
        (
            json!({"display_name": "v", "size": 1, "volume_type": ext, "metadata": {"k": 1}}),
            400,
            "metadata",
        ),
        (
            json!({"display_name": "v", "size": 1, "volume_type": ext, "server_id": "424242"}),
            400,
            "Server 424242 not found",
        ),
    ];
    let before = disk_usage(&ctx).await;
    for (body, status, needle) in &cases {
        let r = call(
            &ctx,
            &token,
            Method::POST,
            "/volumes",
            Some(json!({"volume": body})),
        )
        .await;
        assert_eq!(r.status.as_u16(), *status, "{body}: {}", r.text);
        assert!(r.text.contains(needle), "{body}: {}", r.text);
    }
    assert_eq!(
        disk_usage(&ctx).await,
        before,
        "a refused create charged quota"
    );

    // A standalone volume: AVAILABLE at once, charged at once; Cinder's names work too.
    let r = call(
        &ctx,
        &token,
        Method::POST,
        "/volumes",
        Some(
            // Cinder's field names, and the type by name as Cinder clients send it.
            json!({"volume": {"name": "data", "description": "d", "size": "3",
                               "volume_type": "ext_archipelago", "metadata": {"a": "1"}}}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let v = r.body["volume"].clone();
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(v["status"], "available");
    assert_eq!(v["volume_type"], ext.as_str());
    assert_eq!(v["display_name"], "data");
    assert_eq!(v["size"], 3);
    assert_eq!(v["metadata"], json!({"a": "1"}));
    assert_eq!(v["attachments"], json!([]));
    assert_eq!(disk_usage(&ctx).await.0, before.0 + 3 * GIB);

    // List, detail, changes-since (304 when nothing changed), and the v2 / v3 aliases.
    let list = call(&ctx, &token, Method::GET, "/volumes", None).await;
    assert!(
        list.body["volumes"]
            .as_array()
            .expect("list")
            .iter()
            .any(|x| x["id"] == id.as_str())
    );
    for prefix in ["/volume/v2", "/volume/v3"] {
        let r = ctx
            .get(&format!("{prefix}/volumes/detail"), Some(&token))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{prefix}: {}", r.text);
        assert!(
            r.text.contains(&format!("\"id\":\"{id}\"")),
            "{prefix}: {}",
            r.text
        );
    }
    // A second after the last change (listings compare whole seconds), not in the future.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = cyclades::clock::Timestamp::now().iso();
    let r = call(
        &ctx,
        &token,
        Method::GET,
        &format!("/volumes/detail?changes-since={later}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    // Update: name and description; nothing → 400; delete_on_termination (false: kept when its
    // server goes; detachable templates only).
    let path = format!("/volumes/{id}");
    let r = call(
        &ctx,
        &token,
        Method::PUT,
        &path,
        Some(json!({"volume": {"display_name": "renamed"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["volume"]["name"], "renamed");
    let r = call(
        &ctx,
        &token,
        Method::PUT,
        &path,
        Some(json!({"volume": {}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("Nothing to update."), "{}", r.text);
    let r = call(
        &ctx,
        &token,
        Method::PUT,
        &path,
        Some(json!({"volume": {"delete_on_termination": false}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["volume"]["delete_on_termination"], false,
        "{}",
        r.text
    );

    // Metadata: merge, replace, delete, unknown key, the limit.
    let meta = format!("/volumes/{id}/metadata");
    let r = call(
        &ctx,
        &token,
        Method::POST,
        &meta,
        Some(json!({"metadata": {"b": "2"}})),
    )
    .await;
    assert_eq!(
        r.body["metadata"],
        json!({"a": "1", "b": "2"}),
        "{}",
        r.text
    );
    let r = call(
        &ctx,
        &token,
        Method::PUT,
        &meta,
        Some(json!({"metadata": {"c": "3"}})),
    )
    .await;
    assert_eq!(r.body["metadata"], json!({"c": "3"}), "{}", r.text);
    let r = call(&ctx, &token, Method::DELETE, &format!("{meta}/c"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = call(&ctx, &token, Method::DELETE, &format!("{meta}/c"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let many: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let r = call(
        &ctx,
        &token,
        Method::PUT,
        &meta,
        Some(json!({"metadata": many})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("more than 10 metadata items"), "{}", r.text);

    // Another tenant sees nothing: 404 everywhere.
    ctx.create_user("mallory", "mallorypassword1", "demo", false)
        .await;
    let other = ctx.token("mallory", "mallorypassword1", "demo").await;
    for (method, p, body) in [
        (Method::GET, path.clone(), None),
        (
            Method::PUT,
            path.clone(),
            Some(json!({"volume": {"display_name": "x"}})),
        ),
        (Method::DELETE, path.clone(), None),
        (Method::GET, meta.clone(), None),
        (
            Method::POST,
            meta.clone(),
            Some(json!({"metadata": {"x": "y"}})),
        ),
    ] {
        let r = call(&ctx, &other, method.clone(), &p, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {p}: {}", r.text);
    }
    let r = call(&ctx, &other, Method::GET, "/volumes", None).await;
    assert_eq!(r.body["volumes"], json!([]), "{}", r.text);

    // Reassign (owner only; the size moves between the projects; a root volume is refused).
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
    let lab_usage = || async {
        let r = ctx.admin(Method::GET, "/quotas?project=lab", None).await;
        r.body["quotas"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|q| q["resource"] == "cyclades.disk")
            .and_then(|q| q["usage"].as_i64())
            .unwrap_or(0)
    };
    let action = format!("/volumes/{id}/action");
    let r = call(
        &ctx,
        &other,
        Method::POST,
        &action,
        Some(json!({"reassign": {"project": "lab"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = call(
        &ctx,
        &token,
        Method::POST,
        &action,
        Some(json!({"reassign": {}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let lab = ctx.admin(Method::GET, "/projects/lab", None).await.body["project"]["id"]
        .as_str()
        .expect("lab id")
        .to_string();
    let r = call(
        &ctx,
        &token,
        Method::POST,
        &action,
        Some(json!({"reassign": {"project": "lab"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(lab_usage().await, 3 * GIB);
    assert_eq!(disk_usage(&ctx).await, before);
    let r = call(&ctx, &token, Method::GET, &path, None).await;
    assert_eq!(r.body["volume"]["tenant_id"], lab.as_str(), "{}", r.text);
    no_resource_drift(&ctx).await;

    // Delete of a never-initialised volume: at once, quota back, still readable as deleted.
    let r = call(&ctx, &token, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r = call(&ctx, &token, Method::GET, &path, None).await;
    assert_eq!(r.body["volume"]["status"], "deleted", "{}", r.text);
    assert_eq!(r.body["volume"]["deleted"], true);
    assert_eq!(disk_usage(&ctx).await, before);
    assert_eq!(lab_usage().await, 0);
    let r = call(&ctx, &token, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

#[tokio::test]
async fn attach_detach_and_delete_through_ganeti() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let server = ext_server(&ctx, &token, "vol-host").await;
    let before = disk_usage(&ctx).await;

    // The root volume: id = server id, index 0, in-use, listed by the server.
    let root = wait_volume(&ctx, &token, &server, "in_use").await;
    assert_eq!(root["attachments"][0]["device_index"], 0, "{root}");
    assert_eq!(root["bootable"], "true");
    let r = ctx
        .get(&format!("/compute/v2.0/servers/{server}"), Some(&token))
        .await;
    assert_eq!(
        r.body["server"]["volumes"],
        json!([server.parse::<u64>().expect("id")])
    );

    // Attach a standalone volume: 202, locked while Ganeti adds it, then IN_USE with its disk.
    let vol = standalone(&ctx, &token, "data", 2).await;
    let attachments = format!("/compute/v2.0/servers/{server}/os-volume_attachments");
    let r = ctx
        .post(
            &token,
            &attachments,
            json!({"volumeAttachment": {"volumeId": vol}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["volumeAttachment"]["serverId"], server.as_str());
    wait_volume(&ctx, &token, &vol, "in_use").await;
    wait_idle(&ctx, &token, &server).await;
    assert!(
        ganeti_disks(&ctx, &server)
            .await
            .contains(&format!("snf-vol-{vol}"))
    );
    let r = ctx.get(&attachments, Some(&token)).await;
    let ids: Vec<&str> = r.body["volumeAttachments"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["volumeId"].as_str())
        .collect();
    assert_eq!(ids, vec![server.as_str(), vol.as_str()], "{}", r.text);
    let r = ctx.get(&format!("{attachments}/{vol}"), Some(&token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let s = ctx
        .get(&format!("/compute/v2.0/servers/{server}"), Some(&token))
        .await
        .body["server"]
        .clone();
    assert_eq!(
        s["os-extended-volumes:volumes_attached"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{s}"
    );
    assert_eq!(
        disk_usage(&ctx).await,
        (before.0 + 2 * GIB, 0),
        "the volume is charged once, at its creation; attaching charges nothing more"
    );

    // Attach rules: an attached volume, another template's server, the root volume.
    let r = ctx
        .post(
            &token,
            &attachments,
            json!({"volumeAttachment": {"volumeId": vol}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("'IN_USE' status"), "{}", r.text);
    let drbd_server = super::compute::active_servers(&ctx, &token, &["drbd-host"])
        .await
        .remove(0);
    let other = standalone(&ctx, &token, "other", 1).await;
    let r = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{drbd_server}/os-volume_attachments"),
            json!({"volumeAttachment": {"volumeId": other}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("same volume template"), "{}", r.text);
    let r = ctx.delete(&token, &format!("{attachments}/{server}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("root volume"), "{}", r.text);
    let r = call(
        &ctx,
        &token,
        Method::DELETE,
        &format!("/volumes/{server}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // Detach: the disk leaves Ganeti, the volume is AVAILABLE again, still charged.
    let r = ctx.delete(&token, &format!("{attachments}/{vol}")).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let v = wait_volume(&ctx, &token, &vol, "available").await;
    assert_eq!(v["attachments"], json!([]));
    wait_idle(&ctx, &token, &server).await;
    assert!(
        !ganeti_disks(&ctx, &server)
            .await
            .contains(&format!("snf-vol-{vol}"))
    );
    let r = ctx.get(&format!("{attachments}/{vol}"), Some(&token)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    no_resource_drift(&ctx).await;

    // Its data lives on: deleting it needs a helper server, and there is none yet.
    let r = call(
        &ctx,
        &token,
        Method::DELETE,
        &format!("/volumes/{vol}"),
        None,
    )
    .await;
    // 503, not Synnefo's 404: clients read a 404 on DELETE as "already gone".
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert!(r.text.contains("server-create --helper"), "{}", r.text);

    // An operator's helper (stopped) takes it: attach, remove, deleted, quota back.
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, EXT_SMALL).await;
    let r = ctx
        .admin(
            Method::POST,
            "/servers",
            Some(json!({"name": "helper", "user": "admin", "flavor": flavor, "image": image, "helper": true, "wait": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let helper = r.body["server"]["id"].as_str().expect("id").to_string();
    let r = ctx
        .admin(
            Method::PATCH,
            &format!("/servers/{helper}?wait=true"),
            Some(json!({"action": "stop"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let disk_with_data = disk_usage(&ctx).await;
    let r = call(
        &ctx,
        &token,
        Method::DELETE,
        &format!("/volumes/{vol}"),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let v = wait_volume(&ctx, &token, &vol, "deleted").await;
    assert_eq!(v["deleted"], true);
    assert!(
        !ganeti_disks(&ctx, &helper)
            .await
            .contains(&format!("snf-vol-{vol}"))
    );
    let jobs = ctx.rapi(Method::GET, "/2/jobs?bulk=1", None).await;
    let ops: Vec<String> = jobs
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["ops"][0]["instance_name"] == format!("snf-{helper}"))
        .filter_map(|j| j["ops"][0]["OP_ID"].as_str().map(str::to_string))
        .collect();
    assert_eq!(
        ops.iter()
            .filter(|o| *o == "OP_INSTANCE_SET_PARAMS")
            .count(),
        2,
        "{ops:?}"
    );
    assert_eq!(disk_usage(&ctx).await.0, disk_with_data.0 - 2 * GIB);
}
