//! Compute API benchmarks over real HTTP against `serve --demo` with a zero-latency simulated
//! cluster: 1,000 server creates until all are ACTIVE; `GET /servers/detail` with 10,000 servers
//! against an axum handler returning the same bytes from memory; `changes-since` when 10 of
//! 10,000 changed, against the full listing; and the process RSS.

use std::time::{Duration, Instant};

use cyclades::config::Config;
use cyclades::server::{self, ServerOptions};
use cyclades::store::{Batch, Store};
use serde_json::{Value, json};

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn rss_mib() -> f64 {
    proc_mib("self", "VmRSS:")
}

/// A memory figure (`VmRSS:`, `VmHWM:`) of a process (`self` or a pid) from /proc, in MiB.
fn proc_mib(process: &str, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{process}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One authenticated GET, its body read whole.
async fn get_bytes(http: &reqwest::Client, url: &str, token: &str) -> axum::body::Bytes {
    http.get(url)
        .header("X-Auth-Token", token)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("body")
}

fn config(dir: &std::path::Path, cache: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().expect("addr");
    c.server.data_dir = dir.to_path_buf();
    c.plugins.cache_dir = Some(cache.to_path_buf());
    c.demo.ganeti_queued_secs = 0.0;
    c.demo.ganeti_create_secs = 0.0;
    c.demo.ganeti_other_secs = 0.0;
    c.demo.ganeti_nodes = 64;
    c.backends.reconcile_secs = 0;
    for r in cyclades::resources::SERVER_RESOURCES {
        c.quota.default_limits.insert(r.into(), i64::MAX / 4);
    }
    c
}

async fn token(http: &reqwest::Client, url: &str) -> String {
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "password": "demo", "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}});
    let r = http
        .post(format!("{url}/identity/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .expect("login");
    r.headers()["x-subject-token"]
        .to_str()
        .expect("token")
        .to_string()
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    http.get(url)
        .header("X-Auth-Token", token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

pub async fn run(cache: &std::path::Path) {
    let dir = tempfile::tempdir().expect("tmp");
    let running = server::start(ServerOptions {
        config: config(dir.path(), cache),
        demo: true,
    })
    .await
    .expect("server");
    let url = running.public_url.clone();
    let http = reqwest::Client::new();
    let tok = token(&http, &url).await;
    let images = get_json(&http, &format!("{url}/image/v2/images"), &tok).await;
    let image = images["images"][0]["id"]
        .as_str()
        .expect("image")
        .to_string();
    let flavors = get_json(&http, &format!("{url}/compute/v2.0/flavors"), &tok).await;
    let flavor = flavors["flavors"]
        .as_array()
        .expect("flavors")
        .iter()
        .find(|f| f["name"] == "C1R1024D10plain")
        .and_then(|f| f["id"].as_str())
        .expect("flavor")
        .to_string();

    println!("## 1,000 server creates through the HTTP API (zero-latency simulated Ganeti)\n");
    const N: usize = 1000;
    const CONCURRENCY: usize = 8;
    let t = Instant::now();
    let mut handles = Vec::new();
    for worker in 0..CONCURRENCY {
        let (http, url, tok, image, flavor) = (
            http.clone(),
            url.clone(),
            tok.clone(),
            image.clone(),
            flavor.clone(),
        );
        handles.push(tokio::spawn(async move {
            for i in (worker..N).step_by(CONCURRENCY) {
                let r = http
                    .post(format!("{url}/compute/v2.0/servers"))
                    .header("X-Auth-Token", &tok)
                    .json(&json!({"server": {"name": format!("b{i}"), "imageRef": image, "flavorRef": flavor}}))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status().as_u16(), 202, "{}", r.text().await.unwrap_or_default());
            }
        }));
    }
    for h in handles {
        h.await.expect("worker");
    }
    let accepted = t.elapsed();
    loop {
        let list = get_json(
            &http,
            &format!("{url}/compute/v2.0/servers/detail?status=ACTIVE"),
            &tok,
        )
        .await;
        if list["servers"].as_array().map(Vec::len) == Some(N) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_active = t.elapsed();
    // Baseline for the non-job part: the same number of authenticated requests that do no work.
    let bt = Instant::now();
    let mut handles = Vec::new();
    for worker in 0..CONCURRENCY {
        let (http, url, tok) = (http.clone(), url.clone(), tok.clone());
        handles.push(tokio::spawn(async move {
            for _ in (worker..N).step_by(CONCURRENCY) {
                http.get(format!("{url}/compute/v2.0/extensions"))
                    .header("X-Auth-Token", &tok)
                    .send()
                    .await
                    .expect("get");
            }
        }));
    }
    for h in handles {
        h.await.expect("worker");
    }
    let baseline = bt.elapsed();
    println!(
        "| creates | all 202 | all ACTIVE | creates/s to ACTIVE | same number of no-op authenticated requests |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {N} ({CONCURRENCY} clients) | {} | {} | **{:.0}** | {} |\n",
        ms(accepted),
        ms(all_active),
        N as f64 / all_active.as_secs_f64(),
        ms(baseline)
    );

    // Grow to 10,000 servers: copy the created records directly into the store, offline.
    let sample = {
        let list = get_json(&http, &format!("{url}/compute/v2.0/servers/detail"), &tok).await;
        list["servers"][0]["id"]
            .as_str()
            .expect("id")
            .parse::<u64>()
            .expect("int")
    };
    running.shutdown().await.expect("shutdown");
    {
        let store = Store::open(dir.path()).expect("store");
        let template = store.server_get(sample).expect("server");
        for i in N..10_000 {
            let mut s = template.clone();
            s.id = store.generate_id().expect("id");
            s.name = format!("b{i}");
            let mut batch = Batch::new();
            batch.insert_server(&s);
            store.commit(&batch).expect("insert");
        }
        store.flush_blocking().expect("flush");
    }
    let running = server::start(ServerOptions {
        config: config(dir.path(), cache),
        demo: true,
    })
    .await
    .expect("server");
    let url = running.public_url.clone();
    let tok = token(&http, &url).await;

    println!("## GET /servers/detail with 10,000 servers\n");
    let detail_url = format!("{url}/compute/v2.0/servers/detail");
    let body = get_bytes(&http, &detail_url, &tok).await;
    // Counted without building a JSON tree: the client shares this process and its RSS.
    #[derive(serde::Deserialize)]
    struct Listing {
        servers: Vec<serde::de::IgnoredAny>,
    }
    let count = serde_json::from_slice::<Listing>(&body)
        .expect("json")
        .servers
        .len();
    assert_eq!(count, 10_000);
    // BENCH_DETAIL_ROUNDS raises the count for `perf record`.
    let rounds: u32 = std::env::var("BENCH_DETAIL_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let t = Instant::now();
    for _ in 0..rounds {
        let b = get_bytes(&http, &detail_url, &tok).await;
        assert_eq!(b.len(), body.len());
    }
    let ours = t.elapsed() / rounds;
    // Baseline: axum serving the same bytes from memory.
    let fixed = body.clone();
    let app = axum::Router::new().route(
        "/detail",
        axum::routing::get(move || {
            let b = fixed.clone();
            async move { b }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    let t = Instant::now();
    for _ in 0..rounds {
        http.get(format!("http://{addr}/detail"))
            .send()
            .await
            .expect("get")
            .bytes()
            .await
            .expect("body");
    }
    let base = t.elapsed() / rounds;
    println!(
        "| servers | body | ours (mean of {rounds}) | axum, same bytes from memory | ours as % of baseline throughput | RSS of the process |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| 10,000 | {:.1} MiB | {} | {} | {:.1} % | {:.0} MiB |\n",
        body.len() as f64 / 1048576.0,
        ms(ours),
        ms(base),
        100.0 * base.as_secs_f64() / ours.as_secs_f64(),
        rss_mib()
    );

    println!("## changes-since when 10 of 10,000 servers changed\n");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let since = cyclades::clock::Timestamp::now().iso();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let list = get_json(&http, &format!("{url}/compute/v2.0/servers"), &tok).await;
    for s in list["servers"].as_array().expect("list").iter().take(10) {
        let id = s["id"].as_str().expect("id");
        http.put(format!("{url}/compute/v2.0/servers/{id}"))
            .header("X-Auth-Token", &tok)
            .json(&json!({"server": {"name": "changed"}}))
            .send()
            .await
            .expect("rename");
    }
    let since_url = format!("{url}/compute/v2.0/servers/detail?changes-since={since}");
    let changed = get_json(&http, &since_url, &tok).await;
    assert_eq!(changed["servers"].as_array().map(Vec::len), Some(10));
    let t = Instant::now();
    for _ in 0..rounds {
        get_bytes(&http, &since_url, &tok).await;
    }
    let delta = t.elapsed() / rounds;
    println!("| changed | changes-since | full listing | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| 10 of 10,000 | {} | {} | {:.4} |\n",
        ms(delta),
        ms(ours),
        delta.as_secs_f64() / ours.as_secs_f64()
    );
    running.shutdown().await.expect("shutdown");
    separate_process_rss(dir.path(), &http, rounds).await;
}

/// The server's own memory, without this benchmark's client and history in the same process:
/// the release `cyclades` binary serves the same data dir (`serve --demo`, default settings)
/// and answers the same 10,000-server listing; its VmRSS and peak (VmHWM) are read from /proc.
async fn separate_process_rss(dir: &std::path::Path, http: &reqwest::Client, rounds: u32) {
    use std::io::BufRead;
    println!("## The server alone: `cyclades serve --demo` over the same 10,000 servers\n");
    let Some(bin) = std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name("cyclades"))
        .filter(|p| p.is_file())
    else {
        println!(
            "(skipped: no release binary next to this one; run `cargo build --release -p cyclades` first)\n"
        );
        return;
    };
    let mut child = std::process::Command::new(&bin)
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("CYCLADES_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cyclades serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut url = None;
    for line in std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
    {
        if url.is_none() {
            url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_string);
        }
        if line.starts_with("Operator commands:") {
            break;
        }
    }
    let url = url.expect("url in banner");
    let tok = token(http, &url).await;
    let detail_url = format!("{url}/compute/v2.0/servers/detail");
    let mut times = Vec::new();
    for _ in 0..=rounds {
        let t = Instant::now();
        let body = get_bytes(&http, &detail_url, &tok).await;
        times.push(t.elapsed());
        assert!(body.len() > 10_000_000, "a 10,000-server listing");
    }
    let pid = child.id().to_string();
    let first = times.remove(0);
    let warm = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    println!(
        "| first listing (renders every document) | next listings (mean of {rounds}) | server RSS | server peak RSS (VmHWM) |"
    );
    println!("|---|---|---|---|");
    println!(
        "| {} | {} | **{:.0} MiB** | {:.0} MiB |\n",
        ms(first),
        ms(warm),
        proc_mib(&pid, "VmRSS:"),
        proc_mib(&pid, "VmHWM:")
    );
    let _ = child.kill();
    let _ = child.wait();
}
