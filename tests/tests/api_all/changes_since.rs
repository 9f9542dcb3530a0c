//! `changes-since` (spec §1, checklist A8) in Synnefo's behaviour: values in the future or
//! older than the poll limit are refused, and every listing that supports it (servers,
//! networks, subnets, floating IPs, compute images) includes what was deleted since.

use cyclades::clock::Timestamp;
use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A second after now, so that the whole-second value is after every earlier change.
async fn a_moment() -> String {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    Timestamp::now().iso()
}

#[tokio::test]
async fn future_and_too_old_values_are_refused_everywhere() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let future = Timestamp::now().plus_secs(3600).iso();
    let too_old = Timestamp(Timestamp::now().0 - 2 * 3600 * 1000).iso();
    for path in [
        "/compute/v2.0/servers",
        "/compute/v2.0/servers/detail",
        "/compute/v2.0/images/detail",
        "/compute/v2.0/os-floating-ips",
        "/network/v2.0/networks",
        "/network/v2.0/subnets",
        "/network/v2.0/floatingips",
        "/volume/v2.0/volumes/detail",
    ] {
        let m = ctx
            .get(&format!("{path}?changes-since={future}"), Some(&token))
            .await
            .fault(400, "badRequest");
        assert_eq!(m, "changes-since value set in the future", "{path}");
        let m = ctx
            .get(&format!("{path}?changes-since={too_old}"), Some(&token))
            .await
            .fault(400, "badRequest");
        assert_eq!(m, "Too old changes-since value", "{path}");
        let m = ctx
            .get(&format!("{path}?changes-since=yesterday"), Some(&token))
            .await
            .fault(400, "badRequest");
        assert!(m.contains("Invalid changes-since"), "{path}: {m}");
    }
    ctx.shutdown().await;
}

#[tokio::test]
async fn released_floating_ips_and_deleted_subnets_are_listed_as_deleted() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let r = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {}}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let fip = r.body["floatingip"]["id"].as_str().expect("id").to_string();
    let (net, subnet) = super::networks::private_network(&ctx, &token, "10.77.0.0/24").await;

    let since = a_moment().await;
    for path in [
        "/network/v2.0/floatingips",
        "/compute/v2.0/os-floating-ips",
        "/network/v2.0/subnets",
    ] {
        let r = ctx
            .get(&format!("{path}?changes-since={since}"), Some(&token))
            .await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{path}: {}", r.text);
    }
    for path in [
        format!("/network/v2.0/floatingips/{fip}"),
        format!("/network/v2.0/networks/{net}"),
    ] {
        let r = ctx.delete(&token, &path).await;
        assert!(r.status.is_success(), "{path}: {}", r.text);
    }

    let r = ctx
        .get(
            &format!("/network/v2.0/floatingips?changes-since={since}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let listed = r.body["floatingips"].as_array().expect("list");
    assert_eq!(listed.len(), 1, "{}", r.text);
    assert_eq!(
        (&listed[0]["id"], &listed[0]["deleted"]),
        (&json!(fip), &json!(true))
    );
    let r = ctx
        .get(
            &format!("/compute/v2.0/os-floating-ips?changes-since={since}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.body["floating_ips"][0]["id"], json!(fip), "{}", r.text);
    // Without changes-since a released floating IP is gone, and so is its own URL.
    let r = ctx.get("/network/v2.0/floatingips", Some(&token)).await;
    assert!(!r.text.contains(&format!("\"id\":\"{fip}\"")), "{}", r.text);
    ctx.get(&format!("/network/v2.0/floatingips/{fip}"), Some(&token))
        .await
        .fault(404, "itemNotFound");

    let r = ctx
        .get(
            &format!("/network/v2.0/subnets?changes-since={since}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let listed = r.body["subnets"].as_array().expect("list");
    assert_eq!(listed.len(), 1, "{}", r.text);
    assert_eq!(
        (&listed[0]["id"], &listed[0]["deleted"]),
        (&json!(subnet), &json!(true))
    );
    let r = ctx.get("/network/v2.0/subnets", Some(&token)).await;
    assert!(
        !r.text.contains(&format!("\"id\":\"{subnet}\"")),
        "{}",
        r.text
    );
    ctx.shutdown().await;
}

#[tokio::test]
async fn compute_images_support_changes_since() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let since = a_moment().await;
    let r = ctx
        .get(
            &format!("/compute/v2.0/images/detail?changes-since={since}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{}", r.text);
    let r = ctx
        .admin(
            Method::POST,
            "/images",
            Some(json!({"name": "fresh", "location": "pithos://admin/images/fresh.diskdump",
                        "owner": "demo", "properties": {"OSFAMILY": "linux", "ROOT_PARTITION": "1"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let fresh = r.body["image"]["id"].as_str().expect("id").to_string();
    for path in ["/compute/v2.0/images", "/compute/v2.0/images/detail"] {
        let r = ctx
            .get(&format!("{path}?changes-since={since}"), Some(&token))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        let ids: Vec<&str> = r.body["images"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|i| i["id"].as_str())
            .collect();
        assert_eq!(ids, vec![fresh.as_str()], "{path}: {}", r.text);
    }
    ctx.shutdown().await;
}
