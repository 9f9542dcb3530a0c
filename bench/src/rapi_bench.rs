//! How soon the end of a Ganeti job is seen: `RapiClient::wait_job` with Ganeti's
//! `/2/jobs/<id>/wait` against the polling baseline, in the same run, alternating job by job,
//! on the real cluster of `scripts/ganeti/up.sh` (`GANETI_RAPI_*` in the environment) and on
//! the simulator with real-like latencies. The delay is the wall clock when `wait_job`
//! returned minus Ganeti's `end_ts` (one machine, one clock).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cyclades::backend::rapi::{RapiClient, RapiConfig};
use cyclades::backend::sim::{self, Latency, SimOptions};
use serde_json::json;

fn client(url: &str, user: &str, password: &str) -> RapiClient {
    RapiClient::new(RapiConfig {
        base_url: url.into(),
        username: user.into(),
        password: password.into(),
        insecure: true,
        timeout: Duration::from_secs(30),
        offline: false,
    })
    .expect("client")
}

/// Milliseconds between `end_ts` and now.
fn seen_after(end_ts: Option<(i64, i64)>) -> f64 {
    let (s, us) = end_ts.expect("end_ts");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    (now - (s as f64 + us as f64 / 1e6)) * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `rounds` network create + delete jobs per mode, alternating; returns (wait, poll) medians.
async fn measure(url: &str, user: &str, password: &str, rounds: u32) -> (f64, f64, f64, f64) {
    let waiting = client(url, user, password);
    let polling = client(url, user, password).polling_only();
    let (mut wait, mut poll) = (Vec::new(), Vec::new());
    let tag = std::process::id() % 10_000;
    for n in 0..rounds {
        for (mode, c) in [(0, &waiting), (1, &polling)] {
            let name = format!("bench-{tag}-{n}-{mode}");
            let body = json!({"network_name": name, "network": format!("10.{}.{}.0/24", 200 + mode, n % 250),
                              "conflicts_check": false, "tags": []});
            let job = c.create_network(body).await.expect("network create");
            let done = c
                .wait_job(job, Duration::from_secs(60))
                .await
                .expect("create job");
            let delay = seen_after(done.end_ts);
            let job = c.delete_network(&name).await.expect("network delete");
            c.wait_job(job, Duration::from_secs(60))
                .await
                .expect("delete job");
            if mode == 0 {
                wait.push(delay)
            } else {
                poll.push(delay)
            }
        }
    }
    assert_eq!(
        waiting.waits_for_job_changes(),
        Some(true),
        "the cluster answers /wait"
    );
    let max = |v: &Vec<f64>| v.iter().cloned().fold(0.0, f64::max);
    (
        median(wait.clone()),
        max(&wait),
        median(poll.clone()),
        max(&poll),
    )
}

pub async fn run() {
    println!("## Seeing a Ganeti job end: `/2/jobs/<id>/wait` against polling\n");
    println!(
        "| cluster | jobs per mode | wait: median / max | polling: median / max | polling ÷ wait (median) |"
    );
    println!("|---|---|---|---|---|");
    let s = sim::start(SimOptions {
        tls: false,
        hypervisor: "fake".into(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        cluster_name: "bench.sim".into(),
        nodes: 1,
        username: "u".into(),
        password: "p".into(),
        state_dir: None,
        latency: Latency {
            queued: 0.2,
            create: 0.75,
            other: 0.25,
        },
    })
    .await
    .expect("simulator");
    let rounds = 10;
    let (w, wmax, p, pmax) = measure(&s.url(), "u", "p", rounds).await;
    println!(
        "| simulator (0.2 s queued, 0.25 s run) | {rounds} | {w:.1} / {wmax:.1} ms | {p:.1} / {pmax:.1} ms | {:.1}× |",
        p / w.max(0.1)
    );
    s.shutdown().await;
    match std::env::var("GANETI_RAPI_URL") {
        Ok(url) => {
            let user = std::env::var("GANETI_RAPI_USER").unwrap_or_else(|_| "cyclades".into());
            let password =
                std::env::var("GANETI_RAPI_PASSWORD").unwrap_or_else(|_| "cyclades".into());
            let (w, wmax, p, pmax) = measure(&url, &user, &password, rounds).await;
            println!(
                "| real Ganeti 3.0 (`scripts/ganeti/up.sh`) | {rounds} | {w:.1} / {wmax:.1} ms | {p:.1} / {pmax:.1} ms | {:.1}× |",
                p / w.max(0.1)
            );
        }
        Err(_) => println!(
            "| real Ganeti 3.0 | skipped: GANETI_RAPI_URL is not set (run scripts/ganeti/up.sh) | | | |"
        ),
    }
    println!();
}
