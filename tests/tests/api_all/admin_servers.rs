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
    ctx.post(
        &token,
        &format!("/compute/v2.0/servers/{id}/action"),
        json!({"os-stop": {}}),
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

/// A suspended server refuses every user mutation with 403 and changes nothing anywhere: not
/// its record, not its Ganeti instance (tags included), not the quota. Reads still work.
#[tokio::test]
async fn a_suspended_server_refuses_every_user_change_and_changes_nothing() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["held"]).await;
    let id = &ids[0];
    let base = format!("/compute/v2.0/servers/{id}");
    let r = ctx
        .request(
            Method::PUT,
            &format!("{base}/tags/kept"),
            Some(&token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    // A port of the server's on a private network (its NIC in Ganeti first), and a floating
    // IP of the user's to point at it.
    let (network, _) = super::networks::private_network(&ctx, &token, "10.31.0.0/24").await;
    let r = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": network, "device_id": id}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let port = r.body["port"]["id"].as_str().expect("port").to_string();
    for _ in 0..300 {
        let p = ctx
            .get(&format!("/network/v2.0/ports/{port}"), Some(&token))
            .await;
        let s = ctx.get(&base, Some(&token)).await;
        if p.body["port"]["status"] == "ACTIVE" && s.body["server"]["SNF:task_state"] == "" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let fip = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {}}),
        )
        .await;
    let fip = fip.body["floatingip"]["id"]
        .as_str()
        .expect("fip")
        .to_string();
    let r = ctx
        .admin(
            Method::PATCH,
            &format!("/servers/{id}"),
            Some(json!({"suspended": true})),
        )
        .await;
    assert_eq!(r.body["server"]["suspended"], true, "{}", r.text);
    let before = ctx.get(&base, Some(&token)).await;
    let ganeti_tags = || async {
        ctx.rapi(Method::GET, &format!("/2/instances/snf-{id}/tags"), None)
            .await
            .body
    };
    let tags_before = ganeti_tags().await;
    assert!(
        tags_before
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "cyclades:user:kept")),
        "{tags_before}"
    );

    let action = |body: serde_json::Value| (Method::POST, format!("{base}/action"), Some(body));
    let probes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (
            Method::PUT,
            base.clone(),
            Some(json!({"server": {"name": "renamed"}})),
        ),
        (Method::DELETE, base.clone(), None),
        action(json!({"os-stop": {}})),
        action(json!({"reboot": {"type": "HARD"}})),
        action(json!({"console": {"type": "vnc"}})),
        action(json!({"addFloatingIp": {"address": "198.51.100.2"}})),
        action(json!({"removeFloatingIp": {"address": "198.51.100.2"}})),
        action(json!({"firewallProfile": {"profile": "ENABLED", "nic": "1"}})),
        action(json!({"reassign": {"project": "demo"}})),
        (
            Method::POST,
            format!("{base}/metadata"),
            Some(json!({"metadata": {"a": "b"}})),
        ),
        (
            Method::PUT,
            format!("{base}/metadata"),
            Some(json!({"metadata": {"a": "b"}})),
        ),
        (
            Method::PUT,
            format!("{base}/metadata/a"),
            Some(json!({"meta": {"a": "b"}})),
        ),
        (Method::DELETE, format!("{base}/metadata/a"), None),
        (
            Method::PUT,
            format!("{base}/tags"),
            Some(json!({"tags": ["added"]})),
        ),
        (Method::PUT, format!("{base}/tags/added"), None),
        (Method::DELETE, format!("{base}/tags/kept"), None),
        (Method::DELETE, format!("{base}/tags"), None),
        (
            Method::POST,
            format!("{base}/os-volume_attachments"),
            Some(json!({"volumeAttachment": {"volumeId": id}})),
        ),
        (
            Method::DELETE,
            format!("{base}/os-volume_attachments/{id}"),
            None,
        ),
        (
            Method::POST,
            "/volume/v2.0/volumes".into(),
            Some(json!({"volume": {"size": 1, "server_id": id, "display_name": "v"}})),
        ),
        (
            Method::POST,
            "/network/v2.0/ports".into(),
            Some(json!({"port": {"network_id": "1", "device_id": id}})),
        ),
        (Method::DELETE, format!("/network/v2.0/ports/{port}"), None),
        (
            Method::PUT,
            format!("/network/v2.0/floatingips/{fip}"),
            Some(json!({"floatingip": {"port_id": port}})),
        ),
        (Method::DELETE, format!("{base}/password"), None),
    ];
    for (method, path, body) in probes {
        let r = ctx.request(method.clone(), &path, Some(&token), body).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {}",
            r.text
        );
        // Refused for the suspension, before anything else was looked at.
        assert!(
            r.text.contains("Administratively Suspended VM"),
            "{method} {path}: {}",
            r.text
        );
    }

    assert_eq!(ganeti_tags().await, tags_before, "Ganeti's tags changed");
    let after = ctx.get(&base, Some(&token)).await;
    for field in ["name", "status", "metadata", "updated"] {
        assert_eq!(
            after.body["server"][field], before.body["server"][field],
            "{field} changed"
        );
    }
    let tags = ctx.get(&format!("{base}/tags"), Some(&token)).await;
    assert_eq!(tags.body["tags"], json!(["kept"]), "{}", tags.text);
    ctx.shutdown().await;
}
