//! Nova's rules through OpenStack's endpoints, beside Synnefo's through its own (issue 18
//! items 6, 9, 10, 11, 14): create-time errors, password and metadata rules, actions on
//! missing servers, Nova-only actions, `/ips`, and listing filters and paging.

use cyclades_tests::TestContext;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, active_servers, flavor_id};

const NOVA: &str = "/compute/v2.1";
const SYNNEFO: &str = "/compute/v2.0";

async fn create(
    ctx: &TestContext,
    token: &str,
    prefix: &str,
    server: Value,
) -> cyclades_tests::Reply {
    ctx.post(
        token,
        &format!("{prefix}/servers"),
        json!({ "server": server }),
    )
    .await
}

#[tokio::test]
async fn create_rules_differ_per_endpoint() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let base = json!({"name": "r", "imageRef": image, "flavorRef": flavor});
    let with = |key: &str, value: Value| {
        let mut s = base.clone();
        s[key] = value;
        s
    };
    // Unknown references: Nova 400, Synnefo 404.
    for (key, value) in [
        ("flavorRef", json!("999999")),
        ("imageRef", json!("no-such-image")),
        ("key_name", json!("no-such-key")),
    ] {
        create(&ctx, &token, NOVA, with(key, value.clone()))
            .await
            .fault(400, "badRequest");
        create(&ctx, &token, SYNNEFO, with(key, value))
            .await
            .fault(404, "itemNotFound");
    }
    // A name must be a string, through both.
    for prefix in [NOVA, SYNNEFO] {
        let r = create(&ctx, &token, prefix, with("name", json!(5))).await;
        assert!(
            r.fault(400, "badRequest")
                .contains("'name' must be a string")
        );
    }
    // Synnefo's password strength rule is Synnefo's only.
    create(&ctx, &token, SYNNEFO, with("adminPass", json!("weak")))
        .await
        .fault(400, "badRequest");
    let r = create(&ctx, &token, NOVA, with("adminPass", json!("weak"))).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["server"]["adminPass"], "weak");
    // Nova's metadata values stop at 255 characters, Synnefo's at 500.
    let long = json!({"k": "v".repeat(300)});
    let r = create(&ctx, &token, NOVA, with("metadata", long.clone())).await;
    assert!(r.fault(400, "badRequest").contains("255"), "{}", r.text);
    let r = create(&ctx, &token, SYNNEFO, with("metadata", long)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    ctx.shutdown().await;
}

#[tokio::test]
async fn actions_find_the_server_first_and_nova_only_actions_answer_as_nova() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    for prefix in [NOVA, SYNNEFO] {
        ctx.post(
            &token,
            &format!("{prefix}/servers/999999/action"),
            json!({"bogus": {}}),
        )
        .await
        .fault(404, "itemNotFound");
    }
    let id = active_servers(&ctx, &token, &["a"]).await.remove(0);
    let action = |prefix: &'static str, body: Value| {
        let path = format!("{prefix}/servers/{id}/action");
        let ctx = &ctx;
        let token = &token;
        async move { ctx.post(token, &path, body).await }
    };
    action(NOVA, json!({"restore": null}))
        .await
        .fault(409, "conflict");
    action(NOVA, json!({"os-getConsoleOutput": {"length": 10}}))
        .await
        .fault(501, "notImplemented");
    for name in ["restore", "forceDelete", "os-getConsoleOutput"] {
        action(SYNNEFO, json!({ name: {} }))
            .await
            .fault(400, "badRequest");
    }
    // `/ips`: exactly Nova's document through Nova's endpoint.
    let ips = ctx
        .get(&format!("{NOVA}/servers/{id}/ips"), Some(&token))
        .await;
    let keys: Vec<&String> = ips.body.as_object().expect("ips").keys().collect();
    assert_eq!(keys, ["addresses"], "{}", ips.text);
    let ips = ctx
        .get(&format!("{SYNNEFO}/servers/{id}/ips"), Some(&token))
        .await;
    assert!(ips.body.get("attachments").is_some(), "{}", ips.text);
    // `forceDelete` deletes.
    let r = action(NOVA, json!({"forceDelete": null})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    ctx.wait_server(&token, &id, "DELETED").await;
    ctx.shutdown().await;
}

#[tokio::test]
async fn server_listings_filter_and_page_as_nova() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let small = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let mut ids = Vec::new();
    for name in ["p1", "p2", "p3"] {
        let r = create(
            &ctx,
            &token,
            NOVA,
            json!({"name": name, "imageRef": image, "flavorRef": small}),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
        ids.push(r.body["server"]["id"].as_str().expect("id").to_string());
    }
    let names = |r: &cyclades_tests::Reply| -> Vec<String> {
        r.body["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .map(|s| s["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    for collection in ["servers", "servers/detail"] {
        let first = ctx
            .get(&format!("{NOVA}/{collection}?limit=2"), Some(&token))
            .await;
        assert_eq!(names(&first), ["p1", "p2"], "{}", first.text);
        let next = first.body["servers_links"][0]["href"]
            .as_str()
            .expect("a next link")
            .to_string();
        assert_eq!(
            next,
            format!("{}{NOVA}/{collection}?limit=2&marker={}", ctx.url, ids[1])
        );
        let rest = ctx
            .get(next.trim_start_matches(&ctx.url), Some(&token))
            .await;
        assert_eq!(names(&rest), ["p3"], "{}", rest.text);
        assert!(rest.body.get("servers_links").is_none(), "{}", rest.text);
        ctx.get(&format!("{NOVA}/{collection}?limit=abc"), Some(&token))
            .await
            .fault(400, "badRequest");
        ctx.get(&format!("{NOVA}/{collection}?marker=999999"), Some(&token))
            .await
            .fault(400, "badRequest");
        let by_flavor = ctx
            .get(&format!("{NOVA}/{collection}?flavor={small}"), Some(&token))
            .await;
        assert_eq!(names(&by_flavor).len(), 3, "{}", by_flavor.text);
        let none = ctx
            .get(&format!("{NOVA}/{collection}?flavor=999999"), Some(&token))
            .await;
        assert!(names(&none).is_empty(), "{}", none.text);
        let by_image = ctx
            .get(&format!("{NOVA}/{collection}?image={image}"), Some(&token))
            .await;
        assert_eq!(names(&by_image).len(), 3, "{}", by_image.text);
    }
    // `changes-since` in the future: Nova 200 with nothing, Synnefo 400.
    let future = "2100-01-01T00:00:00Z";
    let r = ctx
        .get(
            &format!("{NOVA}/servers?changes-since={future}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(names(&r).is_empty());
    ctx.get(
        &format!("{SYNNEFO}/servers?changes-since={future}"),
        Some(&token),
    )
    .await
    .fault(400, "badRequest");
    ctx.shutdown().await;
}

#[tokio::test]
async fn flavor_listings_filter_sort_and_page_as_nova() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let get = |query: &str| {
        let path = format!("{NOVA}/flavors/detail{query}");
        let ctx = &ctx;
        let token = &token;
        async move { ctx.get(&path, Some(token)).await }
    };
    let all = get("").await;
    let flavors = all.body["flavors"].as_array().expect("flavors");
    assert_eq!(flavors.len(), 12, "{}", all.text);
    let f = &flavors[0];
    assert_eq!(
        (
            f["swap"].clone(),
            f["rxtx_factor"].clone(),
            f["OS-FLV-DISABLED:disabled"].clone()
        ),
        (json!(""), json!(1.0), json!(false))
    );
    let field = |r: &cyclades_tests::Reply, key: &str| -> Vec<Value> {
        r.body["flavors"]
            .as_array()
            .expect("flavors")
            .iter()
            .map(|f| f[key].clone())
            .collect()
    };
    // minDisk and minRam keep the flavors at least that big.
    let big = get("?minDisk=20&minRam=4096").await;
    assert_eq!(field(&big, "disk"), vec![json!(40); 4], "{}", big.text);
    get("?minRam=lots").await.fault(400, "badRequest");
    // Sorted by RAM, descending.
    let by_ram = get("?sort_key=memory_mb&sort_dir=desc").await;
    let ram: Vec<u64> = field(&by_ram, "ram")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert!(ram.windows(2).all(|w| w[0] >= w[1]), "{ram:?}");
    assert_eq!(ram[0], 4096);
    get("?sort_key=colour").await.fault(400, "badRequest");
    get("?sort_dir=sideways").await.fault(400, "badRequest");
    // Pages of five, with flavors_links until the last.
    let mut seen = Vec::new();
    let mut next = Some(format!("{NOVA}/flavors?limit=5"));
    while let Some(path) = next {
        let page = ctx.get(&path, Some(&token)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        seen.extend(field(&page, "id"));
        next = page.body["flavors_links"][0]["href"]
            .as_str()
            .map(|h| h.trim_start_matches(&ctx.url).to_string());
    }
    assert_eq!(seen, field(&all, "id"));
    ctx.shutdown().await;
}

/// `/limits` and the full compute quota set, counted from the quota holder: a floating IP
/// and a server show up in both.
#[tokio::test]
async fn limits_and_quota_sets_count_what_the_project_holds() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let project = ctx.login("demo", "demo", Some("demo")).await.body["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_string();
    let r = ctx
        .post(
            &token,
            "/networking/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": super::networks::public_network(&ctx, &token).await}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    active_servers(&ctx, &token, &["counted"]).await;
    let limits = ctx.get(&format!("{NOVA}/limits"), Some(&token)).await;
    assert_eq!(limits.status, StatusCode::OK, "{}", limits.text);
    let absolute = &limits.body["limits"]["absolute"];
    assert_eq!(limits.body["limits"]["rate"], json!([]));
    assert_eq!(absolute["totalInstancesUsed"], 1, "{}", limits.text);
    assert_eq!(absolute["totalCoresUsed"], 1);
    assert_eq!(absolute["totalRAMUsed"], 1024);
    assert_eq!(absolute["totalFloatingIpsUsed"], 1);
    assert!(absolute["maxTotalInstances"].as_i64().unwrap_or(0) > 0);
    assert_eq!(absolute["maxTotalKeypairs"], 10);
    let set = ctx
        .get(
            &format!("{NOVA}/os-quota-sets/{project}/detail"),
            Some(&token),
        )
        .await;
    let q = &set.body["quota_set"];
    for key in [
        "instances",
        "cores",
        "ram",
        "floating_ips",
        "fixed_ips",
        "metadata_items",
        "key_pairs",
        "security_groups",
        "security_group_rules",
        "server_groups",
        "server_group_members",
        "injected_files",
        "injected_file_content_bytes",
        "injected_file_path_bytes",
    ] {
        assert!(q[key]["limit"].is_i64(), "{key}: {}", set.text);
    }
    assert_eq!(q["floating_ips"]["in_use"], 1, "{}", set.text);
    assert_eq!(q["instances"]["in_use"], 1, "{}", set.text);
    ctx.shutdown().await;
}

/// `accessIPv4`/`accessIPv6`: stored at create, validated, changed on their own by `PUT`,
/// which answers (through Nova's endpoint) the document `GET` shows.
#[tokio::test]
async fn access_ips_are_kept_validated_and_updatable() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let base = json!({"name": "reach", "imageRef": image, "flavorRef": flavor});
    let mut bad = base.clone();
    bad["accessIPv4"] = json!("not-an-address");
    let r = create(&ctx, &token, NOVA, bad).await;
    assert!(
        r.fault(400, "badRequest").contains("accessIPv4"),
        "{}",
        r.text
    );
    let mut good = base.clone();
    good["accessIPv4"] = json!("203.0.113.7");
    good["accessIPv6"] = json!("2001:db8::7");
    let r = create(&ctx, &token, NOVA, good).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let path = format!("{NOVA}/servers/{id}");
    let shown = ctx.get(&path, Some(&token)).await;
    assert_eq!(shown.body["server"]["accessIPv4"], "203.0.113.7");
    assert_eq!(shown.body["server"]["accessIPv6"], "2001:db8::7");
    ctx.wait_server(&token, &id, "ACTIVE").await;
    // Only accessIPv4 changes; PUT answers Nova's update view: what GET shows, without the
    // keypair, config drive, security groups, attached volumes and address extensions.
    let put = ctx
        .put(
            &token,
            &path,
            json!({"server": {"accessIPv4": "203.0.113.8"}}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let shown = ctx.get(&path, Some(&token)).await;
    let view = put.body["server"].as_object().expect("server");
    for (key, value) in shown.body["server"].as_object().expect("server") {
        match key.as_str() {
            "key_name"
            | "config_drive"
            | "security_groups"
            | "os-extended-volumes:volumes_attached" => {
                assert!(!view.contains_key(key), "{key} in {}", put.text)
            }
            "addresses" => {}
            _ => assert_eq!(view.get(key), Some(value), "{key}"),
        }
    }
    assert_eq!(shown.body["server"]["accessIPv4"], "203.0.113.8");
    assert_eq!(shown.body["server"]["accessIPv6"], "2001:db8::7");
    assert_eq!(shown.body["server"]["name"], "reach");
    ctx.put(
        &token,
        &path,
        json!({"server": {"accessIPv6": "203.0.113.9"}}),
    )
    .await
    .fault(400, "badRequest");
    ctx.put(&token, &path, json!({"server": {}}))
        .await
        .fault(400, "badRequest");
    let cleared = ctx
        .put(&token, &path, json!({"server": {"accessIPv6": ""}}))
        .await;
    assert_eq!(cleared.body["server"]["accessIPv6"], "", "{}", cleared.text);
    ctx.shutdown().await;
}

/// Nova's multiple create: as many as the quota has room for between `min_count` and
/// `max_count`, each its own server, all or nothing; `return_reservation_id`.
#[tokio::test]
async fn multiple_create_fills_the_quota_all_or_nothing() {
    let ctx = TestContext::with_config(|c| {
        c.quota.default_limits.insert("cyclades.vm".into(), 4);
    })
    .await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let body = |min: u32, max: u32, reservation: bool| {
        json!({"name": "m", "imageRef": image, "flavorRef": flavor,
               "min_count": min, "max_count": max, "return_reservation_id": reservation})
    };
    let listed = |r: &cyclades_tests::Reply| -> Vec<String> {
        let mut names: Vec<String> = r.body["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .map(|s| s["name"].as_str().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names
    };
    // Bad counts.
    for (min, max) in [(0, 1), (3, 2), (1, 51)] {
        create(&ctx, &token, NOVA, body(min, max, false))
            .await
            .fault(400, "badRequest");
    }
    // Room for four: max_count 3 makes three, named m-1..m-3; the reply is the first.
    let r = create(&ctx, &token, NOVA, body(2, 3, false)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert!(r.body["server"]["id"].is_string(), "{}", r.text);
    let all = ctx.get(&format!("{NOVA}/servers"), Some(&token)).await;
    assert_eq!(listed(&all), ["m-1", "m-2", "m-3"]);
    // One left: min_count 2 creates nothing (413), min 1 of max 5 creates the one.
    create(&ctx, &token, NOVA, body(2, 5, false))
        .await
        .fault(413, "overLimit");
    assert_eq!(
        listed(&ctx.get(&format!("{NOVA}/servers"), Some(&token)).await).len(),
        3
    );
    let r = create(&ctx, &token, NOVA, body(1, 5, true)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert!(
        r.body["reservation_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("r-")),
        "{}",
        r.text
    );
    assert_eq!(
        listed(&ctx.get(&format!("{NOVA}/servers"), Some(&token)).await).len(),
        4
    );
    ctx.shutdown().await;
}
