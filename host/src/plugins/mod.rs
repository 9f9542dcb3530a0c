//! The plugin host: sandboxed WebAssembly components behind the versioned WIT interfaces in
//! `wit/` (allocators, disk templates, network flavors).
//!
//! Owns the wasmtime engine (`engine`), the host-side bindings and host imports (`bindings`),
//! loading and calling one plugin under its limits (`loaded`), the allocator's one-pass
//! marshalling of its backend table and answer (`fast_abi`), and the registry of loaded
//! plugins and slots with hot swap, rollback, quarantine and shadowing (`registry`).
//!
//! Rules: one `Engine` per host; compile once (with an on-disk cache keyed by content digest
//! and engine compatibility hash); a fresh `Store` per call from a cached `InstancePre`; no WASI
//! capabilities granted (no files, env, sockets; frozen clocks); memory limit, deadline and
//! optional fuel per call; every failure is a typed `PluginError` for that call only. Calls are
//! synchronous and CPU-bound: async callers must run them off the tokio workers
//! (`spawn_blocking`), because WASI's sync bindings would block a runtime thread.
//!
//! This module never calls upward: no store, no services, no HTTP.

mod bindings;
mod engine;
mod error;
mod fast_abi;
mod limits;
mod loaded;
mod registry;

use std::fmt;

pub use bindings::allocator::exports::cyclades::plugin::allocator_api::{
    Allocation, Backend, BackendFlags, Candidate, RejectReason, TemplateSet, Verdict, VmRequest,
};
pub use bindings::disk_template::exports::cyclades::plugin::disk_template_api::{
    Rendered, TemplateCapabilities, Volume,
};
pub use bindings::network_flavor::exports::cyclades::plugin::network_flavor_api::{
    NetworkParams, NetworkRequest, PoolNeeds,
};
pub use bindings::{Description, Param, ParamValue, WIT_VERSION};
pub use engine::{CompileSource, Pool, hex_digest};
pub use error::PluginError;
pub use limits::{Limits, LimitsTable};
pub use loaded::{LoadInfo, LoadedPlugin};
pub use registry::{
    AllocationOutcome, PluginHost, PluginHostOptions, PluginPin, ShadowRecord, SlotName, SlotView,
};

/// The built-in plugins, compiled to components by `build.rs` and embedded in the binary.
pub mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));
}

/// The three kinds of plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Allocator,
    DiskTemplate,
    NetworkFlavor,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Allocator => "allocator",
            Kind::DiskTemplate => "disk-template",
            Kind::NetworkFlavor => "network-flavor",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod wit_tests;
