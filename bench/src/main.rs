//! `cargo run --release -p cyclades-bench`: the plugin platform's benchmarks.
//!
//! Every figure is reported beside a baseline measured in the same run (these 2-core machines
//! are noisy): the allocator through the plugin host against the same policy in native Rust,
//! hot swap under load against the steady-state call time, and plugin loading cold (compile)
//! against warm (on-disk cache).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cyclades::plugins::{
    Backend, BackendFlags, CompileSource, PluginHost, PluginHostOptions, Pool, SlotName,
    TemplateSet, VmRequest, builtin,
};
use cyclades_plugin_sdk::allocator as sdk;

/// The host as `serve` configures it by default (a pool of 64 call slots).
fn host(cache: &std::path::Path) -> PluginHost {
    host_pooled(cache, true)
}

fn host_pooled(cache: &std::path::Path, pooled: bool) -> PluginHost {
    PluginHost::new(PluginHostOptions {
        cache_dir: Some(cache.to_path_buf()),
        quarantine_after: 3,
        pool: pooled.then_some(Pool {
            concurrent_calls: 64,
            max_memory_mib: 64,
        }),
        ..Default::default()
    })
    .expect("plugin host")
}

fn backends(n: u32) -> Vec<Backend> {
    (0..n)
        .map(|i| Backend {
            id: i,
            mem_free_mb: 4096 + u64::from(i * 37 % 60_000),
            mem_total_mb: 65536,
            disk_free_mb: 100_000 + u64::from(i * 7919 % 800_000),
            disk_total_mb: 1_000_000,
            cpu_total: 32,
            instances: i % 40,
            state: if i % 11 == 0 {
                BackendFlags::DRAINED | BackendFlags::PUBLIC
            } else {
                BackendFlags::PUBLIC
            },
            templates: if i % 3 == 0 {
                TemplateSet::PLAIN
            } else {
                TemplateSet::PLAIN | TemplateSet::DRBD
            },
        })
        .collect()
}

fn to_sdk(b: &Backend) -> sdk::Backend {
    let mut state = sdk::BackendFlags::empty();
    for (host_flag, sdk_flag) in [
        (BackendFlags::OFFLINE, sdk::BackendFlags::OFFLINE),
        (BackendFlags::DRAINED, sdk::BackendFlags::DRAINED),
        (BackendFlags::PUBLIC, sdk::BackendFlags::PUBLIC),
        (BackendFlags::DEDICATED, sdk::BackendFlags::DEDICATED),
    ] {
        if b.state.contains(host_flag) {
            state |= sdk_flag;
        }
    }
    let mut templates = sdk::TemplateSet::empty();
    if b.templates.contains(TemplateSet::PLAIN) {
        templates |= sdk::TemplateSet::PLAIN;
    }
    if b.templates.contains(TemplateSet::DRBD) {
        templates |= sdk::TemplateSet::DRBD;
    }
    sdk::Backend {
        id: b.id,
        mem_free_mb: b.mem_free_mb,
        mem_total_mb: b.mem_total_mb,
        disk_free_mb: b.disk_free_mb,
        disk_total_mb: b.disk_total_mb,
        cpu_total: b.cpu_total,
        instances: b.instances,
        state,
        templates,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() * 99 / 100]
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn allocator_calls(cache: &std::path::Path, pooled: bool) {
    let host = host_pooled(cache, pooled);
    host.load_builtins().expect("built-ins");
    let plugin = host.find("alloc-default").expect("alloc-default");
    let request = VmRequest {
        ram_mb: 2048,
        disk_mb: 20_480,
        vcpus: 2,
        template: TemplateSet::DRBD,
        project_has_dedicated: false,
    };
    let sdk_request = sdk::VmRequest {
        ram_mb: request.ram_mb,
        disk_mb: request.disk_mb,
        vcpus: request.vcpus,
        template: sdk::TemplateSet::DRBD,
        project_has_dedicated: false,
    };
    let allocator = if pooled {
        "pooling allocator, the default"
    } else {
        "on-demand allocator, `concurrent_calls = 0`"
    };
    println!(
        "## Allocator call: alloc-default through the host (fresh store per call, {allocator}) vs native Rust\n"
    );
    println!(
        "| backends | host median | host p99 | native median | ratio (median) | same choice |"
    );
    println!("|---|---|---|---|---|---|");
    for n in [50u32, 500] {
        let table = backends(n);
        let native_table: Vec<sdk::Backend> = table.iter().map(to_sdk).collect();
        let iterations = if n == 50 { 20_000 } else { 5_000 };
        // Warm up both.
        for _ in 0..200 {
            let _ = plugin.choose(&table, &request);
            let _ = sdk::choose_lowest(&native_table, &sdk_request, sdk::synnefo_score);
        }
        let mut host_samples = Vec::with_capacity(iterations);
        let mut native_samples = Vec::with_capacity(iterations);
        let mut same = true;
        for _ in 0..iterations {
            let t = Instant::now();
            let a = plugin.choose(&table, &request).expect("host call");
            host_samples.push(t.elapsed());
            let t = Instant::now();
            let b = std::hint::black_box(sdk::choose_lowest(
                &native_table,
                &sdk_request,
                sdk::synnefo_score,
            ));
            native_samples.push(t.elapsed());
            same &= a.chosen == b.chosen;
        }
        let (hm, nm) = (median(host_samples.clone()), median(native_samples));
        println!(
            "| {n} | {} | {} | {} | {:.1}× | {} |",
            us(hm),
            us(p99(host_samples)),
            us(nm),
            hm.as_secs_f64() / nm.as_secs_f64().max(1e-9),
            if same { "yes" } else { "NO" }
        );
    }
    // The fixed price of a call: fresh store + instance + `describe()`.
    let mut fixed = Vec::with_capacity(5000);
    for _ in 0..5000 {
        let t = Instant::now();
        plugin.self_test().expect("describe");
        fixed.push(t.elapsed());
    }
    println!(
        "\nFixed cost of any call (fresh store + instantiate + `describe()`): median {}, p99 {}.",
        us(median(fixed.clone())),
        us(p99(fixed))
    );
    println!();
}

fn hot_swap(cache: &std::path::Path) {
    let host = Arc::new(host(cache));
    host.load_builtins().expect("built-ins");
    let default = host.find("alloc-default").expect("default");
    let pack = host.find("alloc-pack").expect("pack");
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let table = Arc::new(backends(50));
    let request = VmRequest {
        ram_mb: 1024,
        disk_mb: 10_240,
        vcpus: 1,
        template: TemplateSet::PLAIN,
        project_has_dedicated: false,
    };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (host, stop, calls, failures, table) = (
                host.clone(),
                stop.clone(),
                calls.clone(),
                failures.clone(),
                table.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match host.allocate(&table, &request) {
                        Ok(_) => calls.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failures.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let slot = SlotName::allocator();
    let mut swap_times = Vec::new();
    let mut first_call = Vec::new();
    let started = Instant::now();
    for i in 0..20 {
        let next = if i % 2 == 0 {
            pack.clone()
        } else {
            default.clone()
        };
        let t = Instant::now();
        host.swap(&slot, next.clone()).expect("swap");
        swap_times.push(t.elapsed());
        let outcome = host
            .allocate(&table, &request)
            .expect("first call after swap");
        assert_eq!(outcome.plugin.name, next.name);
        first_call.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let elapsed = started.elapsed();
    println!(
        "## Hot swap under load (2 threads calling the allocator over 50 backends, 20 swaps)\n"
    );
    println!(
        "| calls served | failed calls | swap (median) | swap → first call on the new version (median / max) |"
    );
    println!("|---|---|---|---|");
    println!(
        "| {} in {} | {} | {} | {} / {} |",
        calls.load(Ordering::Relaxed),
        ms(elapsed),
        failures.load(Ordering::Relaxed),
        us(median(swap_times)),
        us(median(first_call.clone())),
        us(*first_call.iter().max().expect("samples"))
    );
    println!();

    // A new build arriving as a file: load (compile, or cache hit) + validate + swap + first call.
    println!("## plugin-swap with a new file: load + validate + swap + first call\n");
    println!("| path | time | baseline: one allocator call |");
    println!("|---|---|---|");
    let bytes = builtin::BUILTIN_PLUGINS
        .iter()
        .find(|(n, _)| *n == "alloc-spread")
        .expect("spread")
        .1;
    let steady = {
        let t = Instant::now();
        host.allocate(&table, &request).expect("call");
        t.elapsed()
    };
    for label in ["cold (compile)", "warm (cache)"] {
        // Cold: an empty cache directory; warm: the cache the earlier sections filled.
        let fresh = tempfile::tempdir().expect("tmp");
        let cache_dir = if label.starts_with("cold") {
            fresh.path().to_path_buf()
        } else {
            cache.to_path_buf()
        };
        let h = self::host(&cache_dir);
        let default = builtin::BUILTIN_PLUGINS
            .iter()
            .find(|(n, _)| *n == "alloc-default")
            .expect("default")
            .1;
        h.load_bytes(default, "bench".into())
            .expect("alloc-default");
        let t = Instant::now();
        let p = h.load_bytes(bytes, "bench".into()).expect("load");
        h.swap(&slot, p.clone()).expect("swap");
        let o = h.allocate(&table, &request).expect("call");
        let took = t.elapsed();
        assert_eq!(o.plugin.name, "alloc-spread");
        let expected = if label.starts_with("cold") {
            CompileSource::Compiled
        } else {
            CompileSource::Cache
        };
        assert_eq!(p.info.compile, expected, "{label}");
        println!("| {label} | {} | {} |", ms(took), us(steady));
    }
    println!();
}

fn load_times() {
    println!("## Loading all 13 built-in plugins at start\n");
    println!("| cache | total | per plugin (mean) |");
    println!("|---|---|---|");
    let dir = tempfile::tempdir().expect("tmp");
    for label in ["cold (compile)", "warm (cache)"] {
        let h = host(dir.path());
        let t = Instant::now();
        let loaded = h.load_builtins().expect("load");
        let took = t.elapsed();
        let want = if label.starts_with("cold") {
            CompileSource::Compiled
        } else {
            CompileSource::Cache
        };
        assert!(loaded.iter().all(|p| p.info.compile == want), "{label}");
        println!(
            "| {label} | {} | {} |",
            ms(took),
            ms(took / loaded.len() as u32)
        );
    }
    println!();
}

mod compute_bench;
mod jobs_bench;
mod rapi_bench;
mod replicas_bench;
mod store_bench;

fn main() {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build; run `cargo run --release -p cyclades-bench` for meaningful numbers"
        );
    }
    let cache = tempfile::tempdir().expect("tmp");
    println!(
        "# cyclades-bench ({} cores)\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let only = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if only == "profile-allocator" {
        // A steady loop for `perf record`: nothing but alloc-default calls over 500 backends.
        let host = host(cache.path());
        host.load_builtins().expect("built-ins");
        let plugin = host.find("alloc-default").expect("alloc-default");
        let table = backends(500);
        let request = VmRequest {
            ram_mb: 2048,
            disk_mb: 20_480,
            vcpus: 2,
            template: TemplateSet::DRBD,
            project_has_dedicated: false,
        };
        let t = Instant::now();
        let n = 30_000;
        for _ in 0..n {
            std::hint::black_box(plugin.choose(&table, &request).expect("call"));
        }
        println!("mean {}", us(t.elapsed() / n));
        return;
    }
    if only == "all" || only == "rapi" {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(rapi_bench::run());
    }
    if only == "all" || only == "store" {
        store_bench::run();
    }
    if only == "all" || only == "plugins" {
        load_times();
        allocator_calls(cache.path(), true);
        allocator_calls(cache.path(), false);
        hot_swap(cache.path());
    }
    if only == "all" || only == "jobs" || only == "compute" {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            if only != "compute" {
                jobs_bench::run(jobs_bench::plugin_host(cache.path())).await;
            }
            if only != "jobs" {
                compute_bench::run(cache.path()).await;
            }
        });
    }
}
