//! Three `cyclades serve` replicas on one PostgreSQL database, as an operator runs them: 200
//! server creates spread over them, one replica killed with `kill -9` half-way and restarted
//! later. Every accepted server ends ACTIVE or ERROR exactly once, Ganeti holds exactly the
//! servers the store does (the reconciler asks the simulator), quota usage equals what exists,
//! no address is handed out twice and no job is left unfinished. Needs PostgreSQL
//! (`scripts/postgres/up.sh`); says it skipped without one.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cyclades::store::testing;
use support::*;

const CREATES: usize = 200;
const LEASE_SECS: u64 = 2;

/// The config of replica `id`: its own id, a short lease, the keys every replica shares.
fn config(dir: &Path, id: &str) -> String {
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(
        &path,
        format!(
            "[security]\nsecret_key = \"replicas-test-shared-secret\"\n\
             [stats]\nsecret_key = \"replicas-test-shared-stats\"\n\
             [store]\nreplica_id = \"{id}\"\nlease_secs = {LEASE_SECS}\n\
             [network]\nforced_server_networks = [\"SNF:ANY_PUBLIC_IPV4\"]\n\
             [backends]\nreconcile_secs = 0\n\
             [demo]\nganeti_nodes = 12\nganeti_queued_secs = 0.05\nganeti_create_secs = 0.4\n\
             ganeti_other_secs = 0.05\n"
        ),
    )
    .expect("config");
    path.to_str().expect("utf-8").to_string()
}

fn start(dir: &Path, id: &str, db: &str, demo: bool) -> Served {
    let data = dir.join(id);
    let cfg = config(dir, id);
    let mut args = vec!["--store-url", db, "--config", &cfg];
    if demo {
        args.push("--demo");
    }
    Served::start(&data, &args)
}

fn json(out: std::process::Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).expect("json output")
}

/// Creates `names` through `replica`, switching to `fallback` (the load balancer's next
/// address) once it stops answering. Returns the names whose create was accepted.
fn create_all(replica: &Served, fallback: &Served, names: &[String]) -> Vec<String> {
    let mut accepted = Vec::new();
    let mut target = replica;
    for name in names {
        let create = |on: &Served| {
            on.cli(&[
                "server-create",
                "--name",
                name,
                "--user",
                "demo",
                "--flavor",
                "C1R1024D10plain",
                "--image",
                "debian-12",
            ])
        };
        let out = create(target);
        if out.status.success() {
            accepted.push(name.clone());
        } else if std::ptr::eq(target, replica) {
            // The replica died under this request: it may or may not have been accepted; the
            // client moves on to the next replica with the next server.
            target = fallback;
        } else {
            panic!("create failed on a live replica: {}", stderr(&out));
        }
    }
    accepted
}

#[test]
fn three_replicas_survive_a_kill_9_without_losing_or_duplicating_anything() {
    let Some(server) = testing::postgres_or_skip(
        "three_replicas_survive_a_kill_9_without_losing_or_duplicating_anything",
    ) else {
        return;
    };
    let db = testing::fresh_database(&server).expect("database");
    let dir = tempfile::tempdir().expect("tempdir");
    // r1 seeds the demo (users, flavors, the image, the public network) and runs the
    // simulated Ganeti cluster every replica drives; r2 and r3 join it.
    let r1 = start(dir.path(), "r1", &db, true);
    let r2 = start(dir.path(), "r2", &db, false);
    let r3 = start(dir.path(), "r3", &db, false);
    for (resource, limit) in [
        ("cyclades.vm", "1000"),
        ("cyclades.cpu", "1000"),
        ("cyclades.total_cpu", "1000"),
        ("cyclades.ram", "100T"),
        ("cyclades.total_ram", "100T"),
        ("cyclades.disk", "100T"),
    ] {
        ok(r1.cli(&[
            "quota-set",
            "--project",
            "demo",
            "--resource",
            resource,
            "--limit",
            limit,
        ]));
    }
    let replicas = json(r2.cli(&["replica-list", "--output-format", "json"]));
    let ids: BTreeSet<&str> = replicas
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["alive"] == true)
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, BTreeSet::from(["r1", "r2", "r3"]), "{replicas}");

    let names: Vec<String> = (0..CREATES).map(|i| format!("vm-{i:03}")).collect();
    let thirds: Vec<&[String]> = names.chunks(CREATES.div_ceil(3)).collect();
    let accepted = Mutex::new(Vec::new());
    let r2 = Mutex::new(Some(r2));
    let killed_at = Mutex::new(None);
    let started = Instant::now();
    let mut propagation = Vec::new();
    std::thread::scope(|scope| {
        // Meanwhile the operator swaps the allocator on r3, back and forth: r1 serves each
        // choice within a second and no create fails. alloc-headroom is one of r1's demo
        // plugins that r3 never loaded from a file: it has it from the store.
        let swaps = scope.spawn(|| {
            let mut took = Vec::new();
            for plugin in [
                "alloc-spread",
                "alloc-headroom",
                "alloc-pack",
                "alloc-default",
            ]
            .iter()
            .cycle()
            .take(8)
            {
                ok(r3.cli(&["plugin-swap", "allocator", plugin]));
                let swapped = Instant::now();
                loop {
                    let slots = ok(r1.cli(&[
                        "plugin-slots",
                        "--output-format",
                        "csv",
                        "--no-headers",
                        "-o",
                        "slot,plugin",
                        "--filter-by",
                        "slot=allocator",
                    ]));
                    if slots.trim() == format!("allocator,{plugin}") {
                        break;
                    }
                    assert!(
                        swapped.elapsed() < Duration::from_secs(1),
                        "r1 still serves {slots}"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                took.push(swapped.elapsed());
                std::thread::sleep(Duration::from_millis(300));
            }
            took
        });
        scope.spawn(|| {
            let got = create_all(&r1, &r3, thirds[0]);
            accepted.lock().unwrap().extend(got);
        });
        scope.spawn(|| {
            let got = create_all(&r3, &r1, thirds[2]);
            accepted.lock().unwrap().extend(got);
        });
        scope.spawn(|| {
            // r2 creates half its share, then dies mid-way with its jobs in flight.
            let (before, after) = thirds[1].split_at(thirds[1].len() / 2);
            let mut got = {
                let guard = r2.lock().unwrap();
                create_all(guard.as_ref().expect("r2"), &r1, before)
            };
            let mut victim = r2.lock().unwrap().take().expect("r2");
            victim.child.kill().expect("kill -9 r2");
            let _ = victim.child.wait();
            *killed_at.lock().unwrap() = Some(Instant::now());
            // Its last create's job is still in flight, leased to the dead replica.
            let replicas = json(r1.cli(&["replica-list", "--output-format", "json"]));
            let r2_owned = replicas
                .as_array()
                .expect("rows")
                .iter()
                .find(|r| r["id"] == "r2")
                .and_then(|r| r["jobs_owned"].as_u64())
                .unwrap_or(0);
            assert!(r2_owned > 0, "r2 died with jobs in flight: {replicas}");
            eprintln!("r2 killed owning {r2_owned} unfinished jobs");
            got.extend(create_all(&r1, &r3, after));
            accepted.lock().unwrap().extend(got);
        });
        propagation = swaps.join().expect("swaps");
    });
    eprintln!(
        "allocator swaps on r3 served by r1 after at most {:?} (each, with the CLI's round trips)",
        propagation.iter().max()
    );
    let accepted = accepted.into_inner().unwrap();
    eprintln!(
        "{} creates accepted in {:.1} s over three replicas, one killed",
        accepted.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(accepted.len() >= CREATES - 1, "{}", accepted.len());

    // Without r2, the others take its jobs over once their leases lapse.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let unfinished = json(r1.cli(&["job-list", "--unfinished", "--output-format", "json"]));
        if unfinished.as_array().is_some_and(|a| a.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs left unfinished: {unfinished}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let killed_at = killed_at.into_inner().unwrap().expect("r2 was killed");
    eprintln!(
        "no job unfinished {:.1} s after the kill (creates went on meanwhile; lease {LEASE_SECS} s)",
        killed_at.elapsed().as_secs_f64()
    );
    // r2 comes back under its id and serves.
    let r2 = start(dir.path(), "r2", &db, false);

    let servers = json(r2.cli(&["server-list", "--output-format", "json"]));
    let servers = servers.as_array().expect("rows");
    let mut seen = BTreeSet::new();
    for s in servers {
        let name = s["name"].as_str().expect("name").to_string();
        assert!(seen.insert(name.clone()), "server {name} exists twice");
        let status = s["status"].as_str().unwrap_or_default();
        assert!(
            status == "ACTIVE" || status == "ERROR",
            "{name} ended {status}: {s}"
        );
    }
    for name in &accepted {
        assert!(seen.contains(name), "accepted server {name} is missing");
    }
    let active = servers.iter().filter(|s| s["status"] == "ACTIVE").count();
    assert!(
        active >= accepted.len() - 1,
        "{active} ACTIVE of {}",
        accepted.len()
    );
    // Ganeti holds exactly the servers the store does (no duplicate, no orphan instance).
    let drift = ok(r3.cli(&["reconcile-servers"]));
    assert!(drift.contains("No drift"), "{drift}");
    // Quota usage equals what exists; no commission left pending.
    let quota = ok(r3.cli(&["reconcile-resources"]));
    assert!(
        !quota.contains("demo"),
        "quota usage differs from the servers: {quota}"
    );
    let commissions = json(r3.cli(&["reconcile-commissions", "--output-format", "json"]));
    assert!(
        commissions.as_array().is_some_and(|a| a.is_empty()),
        "{commissions}"
    );
    // Each address once: the public pool's ports hold distinct addresses.
    let ports = json(r1.cli(&["port-list", "--output-format", "json"]));
    let mut addresses = BTreeSet::new();
    for p in ports.as_array().expect("rows") {
        let listed: Vec<String> = match &p["fixed_ips"] {
            serde_json::Value::Array(ips) => ips
                .iter()
                .map(|ip| {
                    ip["ip_address"]
                        .as_str()
                        .or(ip.as_str())
                        .unwrap_or_default()
                        .to_string()
                })
                .collect(),
            serde_json::Value::String(text) => {
                text.split(',').map(|a| a.trim().to_string()).collect()
            }
            _ => vec![],
        };
        for address in listed.into_iter().filter(|a| !a.is_empty()) {
            assert!(
                addresses.insert(address.clone()),
                "{address} handed out twice"
            );
        }
    }
    assert!(addresses.len() >= active, "{} addresses", addresses.len());
    let replicas = json(r1.cli(&["replica-list", "--output-format", "json"]));
    let owned: u64 = replicas
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["jobs_owned"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(owned, 0, "{replicas}");
    drop(r1);
    drop(r3);
    drop(r2);
}
