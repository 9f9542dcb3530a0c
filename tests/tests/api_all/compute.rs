//! The compute API end to end over HTTP against `serve --demo` (the simulated Ganeti cluster
//! runs in-process with real-like job latencies): flavors, images (three views), servers with
//! their lifecycle, validation rules, the task lock, quotas under Ganeti failure, the one-time
//! config URL, and isolation between projects.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) const FLAVOR_SMALL: &str = "C1R1024D10drbd";

pub(crate) async fn flavor_id(ctx: &TestContext, token: &str, name: &str) -> String {
    let reply = ctx.get("/compute/v2.0/flavors", Some(token)).await;
    reply.body["flavors"]
        .as_array()
        .expect("flavors")
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["id"].as_str())
        .expect("demo flavor")
        .to_string()
}

pub(crate) async fn create(ctx: &TestContext, token: &str, server: Value) -> reqwest_reply::Reply {
    ctx.post(token, "/compute/v2.0/servers", json!({"server": server}))
        .await
}

/// Creates one demo-image server of `FLAVOR_SMALL` per name and waits until all are ACTIVE.
pub(crate) async fn active_servers(ctx: &TestContext, token: &str, names: &[&str]) -> Vec<String> {
    let image = ctx.demo_image(token).await;
    let flavor = flavor_id(ctx, token, FLAVOR_SMALL).await;
    let mut ids = Vec::new();
    for name in names {
        let r = create(
            ctx,
            token,
            json!({"name": name, "imageRef": image, "flavorRef": flavor}),
        )
        .await;
        ids.push(r.body["server"]["id"].as_str().expect("id").to_string());
    }
    for id in &ids {
        ctx.wait_server(token, id, "ACTIVE").await;
    }
    ids
}

mod reqwest_reply {
    pub use cyclades_tests::Reply;
}

#[tokio::test]
async fn create_validation_names_the_problem() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let base = json!({"name": "vm", "imageRef": image, "flavorRef": flavor});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let meta: serde_json::Map<String, Value> =
        (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let file = json!({"path": "/etc/motd", "contents": "aGVsbG8="});
    let big = json!({"path": "/x", "contents": "A".repeat(13_700)});
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (
            json!({"imageRef": image, "flavorRef": flavor}),
            400,
            "badRequest",
            "name",
        ),
        (
            with("flavorRef", json!("999999")),
            404,
            "itemNotFound",
            "Flavor",
        ),
        (
            with("imageRef", json!("no-such-image")),
            404,
            "itemNotFound",
            "Image",
        ),
        (
            with("metadata", Value::Object(meta)),
            400,
            "badRequest",
            "metadata",
        ),
        (
            with(
                "personality",
                json!([
                    file.clone(),
                    file.clone(),
                    file.clone(),
                    file.clone(),
                    file.clone(),
                    file
                ]),
            ),
            413,
            "overLimit",
            "personality",
        ),
        (
            with("personality", json!([big])),
            413,
            "overLimit",
            "personality",
        ),
        (
            with("user_data", json!("not base64!")),
            400,
            "badRequest",
            "user_data",
        ),
        (
            with("adminPass", json!("short")),
            400,
            "badRequest",
            "adminPass",
        ),
        (
            with("networks", json!([{"uuid": "999999"}])),
            404,
            "itemNotFound",
            "Network 999999",
        ),
        (
            with("networks", json!([{"fixed_ip": "10.0.0.1"}])),
            400,
            "badRequest",
            "networks",
        ),
        (
            with("networks", json!("some")),
            400,
            "badRequest",
            "networks",
        ),
        (
            with("key_name", json!("nokey")),
            404,
            "itemNotFound",
            "Keypair",
        ),
        (with("min_count", json!(0)), 400, "badRequest", "min_count"),
    ];
    for (body, status, fault, needle) in cases {
        let r = create(&ctx, &token, body.clone()).await;
        let message = r.fault(status, fault);
        assert!(message.contains(needle), "{body}: {message}");
    }
    let no_server = ctx
        .post(&token, "/compute/v2.0/servers", json!({"vm": {}}))
        .await;
    no_server.fault(400, "badRequest");
    // Nothing was created or charged by any of these.
    let list = ctx.get("/compute/v2.0/servers", Some(&token)).await;
    assert_eq!(list.body["servers"], json!([]));
    assert_eq!(ctx.usage("demo", "cyclades.vm").await, (0, 0));
    ctx.shutdown().await;
}

#[tokio::test]
async fn server_lifecycle_with_task_lock_quota_and_one_time_config() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    // The openstack CLI's body, with block_device_mapping_v2 and counts of 1.
    let r = create(
        &ctx,
        &token,
        json!({"name": "vm1", "imageRef": image, "flavorRef": flavor,
        "min_count": 1, "max_count": 1, "metadata": {"role": "web"},
        "block_device_mapping_v2": [{"uuid": image, "boot_index": 0, "source_type": "image",
                                     "destination_type": "local", "delete_on_termination": true}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let server = &r.body["server"];
    let id = server["id"].as_str().expect("string id").to_string();
    let password = server["adminPass"].as_str().expect("password").to_string();
    assert_eq!(server["status"], "BUILD");
    assert!(password.len() >= 10 && password.chars().any(|c| c.is_ascii_digit()));
    assert_eq!(
        ctx.usage("demo", "cyclades.vm").await.1,
        1,
        "pending while building"
    );

    // The task lock: nothing but delete while building... and delete waits too.
    let busy = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{id}/action"),
            json!({"shutdown": {}}),
        )
        .await;
    busy.fault(409, "buildInProgress");
    let active = ctx.wait_server(&token, &id, "ACTIVE").await;
    assert_eq!(
        (active["progress"].clone(), active["SNF:task_state"].clone()),
        (json!(100), json!(""))
    );
    assert_eq!(active["metadata"]["role"], "web");
    assert_eq!(ctx.usage("demo", "cyclades.vm").await, (1, 0));
    assert_eq!(ctx.usage("demo", "cyclades.ram").await, (1 << 30, 0));

    // Password cache and the one-time config URL (read it from the simulator's osparams).
    let pw = ctx
        .get(
            &format!("/compute/v2.0/servers/{id}/password"),
            Some(&token),
        )
        .await;
    assert_eq!(pw.body["password"], password);
    let inspect = ctx
        .admin(Method::GET, &format!("/servers/{id}"), None)
        .await;
    assert_eq!(
        inspect.body["allocation"]["plugin"]["name"], "alloc-default",
        "{}",
        inspect.text
    );
    let sim_instance = TestContext::reply(
        ctx.http
            .get(format!("{}/2/instances/snf-{id}", ctx.simulator_url()))
            .basic_auth(
                cyclades::demo::SIM_USERNAME,
                Some(cyclades::demo::SIM_PASSWORD),
            ),
    )
    .await;
    assert!(
        !sim_instance.text.contains(&password),
        "password reached Ganeti"
    );
    let job = inspect.body["jobs"]
        .as_array()
        .and_then(|j| j.last())
        .expect("create job")["id"]
        .clone();
    let job = ctx
        .admin(
            Method::GET,
            &format!("/jobs/{}", job.as_str().unwrap_or("")),
            None,
        )
        .await;
    let config_url = job.body["job"]["params"]["config_url"]
        .as_str()
        .expect("config url")
        .to_string();
    let path = config_url.trim_start_matches(&ctx.url).to_string();
    let config = ctx.get(&path, None).await;
    assert_eq!(config.status, StatusCode::OK, "{}", config.text);
    assert_eq!(config.body["img_passwd"], password);
    assert_eq!(config.body["img_format"], "diskdump");
    ctx.get(&path, None).await.fault(404, "itemNotFound");

    // Stop, start, reboot, with state rules.
    let act = |body: Value| ctx.action(&token, &id, body);
    act(json!({"os-start": {}})).await.fault(409, "conflict");
    assert_eq!(
        act(json!({"os-stop": {}})).await.status,
        StatusCode::ACCEPTED
    );
    ctx.wait_server(&token, &id, "STOPPED").await;
    assert_eq!(ctx.usage("demo", "cyclades.cpu").await, (0, 0));
    assert_eq!(ctx.usage("demo", "cyclades.total_cpu").await, (1, 0));
    // Resize: stopped only, same disk.
    let other_disk = flavor_id(&ctx, &token, "C2R2048D20drbd").await;
    let r = act(json!({"resize": {"flavorRef": other_disk}})).await;
    assert!(r.fault(400, "badRequest").contains("disk size"));
    let bigger = ctx
        .admin(
            Method::POST,
            "/flavors",
            Some(json!({"cpus": [2], "rams": [2048], "disks": [10], "volume_types": ["drbd"]})),
        )
        .await;
    let bigger = bigger.body["created"][0]["id"]
        .as_str()
        .expect("flavor")
        .to_string();
    assert_eq!(
        act(json!({"resize": {"flavorRef": bigger}})).await.status,
        StatusCode::ACCEPTED
    );
    let resized = ctx.wait_server(&token, &id, "STOPPED").await;
    let mut resized = resized;
    for _ in 0..50 {
        if resized["flavor"]["id"] == bigger.as_str() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        resized = ctx
            .get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
            .await
            .body["server"]
            .clone();
    }
    assert_eq!(resized["flavor"]["id"], bigger.as_str());
    assert_eq!(ctx.usage("demo", "cyclades.total_cpu").await, (2, 0));
    assert_eq!(
        act(json!({"os-start": {}})).await.status,
        StatusCode::ACCEPTED
    );
    ctx.wait_server(&token, &id, "ACTIVE").await;
    act(json!({"reboot": {"type": "SIDEWAYS"}}))
        .await
        .fault(400, "badRequest");
    // An action's arguments are read or refused, never dropped; one action per request.
    let m = act(json!({"reboot": {"type": "HARD", "force": true}}))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("Unsupported reboot attribute 'force'"), "{m}");
    let m = act(json!({"os-stop": {}, "reboot": {"type": "HARD"}}))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("naming one action"), "{m}");
    act(json!({"os-stop": "now"}))
        .await
        .fault(400, "badRequest");
    assert_eq!(
        act(json!({"reboot": {"type": "HARD"}})).await.status,
        StatusCode::ACCEPTED
    );
    ctx.wait_server(&token, &id, "ACTIVE").await;
    act(json!({"rebuild": {}}))
        .await
        .fault(501, "notImplemented");
    // The fake hypervisor has no VNC console (Ganeti answers with a message, as real Ganeti).
    let console = act(json!({"console": {"type": "vnc"}})).await;
    assert!(
        console
            .fault(503, "serviceUnavailable")
            .contains("Console not available for fake hypervisor")
    );
    act(json!({"console": {"type": "telnet"}}))
        .await
        .fault(400, "badRequest");
    act(json!({"suspend": {}})).await.fault(403, "forbidden");
    act(json!({"levitate": {}})).await.fault(400, "badRequest");

    // Rename and metadata.
    let rename = ctx
        .put(
            &token,
            &format!("/compute/v2.0/servers/{id}"),
            json!({"server": {"name": "renamed"}}),
        )
        .await;
    assert_eq!(rename.status, StatusCode::NO_CONTENT, "{}", rename.text);
    let meta = ctx
        .put(
            &token,
            &format!("/compute/v2.0/servers/{id}/metadata/env"),
            json!({"meta": {"env": "prod"}}),
        )
        .await;
    assert_eq!(meta.status, StatusCode::CREATED, "{}", meta.text);
    let all = ctx
        .get(
            &format!("/compute/v2.0/servers/{id}/metadata"),
            Some(&token),
        )
        .await;
    assert_eq!(all.body["metadata"], json!({"env": "prod", "role": "web"}));
    let del = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{id}/metadata/nope"))
        .await;
    del.fault(404, "itemNotFound");

    // changes-since: nothing changed since now → 304; name filter on detail.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let now = cyclades::clock::Timestamp::now().iso();
    let unchanged = ctx
        .get(
            &format!("/compute/v2.0/servers/detail?changes-since={now}"),
            Some(&token),
        )
        .await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    let named = ctx
        .get("/compute/v2.0/servers/detail?name=renamed", Some(&token))
        .await;
    assert_eq!(named.body["servers"].as_array().map(Vec::len), Some(1));

    // Delete: DELETED, quota back to zero, the instance gone from Ganeti.
    let gone = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{id}"))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text);
    ctx.wait_server(&token, &id, "DELETED").await;
    let changed = ctx
        .get(
            &format!("/compute/v2.0/servers/detail?changes-since={now}"),
            Some(&token),
        )
        .await;
    assert_eq!(
        changed.body["servers"][0]["status"], "DELETED",
        "{}",
        changed.text
    );
    for r in [
        "cyclades.vm",
        "cyclades.cpu",
        "cyclades.ram",
        "cyclades.disk",
        "cyclades.total_ram",
    ] {
        assert_eq!(ctx.usage("demo", r).await, (0, 0), "{r}");
    }
    let listed = ctx.get("/compute/v2.0/servers", Some(&token)).await;
    assert_eq!(listed.body["servers"], json!([]));

    // The password never reached the data directory nor the store.
    let found = cyclades::store::testing::stored_in_clear(ctx.data_dir(), password.as_bytes());
    assert!(found.is_empty(), "password found in {found:?}");
    ctx.shutdown().await;
}

#[tokio::test]
async fn ganeti_failures_and_quota_limits_never_leak() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    // Ganeti fails the create job: ERROR with a diagnostic, quota released, no instance.
    ctx.sim_faults(json!({"fail_next": {"OP_INSTANCE_CREATE": 1}}))
        .await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "doomed", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let failed = ctx.wait_server(&token, &id, "ERROR").await;
    assert!(
        failed["fault"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("failed"),
        "{failed}"
    );
    assert!(
        !failed["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .is_empty()
    );
    for _ in 0..50 {
        if ctx.usage("demo", "cyclades.vm").await == (0, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ctx.usage("demo", "cyclades.vm").await, (0, 0));
    // An ERROR server refuses actions but can be deleted, without releasing quota twice.
    let act = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{id}/action"),
            json!({"os-start": {}}),
        )
        .await;
    act.fault(400, "badRequest");
    assert_eq!(
        ctx.delete(&token, &format!("/compute/v2.0/servers/{id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    ctx.wait_server(&token, &id, "DELETED").await;
    assert_eq!(ctx.usage("demo", "cyclades.vm").await, (0, 0));

    // A cluster without RAPI feature instance-create-reqv1 is never sent a create.
    ctx.sim_faults(json!({"features_missing": ["instance-create-reqv1"]}))
        .await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "old-ganeti", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let failed = ctx.wait_server(&token, &id, "ERROR").await;
    assert!(
        failed["fault"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("instance-create-reqv1"),
        "{failed}"
    );
    let instances = ctx.rapi(Method::GET, "/2/instances", None).await.body;
    assert!(
        !instances.to_string().contains(&format!("snf-{id}")),
        "{instances}"
    );
    ctx.sim_faults(json!({"features_missing": []})).await;
    for _ in 0..50 {
        if ctx.usage("demo", "cyclades.vm").await.0 == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ctx.usage("demo", "cyclades.vm").await.0, 0);
    ctx.delete(&token, &format!("/compute/v2.0/servers/{id}"))
        .await;
    ctx.wait_server(&token, &id, "DELETED").await;

    // Over quota: 413 naming the resource, nothing created.
    let r = ctx
        .admin(
            Method::PUT,
            "/quotas/demo/cyclades.vm",
            Some(json!({"limit": 0})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let over = create(
        &ctx,
        &token,
        json!({"name": "too-many", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert!(over.fault(413, "overLimit").contains("cyclades.vm"));

    // No backend: 503.
    ctx.admin(
        Method::PUT,
        "/quotas/demo/cyclades.vm",
        Some(json!({"limit": 5})),
    )
    .await;
    let backends = ctx.admin(Method::GET, "/backends", None).await;
    let backend = backends.body["backends"][0]["id"]
        .as_str()
        .expect("backend")
        .to_string();
    ctx.admin(
        Method::PATCH,
        &format!("/backends/{backend}"),
        Some(json!({"backend": {"drained": true}})),
    )
    .await;
    let none = create(
        &ctx,
        &token,
        json!({"name": "nowhere", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert_eq!(
        none.fault(503, "serviceUnavailable"),
        "No available backends"
    );
    let listed = ctx.get("/compute/v2.0/servers", Some(&token)).await;
    assert_eq!(listed.body["servers"], json!([]));
    assert_eq!(ctx.usage("demo", "cyclades.vm").await, (0, 0));
    ctx.shutdown().await;
}

#[tokio::test]
async fn another_projects_server_is_404_everywhere() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let id = active_servers(&ctx, &token, &["private"]).await.remove(0);
    ctx.create_project("rivals").await;
    ctx.create_user("mallory", "mallory-password", "rivals", false)
        .await;
    let eve = ctx.token("mallory", "mallory-password", "rivals").await;
    let base = format!("/compute/v2.0/servers/{id}");
    let probes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, base.clone(), None),
        (
            Method::PUT,
            base.clone(),
            Some(json!({"server": {"name": "pwned"}})),
        ),
        (Method::DELETE, base.clone(), None),
        (
            Method::POST,
            format!("{base}/action"),
            Some(json!({"os-stop": {}})),
        ),
        (Method::GET, format!("{base}/metadata"), None),
        (
            Method::POST,
            format!("{base}/metadata"),
            Some(json!({"metadata": {"a": "b"}})),
        ),
        (Method::GET, format!("{base}/metadata/a"), None),
        (
            Method::PUT,
            format!("{base}/metadata/a"),
            Some(json!({"meta": {"a": "b"}})),
        ),
        (Method::DELETE, format!("{base}/metadata/a"), None),
        (Method::GET, format!("{base}/password"), None),
        (Method::GET, format!("{base}/diagnostics"), None),
        (Method::GET, format!("{base}/ips"), None),
        (Method::GET, format!("{base}/stats"), None),
        (
            Method::POST,
            format!("{base}/action"),
            Some(json!({"addFloatingIp": {"address": "198.51.100.2"}})),
        ),
        (
            Method::POST,
            format!("{base}/action"),
            Some(json!({"removeFloatingIp": {"address": "198.51.100.2"}})),
        ),
        (
            Method::POST,
            format!("{base}/action"),
            Some(json!({"firewallProfile": {"profile": "ENABLED", "nic": "1"}})),
        ),
        // Its volumes, through the compute view and the block storage API.
        (Method::GET, format!("{base}/os-volume_attachments"), None),
        (
            Method::POST,
            format!("{base}/os-volume_attachments"),
            Some(json!({"volumeAttachment": {"volumeId": id}})),
        ),
        (
            Method::GET,
            format!("{base}/os-volume_attachments/{id}"),
            None,
        ),
        (
            Method::DELETE,
            format!("{base}/os-volume_attachments/{id}"),
            None,
        ),
        (Method::GET, format!("/volume/v2.0/volumes/{id}"), None),
        (
            Method::PUT,
            format!("/volume/v2.0/volumes/{id}"),
            Some(json!({"volume": {"display_name": "pwned"}})),
        ),
        (Method::DELETE, format!("/volume/v2.0/volumes/{id}"), None),
        (
            Method::GET,
            format!("/volume/v2.0/volumes/{id}/metadata"),
            None,
        ),
        (
            Method::POST,
            format!("/volume/v2.0/volumes/{id}/action"),
            Some(json!({"reassign": {"project": "rivals"}})),
        ),
    ];
    for (method, path, body) in probes {
        let r = ctx.request(method.clone(), &path, Some(&eve), body).await;
        r.fault(404, "itemNotFound");
    }
    let theirs = ctx.get("/compute/v2.0/servers/detail", Some(&eve)).await;
    assert_eq!(theirs.body["servers"], json!([]));
    let mine = ctx.get(&base, Some(&token)).await;
    assert_eq!(mine.body["server"]["name"], "private");
    // Its graphs: four URLs naming the instance only in encrypted form.
    let stats = ctx.get(&format!("{base}/stats"), Some(&token)).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    assert_eq!(
        stats.body["stats"]["serverRef"]
            .as_u64()
            .map(|n| n.to_string()),
        Some(id.clone())
    );
    assert_eq!(stats.body["stats"]["refresh"], 60);
    for key in ["cpuBar", "cpuTimeSeries", "netBar", "netTimeSeries"] {
        let url = stats.body["stats"][key].as_str().expect("url");
        assert!(url.contains("/stats/v1.0/"), "{url}");
        assert!(
            !url.contains(&format!("snf-{id}")),
            "instance name in clear: {url}"
        );
    }
    ctx.shutdown().await;
}
