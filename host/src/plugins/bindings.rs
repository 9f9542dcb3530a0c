//! Host-side bindings of `cyclades:plugin@0.1.0` (one module per world, sharing the types and
//! the host interface), and the per-call store state that implements the host imports.
//!
//! A future WIT version gets its own module here and an adapter to the latest shapes.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The WIT package version these bindings implement.
pub const WIT_VERSION: &str = "0.1.0";

pub mod allocator {
    wasmtime::component::bindgen!({
        path: "../wit/cyclades-plugin@0.1.0",
        world: "allocator",
        additional_derives: [PartialEq],
    });
}

pub mod disk_template {
    wasmtime::component::bindgen!({
        path: "../wit/cyclades-plugin@0.1.0",
        world: "disk-template",
        additional_derives: [PartialEq],
        with: {
            "cyclades:plugin/types": super::allocator::cyclades::plugin::types,
            "cyclades:plugin/host": super::allocator::cyclades::plugin::host,
        },
    });
}

pub mod network_flavor {
    wasmtime::component::bindgen!({
        path: "../wit/cyclades-plugin@0.1.0",
        world: "network-flavor",
        additional_derives: [PartialEq],
        with: {
            "cyclades:plugin/types": super::allocator::cyclades::plugin::types,
            "cyclades:plugin/host": super::allocator::cyclades::plugin::host,
        },
    });
}

pub use allocator::cyclades::plugin::host::Level;
pub use allocator::cyclades::plugin::types::{
    Description, Param, ParamValue, PluginError as GuestError, PluginKind,
};

/// What one call's store holds: an empty WASI context (no files, env, sockets; clocks frozen),
/// a captured stderr (panic messages), the memory limiter, and the plugin's own settings.
pub struct HostState {
    pub plugin: Arc<str>,
    pub settings: Arc<BTreeMap<String, String>>,
    pub limits: StoreLimits,
    pub stderr: MemoryOutputPipe,
    wasi: WasiCtx,
    table: ResourceTable,
}

/// Frozen clocks: plugins get no time source.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    fn now(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl HostState {
    pub fn new(
        plugin: Arc<str>,
        settings: Arc<BTreeMap<String, String>>,
        limits: StoreLimits,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(16 * 1024);
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .build();
        HostState {
            plugin,
            settings,
            limits,
            stderr,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// What the plugin wrote to stderr during the call (e.g. a panic message), trimmed.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl allocator::cyclades::plugin::types::Host for HostState {}

impl allocator::cyclades::plugin::host::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        let plugin = &*self.plugin;
        let message: String = message.chars().take(2000).collect();
        match level {
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }

    fn config_get(&mut self, key: String) -> Option<String> {
        self.settings.get(&key).cloned()
    }
}
