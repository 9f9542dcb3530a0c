//! One Synnefo-shaped scenario through our RAPI client and job tracking, run against the
//! simulator and, when `GANETI_RAPI_URL` is set (by `scripts/ganeti/up.sh` in CI), against a
//! real Ganeti 3.0 cluster, so that both must agree: create a network and connect it, create an
//! instance with the body Synnefo builds, stop, start, reboot it, add and remove a NIC, delete
//! it, then disconnect and delete the network.

use std::time::Duration;

use cyclades::backend::rapi::{BackendError, RapiClient, RapiConfig};
use cyclades::backend::sim::{self, Latency, SimOptions};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);

async fn scenario(c: &RapiClient, id: u64, template: &str) {
    assert!(
        c.features()
            .await
            .expect("features")
            .iter()
            .any(|f| f == "instance-create-reqv1")
    );
    let (net, inst) = (format!("snf-net-{id}"), format!("snf-{id}"));
    let cidr_octet = id % 200 + 20;
    let subnet = format!("10.{cidr_octet}.0.0/24");
    let ip = |host: u8| format!("10.{cidr_octet}.0.{host}");

    let create_net = json!({"network_name": net, "network": subnet, "gateway": ip(1), "gateway6": null, "network6": null,
                            "mac_prefix": "aa:00:55", "add_reserved_ips": null, "conflicts_check": false,
                            "tags": [format!("synnefo:network:{id}"), "private"]});
    let net_job = c
        .create_network(create_net)
        .await
        .expect("network create submitted");
    c.wait_job(net_job, WAIT).await.expect("network created");
    let connect = c
        .connect_network(&net, "default", "bridged", "br0")
        .await
        .expect("connect submitted");

    // The body synnefo.logic.backend.create_instance builds (no pnode: the cluster's iallocator).
    let body = json!({"mode": "create", "name": inst, "disk_template": template,
                      "disks": [{"name": format!("snf-vol-{id}"), "size": 1024}],
                      "nics": [{"name": format!("snf-nic-{id}"), "network": net, "ip": ip(5)}],
                      "depends": [[connect, ["success", "error", "canceled"]]],
                      "beparams": {"auto_balance": true, "memory": 256, "vcpus": 1},
                      "os": "snf-image+default",
                      "osparams": {"config_url": "http://127.0.0.1:1/cfg", "img_format": "diskdump", "img_id": "pithos://u/c/img"},
                      "ip_check": false, "name_check": false, "wait_for_sync": false, "opportunistic_locking": false,
                      "tags": [format!("synnefo:network:{id}")]});
    let created = c.create_instance(body).await.expect("create submitted");
    c.wait_job(connect, WAIT).await.expect("network connected");
    let job = c.wait_job(created, WAIT).await.expect("instance created");
    assert!(job.received_ts.is_some() && job.end_ts.is_some());
    let info = c
        .instance(&inst)
        .await
        .expect("get")
        .expect("instance exists");
    assert_eq!(info["status"], "running", "{info}");
    assert_eq!(info["nic.ips"], json!([ip(5)]));

    c.wait_job(c.shutdown(&inst, Some(0)).await.expect("submit"), WAIT)
        .await
        .expect("stopped");
    assert_eq!(
        c.instance(&inst).await.expect("get").expect("exists")["status"],
        "ADMIN_down"
    );
    c.wait_job(c.startup(&inst).await.expect("submit"), WAIT)
        .await
        .expect("started");
    c.wait_job(c.reboot(&inst, true).await.expect("submit"), WAIT)
        .await
        .expect("rebooted");
    assert_eq!(
        c.instance(&inst).await.expect("get").expect("exists")["status"],
        "running"
    );

    let add = json!({"hotplug_if_possible": true,
                     "nics": [["add", -1, {"name": format!("snf-nic-{id}-2"), "network": net, "ip": ip(6)}]]});
    c.wait_job(c.modify_instance(&inst, add).await.expect("submit"), WAIT)
        .await
        .expect("NIC added");
    assert_eq!(
        c.instance(&inst).await.expect("get").expect("exists")["nic.ips"],
        json!([ip(5), ip(6)])
    );
    // The same address twice is refused by Ganeti, and typed by the client.
    let again = json!({"nics": [["add", -1, {"name": format!("snf-nic-{id}-3"), "network": net, "ip": ip(6)}]]});
    let e = c
        .wait_job(c.modify_instance(&inst, again).await.expect("submit"), WAIT)
        .await
        .expect_err("IP in use");
    assert!(
        matches!(&e, BackendError::JobFailed { kind, .. } if kind == "OpPrereqError"),
        "{e}"
    );
    let remove =
        json!({"hotplug_if_possible": true, "nics": [["remove", format!("snf-nic-{id}-2"), {}]]});
    c.wait_job(
        c.modify_instance(&inst, remove).await.expect("submit"),
        WAIT,
    )
    .await
    .expect("NIC removed");

    c.wait_job(c.delete_instance(&inst).await.expect("submit"), WAIT)
        .await
        .expect("deleted");
    assert!(c.instance(&inst).await.expect("lookup").is_none());
    c.wait_job(
        c.disconnect_network(&net, "default").await.expect("submit"),
        WAIT,
    )
    .await
    .expect("disconnected");
    c.wait_job(c.delete_network(&net).await.expect("submit"), WAIT)
        .await
        .expect("network deleted");
    assert!(c.network(&net).await.expect("lookup").is_none());
}

fn unique_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(std::process::id() % 1000) * 1000 + u64::from(nanos % 1000)
}

#[tokio::test]
async fn synnefo_scenario_against_the_simulator() {
    let s = sim::start(SimOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        cluster_name: "cluster.ganeti.test".into(),
        nodes: 1,
        username: "cyclades".into(),
        password: "cyclades".into(),
        state_dir: None,
        latency: Latency::zero(),
    })
    .await
    .expect("simulator");
    let c = RapiClient::new(RapiConfig {
        base_url: s.url(),
        username: "cyclades".into(),
        password: "cyclades".into(),
        insecure: false,
        timeout: Duration::from_secs(10),
        offline: false,
    })
    .expect("client");
    scenario(&c, unique_id(), "file").await;
    s.shutdown().await;
}

#[tokio::test]
async fn synnefo_scenario_against_real_ganeti() {
    let Ok(url) = std::env::var("GANETI_RAPI_URL") else {
        assert!(
            std::env::var_os("CYCLADES_REQUIRE_GANETI").is_none(),
            "CYCLADES_REQUIRE_GANETI is set but GANETI_RAPI_URL is not: scripts/ganeti/up.sh did not run"
        );
        eprintln!(
            "SKIPPED synnefo_scenario_against_real_ganeti: GANETI_RAPI_URL is not set (run scripts/ganeti/up.sh as root)"
        );
        return;
    };
    let c = RapiClient::new(RapiConfig {
        base_url: url,
        username: std::env::var("GANETI_RAPI_USER").unwrap_or_else(|_| "cyclades".into()),
        password: std::env::var("GANETI_RAPI_PASSWORD").unwrap_or_else(|_| "cyclades".into()),
        // Ganeti's RAPI certificate is self-signed.
        insecure: true,
        timeout: Duration::from_secs(30),
        offline: false,
    })
    .expect("client");
    scenario(&c, unique_id(), "file").await;
}
