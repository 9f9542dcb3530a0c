//! State survives a restart on the same data directory, and the demo seeding is idempotent.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn restart_keeps_state_and_reuses_the_demo() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let admin_token = ctx.admin_token.clone();
    ctx.create_project("kept").await;
    ctx.admin(
        Method::PUT,
        "/quotas/kept/cyclades.vm",
        Some(json!({"limit": 7})),
    )
    .await;
    let users_before = ctx.admin(Method::GET, "/users", None).await.body["users"].clone();

    let ctx = ctx.restart().await;
    assert_eq!(
        ctx.admin_token, admin_token,
        "the admin token file is reused"
    );
    let file = std::fs::read_to_string(ctx.data_dir().join("admin-token")).expect("admin-token");
    assert_eq!(file.trim(), admin_token);
    assert_eq!(
        ctx.get("/identity/v3/auth/catalog", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        ctx.admin(Method::GET, "/users", None).await.body["users"],
        users_before
    );
    let quotas = ctx.admin(Method::GET, "/quotas?project=kept", None).await;
    let vm = quotas.body["quotas"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["resource"] == "cyclades.vm"))
        .cloned();
    assert_eq!(vm.map(|r| r["limit"].clone()), Some(json!(7)));
    ctx.shutdown().await;
}

#[tokio::test]
async fn the_admin_token_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = TestContext::new().await;
    let mode = std::fs::metadata(ctx.data_dir().join("admin-token"))
        .expect("file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_second_server_on_the_same_dir_is_refused() {
    let ctx = TestContext::new().await;
    let mut config = cyclades::config::Config::default();
    config.server.listen = "127.0.0.1:0".parse().expect("addr");
    config.server.data_dir = ctx.data_dir().to_path_buf();
    config.store.url = cyclades::store::testing::store_url_for(ctx.data_dir());
    let err = cyclades::server::start(cyclades::server::ServerOptions {
        config,
        demo: false,
    })
    .await
    .err()
    .expect("second server refused");
    assert!(
        err.to_string()
            .contains("in use by another cyclades process"),
        "{err}"
    );
}
