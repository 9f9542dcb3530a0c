//! End to end through the real binary: the real `openstack` CLI against `serve --demo` (tokens,
//! keypairs, a server's whole lifecycle), an openstacksdk cloud-layer program, and `kill -9`
//! during a batch of creates.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

/// The real `openstack` CLI pointed at a served cyclades (and nothing else from the caller's
/// `OS_*` environment).
struct Osc {
    bin: std::path::PathBuf,
    exports: Vec<(String, String)>,
}

impl Osc {
    fn new(bin: std::path::PathBuf, served: &Served) -> Self {
        Osc {
            bin,
            exports: served.exports(),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OS_")) {
            cmd.env_remove(k);
        }
        cmd.envs(self.exports.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.output().expect("run openstack")
    }

    /// Runs with `-f json` and parses the output.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let text = ok(self.run(&all));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }
}

#[test]
fn openstack_token_issue_against_serve_demo() {
    let Some(openstack) = openstack_or_skip("openstack_token_issue_against_serve_demo") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let exports: Vec<(String, String)> = served.exports();
    assert!(
        exports
            .iter()
            .any(|(k, v)| k == "OS_USERNAME" && v == "demo"),
        "{:?}",
        served.banner
    );
    let osc = Osc::new(openstack, &served);
    let run = |args: &[&str]| osc.run(args);
    let issued = ok(run(&["token", "issue", "-f", "json"]));
    let token: serde_json::Value =
        serde_json::from_str(&issued).expect("json from openstack token issue");
    for field in ["id", "expires", "project_id", "user_id"] {
        assert!(
            token[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {issued}"
        );
    }
    // The same token is accepted by the server, and `token revoke` ends it.
    let id = token["id"].as_str().expect("id").to_string();
    let check = |t: &str| {
        Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                &format!("X-Auth-Token: {t}"),
            ])
            .arg(format!("{}/identity/v3/auth/catalog", served.url))
            .output()
            .map(|o| stdout(&o))
    };
    assert_eq!(check(&id).expect("curl"), "200");
    ok(run(&["token", "revoke", &id]));
    assert_eq!(check(&id).expect("curl"), "401");
    // A wrong password is refused by the real client too.
    let bad = run(&["--os-password", "wrong", "token", "issue"]);
    assert!(!bad.status.success(), "wrong password accepted");
    assert!(stderr(&bad).contains("401"), "{}", stderr(&bad));
}

/// The real `openstack` CLI drives a server through its lifecycle against `serve --demo`:
/// flavor and image lists, create --wait, list, show, stop, resize, start, reboot --wait,
/// rename, properties, delete.
#[test]
fn openstack_server_lifecycle_against_serve_demo() {
    let Some(openstack) = openstack_or_skip("openstack_server_lifecycle_against_serve_demo") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let osc = Osc::new(openstack, &served);
    let run = |args: &[&str]| osc.run(args);
    let json = |args: &[&str]| osc.json(args);
    let flavors = json(&["flavor", "list"]);
    assert!(
        flavors
            .as_array()
            .expect("flavors")
            .iter()
            .any(|f| f["Name"] == "C1R1024D10plain"),
        "{flavors}"
    );
    let images = json(&["image", "list"]);
    assert_eq!(images[0]["Name"], "debian-12", "{images}");

    let private = ok(run(&["keypair", "create", "k1"]));
    assert!(private.contains("OPENSSH PRIVATE KEY"), "{private}");
    let keys = json(&["keypair", "list"]);
    assert_eq!(keys[0]["Name"], "k1", "{keys}");
    let created = json(&[
        "server",
        "create",
        "--flavor",
        "C1R1024D10plain",
        "--image",
        "debian-12",
        "--property",
        "role=web",
        "--key-name",
        "k1",
        "--wait",
        "demo1",
    ]);
    assert_eq!(created["status"], "ACTIVE", "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let listed = json(&["server", "list"]);
    assert_eq!(listed[0]["Name"], "demo1", "{listed}");
    assert_eq!(listed[0]["Image"], "debian-12", "{listed}");
    assert_eq!(listed[0]["Flavor"], "C1R1024D10plain", "{listed}");
    let shown = json(&["server", "show", "demo1"]);
    assert_eq!(shown["id"], id.as_str());

    let status = |want: &str| {
        for _ in 0..100 {
            let s = json(&["server", "show", &id]);
            if s["status"] == want {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("server never reached {want}");
    };
    // The CLI reads the Keystone v3 catalog, so it gets OpenStack's behaviour: Nova's SHUTOFF.
    ok(run(&["server", "stop", &id]));
    status("SHUTOFF");
    // A different disk size is refused, and the CLI shows Synnefo's reason.
    let refused = run(&["server", "resize", "--flavor", "C2R2048D20plain", &id]);
    assert!(
        stderr(&refused).contains("disk size"),
        "{}",
        stderr(&refused)
    );
    // Same disk, more CPU and RAM: an operator adds the flavor, the user resizes to it.
    ok(served.cli(&["flavor-create", "2", "2048", "10", "plain"]));
    ok(run(&[
        "server",
        "resize",
        "--flavor",
        "C2R2048D10plain",
        &id,
    ]));
    let mut resized = json(&["server", "show", &id]);
    for _ in 0..100 {
        if resized["flavor"].to_string().contains("C2R2048D10plain")
            && resized["status"] == "SHUTOFF"
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        resized = json(&["server", "show", &id]);
    }
    assert!(
        resized["flavor"].to_string().contains("C2R2048D10plain"),
        "{resized}"
    );
    ok(run(&["server", "start", &id]));
    status("ACTIVE");
    ok(run(&["server", "reboot", "--hard", "--wait", &id]));
    ok(run(&[
        "server",
        "set",
        "--name",
        "demo2",
        "--property",
        "env=prod",
        &id,
    ]));
    let renamed = json(&["server", "show", &id]);
    assert_eq!(renamed["name"], "demo2", "{renamed}");
    let props = renamed["properties"].clone();
    assert!(
        props.to_string().contains("prod") && props.to_string().contains("web"),
        "{props}"
    );
    // `--wait` returns once the server answers 404, as Nova's deleted servers do.
    ok(run(&["server", "delete", "--wait", &id]));
    let gone = run(&["server", "show", &id]);
    assert!(!gone.status.success(), "{}", stderr(&gone));
    let after = json(&["server", "list"]);
    assert_eq!(after, serde_json::json!([]), "{after}");
}

/// The network commands of today's `openstack` CLI: a private network and subnet, a
/// floating IP from the demo's public pool, a server on the network, a port attached to the
/// running server with `--device` and detached by deleting it, and everything released.
#[test]
fn openstack_networks_and_ports_against_serve_demo() {
    let Some(openstack) = openstack_or_skip("openstack_networks_and_ports_against_serve_demo")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let osc = Osc::new(openstack, &served);
    let run = |args: &[&str]| osc.run(args);
    let json = |args: &[&str]| osc.json(args);
    let net = json(&["network", "create", "backnet"]);
    let net_id = net["id"].as_str().expect("network id").to_string();
    json(&[
        "subnet",
        "create",
        "--network",
        "backnet",
        "--subnet-range",
        "10.5.0.0/24",
        "backsub",
    ]);
    let fip = json(&["floating", "ip", "create", "public"]);
    let address = fip["floating_ip_address"]
        .as_str()
        .expect("address")
        .to_string();
    let server = json(&[
        "server",
        "create",
        "--flavor",
        "C1R1024D10plain",
        "--image",
        "debian-12",
        "--network",
        "backnet",
        "--wait",
        "web",
    ]);
    assert_eq!(server["status"], "ACTIVE", "{server}");
    let id = server["id"].as_str().expect("id").to_string();
    assert!(
        server["addresses"].to_string().contains("10.5.0."),
        "{server}"
    );

    // A second NIC on the running server, through a port with --device.
    let port = json(&[
        "port",
        "create",
        "--network",
        "backnet",
        "--device",
        &id,
        "--fixed-ip",
        "ip-address=10.5.0.50",
        "eth1",
    ]);
    let port_id = port["id"].as_str().expect("port id").to_string();
    let mut shown = json(&["port", "show", &port_id]);
    for _ in 0..100 {
        if shown["status"] == "ACTIVE" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        shown = json(&["port", "show", &port_id]);
    }
    assert_eq!(shown["status"], "ACTIVE", "{shown}");
    assert_eq!(shown["device_id"], id.as_str(), "{shown}");
    let mut with_nic = json(&["server", "show", &id]);
    for _ in 0..100 {
        if with_nic["addresses"].to_string().contains("10.5.0.50") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        with_nic = json(&["server", "show", &id]);
    }
    assert!(
        with_nic["addresses"].to_string().contains("10.5.0.50"),
        "{with_nic}"
    );

    // `server add floating ip` (Neutron's association): the floating IP becomes a NIC of the
    // server on the public network; `server remove floating ip` takes it off again.
    ok(run(&["server", "add", "floating", "ip", &id, &address]));
    let wait_address = |present: bool| {
        for _ in 0..100 {
            let s = json(&["server", "show", &id]);
            if s["addresses"].to_string().contains(&address) == present {
                return s;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!(
            "the floating IP never {}",
            if present { "appeared" } else { "went" }
        );
    };
    wait_address(true);
    let shown_ip = json(&["floating", "ip", "show", &address]);
    assert!(!shown_ip["port_id"].is_null(), "{shown_ip}");
    ok(run(&["server", "remove", "floating", "ip", &id, &address]));
    wait_address(false);

    // Deleting the attached port takes the NIC off.
    ok(run(&["port", "delete", &port_id]));
    let mut gone = false;
    for _ in 0..100 {
        let ports = json(&["port", "list"]);
        if !ports.to_string().contains(&port_id) {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(gone, "port {port_id} still listed");
    let listed = json(&["floating", "ip", "list"]);
    assert!(listed.to_string().contains(&address), "{listed}");
    ok(run(&["server", "delete", "--wait", &id]));
    ok(run(&["floating", "ip", "delete", &address]));
    // The network is on the cluster: its removal is a network.destroy job; it leaves the
    // list when that finishes.
    ok(run(&["network", "delete", &net_id]));
    let mut networks = json(&["network", "list"]);
    for _ in 0..100 {
        if !networks.to_string().contains("backnet") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        networks = json(&["network", "list"]);
    }
    assert!(!networks.to_string().contains("backnet"), "{networks}");
}

/// Volumes with the real `openstack` CLI (Cinder v3 discovery at `/volume/`, Nova's
/// `os-volume_attachments`): types, create by type name, attach to a running server, rename,
/// detach, and the two delete paths (a volume that never held data goes at once; one with data
/// needs an operator's helper server, and the refusal says so without looking like a 404).
#[test]
fn openstack_volumes_against_serve_demo() {
    let Some(openstack) = openstack_or_skip("openstack_volumes_against_serve_demo") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let osc = Osc::new(openstack, &served);
    let run = |args: &[&str]| osc.run(args);
    let json = |args: &[&str]| osc.json(args);
    let wait_status = |id: &str, status: &str| {
        let mut shown = json(&["volume", "show", id]);
        for _ in 0..100 {
            if shown["status"] == status {
                return shown;
            }
            std::thread::sleep(Duration::from_millis(200));
            shown = json(&["volume", "show", id]);
        }
        panic!("volume {id} never {status}: {shown}");
    };
    let types = json(&["volume", "type", "list"]);
    assert!(types.to_string().contains("ext_archipelago"), "{types}");
    let data = json(&[
        "volume",
        "create",
        "--size",
        "2",
        "--type",
        "ext_archipelago",
        "--description",
        "d",
        "data",
    ]);
    assert_eq!(data["status"], "available", "{data}");
    let vol = data["id"].as_str().expect("volume id").to_string();
    let server = json(&[
        "server",
        "create",
        "--flavor",
        "C1R1024D10ext_archipelago",
        "--image",
        "debian-12",
        "--wait",
        "vol-host",
    ]);
    assert_eq!(server["status"], "ACTIVE", "{server}");
    let id = server["id"].as_str().expect("id").to_string();
    // `quota show` reads compute, network and (with a block-storage service) volume quotas;
    // gigabytes in use: the standalone volume and the server's root volume.
    let usage = json(&["quota", "show", "--usage"]);
    let row = |name: &str| {
        usage
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["Resource"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {usage}"))
    };
    assert_eq!(row("gigabytes")["In Use"], 12, "{usage}");
    assert_eq!(row("instances")["In Use"], 1, "{usage}");
    assert_eq!(row("networks")["Limit"], 5, "{usage}");

    ok(run(&["server", "add", "volume", "vol-host", "data"]));
    wait_status(&vol, "in-use");
    let shown = json(&["server", "show", "vol-host"]);
    assert!(
        shown["volumes_attached"]
            .to_string()
            .contains(&format!("'{vol}'"))
            || shown["volumes_attached"]
                .to_string()
                .contains(&format!("\"{vol}\"")),
        "{shown}"
    );
    let listed = json(&["volume", "list"]);
    let rows = listed.as_array().expect("rows");
    assert_eq!(rows.len(), 2, "the root volume and data: {listed}");
    assert!(
        listed.to_string().contains(&id),
        "attached to the server: {listed}"
    );

    ok(run(&[
        "volume",
        "set",
        "--name",
        "data2",
        "--description",
        "moved",
        &vol,
    ]));
    assert_eq!(json(&["volume", "show", &vol])["name"], "data2");
    ok(run(&["server", "remove", "volume", "vol-host", "data2"]));
    wait_status(&vol, "available");

    // Detached with data: deleting needs a helper server; the CLI reports the refusal.
    let refused = run(&["volume", "delete", &vol]);
    assert!(
        !refused.status.success(),
        "a 503 must not look like success"
    );
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("helper"), "{err}");
    // Never attached: deleted at once.
    let spare = json(&[
        "volume",
        "create",
        "--size",
        "1",
        "--type",
        "ext_archipelago",
        "spare",
    ]);
    let spare_id = spare["id"].as_str().expect("id").to_string();
    ok(run(&["volume", "delete", &spare_id]));
    assert!(!json(&["volume", "list"]).to_string().contains("spare"));

    ok(run(&["server", "delete", "--wait", &id]));
    let left = json(&["volume", "list"]);
    assert_eq!(
        left.as_array().map(Vec::len),
        Some(1),
        "only data2 is left: {left}"
    );
}

/// `kill -9` in the middle of a batch of creates: after a restart on the same data directory
/// every server ends ACTIVE exactly once, the cluster holds exactly one instance per server,
/// every job finished, and quota matches.
#[test]
fn kill_9_during_a_batch_of_creates_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut served = Served::start(dir.path(), &["--demo"]);
    const N: usize = 6;
    for i in 0..N {
        let out = served.cli(&[
            "server-create",
            "--name",
            &format!("k{i}"),
            "--user",
            "demo",
            "--flavor",
            "C1R1024D10plain",
            "--image",
            "debian-12",
            "--output-format",
            "json",
        ]);
        ok(out);
    }
    // Jobs are in flight (a simulated create takes about 1 s): kill the process outright.
    let in_flight: Vec<serde_json::Value> = serde_json::from_str(&ok(served.cli(&[
        "job-list",
        "--unfinished",
        "--output-format",
        "json",
    ])))
    .expect("jobs");
    served.child.kill().expect("kill -9");
    assert!(!in_flight.is_empty(), "no job was in flight at the kill");
    served.child.wait().expect("reaped");
    drop(served);

    let served = Served::start(dir.path(), &["--demo"]);
    let list = |served: &Served| -> Vec<serde_json::Value> {
        let text = ok(served.cli(&["server-list", "--output-format", "json"]));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    };
    let mut servers = list(&served);
    for _ in 0..150 {
        if servers.len() == N && servers.iter().all(|s| s["status"] == "ACTIVE") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        servers = list(&served);
    }
    assert_eq!(servers.len(), N, "{servers:?}");
    if !servers.iter().all(|s| s["status"] == "ACTIVE") {
        // Say why: every job with its step log.
        let jobs: Vec<serde_json::Value> =
            serde_json::from_str(&ok(served.cli(&["job-list", "--output-format", "json"])))
                .unwrap_or_default();
        let logs: Vec<String> = jobs
            .iter()
            .filter(|j| j["state"] != "succeeded")
            .filter_map(|j| j["id"].as_str())
            .map(|id| ok(served.cli(&["job-inspect", id, "--output-format", "json"])))
            .collect();
        panic!("not all ACTIVE: {servers:?}\njobs: {jobs:?}\nfailed: {logs:#?}");
    }
    let mut jobs: Vec<serde_json::Value> =
        serde_json::from_str(&ok(served.cli(&["job-list", "--output-format", "json"])))
            .expect("jobs");
    // The demo's own start-up job (its public network put on the cluster) is not a create.
    jobs.retain(|j| j["kind"] != "network.ensure");
    assert_eq!(jobs.len(), N, "{jobs:?}");
    assert!(jobs.iter().all(|j| j["state"] == "succeeded"), "{jobs:?}");
    // Ganeti holds one instance per server, no more.
    ok(served.cli(&["backend-update-status"]));
    let backends: Vec<serde_json::Value> = serde_json::from_str(&ok(served.cli(&[
        "backend-list",
        "--output-format",
        "json",
    ])))
    .expect("backends");
    assert_eq!(backends[0]["pinst_cnt"], N as u64, "{backends:?}");
    for s in &servers {
        let id = s["id"].as_str().expect("id");
        let inspect: serde_json::Value = serde_json::from_str(&ok(served.cli(&[
            "server-inspect",
            id,
            "--output-format",
            "json",
        ])))
        .expect("inspect");
        assert_eq!(inspect["ganeti"]["name"], format!("snf-{id}"), "{inspect}");
    }
    let quota: Vec<serde_json::Value> = serde_json::from_str(&ok(served.cli(&[
        "quota-list",
        "--project",
        "demo",
        "--output-format",
        "json",
    ])))
    .expect("quota");
    let vm = quota
        .iter()
        .find(|r| r["resource"] == "cyclades.vm")
        .expect("vm row");
    assert_eq!(
        (vm["usage"].clone(), vm["pending"].clone()),
        (serde_json::json!(N), serde_json::json!(0)),
        "{vm}"
    );
}

/// An openstacksdk program written against a real OpenStack cloud
/// (`openstacksdk/cloud_workflow.py`: a server with a floating IP and a volume, created,
/// attached, detached and deleted with the cloud layer's waits) runs unchanged against
/// `serve --demo`, through the Keystone v3 catalog (issue 18).
#[test]
fn openstacksdk_cloud_layer_workflow_against_serve_demo() {
    let Some(openstack) = openstack_or_skip("openstacksdk_cloud_layer_workflow_against_serve_demo")
    else {
        return;
    };
    // openstacksdk comes with the `openstack` CLI: the interpreter beside it has it.
    let python = openstack.with_file_name("python3");
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let mut cmd = Command::new(&python);
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/openstacksdk/cloud_workflow.py"
    ));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OS_")) {
        cmd.env_remove(k);
    }
    cmd.envs(served.exports());
    let output = cmd.output().expect("run python3");
    let text = ok(output);
    let seen: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(seen["server_status"], "ACTIVE", "{seen}");
    assert_eq!(seen["networks"], serde_json::json!(["public", "sdk-net"]));
    // auto_ip: a floating IP from the demo's public pool, shown as `floating`, whose
    // document names a port of the server.
    let floating = seen["floating"].as_array().expect("floating");
    assert_eq!(floating.len(), 1, "{seen}");
    assert!(
        floating[0]
            .as_str()
            .is_some_and(|a| a.starts_with("198.51.100.")),
        "{seen}"
    );
    assert_eq!(seen["fip_port_is_a_port_of_the_server"], true, "{seen}");
    assert_eq!(seen["spare_status"], "DOWN", "{seen}");
    assert_eq!(seen["volume_created"], "available", "{seen}");
    assert_eq!(seen["attached_device"], "/dev/vdb", "{seen}");
    assert_eq!(seen["volume_attached"], "in-use", "{seen}");
    assert_eq!(seen["volume_detached"], "available", "{seen}");
    assert!(seen["server_after_delete"].is_null(), "{seen}");
}

/// Every compute and volume response of a full workflow through the Keystone v3 catalog
/// passes tempest's published response schema (`tempest/validate_responses.py`; tempest is
/// installed beside the `openstack` CLI by `.ci/run`).
#[test]
fn tempest_schemas_hold_for_a_full_workflow_against_serve_demo() {
    let Some(openstack) =
        openstack_or_skip("tempest_schemas_hold_for_a_full_workflow_against_serve_demo")
    else {
        return;
    };
    let python = openstack.with_file_name("python3");
    let has_tempest = Command::new(&python)
        .args(["-c", "import tempest.lib.api_schema"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_tempest {
        assert!(
            std::env::var_os("CYCLADES_REQUIRE_E2E").is_none(),
            "CYCLADES_REQUIRE_E2E is set but tempest is not installed beside the openstack CLI"
        );
        eprintln!(
            "SKIPPED: no tempest beside {} (pip install tempest)",
            python.display()
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let output = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/tempest/validate_responses.py"
        ))
        .args([
            &format!("{}/identity/v3", served.url),
            "demo",
            "demo",
            "demo",
        ])
        .output()
        .expect("run python3");
    let text = ok(output);
    let seen: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert!(seen["checked"].as_u64().is_some_and(|n| n >= 40), "{seen}");
    for schema in [
        "servers.create_server_with_admin_pass",
        "servers.get_server",
        "servers.list_servers_detail",
        "servers.update_server",
        "servers.list_addresses_by_network",
        "servers.attach_volume",
        "flavors.list_flavors_details",
        "limits.get_limit",
        "quotas.get_quota_set_details",
        "volumes.create_volume",
        "volumes.show_volume (in-use)",
        "volumes.list_volumes_detail",
    ] {
        assert!(
            seen["schemas"]
                .as_array()
                .is_some_and(|all| all.iter().any(|s| s == schema)),
            "{schema} not checked: {seen}"
        );
    }
}
