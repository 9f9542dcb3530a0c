//! `alloc-headroom`: never fill a backend's memory past a headroom, then pack.
//!
//! Runs the standard filters, then also rejects (as `no-capacity`) any backend whose free
//! memory after placing the server would drop below `min_free_percent` of its total (setting,
//! default 20). Among the rest, the fullest wins, so whole backends stay free. Unlike the
//! built-in policies it never falls back to ignoring capacity: a full cloud says so.

use cyclades_plugin_sdk::allocator::*;

struct Headroom;

fn min_free_percent() -> Result<u64, PluginError> {
    match config_get("min_free_percent") {
        None => Ok(20),
        Some(v) => match v.parse::<u64>() {
            Ok(p) if p < 100 => Ok(p),
            _ => Err(PluginError::internal(format!(
                "setting min_free_percent must be 0-99, not '{v}'"
            ))),
        },
    }
}

impl Allocator for Headroom {
    fn describe() -> Description {
        Description::new(
            "alloc-headroom",
            PluginKind::Allocator,
            env!("CARGO_PKG_VERSION"),
        )
        .with_capabilities(&["synnefo-filters", "memory-headroom", "pack"])
    }

    fn choose(backends: Vec<Backend>, request: VmRequest) -> Result<Allocation, PluginError> {
        let percent = min_free_percent()?;
        let keeps_headroom = |b: &Backend| {
            let after = b.mem_free_mb.saturating_sub(request.ram_mb);
            after * 100 >= b.mem_total_mb * percent && has_capacity(b, &request)
        };
        let mut best: Option<(u32, u64)> = None;
        let candidates = backends
            .iter()
            .map(|b| {
                let verdict = match standard_filter(b, &request) {
                    Some(reason) => Verdict::Rejected(reason),
                    None if !keeps_headroom(b) => Verdict::Rejected(RejectReason::NoCapacity),
                    None => {
                        if best.is_none_or(|(_, free)| b.mem_free_mb < free) {
                            best = Some((b.id, b.mem_free_mb));
                        }
                        Verdict::Score(b.mem_free_mb as f64)
                    }
                };
                Candidate {
                    backend_id: b.id,
                    verdict,
                }
            })
            .collect();
        Ok(Allocation {
            chosen: best.map(|(id, _)| id),
            candidates,
            capacity_fallback: false,
        })
    }
}

cyclades_plugin_sdk::export_allocator!(Headroom);

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(id: u32, mem_free_mb: u64) -> Backend {
        Backend {
            id,
            mem_free_mb,
            mem_total_mb: 10_000,
            disk_free_mb: 100_000,
            disk_total_mb: 200_000,
            cpu_total: 16,
            instances: 0,
            state: BackendFlags::PUBLIC,
            templates: TemplateSet::PLAIN,
        }
    }

    #[test]
    fn keeps_headroom_then_packs() {
        let request = VmRequest {
            ram_mb: 1000,
            disk_mb: 1000,
            vcpus: 1,
            template: TemplateSet::PLAIN,
            project_has_dedicated: false,
        };
        // 2500 - 1000 = 1500 < 20% of 10000: rejected. 4000 → 3000 keeps headroom and is fuller than 9000.
        let a = Headroom::choose(
            vec![backend(1, 2500), backend(2, 4000), backend(3, 9000)],
            request,
        )
        .expect("ok");
        assert_eq!(a.chosen, Some(2));
        assert_eq!(
            a.candidates[0].verdict,
            Verdict::Rejected(RejectReason::NoCapacity)
        );
        let full = Headroom::choose(vec![backend(1, 2500)], request).expect("ok");
        assert_eq!(full.chosen, None);
        assert!(!full.capacity_fallback);
    }
}
