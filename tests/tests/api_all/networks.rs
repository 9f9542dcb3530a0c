//! The network service end to end over HTTP against the simulated cluster: private networks
//! and their subnet rules, floating IPs from the demo's public pool, servers created on both
//! (NICs reach Ganeti with the recorded addresses and the network is created on the backend
//! lazily), addresses released when the server goes, quotas, and visibility.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, create, flavor_id};

pub(crate) async fn public_network(ctx: &TestContext, token: &str) -> String {
    let r = ctx.get("/network/v2.0/networks", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["networks"]
        .as_array()
        .expect("list")
        .iter()
        .find(|n| n["public"] == true && n["SNF:floating_ip_pool"] == true)
        .expect("the demo public network")["id"]
        .as_str()
        .expect("string id")
        .to_string()
}

pub(crate) async fn private_network(
    ctx: &TestContext,
    token: &str,
    cidr: &str,
) -> (String, String) {
    let r = ctx
        .post(
            token,
            "/network/v2.0/networks",
            json!({"network": {"name": "priv"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["network"]["type"], "MAC_FILTERED");
    let id = r.body["network"]["id"].as_str().expect("id").to_string();
    let r = ctx
        .post(
            token,
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let subnet = r.body["subnet"]["id"].as_str().expect("id").to_string();
    (id, subnet)
}

#[tokio::test]
async fn private_networks_follow_synnefos_rules() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    // Validation of type and subnet.
    let r = ctx
        .post(
            &token,
            "/network/v2.0/networks",
            json!({"network": {"type": "NOPE"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = ctx
        .post(
            &token,
            "/network/v2.0/networks",
            json!({"network": {"type": "PHYSICAL_VLAN"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = ctx
        .post(
            &token,
            "/network/v2.0/networks",
            json!({"network": {"name": "n"}}),
        )
        .await;
    let net = r.body["network"]["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["network"]["subnets"], json!([]));
    assert_eq!(r.body["network"]["status"], "ACTIVE");
    for (cidr, status) in [
        ("10.0.0.0/21", StatusCode::PAYLOAD_TOO_LARGE),
        ("10.0.0.0/30", StatusCode::PAYLOAD_TOO_LARGE),
        ("10.0.0.1/24", StatusCode::BAD_REQUEST),
        ("garbage", StatusCode::BAD_REQUEST),
    ] {
        let r = ctx
            .post(
                &token,
                "/network/v2.0/subnets",
                json!({"subnet": {"network_id": net, "cidr": cidr}}),
            )
            .await;
        assert_eq!(r.status, status, "{cidr}: {}", r.text);
    }
    let r = ctx
        .post(
            &token,
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24", "gateway_ip": "10.9.0.1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = ctx
        .post(
            &token,
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24",
               "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "gateway inside a pool: {}",
        r.text
    );
    let r = ctx
        .post(
            &token,
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let s = &r.body["subnet"];
    assert_eq!(s["gateway_ip"], "10.0.0.1");
    assert_eq!(
        s["allocation_pools"],
        json!([{"start": "10.0.0.2", "end": "10.0.0.254"}])
    );
    let r = ctx
        .post(
            &token,
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.0.1.0/24"}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "one subnet per version: {}",
        r.text
    );
    let sid = s["id"].as_str().expect("id");
    let r = ctx
        .delete(&token, &format!("/network/v2.0/subnets/{sid}"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = ctx
        .get(&format!("/network/v2.0/networks/{net}"), Some(&token))
        .await;
    assert_eq!(
        r.body["network"]["subnets"],
        json!([sid]),
        "subnets are strings"
    );

    // Public networks cannot be renamed or deleted by users.
    let public = public_network(&ctx, &token).await;
    let r = ctx
        .put(
            &token,
            &format!("/network/v2.0/networks/{public}"),
            json!({"network": {"name": "mine"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = ctx
        .delete(&token, &format!("/network/v2.0/networks/{public}"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // Another user does not see the network (404), the owner deletes it (never on a backend:
    // at once), and the private-network quota follows.
    ctx.create_user("eve", "evepassword1", "demo", false).await;
    let eve = ctx.token("eve", "evepassword1", "demo").await;
    let r = ctx
        .get(&format!("/network/v2.0/networks/{net}"), Some(&eve))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = ctx
        .delete(&token, &format!("/network/v2.0/networks/{net}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ctx
        .get(&format!("/network/v2.0/networks/{net}"), Some(&token))
        .await;
    assert_eq!(r.body["network"]["status"], "DELETED");
    let r = ctx.get("/network/v2.0/networks", Some(&token)).await;
    assert!(!r.text.contains(&format!("\"id\":\"{net}\"")));
}

#[tokio::test]
async fn servers_get_nics_on_private_and_public_networks() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let public = public_network(&ctx, &token).await;
    let (private, _) = private_network(&ctx, &token, "192.168.7.0/24").await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;

    // A public network without a floating IP: 409 telling the user to make one.
    let r = create(
        &ctx,
        &token,
        json!({"name": "s", "imageRef": image, "flavorRef": flavor,
        "networks": [{"uuid": public}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("Please create a floating IP"), "{}", r.text);

    let r = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": public}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let fip = r.body["floatingip"].clone();
    let address = fip["floating_ip_address"]
        .as_str()
        .expect("address")
        .to_string();
    assert_eq!(address, "198.51.100.2", "first free after the gateway");
    assert_eq!(fip["instance_id"], Value::Null);

    let r = create(
        &ctx,
        &token,
        json!({"name": "s", "imageRef": image, "flavorRef": flavor,
        "networks": [{"uuid": private, "fixed_ip": "192.168.7.50"}, {"uuid": public}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let s = ctx.wait_server(&token, &id, "ACTIVE").await;
    assert_eq!(s["addresses"][&private][0]["addr"], "192.168.7.50", "{s}");
    assert_eq!(s["addresses"][&public][0]["addr"], address.as_str());
    assert_eq!(s["addresses"][&public][0]["OS-EXT-IPS:type"], "floating");
    assert_eq!(s["attachments"].as_array().map(Vec::len), Some(2));

    // Ganeti got both NICs on networks it now has, connected to the node group.
    let inst = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{id}"), None)
        .await
        .body;
    assert_eq!(inst["nic.ips"], json!(["192.168.7.50", address]), "{inst}");
    assert_eq!(
        inst["nic.networks.names"],
        json!([format!("snf-net-{private}"), format!("snf-net-{public}")])
    );
    let net = ctx
        .rapi(Method::GET, &format!("/2/networks/snf-net-{private}"), None)
        .await
        .body;
    assert_eq!(net["network"], "192.168.7.0/24");
    assert!(
        !net["group_list"].as_array().expect("groups").is_empty(),
        "{net}"
    );

    // Ports are ACTIVE with the MACs Ganeti gave them; the floating IP names its server.
    let r = ctx.get("/network/v2.0/ports", Some(&token)).await;
    let ports = r.body["ports"].as_array().expect("ports").clone();
    assert_eq!(ports.len(), 2, "{}", r.text);
    for p in &ports {
        assert_eq!(p["status"], "ACTIVE");
        assert_eq!(p["device_id"], id.as_str());
        assert!(
            inst["nic.macs"]
                .as_array()
                .expect("macs")
                .contains(&p["mac_address"])
        );
    }
    let fid = fip["id"].as_str().expect("id");
    let r = ctx
        .get(&format!("/network/v2.0/floatingips/{fid}"), Some(&token))
        .await;
    assert_eq!(r.body["floatingip"]["instance_id"], id.as_str());
    let r = ctx
        .delete(&token, &format!("/network/v2.0/floatingips/{fid}"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "in use: {}", r.text);
    let r = ctx
        .delete(&token, &format!("/network/v2.0/networks/{private}"))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "ports on it: {}", r.text);
    let r = ctx
        .get(&format!("/compute/v2.0/servers/{id}/ips"), Some(&token))
        .await;
    assert_eq!(r.body["addresses"][&private][0]["addr"], "192.168.7.50");

    // The address is taken: a second server asking for it gets a 409 and leaves nothing.
    let r = create(
        &ctx,
        &token,
        json!({"name": "t", "imageRef": image, "flavorRef": flavor,
        "networks": [{"uuid": private, "fixed_ip": "192.168.7.50"}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // Deleting the server releases the private address and detaches the floating IP.
    let r = ctx
        .delete(&token, &format!("/compute/v2.0/servers/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    ctx.wait_server(&token, &id, "DELETED").await;
    let r = ctx.get("/network/v2.0/ports", Some(&token)).await;
    assert_eq!(r.body["ports"], json!([]), "{}", r.text);
    let r = ctx
        .get(&format!("/network/v2.0/floatingips/{fid}"), Some(&token))
        .await;
    assert_eq!(r.body["floatingip"]["instance_id"], Value::Null);
    let r = create(
        &ctx,
        &token,
        json!({"name": "u", "imageRef": image, "flavorRef": flavor,
        "networks": [{"uuid": private, "fixed_ip": "192.168.7.50"}]}),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "the address is free again: {}",
        r.text
    );
    let u = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(&token, &u, "ACTIVE").await;

    // Releasing the floating IP returns it to the pool and the quota.
    let r = ctx
        .delete(&token, &format!("/network/v2.0/floatingips/{fid}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = ctx
        .post(&token, "/compute/v2.0/os-floating-ips", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["floating_ip"]["ip"],
        address.as_str(),
        "the same address again"
    );
}

#[tokio::test]
async fn floating_ips_are_limited_by_quota_and_private_to_their_owner() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let r = ctx
        .admin(
            Method::PUT,
            "/quotas/demo/cyclades.floating_ip",
            Some(json!({"limit": 1})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let fid = r.body["floatingip"]["id"].as_str().expect("id").to_string();
    let r = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert!(r.text.contains("cyclades.floating_ip"), "{}", r.text);
    let r = ctx
        .put(
            &token,
            &format!("/network/v2.0/floatingips/{fid}"),
            json!({}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "no 'floatingip': {}",
        r.text
    );
    ctx.create_user("mallory", "mallorypass1", "demo", false)
        .await;
    let other = ctx.token("mallory", "mallorypass1", "demo").await;
    for path in [
        format!("/network/v2.0/floatingips/{fid}"),
        format!("/compute/v2.0/os-floating-ips/{fid}"),
    ] {
        let r = ctx.get(&path, Some(&other)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    let r = ctx
        .delete(&other, &format!("/network/v2.0/floatingips/{fid}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = ctx.get("/compute/v2.0/os-floating-ips", Some(&other)).await;
    assert_eq!(r.body["floating_ips"], json!([]));
}

#[tokio::test]
async fn operators_create_public_networks_on_every_backend_and_remove_them() {
    let ctx = TestContext::new().await;
    // Pools: one per kind; values come out of them and go back on deletion.
    let r = ctx
        .admin(
            Method::POST,
            "/pools",
            Some(json!({"type": "bridge", "base": "prv", "size": 2})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "the demo made one: {}",
        r.text
    );
    let r = ctx
        .admin(
            Method::POST,
            "/pools",
            Some(json!({"type": "vlan", "base": "x", "size": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    let r = ctx
        .admin(
            Method::POST,
            "/networks",
            Some(json!({"name": "pub2", "flavor": "CUSTOM",
            "public": true, "floating_ip_pool": true, "link": "br1",
            "subnet": {"cidr": "203.0.113.0/24"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["network"]["id"].as_str().expect("id").to_string();
    assert!(
        r.body["network"]["backends"]
            .as_str()
            .expect("backends")
            .ends_with(":ACTIVE"),
        "{}",
        r.text
    );
    let g = ctx
        .rapi(Method::GET, &format!("/2/networks/snf-net-{id}"), None)
        .await;
    assert_eq!(g.body["network"], "203.0.113.0/24", "{}", g.text);
    assert!(
        g.body["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("public"))
    );
    assert_eq!(g.body["group_list"][0][2], "br1");

    // A private PHYSICAL_VLAN network for a user takes a bridge from the pool.
    let r = ctx
        .admin(
            Method::POST,
            "/networks",
            Some(json!({"name": "vlan", "flavor": "PHYSICAL_VLAN",
            "user": "demo", "project": "demo"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["network"]["link"], "prv1");
    let vlan = r.body["network"]["id"].as_str().expect("id").to_string();
    let r = ctx
        .admin(Method::DELETE, &format!("/networks/{vlan}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let pools = ctx.admin(Method::GET, "/pools", None).await;
    let bridge = pools.body["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .find(|p| p["type"] == "bridge")
        .expect("bridge pool")
        .clone();
    assert_eq!(bridge["used"], 0, "the bridge went back: {bridge}");

    // Drained networks hand out nothing; removal takes the network off Ganeti first.
    let r = ctx
        .admin(
            Method::PATCH,
            &format!("/networks/{id}"),
            Some(json!({"drained": true})),
        )
        .await;
    assert_eq!(r.body["network"]["status"], "SNF:DRAINED", "{}", r.text);
    let token = ctx.demo_token().await;
    let r = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": id}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let r = ctx
        .admin(Method::DELETE, &format!("/networks/{id}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["network"]["status"], "DELETED", "{}", r.text);
    let g = ctx
        .rapi(Method::GET, &format!("/2/networks/snf-net-{id}"), None)
        .await;
    assert_eq!(g.status, StatusCode::NOT_FOUND, "{}", g.text);
}

/// Synnefo's port visibility (spec §1 policy, checklist A10): a user sees their own ports and
/// those of the servers, private networks and floating IPs they see (shared with their
/// project), in the listing and one by one.
#[tokio::test]
async fn ports_are_visible_through_what_holds_them() {
    let ctx = TestContext::with_config(|c| c.compute.shared_resources = true).await;
    let token = ctx.demo_token().await;
    ctx.create_user("peer", "peer-password", "demo", false)
        .await;
    let peer = ctx.token("peer", "peer-password", "demo").await;
    let share = |path: String, shared: bool| {
        let (ctx, token) = (&ctx, &token);
        async move {
            let r = ctx
                .post(
                    token,
                    &path,
                    json!({"reassign": {"project": "demo", "shared_to_project": shared}}),
                )
                .await;
            assert!(r.status.is_success(), "{path}: {}", r.text);
        }
    };
    let sees = |port: String| {
        let (ctx, peer) = (&ctx, &peer);
        async move {
            let listed = ctx.get("/network/v2.0/ports", Some(peer)).await;
            let in_list = listed.text.contains(&format!("\"id\":\"{port}\""));
            let one = ctx
                .get(&format!("/network/v2.0/ports/{port}"), Some(peer))
                .await;
            assert_eq!(in_list, one.status == StatusCode::OK, "{}", one.text);
            in_list
        }
    };

    // A port on a private network: seen once the network is shared.
    let (net, _) = private_network(&ctx, &token, "10.88.0.0/24").await;
    let r = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": net}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let loose = r.body["port"]["id"].as_str().expect("id").to_string();
    assert!(!sees(loose.clone()).await);
    share(format!("/network/v2.0/networks/{net}/action"), true).await;
    assert!(sees(loose.clone()).await);
    share(format!("/network/v2.0/networks/{net}/action"), false).await;
    assert!(!sees(loose.clone()).await);

    // A port holding a floating IP: seen once the floating IP is shared.
    let public = public_network(&ctx, &token).await;
    let r = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {}}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let fip = r.body["floatingip"]["id"].as_str().expect("id").to_string();
    let address = r.body["floatingip"]["floating_ip_address"]
        .as_str()
        .expect("address")
        .to_string();
    let r = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": public, "fixed_ips": [{"ip_address": address}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let held = r.body["port"]["id"].as_str().expect("id").to_string();
    assert!(!sees(held.clone()).await);
    share(format!("/network/v2.0/floatingips/{fip}/action"), true).await;
    assert!(sees(held.clone()).await);

    // A server's port: seen once the server is shared.
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "s", "imageRef": image, "flavorRef": flavor, "networks": [{"uuid": net}]}),
    )
    .await;
    let server = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(&token, &server, "ACTIVE").await;
    let ports = ctx
        .get(
            &format!("/network/v2.0/ports?device_id={server}"),
            Some(&token),
        )
        .await;
    let nic = ports.body["ports"][0]["id"]
        .as_str()
        .expect("nic")
        .to_string();
    assert!(!sees(nic.clone()).await);
    share(format!("/compute/v2.0/servers/{server}/action"), true).await;
    assert!(sees(nic.clone()).await);
    ctx.shutdown().await;
}
