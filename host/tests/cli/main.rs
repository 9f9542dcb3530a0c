//! Process-level tests of the `cyclades` binary: `serve` start-up errors, signals, and the
//! operator commands against a running server. The real `openstack` CLI and the `kill -9` test
//! are in `e2e.rs`.
//!
//! These spawn the real binary (`CARGO_BIN_EXE_cyclades`), so they live in the host package.
//! The walk through the seed's admin guide is in `admin_guide.rs`.

#[path = "../support/mod.rs"]
mod support;

mod admin_guide;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::*;

#[test]
fn operator_commands_drive_a_running_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &[]);
    ok(served.cli(&["project-create", "--name", "lab"]));
    let created = ok(served.cli(&[
        "user-create",
        "--username",
        "carol",
        "--password",
        "pw-carol",
        "--project",
        "lab",
        "--output-format",
        "json",
    ]));
    let user: serde_json::Value = serde_json::from_str(&created).expect("json");
    assert_eq!(user["name"], "carol");
    assert!(!created.contains("pw-carol"));
    ok(served.cli(&[
        "user-modify",
        "carol",
        "--admin",
        "True",
        "--email",
        "carol@example.org",
    ]));
    ok(served.cli(&[
        "quota-set",
        "--project",
        "lab",
        "--resource",
        "cyclades.ram",
        "--limit",
        "2G",
    ]));

    let csv = ok(served.cli(&[
        "quota-list",
        "--project",
        "lab",
        "--output-format",
        "csv",
        "-o",
        "resource,limit",
        "--filter-by",
        "limit>=2147483648,resource!=cyclades.disk",
    ]));
    assert!(csv.lines().next() == Some("resource,limit"), "{csv}");
    assert!(csv.contains("cyclades.ram,2147483648"), "{csv}");
    assert!(csv.contains("cyclades.total_ram,"), "{csv}");
    assert!(!csv.contains("cyclades.disk"), "{csv}");
    assert!(!csv.contains("cyclades.vm,"), "{csv}");

    let users = ok(served.cli(&[
        "user-list",
        "--no-headers",
        "--output-format",
        "csv",
        "-o",
        "name,admin,email",
        "--filter-by",
        "admin=True",
    ]));
    assert_eq!(
        users.lines().collect::<Vec<_>>(),
        vec!["admin,true,", "carol,true,carol@example.org"],
        "{users}"
    );
    let fields = ok(served.cli(&["quota-list", "--list-fields"]));
    assert!(
        fields.lines().any(|l| l == "unit") && fields.lines().any(|l| l == "project_id"),
        "{fields}"
    );
    let pretty = ok(served.cli(&["project-list"]));
    assert!(pretty.contains("| lab"), "{pretty}");

    // Errors are one line on stderr and a non-zero exit.
    clean_failure(
        &served.cli(&[
            "user-create",
            "--username",
            "carol",
            "--password",
            "pw-carol",
        ]),
        "already exists",
    );
    clean_failure(
        &served.cli(&[
            "quota-set",
            "--project",
            "lab",
            "--resource",
            "cyclades.gpu",
            "--limit",
            "1",
        ]),
        "unknown resource",
    );
    clean_failure(
        &served.cli(&[
            "quota-set",
            "--project",
            "lab",
            "--resource",
            "cyclades.vm",
            "--limit",
            "1G",
        ]),
        "count",
    );
    clean_failure(
        &served.cli(&["quota-list", "--project", "nowhere"]),
        "Project nowhere not found",
    );
    clean_failure(
        &served.cli(&["user-list", "--filter-by", "bogus=1"]),
        "bogus",
    );
    clean_failure(&served.cli(&["user-modify", "carol"]), "nothing to change");

    // Rescue images: create (type guessed from the location), one default, list, move the
    // default, remove.
    let created = ok(served.cli(&[
        "rescue-image-create",
        "--name",
        "sysrescue",
        "--location",
        "https://rescue.example.org/sysrescue.iso",
        "--default",
        "--output-format",
        "json",
    ]));
    let first: serde_json::Value = serde_json::from_str(&created).expect("json");
    assert_eq!(first["location_type"], "http");
    clean_failure(
        &served.cli(&["rescue-image-create", "--location", "b.iso", "--default"]),
        "already a default",
    );
    let second: serde_json::Value = serde_json::from_str(&ok(served.cli(&[
        "rescue-image-create",
        "--location",
        "debian.iso",
        "--target-os-family",
        "linux",
        "--output-format",
        "json",
    ])))
    .expect("json");
    let second_id = second["id"].as_str().expect("id");
    ok(served.cli(&["rescue-image-modify", second_id, "--default", "true"]));
    let listed = ok(served.cli(&[
        "rescue-image-list",
        "--output-format",
        "csv",
        "--no-headers",
        "-o",
        "location,default",
    ]));
    assert_eq!(
        listed.trim(),
        "https://rescue.example.org/sysrescue.iso,false\ndebian.iso,true"
    );
    ok(served.cli(&["rescue-image-remove", first["id"].as_str().expect("id")]));
    let listed = ok(served.cli(&[
        "rescue-image-list",
        "--output-format",
        "csv",
        "--no-headers",
        "-o",
        "name",
    ]));
    assert_eq!(listed.lines().count(), 1, "{listed}");

    // SIGTERM shuts down gracefully, flushing the store; a restart finds everything.
    let out = served.terminate();
    assert!(out.status.success(), "exit after SIGTERM: {}", stderr(&out));
    let served = Served::start(dir.path(), &[]);
    let users = ok(served.cli(&[
        "user-list",
        "--output-format",
        "json",
        "--filter-by",
        "name=carol",
    ]));
    let users: serde_json::Value = serde_json::from_str(&users).expect("json");
    assert_eq!(users[0]["email"], "carol@example.org");
}

#[test]
fn plugin_commands_swap_and_roll_back_the_allocator() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &[]);
    let list = ok(served.cli(&[
        "plugin-list",
        "--output-format",
        "csv",
        "-o",
        "name,kind,state",
        "--filter-by",
        "kind=allocator",
    ]));
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        vec![
            "name,kind,state",
            "alloc-default,allocator,active",
            "alloc-pack,allocator,loaded",
            "alloc-spread,allocator,loaded"
        ],
        "{list}"
    );
    let swapped = ok(served.cli(&["plugin-swap", "allocator", "alloc-pack"]));
    assert!(
        swapped.contains("alloc-pack 0.1.0") && swapped.contains("was alloc-default"),
        "{swapped}"
    );
    let slots = ok(served.cli(&[
        "plugin-slots",
        "--output-format",
        "csv",
        "--no-headers",
        "-o",
        "slot,plugin",
        "--filter-by",
        "slot=allocator",
    ]));
    assert_eq!(slots.trim(), "allocator,alloc-pack");
    clean_failure(
        &served.cli(&["plugin-swap", "allocator", "drbd"]),
        "wrong world",
    );
    ok(served.cli(&["plugin-rollback", "allocator"]));
    clean_failure(
        &served.cli(&["plugin-rollback", "allocator"]),
        "no previous occupant",
    );

    // An operator's plugin from a file: loaded, validated, inspected, made live.
    let evil = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm-plugins/wasm32-wasip2/plugin/fixture_evil.wasm");
    let loaded = ok(served.cli(&[
        "plugin-load",
        evil.to_str().expect("utf8"),
        "--output-format",
        "json",
    ]));
    let loaded: serde_json::Value = serde_json::from_str(&loaded).expect("json");
    assert_eq!(loaded["name"], "fixture-evil");
    let inspect = ok(served.cli(&["plugin-inspect", "fixture-evil"]));
    assert!(
        inspect.contains("deadline_ms") && inspect.contains("loaded"),
        "{inspect}"
    );
    let future = evil.with_file_name("fixture_future_wit.wasm");
    clean_failure(
        &served.cli(&["plugin-load", future.to_str().expect("utf8")]),
        "unsupported WIT version",
    );
    clean_failure(
        &served.cli(&["plugin-load", "/no/such/plugin.wasm"]),
        "cannot read plugin",
    );

    // allocator-test against a snapshot file.
    let snapshot = dir.path().join("backends.json");
    std::fs::write(
        &snapshot,
        r#"{"backends": [{"id": 1, "mem_free_mb": 9000, "mem_total_mb": 16000, "disk_free_mb": 500000, "disk_total_mb": 900000, "cpu_total": 16, "instances": 9, "disk_templates": ["drbd", "plain"]},
                         {"id": 2, "mem_free_mb": 15000, "mem_total_mb": 16000, "disk_free_mb": 800000, "disk_total_mb": 900000, "cpu_total": 16, "instances": 1, "disk_templates": ["drbd", "plain"]}]}"#,
    )
    .expect("write");
    let report = ok(served.cli(&[
        "allocator-test",
        "alloc-pack",
        "--snapshot",
        snapshot.to_str().expect("utf8"),
    ]));
    assert!(
        report.contains("alloc-pack (candidate) vs alloc-default (active) over 2 backends"),
        "{report}"
    );
    assert!(report.contains("| drbd 1 vCPU 1024 MiB 10 GiB"), "{report}");
    ok(served.cli(&["plugin-shadow", "allocator", "alloc-spread"]));
    assert!(ok(served.cli(&["plugin-shadow"])).contains("alloc-spread shadows the allocator"));
    ok(served.cli(&["plugin-shadow", "--off"]));
    assert_eq!(
        ok(served.cli(&["plugin-shadow"])).trim(),
        "no shadow allocator"
    );
}

#[test]
fn serve_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let data = dir.path().join("a");
    let out = serve_once(&[
        "--listen",
        &addr,
        "--data-dir",
        data.to_str().expect("utf8"),
    ]);
    clean_failure(&out, "already in use");

    // Locked data dir: a second server on the same directory.
    let first = Served::start(&data, &[]);
    let out = serve_once(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().expect("utf8"),
    ]);
    clean_failure(&out, "in use by another cyclades process");
    drop(first);

    // Unwritable data dir (below a regular file).
    let file = dir.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let out = serve_once(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        file.join("sub").to_str().expect("utf8"),
    ]);
    clean_failure(&out, "cannot use data directory");

    // A bad key in the config file is named, with its line.
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[server]\nlisten = \"127.0.0.1:0\"\nlissten = 1\n").expect("write");
    let out = serve_once(&["--config", config.to_str().expect("utf8")]);
    clean_failure(&out, "lissten");
    assert!(stderr(&out).contains("line 3"), "{}", stderr(&out));

    // A bad value is named too.
    std::fs::write(&config, "[quota.default_limits]\n\"cyclades.gpus\" = 1\n").expect("write");
    clean_failure(
        &serve_once(&["--config", config.to_str().expect("utf8")]),
        "cyclades.gpus",
    );
}

#[test]
fn config_show_merges_sources_and_redacts_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[server]\nlisten = \"127.0.0.1:9000\"\nregion = \"athens\"\n[security]\nsecret_key = \"file-secret\"\n").expect("write");
    let out = Command::new(BIN)
        .args(["config", "show", "--config"])
        .arg(&config)
        .env("CYCLADES_LISTEN", "127.0.0.1:9100")
        .env("CYCLADES_SECRET_KEY", "env-secret")
        .output()
        .expect("run");
    let shown = ok(out);
    assert!(
        shown.contains("listen = \"127.0.0.1:9100\""),
        "env beats file: {shown}"
    );
    assert!(shown.contains("region = \"athens\""), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        !shown.contains("env-secret") && !shown.contains("file-secret"),
        "secret leaked: {shown}"
    );
    let out = Command::new(BIN)
        .args(["config", "show", "--listen", "127.0.0.1:9200", "--config"])
        .arg(&config)
        .env("CYCLADES_LISTEN", "127.0.0.1:9100")
        .output()
        .expect("run");
    assert!(ok(out).contains("127.0.0.1:9200"), "flag beats env");
}

#[test]
fn backend_commands_drive_a_simulated_cluster() {
    // A standalone simulator process, as an operator would run it, serving HTTPS with a
    // self-signed certificate as Ganeti's RAPI does.
    let state = tempfile::tempdir().expect("tempdir");
    let mut sim = KillOnDrop(
        Command::new(BIN)
            .args([
                "ganeti-sim",
                "--listen",
                "127.0.0.1:0",
                "--nodes",
                "2",
                "--job-latency",
                "0",
                "--password",
                "sim-pw",
                "--tls",
                "--state-dir",
            ])
            .arg(state.path())
            .env("CYCLADES_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ganeti-sim"),
    );
    let mut line = String::new();
    BufReader::new(sim.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("banner");
    let port = line
        .split("https://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("port in banner")
        .to_string();

    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &[]);
    let add = [
        "backend-add",
        "--clustername",
        "127.0.0.1",
        "--port",
        &port,
        "--username",
        "cyclades",
        "--hypervisor",
        "fake",
    ];
    // Without --insecure the self-signed certificate is refused, and the message says how on.
    let refused = served.cli(&[&add[..], &["--password", "sim-pw"]].concat());
    clean_failure(&refused, "--insecure");
    clean_failure(&refused, "certificate");
    let add = [&add[..], &["--insecure"]].concat();
    clean_failure(
        &served.cli(&[&add[..], &["--password", "wrong"]].concat()),
        "refused",
    );
    let added = ok(served.cli(&[&add[..], &["--password", "sim-pw"]].concat()));
    assert!(added.contains("drained"), "{added}");
    let list = ok(served.cli(&[
        "backend-list",
        "--output-format",
        "csv",
        "--no-headers",
        "-o",
        "clustername,drained,mtotal",
    ]));
    assert_eq!(list.trim(), "127.0.0.1,true,65536");
    ok(served.cli(&["backend-modify", "127.0.0.1", "--drained", "False"]));
    ok(served.cli(&["project-create", "--name", "lab"]));
    ok(served.cli(&[
        "project-backend-add",
        "--project",
        "lab",
        "--backend",
        "127.0.0.1",
    ]));
    assert!(ok(served.cli(&["project-backend-list"])).contains("| lab"));
    let status = ok(served.cli(&["backend-update-status"]));
    assert!(status.contains("127.0.0.1"), "{status}");
    // A public network goes onto the cluster; the reconcile commands find it in sync.
    let created = ok(served.cli(&[
        "network-create",
        "--name",
        "pub",
        "--flavor",
        "CUSTOM",
        "--link",
        "br0",
        "--public",
        "--floating-ip-pool",
        "--subnet",
        "203.0.113.0/24",
    ]));
    assert!(created.contains("1:ACTIVE"), "on the backend: {created}");
    let list = ok(served.cli(&[
        "network-list",
        "--output-format",
        "csv",
        "--no-headers",
        "-o",
        "id,name,public",
    ]));
    let (id, rest) = list.trim().split_once(',').expect("csv");
    assert_eq!(rest, "pub,true", "{list}");
    let id = id.to_string();
    let in_sync = ok(served.cli(&["reconcile-networks"]));
    assert!(
        in_sync.contains("No network drift on 1 backend"),
        "{in_sync}"
    );
    assert!(ok(served.cli(&["reconcile-pools"])).contains("No pool drift"));
    assert!(ok(served.cli(&["reconcile-servers", "--fix-unsynced-nics"])).contains("No drift"));
    ok(served.cli(&["network-remove", &id]));
    clean_failure(
        &served.cli(&["backend-modify", "127.0.0.1"]),
        "nothing to change",
    );
    ok(served.cli(&["backend-remove", "127.0.0.1"]));
    assert_eq!(
        ok(served.cli(&["backend-list", "--no-headers", "--output-format", "csv"])).trim(),
        ""
    );
    drop(sim);
}

#[test]
fn service_export_lists_services_and_resources() {
    let out = Command::new(BIN)
        .args([
            "--url",
            "https://cloud.example.org/",
            "service-export-cyclades",
        ])
        .output()
        .expect("run");
    let json: serde_json::Value = serde_json::from_str(&ok(out)).expect("json");
    assert_eq!(
        json["cyclades_compute"]["endpoints"][0]["publicURL"],
        "https://cloud.example.org/compute/v2.0"
    );
    assert_eq!(json["cyclades_plankton"]["type"], "image");
    let resources = json["cyclades_compute"]["resources"]
        .as_array()
        .expect("resources");
    assert_eq!(resources.len(), 8);
    assert!(
        resources
            .iter()
            .any(|r| r["name"] == "cyclades.ram" && r["unit"] == "bytes")
    );
}

#[test]
fn operator_commands_explain_a_missing_server_or_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["--url", "http://127.0.0.1:1", "user-list"])
        .env("CYCLADES_ADMIN_TOKEN", "whatever")
        .output()
        .expect("run");
    clean_failure(&out, "cannot reach cyclades");
    let out = Command::new(BIN)
        .args(["--data-dir"])
        .arg(dir.path())
        .args(["user-list"])
        .env_remove("CYCLADES_ADMIN_TOKEN")
        .output()
        .expect("run");
    clean_failure(&out, "no admin token");
}

/// `[backends] name_prefix` (Synnefo's `BACKEND_PREFIX_ID`): every Ganeti name carries it, and
/// a prefix Ganeti names could not take is refused at start in one line.
#[test]
fn the_ganeti_name_prefix_names_instances_and_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("cyclades.toml");
    std::fs::write(&config, "[backends]\nname_prefix = \"lab-\"\n").expect("config");
    let data = dir.path().join("data");
    let served = Served::start(
        &data,
        &["--demo", "--config", config.to_str().expect("utf-8")],
    );
    let created = ok(served.cli(&[
        "server-create",
        "--name",
        "web1",
        "--user",
        "demo",
        "--flavor",
        "C1R1024D10plain",
        "--image",
        "debian-12",
        "--wait",
        "--output-format",
        "json",
    ]));
    let server: serde_json::Value = serde_json::from_str(&created).expect("json");
    let id = server["id"]
        .as_str()
        .map(str::to_string)
        .or_else(|| server["id"].as_u64().map(|n| n.to_string()))
        .expect("id");
    let inspected = ok(served.cli(&["server-inspect", &id]));
    assert!(inspected.contains(&format!("lab-{id}")), "{inspected}");
    assert!(!inspected.contains(&format!("snf-{id}")), "{inspected}");
    // Nothing to reconcile: the reconciler knows its own instances by the prefix.
    assert!(ok(served.cli(&["reconcile-servers"])).contains("No drift"));
    drop(served);

    std::fs::write(&config, "[backends]\nname_prefix = \"lab_\"\n").expect("config");
    let bad = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .output()
        .expect("run serve");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("backends.name_prefix"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// A child process ended when the test ends, also when it fails half-way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `volume-*` commands against `serve --demo` (Synnefo's snf-manage volume commands): a volume
/// made on a server, listed and inspected with its Ganeti disk, detached, re-attached,
/// removed; a standalone one removed through an operator's helper server (`--helper`).
#[test]
fn volume_commands_drive_volumes_through_ganeti() {
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let json_id = |out: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(out).expect("json");
        v["id"].as_str().expect("id").to_string()
    };
    let server_create = |name: &str| -> String {
        let args = vec![
            "server-create",
            "--name",
            name,
            "--user",
            "demo",
            "--flavor",
            "C1R1024D10ext_archipelago",
            "--image",
            "debian-12",
            "--wait",
            "--output-format",
            "json",
        ];
        json_id(&ok(served.cli(&args)))
    };
    let server = server_create("vm");
    let created = ok(served.cli(&[
        "volume-create",
        "--name",
        "data",
        "--size",
        "2",
        "--user",
        "demo",
        "--server",
        &server,
        "--wait",
        "--output-format",
        "json",
    ]));
    let volume = json_id(&created);
    assert!(created.contains("\"IN_USE\""), "{created}");
    let listed = ok(served.cli(&[
        "volume-list",
        "--server",
        &server,
        "--output-format",
        "csv",
        "--no-headers",
        "-o",
        "id,index,status",
    ]));
    assert_eq!(
        listed.trim(),
        format!("{server},0,IN_USE\n{volume},1,IN_USE"),
        "{listed}"
    );
    let inspected = ok(served.cli(&["volume-inspect", &volume]));
    assert!(
        inspected.contains(&format!("snf-vol-{volume}")),
        "{inspected}"
    );
    assert!(inspected.contains(&format!("snf-{server}")), "{inspected}");
    ok(served.cli(&["volume-modify", &volume, "--name", "renamed"]));
    let detached = ok(served.cli(&["volume-detach", &volume, "--wait"]));
    assert!(detached.contains("AVAILABLE"), "{detached}");
    clean_failure(&served.cli(&["volume-detach", &volume]), "already detached");
    let attached = ok(served.cli(&["volume-attach", &volume, "--server", &server, "--wait"]));
    assert!(attached.contains("IN_USE"), "{attached}");
    clean_failure(&served.cli(&["volume-detach", &server]), "root volume");
    // Removing a disk of a running instance needs hot-plugging, which the demo's fake
    // hypervisor cannot do: refused until the server is stopped.
    clean_failure(
        &served.cli(&["volume-remove", &volume]),
        "stop the server first",
    );
    ok(served.cli(&["server-modify", &server, "--action", "stop", "--wait"]));
    let removed = ok(served.cli(&["volume-remove", &volume, "--wait"]));
    assert!(removed.contains("DELETED"), "{removed}");

    // A detached volume with data needs a stopped helper server to be deleted.
    let standalone = json_id(&ok(served.cli(&[
        "volume-create",
        "--name",
        "spare",
        "--size",
        "1",
        "--user",
        "demo",
        "--server",
        &server,
        "--wait",
        "--output-format",
        "json",
    ])));
    ok(served.cli(&["volume-detach", &standalone, "--wait"]));
    clean_failure(
        &served.cli(&["volume-remove", &standalone]),
        "helper server",
    );
    // helper-servers-sync makes one and stops it; a second run has nothing to do.
    let sync = [
        "helper-servers-sync",
        "--user",
        "admin",
        "--flavor",
        "C1R1024D10ext_archipelago",
        "--image",
        "debian-12",
        "--output-format",
        "json",
    ];
    let first: serde_json::Value = serde_json::from_str(&ok(served.cli(&sync))).expect("json");
    assert_eq!(first[0]["helpers"], 1, "{first}");
    assert_eq!(
        first[0]["created"].as_array().map(Vec::len),
        Some(1),
        "{first}"
    );
    assert_eq!(first[0]["stopped"], first[0]["created"], "{first}");
    let second: serde_json::Value = serde_json::from_str(&ok(served.cli(&sync))).expect("json");
    assert_eq!(second[0]["created"], serde_json::json!([]), "{second}");
    assert_eq!(second[0]["helpers"], 1, "{second}");
    let helper = first[0]["created"][0]
        .as_str()
        .expect("helper id")
        .to_string();
    let shown = ok(served.cli(&["server-inspect", &helper, "--output-format", "json"]));
    assert!(shown.contains("\"helper\": true"), "{shown}");
    let removed = ok(served.cli(&["volume-remove", &standalone, "--wait"]));
    assert!(removed.contains("DELETED"), "{removed}");
    let deleted = ok(served.cli(&[
        "volume-list",
        "--deleted",
        "--output-format",
        "csv",
        "--no-headers",
        "-o",
        "id",
    ]));
    assert!(deleted.contains(&standalone), "{deleted}");
}

/// What snf-image runs as its `PROGRESS_MONITOR`: stdin lines in, one POST each; a host that
/// refuses a message or a line that is not one never fails the deployment (exit 0), and the
/// progress URL comes from `OSP_CONFIG_URL` when `--progress-url` is absent.
#[test]
fn progress_monitor_forwards_stdin_and_never_fails_the_deployment() {
    use std::io::Write;
    let run = |args: &[&str], env: Option<(&str, String)>, input: &str| {
        let mut command = Command::new(BIN);
        command
            .arg("progress-monitor")
            .args(args)
            .env_remove("OSP_CONFIG_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((k, v)) = env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
        child.wait_with_output().expect("wait")
    };
    clean_failure(&run(&["snf-1"], None, ""), "OSP_CONFIG_URL");

    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &[]);
    // A key no server has: the host answers 404 to each message; the monitor goes on.
    let config_url = format!("{}/vmapi/v1.0/server-params/abc", served.url);
    let input = "{\"type\":\"image-info\",\"messages\":\"hi\"}\nnot json\n\n{\"type\":\"image-copy-progress\",\"progress\":5}\n";
    let out = run(&["snf-1"], Some(("OSP_CONFIG_URL", config_url)), input);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("snf-1: 0 sent, 1 malformed, 2 refused"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("HTTP 404"), "{}", stderr(&out));
    // Nothing listens: reported, still exit 0.
    let out = run(
        &[
            "snf-1",
            "--progress-url",
            "http://127.0.0.1:9/vmapi/v1.0/server-progress/x",
        ],
        None,
        "{\"type\":\"image-info\"}\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
}
