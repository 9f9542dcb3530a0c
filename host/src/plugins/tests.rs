//! Plugin host tests against the real built-in components and the misbehaving fixtures
//! (`tests/plugins/`), all built to wasm32-wasip2 by `build.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::*;
use crate::config::PluginLimitsOverride;

fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("cyclades-test-plugin-cache")
}

fn host_with(change: impl FnOnce(&mut PluginHostOptions)) -> PluginHost {
    let mut options = PluginHostOptions {
        cache_dir: Some(cache_dir()),
        quarantine_after: 3,
        ..Default::default()
    };
    change(&mut options);
    PluginHost::new(options).expect("plugin host")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(builtin::PLUGIN_ARTIFACT_DIR).join(format!("{name}.wasm"))
}

fn backend(id: u32, mem_free: u64, instances: u32) -> Backend {
    Backend {
        id,
        mem_free_mb: mem_free,
        mem_total_mb: 16384,
        disk_free_mb: 500_000,
        disk_total_mb: 1_000_000,
        cpu_total: 16,
        instances,
        state: BackendFlags::PUBLIC,
        templates: TemplateSet::PLAIN | TemplateSet::DRBD | TemplateSet::EXT,
    }
}

fn request(vcpus: u32, ram_mb: u64, disk_mb: u64) -> VmRequest {
    VmRequest {
        ram_mb,
        disk_mb,
        vcpus,
        template: TemplateSet::DRBD,
        project_has_dedicated: false,
    }
}

#[test]
fn every_builtin_loads_into_its_slot() {
    let host = host_with(|_| {});
    let loaded = host.load_builtins().expect("built-ins load");
    assert_eq!(loaded.len(), 13);
    let mut names: Vec<(String, Kind)> = loaded.iter().map(|p| (p.name.clone(), p.kind)).collect();
    names.sort();
    let expected = [
        ("CUSTOM", Kind::NetworkFlavor),
        ("IP_LESS_ROUTED", Kind::NetworkFlavor),
        ("MAC_FILTERED", Kind::NetworkFlavor),
        ("PHYSICAL_VLAN", Kind::NetworkFlavor),
        ("alloc-default", Kind::Allocator),
        ("alloc-pack", Kind::Allocator),
        ("alloc-spread", Kind::Allocator),
        ("drbd", Kind::DiskTemplate),
        ("ext_archipelago", Kind::DiskTemplate),
        ("file", Kind::DiskTemplate),
        ("plain", Kind::DiskTemplate),
        ("rbd", Kind::DiskTemplate),
        ("sharedfile", Kind::DiskTemplate),
    ];
    assert_eq!(
        names,
        expected
            .iter()
            .map(|(n, k)| (n.to_string(), *k))
            .collect::<Vec<_>>()
    );
    assert!(
        loaded
            .iter()
            .all(|p| p.digest.len() == 64 && p.version == "0.1.0")
    );
    // 1 allocator slot + 6 disk templates + 4 flavors; the first allocator loaded holds it.
    assert_eq!(host.slots().len(), 11);
    assert_eq!(
        host.occupant(&SlotName::allocator())
            .expect("allocator")
            .name,
        "alloc-default"
    );
}

#[test]
fn builtins_answer_through_the_host() {
    let host = host_with(|_| {});
    host.load_builtins().expect("load");
    // alloc-default: least loaded wins, every candidate explained.
    let offline = Backend {
        state: BackendFlags::OFFLINE,
        ..backend(1, 16000, 0)
    };
    let outcome = host
        .allocate(
            &[offline, backend(2, 2000, 9), backend(3, 12000, 1)],
            &request(1, 1024, 4096),
        )
        .expect("allocate");
    assert_eq!(outcome.allocation.chosen, Some(3));
    assert_eq!(outcome.plugin.name, "alloc-default");
    assert_eq!(
        outcome.allocation.candidates[0].verdict,
        Verdict::Rejected(RejectReason::Offline)
    );
    assert!(matches!(
        outcome.allocation.candidates[1].verdict,
        Verdict::Score(_)
    ));

    let drbd = host.disk_template("drbd").expect("drbd");
    assert_eq!(drbd.disk_capabilities().map(|c| c.disk_factor), Some(2));
    let volume = Volume {
        name: "snf-vol-7".into(),
        size_gb: 5,
        origin: None,
        origin_size_mb: None,
        specs: vec![],
    };
    let rendered = drbd
        .render_disks(std::slice::from_ref(&volume))
        .expect("render");
    assert_eq!(
        rendered.disks[0][1],
        Param {
            key: "size".into(),
            value: ParamValue::Integer(5120)
        }
    );
    let bad = drbd.render_disks(&[]).expect_err("no volumes");
    assert!(matches!(bad, PluginError::InvalidInput { .. }), "{bad}");

    let archipelago = host.disk_template("ext_archipelago").expect("archipelago");
    let clone = Volume {
        origin: Some("map".into()),
        origin_size_mb: Some(1024),
        ..volume
    };
    let rendered = archipelago.render_disks(&[clone]).expect("render");
    assert!(rendered.disks[0].iter().any(|p| p.key == "origin"));
    assert_eq!(rendered.os_params[0].key, "img_id");

    let mac = host.network_flavor("MAC_FILTERED").expect("flavor");
    assert_eq!(mac.network_pools().map(|p| p.mac_prefix), Some(true));
    let req = NetworkRequest {
        network_id: 4,
        mode: None,
        link: None,
        mac_prefix: None,
        tags: None,
        pool_bridge: None,
        pool_mac_prefix: Some("aa:00:3".into()),
    };
    let params = mac.render_network(&req).expect("render");
    assert_eq!(
        (params.link.as_str(), params.mac_prefix.as_str()),
        ("prv0", "aa:00:3")
    );
    assert_eq!(
        mac.backend_mac_prefix("aa:00:3", 1).expect("prefix"),
        "aa:00:31"
    );
}

#[test]
fn plugin_settings_reach_the_plugin() {
    let host = host_with(|o| {
        o.settings.insert(
            "drbd".into(),
            [("wait_for_sync".to_string(), "true".to_string())].into(),
        );
    });
    host.load_builtins().expect("load");
    let volume = Volume {
        name: "v".into(),
        size_gb: 1,
        origin: None,
        origin_size_mb: None,
        specs: vec![],
    };
    let rendered = host
        .disk_template("drbd")
        .expect("drbd")
        .render_disks(&[volume])
        .expect("render");
    assert_eq!(rendered.instance_params[0].value, ParamValue::Boolean(true));
}

fn evil_host(quarantine_after: u32, fuel: Option<u64>) -> (PluginHost, Arc<LoadedPlugin>) {
    let host = host_with(|o| {
        o.quarantine_after = quarantine_after;
        o.fuel = fuel.is_some();
        o.limits.overrides.insert(
            "fixture-evil".into(),
            PluginLimitsOverride {
                deadline_ms: Some(300),
                memory_mib: Some(32),
                fuel,
                ..Default::default()
            },
        );
    });
    let evil = host
        .load_path(&fixture("fixture_evil"))
        .expect("fixture loads");
    (host, evil)
}

#[test]
fn every_fault_is_typed_and_contained() {
    let (_host, evil) = evil_host(100, None);
    let backends = [backend(1, 8000, 0)];
    let ok = |r: Result<Allocation, PluginError>| r.expect("a normal call still works").chosen;
    assert_eq!(ok(evil.choose(&backends, &request(1, 1, 1))), Some(1));

    // Deadline: a short loop finishes, an endless one is stopped.
    assert_eq!(ok(evil.choose(&backends, &request(1001, 1, 1))), Some(1));
    let started = std::time::Instant::now();
    let e = evil
        .choose(&backends, &request(1001, 1, u64::MAX))
        .expect_err("timeout");
    assert!(
        matches!(
            e,
            PluginError::Timeout {
                deadline_ms: 300,
                ..
            }
        ),
        "{e}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(ok(evil.choose(&backends, &request(1, 1, 1))), Some(1));

    // Memory: 4 MiB is fine under a 32 MiB limit, 64 MiB is refused.
    assert_eq!(ok(evil.choose(&backends, &request(1002, 4, 1))), Some(1));
    let e = evil
        .choose(&backends, &request(1002, 64, 1))
        .expect_err("memory");
    assert!(
        matches!(e, PluginError::MemoryLimit { limit_mib: 32, .. }),
        "{e}"
    );
    assert_eq!(ok(evil.choose(&backends, &request(1, 1, 1))), Some(1));

    // Panic, with the plugin's message.
    let e = evil
        .choose(&backends, &request(1003, 1, 1))
        .expect_err("panic");
    assert!(
        matches!(&e, PluginError::Panic { message, .. } if message.contains("panics on purpose")),
        "{e}"
    );

    // The sandbox: no files, no sockets, no environment.
    let e = evil
        .choose(&backends, &request(1004, 1, 1))
        .expect_err("file");
    assert!(
        matches!(&e, PluginError::Internal { message, .. } if message.starts_with("file read failed")),
        "{e}"
    );
    let e = evil
        .choose(&backends, &request(1005, 1, 1))
        .expect_err("socket");
    assert!(
        matches!(&e, PluginError::Internal { message, .. } if message.starts_with("socket connect failed")),
        "{e}"
    );
    let e = evil
        .choose(&backends, &request(1006, 1, 1))
        .expect_err("env");
    assert!(
        matches!(&e, PluginError::Internal { message, .. } if message == "env vars visible: 0"),
        "{e}"
    );

    // Typed guest errors are not faults.
    assert!(matches!(
        evil.choose(&backends, &request(1007, 1, 1)),
        Err(PluginError::Internal { .. })
    ));
    assert!(matches!(
        evil.choose(&backends, &request(1008, 1, 1)),
        Err(PluginError::InvalidInput { .. })
    ));
    // An answer that breaks the contract (a backend nobody offered, no explanation).
    let e = evil
        .choose(&backends, &request(1009, 1, 1))
        .expect_err("contract");
    assert!(
        matches!(&e, PluginError::Internal { message, .. } if message.contains("not a candidate")),
        "{e}"
    );
    assert_eq!(evil.stats.faults.load(Ordering::Relaxed), 3);
    assert!(!evil.is_quarantined());
    assert_eq!(ok(evil.choose(&backends, &request(1, 1, 1))), Some(1));
}

#[test]
fn fuel_budgets_are_enforced_on_both_sides() {
    let (_host, evil) = evil_host(100, Some(200_000_000));
    let backends = [backend(1, 8000, 0)];
    assert!(
        evil.choose(&backends, &request(1001, 1, 1)).is_ok(),
        "1M iterations fit the budget"
    );
    let e = evil
        .choose(&backends, &request(1001, 1, 10_000))
        .expect_err("fuel");
    assert!(
        matches!(
            e,
            PluginError::OutOfFuel {
                fuel: 200_000_000,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn repeated_faults_quarantine_until_released() {
    let (host, evil) = evil_host(2, None);
    let backends = [backend(1, 8000, 0)];
    for _ in 0..2 {
        assert!(matches!(
            evil.choose(&backends, &request(1003, 1, 1)),
            Err(PluginError::Panic { .. })
        ));
    }
    assert!(evil.is_quarantined());
    let e = evil
        .choose(&backends, &request(1, 1, 1))
        .expect_err("quarantined");
    assert!(matches!(e, PluginError::Quarantined { .. }), "{e}");
    assert!(e.to_string().contains("plugin-release"), "{e}");
    host.release("fixture-evil").expect("release");
    assert!(evil.choose(&backends, &request(1, 1, 1)).is_ok());
}

#[test]
fn bad_components_are_refused_with_typed_errors() {
    let host = host_with(|_| {});
    host.load_builtins().expect("load");
    let e = host
        .load_bytes(b"not wasm at all", "test".into())
        .expect_err("garbage");
    assert!(matches!(e, PluginError::Malformed { .. }), "{e}");
    let good = builtin::BUILTIN_PLUGINS[0].1;
    let e = host
        .load_bytes(&good[..good.len() / 2], "test".into())
        .expect_err("truncated");
    assert!(matches!(e, PluginError::Malformed { .. }), "{e}");
    // A core module is not a component.
    let e = host
        .load_bytes(b"\0asm\x01\0\0\0", "test".into())
        .expect_err("core module");
    assert!(matches!(e, PluginError::Malformed { .. }), "{e}");
    let e = host
        .load_path(&fixture("fixture_future_wit"))
        .expect_err("future version");
    assert!(
        matches!(&e, PluginError::UnsupportedVersion { found, .. } if found == "cyclades:plugin@0.9.0"),
        "{e}"
    );
    let e = host
        .load_path(&fixture("no_such_file"))
        .expect_err("missing");
    assert!(matches!(e, PluginError::Read { .. }), "{e}");

    // Wrong world: a disk template cannot serve the allocator slot.
    let drbd = host.find("drbd").expect("drbd");
    let e = host
        .swap(&SlotName::allocator(), drbd)
        .expect_err("wrong world");
    assert!(matches!(e, PluginError::WrongWorld { .. }), "{e}");
    let pack = host.find("alloc-pack").expect("pack");
    let e = host
        .swap(&SlotName::parse("disk-template:drbd").expect("slot"), pack)
        .expect_err("wrong world");
    assert!(matches!(e, PluginError::WrongWorld { .. }), "{e}");
    assert!(matches!(
        SlotName::parse("gpu"),
        Err(PluginError::UnknownSlot { .. })
    ));
    // The allocator slot still serves the original occupant.
    assert_eq!(
        host.occupant(&SlotName::allocator()).expect("slot").name,
        "alloc-default"
    );
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = host_with(|o| o.cache_dir = Some(dir.path().to_path_buf()));
    let p = first
        .load_bytes(builtin::BUILTIN_PLUGINS[0].1, "builtin".into())
        .expect("compile");
    assert_eq!(p.info.compile, CompileSource::Compiled);
    let second = host_with(|o| o.cache_dir = Some(dir.path().to_path_buf()));
    let p = second
        .load_bytes(builtin::BUILTIN_PLUGINS[0].1, "builtin".into())
        .expect("cached");
    assert_eq!(p.info.compile, CompileSource::Cache);
    // A corrupt cache entry is ignored, not trusted.
    for entry in std::fs::read_dir(dir.path()).expect("dir").flatten() {
        std::fs::write(entry.path(), b"garbage").expect("corrupt");
    }
    let third = host_with(|o| o.cache_dir = Some(dir.path().to_path_buf()));
    let p = third
        .load_bytes(builtin::BUILTIN_PLUGINS[0].1, "builtin".into())
        .expect("recompiled");
    assert_eq!(p.info.compile, CompileSource::Compiled);
}

#[test]
fn hot_swap_under_load_fails_no_call() {
    let host = Arc::new(host_with(|_| {}));
    host.load_builtins().expect("load");
    let default = host.find("alloc-default").expect("default");
    let pack = host.find("alloc-pack").expect("pack");
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let served_by = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (host, stop, calls, failures, served_by) = (
                host.clone(),
                stop.clone(),
                calls.clone(),
                failures.clone(),
                served_by.clone(),
            );
            std::thread::spawn(move || {
                let backends: Vec<Backend> = (1..=50)
                    .map(|i| backend(i, 1000 + u64::from(i) * 100, i % 7))
                    .collect();
                while !stop.load(Ordering::Relaxed) {
                    match host.allocate(&backends, &request(1, 512, 1024)) {
                        Ok(o) => {
                            calls.fetch_add(1, Ordering::Relaxed);
                            served_by.lock().expect("lock").insert(o.plugin.name);
                        }
                        Err(_) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    let slot = SlotName::allocator();
    for i in 0..20 {
        let next = if i % 2 == 0 {
            pack.clone()
        } else {
            default.clone()
        };
        host.swap(&slot, next).expect("swap");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert!(calls.load(Ordering::Relaxed) > 20);
    assert_eq!(
        served_by.lock().expect("lock").len(),
        2,
        "both versions served calls"
    );
    // Rollback returns to the previous occupant; with no history left it is a conflict.
    assert_eq!(host.occupant(&slot).expect("slot").name, "alloc-default");
    assert_eq!(host.rollback(&slot).expect("rollback").name, "alloc-pack");
}

#[test]
fn pooled_instances_serve_concurrent_calls_and_contain_faults() {
    let pool = Pool {
        concurrent_calls: 2,
        max_memory_mib: 64,
    };
    let host = Arc::new(host_with(|o| {
        o.pool = Some(pool);
        o.quarantine_after = 100;
        o.limits.overrides.insert(
            "fixture-evil".into(),
            PluginLimitsOverride {
                memory_mib: Some(32),
                deadline_ms: Some(300),
                ..Default::default()
            },
        );
    }));
    host.load_builtins().expect("load");
    let evil = host.load_path(&fixture("fixture_evil")).expect("fixture");
    // More threads than slots: calls wait for a slot instead of failing.
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let host = host.clone();
            std::thread::spawn(move || {
                (0..50).all(|_| {
                    host.allocate(&[backend(1, 8000, 0)], &request(1, 512, 1024))
                        .is_ok()
                })
            })
        })
        .collect();
    assert!(threads.into_iter().all(|t| t.join().expect("thread")));
    let e = evil
        .choose(&[backend(1, 8000, 0)], &request(1002, 64, 1))
        .expect_err("memory");
    assert!(matches!(e, PluginError::MemoryLimit { .. }), "{e}");
    let e = evil
        .choose(&[backend(1, 8000, 0)], &request(1001, 1, u64::MAX))
        .expect_err("timeout");
    assert!(matches!(e, PluginError::Timeout { .. }), "{e}");
    assert!(
        evil.choose(&[backend(1, 8000, 0)], &request(1, 1, 1))
            .is_ok()
    );
}

#[test]
fn a_shadow_allocator_records_but_never_decides() {
    let host = host_with(|_| {});
    host.load_builtins().expect("load");
    host.set_shadow(Some(host.find("alloc-spread").expect("spread")))
        .expect("shadow");
    let backends = [backend(1, 12000, 5), backend(2, 3000, 0)];
    let outcome = host
        .allocate(&backends, &request(1, 512, 1024))
        .expect("allocate");
    assert_eq!(outcome.plugin.name, "alloc-default");
    let (plugin, records) = host.shadow().expect("shadowing");
    assert_eq!(plugin.name, "alloc-spread");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].active, outcome.allocation.chosen);
    assert_eq!(records[0].shadow, Ok(Some(2)));
    assert!(
        host.set_shadow(Some(host.find("drbd").expect("drbd")))
            .is_err()
    );
    host.set_shadow(None).expect("off");
    assert!(host.shadow().is_none());
}

/// `fast_abi` lowers the backend table and lifts the answer by hand; wasmtime's generated code
/// is the reference. Tables exercise every field (u64 values above 2^32, so a misplaced or
/// truncated field changes a score), every flag and every reject reason.
#[test]
fn fast_abi_matches_wasmtime_generated_marshalling() {
    let host = host_with(|_| {});
    host.load_builtins().expect("built-ins");
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (state_flags, template_flags) = (fast_abi::STATE_FLAGS, fast_abi::TEMPLATE_FLAGS);
    let mut table = |n: u32| -> Vec<Backend> {
        (0..n)
            .map(|i| {
                let r = next();
                let mut state = BackendFlags::empty();
                for (bit, flag) in state_flags.iter().enumerate() {
                    // Mostly public and online, so that scores (not only rejections) appear.
                    let on = if bit >= 2 {
                        r >> bit & 3 != 0
                    } else {
                        r >> (bit * 3) & 7 == 0
                    };
                    if on {
                        state |= *flag;
                    }
                }
                let mut templates = TemplateSet::empty();
                for (bit, flag) in template_flags.iter().enumerate() {
                    if r >> (16 + bit) & 1 == 1 {
                        templates |= *flag;
                    }
                }
                let total = (1 << 33) + (r >> 40);
                Backend {
                    id: 1_000_000 + i,
                    mem_free_mb: total - (r >> 44),
                    mem_total_mb: total,
                    disk_free_mb: (r >> 24) % ((1 << 36) + 7),
                    disk_total_mb: 1 << 37,
                    cpu_total: (r % 64) as u32,
                    instances: (r >> 8) as u32 % 200,
                    state,
                    templates,
                }
            })
            .collect()
    };
    let mut seen = std::collections::BTreeSet::new();
    for name in ["alloc-default", "alloc-pack", "alloc-spread"] {
        let plugin = host.find(name).expect("allocator");
        for n in [0, 1, 7, 64, 500] {
            let backends = table(n);
            for (template, dedicated, ram_mb) in [
                (TemplateSet::DRBD, false, 2048),
                (TemplateSet::PLAIN, true, 1 << 34),
                (TemplateSet::EXT, false, 512),
                (TemplateSet::GLUSTER, true, 4096),
            ] {
                let request = VmRequest {
                    ram_mb,
                    disk_mb: 1 << 20,
                    vcpus: 2,
                    template,
                    project_has_dedicated: dedicated,
                };
                let fast = plugin.choose(&backends, &request).expect("fast path");
                let generated = plugin
                    .choose_generated(&backends, &request)
                    .expect("generated path");
                assert_eq!(fast.chosen, generated.chosen, "{name} n={n}");
                assert_eq!(fast.capacity_fallback, generated.capacity_fallback);
                assert_eq!(fast.candidates.len(), backends.len());
                for (a, b) in fast.candidates.iter().zip(&generated.candidates) {
                    assert_eq!(a.backend_id, b.backend_id);
                    match (a.verdict, b.verdict) {
                        (Verdict::Score(x), Verdict::Score(y)) => {
                            assert_eq!(
                                x.to_bits(),
                                y.to_bits(),
                                "{name}: score of {}",
                                a.backend_id
                            );
                            seen.insert("score".to_string());
                        }
                        (x, y) => {
                            assert_eq!(x, y, "{name}: verdict on {}", a.backend_id);
                            seen.insert(format!("{x:?}"));
                        }
                    }
                }
                seen.insert(format!("chosen {}", fast.chosen.is_some()));
                seen.insert(format!("fallback {}", fast.capacity_fallback));
            }
        }
    }
    // The tables really exercised every verdict and both shapes of the answer.
    for expected in [
        "score",
        "Verdict::Rejected(RejectReason::Offline)",
        "Verdict::Rejected(RejectReason::Drained)",
        "Verdict::Rejected(RejectReason::NotDedicated)",
        "Verdict::Rejected(RejectReason::NotPublic)",
        "Verdict::Rejected(RejectReason::NoCapacity)",
        "Verdict::Rejected(RejectReason::NoTemplate)",
        "chosen true",
        "chosen false",
        "fallback true",
        "fallback false",
    ] {
        assert!(seen.contains(expected), "never saw {expected}: {seen:?}");
    }
}
