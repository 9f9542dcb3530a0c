//! `cargo run --release -p cyclades-bench -- store`: the store's port index. Rendering a server
//! list looks up each server's ports; this times `ports_of_server` (the `ports_by_server`
//! index) against the full scan it replaced (every port decoded, then filtered), on the same
//! sled database in the same run, and reports the ratio.

use std::time::Instant;

use cyclades::clock::Timestamp;
use cyclades::store::{Batch, Port, Store};

const SERVERS: u64 = 500;
const PORTS_PER_SERVER: u64 = 4;

fn port(id: u64, server: u64) -> Port {
    Port {
        id,
        name: String::new(),
        network_id: 1,
        user_id: "u".into(),
        project_id: "p".into(),
        device_id: Some(server),
        mac: Some("aa:00:00:00:00:01".into()),
        ipv4: None,
        floating_ip_id: None,
        status: "ACTIVE".into(),
        firewall_profile: None,
        security_groups: vec![],
        created: Timestamp::now(),
        updated: Timestamp::now(),
        generation: 0,
    }
}

pub fn run() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("store");
    let mut batch = Batch::new();
    for s in 0..SERVERS {
        for p in 0..PORTS_PER_SERVER {
            batch.insert(&port(10_000 + s * PORTS_PER_SERVER + p, s));
        }
    }
    store.commit(&batch).expect("ports");
    println!(
        "## Ports of every server ({SERVERS} servers × {PORTS_PER_SERVER} ports): one server-list render\n"
    );
    // Baseline: the full scan, for every server.
    let t = Instant::now();
    let mut found = 0;
    for s in 0..SERVERS {
        let mut all = store.port_list().expect("ports");
        all.retain(|p| p.device_id == Some(s));
        found += all.len();
    }
    let scan = t.elapsed();
    assert_eq!(found as u64, SERVERS * PORTS_PER_SERVER);
    let t = Instant::now();
    let mut found = 0;
    for s in 0..SERVERS {
        found += store.ports_of_server(s).expect("ports").len();
    }
    let indexed = t.elapsed();
    assert_eq!(found as u64, SERVERS * PORTS_PER_SERVER);
    println!("| lookup | all {SERVERS} servers | per server |");
    println!("|---|---|---|");
    for (name, d) in [
        ("full scan (before)", scan),
        ("ports_by_server index", indexed),
    ] {
        println!(
            "| {name} | {:.1} ms | {:.1} µs |",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e6 / SERVERS as f64
        );
    }
    println!(
        "\nindex is {:.0}× faster than the scan it replaced\n",
        scan.as_secs_f64() / indexed.as_secs_f64()
    );
}
