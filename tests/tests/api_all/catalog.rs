//! The compute catalog over HTTP: flavors (list, detail, lookup, deletion, access, the
//! cartesian `flavor-create`) and the image registry's three views with their visibility.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::compute::{FLAVOR_SMALL, flavor_id};

#[tokio::test]
async fn flavors_list_detail_and_lookup() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let list = ctx.get("/compute/v2.0/flavors", Some(&token)).await;
    assert_eq!(list.status, StatusCode::OK);
    let flavors = list.body["flavors"].as_array().expect("list");
    assert_eq!(flavors.len(), 12, "3 sizes x 4 templates: {}", list.text);
    assert!(
        flavors
            .iter()
            .all(|f| f["id"].is_string() && f.get("ram").is_none())
    );
    let id = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let one = ctx
        .get(&format!("/compute/v2.0/flavors/{id}"), Some(&token))
        .await;
    let f = &one.body["flavor"];
    assert_eq!(
        (
            f["ram"].clone(),
            f["disk"].clone(),
            f["vcpus"].clone(),
            f["SNF:disk_template"].clone()
        ),
        (json!(1024), json!(10), json!(1), json!("drbd"))
    );
    assert_eq!(f["os-flavor-access:is_public"], true);
    // A name (what the openstack CLI tries first) and unknown ids are 404.
    ctx.get(
        &format!("/compute/v2.0/flavors/{FLAVOR_SMALL}"),
        Some(&token),
    )
    .await
    .fault(404, "itemNotFound");
    ctx.get("/compute/v2.0/flavors/999999", Some(&token))
        .await
        .fault(404, "itemNotFound");
    let specs = ctx
        .get(
            &format!("/compute/v2.0/flavors/{id}/os-extra_specs"),
            Some(&token),
        )
        .await;
    assert_eq!(specs.body, json!({"extra_specs": {}}));
    let private = ctx
        .get(
            "/compute/v2.0/flavors/detail?SNF:is_public=false",
            Some(&token),
        )
        .await;
    assert_eq!(private.body["flavors"], json!([]));

    // A deleted flavor leaves the list but stays visible by id; a private one is hidden.
    let r = ctx
        .admin(
            Method::PATCH,
            &format!("/flavors/{id}"),
            Some(json!({"deleted": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = ctx.get("/compute/v2.0/flavors", Some(&token)).await;
    assert_eq!(list.body["flavors"].as_array().map(Vec::len), Some(11));
    assert_eq!(
        ctx.get(&format!("/compute/v2.0/flavors/{id}"), Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    ctx.admin(
        Method::PATCH,
        &format!("/flavors/{id}"),
        Some(json!({"deleted": false, "public": false})),
    )
    .await;
    ctx.get(&format!("/compute/v2.0/flavors/{id}"), Some(&token))
        .await
        .fault(404, "itemNotFound");
    ctx.shutdown().await;
}

#[tokio::test]
async fn flavor_create_makes_the_cartesian_product_once() {
    let ctx = TestContext::new().await;
    let body = json!({"cpus": [2, 4], "rams": [4095], "disks": [40], "volume_types": ["plain"]});
    let r = ctx
        .admin(Method::POST, "/flavors", Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.body["created"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.text
    );
    assert_eq!(r.body["created"][0]["ram"], 4096);
    assert!(
        r.body["warnings"][0]
            .as_str()
            .unwrap_or("")
            .contains("rounded up to 4096")
    );
    assert_eq!(
        r.body["existing"].as_array().map(Vec::len),
        Some(1),
        "C4R4096D40plain is seeded"
    );
    let again = ctx.admin(Method::POST, "/flavors", Some(body)).await;
    assert_eq!(again.body["created"], json!([]));
    assert_eq!(again.body["existing"].as_array().map(Vec::len), Some(2));
    let bad = ctx
        .admin(
            Method::POST,
            "/flavors",
            Some(json!({"cpus": [1], "rams": [512], "disks": [5], "volume_types": ["floppy"]})),
        )
        .await;
    assert!(bad.fault(400, "badRequest").contains("floppy"));
    let cpus: Vec<u32> = (1..=100).collect();
    let huge = ctx
        .admin(
            Method::POST,
            "/flavors",
            Some(json!({"cpus": cpus, "rams": (1..=20).map(|r| r * 1024).collect::<Vec<u64>>(), "disks": [10], "volume_types": ["plain"]})),
        )
        .await;
    assert!(huge.fault(400, "badRequest").contains("2000 combinations"));
    ctx.shutdown().await;
}

#[tokio::test]
async fn images_have_three_views_and_respect_visibility() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let id = ctx.demo_image(&token).await;
    // Glance v2: bare object, filters, 404 for names.
    let v2 = ctx
        .get(&format!("/image/v2/images/{id}"), Some(&token))
        .await;
    assert_eq!(
        (
            v2.body["name"].clone(),
            v2.body["visibility"].clone(),
            v2.body["status"].clone()
        ),
        (json!("debian-12"), json!("public"), json!("active"))
    );
    assert_eq!(v2.body["OSFAMILY"], "linux");
    let by_ids = ctx
        .get(&format!("/image/v2/images?id=in:{id},nope"), Some(&token))
        .await;
    assert_eq!(by_ids.body["images"].as_array().map(Vec::len), Some(1));
    ctx.get("/image/v2/images/debian-12", Some(&token))
        .await
        .fault(404, "itemNotFound");
    let root = ctx.get("/image/", None).await;
    assert_eq!(root.status.as_u16(), 300);
    assert_eq!(root.body["versions"][0]["status"], "CURRENT");
    assert!(
        root.body["versions"][0]["links"][0]["href"]
            .as_str()
            .unwrap_or("")
            .ends_with("/image/v2/")
    );
    // Plankton: a bare list and X-Image-Meta-* headers.
    let v1 = ctx
        .get("/image/v1.0/images/?sort_dir=asc", Some(&token))
        .await;
    assert!(v1.body.is_array(), "{}", v1.text);
    let head = ctx
        .request(
            Method::HEAD,
            &format!("/image/v1.0/images/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(head.header("x-image-meta-name"), Some("debian-12"));
    assert_eq!(head.header("x-image-meta-property-osfamily"), Some("linux"));
    // Only the owner (here the admin) may change the demo image's metadata.
    ctx.post(
        &token,
        &format!("/compute/v2.0/images/{id}/metadata"),
        json!({"metadata": {"extra": "1"}}),
    )
    .await
    .fault(403, "forbidden");
    // Compute view.
    let detail = ctx.get("/compute/v2.0/images/detail", Some(&token)).await;
    let img = &detail.body["images"][0];
    assert_eq!(
        (img["status"].clone(), img["progress"].clone()),
        (json!("ACTIVE"), json!(100))
    );
    assert_eq!(img["metadata"]["OS"], "debian");

    // A private image registered through Plankton is invisible to another project's user.
    let reg = TestContext::reply(
        ctx.http
            .post(format!("{}/image/v1.0/images/", ctx.url))
            .header("X-Auth-Token", &token)
            .header("X-Image-Meta-Name", "mine")
            .header("X-Image-Meta-Location", "pithos://demo/images/mine")
            .header("X-Image-Meta-Property-OSFAMILY", "linux"),
    )
    .await;
    assert_eq!(reg.status, StatusCode::OK, "{}", reg.text);
    let mine = reg.body["image"]["id"].as_str().expect("id").to_string();
    ctx.create_project("other").await;
    ctx.create_user("eve", "eve-password", "other", false).await;
    let eve = ctx.token("eve", "eve-password", "other").await;
    ctx.get(&format!("/image/v2/images/{mine}"), Some(&eve))
        .await
        .fault(404, "itemNotFound");
    ctx.get(&format!("/compute/v2.0/images/{mine}"), Some(&eve))
        .await
        .fault(404, "itemNotFound");
    assert_eq!(
        ctx.get(&format!("/image/v2/images/{mine}"), Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    let missing = TestContext::reply(
        ctx.http
            .post(format!("{}/image/v1.0/images/", ctx.url))
            .header("X-Auth-Token", &token)
            .header("X-Image-Meta-Name", "x"),
    )
    .await;
    assert!(missing.fault(400, "badRequest").contains("Location"));
    ctx.shutdown().await;
}
