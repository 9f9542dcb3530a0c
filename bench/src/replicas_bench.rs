//! What sharing the store between replicas costs and how fast they recover, on PostgreSQL: the
//! lease fence on every job-log write (against the same write unfenced), the heartbeat
//! (renewing 1,000 leases and looking for lapsed ones), and failover (a replica dies with 50
//! jobs in flight; another resumes them once their lease lapses).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cyclades::backend::sim::Latency;
use cyclades::clock::Timestamp;
use cyclades::jobs::JobEngine;
use cyclades::plugins::PluginHost;
use cyclades::store::{Batch, JobEvent, JobEventKind, JobRecord, JobState, PgOptions, Store};

use crate::jobs_bench::{finish_all, ms, submit_with, world_on};

/// `n` engines over `engine`'s store, as replicas `r0`, `r1`, … (the first is `engine`).
pub(crate) fn replicas(engine: &JobEngine, n: usize) -> Vec<JobEngine> {
    let mut out = vec![engine.clone()];
    for i in 1..n {
        let mut env = engine.env().clone();
        env.settings.replica = format!("r{i}");
        out.push(JobEngine::new(env));
    }
    out
}

fn job(id: u64) -> JobRecord {
    JobRecord {
        id,
        kind: "server.create".into(),
        target: format!("server/{id}"),
        params: serde_json::Value::Null,
        state: JobState::Running,
        fault: None,
        failed_step: None,
        created: Timestamp::now(),
        updated: Timestamp::now(),
        finished: None,
        generation: 1,
    }
}

fn event(seq: u64) -> JobEvent {
    JobEvent {
        seq,
        at: Timestamp::now(),
        step: "allocate_backend".into(),
        kind: JobEventKind::Started,
    }
}

/// Median of `rounds` timings of `f`.
fn median(rounds: usize, mut f: impl FnMut()) -> Duration {
    let mut took: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    took.sort();
    took[took.len() / 2]
}

fn lease_costs(server: &str) {
    println!("## The lease on PostgreSQL: the fence on every log write, and the heartbeat\n");
    let url = cyclades::store::testing::fresh_database(server).expect("database");
    let store = Store::open_postgres(&PgOptions::new(url)).expect("store");
    let lease_ms = 10_000;
    let mut batch = Batch::new();
    batch.insert_job(&job(1));
    batch.insert_job_lease(1, "r", store.now_ms() + lease_ms);
    store.commit(&batch).expect("job");
    let rounds = 2000;
    let mut seq = 0;
    // Interleaved, so drift on this noisy machine hits both alike.
    let (mut plain, mut fenced) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for fence in [false, true] {
            let mut b = Batch::new();
            b.append_event(1, &event(seq));
            if fence {
                b.fence_job(1, "r", 1);
            }
            seq += 1;
            let t = Instant::now();
            store.commit(&b).expect("write");
            if fence {
                fenced.push(t.elapsed());
            } else {
                plain.push(t.elapsed());
            }
        }
    }
    plain.sort();
    fenced.sort();
    let (p, f) = (plain[rounds / 2], fenced[rounds / 2]);
    println!("| log write | median | vs unfenced |");
    println!("|---|---|---|");
    println!(
        "| unfenced (baseline) | {:.0} µs | 1.00× |",
        p.as_secs_f64() * 1e6
    );
    println!(
        "| fenced by (owner, attempt) | {:.0} µs | {:.2}× |\n",
        f.as_secs_f64() * 1e6,
        f.as_secs_f64() / p.as_secs_f64()
    );

    let mut batch = Batch::new();
    for id in 2..1002 {
        batch.insert_job(&job(id));
        batch.insert_job_lease(id, "r", store.now_ms() + lease_ms);
    }
    store.commit(&batch).expect("jobs");
    let ttl = Duration::from_millis(lease_ms as u64);
    let renew = median(21, || {
        store.job_leases_renew("r", ttl).expect("renew");
    });
    let claim = median(21, || {
        store.job_leases_claim("r", ttl, 32, false).expect("claim");
    });
    let point = median(21, || {
        store.ping().expect("ping");
    });
    println!("| heartbeat part (1,001 leases held) | median | per lease | vs one round trip |");
    println!("|---|---|---|---|");
    println!(
        "| one round trip (`SELECT 1`, baseline) | {} | | 1.0× |",
        ms(point)
    );
    for (what, d) in [("renew all", renew), ("claim lapsed (none)", claim)] {
        println!(
            "| {what} | {} | {:.1} µs | {:.1}× |",
            ms(d),
            d.as_secs_f64() * 1e6 / 1001.0,
            d.as_secs_f64() / point.as_secs_f64()
        );
    }
    println!("\nA heartbeat runs every third of `lease_secs` (10 s by default: every 3.3 s).\n");
}

async fn failover(plugins: Arc<PluginHost>, server: &str) {
    println!("## Failover: a replica dies with 50 create jobs in flight\n");
    let url = cyclades::store::testing::fresh_database(server).expect("database");
    let w = world_on(Latency::zero(), plugins, Some(url)).await;
    let lease = Duration::from_secs(2);
    let mut env = w.engine.env().clone();
    env.settings.replica = "dying".into();
    env.settings.lease = lease;
    let dying = JobEngine::new(env.clone());
    dying.crash_after_writes(Some(0));
    let mut jobs = Vec::new();
    for _ in 0..50 {
        jobs.push(submit_with(&w, &dying).await);
    }
    let killed = Instant::now();
    env.settings.replica = "survivor".into();
    let survivor = JobEngine::new(env);
    let heartbeat = survivor.start_heartbeat();
    let first = loop {
        if jobs
            .iter()
            .any(|j| w.store.job_log(*j).is_ok_and(|l| !l.is_empty()))
        {
            break killed.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    finish_all(&w, &jobs).await;
    let all = killed.elapsed();
    heartbeat.abort();
    println!("| lease | first job resumed after the death | all 50 finished | target |");
    println!("|---|---|---|---|");
    println!(
        "| {} | **{}** | {} | ≤ lease + 2 s = {} |\n",
        ms(lease),
        ms(first),
        ms(all),
        ms(lease + Duration::from_secs(2))
    );
}

pub async fn run(plugins: Arc<PluginHost>, server: &str) {
    lease_costs(server);
    failover(plugins, server).await;
}
