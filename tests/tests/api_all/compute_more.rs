//! More compute API suites: keypairs (import, generation, limit, the VM config), image
//! metadata in the compute view, Nova quota sets, backend removal with servers on it, and the
//! strict OpenStack shapes of `api.compat = "openstack"`.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, create, flavor_id};

#[tokio::test]
async fn keypairs_import_generate_limit_and_reach_the_vm_config() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let post = |body: Value| {
        let ctx = &ctx;
        let token = token.clone();
        async move { ctx.post(&token, "/compute/v2.0/os-keypairs", body).await }
    };
    let generated = post(json!({"keypair": {"name": "gen"}})).await;
    assert_eq!(generated.status, StatusCode::CREATED, "{}", generated.text);
    let kp = &generated.body["keypair"];
    assert!(
        kp["private_key"]
            .as_str()
            .unwrap_or("")
            .contains("OPENSSH PRIVATE KEY")
    );
    let public = kp["public_key"].as_str().expect("public").to_string();
    assert!(public.starts_with("ssh-ed25519 "));
    assert_eq!(kp["fingerprint"].as_str().map(str::len), Some(47));
    // Import the same key under another name; duplicates and garbage are refused.
    let imported = post(json!({"keypair": {"name": "laptop", "public_key": public}})).await;
    assert_eq!(imported.status, StatusCode::CREATED, "{}", imported.text);
    assert!(imported.body["keypair"].get("private_key").is_none());
    post(json!({"keypair": {"name": "gen"}}))
        .await
        .fault(409, "conflict");
    post(json!({"keypair": {"name": "bad", "public_key": "ssh-rsa not-base64!"}}))
        .await
        .fault(400, "badRequest");
    post(json!({"keypair": {"name": "bad/name"}}))
        .await
        .fault(400, "badRequest");
    let list = ctx.get("/compute/v2.0/os-keypairs", Some(&token)).await;
    let names: Vec<&str> = list.body["keypairs"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|k| k["keypair"]["name"].as_str())
        .collect();
    assert_eq!(names, ["gen", "laptop"]);
    let one = ctx.get("/compute/v2.0/os-keypairs/gen", Some(&token)).await;
    assert_eq!(one.body["keypair"]["deleted"], false);
    // Another user sees none of them.
    ctx.create_project("others").await;
    ctx.create_user("trudy", "trudy-password", "others", false)
        .await;
    let trudy = ctx.token("trudy", "trudy-password", "others").await;
    ctx.get("/compute/v2.0/os-keypairs/gen", Some(&trudy))
        .await
        .fault(404, "itemNotFound");

    // The key reaches the one-time VM configuration as auth_keys.
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "keyed", "imageRef": image, "flavorRef": flavor, "key_name": "gen"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["server"]["key_name"], "gen");
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let inspect = ctx
        .admin(Method::GET, &format!("/servers/{id}"), None)
        .await;
    let job = inspect.body["jobs"][0]["id"]
        .as_str()
        .expect("job")
        .to_string();
    let job = ctx.admin(Method::GET, &format!("/jobs/{job}"), None).await;
    let url = job.body["job"]["params"]["config_url"]
        .as_str()
        .expect("url")
        .to_string();
    let config = ctx.get(url.trim_start_matches(&ctx.url), None).await;
    assert_eq!(config.body["auth_keys"], public.as_str());

    // The per-user limit is a 413, not Synnefo's 500.
    for i in 0..8 {
        let r = post(json!({"keypair": {"name": format!("k{i}"), "public_key": public}})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    post(json!({"keypair": {"name": "one-too-many", "public_key": public}}))
        .await
        .fault(413, "overLimit");
    let del = ctx.delete(&token, "/compute/v2.0/os-keypairs/gen").await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    ctx.delete(&token, "/compute/v2.0/os-keypairs/gen")
        .await
        .fault(404, "itemNotFound");
    ctx.shutdown().await;
}

#[tokio::test]
async fn a_backend_with_servers_cannot_be_removed() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let id = super::compute::active_servers(&ctx, &token, &["pinned"])
        .await
        .remove(0);
    let backends = ctx.admin(Method::GET, "/backends", None).await;
    let backend = backends.body["backends"][0]["id"]
        .as_str()
        .expect("backend")
        .to_string();
    let refused = ctx
        .admin(Method::DELETE, &format!("/backends/{backend}"), None)
        .await;
    assert!(refused.fault(409, "conflict").contains("1 server"));
    ctx.delete(&token, &format!("/compute/v2.0/servers/{id}"))
        .await;
    ctx.wait_server(&token, &id, "DELETED").await;
    let removed = ctx
        .admin(Method::DELETE, &format!("/backends/{backend}"), None)
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    ctx.shutdown().await;
}

#[tokio::test]
async fn image_metadata_and_quota_sets_in_the_compute_api() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let reg = TestContext::reply(
        ctx.http
            .post(format!("{}/image/v1.0/images/", ctx.url))
            .header("X-Auth-Token", &token)
            .header("X-Image-Meta-Name", "own")
            .header("X-Image-Meta-Location", "pithos://demo/images/own"),
    )
    .await;
    let id = reg.body["image"]["id"].as_str().expect("id").to_string();
    let base = format!("/compute/v2.0/images/{id}/metadata");
    let merged = ctx
        .post(
            &token,
            &base,
            json!({"metadata": {"OS": "debian", "USERS": "root"}}),
        )
        .await;
    assert_eq!(merged.status, StatusCode::CREATED, "{}", merged.text);
    assert_eq!(
        merged.body["metadata"],
        json!({"OS": "debian", "USERS": "root"})
    );
    let put = ctx
        .put(
            &token,
            &format!("{base}/OS"),
            json!({"meta": {"OS": "ubuntu"}}),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.text);
    ctx.put(&token, &format!("{base}/OS"), json!({"meta": {"X": "1"}}))
        .await
        .fault(400, "badRequest");
    let one = ctx.get(&format!("{base}/OS"), Some(&token)).await;
    assert_eq!(one.body, json!({"meta": {"OS": "ubuntu"}}));
    for key in ["USERS", "ABSENT"] {
        let del = ctx.delete(&token, &format!("{base}/{key}")).await;
        assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text);
    }
    let all = ctx.get(&base, Some(&token)).await;
    assert_eq!(all.body["metadata"], json!({"OS": "ubuntu"}));

    // os-quota-sets of the caller's project; another project is 404.
    let server_project = {
        let reply = ctx.login("demo", "demo", Some("demo")).await;
        reply.body["token"]["project"]["id"]
            .as_str()
            .expect("project")
            .to_string()
    };
    let q = ctx
        .get(
            &format!("/compute/v2.0/os-quota-sets/{server_project}"),
            Some(&token),
        )
        .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.text);
    assert!(
        q.body["quota_set"]["instances"].as_i64().unwrap_or(0) > 0,
        "{}",
        q.text
    );
    assert_eq!(q.body["quota_set"]["key_pairs"], 10);
    ctx.get("/compute/v2.0/os-quota-sets/someone-else", Some(&token))
        .await
        .fault(404, "itemNotFound");
    ctx.shutdown().await;
}

#[tokio::test]
async fn a_shadow_allocator_sees_live_server_creations() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let r = ctx
        .admin(
            Method::PUT,
            "/plugin-shadow",
            Some(json!({"plugin": "alloc-pack"})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let created = create(
        &ctx,
        &token,
        json!({"name": "shadowed", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text);
    let shadow = ctx.admin(Method::GET, "/plugin-shadow", None).await;
    let s = &shadow.body["shadow"];
    assert_eq!(s["plugin"], "alloc-pack", "{}", shadow.text);
    assert_eq!(s["requests"], 1, "{}", shadow.text);
    // One backend: both allocators choose it.
    assert_eq!(s["agree"], 1, "{}", shadow.text);
    assert_eq!(s["records"][0]["ram_mb"], 1024);
    ctx.shutdown().await;
}

#[tokio::test]
async fn server_tags_reach_ganeti_encoded() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "tagged", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let base = format!("/compute/v2.0/servers/{id}/tags");
    // While building: 409.
    ctx.request(Method::PUT, &format!("{base}/early"), Some(&token), None)
        .await
        .fault(409, "buildInProgress");
    ctx.wait_server(&token, &id, "ACTIVE").await;
    let added = ctx
        .request(Method::PUT, &format!("{base}/web_tier"), Some(&token), None)
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert!(
        added
            .header("location")
            .unwrap_or("")
            .ends_with("/tags/web_tier")
    );
    let again = ctx
        .request(Method::PUT, &format!("{base}/web_tier"), Some(&token), None)
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    let one = ctx.get(&format!("{base}/web_tier"), Some(&token)).await;
    assert_eq!(
        (one.status, one.header("tag-status")),
        (StatusCode::NO_CONTENT, Some("ACTIVE"))
    );
    let replaced = ctx
        .put(&token, &base, json!({"tags": ["a", "b", "a"]}))
        .await;
    assert_eq!(
        replaced.body,
        json!({"tags": ["a", "b"], "statuses": ["ACTIVE", "ACTIVE"]}),
        "{}",
        replaced.text
    );
    ctx.request(Method::PUT, &format!("{base}/bad,tag"), Some(&token), None)
        .await
        .fault(400, "badRequest");
    // Ganeti holds them encoded in the user namespace.
    let inst = TestContext::reply(
        ctx.http
            .get(format!("{}/2/instances/snf-{id}", ctx.simulator_url()))
            .basic_auth(
                cyclades::demo::SIM_USERNAME,
                Some(cyclades::demo::SIM_PASSWORD),
            ),
    )
    .await;
    assert_eq!(
        inst.body["tags"],
        json!(["cyclades:user:a", "cyclades:user:b"]),
        "{}",
        inst.text
    );
    let detail = ctx
        .get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
        .await;
    assert_eq!(detail.body["server"]["tags"], json!(["a", "b"]));
    ctx.delete(&token, &format!("{base}/zzz"))
        .await
        .fault(404, "itemNotFound");
    let cleared = ctx.delete(&token, &base).await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    ctx.delete(&token, &base).await.fault(404, "itemNotFound");
    let inst = TestContext::reply(
        ctx.http
            .get(format!("{}/2/instances/snf-{id}", ctx.simulator_url()))
            .basic_auth(
                cyclades::demo::SIM_USERNAME,
                Some(cyclades::demo::SIM_PASSWORD),
            ),
    )
    .await;
    assert_eq!(inst.body["tags"], json!([]));
    ctx.shutdown().await;
}

#[tokio::test]
async fn reassign_moves_a_server_and_its_quota_between_projects() {
    let ctx = TestContext::new().await;
    ctx.create_project("second").await;
    let r = ctx
        .admin(
            Method::PATCH,
            "/users/demo",
            Some(json!({"user": {"add_projects": ["second"]}})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let created = create(
        &ctx,
        &token,
        json!({"name": "mover", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    let id = created.body["server"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    ctx.wait_server(&token, &id, "ACTIVE").await;
    let vm = |project: &'static str| {
        let ctx = &ctx;
        async move {
            let r = ctx
                .admin(Method::GET, &format!("/quotas?project={project}"), None)
                .await;
            r.body["quotas"]
                .as_array()
                .expect("rows")
                .iter()
                .find(|q| q["resource"] == "cyclades.vm")
                .map(|q| {
                    (
                        q["usage"].as_i64().unwrap_or(0),
                        q["pending"].as_i64().unwrap_or(0),
                    )
                })
                .unwrap_or((0, 0))
        }
    };
    assert_eq!((vm("demo").await, vm("second").await), ((1, 0), (0, 0)));
    let act = |body: Value| ctx.action(&token, &id, body);
    act(json!({"reassign": {}})).await.fault(400, "badRequest");
    act(json!({"reassign": {"project": "nowhere"}}))
        .await
        .fault(404, "itemNotFound");
    // Over the target's limit: 413 and nothing moves.
    ctx.admin(
        Method::PUT,
        "/quotas/second/cyclades.vm",
        Some(json!({"limit": 0})),
    )
    .await;
    act(json!({"reassign": {"project": "second"}}))
        .await
        .fault(413, "overLimit");
    assert_eq!((vm("demo").await, vm("second").await), ((1, 0), (0, 0)));
    ctx.admin(
        Method::PUT,
        "/quotas/second/cyclades.vm",
        Some(json!({"limit": 5})),
    )
    .await;
    let moved = act(json!({"reassign": {"project": "second"}})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!((vm("demo").await, vm("second").await), ((0, 0), (1, 0)));
    let s = ctx
        .get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
        .await;
    assert_ne!(
        s.body["server"]["tenant_id"],
        created.body["server"]["tenant_id"]
    );
    ctx.shutdown().await;
}

/// The cached `/servers/detail` of `token` compared with a fresh rendering (`?name=`) taken
/// just before and just after it. A job's last steps may still touch a server that already
/// shows ACTIVE, so the comparison counts only when the two fresh renderings agree (nothing
/// moved in between); it retries until they do. Returns the cached reply.
async fn cached_matches_fresh(ctx: &TestContext, token: &str, what: &str) -> cyclades_tests::Reply {
    for _ in 0..50 {
        let before = ctx
            .get("/compute/v2.0/servers/detail?name=", Some(token))
            .await;
        let cached = ctx.get("/compute/v2.0/servers/detail", Some(token)).await;
        let after = ctx
            .get("/compute/v2.0/servers/detail?name=", Some(token))
            .await;
        assert_eq!(cached.status, StatusCode::OK, "{what}: {}", cached.text);
        if before.text == after.text {
            assert_eq!(cached.text, after.text, "{what}: cached vs fresh rendering");
            return cached;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{what}: the listing never stopped changing");
}

/// `/servers/detail` is served from a cache of rendered documents keyed by generation: it must
/// give exactly the bytes a fresh rendering gives (`?name=` takes the uncached path and matches
/// every name), before and after a rename, a metadata change and a delete, and never another
/// project's servers.
#[tokio::test]
async fn cached_detail_listing_is_byte_identical_to_fresh_rendering() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["one", "two", "three"]).await;
    let cached = cached_matches_fresh(&ctx, &token, "first listing").await;
    assert_eq!(cached.body["servers"].as_array().map(Vec::len), Some(3));
    // Served again from the cache.
    cached_matches_fresh(&ctx, &token, "second listing").await;

    let r = ctx
        .put(
            &token,
            &format!("/compute/v2.0/servers/{}", ids[0]),
            json!({"server": {"name": "renamed"}}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{}/metadata", ids[1]),
            json!({"metadata": {"role": "db"}}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let cached = cached_matches_fresh(&ctx, &token, "after rename and metadata").await;
    let servers = cached.body["servers"].as_array().expect("servers");
    assert!(servers.iter().any(|s| s["name"] == "renamed"));
    assert!(servers.iter().any(|s| s["metadata"]["role"] == "db"));

    let r = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{}", ids[2]))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    ctx.wait_server(&token, &ids[2], "DELETED").await;
    let cached = cached_matches_fresh(&ctx, &token, "after delete").await;
    assert_eq!(cached.body["servers"].as_array().map(Vec::len), Some(2));

    ctx.create_project("rivals").await;
    ctx.create_user("mallory", "mallory-password", "rivals", false)
        .await;
    let eve = ctx.token("mallory", "mallory-password", "rivals").await;
    let theirs = ctx.get("/compute/v2.0/servers/detail", Some(&eve)).await;
    assert_eq!(theirs.text, r#"{"servers":[]}"#);
    ctx.shutdown().await;
}

/// `[backends] per_user` (Synnefo's BACKEND_PER_USER): the user's servers go to that backend
/// even while it is drained (the allocator would skip it); other users get the allocator's
/// answer; a mapping to a backend that does not exist is a clear 503.
#[tokio::test]
async fn per_user_backends_bypass_the_allocator() {
    let ctx = TestContext::with_config(|c| {
        c.backends
            .per_user
            .insert("demo".into(), "127.0.0.1".into());
        c.backends
            .per_user
            .insert("ghost".into(), "no-such-cluster".into());
    })
    .await;
    let drained = ctx
        .admin(
            Method::PATCH,
            "/backends/127.0.0.1",
            Some(json!({"backend": {"drained": true}})),
        )
        .await;
    assert_eq!(drained.body["backend"]["drained"], true, "{}", drained.text);
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["pinned"]).await;
    assert_eq!(ids.len(), 1);

    ctx.create_user("other", "other-password", "demo", false)
        .await;
    let other = ctx.token("other", "other-password", "demo").await;
    let image = ctx.demo_image(&other).await;
    let flavor = flavor_id(&ctx, &other, FLAVOR_SMALL).await;
    create(
        &ctx,
        &other,
        json!({"name": "unpinned", "imageRef": image, "flavorRef": flavor}),
    )
    .await
    .fault(503, "serviceUnavailable");

    ctx.create_user("ghost", "ghost-password", "demo", false)
        .await;
    let ghost = ctx.token("ghost", "ghost-password", "demo").await;
    let r = create(
        &ctx,
        &ghost,
        json!({"name": "lost", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    r.fault(503, "serviceUnavailable");
    assert!(r.text.contains("no-such-cluster"), "{}", r.text);
    ctx.shutdown().await;
}

/// Synnefo's visibility: a server is its owner's; other members of its project see it (and
/// may act on it) only once it is shared with the project (`reassign` with
/// `shared_to_project`, behind `[compute] shared_resources`), in every view including the
/// cached detail listing.
#[tokio::test]
async fn servers_are_private_to_their_owner_until_shared_with_the_project() {
    let ctx = TestContext::with_config(|c| c.compute.shared_resources = true).await;
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["mine"]).await;
    let id = &ids[0];
    ctx.create_user("peer", "peer-password", "demo", false)
        .await;
    let peer = ctx.token("peer", "peer-password", "demo").await;
    let path = format!("/compute/v2.0/servers/{id}");
    ctx.get(&path, Some(&peer)).await.fault(404, "itemNotFound");
    let listed = ctx.get("/compute/v2.0/servers/detail", Some(&peer)).await;
    assert_eq!(listed.text, r#"{"servers":[]}"#);

    let share = |shared: bool| {
        let (ctx, token, id) = (&ctx, &token, id.clone());
        async move {
            ctx.post(
                token,
                &format!("/compute/v2.0/servers/{id}/action"),
                json!({"reassign": {"project": "demo", "shared_to_project": shared}}),
            )
            .await
        }
    };
    let r = share(true).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let seen = ctx.get(&path, Some(&peer)).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(seen.body["server"]["shared_to_project"], true);
    let listed = ctx.get("/compute/v2.0/servers/detail", Some(&peer)).await;
    assert_eq!(listed.body["servers"].as_array().map(Vec::len), Some(1));
    // A member may act on a shared server.
    let r = ctx
        .post(
            &peer,
            &format!("{path}/metadata"),
            json!({"metadata": {"by": "peer"}}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);

    let r = share(false).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    ctx.get(&path, Some(&peer)).await.fault(404, "itemNotFound");
    let listed = ctx.get("/compute/v2.0/servers/detail", Some(&peer)).await;
    assert_eq!(listed.text, r#"{"servers":[]}"#);
    ctx.shutdown().await;
}

#[tokio::test]
async fn sharing_is_403_unless_enabled() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let ids = super::compute::active_servers(&ctx, &token, &["solo"]).await;
    ctx.post(
        &token,
        &format!("/compute/v2.0/servers/{}/action", ids[0]),
        json!({"reassign": {"project": "demo", "shared_to_project": true}}),
    )
    .await
    .fault(403, "forbidden");
    ctx.shutdown().await;
}

#[tokio::test]
async fn openstack_compat_returns_strict_shapes() {
    let ctx =
        TestContext::with_config(|c| c.api.compat = cyclades::config::CompatMode::Openstack).await;
    let token = ctx.demo_token().await;
    let flavors = ctx.get("/compute/v2.0/flavors/detail", Some(&token)).await;
    assert!(
        flavors.body["flavors"][0]
            .get("SNF:disk_template")
            .is_none()
    );
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "strict", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    let keys: Vec<&String> = r.body["server"]
        .as_object()
        .expect("server")
        .keys()
        .collect();
    assert_eq!(
        keys,
        [
            "OS-DCF:diskConfig",
            "adminPass",
            "id",
            "links",
            "security_groups"
        ]
    );
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let s = ctx.wait_server(&token, &id, "ACTIVE").await;
    assert!(
        s.as_object()
            .expect("server")
            .keys()
            .all(|k| !k.starts_with("SNF:") && k != "suspended" && k != "attachments")
    );
    let rename = ctx
        .put(
            &token,
            &format!("/compute/v2.0/servers/{id}"),
            json!({"server": {"name": "x"}}),
        )
        .await;
    assert_eq!(rename.status, StatusCode::OK);
    let stop = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{id}/action"),
            json!({"os-stop": {}}),
        )
        .await;
    assert_eq!(stop.status, StatusCode::ACCEPTED);
    ctx.wait_server(&token, &id, "SHUTOFF").await;
    // Nova's shape for one network's addresses: 404 for a network the server is not on.
    let nets = ctx.get("/network/v2.0/networks", Some(&token)).await;
    let public = nets.body["networks"][0]["id"]
        .as_str()
        .expect("network")
        .to_string();
    ctx.get(
        &format!("/compute/v2.0/servers/{id}/ips/{public}"),
        Some(&token),
    )
    .await
    .fault(404, "itemNotFound");
    ctx.shutdown().await;
}
