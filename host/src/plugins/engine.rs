//! The one wasmtime `Engine` of the process: epoch interruption driven by a ticker thread,
//! optional fuel, and compilation with an on-disk cache of compiled artifacts keyed by the
//! component's SHA-256 digest and the engine's `precompile_compatibility_hash`.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::PluginError;

/// How often the epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Pre-allocated instance slots: how many plugin calls may run at once, and the largest
/// memory any plugin may have.
#[derive(Clone, Copy, Debug)]
pub struct Pool {
    pub concurrent_calls: u32,
    pub max_memory_mib: u64,
}

/// The engine plus where compiled artifacts are cached.
#[derive(Clone)]
pub struct PluginEngine {
    pub engine: Engine,
    /// The engine meters fuel (every store then needs some).
    pub fuel: bool,
    cache_dir: Option<PathBuf>,
    compat: String,
    permits: Option<Arc<Permits>>,
    /// Where every plugin call of this host is counted.
    pub metrics: crate::metrics::Metrics,
}

/// A counting semaphore over the pool's instance slots: a call waits for a slot rather than
/// failing when the pool is momentarily full.
struct Permits {
    free: Mutex<u32>,
    released: Condvar,
}

/// A held instance slot; released on drop.
pub struct Permit(Option<Arc<Permits>>);

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let mut free = p.free.lock().unwrap_or_else(|e| e.into_inner());
            *free += 1;
            p.released.notify_one();
        }
    }
}

/// How a component was obtained, for load-time measurements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileSource {
    Compiled,
    Cache,
}

/// Bytes of each pooled linear memory kept resident between calls and reset by `memset`
/// (only the dirty pages, where the kernel has `PAGEMAP_SCAN`) instead of `madvise`: a fresh
/// store then takes no page faults and no TLB shoot-downs for the plugin's usual working set.
const KEEP_RESIDENT: usize = 1 << 20;

impl PluginEngine {
    /// Creates the engine and starts its epoch ticker (which stops when the engine is dropped).
    pub fn new(
        fuel: bool,
        cache_dir: Option<PathBuf>,
        pool: Option<Pool>,
        metrics: crate::metrics::Metrics,
    ) -> Result<Self, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.consume_fuel(fuel);
        config.wasm_component_model(true);
        if let Some(pool) = pool {
            // Instances come from pre-mapped slots instead of fresh mmaps: the fresh store per
            // call then costs about half as much. A wasip2 component holds several core
            // instances, memories and tables (the module, the WASI adapter, shims).
            let calls = pool.concurrent_calls.max(1);
            let mut p = PoolingAllocationConfig::default();
            p.total_component_instances(calls)
                .total_core_instances(calls * 8)
                .total_memories(calls * 2)
                .total_tables(calls * 8)
                .max_memory_size((pool.max_memory_mib as usize) << 20)
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(64 << 10)
                .pagemap_scan(wasmtime::Enabled::Auto);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
            // Each memory slot reserves the default 4 GiB of address space (no bounds checks
            // in the plugin's code); 64 slots of a few memories each stay well inside it.
        }
        let engine = Engine::new(&config)
            .map_err(|e| PluginError::Host(format!("cannot create the wasm engine: {e}")))?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| PluginError::Host(format!("cannot start the epoch ticker: {e}")))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| {
                PluginError::Host(format!("cannot create plugin cache {}: {e}", dir.display()))
            })?;
        }
        let permits = pool.map(|p| {
            Arc::new(Permits {
                free: Mutex::new(p.concurrent_calls.max(1)),
                released: Condvar::new(),
            })
        });
        Ok(PluginEngine {
            engine,
            fuel,
            cache_dir,
            compat,
            permits,
            metrics,
        })
    }

    /// Waits for an instance slot (a no-op without a pool).
    pub fn permit(&self) -> Permit {
        let Some(p) = &self.permits else {
            return Permit(None);
        };
        let mut free = p.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = p.released.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(Some(p.clone()))
    }

    /// Compiles `bytes` (or loads the cached compilation) and returns the component, its
    /// digest (hex SHA-256 of the bytes) and where it came from.
    pub fn compile(
        &self,
        bytes: &[u8],
    ) -> Result<(Component, String, CompileSource, Duration), PluginError> {
        let started = Instant::now();
        let digest = hex_digest(bytes);
        if !bytes.starts_with(b"\0asm") {
            return Err(PluginError::Malformed {
                reason: "the file does not start with the WebAssembly magic bytes".into(),
            });
        }
        let cached = self.cache_path(&digest);
        if let Some(path) = &cached
            && path.is_file()
            && let Some(component) = self.load_cached(path)
        {
            return Ok((component, digest, CompileSource::Cache, started.elapsed()));
        }
        let component =
            Component::new(&self.engine, bytes).map_err(|e| PluginError::Malformed {
                reason: error_chain(&e),
            })?;
        if let Some(path) = &cached {
            self.store_cached(&component, path);
        }
        Ok((
            component,
            digest,
            CompileSource::Compiled,
            started.elapsed(),
        ))
    }

    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|d| d.join(format!("{digest}-{}.cwasm", self.compat)))
    }

    #[allow(unsafe_code)]
    fn load_cached(&self, path: &Path) -> Option<Component> {
        // Read into memory rather than mmap (`deserialize_file`): a cache file changed in place
        // under a mapping would crash the process with SIGBUS.
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read plugin cache entry");
                return None;
            }
        };
        // SAFETY: `deserialize` trusts its input. Only files this host wrote itself (into its
        // own cache directory, named by the digest of the source and the engine's compatibility
        // hash, and renamed into place atomically) are read here; wasmtime also checks the
        // engine configuration and version embedded in the artifact and refuses a mismatch, in
        // which case we recompile.
        match unsafe { Component::deserialize(&self.engine, &bytes) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable plugin cache entry");
                None
            }
        }
    }

    fn store_cached(&self, component: &Component, path: &Path) {
        let result = component
            .serialize()
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                std::fs::write(&tmp, bytes)
                    .and_then(|()| std::fs::rename(&tmp, path))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot write plugin cache entry");
        }
    }
}

/// Hex SHA-256 of a component's bytes: its identity in listings, caches and job records.
pub fn hex_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A wasmtime error with its causes, on one line.
pub fn error_chain(e: &wasmtime::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
