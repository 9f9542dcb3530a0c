//! Plankton's image updates and members over HTTP (spec §4, checklist F76, F78): properties
//! merge, fields that cannot change are refused, members are replaced as a whole and listed
//! per owner, and Glance v2 refuses its read-only attributes.

use cyclades_tests::{Reply, TestContext};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn plankton(
    ctx: &TestContext,
    method: Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = ctx
        .http
        .request(method, format!("{}/image/v1.0{path}", ctx.url))
        .header("X-Auth-Token", token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    TestContext::reply(request).await
}

#[tokio::test]
async fn plankton_updates_merge_properties_and_refuse_what_cannot_change() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let reg = plankton(
        &ctx,
        Method::POST,
        "/images/",
        &token,
        &[
            ("X-Image-Meta-Name", "mine"),
            ("X-Image-Meta-Location", "pithos://demo/images/mine"),
            ("X-Image-Meta-Container-Format", "ovf"),
            ("X-Image-Meta-Property-OSFAMILY", "linux"),
            ("X-Image-Meta-Property-USERS", "root"),
        ],
    )
    .await;
    assert_eq!(reg.status, StatusCode::OK, "{}", reg.text);
    assert_eq!(reg.body["image"]["container_format"], "ovf");
    let id = reg.body["image"]["id"].as_str().expect("id").to_string();
    let demo_id = reg.body["image"]["owner"].clone();

    // A property update merges; an empty value removes one.
    let put = plankton(
        &ctx,
        Method::PUT,
        &format!("/images/{id}"),
        &token,
        &[
            ("X-Image-Meta-Property-OS", "debian"),
            ("X-Image-Meta-Property-USERS", ""),
            ("X-Image-Meta-Disk-Format", "extdump"),
        ],
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(
        put.body["image"]["properties"],
        json!({"OSFAMILY": "linux", "OS": "debian"})
    );
    assert_eq!(put.body["image"]["disk_format"], "extdump");

    // Fields that cannot change, and bad formats, are refused and change nothing.
    for (header, value, says) in [
        (
            "X-Image-Meta-Location",
            "pithos://demo/images/other",
            "Location",
        ),
        ("X-Image-Meta-Size", "10", "Size"),
        ("X-Image-Meta-Checksum", "abc", "Checksum"),
        (
            "X-Image-Meta-Container-Format",
            "docker",
            "container format",
        ),
        ("X-Image-Meta-Disk-Format", "qcow2", "disk format"),
    ] {
        let reply = plankton(
            &ctx,
            Method::PUT,
            &format!("/images/{id}"),
            &token,
            &[(header, value), ("X-Image-Meta-Name", "renamed")],
        )
        .await;
        assert!(
            reply.fault(400, "badRequest").contains(says),
            "{header}: {}",
            reply.text
        );
    }
    let head = plankton(&ctx, Method::HEAD, &format!("/images/{id}"), &token, &[]).await;
    assert_eq!(head.header("x-image-meta-name"), Some("mine"));
    assert_eq!(head.header("x-image-meta-disk-format"), Some("extdump"));

    // Status is one of AVAILABLE/SAVING/ERROR; only an administrator moves an image's owner.
    let path = format!("/images/{id}");
    let status = |value: &'static str| {
        let headers = [("X-Image-Meta-Status", value)];
        let path = path.clone();
        let (ctx, token) = (&ctx, token.clone());
        async move { plankton(ctx, Method::PUT, &path, &token, &headers).await }
    };
    assert_eq!(status("saving").await.body["image"]["status"], "SAVING");
    assert!(
        status("DELETED")
            .await
            .fault(400, "badRequest")
            .contains("status")
    );
    assert_eq!(
        status("AVAILABLE").await.body["image"]["status"],
        "AVAILABLE"
    );
    ctx.create_user("root", "root-password", "demo", true).await;
    let root = ctx.token("root", "root-password", "demo").await;
    let root_id = ctx.admin(Method::GET, "/users/root", None).await.body["user"]["id"]
        .as_str()
        .expect("root id")
        .to_string();
    let owner = [("X-Image-Meta-Owner", root_id.as_str())];
    let refused = plankton(&ctx, Method::PUT, &path, &token, &owner).await;
    assert!(refused.fault(403, "forbidden").contains("administrator"));
    let unknown = [("X-Image-Meta-Owner", "nobody")];
    let reply = plankton(&ctx, Method::PUT, &path, &root, &unknown).await;
    assert!(reply.fault(400, "badRequest").contains("nobody"));
    let moved = plankton(&ctx, Method::PUT, &path, &root, &owner).await;
    assert_eq!(
        moved.body["image"]["owner"],
        root_id.as_str(),
        "{}",
        moved.text
    );
    let back = [("X-Image-Meta-Owner", "demo")];
    let reply = plankton(&ctx, Method::PUT, &path, &root, &back).await;
    assert_eq!(reply.body["image"]["owner"], demo_id, "{}", reply.text);

    // Glance v2: read-only attributes get 403, formats are checked, properties merge.
    let patch = |body: serde_json::Value| {
        ctx.http
            .patch(format!("{}/image/v2/images/{id}", ctx.url))
            .header("X-Auth-Token", &token)
            .header(
                "Content-Type",
                "application/openstack-images-v2.1-json-patch",
            )
            .body(body.to_string())
    };
    for path in ["/id", "/status", "/size", "/owner", "/checksum"] {
        let reply = TestContext::reply(patch(
            json!([{"op": "replace", "path": path, "value": "x"}]),
        ))
        .await;
        assert!(
            reply.fault(403, "forbidden").contains("read-only"),
            "{path}: {}",
            reply.text
        );
    }
    let reply = TestContext::reply(patch(
        json!([{"op": "replace", "path": "/container_format", "value": "bare"},
               {"op": "add", "path": "/ROOT_PARTITION", "value": "1"}]),
    ))
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["container_format"], "bare");
    assert_eq!(reply.body["OS"], "debian");
    assert_eq!(reply.body["ROOT_PARTITION"], "1");
    ctx.shutdown().await;
}

#[tokio::test]
async fn plankton_members_are_replaced_whole_and_listed_per_owner() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let reg = plankton(
        &ctx,
        Method::POST,
        "/images/",
        &token,
        &[
            ("X-Image-Meta-Name", "shared"),
            ("X-Image-Meta-Location", "pithos://demo/images/shared"),
        ],
    )
    .await;
    assert_eq!(reg.status, StatusCode::OK, "{}", reg.text);
    let id = reg.body["image"]["id"].as_str().expect("id").to_string();
    let owner = reg.body["image"]["owner"]
        .as_str()
        .expect("owner")
        .to_string();
    let p1 = ctx.create_project("p1").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let p2 = ctx.create_project("p2").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    ctx.create_user("eve", "eve-password", "p2", false).await;
    let eve = ctx.token("eve", "eve-password", "p2").await;
    let shared_path = format!("/shared-images/{owner}");
    assert_eq!(
        plankton(&ctx, Method::GET, &shared_path, &eve, &[])
            .await
            .body,
        json!({"shared_images": []})
    );

    let replace = |members: serde_json::Value| {
        ctx.http
            .put(format!("{}/image/v1.0/images/{id}/members", ctx.url))
            .header("X-Auth-Token", &token)
            .json(&json!({"memberships": members}))
    };
    let reply = TestContext::reply(replace(json!([{"member_id": p1}, {"member_id": p2}]))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let members = plankton(
        &ctx,
        Method::GET,
        &format!("/images/{id}/members"),
        &token,
        &[],
    )
    .await;
    assert_eq!(
        members.body,
        json!({"members": [{"member_id": p1, "can_share": false},
                           {"member_id": p2, "can_share": false}]})
    );
    assert_eq!(
        plankton(&ctx, Method::GET, &shared_path, &eve, &[])
            .await
            .body,
        json!({"shared_images": [{"image_id": id, "can_share": false}]})
    );

    // Replace-all drops p2; an unknown project changes nothing.
    let reply =
        TestContext::reply(replace(json!([{"member_id": p1}, {"member_id": "nope"}]))).await;
    reply.fault(404, "itemNotFound");
    let reply = TestContext::reply(replace(json!([{"member_id": p1}]))).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.text);
    let members = plankton(
        &ctx,
        Method::GET,
        &format!("/images/{id}/members"),
        &token,
        &[],
    )
    .await;
    assert_eq!(
        members.body,
        json!({"members": [{"member_id": p1, "can_share": false}]})
    );
    assert_eq!(
        plankton(&ctx, Method::GET, &shared_path, &eve, &[])
            .await
            .body,
        json!({"shared_images": []})
    );
    plankton(&ctx, Method::GET, &format!("/images/{id}"), &eve, &[])
        .await
        .fault(404, "itemNotFound");
    // Another user may not replace them; a malformed body is a 400 naming the shape.
    let other = ctx
        .http
        .put(format!("{}/image/v1.0/images/{id}/members", ctx.url))
        .header("X-Auth-Token", &eve)
        .json(&json!({"memberships": []}));
    TestContext::reply(other).await.fault(404, "itemNotFound");
    let bad = TestContext::reply(replace(json!("p1"))).await;
    assert!(bad.fault(400, "badRequest").contains("memberships"));
    ctx.shutdown().await;
}
