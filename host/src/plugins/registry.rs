//! The registry: every loaded plugin (the library) and the slots that decide which plugin
//! serves what. Slots are `allocator`, `disk-template:<name>` and `network-flavor:<name>`.
//!
//! A swap validates first (kind, name, not quarantined) and then replaces the slot's occupant
//! atomically (`ArcSwap`): calls in flight keep the `Arc` they loaded and finish on the old
//! version. Each slot keeps its previous occupants for `rollback`. A shadow allocator can run
//! beside the active one on live requests; its placements are recorded, never acted on.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::{ArcSwap, ArcSwapOption};
use wasmtime::component::Linker;

use super::bindings::HostState;
use super::engine::{PluginEngine, Pool};
use super::loaded::{LoadOptions, LoadedPlugin};
use super::{Allocation, Backend, Kind, LimitsTable, PluginError, VmRequest, builtin};
use crate::clock::Timestamp;

/// Where a plugin serves.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotName {
    pub kind: Kind,
    /// The template or flavor name; `None` for the single allocator slot.
    pub name: Option<String>,
}

impl SlotName {
    pub fn allocator() -> Self {
        SlotName {
            kind: Kind::Allocator,
            name: None,
        }
    }

    /// Parses `allocator`, `disk-template:<name>` or `network-flavor:<name>`.
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let unknown = || PluginError::UnknownSlot {
            slot: text.to_string(),
        };
        if text == "allocator" {
            return Ok(SlotName::allocator());
        }
        let (kind, name) = text.split_once(':').ok_or_else(unknown)?;
        let kind = match kind {
            "disk-template" => Kind::DiskTemplate,
            "network-flavor" => Kind::NetworkFlavor,
            _ => return Err(unknown()),
        };
        if name.is_empty() {
            return Err(unknown());
        }
        Ok(SlotName {
            kind,
            name: Some(name.to_string()),
        })
    }

    fn for_plugin(plugin: &LoadedPlugin) -> Self {
        match plugin.kind {
            Kind::Allocator => SlotName::allocator(),
            kind => SlotName {
                kind,
                name: Some(plugin.name.clone()),
            },
        }
    }
}

impl fmt::Display for SlotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            None => f.write_str(self.kind.as_str()),
            Some(name) => write!(f, "{}:{name}", self.kind),
        }
    }
}

struct Slot {
    current: ArcSwap<LoadedPlugin>,
    /// Previous occupants, most recent last.
    history: Mutex<Vec<Arc<LoadedPlugin>>>,
}

/// A slot and who holds it, for listings.
#[derive(Clone)]
pub struct SlotView {
    pub slot: SlotName,
    pub current: Arc<LoadedPlugin>,
    pub previous: Option<Arc<LoadedPlugin>>,
}

/// The plugin a call used, as jobs record it (rule 6: recorded, never recomputed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginPin {
    pub name: String,
    pub version: String,
    pub digest: String,
}

impl PluginPin {
    pub fn of(p: &LoadedPlugin) -> Self {
        PluginPin {
            name: p.name.clone(),
            version: p.version.clone(),
            digest: p.digest.clone(),
        }
    }
}

/// An allocation and the plugin that made it.
#[derive(Clone, Debug)]
pub struct AllocationOutcome {
    pub allocation: Allocation,
    pub plugin: PluginPin,
}

/// What a shadow allocator would have done with one live request.
#[derive(Clone, Debug)]
pub struct ShadowRecord {
    pub at: Timestamp,
    pub request: VmRequest,
    pub candidates: usize,
    pub active: Option<u32>,
    /// The shadow's choice, or its error.
    pub shadow: Result<Option<u32>, String>,
}

struct Shadow {
    plugin: Arc<LoadedPlugin>,
    records: Mutex<VecDeque<ShadowRecord>>,
}

const SHADOW_KEEP: usize = 1000;

/// What happened to each file of a plugin directory.
pub type DirLoad = Vec<(PathBuf, Result<Arc<LoadedPlugin>, PluginError>)>;

/// How to build the host.
#[derive(Clone, Debug, Default)]
pub struct PluginHostOptions {
    pub cache_dir: Option<PathBuf>,
    pub fuel: bool,
    /// Pre-allocate instance slots for this many concurrent calls (pooling allocator);
    /// `None` maps memory per call.
    pub pool: Option<Pool>,
    pub limits: LimitsTable,
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
    pub quarantine_after: u32,
    /// Where plugin calls are counted (the server's metrics).
    pub metrics: crate::metrics::Metrics,
}

/// The engine, the library of loaded plugins and the slots.
pub struct PluginHost {
    engine: PluginEngine,
    linker: Linker<HostState>,
    options: PluginHostOptions,
    library: RwLock<Vec<Arc<LoadedPlugin>>>,
    slots: RwLock<BTreeMap<SlotName, Arc<Slot>>>,
    shadow: ArcSwapOption<Shadow>,
    /// Each loaded component's bytes by digest, so replicas that never saw its file can be
    /// given it (the service stores them content-addressed).
    components: RwLock<BTreeMap<String, Arc<[u8]>>>,
}

/// A slot's whole state: its occupant and its previous ones (oldest first), by digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotState {
    pub slot: SlotName,
    pub current: String,
    pub history: Vec<String>,
}

impl PluginHost {
    /// The metrics this host counts its plugin calls into.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.engine.metrics
    }

    pub fn new(options: PluginHostOptions) -> Result<Self, PluginError> {
        let engine = PluginEngine::new(
            options.fuel,
            options.cache_dir.clone(),
            options.pool,
            options.metrics.clone(),
        )?;
        let mut linker = Linker::<HostState>::new(&engine.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| PluginError::Host(format!("cannot link WASI: {e}")))?;
        super::bindings::allocator::cyclades::plugin::host::add_to_linker::<
            HostState,
            wasmtime::component::HasSelf<HostState>,
        >(&mut linker, |s| s)
        .map_err(|e| PluginError::Host(format!("cannot link the host interface: {e}")))?;
        Ok(PluginHost {
            engine,
            linker,
            options,
            library: RwLock::new(Vec::new()),
            slots: RwLock::new(BTreeMap::new()),
            shadow: ArcSwapOption::empty(),
            components: RwLock::new(BTreeMap::new()),
        })
    }

    // ----- loading -----

    /// Loads a component, validates it and adds it to the library. A disk template or
    /// network flavor whose slot is empty takes it; the allocator slot only changes by swap
    /// (or when it is empty).
    pub fn load_bytes(
        &self,
        bytes: &[u8],
        source: String,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let limits = |name: &str| self.options.limits.for_plugin(name);
        let settings = |name: &str| self.options.settings.get(name).cloned().unwrap_or_default();
        let options = LoadOptions {
            source,
            limits_for: &limits,
            settings_for: &settings,
            quarantine_after: self.options.quarantine_after,
        };
        let plugin = Arc::new(LoadedPlugin::load(
            &self.engine,
            &self.linker,
            bytes,
            options,
        )?);
        write(&self.library).push(plugin.clone());
        write(&self.components)
            .entry(plugin.digest.clone())
            .or_insert_with(|| Arc::from(bytes));
        let slot = SlotName::for_plugin(&plugin);
        let mut slots = write(&self.slots);
        slots.entry(slot).or_insert_with(|| {
            Arc::new(Slot {
                current: ArcSwap::new(plugin.clone()),
                history: Mutex::new(Vec::new()),
            })
        });
        tracing::info!(plugin = %plugin.name, version = %plugin.version, kind = %plugin.kind, digest = %&plugin.digest[..12], source = %plugin.info.source, "plugin loaded");
        Ok(plugin)
    }

    /// Loads a component from a file.
    pub fn load_path(&self, path: &Path) -> Result<Arc<LoadedPlugin>, PluginError> {
        let bytes = std::fs::read(path).map_err(|e| PluginError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.load_bytes(&bytes, path.display().to_string())
    }

    /// Loads every built-in plugin embedded in the binary.
    pub fn load_builtins(&self) -> Result<Vec<Arc<LoadedPlugin>>, PluginError> {
        self.load_embedded(builtin::BUILTIN_PLUGINS, "builtin")
    }

    /// Loads the example plugins of `examples/` embedded in the binary (`serve --demo`).
    pub fn load_examples(&self) -> Result<Vec<Arc<LoadedPlugin>>, PluginError> {
        self.load_embedded(builtin::EXAMPLE_PLUGINS, "example")
    }

    fn load_embedded(
        &self,
        list: &[(&str, &[u8])],
        origin: &str,
    ) -> Result<Vec<Arc<LoadedPlugin>>, PluginError> {
        list.iter()
            .map(|(name, bytes)| self.load_bytes(bytes, format!("{origin}:{name}")))
            .collect()
    }

    /// Loads every `*.wasm` file of a directory (sorted by name). A file that fails to load
    /// is reported and skipped, so one bad plugin cannot stop the server.
    pub fn load_dir(&self, dir: &Path) -> Result<DirLoad, PluginError> {
        let entries = std::fs::read_dir(dir).map_err(|e| PluginError::Read {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        paths.sort();
        Ok(paths
            .into_iter()
            .map(|p| {
                let result = self.load_path(&p);
                if let Err(e) = &result {
                    tracing::error!(path = %p.display(), error = %e, "plugin not loaded");
                }
                (p, result)
            })
            .collect())
    }

    // ----- lookups -----

    /// Every loaded plugin, in load order.
    pub fn library(&self) -> Vec<Arc<LoadedPlugin>> {
        read(&self.library).clone()
    }

    /// A plugin by name (the most recently loaded of that name) or by digest prefix (at
    /// least 8 hex digits).
    pub fn find(&self, name_or_digest: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        let library = read(&self.library);
        if let Some(p) = library.iter().rev().find(|p| p.name == name_or_digest) {
            return Ok(p.clone());
        }
        if name_or_digest.len() >= 8 && name_or_digest.chars().all(|c| c.is_ascii_hexdigit()) {
            let matches: Vec<&Arc<LoadedPlugin>> = library
                .iter()
                .filter(|p| p.digest.starts_with(name_or_digest))
                .collect();
            match matches.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => {
                    return Err(PluginError::BadRequest(format!(
                        "digest prefix {name_or_digest} is ambiguous"
                    )));
                }
            }
        }
        Err(PluginError::NotFound(name_or_digest.to_string()))
    }

    /// Every slot and its occupant.
    pub fn slots(&self) -> Vec<SlotView> {
        read(&self.slots)
            .iter()
            .map(|(name, slot)| SlotView {
                slot: name.clone(),
                current: slot.current.load_full(),
                previous: slot.history.lock().ok().and_then(|h| h.last().cloned()),
            })
            .collect()
    }

    fn slot(&self, name: &SlotName) -> Result<Arc<Slot>, PluginError> {
        read(&self.slots)
            .get(name)
            .cloned()
            .ok_or_else(|| PluginError::SlotEmpty {
                slot: name.to_string(),
            })
    }

    /// The plugin serving a slot.
    pub fn occupant(&self, slot: &SlotName) -> Result<Arc<LoadedPlugin>, PluginError> {
        Ok(self.slot(slot)?.current.load_full())
    }

    /// The disk template driver called `name`.
    pub fn disk_template(&self, name: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.occupant(&SlotName {
            kind: Kind::DiskTemplate,
            name: Some(name.to_string()),
        })
    }

    /// The network flavor called `name`.
    pub fn network_flavor(&self, name: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        self.occupant(&SlotName {
            kind: Kind::NetworkFlavor,
            name: Some(name.to_string()),
        })
    }

    // ----- swapping -----

    /// Puts `plugin` into `slot` atomically, after checking it fits. Returns the old occupant.
    pub fn swap(
        &self,
        slot: &SlotName,
        plugin: Arc<LoadedPlugin>,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        if plugin.kind != slot.kind {
            return Err(PluginError::WrongWorld {
                expected: format!("a plugin of kind {} for slot {slot}", slot.kind),
                found: format!("{} is a {} plugin", plugin.name, plugin.kind),
            });
        }
        if let Some(name) = &slot.name
            && *name != plugin.name
        {
            return Err(PluginError::BadRequest(format!(
                "slot {slot} takes plugins named {name}, not {}",
                plugin.name
            )));
        }
        if plugin.is_quarantined() {
            return Err(PluginError::Quarantined {
                plugin: plugin.name.clone(),
                faults: 0,
            });
        }
        let mut slots = write(&self.slots);
        let entry = slots.entry(slot.clone()).or_insert_with(|| {
            Arc::new(Slot {
                current: ArcSwap::new(plugin.clone()),
                history: Mutex::new(Vec::new()),
            })
        });
        let old = entry.current.swap(plugin.clone());
        if !Arc::ptr_eq(&old, &plugin)
            && let Ok(mut history) = entry.history.lock()
        {
            history.push(old.clone());
        }
        tracing::info!(%slot, from = %old.name, from_version = %old.version, to = %plugin.name, to_version = %plugin.version, "plugin slot swapped");
        Ok(old)
    }

    /// Puts the previous occupant of `slot` back. Returns the plugin now serving.
    pub fn rollback(&self, slot: &SlotName) -> Result<Arc<LoadedPlugin>, PluginError> {
        let entry = self.slot(slot)?;
        let previous = entry
            .history
            .lock()
            .map_err(|_| PluginError::Host("slot history lock poisoned".into()))?
            .pop()
            .ok_or_else(|| {
                PluginError::Conflict(format!(
                    "slot {slot} has no previous occupant to roll back to"
                ))
            })?;
        entry.current.store(previous.clone());
        tracing::info!(%slot, to = %previous.name, version = %previous.version, "plugin slot rolled back");
        Ok(previous)
    }

    // ----- replication (several replicas keep their slots alike) -----

    /// The component bytes of a loaded plugin.
    pub fn component(&self, digest: &str) -> Option<Arc<[u8]>> {
        read(&self.components).get(digest).cloned()
    }

    /// The loaded plugin with exactly this digest.
    pub fn by_digest(&self, digest: &str) -> Option<Arc<LoadedPlugin>> {
        read(&self.library)
            .iter()
            .rev()
            .find(|p| p.digest == digest)
            .cloned()
    }

    /// Every slot's occupant and history, by digest.
    pub fn slot_states(&self) -> Vec<SlotState> {
        read(&self.slots)
            .iter()
            .map(|(name, slot)| SlotState {
                slot: name.clone(),
                current: slot.current.load().digest.clone(),
                history: slot
                    .history
                    .lock()
                    .map(|h| h.iter().map(|p| p.digest.clone()).collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Makes `slot` hold exactly `current` with `history` behind it (another replica's swap,
    /// rollback or load, replayed here). Calls in flight finish on the plugin they loaded.
    pub fn install(
        &self,
        slot: &SlotName,
        current: Arc<LoadedPlugin>,
        history: Vec<Arc<LoadedPlugin>>,
    ) -> Result<(), PluginError> {
        if current.kind != slot.kind {
            return Err(PluginError::WrongWorld {
                expected: format!("a plugin of kind {} for slot {slot}", slot.kind),
                found: format!("{} is a {} plugin", current.name, current.kind),
            });
        }
        let mut slots = write(&self.slots);
        let entry = slots.entry(slot.clone()).or_insert_with(|| {
            Arc::new(Slot {
                current: ArcSwap::new(current.clone()),
                history: Mutex::new(Vec::new()),
            })
        });
        if let Ok(mut h) = entry.history.lock() {
            *h = history;
        }
        let old = entry.current.swap(current.clone());
        if !Arc::ptr_eq(&old, &current) {
            tracing::info!(%slot, from = %old.name, to = %current.name, to_version = %current.version, "plugin slot follows another replica");
        }
        Ok(())
    }

    /// Lifts a plugin's quarantine.
    pub fn release(&self, name_or_digest: &str) -> Result<Arc<LoadedPlugin>, PluginError> {
        let plugin = self.find(name_or_digest)?;
        plugin.release();
        Ok(plugin)
    }

    // ----- allocation -----

    /// Runs the active allocator (and the shadow, if any). Blocking: call off the async workers.
    pub fn allocate(
        &self,
        backends: &[Backend],
        request: &VmRequest,
    ) -> Result<AllocationOutcome, PluginError> {
        let active = self.occupant(&SlotName::allocator())?;
        let allocation = active.choose(backends, request)?;
        if let Some(shadow) = self.shadow.load_full() {
            let shadow_choice = shadow
                .plugin
                .choose(backends, request)
                .map(|a| a.chosen)
                .map_err(|e| e.to_string());
            if let Ok(mut records) = shadow.records.lock() {
                if records.len() == SHADOW_KEEP {
                    records.pop_front();
                }
                records.push_back(ShadowRecord {
                    at: Timestamp::now(),
                    request: *request,
                    candidates: backends.len(),
                    active: allocation.chosen,
                    shadow: shadow_choice,
                });
            }
        }
        Ok(AllocationOutcome {
            allocation,
            plugin: PluginPin::of(&active),
        })
    }

    /// Runs a given allocator (not necessarily the active one) without recording anything.
    pub fn allocate_with(
        &self,
        plugin: &LoadedPlugin,
        backends: &[Backend],
        request: &VmRequest,
    ) -> Result<Allocation, PluginError> {
        plugin.choose(backends, request)
    }

    /// Starts shadowing the allocator slot with `plugin`, or stops with `None`.
    pub fn set_shadow(&self, plugin: Option<Arc<LoadedPlugin>>) -> Result<(), PluginError> {
        match plugin {
            Some(p) if p.kind != Kind::Allocator => Err(PluginError::WrongWorld {
                expected: "a plugin of kind allocator to shadow the allocator slot".into(),
                found: format!("{} is a {} plugin", p.name, p.kind),
            }),
            Some(p) => {
                self.shadow.store(Some(Arc::new(Shadow {
                    plugin: p,
                    records: Mutex::new(VecDeque::new()),
                })));
                Ok(())
            }
            None => {
                self.shadow.store(None);
                Ok(())
            }
        }
    }

    /// The shadow allocator and what it recorded.
    pub fn shadow(&self) -> Option<(Arc<LoadedPlugin>, Vec<ShadowRecord>)> {
        self.shadow.load_full().map(|s| {
            let records = s
                .records
                .lock()
                .map(|r| r.iter().cloned().collect())
                .unwrap_or_default();
            (s.plugin.clone(), records)
        })
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
