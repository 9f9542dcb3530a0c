//! `alloc-spread`: place each server on the backend with the fewest instances, spreading load
//! and failure domains. Same filters as `alloc-default`; ties go to the earlier backend.

use cyclades_plugin_sdk::allocator::*;

struct Spread;

impl Allocator for Spread {
    fn describe() -> Description {
        Description::new(
            "alloc-spread",
            PluginKind::Allocator,
            env!("CARGO_PKG_VERSION"),
        )
        .with_capabilities(&["synnefo-filters", "capacity-fallback", "spread"])
    }

    fn choose(backends: Vec<Backend>, request: VmRequest) -> Result<Allocation, PluginError> {
        Ok(choose_lowest(&backends, &request, |b| {
            f64::from(b.instances)
        }))
    }
}

cyclades_plugin_sdk::export_allocator!(Spread);

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(id: u32, instances: u32) -> Backend {
        Backend {
            id,
            mem_free_mb: 8000,
            mem_total_mb: 8192,
            disk_free_mb: 50_000,
            disk_total_mb: 100_000,
            cpu_total: 64,
            instances,
            state: BackendFlags::PUBLIC,
            templates: TemplateSet::DRBD,
        }
    }

    #[test]
    fn the_emptiest_backend_wins() {
        let req = VmRequest {
            ram_mb: 1024,
            disk_mb: 2048,
            vcpus: 1,
            template: TemplateSet::DRBD,
            project_has_dedicated: false,
        };
        let a =
            Spread::choose(vec![backend(1, 5), backend(2, 1), backend(3, 1)], req).expect("choice");
        assert_eq!(a.chosen, Some(2));
        assert_eq!(a.candidates[0].verdict, Verdict::Score(5.0));
    }
}
