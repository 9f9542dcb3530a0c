//! What a `POST /servers` body may carry (spec §2.3, checklist B21): tags, and nothing dropped.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::compute::{FLAVOR_SMALL, create, flavor_id};

/// `tags` at create (spec §2.3, checklist B21) reach the record and Ganeti (encoded, in the
/// create body), are validated as `PUT /tags` validates them, and no attribute of a create
/// request is ever silently dropped: unknown ones are refused naming them.
#[tokio::test]
async fn create_takes_tags_and_refuses_what_it_would_drop() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let body = |extra: serde_json::Value| {
        let mut server = json!({"name": "tagged", "imageRef": image, "flavorRef": flavor});
        for (k, v) in extra.as_object().expect("object") {
            server[k] = v.clone();
        }
        server
    };
    let r = create(
        &ctx,
        &token,
        body(json!({"tags": ["web", "my tag", "web"], "security_groups": [{"name": "default"}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let shown = ctx.wait_server(&token, &id, "ACTIVE").await;
    assert_eq!(shown["tags"], json!(["my tag", "web"]), "{shown}");
    let ganeti = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{id}/tags"), None)
        .await;
    let tags = ganeti.body.as_array().expect("tags");
    for t in ["cyclades:user:web", "cyclades:user:my+tag"] {
        assert!(tags.iter().any(|g| g == t), "{t} in {}", ganeti.text);
    }

    for (extra, needle) in [
        (json!({"tags": "web"}), "'tags' must be a list"),
        (json!({"tags": ["a/b"]}), "Invalid tag 'a/b'"),
        (
            json!({"tags": (0..51).map(|n| format!("t{n}")).collect::<Vec<_>>()}),
            "more than 50 tags",
        ),
        (
            json!({"flavour": "typo"}),
            "Unsupported server attribute 'flavour'",
        ),
        (
            json!({"description": "x"}),
            "Unsupported server attribute 'description'",
        ),
        (
            json!({"security_groups": [{"name": "web"}]}),
            "only security group is 'default'",
        ),
        (
            json!({"config_drive": true}),
            "Config drives are not supported",
        ),
        (
            json!({"shared_to_project": "yes"}),
            "'shared_to_project' must be a boolean",
        ),
    ] {
        let m = create(&ctx, &token, body(extra.clone()))
            .await
            .fault(400, "badRequest");
        assert!(m.contains(needle), "{extra}: {m}");
    }
    // Sharing at create follows the same switch as reassign.
    create(&ctx, &token, body(json!({"shared_to_project": true})))
        .await
        .fault(403, "forbidden");
    ctx.shutdown().await;
}
