//! Allocators choose the backend (Ganeti cluster) of a new server, and explain the choice.
//!
//! Implement [`Allocator`] and export it with [`export_allocator!`](crate::export_allocator).
//! The host passes every candidate backend as ids, numbers and flags (no strings, so calls stay
//! cheap), and expects one [`Verdict`] per candidate back: its score, or the filter that
//! rejected it. The host records that explanation in the job, so operators can see why a server
//! went where it went.
//!
//! [`choose_lowest`] runs Synnefo's standard filter chain and picks the lowest score of the
//! function you give it; most policies only need to supply a score:
//!
//! ```ignore
//! use cyclades_plugin_sdk::allocator::*;
//!
//! /// Fill the emptiest backend first (by free memory).
//! struct MostFreeMemory;
//!
//! impl Allocator for MostFreeMemory {
//!     fn describe() -> Description {
//!         Description::new("alloc-most-free", PluginKind::Allocator, env!("CARGO_PKG_VERSION"))
//!     }
//!
//!     fn choose(backends: Vec<Backend>, request: VmRequest) -> Result<Allocation, PluginError> {
//!         Ok(choose_lowest(&backends, &request, |b| -(b.mem_free_mb as f64)))
//!     }
//! }
//!
//! cyclades_plugin_sdk::export_allocator!(MostFreeMemory);
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "allocator",
        path: "../wit/cyclades-plugin@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_allocator_world",
        default_bindings_module: "cyclades_plugin_sdk::allocator::bindings",
        runtime_path: "cyclades_plugin_sdk::__wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

pub use bindings::cyclades::plugin::types::{Description, PluginError, PluginKind};
pub use bindings::exports::cyclades::plugin::allocator_api::{
    Allocation, Backend, BackendFlags, Candidate, Guest as Allocator, RejectReason, TemplateSet,
    Verdict, VmRequest,
};

pub use crate::{Level, config_get, log};

crate::common::common_impls!();

/// Exports a type implementing [`Allocator`] as the plugin's allocator.
#[macro_export]
macro_rules! export_allocator {
    ($ty:ident) => {
        $crate::allocator::bindings::__export_allocator_world!($ty with_types_in $crate::allocator::bindings);
    };
}

/// Synnefo's filters that do not depend on resources, in order: offline, drained, then the
/// project filter (dedicated backends if the project has any, else public ones), then the disk
/// template. Returns the first reason to reject `backend`, if any.
pub fn standard_filter(backend: &Backend, request: &VmRequest) -> Option<RejectReason> {
    if backend.state.contains(BackendFlags::OFFLINE) {
        return Some(RejectReason::Offline);
    }
    if backend.state.contains(BackendFlags::DRAINED) {
        return Some(RejectReason::Drained);
    }
    if request.project_has_dedicated {
        if !backend.state.contains(BackendFlags::DEDICATED) {
            return Some(RejectReason::NotDedicated);
        }
    } else if !backend.state.contains(BackendFlags::PUBLIC) {
        return Some(RejectReason::NotPublic);
    }
    if !backend.templates.contains(request.template) || request.template.is_empty() {
        return Some(RejectReason::NoTemplate);
    }
    None
}

/// Synnefo's capacity rule: more free disk and memory than requested, and fewer than 3 virtual
/// CPUs per physical CPU after placing it (every server counted as 4 vCPUs, integer division as
/// in Synnefo). A backend reporting no CPUs never fits.
pub fn has_capacity(backend: &Backend, request: &VmRequest) -> bool {
    if backend.cpu_total == 0 {
        return false;
    }
    let vcpu_ratio = (u64::from(backend.instances) + 1) * 4 / u64::from(backend.cpu_total);
    backend.disk_free_mb > request.disk_mb && backend.mem_free_mb > request.ram_mb && vcpu_ratio < 3
}

/// Runs the standard chain and picks the kept candidate with the lowest `score` (ties go to the
/// earlier candidate). If no candidate that passes [`standard_filter`] has capacity, all of them
/// are kept (resource figures may be stale) and `capacity_fallback` is set, as Synnefo does.
pub fn choose_lowest(
    backends: &[Backend],
    request: &VmRequest,
    score: impl Fn(&Backend) -> f64,
) -> Allocation {
    let reasons: Vec<Option<RejectReason>> = backends
        .iter()
        .map(|b| standard_filter(b, request))
        .collect();
    let any_fits = backends
        .iter()
        .zip(&reasons)
        .any(|(b, r)| r.is_none() && has_capacity(b, request));
    let mut candidates = Vec::with_capacity(backends.len());
    let mut best: Option<(u32, f64)> = None;
    for (backend, reason) in backends.iter().zip(reasons) {
        let reason = reason.or_else(|| {
            (any_fits && !has_capacity(backend, request)).then_some(RejectReason::NoCapacity)
        });
        let verdict = match reason {
            Some(r) => Verdict::Rejected(r),
            None => {
                let s = score(backend);
                if best.is_none_or(|(_, b)| s < b) {
                    best = Some((backend.id, s));
                }
                Verdict::Score(s)
            }
        };
        candidates.push(Candidate {
            backend_id: backend.id,
            verdict,
        });
    }
    Allocation {
        chosen: best.map(|(id, _)| id),
        candidates,
        capacity_fallback: !any_fits && best.is_some(),
    }
}

/// Synnefo's load score (spec §13; lower is better):
/// `0.5 * cpu_ratio + 0.5 * (mem_ratio + disk_ratio)`, where the ratios are the used fractions
/// of memory and disk and `cpu_ratio = (instances + 1) * 4 / (cpus * 3)` (1 without CPUs).
pub fn synnefo_score(b: &Backend) -> f64 {
    let mem_ratio = used_ratio(b.mem_free_mb, b.mem_total_mb);
    let disk_ratio = used_ratio(b.disk_free_mb, b.disk_total_mb);
    let cpu_ratio = if b.cpu_total == 0 {
        1.0
    } else {
        (f64::from(b.instances) + 1.0) * 4.0 / (f64::from(b.cpu_total) * 3.0)
    };
    0.5 * cpu_ratio + 0.5 * (mem_ratio + disk_ratio)
}

/// `1 - free/total`, or 0 when the total is unknown.
pub fn used_ratio(free: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        1.0 - free as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn backend(id: u32, mem_free: u64, instances: u32) -> Backend {
        Backend {
            id,
            mem_free_mb: mem_free,
            mem_total_mb: 16384,
            disk_free_mb: 100_000,
            disk_total_mb: 200_000,
            cpu_total: 8,
            instances,
            state: BackendFlags::PUBLIC,
            templates: TemplateSet::PLAIN | TemplateSet::DRBD,
        }
    }

    fn request() -> VmRequest {
        VmRequest {
            ram_mb: 1024,
            disk_mb: 10_240,
            vcpus: 1,
            template: TemplateSet::DRBD,
            project_has_dedicated: false,
        }
    }

    #[test]
    fn filters_explain_each_rejection() {
        let mut offline = backend(1, 8000, 0);
        offline.state |= BackendFlags::OFFLINE;
        let mut drained = backend(2, 8000, 0);
        drained.state |= BackendFlags::DRAINED;
        let mut private = backend(3, 8000, 0);
        private.state = BackendFlags::empty();
        let mut no_drbd = backend(4, 8000, 0);
        no_drbd.templates = TemplateSet::PLAIN;
        let full = backend(5, 100, 0);
        let good = backend(6, 8000, 0);
        let a = choose_lowest(
            &[offline, drained, private, no_drbd, full, good],
            &request(),
            |_| 1.0,
        );
        let verdicts: Vec<Verdict> = a.candidates.iter().map(|c| c.verdict).collect();
        assert_eq!(
            verdicts,
            vec![
                Verdict::Rejected(RejectReason::Offline),
                Verdict::Rejected(RejectReason::Drained),
                Verdict::Rejected(RejectReason::NotPublic),
                Verdict::Rejected(RejectReason::NoTemplate),
                Verdict::Rejected(RejectReason::NoCapacity),
                Verdict::Score(1.0),
            ]
        );
        assert_eq!(a.chosen, Some(6));
        assert!(!a.capacity_fallback);
    }

    #[test]
    fn dedicated_backends_win_over_public_ones() {
        let mut dedicated = backend(1, 8000, 0);
        dedicated.state = BackendFlags::DEDICATED;
        let public = backend(2, 8000, 0);
        let req = VmRequest {
            project_has_dedicated: true,
            ..request()
        };
        let a = choose_lowest(&[dedicated, public], &req, |_| 0.0);
        assert_eq!(a.chosen, Some(1));
        assert_eq!(
            a.candidates[1].verdict,
            Verdict::Rejected(RejectReason::NotDedicated)
        );
    }

    #[test]
    fn capacity_falls_back_when_nothing_fits() {
        let a = choose_lowest(&[backend(1, 100, 0), backend(2, 50, 0)], &request(), |b| {
            b.id as f64
        });
        assert_eq!(a.chosen, Some(1));
        assert!(a.capacity_fallback);
        assert!(matches!(a.candidates[1].verdict, Verdict::Score(_)));
    }

    #[test]
    fn vcpu_ratio_uses_integer_division() {
        let r = request();
        // (1+1)*4/8 = 1 < 3 fits; (5+1)*4/8 = 3 does not.
        assert!(has_capacity(&backend(1, 8000, 1), &r));
        assert!(!has_capacity(&backend(1, 8000, 5), &r));
        let mut no_cpu = backend(1, 8000, 0);
        no_cpu.cpu_total = 0;
        assert!(!has_capacity(&no_cpu, &r));
    }

    #[test]
    fn nothing_left_means_no_choice() {
        let mut offline = backend(1, 8000, 0);
        offline.state |= BackendFlags::OFFLINE;
        let a = choose_lowest(&[offline], &request(), |_| 0.0);
        assert_eq!(a.chosen, None);
        assert!(!a.capacity_fallback);
    }
}
