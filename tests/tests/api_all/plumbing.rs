//! Request plumbing shared by every service: version documents, request ids, headers, faults
//! for unknown paths, wrong methods, bad bodies and oversized bodies.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn version_documents_answer_without_auth() {
    let ctx = TestContext::new().await;
    let base = ctx.url.clone();
    // (path, status, JSON pointer that must exist, expected value at it)
    let table: &[(&str, u16, &str, serde_json::Value)] = &[
        ("/identity", 300, "/versions/values/0/id", json!("v3.14")),
        ("/identity/", 300, "/versions/values/1/id", json!("v2.0")),
        ("/identity/v3", 200, "/version/status", json!("stable")),
        (
            "/identity/v3/",
            200,
            "/version/links/0/href",
            json!(format!("{base}/identity/v3/")),
        ),
        ("/identity/v2.0", 200, "/version/id", json!("v2.0")),
        ("/compute", 200, "/versions/0/id", json!("v2.0")),
        ("/compute/v2.0", 200, "/version/version", json!("")),
        (
            "/compute/v2.0/",
            200,
            "/version/links/0/href",
            json!(format!("{base}/compute/v2.0/")),
        ),
        ("/network", 200, "/versions/0/status", json!("CURRENT")),
        (
            "/network/v2.0",
            200,
            "/resources/0/collection",
            json!("networks"),
        ),
        ("/image", 300, "/versions/0/id", json!("v2.9")),
        ("/image", 300, "/versions/1/id", json!("v1.0")),
        ("/image/v1.0", 200, "/version/id", json!("v1.0")),
        ("/volume", 300, "/versions/0/id", json!("v3.0")),
        ("/volume", 300, "/versions/1/id", json!("v2.0")),
        ("/volume/v2.0", 200, "/version/id", json!("v2.0")),
        ("/volume/v2", 200, "/version/id", json!("v2.0")),
        ("/volume/v3", 200, "/version/min_version", json!("3.0")),
        ("/volume/v3/", 200, "/version/id", json!("v3.0")),
        ("/compute/v2.1", 200, "/version/id", json!("v2.1")),
        ("/networking", 200, "/versions/0/id", json!("v2.0")),
        (
            "/networking/v2.0",
            200,
            "/resources/0/links/0/href",
            json!(format!("{base}/networking/v2.0/networks")),
        ),
        ("/image/v2", 200, "/version/id", json!("v2.9")),
        ("/vmapi/v1.0", 200, "/version/id", json!("v1.0")),
        ("/admin/v1", 200, "/version/id", json!("v1")),
    ];
    for (path, status, pointer, expected) in table {
        let reply = ctx.get(path, None).await;
        assert_eq!(reply.status.as_u16(), *status, "{path}: {}", reply.text);
        assert_eq!(
            reply.body.pointer(pointer),
            Some(expected),
            "{path}: {}",
            reply.text
        );
    }
    assert_eq!(ctx.get("/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_no_cache_headers() {
    let ctx = TestContext::new().await;
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/compute/v2.0",
        "/identity/v3",
        "/nowhere",
        "/admin/v1/users",
    ] {
        let reply = ctx.get(path, None).await;
        let id = reply
            .header("x-openstack-request-id")
            .expect("request id")
            .to_string();
        assert!(id.starts_with("req-") && id.len() == 40, "{id}");
        assert!(seen.insert(id.clone()), "request ids must be unique");
        assert_eq!(
            reply.header("x-compute-request-id").is_some(),
            path.starts_with("/compute"),
            "{path}"
        );
        assert!(
            reply
                .header("cache-control")
                .is_some_and(|v| v.contains("no-cache"))
        );
        assert_eq!(reply.header("vary"), Some("X-Auth-Token"));
    }
    let compute = ctx.get("/compute/v2.0", None).await;
    assert_eq!(
        compute.header("x-compute-request-id"),
        compute.header("x-openstack-request-id")
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_get_faults() {
    let ctx = TestContext::new().await;
    let message = ctx
        .get("/compute/v2.0/no-such-thing", None)
        .await
        .fault(400, "badRequest");
    assert!(message.contains("API endpoint not found"), "{message}");
    ctx.get("/definitely/not/here", None)
        .await
        .fault(404, "itemNotFound");

    let reply = ctx
        .request(Method::PUT, "/identity/v3/auth/tokens", None, None)
        .await;
    let message = reply.fault(405, "notAllowed");
    assert!(message.contains("PUT"), "{message}");
    let allow = reply.header("allow").expect("Allow header");
    for method in ["GET", "POST", "DELETE"] {
        assert!(allow.contains(method), "{allow}");
    }
    ctx.delete(&ctx.admin_token, "/admin/v1/quotas")
        .await
        .fault(405, "notAllowed");
}

#[tokio::test]
async fn bad_bodies_get_the_right_fault() {
    let ctx = TestContext::new().await;
    let url = format!("{}/admin/v1/projects", ctx.url);
    let post = || ctx.http.post(&url).header("X-Auth-Token", &ctx.admin_token);

    let m = TestContext::reply(
        post()
            .header("content-type", "application/json")
            .body("{\"project\":"),
    )
    .await
    .fault(400, "badRequest");
    assert!(
        m.starts_with("Could not decode request body as JSON"),
        "{m}"
    );

    let m = TestContext::reply(post().header("content-type", "text/plain").body("{}"))
        .await
        .fault(415, "badMediaType");
    assert!(m.contains("text/plain"), "{m}");

    let m = TestContext::reply(post().body("{}"))
        .await
        .fault(400, "badRequest");
    assert_eq!(m, "Missing Content-Type header field");

    let m = TestContext::reply(post().json(&json!({"project": {"nme": "x"}})))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("nme"), "{m}");

    let m = TestContext::reply(post().json(&json!({"project": {"name": 7}})))
        .await
        .fault(400, "badRequest");
    assert!(m.contains("project.name"), "{m}");

    let big = format!(
        "{{\"project\":{{\"name\":\"x\",\"description\":\"{}\"}}}}",
        "a".repeat(2 << 20)
    );
    let m = TestContext::reply(post().header("content-type", "application/json").body(big))
        .await
        .fault(413, "overLimit");
    assert!(m.contains("too large"), "{m}");

    // Nothing was half-written by any of these.
    let projects = ctx.admin(Method::GET, "/projects", None).await;
    assert_eq!(
        projects.body["projects"].as_array().map(Vec::len),
        Some(2),
        "{}",
        projects.text
    );
}

#[tokio::test]
async fn json_content_type_with_charset_is_accepted() {
    let ctx = TestContext::new().await;
    let reply = TestContext::reply(
        ctx.http
            .post(format!("{}/admin/v1/projects", ctx.url))
            .header("X-Auth-Token", &ctx.admin_token)
            .header("content-type", "application/json; charset=UTF-8")
            .body("{\"project\":{\"name\":\"charset\"}}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
}

/// Every 4xx carries a fault body, even when no handler ran: a path id that is not UTF-8 or
/// not a number, a query that does not parse.
#[tokio::test]
async fn extractor_rejections_are_faults() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    for path in [
        "/compute/v2.0/servers/%ff",
        "/compute/v2.0/servers/%ff/metadata",
        "/network/v2.0/networks/%ff",
        "/volume/v2.0/volumes/%ff",
        "/compute/v2.0/servers/1/tags/%ff%fe",
    ] {
        let m = ctx.get(path, Some(&token)).await.fault(400, "badRequest");
        assert!(m.contains("UTF-8"), "{path}: {m}");
    }
    for path in ["/networks/abc", "/pools/abc"] {
        let m = ctx
            .admin(reqwest::Method::GET, path, None)
            .await
            .fault(400, "badRequest");
        assert!(m.contains("abc"), "{path}: {m}");
    }
    ctx.shutdown().await;
}

/// An attribute a request body carries is used or refused with a 400 naming it, never dropped
/// (the Neutron attributes clients send with this cloud's own values pass).
#[tokio::test]
async fn request_bodies_refuse_attributes_they_would_drop() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let post = |path: &'static str, body: serde_json::Value| {
        let (ctx, token) = (&ctx, &token);
        async move {
            ctx.request(reqwest::Method::POST, path, Some(token), Some(body))
                .await
        }
    };
    for (path, body, attribute) in [
        (
            "/network/v2.0/networks",
            json!({"network": {"name": "n", "mtu": 9000}}),
            "mtu",
        ),
        (
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": "1", "cidr": "10.0.0.0/24", "ip_version": 4, "segment_id": "s"}}),
            "segment_id",
        ),
        (
            "/network/v2.0/ports",
            json!({"port": {"network_id": "1", "mac_address": "aa:bb:cc:dd:ee:ff"}}),
            "mac_address",
        ),
        (
            "/network/v2.0/floatingips",
            json!({"floatingip": {"dns_name": "x"}}),
            "dns_name",
        ),
        (
            "/volume/v2.0/volumes",
            json!({"volume": {"size": 1, "display_name": "v", "encrypted": true}}),
            "encrypted",
        ),
        (
            "/compute/v2.0/os-keypairs",
            json!({"keypair": {"name": "k", "type": "x509"}}),
            "type",
        ),
    ] {
        let m = post(path, body).await.fault(400, "badRequest");
        assert!(m.contains(&format!("'{attribute}'")), "{path}: {m}");
    }
    // What clients send by default is accepted.
    let r = post(
        "/network/v2.0/networks",
        json!({"network": {"name": "n", "admin_state_up": true, "shared": false, "description": null}}),
    )
    .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{}", r.text);
    let r = post(
        "/compute/v2.0/os-keypairs",
        json!({"keypair": {"name": "k", "type": "ssh"}}),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text);
    ctx.shutdown().await;
}
