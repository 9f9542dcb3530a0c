//! `alloc-pack`: fill the fullest backend that still fits, so whole clusters stay free for big
//! servers or maintenance. Same filters as `alloc-default`; the score is the negated used
//! fraction of memory plus disk (the fullest backend has the lowest score).

use cyclades_plugin_sdk::allocator::*;

struct Pack;

/// Lower for fuller backends.
pub fn score(b: &Backend) -> f64 {
    -(used_ratio(b.mem_free_mb, b.mem_total_mb) + used_ratio(b.disk_free_mb, b.disk_total_mb))
}

impl Allocator for Pack {
    fn describe() -> Description {
        Description::new(
            "alloc-pack",
            PluginKind::Allocator,
            env!("CARGO_PKG_VERSION"),
        )
        .with_capabilities(&["synnefo-filters", "capacity-fallback", "pack"])
    }

    fn choose(backends: Vec<Backend>, request: VmRequest) -> Result<Allocation, PluginError> {
        Ok(choose_lowest(&backends, &request, score))
    }
}

cyclades_plugin_sdk::export_allocator!(Pack);

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(id: u32, mem_free: u64) -> Backend {
        Backend {
            id,
            mem_free_mb: mem_free,
            mem_total_mb: 8192,
            disk_free_mb: 50_000,
            disk_total_mb: 100_000,
            cpu_total: 8,
            instances: 0,
            state: BackendFlags::PUBLIC,
            templates: TemplateSet::PLAIN,
        }
    }

    #[test]
    fn the_fullest_backend_that_fits_wins() {
        let req = VmRequest {
            ram_mb: 1024,
            disk_mb: 1024,
            vcpus: 1,
            template: TemplateSet::PLAIN,
            project_has_dedicated: false,
        };
        let too_full = backend(1, 512);
        let fullish = backend(2, 2048);
        let empty = backend(3, 8000);
        let a = Pack::choose(vec![too_full, fullish, empty], req).expect("choice");
        assert_eq!(a.chosen, Some(2));
        assert_eq!(
            a.candidates[0].verdict,
            Verdict::Rejected(RejectReason::NoCapacity)
        );
    }
}
