//! The seed's admin guide (`../shared/spec/seed-admin-guide-diff.txt`), its `snf-manage`
//! examples typed word for word as `cyclades` commands against `serve --demo`.

use crate::support::*;

/// The seed's admin guide, typed as it types `snf-manage` (with `cyclades` in its place):
/// Synnefo's option names (`--flavor-id`, `--image-id`, `--user-id`, `--backend-id`,
/// `--owner`), booleans written `--opt=True`, `--wait=True`, `--filter-by` on Synnefo's field
/// names, the `-show` commands, `port-create/inspect/remove` and `subnet-inspect`. Each
/// output is checked for the values that matter.
#[test]
fn the_admin_guides_commands_work_as_typed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output-format", "json"]);
        serde_json::from_str(&ok(served.cli(&all))).expect("json")
    };
    let id_of = |rows: &serde_json::Value, key: &str, value: &str| -> String {
        let row = rows
            .as_array()
            .and_then(|r| r.iter().find(|r| r[key] == value))
            .unwrap_or_else(|| panic!("no {key}={value} in {rows}"));
        match &row["id"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    let users = json(&["user-list"]);
    let demo = id_of(&users, "name", "demo");
    let admin = id_of(&users, "name", "admin");

    // Flavors: `snf-manage flavor-create 2,4 4096 40 drbd`, then `flavor-modify --deleted=True`.
    ok(served.cli(&["flavor-create", "2,4", "4096", "40", "drbd"]));
    let flavors = json(&["flavor-list"]);
    let two = id_of(&flavors, "name", "C2R4096D40drbd");
    let four = id_of(&flavors, "name", "C4R4096D40drbd");
    ok(served.cli(&["flavor-modify", "--deleted=True", &four]));
    let deleted = json(&["flavor-list", "--deleted"]);
    assert_eq!(id_of(&deleted, "name", "C4R4096D40drbd"), four);

    ok(served.cli(&["flavor-access-add", "--flavor", &two, "--project", "demo"]));
    let access = json(&["flavor-access-list", "--flavor", "C2R4096D40drbd"]);
    assert_eq!(access.as_array().map(Vec::len), Some(1), "{access}");
    assert_eq!(access[0]["flavor"], "C2R4096D40drbd");
    assert!(access[0]["project"].is_string(), "{access}");

    // Pools: `pool-list`, then `pool-show` of one.
    let pools = json(&["pool-list"]);
    let pool = match &pools[0]["id"] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let shown = json(&["pool-show", &pool]);
    assert_eq!(shown["id"], pools[0]["id"], "{shown}");
    assert!(
        shown["type"].is_string() && shown["size"].is_u64(),
        "{shown}"
    );

    // Images: `snf-manage image-list --user-id=<owner>` and `image-show`.
    let images = json(&["image-list", &format!("--user-id={admin}")]);
    let image = id_of(&images, "name", "debian-12");
    assert_eq!(
        json(&["image-list", "--user-id", &demo]),
        serde_json::json!([])
    );
    assert!(ok(served.cli(&["image-show", &image])).contains("debian-12"));

    // Servers: the guide's server-create, word for word, then list, show and suspend.
    let backends = json(&["backend-list"]);
    let backend = id_of(&backends, "clustername", "127.0.0.1");
    let created = ok(served.cli(&[
        "server-create",
        &format!("--flavor-id={two}"),
        &format!("--image-id={image}"),
        &format!("--user-id={demo}"),
        &format!("--backend-id={backend}"),
        "--password=example_passw0rd",
        "--name=test_vm",
        "--wait=True",
    ]));
    assert!(
        created.contains("test_vm") && created.contains("ACTIVE"),
        "{created}"
    );
    let listed = json(&[
        "server-list",
        &format!("--filter-by=operstate=STARTED,flavor={two}"),
    ]);
    let server = id_of(&listed, "name", "test_vm");
    let none = json(&[
        "server-list",
        &format!("--filter-by=operstate=STARTED,flavor={four}"),
    ]);
    assert_eq!(none, serde_json::json!([]));
    let shown = json(&["server-show", &server]);
    assert_eq!(
        (shown["operstate"].as_str(), shown["user_id"].as_str()),
        (Some("STARTED"), Some(demo.as_str())),
        "{shown}"
    );
    ok(served.cli(&["server-modify", "--suspended=True", &server]));
    assert_eq!(json(&["server-show", &server])["suspended"], true);

    // Networks: the guide's network-create, word for word, then show, inspect and remove.
    let made = json(&[
        "network-create",
        &format!("--owner={demo}"),
        "--name=prv_net-1",
        "--subnet=192.168.2.0/24",
        "--gateway=192.168.2.1",
        "--dhcp=True",
        "--flavor=PHYSICAL_VLAN",
    ]);
    let network = match &made["id"] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let shown = json(&["network-show", &network]);
    assert_eq!(
        (
            shown["name"].as_str(),
            shown["type"].as_str(),
            shown["cidr"].as_str()
        ),
        (
            Some("prv_net-1"),
            Some("PHYSICAL_VLAN"),
            Some("192.168.2.0/24")
        ),
        "{shown}"
    );
    let inspected = json(&["network-inspect", &network]);
    assert!(
        inspected.to_string().contains("\"192.168.2.1\""),
        "the gateway: {inspected}"
    );

    // Ports: `snf-manage port-create --network=<network_id> --server=<server_id>`, then
    // `port-inspect` (the NIC in Ganeti once its job is done) and `port-remove`.
    let port = json(&[
        "port-create",
        &format!("--network={network}"),
        &format!("--server={server}"),
    ]);
    let port = port["id"].as_str().expect("port id").to_string();
    let mut inspected = serde_json::Value::Null;
    for _ in 0..100 {
        inspected = json(&["port-inspect", &port]);
        if inspected["port"]["status"] == "ACTIVE" && !inspected["ganeti"].is_null() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        inspected["ganeti"]["name"],
        format!("snf-nic-{port}"),
        "{inspected}"
    );
    assert_eq!(
        inspected["ganeti"]["mac"], inspected["port"]["mac_address"],
        "the database and Ganeti agree: {inspected}"
    );
    assert_eq!(json(&["port-show", &port])["network_id"], network.as_str());
    // `snf-manage subnet-inspect <subnet_id>`: the port's address is in use on the map.
    let subnet = id_of(&json(&["subnet-list"]), "network_id", &network);
    let pool = json(&["subnet-inspect", &subnet])["pool"].clone();
    assert_eq!(
        (pool["size"].as_u64(), pool["used"].as_u64()),
        (Some(253), Some(1)),
        "{pool}"
    );
    let first_line = pool["map"][0].as_str().unwrap_or_default().to_string();
    assert!(first_line.starts_with(" GX"), "{pool}");
    let text = ok(served.cli(&["subnet-inspect", &subnet]));
    assert!(text.contains("IP pool: 253 addresses, 1 in use"), "{text}");
    ok(served.cli(&["port-remove", &port]));
    for _ in 0..100 {
        if !served.cli(&["port-show", &port]).status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    clean_failure(&served.cli(&["port-show", &port]), "not found");
    ok(served.cli(&["network-remove", &network]));

    // Floating IPs: create for a user, attach to and detach from the server, release.
    let fip = json(&["floating-ip-create", "--user=demo"]);
    let fip = fip["id"].as_str().expect("fip id").to_string();
    ok(served.cli(&["floating-ip-attach", &fip, &format!("--server={server}")]));
    let attached = |want: serde_json::Value| {
        for _ in 0..100 {
            // Attached (or not) and its NIC job done.
            let idle = json(&["server-show", &server])["task_state"] == "";
            if json(&["floating-ip-show", &fip])["instance_id"] == want && idle {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("floating IP {fip} never had instance_id {want}");
    };
    attached(serde_json::json!(server));
    ok(served.cli(&["floating-ip-detach", &fip]));
    attached(serde_json::Value::Null);
    ok(served.cli(&["floating-ip-remove", &fip]));
    clean_failure(&served.cli(&["floating-ip-show", &fip]), "does not exist");

    // A boolean written Synnefo's way must be one: `--wait=maybe` names the problem.
    let o = served.cli(&[
        "server-create",
        "--wait=maybe",
        "--name=x",
        "--user-id=x",
        "--flavor-id=1",
        "--image-id=x",
    ]);
    clean_failure(&o, "maybe");
    served.terminate();
}
