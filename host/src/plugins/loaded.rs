//! One loaded plugin: validated at load (WIT version, world, `describe` self-test), kept as a
//! typed `InstancePre`, and called with a fresh `Store` per call under its limits. Every
//! failure of a call is classified into a distinct `PluginError`; sandbox faults are counted
//! and, after too many in a row, quarantine the plugin.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::{Component, ComponentExportIndex, Linker};
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use super::bindings::allocator::exports::cyclades::plugin::allocator_api::{
    Allocation, Backend, VmRequest,
};
use super::bindings::allocator::{Allocator, AllocatorPre};
use super::bindings::disk_template::exports::cyclades::plugin::disk_template_api::{
    Rendered, TemplateCapabilities, Volume,
};
use super::bindings::disk_template::{DiskTemplate, DiskTemplatePre};
use super::bindings::network_flavor::exports::cyclades::plugin::network_flavor_api::{
    NetworkParams, NetworkRequest, PoolNeeds,
};
use super::bindings::network_flavor::{NetworkFlavor, NetworkFlavorPre};
use super::bindings::{Description, GuestError, HostState, PluginKind, WIT_VERSION};
use super::engine::{CompileSource, EPOCH_TICK, PluginEngine, error_chain};
use super::fast_abi::{BackendTable, FastAllocation};
use super::limits::Limits;
use super::{Kind, PluginError};
use crate::clock::Timestamp;

/// The typed entry points of a plugin, by world.
enum Typed {
    /// With the export index of `choose`, called through `fast_abi`.
    Allocator(AllocatorPre<HostState>, ComponentExportIndex),
    DiskTemplate(DiskTemplatePre<HostState>, TemplateCapabilities),
    NetworkFlavor(NetworkFlavorPre<HostState>, PoolNeeds),
}

/// Call counters and the quarantine state of one plugin.
#[derive(Default)]
pub struct Stats {
    pub calls: AtomicU64,
    pub faults: AtomicU64,
    consecutive_faults: AtomicU32,
    quarantined: AtomicBool,
    last_fault: Mutex<Option<String>>,
}

/// What a caller needs to know about how a plugin came to be loaded.
#[derive(Clone, Debug)]
pub struct LoadInfo {
    /// `builtin:<crate>` or the file path it was loaded from.
    pub source: String,
    pub compile: CompileSource,
    pub load_time: Duration,
    pub loaded_at: Timestamp,
}

/// A validated, ready-to-call plugin.
pub struct LoadedPlugin {
    pub name: String,
    pub kind: Kind,
    pub version: String,
    /// Hex SHA-256 of the component.
    pub digest: String,
    pub description: Description,
    pub info: LoadInfo,
    pub limits: Limits,
    pub stats: Stats,
    typed: Typed,
    engine: PluginEngine,
    settings: Arc<BTreeMap<String, String>>,
    quarantine_after: u32,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("digest", &self.digest)
            .field("source", &self.info.source)
            .finish()
    }
}

/// Settings that shape how a plugin is loaded.
pub struct LoadOptions<'a> {
    pub source: String,
    pub limits_for: &'a dyn Fn(&str) -> Limits,
    pub settings_for: &'a dyn Fn(&str) -> BTreeMap<String, String>,
    pub quarantine_after: u32,
}

impl LoadedPlugin {
    /// Compiles (or loads from cache), validates and self-tests a component.
    pub fn load(
        engine: &PluginEngine,
        linker: &Linker<HostState>,
        bytes: &[u8],
        options: LoadOptions<'_>,
    ) -> Result<LoadedPlugin, PluginError> {
        let (component, digest, compile, elapsed) = engine.compile(bytes)?;
        check_wit_version(engine, &component)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld {
                expected: "a plugin importing only cyclades:plugin/host and WASI 0.2".into(),
                found: error_chain(&e),
            })?;
        let typed_kind = if let Ok(p) = AllocatorPre::new(pre.clone()) {
            // `AllocatorPre::new` checked the exports, so `choose` is there.
            let choose = choose_export(&p).ok_or_else(|| PluginError::WrongWorld {
                expected: "an allocator exporting choose".into(),
                found: "no choose export".into(),
            })?;
            TypedKind::Allocator(p, choose)
        } else if let Ok(p) = DiskTemplatePre::new(pre.clone()) {
            TypedKind::DiskTemplate(p)
        } else if let Ok(p) = NetworkFlavorPre::new(pre.clone()) {
            TypedKind::NetworkFlavor(p)
        } else {
            return Err(PluginError::WrongWorld {
                expected: "one of the worlds allocator, disk-template or network-flavor".into(),
                found: format!(
                    "the component exports {}",
                    exports_of(engine, &component).join(", ")
                ),
            });
        };
        // Self-test with default limits before we know the plugin's name.
        let mut plugin = LoadedPlugin {
            name: String::new(),
            kind: typed_kind.kind(),
            version: String::new(),
            digest,
            description: Description {
                name: String::new(),
                kind: PluginKind::Allocator,
                version: String::new(),
                capabilities: vec![],
            },
            info: LoadInfo {
                source: options.source,
                compile,
                load_time: elapsed,
                loaded_at: Timestamp::now(),
            },
            limits: Limits::default(),
            stats: Stats::default(),
            typed: typed_kind.placeholder(),
            engine: engine.clone(),
            settings: Arc::new(BTreeMap::new()),
            quarantine_after: options.quarantine_after.max(1),
        };
        let description = plugin
            .describe_with(&typed_kind)
            .map_err(|e| PluginError::SelfTest {
                reason: e.to_string(),
            })?;
        validate_description(&description, plugin.kind)?;
        plugin.name = description.name.clone();
        plugin.version = description.version.clone();
        plugin.limits = (options.limits_for)(&plugin.name);
        plugin.settings = Arc::new((options.settings_for)(&plugin.name));
        plugin.description = description;
        plugin.typed = match typed_kind {
            TypedKind::Allocator(p, choose) => Typed::Allocator(p, choose),
            TypedKind::DiskTemplate(p) => {
                let caps = plugin
                    .call("capabilities", |store| {
                        DiskTemplate::instantiate_pre_typed(&p, store)?
                            .cyclades_plugin_disk_template_api()
                            .call_capabilities(store)
                            .map(Ok)
                    })
                    .map_err(|e| PluginError::SelfTest {
                        reason: format!("capabilities: {e}"),
                    })?;
                if caps.disk_factor == 0 {
                    return Err(PluginError::SelfTest {
                        reason: "capabilities.disk-factor must be at least 1".into(),
                    });
                }
                Typed::DiskTemplate(p, caps)
            }
            TypedKind::NetworkFlavor(p) => {
                let pools = plugin
                    .call("pools", |store| {
                        NetworkFlavor::instantiate_pre_typed(&p, store)?
                            .cyclades_plugin_network_flavor_api()
                            .call_pools(store)
                            .map(Ok)
                    })
                    .map_err(|e| PluginError::SelfTest {
                        reason: format!("pools: {e}"),
                    })?;
                Typed::NetworkFlavor(p, pools)
            }
        };
        plugin.info.load_time = elapsed.max(plugin.info.load_time);
        // The self-test calls are not the plugin's traffic.
        plugin.stats = Stats::default();
        Ok(plugin)
    }

    fn describe_with(&self, typed: &TypedKind) -> Result<Description, PluginError> {
        match typed {
            TypedKind::Allocator(p, _) => self.call("describe", |store| {
                Allocator::instantiate_pre_typed(p, store)?
                    .cyclades_plugin_allocator_api()
                    .call_describe(store)
                    .map(Ok)
            }),
            TypedKind::DiskTemplate(p) => self.call("describe", |store| {
                DiskTemplate::instantiate_pre_typed(p, store)?
                    .cyclades_plugin_disk_template_api()
                    .call_describe(store)
                    .map(Ok)
            }),
            TypedKind::NetworkFlavor(p) => self.call("describe", |store| {
                NetworkFlavor::instantiate_pre_typed(p, store)?
                    .cyclades_plugin_network_flavor_api()
                    .call_describe(store)
                    .map(Ok)
            }),
        }
    }

    // ----- typed calls -----

    /// Calls `describe()` again and checks the plugin still says who it is. Costs one fresh
    /// store and instance plus a trivial call: the fixed price of every plugin call.
    pub fn self_test(&self) -> Result<(), PluginError> {
        let d = match &self.typed {
            Typed::Allocator(p, choose) => {
                self.describe_with(&TypedKind::Allocator(p.clone(), *choose))?
            }
            Typed::DiskTemplate(p, _) => self.describe_with(&TypedKind::DiskTemplate(p.clone()))?,
            Typed::NetworkFlavor(p, _) => {
                self.describe_with(&TypedKind::NetworkFlavor(p.clone()))?
            }
        };
        if d.name != self.name || d.version != self.version {
            return Err(PluginError::SelfTest {
                reason: format!(
                    "describe() now says {} {}, not {} {}",
                    d.name, d.version, self.name, self.version
                ),
            });
        }
        Ok(())
    }

    /// Allocator: choose a backend.
    pub fn choose(
        &self,
        backends: &[Backend],
        request: &VmRequest,
    ) -> Result<Allocation, PluginError> {
        let Typed::Allocator(pre, choose) = &self.typed else {
            return Err(self.wrong_kind(Kind::Allocator));
        };
        self.call("choose", |store| {
            // The generated `call_choose` marshals field by field; `fast_abi` does the same
            // work in one pass (see there). Type checking stays wasmtime's.
            let instance = pre.instance_pre().instantiate(&mut *store)?;
            let func = instance.get_typed_func::<
                (BackendTable<'_>, VmRequest),
                (Result<FastAllocation, GuestError>,),
            >(&mut *store, choose)?;
            let (answer,) = func.call(&mut *store, (BackendTable(backends), *request))?;
            Ok(answer.and_then(|FastAllocation(a)| check_allocation(a, backends)))
        })
    }

    /// Allocator: `choose` through wasmtime's generated marshalling (the reference that
    /// `fast_abi` is tested against).
    #[cfg(test)]
    pub(super) fn choose_generated(
        &self,
        backends: &[Backend],
        request: &VmRequest,
    ) -> Result<Allocation, PluginError> {
        let Typed::Allocator(pre, _) = &self.typed else {
            return Err(self.wrong_kind(Kind::Allocator));
        };
        self.call("choose", |store| {
            Allocator::instantiate_pre_typed(pre, store)?
                .cyclades_plugin_allocator_api()
                .call_choose(store, backends, *request)
        })
    }

    /// Disk template: what it can do (answered at load time).
    pub fn disk_capabilities(&self) -> Option<&TemplateCapabilities> {
        match &self.typed {
            Typed::DiskTemplate(_, caps) => Some(caps),
            _ => None,
        }
    }

    /// Disk template: Ganeti disk parameters for the volumes.
    pub fn render_disks(&self, volumes: &[Volume]) -> Result<Rendered, PluginError> {
        let Typed::DiskTemplate(pre, _) = &self.typed else {
            return Err(self.wrong_kind(Kind::DiskTemplate));
        };
        self.call("render_disks", |store| {
            DiskTemplate::instantiate_pre_typed(pre, store)?
                .cyclades_plugin_disk_template_api()
                .call_render(store, volumes)
        })
    }

    /// Network flavor: which pools it needs (answered at load time).
    pub fn network_pools(&self) -> Option<PoolNeeds> {
        match &self.typed {
            Typed::NetworkFlavor(_, pools) => Some(*pools),
            _ => None,
        }
    }

    /// Network flavor: Ganeti network parameters.
    pub fn render_network(&self, request: &NetworkRequest) -> Result<NetworkParams, PluginError> {
        let Typed::NetworkFlavor(pre, _) = &self.typed else {
            return Err(self.wrong_kind(Kind::NetworkFlavor));
        };
        self.call("render_network", |store| {
            NetworkFlavor::instantiate_pre_typed(pre, store)?
                .cyclades_plugin_network_flavor_api()
                .call_render(store, request)
        })
    }

    /// Network flavor: the network's MAC prefix on one backend.
    pub fn backend_mac_prefix(
        &self,
        prefix: &str,
        backend_index: u32,
    ) -> Result<String, PluginError> {
        let Typed::NetworkFlavor(pre, _) = &self.typed else {
            return Err(self.wrong_kind(Kind::NetworkFlavor));
        };
        self.call("backend_mac_prefix", |store| {
            NetworkFlavor::instantiate_pre_typed(pre, store)?
                .cyclades_plugin_network_flavor_api()
                .call_backend_mac_prefix(store, prefix, backend_index)
        })
    }

    fn wrong_kind(&self, expected: Kind) -> PluginError {
        PluginError::WrongWorld {
            expected: format!("a plugin of kind {expected}"),
            found: format!("{} is a {}", self.name, self.kind),
        }
    }

    // ----- quarantine -----

    pub fn is_quarantined(&self) -> bool {
        self.stats.quarantined.load(Ordering::SeqCst)
    }

    /// Quarantines the plugin as another replica did (its faults were counted there).
    pub fn quarantine(&self) {
        if !self.stats.quarantined.swap(true, Ordering::SeqCst) {
            tracing::error!(plugin = %self.name, "plugin quarantined by another replica");
        }
    }

    /// Lifts the quarantine (an operator's decision).
    pub fn release(&self) {
        self.stats.consecutive_faults.store(0, Ordering::SeqCst);
        self.stats.quarantined.store(false, Ordering::SeqCst);
    }

    /// The last sandbox fault, if any.
    pub fn last_fault(&self) -> Option<String> {
        self.stats
            .last_fault
            .lock()
            .map(|g| g.clone())
            .unwrap_or(None)
    }

    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    // ----- the call path -----

    fn new_store(&self) -> Store<HostState> {
        let limits = StoreLimitsBuilder::new()
            .memory_size((self.limits.memory_mib as usize).saturating_mul(1 << 20))
            .table_elements(self.limits.table_elements as usize)
            .instances(64)
            .tables(256)
            .memories(64)
            .trap_on_grow_failure(true)
            .build();
        let label: Arc<str> = if self.name.is_empty() {
            Arc::from("(loading)")
        } else {
            Arc::from(self.name.as_str())
        };
        let mut store = Store::new(
            &self.engine.engine,
            HostState::new(label, self.settings.clone(), limits),
        );
        store.limiter(|s| &mut s.limits);
        let ticks = self
            .limits
            .deadline_ms
            .div_ceil(EPOCH_TICK.as_millis() as u64)
            .max(1);
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        if self.engine.fuel {
            // Cannot fail on an engine that meters fuel. (Calling it on one that does not
            // builds an error, with a backtrace under RUST_BACKTRACE: a third of a call.)
            let _ = store.set_fuel(self.limits.fuel.unwrap_or(u64::MAX));
        }
        store
    }

    /// Runs one call in a fresh store, classifies failures and keeps the counters.
    /// Runs one call of the plugin's `function` in a fresh store under its limits, and counts
    /// it (with its outcome and latency) in the host's metrics.
    fn call<R>(
        &self,
        function: &'static str,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<Result<R, GuestError>>,
    ) -> Result<R, PluginError> {
        if self.is_quarantined() {
            return Err(PluginError::Quarantined {
                plugin: self.name.clone(),
                faults: self.stats.consecutive_faults.load(Ordering::SeqCst),
            });
        }
        let _permit = self.engine.permit();
        let started = std::time::Instant::now();
        let mut store = self.new_store();
        let outcome = f(&mut store);
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let result = match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(GuestError::InvalidInput(message))) => Err(PluginError::InvalidInput {
                plugin: self.name.clone(),
                message,
            }),
            Ok(Err(GuestError::Internal(message))) => Err(PluginError::Internal {
                plugin: self.name.clone(),
                message,
            }),
            Err(e) => Err(self.classify(&e, &store)),
        };
        match &result {
            Err(e) if e.is_fault() => self.record_fault(e),
            _ => self.stats.consecutive_faults.store(0, Ordering::SeqCst),
        }
        let outcome = result.as_ref().map_or_else(PluginError::kind, |_| "ok");
        self.engine
            .metrics
            .plugin_call(&self.name, function, outcome, started.elapsed());
        result
    }

    fn classify(&self, e: &wasmtime::Error, store: &Store<HostState>) -> PluginError {
        let plugin = self.name.clone();
        let stderr = store.data().stderr_text();
        let memory = || PluginError::MemoryLimit {
            plugin: plugin.clone(),
            limit_mib: self.limits.memory_mib,
        };
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => PluginError::Timeout {
                plugin,
                deadline_ms: self.limits.deadline_ms,
            },
            Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
                plugin,
                fuel: self.limits.fuel.unwrap_or(u64::MAX),
            },
            Some(trap) => {
                if stderr.contains("memory allocation of") {
                    memory()
                } else if let Some(at) = stderr.find("panicked at") {
                    PluginError::Panic {
                        plugin,
                        message: stderr[at..].lines().take(3).collect::<Vec<_>>().join(" "),
                    }
                } else {
                    PluginError::Trap {
                        plugin,
                        message: trap.to_string(),
                    }
                }
            }
            None => {
                let message = error_chain(e);
                if message.contains("forcing trap when growing memory")
                    || message.contains("memory allocation of")
                {
                    memory()
                } else {
                    PluginError::Trap { plugin, message }
                }
            }
        }
    }

    fn record_fault(&self, e: &PluginError) {
        self.stats.faults.fetch_add(1, Ordering::Relaxed);
        let n = self.stats.consecutive_faults.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut last) = self.stats.last_fault.lock() {
            *last = Some(e.to_string());
        }
        tracing::warn!(plugin = %self.name, fault = e.kind(), consecutive = n, "plugin fault: {e}");
        if n >= self.quarantine_after && !self.stats.quarantined.swap(true, Ordering::SeqCst) {
            tracing::error!(plugin = %self.name, faults = n, "plugin quarantined");
        }
    }
}

/// The world a component was found to implement, before the self-test.
enum TypedKind {
    Allocator(AllocatorPre<HostState>, ComponentExportIndex),
    DiskTemplate(DiskTemplatePre<HostState>),
    NetworkFlavor(NetworkFlavorPre<HostState>),
}

impl TypedKind {
    fn kind(&self) -> Kind {
        match self {
            TypedKind::Allocator(..) => Kind::Allocator,
            TypedKind::DiskTemplate(_) => Kind::DiskTemplate,
            TypedKind::NetworkFlavor(_) => Kind::NetworkFlavor,
        }
    }

    /// A `Typed` to hold while self-testing (replaced once capabilities are known).
    fn placeholder(&self) -> Typed {
        match self {
            TypedKind::Allocator(p, choose) => Typed::Allocator(p.clone(), *choose),
            TypedKind::DiskTemplate(p) => Typed::DiskTemplate(p.clone(), placeholder_caps()),
            TypedKind::NetworkFlavor(p) => Typed::NetworkFlavor(
                p.clone(),
                PoolNeeds {
                    bridge: false,
                    mac_prefix: false,
                },
            ),
        }
    }
}

fn placeholder_caps() -> TemplateCapabilities {
    TemplateCapabilities {
        ganeti_template: String::new(),
        provider: None,
        mirrored: false,
        shared: false,
        snapshots: false,
        detachable: false,
        clone: false,
        disk_factor: 1,
    }
}

/// Instantiation helpers, one per world, so call sites read the same.
trait InstantiateTyped: Sized {
    type Pre;
    fn instantiate_pre_typed(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self>;
}

impl InstantiateTyped for Allocator {
    type Pre = AllocatorPre<HostState>;
    fn instantiate_pre_typed(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        pre.instantiate(store)
    }
}

impl InstantiateTyped for DiskTemplate {
    type Pre = DiskTemplatePre<HostState>;
    fn instantiate_pre_typed(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        pre.instantiate(store)
    }
}

impl InstantiateTyped for NetworkFlavor {
    type Pre = NetworkFlavorPre<HostState>;
    fn instantiate_pre_typed(
        pre: &Self::Pre,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Self> {
        pre.instantiate(store)
    }
}

/// Refuses components that import or export a `cyclades:plugin` version we do not support.
fn check_wit_version(engine: &PluginEngine, component: &Component) -> Result<(), PluginError> {
    let ty = component.component_type();
    let names: Vec<String> = ty
        .imports(&engine.engine)
        .map(|(n, _)| n.to_string())
        .chain(ty.exports(&engine.engine).map(|(n, _)| n.to_string()))
        .collect();
    for name in names {
        if let Some(rest) = name.strip_prefix("cyclades:plugin/") {
            let version = rest.split_once('@').map(|(_, v)| v).unwrap_or("(none)");
            if version != WIT_VERSION {
                return Err(PluginError::UnsupportedVersion {
                    found: format!("cyclades:plugin@{version}"),
                    supported: format!("cyclades:plugin@{WIT_VERSION}"),
                });
            }
        }
    }
    Ok(())
}

fn exports_of(engine: &PluginEngine, component: &Component) -> Vec<String> {
    let names: Vec<String> = component
        .component_type()
        .exports(&engine.engine)
        .map(|(n, _)| n.to_string())
        .collect();
    if names.is_empty() {
        vec!["nothing".into()]
    } else {
        names
    }
}

fn validate_description(d: &Description, kind: Kind) -> Result<(), PluginError> {
    let declared = match d.kind {
        PluginKind::Allocator => Kind::Allocator,
        PluginKind::DiskTemplate => Kind::DiskTemplate,
        PluginKind::NetworkFlavor => Kind::NetworkFlavor,
    };
    if declared != kind {
        return Err(PluginError::SelfTest {
            reason: format!(
                "describe() says {declared} but the component implements the {kind} world"
            ),
        });
    }
    let name_ok = !d.name.is_empty()
        && d.name.len() <= 64
        && d.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !name_ok {
        return Err(PluginError::SelfTest {
            reason: format!(
                "invalid plugin name '{}': use 1 to 64 letters, digits or '-_.'",
                d.name
            ),
        });
    }
    let parts: Vec<&str> = d.version.split(['.', '-', '+']).collect();
    if parts.len() < 3
        || !parts[..3]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(PluginError::SelfTest {
            reason: format!(
                "invalid plugin version '{}': expected semver such as 1.2.3",
                d.version
            ),
        });
    }
    Ok(())
}

/// The allocator contract the host relies on: the choice is one of the candidates, and there is
/// one verdict per candidate, in order. A plugin that breaks it answers an internal error.
fn check_allocation(a: Allocation, backends: &[Backend]) -> Result<Allocation, GuestError> {
    if let Some(chosen) = a.chosen
        && !backends.iter().any(|b| b.id == chosen)
    {
        return Err(GuestError::Internal(format!(
            "choose answered backend {chosen}, which was not a candidate"
        )));
    }
    let in_order = a.candidates.len() == backends.len()
        && a.candidates
            .iter()
            .zip(backends)
            .all(|(c, b)| c.backend_id == b.id);
    if !in_order {
        return Err(GuestError::Internal(format!(
            "choose explained {} candidates, not the {} it was given in order",
            a.candidates.len(),
            backends.len()
        )));
    }
    Ok(a)
}

/// The export index of the allocator interface's `choose`, resolved once per loaded plugin.
fn choose_export(pre: &AllocatorPre<HostState>) -> Option<ComponentExportIndex> {
    let component = pre.instance_pre().component();
    let interface =
        component.get_export_index(None, format!("cyclades:plugin/allocator-api@{WIT_VERSION}"))?;
    component.get_export_index(Some(&interface), "choose")
}
