//! Process-level tests of the `cyclades` binary: `serve` start-up errors, signals, the operator
//! commands against a running server, and the real `openstack` CLI against `serve --demo`.
//!
//! These spawn the real binary (`CARGO_BIN_EXE_cyclades`), so they live in the host package.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_cyclades");

/// A `cyclades serve` child process, killed on drop.
struct Served {
    child: Child,
    url: String,
    banner: Vec<String>,
    dir: PathBuf,
}

impl Served {
    /// Starts `serve` on a free port over `dir`, and waits for the banner to end.
    fn start(dir: &Path, extra: &[&str]) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("CYCLADES_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cyclades serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let demo = extra.contains(&"--demo");
        let mut banner = Vec::new();
        loop {
            let line = match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().expect("output");
                    panic!(
                        "server did not start: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            };
            banner.push(line.clone());
            let done = if demo {
                line.starts_with("Operator commands:")
            } else {
                line.starts_with("  admin API")
            };
            if done {
                break;
            }
        }
        let url = banner[0]
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("url in banner")
            .to_string();
        Served {
            child,
            url,
            banner,
            dir: dir.to_path_buf(),
        }
    }

    /// Runs an operator command against this server.
    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(["--url", &self.url, "--data-dir"])
            .arg(&self.dir)
            .args(args)
            .env_remove("CYCLADES_ADMIN_TOKEN")
            .output()
            .expect("run cyclades")
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn terminate(mut self) -> Output {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let child = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().expect("placeholder"),
        );
        child.wait_with_output().expect("wait")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Asserts a clean failure: non-zero exit, one `error:` line containing `expected`, no panic.
#[track_caller]
fn clean_failure(o: &Output, expected: &str) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{err}");
    assert!(
        error_lines[0].contains(expected),
        "expected '{expected}' in: {err}"
    );
}

fn serve_once(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("serve")
        .args(args)
        .env("CYCLADES_LOG", "warn")
        .output()
        .expect("run serve")
}

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
    // A standalone simulator process, as an operator would run it.
    let state = tempfile::tempdir().expect("tempdir");
    let mut sim = Command::new(BIN)
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
            "--state-dir",
        ])
        .arg(state.path())
        .env("CYCLADES_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ganeti-sim");
    let mut line = String::new();
    BufReader::new(sim.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("banner");
    let port = line
        .split("http://127.0.0.1:")
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
        "--http",
    ];
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
    clean_failure(
        &served.cli(&["backend-modify", "127.0.0.1"]),
        "nothing to change",
    );
    ok(served.cli(&["backend-remove", "127.0.0.1"]));
    assert_eq!(
        ok(served.cli(&["backend-list", "--no-headers", "--output-format", "csv"])).trim(),
        ""
    );
    let _ = sim.kill();
    let _ = sim.wait();
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

/// Finds the `openstack` CLI: `CYCLADES_OPENSTACK_CLI`, else `openstack` on PATH.
fn openstack_cli() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CYCLADES_OPENSTACK_CLI") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("openstack"))
            .find(|p| p.is_file())
    })
}

#[test]
fn openstack_token_issue_against_serve_demo() {
    let Some(openstack) = openstack_cli() else {
        assert!(
            std::env::var_os("CYCLADES_REQUIRE_E2E").is_none(),
            "CYCLADES_REQUIRE_E2E is set but no openstack CLI was found (set CYCLADES_OPENSTACK_CLI)"
        );
        eprintln!(
            "SKIPPED openstack_token_issue_against_serve_demo: no openstack CLI (pip install python-openstackclient, or set CYCLADES_OPENSTACK_CLI)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let exports: Vec<(String, String)> = served
        .banner
        .iter()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(
        exports
            .iter()
            .any(|(k, v)| k == "OS_USERNAME" && v == "demo"),
        "{:?}",
        served.banner
    );
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&openstack);
        cmd.args(args);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OS_")) {
            cmd.env_remove(k);
        }
        cmd.envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.output().expect("run openstack")
    };
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
    let Some(openstack) = openstack_cli() else {
        assert!(
            std::env::var_os("CYCLADES_REQUIRE_E2E").is_none(),
            "CYCLADES_REQUIRE_E2E is set but no openstack CLI was found (set CYCLADES_OPENSTACK_CLI)"
        );
        eprintln!("SKIPPED openstack_server_lifecycle_against_serve_demo: no openstack CLI");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(dir.path(), &["--demo"]);
    let exports: Vec<(String, String)> = served
        .banner
        .iter()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&openstack);
        cmd.args(args);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OS_")) {
            cmd.env_remove(k);
        }
        cmd.envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.output().expect("run openstack")
    };
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let text = ok(run(&all));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    };
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
    ok(run(&["server", "stop", &id]));
    status("STOPPED");
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
            && resized["status"] == "STOPPED"
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
    ok(run(&["server", "delete", &id]));
    status("DELETED");
    let after = json(&["server", "list"]);
    assert_eq!(after, serde_json::json!([]), "{after}");
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
    assert!(
        servers.iter().all(|s| s["status"] == "ACTIVE"),
        "{servers:?}"
    );
    let jobs: Vec<serde_json::Value> =
        serde_json::from_str(&ok(served.cli(&["job-list", "--output-format", "json"])))
            .expect("jobs");
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
