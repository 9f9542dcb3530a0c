//! `alloc-default`: Synnefo's allocation policy (spec §13).
//!
//! The standard filter chain (offline, drained, project-dedicated or public, disk template, then
//! capacity with a fallback when nothing fits), then the lowest score wins, with
//! `score = 0.5 * cpu_ratio + 0.5 * (mem_ratio + disk_ratio)` where the ratios are the used
//! fractions of memory and disk and `cpu_ratio = (instances + 1) * 4 / (cpus * 3)` (1 if the
//! backend reports no CPUs).

use cyclades_plugin_sdk::allocator::*;

struct DefaultPolicy;

/// Synnefo's load score of a backend (lower is better); the SDK holds the formula so that
/// benchmarks and other policies share it.
pub fn score(b: &Backend) -> f64 {
    synnefo_score(b)
}

impl Allocator for DefaultPolicy {
    fn describe() -> Description {
        Description::new(
            "alloc-default",
            PluginKind::Allocator,
            env!("CARGO_PKG_VERSION"),
        )
        .with_capabilities(&["synnefo-filters", "capacity-fallback", "load-score"])
    }

    fn choose(backends: Vec<Backend>, request: VmRequest) -> Result<Allocation, PluginError> {
        Ok(choose_lowest(&backends, &request, score))
    }
}

cyclades_plugin_sdk::export_allocator!(DefaultPolicy);

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(id: u32, mem_free: u64, disk_free: u64, instances: u32) -> Backend {
        Backend {
            id,
            mem_free_mb: mem_free,
            mem_total_mb: 8192,
            disk_free_mb: disk_free,
            disk_total_mb: 100_000,
            cpu_total: 4,
            instances,
            state: BackendFlags::PUBLIC,
            templates: TemplateSet::PLAIN,
        }
    }

    fn request() -> VmRequest {
        VmRequest {
            ram_mb: 512,
            disk_mb: 1024,
            vcpus: 1,
            template: TemplateSet::PLAIN,
            project_has_dedicated: false,
        }
    }

    #[test]
    fn score_matches_synnefo() {
        // mem 50% used, disk 10% used, cpu (0+1)*4/(4*3) = 1/3.
        let s = score(&backend(1, 4096, 90_000, 0));
        assert!((s - (0.5 / 3.0 + 0.5 * 0.6)).abs() < 1e-9, "{s}");
        let mut no_cpu = backend(1, 4096, 90_000, 0);
        no_cpu.cpu_total = 0;
        assert!((score(&no_cpu) - (0.5 + 0.3)).abs() < 1e-9);
    }

    #[test]
    fn the_least_loaded_backend_wins() {
        let busy = backend(1, 1024, 10_000, 2);
        let idle = backend(2, 7000, 90_000, 0);
        let a = DefaultPolicy::choose(vec![busy, idle], request()).expect("choice");
        assert_eq!(a.chosen, Some(2));
        assert_eq!(a.candidates.len(), 2);
    }

    #[test]
    fn nothing_to_choose_is_not_an_error() {
        let a = DefaultPolicy::choose(vec![], request()).expect("answer");
        assert_eq!(a.chosen, None);
    }
}
