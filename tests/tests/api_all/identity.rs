//! Identity: Keystone v3 and Astakos v2.0 tokens, validation, revocation, expiry, catalogs.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn catalog_url(catalog: &Value, kind: &str) -> Option<String> {
    catalog
        .as_array()?
        .iter()
        .find(|s| s["type"] == kind)
        .and_then(|s| {
            s["endpoints"]
                .as_array()?
                .iter()
                .find(|e| e["interface"] == "public")
                .and_then(|e| e["url"].as_str().map(str::to_string))
        })
}

#[tokio::test]
async fn v3_password_login_returns_a_scoped_token_and_catalog() {
    let ctx = TestContext::new().await;
    let reply = ctx.login("demo", "demo", Some("demo")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let token = reply.header("x-subject-token").expect("X-Subject-Token");
    assert!(token.len() >= 64);
    let t = &reply.body["token"];
    assert_eq!(t["user"]["name"], "demo");
    assert!(t["user"]["id"].is_string());
    assert_eq!(t["project"]["name"], "demo");
    assert!(t["project"]["id"].is_string());
    assert_eq!(t["user"]["domain"]["id"], "default");
    assert_eq!(t["methods"], json!(["password"]));
    let expires = t["expires_at"].as_str().expect("expires_at");
    assert!(
        expires.ends_with('Z') && expires.len() == "2026-11-26T16:43:06.000000Z".len(),
        "{expires}"
    );
    assert_eq!(t["roles"], json!([{"id": "member", "name": "member"}]));
    for (kind, path) in [
        ("compute", "/compute/v2.1"),
        ("network", "/networking"),
        ("image", "/image/v2"),
        ("volume", "/volume/v3"),
        ("identity", "/identity/v3"),
    ] {
        assert_eq!(
            catalog_url(&t["catalog"], kind),
            Some(format!("{}{path}", ctx.url)),
            "{kind}"
        );
    }
    let endpoint = &t["catalog"][0]["endpoints"][0];
    assert_eq!(endpoint["region"], "default");
    assert_eq!(endpoint["region_id"], "default");

    // ?nocatalog leaves the catalog out; an unscoped request lands in the default project.
    let nocat = ctx
        .request(
            Method::POST,
            "/identity/v3/auth/tokens?nocatalog",
            None,
            Some(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": t["user"]["id"], "password": "demo"}}}}})),
        )
        .await;
    assert_eq!(nocat.status, StatusCode::CREATED, "{}", nocat.text);
    assert!(nocat.body["token"].get("catalog").is_none());
    assert_eq!(nocat.body["token"]["project"]["name"], "demo");
}

#[tokio::test]
async fn v3_login_failures_are_401_faults() {
    let ctx = TestContext::new().await;
    ctx.create_project("other").await;
    let cases = [
        (
            "demo",
            "wrong",
            Some("demo"),
            "Invalid username or password",
        ),
        (
            "nobody",
            "demo",
            Some("demo"),
            "Invalid username or password",
        ),
        ("demo", "demo", Some("other"), "no access to project"),
        ("demo", "demo", Some("missing"), "not found"),
    ];
    for (user, password, project, expected) in cases {
        let m = ctx
            .login(user, password, project)
            .await
            .fault(401, "unauthorized");
        assert!(m.contains(expected), "{user}/{password}/{project:?}: {m}");
    }
    let wrong_domain = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "password": "demo", "domain": {"name": "Elsewhere"}}}}}});
    let m = ctx
        .request(
            Method::POST,
            "/identity/v3/auth/tokens",
            None,
            Some(wrong_domain),
        )
        .await
        .fault(401, "unauthorized");
    assert!(m.contains("Elsewhere"), "{m}");
    let no_password = json!({"auth": {"identity": {"methods": ["password"]}}});
    ctx.request(
        Method::POST,
        "/identity/v3/auth/tokens",
        None,
        Some(no_password),
    )
    .await
    .fault(400, "badRequest");
    let unscoped_name = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "password": "demo"}}},
        "scope": {"project": {"name": "demo"}}}});
    let m = ctx
        .request(
            Method::POST,
            "/identity/v3/auth/tokens",
            None,
            Some(unscoped_name),
        )
        .await
        .fault(400, "badRequest");
    assert!(m.contains("domain"), "{m}");
}

#[tokio::test]
async fn tokens_are_validated_revoked_and_required() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let other = ctx.demo_token().await;

    // Validation of a token by its holder, with X-Subject-Token.
    let check = |subject: String| {
        let token = token.clone();
        let ctx = &ctx;
        async move {
            TestContext::reply(
                ctx.http
                    .get(format!("{}/identity/v3/auth/tokens", ctx.url))
                    .header("X-Auth-Token", token)
                    .header("X-Subject-Token", subject),
            )
            .await
        }
    };
    let reply = check(other.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["token"]["user"]["name"], "demo");
    check("bogus".into()).await.fault(404, "itemNotFound");

    // The catalog of one's own token.
    let catalog = ctx.get("/identity/v3/auth/catalog", Some(&token)).await;
    assert_eq!(catalog.status, StatusCode::OK);
    assert!(catalog_url(&catalog.body["catalog"], "compute").is_some());

    // No token, a bogus token, a token in the query string.
    let m = ctx
        .get("/identity/v3/auth/catalog", None)
        .await
        .fault(401, "unauthorized");
    assert_eq!(m, "Access denied. No authentication token");
    ctx.get("/identity/v3/auth/catalog", Some("bogus"))
        .await
        .fault(401, "unauthorized");
    let by_query = ctx
        .get(
            &format!("/identity/v3/auth/catalog?X-Auth-Token={token}"),
            None,
        )
        .await;
    assert_eq!(by_query.status, StatusCode::OK, "{}", by_query.text);

    // Revocation: DELETE, then the token is refused everywhere.
    let revoke = TestContext::reply(
        ctx.http
            .delete(format!("{}/identity/v3/auth/tokens", ctx.url))
            .header("X-Auth-Token", &token)
            .header("X-Subject-Token", &other),
    )
    .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.text);
    let m = ctx
        .get("/identity/v3/auth/catalog", Some(&other))
        .await
        .fault(401, "unauthorized");
    assert!(m.contains("revoked"), "{m}");
    assert_eq!(
        ctx.get("/identity/v3/auth/catalog", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tokens_expire() {
    let ctx = TestContext::with_config(|c| c.identity.token_ttl_secs = 1).await;
    let token = ctx.demo_token().await;
    assert_eq!(
        ctx.get("/identity/v3/auth/catalog", Some(&token))
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let m = ctx
        .get("/identity/v3/auth/catalog", Some(&token))
        .await
        .fault(401, "unauthorized");
    assert!(m.contains("expired"), "{m}");
}

#[tokio::test]
async fn v3_token_method_rescopes() {
    let ctx = TestContext::new().await;
    ctx.create_project("second").await;
    ctx.admin(
        Method::PATCH,
        "/users/demo",
        Some(json!({"user": {"add_projects": ["second"]}})),
    )
    .await;
    let token = ctx.demo_token().await;
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": "second", "domain": {"id": "default"}}}}});
    let reply = ctx
        .request(Method::POST, "/identity/v3/auth/tokens", None, Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.body["token"]["project"]["name"], "second");
    assert_eq!(reply.body["token"]["methods"], json!(["token"]));
}

#[tokio::test]
async fn v2_tokens_work_for_kamaki() {
    let ctx = TestContext::new().await;
    let body = json!({"auth": {"passwordCredentials": {"username": "demo", "password": "demo"}, "tenantName": "demo"}});
    let reply = ctx
        .request(Method::POST, "/identity/v2.0/tokens", None, Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let access = &reply.body["access"];
    let token = access["token"]["id"]
        .as_str()
        .expect("token id")
        .to_string();
    assert_eq!(access["token"]["tenant"]["name"], "demo");
    assert!(
        access["token"]["expires"]
            .as_str()
            .is_some_and(|e| e.ends_with('Z'))
    );
    assert_eq!(access["user"]["name"], "demo");
    assert_eq!(access["user"]["roles_links"], json!([]));
    let catalog = access["serviceCatalog"].as_array().expect("catalog");
    let account = catalog
        .iter()
        .find(|s| s["name"] == "astakos_account")
        .expect("astakos_account");
    assert_eq!(account["endpoints"][0]["versionId"], "v1.0");
    assert_eq!(
        account["endpoints"][0]["publicURL"],
        format!("{}/account/v1.0", ctx.url)
    );
    assert!(account["endpoints"][0]["SNF:uiURL"].is_string());
    let compute = catalog
        .iter()
        .find(|s| s["type"] == "compute")
        .expect("compute");
    assert_eq!(compute["endpoints"][0]["versionId"], "v2.0");
    let image = catalog
        .iter()
        .find(|s| s["type"] == "image")
        .expect("image");
    assert_eq!(
        image["endpoints"][0]["publicURL"],
        format!("{}/image/v1.0", ctx.url)
    );

    // Token credentials (what kamaki sends on every command).
    let again = ctx
        .request(
            Method::POST,
            "/identity/v2.0/tokens",
            None,
            Some(json!({"auth": {"token": {"id": token}}})),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["access"]["user"]["name"], "demo");

    // Public mode: no credentials, just the catalog.
    let public = ctx
        .request(Method::POST, "/identity/v2.0/tokens", None, None)
        .await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.text);
    assert!(public.body["access"]["serviceCatalog"].is_array());
    assert!(public.body["access"].get("token").is_none());

    // Failures.
    let bad = json!({"auth": {"passwordCredentials": {"username": "demo", "password": "x"}}});
    ctx.request(Method::POST, "/identity/v2.0/tokens", None, Some(bad))
        .await
        .fault(401, "unauthorized");
    let bad = json!({"auth": {"token": {"id": "nope"}}});
    ctx.request(Method::POST, "/identity/v2.0/tokens", None, Some(bad))
        .await
        .fault(401, "unauthorized");
    let bad = json!({"auth": {"tenantName": "demo"}});
    ctx.request(Method::POST, "/identity/v2.0/tokens", None, Some(bad))
        .await
        .fault(400, "badRequest");

    // Token validation by its holder.
    let shown = ctx
        .get(&format!("/identity/v2.0/tokens/{token}"), Some(&token))
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    ctx.get("/identity/v2.0/tokens/nope", Some(&token))
        .await
        .fault(404, "itemNotFound");
}

#[tokio::test]
async fn user_catalogs_maps_ids_and_names() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let me = ctx.login("demo", "demo", Some("demo")).await.body["token"]["user"]["id"].clone();
    let body = json!({"uuids": [me, "unknown"], "displaynames": ["admin", "ghost"]});
    let reply = ctx.post(&token, "/account/v1.0/user_catalogs", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["uuid_catalog"][me.as_str().expect("id")], "demo");
    assert_eq!(
        reply.body["uuid_catalog"].as_object().map(|o| o.len()),
        Some(1)
    );
    assert!(reply.body["displayname_catalog"]["admin"].is_string());
    assert!(reply.body["displayname_catalog"].get("ghost").is_none());
    ctx.request(
        Method::POST,
        "/account/v1.0/user_catalogs",
        None,
        Some(json!({})),
    )
    .await
    .fault(401, "unauthorized");
}

/// A scope that is not well formed is a 400 naming the field; only a well-formed domain or
/// system scope is the 501 (not supported here).
#[tokio::test]
async fn malformed_scopes_are_bad_requests_naming_the_field() {
    let ctx = TestContext::new().await;
    let with_scope = |scope: serde_json::Value| {
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "demo", "password": "demo", "domain": {"name": "Default"}}}}, "scope": scope}})
    };
    for (scope, field) in [
        (json!({"project": "demo"}), "scope.project"),
        (json!({"project": 7}), "scope.project"),
        (json!({"project": false}), "scope.project"),
        (json!({"project": [["demo"]]}), "scope.project"),
        (
            json!({"project": {"name": "demo", "domain": "Default"}}),
            "scope.project.domain",
        ),
        (json!({"project": {"id": 7}}), "scope.project"),
        (json!({}), "scope"),
        (json!({"domain": "Default"}), "scope.domain"),
    ] {
        let r = ctx
            .request(
                Method::POST,
                "/identity/v3/auth/tokens",
                None,
                Some(with_scope(scope.clone())),
            )
            .await;
        let m = r.fault(400, "badRequest");
        assert!(m.contains(field), "{scope}: {m}");
    }
    for scope in [
        json!({"domain": {"name": "Default"}}),
        json!({"system": {"all": true}}),
    ] {
        ctx.request(
            Method::POST,
            "/identity/v3/auth/tokens",
            None,
            Some(with_scope(scope)),
        )
        .await
        .fault(501, "notImplemented");
    }
    let ok = ctx.login("demo", "demo", Some("demo")).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    ctx.shutdown().await;
}
