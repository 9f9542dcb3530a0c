//! IPv6 end to end (spec §15.5, checklist I100, L126): a NIC on a network with an IPv6 subnet
//! gets the EUI-64 address of the MAC Ganeti reports, shown in its port's `fixed_ips` and its
//! server's `addresses` and `attachments`; the demo's public network is dual-stack; and
//! `SNF:ANY_PUBLIC_IPV6` in the forced networks picks an IPv6-only public network.

use std::net::Ipv6Addr;

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::{create, flavor_id};
use super::networks::private_network;

/// The EUI-64 address of `mac` in the /64 `prefix` (RFC 4291 appendix A), computed here on
/// its own so the test does not trust the host's arithmetic.
fn eui64(mac: &str, prefix: &str) -> String {
    let b: Vec<u16> = mac
        .split(':')
        .map(|p| u16::from_str_radix(p, 16).expect("hex"))
        .collect();
    assert_eq!(b.len(), 6, "{mac}");
    let net: Ipv6Addr = prefix.split('/').next().expect("net").parse().expect("v6");
    let s = net.segments();
    Ipv6Addr::new(
        s[0],
        s[1],
        s[2],
        s[3],
        ((b[0] ^ 0x02) << 8) | b[1],
        (b[2] << 8) | 0xff,
        0xfe00 | b[3],
        (b[4] << 8) | b[5],
    )
    .to_string()
}

fn v6_of(list: &Value) -> Vec<&Value> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["version"] == 6)
        .collect()
}

#[tokio::test]
async fn nics_on_dual_stack_networks_get_their_eui64_address() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;

    // The demo's public network carries an IPv4 and an IPv6 subnet.
    let subnets = ctx.get("/network/v2.0/subnets", Some(&token)).await.body;
    let public_v6 = subnets["subnets"]
        .as_array()
        .expect("subnets")
        .iter()
        .find(|s| s["ip_version"] == 6 && s["cidr"] == "2001:db8::/64")
        .unwrap_or_else(|| panic!("a public IPv6 subnet: {subnets}"))
        .clone();
    let public = public_v6["network_id"].as_str().expect("id").to_string();

    let (private, _) = private_network(&ctx, &token, "192.168.9.0/24").await;
    let r = ctx
        .post(
            &token,
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": private, "cidr": "fd00:9::/64", "ip_version": 6}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let private_v6 = r.body["subnet"]["id"].as_str().expect("id").to_string();

    let r = ctx
        .post(
            &token,
            "/network/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": public}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, super::compute::FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "dual", "imageRef": image, "flavorRef": flavor,
            "networks": [{"uuid": private}, {"uuid": public}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let s = ctx.wait_server(&token, &id, "ACTIVE").await;

    let inst = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{id}"), None)
        .await
        .body;
    let macs = inst["nic.macs"].as_array().expect("macs").clone();
    let (private_mac, public_mac) = (
        macs[0].as_str().expect("mac"),
        macs[1].as_str().expect("mac"),
    );
    let private_addr = eui64(private_mac, "fd00:9::/64");
    let public_addr = eui64(public_mac, "2001:db8::/64");

    // Server detail: both networks list an IPv6 address (fixed, with its MAC) beside IPv4.
    let on_private = v6_of(&s["addresses"][&private]);
    assert_eq!(on_private.len(), 1, "{s}");
    assert_eq!(on_private[0]["addr"], private_addr.as_str());
    assert_eq!(on_private[0]["OS-EXT-IPS:type"], "fixed");
    assert_eq!(on_private[0]["OS-EXT-IPS-MAC:mac_addr"], private_mac);
    let on_public = v6_of(&s["addresses"][&public]);
    assert_eq!(on_public.len(), 1, "{s}");
    assert_eq!(on_public[0]["addr"], public_addr.as_str());
    assert_eq!(
        on_public[0]["OS-EXT-IPS:type"], "fixed",
        "the floating IP is v4 only"
    );
    let attachments = s["attachments"].as_array().expect("attachments");
    let ipv6: Vec<&Value> = attachments.iter().map(|a| &a["ipv6"]).collect();
    assert_eq!(ipv6, [&json!(private_addr), &json!(public_addr)], "{s}");
    assert_eq!(
        attachments[0]["fixed_ips"].as_array().map(Vec::len),
        Some(2)
    );

    // Ports: `fixed_ips` holds the IPv4 address, then the IPv6 one with its subnet.
    let ports = ctx.get("/network/v2.0/ports", Some(&token)).await.body;
    let port = ports["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["network_id"] == private.as_str())
        .expect("the private port")
        .clone();
    assert_eq!(port["fixed_ips"][1]["ip_address"], private_addr.as_str());
    assert_eq!(port["fixed_ips"][1]["subnet_id"], private_v6.as_str());
    let addresses: Vec<&Value> = port["fixed_ips"]
        .as_array()
        .expect("fixed_ips")
        .iter()
        .map(|f| &f["ip_address"])
        .collect();
    assert_eq!(addresses.len(), 2, "{port}");
    ctx.shutdown().await;
}

#[tokio::test]
async fn forced_any_public_ipv6_picks_an_ipv6_only_public_network() {
    let ctx = TestContext::with_config(|c| {
        c.network.forced_server_networks = vec!["SNF:ANY_PUBLIC_IPV6".into()];
    })
    .await;
    let r = ctx
        .admin(
            Method::POST,
            "/networks",
            Some(
                json!({"name": "pub6", "flavor": "CUSTOM", "public": true, "link": "br6",
                "subnet6": {"cidr": "2001:db8:6::/64"}}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let pub6 = r.body["network"]["id"].as_str().expect("id").to_string();
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, super::compute::FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "v6", "imageRef": image, "flavorRef": flavor, "networks": []}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    let s = ctx.wait_server(&token, &id, "ACTIVE").await;
    let inst = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{id}"), None)
        .await
        .body;
    assert_eq!(
        inst["nic.networks.names"],
        json!([format!("snf-net-{pub6}")])
    );
    let mac = inst["nic.macs"][0].as_str().expect("mac");
    let addresses = s["addresses"][&pub6].as_array().expect("addresses").clone();
    assert_eq!(
        addresses,
        [json!({"version": 6, "addr": eui64(mac, "2001:db8:6::/64"),
            "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": mac})],
        "{s}"
    );
    ctx.shutdown().await;
}
