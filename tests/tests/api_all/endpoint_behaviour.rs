//! Both client families served at once (issue 18): the Astakos v2.0 catalog lists Synnefo's
//! endpoints with Synnefo's behaviour, the Keystone v3 catalog OpenStack's, over the same
//! data; `api.compat` forces one behaviour everywhere.

use cyclades_tests::TestContext;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, flavor_id};

/// The URL of one service type in an Astakos v2.0 catalog.
fn catalog_url(catalog: &Value, kind: &str) -> String {
    catalog
        .as_array()
        .expect("catalog")
        .iter()
        .find(|s| s["type"] == kind)
        .and_then(|s| s["endpoints"][0]["publicURL"].as_str())
        .unwrap_or_else(|| panic!("no {kind} in {catalog}"))
        .to_string()
}

#[tokio::test]
async fn the_astakos_catalog_lists_synnefo_endpoints() {
    let ctx = TestContext::new().await;
    // The Keystone v3 side: `identity::v3_password_login_returns_a_scoped_token_and_catalog`.
    let v2 = ctx
        .request(
            reqwest::Method::POST,
            "/identity/v2.0/tokens",
            None,
            Some(
                json!({"auth": {"passwordCredentials": {"username": "demo", "password": "demo"},
                                 "tenantName": "demo"}}),
            ),
        )
        .await;
    let catalog = &v2.body["access"]["serviceCatalog"];
    let url = |kind| catalog_url(catalog, kind);
    assert_eq!(url("compute"), format!("{}/compute/v2.0", ctx.url));
    assert_eq!(url("network"), format!("{}/network/v2.0", ctx.url));
    assert_eq!(url("volume"), format!("{}/volume/v2.0", ctx.url));
    assert_eq!(url("image"), format!("{}/image/v1.0", ctx.url));
    ctx.shutdown().await;
}

#[tokio::test]
async fn neutron_root_is_unversioned_and_clients_append_v2() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let root = ctx.get("/networking", None).await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(
        root.body["versions"][0]["links"][0]["href"],
        format!("{}/networking/v2.0/", ctx.url)
    );
    let ext = ctx.get("/networking/v2.0/extensions", Some(&token)).await;
    assert_eq!(ext.status, StatusCode::OK, "{}", ext.text);
    let nets = ctx.get("/networking/v2.0/networks", Some(&token)).await;
    assert_eq!(nets.status, StatusCode::OK);
    let public = nets.body["networks"]
        .as_array()
        .expect("networks")
        .iter()
        .find(|n| n["router:external"] == true)
        .expect("a public network")
        .clone();
    // Compute's version documents name the family they are reached through.
    let v21 = ctx.get("/compute/v2.1", None).await;
    assert_eq!(v21.body["version"]["id"], "v2.1");
    assert_eq!(
        v21.body["version"]["links"][0]["href"],
        format!("{}/compute/v2.1/", ctx.url)
    );
    assert_eq!(
        ctx.get("/compute/v2.0", None).await.body["version"]["id"],
        "v2.0"
    );
    let ids: Vec<Value> = ctx.get("/compute", None).await.body["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["id"].clone())
        .collect();
    assert_eq!(ids, [json!("v2.0"), json!("v2.1")]);
    // `/compute/v2.10` is no endpoint of ours.
    ctx.get("/compute/v2.10/servers", Some(&token))
        .await
        .fault(400, "badRequest");
    assert!(public["id"].is_string());
    ctx.shutdown().await;
}

/// One server seen through both families: Synnefo's fields and `STOPPED` on one, Nova's
/// shapes, `SHUTOFF` and links back through `/compute/v2.1` on the other.
#[tokio::test]
async fn one_server_renders_per_endpoint_family() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let created = ctx
        .post(
            &token,
            "/compute/v2.1/servers",
            json!({"server": {"name": "both", "imageRef": image, "flavorRef": flavor}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text);
    let keys: Vec<&String> = created.body["server"]
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
    let id = created.body["server"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    ctx.wait_server(&token, &id, "ACTIVE").await;
    let stop = ctx.action(&token, &id, json!({"os-stop": {}})).await;
    assert_eq!(stop.status, StatusCode::ACCEPTED, "{}", stop.text);
    ctx.wait_server(&token, &id, "STOPPED").await;
    let synnefo = ctx
        .get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
        .await;
    let openstack = ctx
        .get(&format!("/compute/v2.1/servers/{id}"), Some(&token))
        .await;
    assert_eq!(synnefo.body["server"]["status"], "STOPPED");
    assert!(synnefo.body["server"].get("SNF:fqdn").is_some());
    assert_eq!(openstack.body["server"]["status"], "SHUTOFF");
    // Nova shows `progress` only where something progresses (ACTIVE, BUILD, ...).
    assert!(openstack.body["server"].get("progress").is_none());
    assert!(synnefo.body["server"]["progress"].is_u64());
    assert!(
        openstack.body["server"]
            .as_object()
            .expect("server")
            .keys()
            .all(|k| !k.starts_with("SNF:") && k != "suspended")
    );
    assert_eq!(
        openstack.body["server"]["links"][0]["href"],
        format!("{}/compute/v2.1/servers/{id}", ctx.url)
    );
    assert_eq!(
        synnefo.body["server"]["links"][0]["href"],
        format!("{}/compute/v2.0/servers/{id}", ctx.url)
    );
    // The detail listings (each family its own rendered-document cache) agree with `show`.
    for (prefix, one) in [("/compute/v2.0", &synnefo), ("/compute/v2.1", &openstack)] {
        let detail = ctx
            .get(&format!("{prefix}/servers/detail"), Some(&token))
            .await;
        let listed = detail.body["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .find(|s| s["id"] == id.as_str())
            .expect("listed")
            .clone();
        assert_eq!(listed["status"], one.body["server"]["status"], "{prefix}");
        assert_eq!(listed["links"], one.body["server"]["links"], "{prefix}");
    }
    ctx.shutdown().await;
}

/// `api.compat = "synnefo"` forces Synnefo's behaviour onto the OpenStack endpoints too.
#[tokio::test]
async fn forced_compat_applies_to_every_endpoint() {
    let ctx = TestContext::with_config(|c| {
        c.api.compat = cyclades::config::CompatMode::Synnefo;
    })
    .await;
    let token = ctx.demo_token().await;
    let flavors = ctx.get("/compute/v2.1/flavors/detail", Some(&token)).await;
    assert!(
        flavors.body["flavors"][0]
            .get("SNF:disk_template")
            .is_some(),
        "{}",
        flavors.text
    );
    assert_eq!(
        flavors.body["flavors"][0]["links"][0]["href"]
            .as_str()
            .expect("href")
            .split("/flavors/")
            .next(),
        Some(format!("{}/compute/v2.1", ctx.url).as_str())
    );
    let default = TestContext::new().await;
    let token = default.demo_token().await;
    let flavors = default
        .get("/compute/v2.1/flavors/detail", Some(&token))
        .await;
    assert!(
        flavors.body["flavors"][0]
            .get("SNF:disk_template")
            .is_none()
    );
    default.shutdown().await;
    ctx.shutdown().await;
}

/// Through OpenStack's endpoints a deleted server, network or volume answers 404 (clients
/// wait for it after a delete), a second DELETE too, and only `changes-since` still lists
/// it; Synnefo's endpoints keep showing it as DELETED.
#[tokio::test]
async fn deleted_resources_answer_404_through_openstack_endpoints() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let start = cyclades::clock::Timestamp::now().iso();
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let created = ctx
        .post(
            &token,
            "/compute/v2.1/servers",
            json!({"server": {"name": "gone", "imageRef": image, "flavorRef": flavor}}),
        )
        .await;
    let id = created.body["server"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    ctx.wait_server(&token, &id, "ACTIVE").await;
    let r = ctx
        .delete(&token, &format!("/compute/v2.1/servers/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let openstack = format!("/compute/v2.1/servers/{id}");
    ctx.wait_until(&token, &openstack, |r| r.status == StatusCode::NOT_FOUND)
        .await
        .fault(404, "itemNotFound");
    ctx.delete(&token, &openstack)
        .await
        .fault(404, "itemNotFound");
    ctx.action(&token, &id, json!({"reboot": {"type": "SOFT"}}))
        .await
        .fault(400, "badRequest");
    ctx.post(
        &token,
        &format!("{openstack}/action"),
        json!({"reboot": {"type": "SOFT"}}),
    )
    .await
    .fault(404, "itemNotFound");
    assert_eq!(
        ctx.wait_server(&token, &id, "DELETED").await["id"],
        id.as_str()
    );
    let listed = ctx.get("/compute/v2.1/servers", Some(&token)).await;
    assert!(
        !listed.text.contains(&format!("\"{id}\"")),
        "{}",
        listed.text
    );
    let changed = ctx
        .get(
            &format!("/compute/v2.1/servers/detail?changes-since={start}"),
            Some(&token),
        )
        .await;
    assert!(
        changed.body["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .any(|s| s["id"] == id.as_str() && s["status"] == "DELETED"),
        "{}",
        changed.text
    );

    // A private network and a volume, deleted through the OpenStack endpoints.
    let net = ctx
        .post(
            &token,
            "/networking/v2.0/networks",
            json!({"network": {"name": "short-lived"}}),
        )
        .await;
    assert_eq!(net.status, StatusCode::CREATED, "{}", net.text);
    let net = net.body["network"]["id"].as_str().expect("id").to_string();
    let r = ctx
        .delete(&token, &format!("/networking/v2.0/networks/{net}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    ctx.get(&format!("/networking/v2.0/networks/{net}"), Some(&token))
        .await
        .fault(404, "itemNotFound");
    ctx.delete(&token, &format!("/networking/v2.0/networks/{net}"))
        .await
        .fault(404, "itemNotFound");
    let synnefo = ctx
        .get(&format!("/network/v2.0/networks/{net}"), Some(&token))
        .await;
    assert_eq!(synnefo.body["network"]["status"], "DELETED");

    // Cinder picks a default volume type; Synnefo asks for one.
    ctx.post(
        &token,
        "/volume/v2.0/volumes",
        json!({"volume": {"size": 1, "name": "typeless"}}),
    )
    .await
    .fault(400, "badRequest");
    let vol = ctx
        .post(
            &token,
            "/volume/v3/volumes",
            json!({"volume": {"size": 1, "name": "short-lived"}}),
        )
        .await;
    assert_eq!(vol.status, StatusCode::ACCEPTED, "{}", vol.text);
    let vol = vol.body["volume"]["id"].as_str().expect("id").to_string();
    let path = format!("/volume/v3/volumes/{vol}");
    ctx.wait_until(&token, &path, |r| r.body["volume"]["status"] == "available")
        .await;
    let r = ctx.delete(&token, &path).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    ctx.wait_until(&token, &path, |r| r.status == StatusCode::NOT_FOUND)
        .await;
    ctx.delete(&token, &path).await.fault(404, "itemNotFound");
    let synnefo = ctx
        .get(&format!("/volume/v2.0/volumes/{vol}"), Some(&token))
        .await;
    assert_eq!(
        synnefo.body["volume"]["status"], "deleted",
        "{}",
        synnefo.text
    );
    ctx.shutdown().await;
}

/// Neutron deletes unused subnets (409 while a port uses the network); Synnefo's subnets go
/// only with their network. Neutron without the router extension answers 404 for routers.
#[tokio::test]
async fn subnets_delete_and_routers_are_absent_as_in_neutron() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let (net, subnet) = super::networks::private_network(&ctx, &token, "10.31.0.0/24").await;
    ctx.delete(&token, &format!("/network/v2.0/subnets/{subnet}"))
        .await
        .fault(400, "badRequest");
    let port = ctx
        .post(
            &token,
            "/networking/v2.0/ports",
            json!({"port": {"network_id": net}}),
        )
        .await;
    assert_eq!(port.status, StatusCode::CREATED, "{}", port.text);
    let path = format!("/networking/v2.0/subnets/{subnet}");
    ctx.delete(&token, &path).await.fault(409, "conflict");
    let port = port.body["port"]["id"].as_str().expect("port").to_string();
    let r = ctx
        .delete(&token, &format!("/networking/v2.0/ports/{port}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ctx.delete(&token, &path).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    ctx.get(&path, Some(&token))
        .await
        .fault(404, "itemNotFound");
    let n = ctx
        .get(&format!("/networking/v2.0/networks/{net}"), Some(&token))
        .await;
    assert_eq!(n.body["network"]["subnets"], json!([]), "{}", n.text);

    ctx.get("/networking/v2.0/routers", Some(&token))
        .await
        .fault(404, "itemNotFound");
    ctx.get("/network/v2.0/routers", Some(&token))
        .await
        .fault(400, "badRequest");
    let ext = ctx.get("/networking/v2.0/extensions", Some(&token)).await;
    assert!(!ext.text.contains("router"), "{}", ext.text);
    ctx.shutdown().await;
}

/// Neutron's bulk create: `{"networks": [...]}`, `{"subnets": [...]}`, `{"ports": [...]}`,
/// all or nothing.
#[tokio::test]
async fn bulk_creates_are_all_or_nothing() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let ids = |r: &cyclades_tests::Reply, key: &str| -> Vec<String> {
        r.body[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key}: {}", r.text))
            .iter()
            .map(|d| d["id"].as_str().expect("id").to_string())
            .collect()
    };
    let nets = ctx
        .post(
            &token,
            "/networking/v2.0/networks",
            json!({"networks": [{"name": "b1"}, {"name": "b2"}]}),
        )
        .await;
    assert_eq!(nets.status, StatusCode::CREATED, "{}", nets.text);
    let nets = ids(&nets, "networks");
    assert_eq!(nets.len(), 2);
    // The second subnet is refused: the first one is undone.
    let r = ctx
        .post(
            &token,
            "/networking/v2.0/subnets",
            json!({"subnets": [{"network_id": nets[0], "cidr": "10.51.0.0/24", "ip_version": 4},
                               {"network_id": nets[1], "cidr": "not-a-cidr", "ip_version": 4}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let first = ctx
        .get(
            &format!("/networking/v2.0/networks/{}", nets[0]),
            Some(&token),
        )
        .await;
    assert_eq!(
        first.body["network"]["subnets"],
        json!([]),
        "{}",
        first.text
    );
    let subnets = ctx
        .post(
            &token,
            "/networking/v2.0/subnets",
            json!({"subnets": [{"network_id": nets[0], "cidr": "10.51.0.0/24", "ip_version": 4},
                               {"network_id": nets[1], "cidr": "10.52.0.0/24", "ip_version": 4}]}),
        )
        .await;
    assert_eq!(subnets.status, StatusCode::CREATED, "{}", subnets.text);
    assert_eq!(ids(&subnets, "subnets").len(), 2);
    // Ports: an unknown network refuses the batch and leaves no port behind.
    let count = async || {
        ctx.get("/networking/v2.0/ports", Some(&token)).await.body["ports"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = count().await;
    ctx.post(
        &token,
        "/networking/v2.0/ports",
        json!({"ports": [{"network_id": nets[0]}, {"network_id": "999999"}]}),
    )
    .await
    .fault(404, "itemNotFound");
    assert_eq!(count().await, before);
    let ports = ctx
        .post(
            &token,
            "/networking/v2.0/ports",
            json!({"ports": [{"network_id": nets[0]}, {"network_id": nets[1], "name": "p2"}]}),
        )
        .await;
    assert_eq!(ports.status, StatusCode::CREATED, "{}", ports.text);
    assert_eq!(ids(&ports, "ports").len(), 2);
    assert_eq!(count().await, before + 2);
    ctx.post(&token, "/networking/v2.0/ports", json!({"ports": []}))
        .await
        .fault(400, "badRequest");
    ctx.shutdown().await;
}
