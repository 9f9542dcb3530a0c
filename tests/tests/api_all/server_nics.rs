//! NICs of running servers end to end against the simulated cluster: `addFloatingIp` /
//! `removeFloatingIp`, ports created with a `device_id` and deleted while attached,
//! `firewallProfile` tags, the task lock and the state rule without hotplug, and what Ganeti
//! ends up with after each job.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::compute::active_servers;

/// Polls `path` until `done` holds for its body (panics after 30 s).
async fn wait_for(
    ctx: &TestContext,
    token: &str,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    ctx.wait_until(token, path, |r| done(&r.body)).await.body
}

/// Waits until the server holds no task lock.
async fn wait_idle(ctx: &TestContext, token: &str, id: &str) -> Value {
    wait_for(ctx, token, &format!("/compute/v2.0/servers/{id}"), |b| {
        b["server"]["SNF:task_state"] == ""
    })
    .await["server"]
        .clone()
}

async fn instance(ctx: &TestContext, id: &str) -> Value {
    ctx.rapi(Method::GET, &format!("/2/instances/snf-{id}"), None)
        .await
        .body
}

async fn floating_ip(ctx: &TestContext, token: &str) -> (String, String) {
    let r = ctx
        .post(token, "/compute/v2.0/os-floating-ips", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let f = &r.body["floating_ip"];
    (
        f["id"].as_str().expect("id").to_string(),
        f["ip"].as_str().expect("ip").to_string(),
    )
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn floating_ips_and_ports_attach_to_running_servers() {
    let ctx = TestContext::new().await;
    let token = ctx.demo_token().await;
    let id = active_servers(&ctx, &token, &["web"]).await.remove(0);
    let (fid, address) = floating_ip(&ctx, &token).await;

    // Validation: missing, unknown, and someone else's server.
    let r = ctx.action(&token, &id, json!({"addFloatingIp": {}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("Missing 'address' attribute"), "{}", r.text);
    let r = ctx
        .action(
            &token,
            &id,
            json!({"addFloatingIp": {"address": "203.0.113.9"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = ctx
        .action(
            &token,
            &id,
            json!({"addFloatingIp": {"address": "not-an-ip"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    ctx.create_user("trudy", "trudypassword1", "demo", false)
        .await;
    let other = ctx.token("trudy", "trudypassword1", "demo").await;
    let r = ctx
        .action(&other, &id, json!({"addFloatingIp": {"address": address}}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);

    // addFloatingIp: 202, the server is locked while the NIC is added (the NIC's Ganeti job is
    // made to run 3 s, so the lock is observed for certain), then Ganeti has it.
    ctx.sim_faults(json!({"slow_next": {"OP_INSTANCE_SET_PARAMS": 3.0}}))
        .await;
    let r = ctx
        .action(&token, &id, json!({"addFloatingIp": {"address": address}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r = ctx
        .get(&format!("/compute/v2.0/servers/{id}"), Some(&token))
        .await;
    assert_eq!(
        r.body["server"]["SNF:task_state"], "CONNECTING",
        "{}",
        r.text
    );
    let r = ctx
        .action(&token, &id, json!({"reboot": {"type": "SOFT"}}))
        .await;
    // Spec §9.2: another pending action (not BUILD) is a 400.
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "locked: {}", r.text);
    let s = wait_idle(&ctx, &token, &id).await;
    let fip = ctx
        .get(&format!("/network/v2.0/floatingips/{fid}"), Some(&token))
        .await
        .body["floatingip"]
        .clone();
    assert_eq!(fip["instance_id"], id.as_str(), "{fip}");
    let port = fip["port_id"].as_str().expect("port").to_string();
    let inst = instance(&ctx, &id).await;
    assert!(
        strings(&inst["nic.ips"]).contains(&address),
        "{address} in {inst}"
    );
    assert!(strings(&inst["nic.names"]).contains(&format!("snf-nic-{port}")));
    let p = ctx
        .get(&format!("/network/v2.0/ports/{port}"), Some(&token))
        .await
        .body["port"]
        .clone();
    assert_eq!(p["status"], "ACTIVE", "{p}");
    assert_eq!(p["device_id"], id.as_str());
    assert!(
        strings(&inst["nic.macs"]).contains(&p["mac_address"].as_str().unwrap_or("").to_string())
    );
    let public = p["network_id"].as_str().expect("network").to_string();
    assert_eq!(s["addresses"][&public][0]["addr"], address.as_str(), "{s}");
    assert_eq!(s["addresses"][&public][0]["OS-EXT-IPS:type"], "floating");
    let r = ctx
        .get(
            &format!("/compute/v2.0/servers/{id}/ips/{public}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["network"][&public][0]["addr"],
        address.as_str(),
        "{}",
        r.text
    );
    let r = ctx
        .get(
            &format!("/compute/v2.0/servers/{id}/ips/{public}"),
            Some(&other),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "another user's server: {}",
        r.text
    );
    let r = ctx
        .get(
            &format!("/compute/v2.0/servers/{id}/ips/424242"),
            Some(&token),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "unknown network: {}",
        r.text
    );
    // server-inspect's view: the database's NICs beside Ganeti's.
    let inspected = ctx
        .admin(Method::GET, &format!("/servers/{id}"), None)
        .await
        .body;
    assert_eq!(inspected["ports"][0]["port"], port.as_str(), "{inspected}");
    assert_eq!(inspected["ports"][0]["ipv4"], address.as_str());
    assert_eq!(inspected["ports"][0]["nic"], format!("snf-nic-{port}"));
    assert!(
        strings(&inspected["ganeti"]["nic.ips"]).contains(&address),
        "{inspected}"
    );
    // No tag yet: a public NIC shows `[network] default_firewall_profile`.
    assert_eq!(s["attachments"][0]["firewallProfile"], "DISABLED", "{s}");

    // Neutron's list filters, as the openstack CLI uses them.
    let r = ctx
        .get(&format!("/network/v2.0/ports?device_id={id}"), Some(&token))
        .await;
    assert_eq!(
        r.body["ports"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.text
    );
    let r = ctx
        .get("/network/v2.0/ports?device_id=424242", Some(&token))
        .await;
    assert_eq!(r.body["ports"], json!([]), "{}", r.text);
    let r = ctx
        .get(
            &format!("/network/v2.0/floatingips?floating_ip_address={address}"),
            Some(&token),
        )
        .await;
    assert_eq!(r.body["floatingips"][0]["id"], fid.as_str(), "{}", r.text);

    // The same floating IP twice: 409.
    let r = ctx
        .action(&token, &id, json!({"addFloatingIp": {"address": address}}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);

    // firewallProfile: validation, then tags in Ganeti and the profile in attachments.
    for (args, status, text) in [
        (json!({"nic": port}), 400, "Missing 'profile' attribute"),
        (
            json!({"profile": "ENABLED"}),
            400,
            "Missing 'nic' attribute",
        ),
        (
            json!({"profile": "ENABLED", "nic": "x"}),
            400,
            "Invalid NIC ID",
        ),
        (
            json!({"profile": "ENABLED", "nic": 999999}),
            404,
            "not found",
        ),
        (
            json!({"profile": "OPEN", "nic": port}),
            400,
            "Unsupported firewall profile",
        ),
    ] {
        let r = ctx
            .action(&token, &id, json!({"firewallProfile": args}))
            .await;
        assert_eq!(r.status.as_u16(), status, "{args}: {}", r.text);
        assert!(r.text.contains(text), "{args}: {}", r.text);
    }
    let tag = |kind: &str| format!("synnefo:network:snf-nic-{port}:{kind}");
    let r = ctx
        .action(
            &token,
            &id,
            json!({"firewallProfile": {"profile": "ENABLED", "nic": port}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    wait_idle(&ctx, &token, &id).await;
    let tags = strings(&instance(&ctx, &id).await["tags"]);
    assert!(tags.contains(&tag("protected")), "{tags:?}");
    let r = ctx.action(&token,
        &id,
        json!({"firewallProfile": {"profile": "PROTECTED", "nic": port.parse::<u64>().expect("id")}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let s = wait_idle(&ctx, &token, &id).await;
    let tags = strings(&instance(&ctx, &id).await["tags"]);
    assert!(tags.contains(&tag("limited")), "{tags:?}");
    assert!(
        !tags.contains(&tag("protected")),
        "old tag removed: {tags:?}"
    );
    let attachment = s["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .find(|a| a["port_id"] == port.as_str())
        .expect("the floating IP's NIC")
        .clone();
    assert_eq!(attachment["firewallProfile"], "PROTECTED", "{attachment}");

    // A port on a private network created with a device_id: BUILD, then ACTIVE in Ganeti.
    let r = ctx
        .post(
            &token,
            "/network/v2.0/networks",
            json!({"network": {"name": "back"}}),
        )
        .await;
    let private = r.body["network"]["id"].as_str().expect("id").to_string();
    let r = ctx
        .post(
            &token,
            "/network/v2.0/subnets",
            json!({"subnet": {"network_id": private, "cidr": "10.20.0.0/24", "ip_version": 4}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // With a private network beside the public one, the filter has something to leave out.
    let r = ctx
        .get("/network/v2.0/networks?router:external=true", Some(&token))
        .await;
    assert!(
        r.body["networks"]
            .as_array()
            .is_some_and(|l| l.iter().all(|n| n["router:external"] == true)),
        "{}",
        r.text
    );
    let r = ctx
        .post(
            &other,
            "/network/v2.0/ports",
            json!({"port": {"network_id": private, "device_id": id}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": public, "device_id": id}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "public needs a floating IP: {}",
        r.text
    );
    let r = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": private, "device_id": id, "name": "eth-back",
            "fixed_ips": [{"ip_address": "10.20.0.30"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let back = r.body["port"]["id"].as_str().expect("id").to_string();
    assert_eq!(r.body["port"]["device_id"], id.as_str());
    assert_eq!(r.body["port"]["name"], "eth-back");
    let p = wait_for(&ctx, &token, &format!("/network/v2.0/ports/{back}"), |b| {
        b["port"]["status"] == "ACTIVE"
    })
    .await;
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], "10.20.0.30");
    wait_idle(&ctx, &token, &id).await;
    let inst = instance(&ctx, &id).await;
    assert!(
        strings(&inst["nic.ips"]).contains(&"10.20.0.30".to_string()),
        "{inst}"
    );
    assert!(strings(&inst["nic.networks.names"]).contains(&format!("snf-net-{private}")));

    // removeFloatingIp: an IP not on this server is a 400; then the NIC, its firewall tag
    // and the port go, and the floating IP stays the user's, free.
    let (_, spare) = floating_ip(&ctx, &token).await;
    let r = ctx
        .action(&token, &id, json!({"removeFloatingIp": {"address": spare}}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("not attached"), "{}", r.text);
    let r = ctx
        .action(
            &token,
            &id,
            json!({"removeFloatingIp": {"address": address}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    wait_idle(&ctx, &token, &id).await;
    let r = ctx
        .get(&format!("/network/v2.0/ports/{port}"), Some(&token))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "port removed: {}", r.text);
    let fip = ctx
        .get(&format!("/network/v2.0/floatingips/{fid}"), Some(&token))
        .await
        .body["floatingip"]
        .clone();
    assert_eq!(fip["instance_id"], Value::Null, "{fip}");
    assert_eq!(fip["port_id"], Value::Null, "{fip}");
    let inst = instance(&ctx, &id).await;
    assert!(!strings(&inst["nic.ips"]).contains(&address), "{inst}");
    assert!(
        !strings(&inst["tags"])
            .iter()
            .any(|t| t.contains(&format!("snf-nic-{port}:"))),
        "firewall tag removed: {inst}"
    );

    // Deleting the attached private port: 204, the NIC goes, the address is free again.
    let r = ctx
        .delete(&token, &format!("/network/v2.0/ports/{back}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    wait_for(&ctx, &token, "/network/v2.0/ports", |b| {
        b["ports"]
            .as_array()
            .is_some_and(|l| l.iter().all(|p| p["id"] != back.as_str()))
    })
    .await;
    wait_idle(&ctx, &token, &id).await;
    let inst = instance(&ctx, &id).await;
    assert!(
        !strings(&inst["nic.ips"]).contains(&"10.20.0.30".to_string()),
        "{inst}"
    );
    let r = ctx
        .post(
            &token,
            "/network/v2.0/ports",
            json!({"port": {"network_id": private, "fixed_ips": [{"ip_address": "10.20.0.30"}]}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "address free again: {}",
        r.text
    );
}

#[tokio::test]
async fn without_hotplug_nics_change_only_on_stopped_servers() {
    let ctx = TestContext::with_config(|c| c.backends.use_hotplug = false).await;
    let token = ctx.demo_token().await;
    let id = active_servers(&ctx, &token, &["cold"]).await.remove(0);
    let (_, address) = floating_ip(&ctx, &token).await;
    let r = ctx
        .action(&token, &id, json!({"addFloatingIp": {"address": address}}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.text.contains("CONNECT"), "{}", r.text);
    // Nothing was taken: the floating IP is still free.
    let r = ctx.get("/compute/v2.0/os-floating-ips", Some(&token)).await;
    assert_eq!(
        r.body["floating_ips"][0]["instance_id"],
        Value::Null,
        "{}",
        r.text
    );

    let r = ctx.action(&token, &id, json!({"os-stop": null})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    ctx.wait_server(&token, &id, "STOPPED").await;
    wait_idle(&ctx, &token, &id).await;
    let r = ctx
        .action(&token, &id, json!({"addFloatingIp": {"address": address}}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    wait_idle(&ctx, &token, &id).await;
    let inst = instance(&ctx, &id).await;
    assert!(strings(&inst["nic.ips"]).contains(&address), "{inst}");
}
