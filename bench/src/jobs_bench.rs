//! Job engine benchmarks against the RAPI simulator: durable `server.create` jobs per second
//! (zero Ganeti latency) against the bare durability cost; recovery of 1,000 unfinished jobs;
//! and the overhead job tracking adds on top of Ganeti's own job time (real-like latencies).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cyclades::backend::sim::{self, Latency, RunningSim, SimOptions};
use cyclades::config::Config;
use cyclades::jobs::{JobEngine, JobEnv, JobSettings, SERVER_CREATE, ServerCreateParams, testkit};
use cyclades::plugins::{PluginHost, PluginHostOptions};
use cyclades::secrets::Sealer;
use cyclades::store::{BackendResources, Batch, JobEventKind, JobState, Store};

pub(crate) struct World {
    _dir: tempfile::TempDir,
    _sim: RunningSim,
    pub(crate) engine: JobEngine,
    pub(crate) store: Store,
    flavor: u64,
}

async fn world(latency: Latency, plugins: Arc<PluginHost>) -> World {
    world_on(latency, plugins, None).await
}

/// A world whose store is sled (`postgres = None`) or the PostgreSQL database at that URL.
pub(crate) async fn world_on(
    latency: Latency,
    plugins: Arc<PluginHost>,
    postgres: Option<String>,
) -> World {
    let dir = tempfile::tempdir().expect("tmp");
    let sim = sim::start(SimOptions {
        tls: false,
        hypervisor: "fake".into(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        cluster_name: "bench.sim".into(),
        nodes: 64,
        username: "u".into(),
        password: "p".into(),
        state_dir: None,
        latency,
    })
    .await
    .expect("sim");
    let store = match postgres {
        Some(url) => Store::open_postgres(&cyclades::store::PgOptions::new(url)).expect("store"),
        None => Store::open(dir.path()).expect("store"),
    };
    let sealer = Sealer::new("bench");
    let (_, flavor) = testkit::seed(
        &store,
        &testkit::Fixture {
            scheme: "http",
            insecure: false,
            sim_port: sim.addr.port(),
            username: "u",
            password: "p",
            sealer: &sealer,
            resources: BackendResources {
                mfree: 64 * 32768,
                mtotal: 64 * 32768,
                dfree: 64 * 1_024_000,
                dtotal: 64 * 1_024_000,
                ctotal: 512,
                pinst_cnt: 0,
            },
            disk_templates: &["plain"],
            flavor: (1, 512, 1, "plain"),
        },
    )
    .expect("fixture records");
    let mut config = Config::default();
    for r in cyclades::resources::SERVER_RESOURCES {
        config.quota.default_limits.insert(r.into(), i64::MAX / 4);
    }
    let engine = JobEngine::new(JobEnv {
        store: store.clone(),
        plugins,
        sealer,
        config: Arc::new(config),
        settings: JobSettings::default(),
        rapi_pool: Default::default(),
        metrics: Default::default(),
    });
    World {
        _dir: dir,
        _sim: sim,
        engine,
        store,
        flavor,
    }
}

async fn submit(w: &World) -> u64 {
    submit_with(w, &w.engine).await
}

/// Submits one create through `engine` (another replica's engine over the same store).
pub(crate) async fn submit_with(w: &World, engine: &JobEngine) -> u64 {
    let server_id = w.store.generate_id().expect("id");
    let job = w.store.generate_id().expect("id");
    let params = ServerCreateParams {
        server_id,
        name: format!("b{server_id}"),
        user_id: "u".into(),
        project_id: "p".into(),
        flavor_id: w.flavor,
        image_id: testkit::IMAGE_ID.into(),
        image_location: testkit::IMAGE_LOCATION.into(),
        image_format: "diskdump".into(),
        metadata: BTreeMap::new(),
        key_names: vec![],
        backend_id: None,
        config_url: "http://127.0.0.1:1/x".into(),
        nics: vec![],
        helper: false,
        extra_volumes: vec![],
        tags: vec![],
        shared_to_project: false,
        access_ipv4: None,
        access_ipv6: None,
    };
    engine
        .submit(
            &SERVER_CREATE,
            format!("server/{server_id}"),
            serde_json::to_value(params).expect("params"),
            job,
            Batch::new(),
        )
        .await
        .expect("submit");
    job
}

pub(crate) async fn finish_all(w: &World, jobs: &[u64]) {
    for &j in jobs {
        let state =
            match tokio::time::timeout(Duration::from_secs(60), w.engine.wait_finished(j)).await {
                Ok(s) => s.expect("state"),
                Err(_) => panic!(
                    "job {j} did not finish in 60 s: {:?} {:?}",
                    w.store.job_get(j).map(|j| j.state),
                    w.store.job_log(j).map(|l| l
                        .iter()
                        .map(|e| format!("{} {:?}", e.step, e.kind))
                        .collect::<Vec<_>>())
                ),
            };
        assert_eq!(state, JobState::Succeeded, "job {j}");
    }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub async fn run(plugins: Arc<PluginHost>) {
    println!("## Job engine: durable server.create jobs against the simulator (zero latency)\n");
    let n: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let w = world(Latency::zero(), plugins.clone()).await;
    let t = Instant::now();
    let mut jobs = Vec::new();
    for _ in 0..n {
        jobs.push(submit(&w).await);
    }
    finish_all(&w, &jobs).await;
    let took = t.elapsed();
    let events: usize = jobs
        .iter()
        .map(|j| w.store.job_log(*j).map(|l| l.len()).unwrap_or(0))
        .sum();
    // Baseline: the durability alone, one record write + flush per logged event, sequentially.
    let base_dir = tempfile::tempdir().expect("tmp");
    let base = Store::open(base_dir.path()).expect("store");
    let bt = Instant::now();
    for _ in 0..events {
        base.generate_id().expect("id");
        base.flush().await.expect("flush");
    }
    let base_took = bt.elapsed();
    println!(
        "| jobs | wall | jobs/s | log events | flush-only baseline for the same events | ratio |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {n} | {} | **{:.0}** | {events} | {} ({:.0} events/s) | {:.2}× |\n",
        ms(took),
        n as f64 / took.as_secs_f64(),
        ms(base_took),
        events as f64 / base_took.as_secs_f64(),
        took.as_secs_f64() / base_took.as_secs_f64()
    );

    match cyclades::store::testing::postgres_url() {
        Some(server) => {
            println!("## The same creates on sled and on PostgreSQL, side by side\n");
            println!(
                "Three replicas: three job engines with their own replica ids over one store, \
                 submissions round robin (one process: they share its PostgreSQL pool).\n"
            );
            println!(
                "| store | jobs | wall | jobs/s | vs sled | per job: statements / transactions / conflict re-runs |"
            );
            println!("|---|---|---|---|---|---|");
            let mut sled_rate = 0.0;
            for (engine, replicas) in [("sled", 1), ("postgres", 1), ("postgres, 3 replicas", 3)] {
                let url = engine
                    .starts_with("postgres")
                    .then(|| cyclades::store::testing::fresh_database(&server).expect("database"));
                let w = world_on(Latency::zero(), plugins.clone(), url).await;
                let engines = crate::replicas_bench::replicas(&w.engine, replicas);
                let before = cyclades::store::kv::engine_counts();
                let t = Instant::now();
                let mut jobs = Vec::new();
                for i in 0..n {
                    jobs.push(submit_with(&w, &engines[i % replicas]).await);
                }
                finish_all(&w, &jobs).await;
                let rate = n as f64 / t.elapsed().as_secs_f64();
                if engine == "sled" {
                    sled_rate = rate;
                }
                let after = cyclades::store::kv::engine_counts();
                let per_job = |i: usize| {
                    let (a, b) = match i {
                        0 => (after.0, before.0),
                        1 => (after.1, before.1),
                        _ => (after.2, before.2),
                    };
                    (a - b) as f64 / n as f64
                };
                println!(
                    "| {engine} | {n} | {} | **{rate:.0}** | {:.2}× | {:.1} / {:.1} / {:.1} |",
                    ms(t.elapsed()),
                    rate / sled_rate,
                    per_job(0),
                    per_job(1),
                    per_job(2)
                );
            }
            println!();
            crate::replicas_bench::run(plugins.clone(), &server).await;
        }
        None => println!(
            "(sled vs PostgreSQL skipped: export CYCLADES_TEST_POSTGRES_URL from \
             scripts/postgres/up.sh)\n"
        ),
    }

    println!("## Recovery of 1,000 unfinished jobs at start\n");
    let w = world(Latency::zero(), plugins.clone()).await;
    w.engine.crash_after_writes(Some(0));
    let mut jobs = Vec::new();
    for _ in 0..1000 {
        jobs.push(submit(&w).await);
    }
    while !w.engine.running().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let restarted = JobEngine::new(w.engine.env().clone());
    let t = Instant::now();
    let resumed = restarted.recover().expect("recover");
    let scan = t.elapsed();
    let w2 = World {
        engine: restarted,
        ..w
    };
    finish_all(&w2, &jobs).await;
    let drained = t.elapsed();
    println!("| unfinished jobs | scan and resume | all finished (zero-latency Ganeti) |");
    println!("|---|---|---|");
    println!("| {resumed} | {} | {} |\n", ms(scan), ms(drained));

    println!("## Tracking overhead on top of Ganeti's own job time (real-like latencies)\n");
    let w = world(Latency::realistic(), plugins).await;
    let mut overheads = Vec::new();
    for _ in 0..20 {
        let j = submit(&w).await;
        finish_all(&w, &[j]).await;
        let job = w.store.job_get(j).expect("job");
        let log = w.store.job_log(j).expect("log");
        let ganeti = log
            .iter()
            .find_map(|e| match (&e.step[..], &e.kind) {
                ("wait_ganeti_job", JobEventKind::Succeeded { output }) => Some(output.clone()),
                _ => None,
            })
            .expect("ganeti job recorded");
        let ts = |v: &serde_json::Value| {
            v[0].as_f64().unwrap_or(0.0) + v[1].as_f64().unwrap_or(0.0) / 1e6
        };
        let ganeti_secs = ts(&ganeti["end_ts"]) - ts(&ganeti["received_ts"]);
        let ours = (job.finished.expect("finished").0 - job.created.0) as f64 / 1000.0;
        overheads.push((ours - ganeti_secs) * 1000.0);
    }
    overheads.sort_by(|a, b| a.total_cmp(b));
    println!("| jobs | overhead median | overhead max | target |");
    println!("|---|---|---|---|");
    println!(
        "| {} | {:.0} ms | {:.0} ms | ≤ 100 ms |\n",
        overheads.len(),
        overheads[overheads.len() / 2],
        overheads[overheads.len() - 1]
    );
}

pub fn plugin_host(cache: &std::path::Path) -> Arc<PluginHost> {
    let host = PluginHost::new(PluginHostOptions {
        cache_dir: Some(cache.to_path_buf()),
        quarantine_after: 3,
        ..Default::default()
    })
    .expect("host");
    host.load_builtins().expect("builtins");
    Arc::new(host)
}
