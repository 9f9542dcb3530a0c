//! The operator API: who may use it, and users and projects through it.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn only_admins_reach_the_admin_api() {
    let ctx = TestContext::new().await;
    ctx.get("/admin/v1/users", None)
        .await
        .fault(401, "unauthorized");
    let demo = ctx.demo_token().await;
    let m = ctx
        .get("/admin/v1/users", Some(&demo))
        .await
        .fault(403, "forbidden");
    assert!(m.contains("admin"), "{m}");
    // The demo admin logs in with a password and gets the admin role.
    let admin = ctx.token("admin", "admin", "admin").await;
    let reply = ctx.get("/admin/v1/users", Some(&admin)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let login = ctx.login("admin", "admin", Some("admin")).await;
    let roles: Vec<&str> = login.body["token"]["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(
        roles.contains(&"admin") && roles.contains(&"member"),
        "{roles:?}"
    );
}

#[tokio::test]
async fn users_are_created_listed_and_modified() {
    let ctx = TestContext::new().await;
    ctx.create_project("research").await;
    let alice = ctx
        .create_user("alice", "s3cret-pw", "research", false)
        .await;
    assert_eq!(alice["name"], "alice");
    assert_eq!(alice["projects"], json!(["research"]));
    assert_eq!(alice["default_project"], "research");
    assert!(alice.get("password").is_none() && !alice.to_string().contains("s3cret"));
    let token = ctx.token("alice", "s3cret-pw", "research").await;

    // Duplicates, bad names, bad passwords, unknown projects.
    let dup = json!({"user": {"name": "alice", "password": "another"}});
    ctx.admin(Method::POST, "/users", Some(dup))
        .await
        .fault(409, "conflict");
    let bad = json!({"user": {"name": "al ice", "password": "pw-long"}});
    assert!(
        ctx.admin(Method::POST, "/users", Some(bad))
            .await
            .fault(400, "badRequest")
            .contains("al ice")
    );
    let short = json!({"user": {"name": "bob", "password": "x"}});
    assert!(
        ctx.admin(Method::POST, "/users", Some(short))
            .await
            .fault(400, "badRequest")
            .contains("password")
    );
    let lost = json!({"user": {"name": "bob", "password": "pw-long", "project": "nowhere"}});
    assert!(
        ctx.admin(Method::POST, "/users", Some(lost))
            .await
            .fault(404, "itemNotFound")
            .contains("nowhere")
    );
    let unknown = json!({"user": {"name": "bob", "pasword": "pw-long"}});
    assert!(
        ctx.admin(Method::POST, "/users", Some(unknown))
            .await
            .fault(400, "badRequest")
            .contains("pasword")
    );
    let list = ctx.admin(Method::GET, "/users", None).await;
    let names: Vec<&str> = list.body["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, vec!["admin", "demo", "alice"]);

    // A password change ends the user's sessions; the new password works.
    let changed = ctx
        .admin(
            Method::PATCH,
            "/users/alice",
            Some(json!({"user": {"password": "new-secret"}})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    ctx.get("/identity/v3/auth/catalog", Some(&token))
        .await
        .fault(401, "unauthorized");
    ctx.login("alice", "s3cret-pw", Some("research"))
        .await
        .fault(401, "unauthorized");
    let token = ctx.token("alice", "new-secret", "research").await;

    // Disabling ends sessions and logins.
    ctx.admin(
        Method::PATCH,
        "/users/alice",
        Some(json!({"user": {"enabled": false}})),
    )
    .await;
    ctx.get("/identity/v3/auth/catalog", Some(&token))
        .await
        .fault(401, "unauthorized");
    let m = ctx
        .login("alice", "new-secret", Some("research"))
        .await
        .fault(401, "unauthorized");
    assert!(m.contains("disabled"), "{m}");

    // Memberships and the admin role.
    let modified = ctx
        .admin(Method::PATCH, "/users/alice", Some(json!({"user": {"enabled": true, "admin": true, "add_projects": ["demo"], "remove_projects": ["research"]}})))
        .await;
    assert_eq!(
        modified.body["user"]["projects"],
        json!(["demo"]),
        "{}",
        modified.text
    );
    assert_eq!(modified.body["user"]["default_project"], "demo");
    assert_eq!(modified.body["user"]["admin"], true);
    ctx.login("alice", "new-secret", Some("research"))
        .await
        .fault(401, "unauthorized");
    ctx.admin(
        Method::PATCH,
        "/users/ghost",
        Some(json!({"user": {"admin": true}})),
    )
    .await
    .fault(404, "itemNotFound");
}

#[tokio::test]
async fn admins_cannot_lock_themselves_out() {
    let ctx = TestContext::new().await;
    let m = ctx
        .admin(
            Method::PATCH,
            "/users/admin",
            Some(json!({"user": {"admin": false}})),
        )
        .await
        .fault(403, "forbidden");
    assert!(m.contains("your own"), "{m}");
}

#[tokio::test]
async fn projects_are_created_and_listed() {
    let ctx = TestContext::new().await;
    let p = ctx.create_project("lab").await;
    assert!(p["id"].as_str().is_some_and(|id| id.len() == 32));
    ctx.admin(
        Method::POST,
        "/projects",
        Some(json!({"project": {"name": "lab"}})),
    )
    .await
    .fault(409, "conflict");
    ctx.admin(
        Method::POST,
        "/projects",
        Some(json!({"project": {"name": ""}})),
    )
    .await
    .fault(400, "badRequest");
    let shown = ctx.admin(Method::GET, "/projects/lab", None).await;
    assert_eq!(shown.body["project"]["id"], p["id"]);
    let by_id = ctx
        .admin(
            Method::GET,
            &format!("/projects/{}", p["id"].as_str().unwrap_or_default()),
            None,
        )
        .await;
    assert_eq!(by_id.body["project"]["name"], "lab");
    ctx.admin(Method::GET, "/projects/nope", None)
        .await
        .fault(404, "itemNotFound");
    let list = ctx.admin(Method::GET, "/projects", None).await;
    assert_eq!(list.body["projects"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        ctx.admin(Method::GET, "/projects?deleted=only", None)
            .await
            .body["projects"],
        json!([])
    );
    ctx.admin(Method::GET, "/projects?deleted=maybe", None)
        .await
        .fault(400, "badRequest");
}
