//! Floating IPs as Neutron clients use them, through OpenStack's endpoints (issue 18 item 15):
//! `POST /floatingips` with a `port_id` associates at once, `PUT` with a `port_id` associates
//! and `null` disassociates. In Synnefo's model the address becomes a NIC of that port's
//! server on the public network; the document shows the port the client named, and `status`
//! goes DOWN → ACTIVE once the NIC is up: the sequence of openstacksdk's
//! `create_server(auto_ip=True)`.

use cyclades_tests::TestContext;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::compute::{FLAVOR_SMALL, flavor_id};
use super::networks::{private_network, public_network};

const FIPS: &str = "/networking/v2.0/floatingips";

/// The addresses of a server (as Nova shows them) of one `OS-EXT-IPS:type`.
fn addresses_of_type(server: &Value, kind: &str) -> Vec<String> {
    server["addresses"]
        .as_object()
        .into_iter()
        .flat_map(|nets| nets.values())
        .flat_map(|list| list.as_array().into_iter().flatten())
        .filter(|a| a["OS-EXT-IPS:type"] == kind)
        .filter_map(|a| a["addr"].as_str().map(str::to_string))
        .collect()
}

async fn floating_ip_count(ctx: &TestContext, token: &str) -> usize {
    let list = ctx.get(FIPS, Some(token)).await;
    list.body["floatingips"].as_array().expect("list").len()
}

#[tokio::test]
async fn floating_ips_associate_through_ports_as_neutron_clients_expect() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let public = public_network(&ctx, &token).await;
    let (private, _) = private_network(&ctx, &token, "10.9.0.0/24").await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let created = ctx
        .post(
            &token,
            "/compute/v2.1/servers",
            json!({"server": {"name": "natted", "imageRef": image, "flavorRef": flavor,
                              "networks": [{"uuid": private}]}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{}", created.text);
    let server = created.body["server"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    ctx.wait_server(&token, &server, "ACTIVE").await;
    // The server's port, as openstacksdk's `_nat_destination_port` finds it.
    let ports = ctx
        .get(
            &format!("/networking/v2.0/ports?device_id={server}"),
            Some(&token),
        )
        .await;
    let port = &ports.body["ports"][0];
    let port_id = port["id"].as_str().expect("port id").to_string();
    let fixed = port["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("fixed IPv4")
        .to_string();

    // Neutron's `fixed_ips=ip_address=` filter and `fields=` projection find it again.
    let found = ctx
        .get(
            &format!(
                "/networking/v2.0/ports?fixed_ips=ip_address={fixed}&fields=id&fields=device_id"
            ),
            Some(&token),
        )
        .await;
    assert_eq!(
        found.body["ports"],
        json!([{"id": port_id, "device_id": server}]),
        "{}",
        found.text
    );
    let named = ctx
        .get(
            &format!("/networking/v2.0/networks/{private}?fields=name,admin_state_up"),
            Some(&token),
        )
        .await;
    assert_eq!(
        named.body,
        json!({"network": {"name": "priv", "admin_state_up": true}})
    );

    // Refusals leave no floating IP behind: a port without a server, an address the port
    // does not hold, an unknown port.
    let before = floating_ip_count(&ctx, &token).await;
    let loose = ctx
        .post(
            &token,
            "/networking/v2.0/ports",
            json!({"port": {"network_id": private}}),
        )
        .await;
    let loose = loose.body["port"]["id"].as_str().expect("port").to_string();
    for (body, message) in [
        (
            json!({"floating_network_id": public, "port_id": loose}),
            "not attached to a server",
        ),
        (
            json!({"floating_network_id": public, "port_id": port_id,
                   "fixed_ip_address": "10.9.0.250"}),
            "does not have fixed ip 10.9.0.250",
        ),
    ] {
        let r = ctx.post(&token, FIPS, json!({"floatingip": body})).await;
        assert!(r.fault(400, "badRequest").contains(message), "{}", r.text);
    }
    ctx.post(
        &token,
        FIPS,
        json!({"floatingip": {"floating_network_id": public, "port_id": "999999"}}),
    )
    .await
    .fault(404, "itemNotFound");
    assert_eq!(floating_ip_count(&ctx, &token).await, before);

    // Create associated: 201, the port the client named, DOWN until the NIC is up.
    let r = ctx
        .post(
            &token,
            FIPS,
            json!({"floatingip": {"floating_network_id": public, "port_id": port_id,
                                  "fixed_ip_address": fixed}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let fip = &r.body["floatingip"];
    assert_eq!(fip["port_id"], port_id.as_str());
    assert_eq!(fip["fixed_ip_address"], fixed.as_str());
    let fid = fip["id"].as_str().expect("id").to_string();
    let address = fip["floating_ip_address"]
        .as_str()
        .expect("address")
        .to_string();
    let path = format!("{FIPS}/{fid}");
    let active = ctx
        .wait_until(&token, &path, |r| {
            r.body["floatingip"]["status"] == "ACTIVE"
        })
        .await;
    assert_eq!(active.body["floatingip"]["port_id"], port_id.as_str());
    assert_eq!(active.body["floatingip"]["instance_id"], server.as_str());
    let shown = ctx
        .get(&format!("/compute/v2.1/servers/{server}"), Some(&token))
        .await;
    assert_eq!(
        addresses_of_type(&shown.body["server"], "floating"),
        [address.clone()]
    );
    // Besides its private address the server's public NIC has a fixed IPv6 (Synnefo).
    assert!(addresses_of_type(&shown.body["server"], "fixed").contains(&fixed));
    // Synnefo's endpoint shows the NIC that holds the address.
    let synnefo = ctx
        .get(&format!("/network/v2.0/floatingips/{fid}"), Some(&token))
        .await;
    assert_ne!(synnefo.body["floatingip"]["port_id"], port_id.as_str());
    assert!(synnefo.body["floatingip"]["port_id"].is_string());

    // `null` disassociates (the NIC goes), a port id associates again.
    let r = ctx
        .put(&token, &path, json!({"floatingip": {"port_id": null}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let down = ctx
        .wait_until(&token, &path, |r| r.body["floatingip"]["port_id"].is_null())
        .await;
    assert_eq!(down.body["floatingip"]["status"], "DOWN");
    let shown = ctx
        .wait_until(&token, &format!("/compute/v2.1/servers/{server}"), |r| {
            addresses_of_type(&r.body["server"], "floating").is_empty()
        })
        .await;
    assert_eq!(addresses_of_type(&shown.body["server"], "fixed"), [fixed]);
    let idle = format!("/compute/v2.0/servers/{server}");
    ctx.wait_until(&token, &idle, |r| r.body["server"]["SNF:task_state"] == "")
        .await;
    let r = ctx
        .put(&token, &path, json!({"floatingip": {"port_id": port_id}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["floatingip"]["port_id"], port_id.as_str());
    ctx.wait_until(&token, &path, |r| {
        r.body["floatingip"]["status"] == "ACTIVE"
    })
    .await;
    ctx.shutdown().await;
}
