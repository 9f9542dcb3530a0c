//! Operating the plugin platform: listing and inspecting plugins, loading new ones, swapping
//! and rolling back slots, releasing quarantined plugins, trying an allocator against a
//! backend table (`allocator-test`) and shadowing the active allocator on live requests.
//!
//! Plugin work is CPU-bound and blocking, so every call into the plugin host runs on the
//! blocking pool, never on an async worker.

use std::path::PathBuf;
use std::sync::Arc;

use super::{ServiceError, Services};
use crate::clock::Timestamp;
use crate::plugins::{
    Allocation, Backend, BackendFlags, CompileSource, Kind, LoadedPlugin, PluginError,
    RejectReason, ShadowRecord, SlotName, TemplateSet, Verdict, VmRequest,
};

impl From<PluginError> for ServiceError {
    fn from(e: PluginError) -> Self {
        match &e {
            PluginError::NotFound(name) => {
                ServiceError::ItemNotFound(format!("Plugin {name} not found"))
            }
            PluginError::SlotEmpty { .. } => ServiceError::ItemNotFound(e.to_string()),
            PluginError::UnknownSlot { .. }
            | PluginError::Read { .. }
            | PluginError::Malformed { .. }
            | PluginError::WrongWorld { .. }
            | PluginError::UnsupportedVersion { .. }
            | PluginError::SelfTest { .. }
            | PluginError::BadRequest(_)
            | PluginError::InvalidInput { .. } => ServiceError::BadRequest(e.to_string()),
            PluginError::Conflict(_) => ServiceError::Conflict(e.to_string()),
            PluginError::Quarantined { .. } => ServiceError::ServiceUnavailable(e.to_string()),
            PluginError::Timeout { .. }
            | PluginError::OutOfFuel { .. }
            | PluginError::MemoryLimit { .. }
            | PluginError::Panic { .. }
            | PluginError::Trap { .. }
            | PluginError::Internal { .. }
            | PluginError::Host(_) => ServiceError::Internal {
                internal: e.to_string(),
            },
        }
    }
}

/// A plugin as listed by `plugin-list`.
#[derive(Clone, Debug)]
pub struct PluginInfo {
    pub name: String,
    pub kind: Kind,
    pub version: String,
    pub digest: String,
    pub source: String,
    /// `active`, `loaded`, `quarantined` or `shadow`.
    pub state: &'static str,
    /// Slots this exact build serves.
    pub slots: Vec<String>,
    pub calls: u64,
    pub faults: u64,
    pub last_fault: Option<String>,
    pub cached: bool,
    pub load_ms: f64,
    pub loaded_at: Timestamp,
    pub plugin: Arc<LoadedPlugin>,
}

/// One line of an `allocator-test` report.
#[derive(Clone, Debug)]
pub struct AllocatorTestRow {
    pub request: String,
    pub active: Result<Option<u32>, String>,
    pub candidate: Result<Option<u32>, String>,
    /// The candidate's explanation of its own choice.
    pub explanation: Option<Allocation>,
}

/// The report of `allocator-test`.
#[derive(Clone, Debug)]
pub struct AllocatorTestReport {
    pub candidate: String,
    pub active: String,
    pub backends: usize,
    pub rows: Vec<AllocatorTestRow>,
}

/// A backend as given in an `allocator-test` snapshot.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSnapshot {
    pub id: u32,
    pub mem_free_mb: u64,
    pub mem_total_mb: u64,
    pub disk_free_mb: u64,
    pub disk_total_mb: u64,
    pub cpu_total: u32,
    #[serde(default)]
    pub instances: u32,
    #[serde(default)]
    pub offline: bool,
    #[serde(default)]
    pub drained: bool,
    #[serde(default = "yes")]
    pub public: bool,
    #[serde(default)]
    pub dedicated: bool,
    /// Ganeti disk templates enabled on the backend (`plain`, `drbd`, `ext`, ...).
    pub disk_templates: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A registered backend as allocators see it (none for ids beyond u32).
fn allocator_view(b: &crate::store::Backend) -> Option<Backend> {
    crate::jobs::allocator_view(b, false)
}

pub use crate::jobs::template_flag;

impl BackendSnapshot {
    fn to_backend(&self) -> Result<Backend, ServiceError> {
        let mut templates = TemplateSet::empty();
        for t in &self.disk_templates {
            templates |= template_flag(t).ok_or_else(|| {
                ServiceError::BadRequest(format!(
                    "backend {}: unknown disk template '{t}'",
                    self.id
                ))
            })?;
        }
        let mut state = BackendFlags::empty();
        for (on, flag) in [
            (self.offline, BackendFlags::OFFLINE),
            (self.drained, BackendFlags::DRAINED),
            (self.public, BackendFlags::PUBLIC),
            (self.dedicated, BackendFlags::DEDICATED),
        ] {
            if on {
                state |= flag;
            }
        }
        Ok(Backend {
            id: self.id,
            mem_free_mb: self.mem_free_mb,
            mem_total_mb: self.mem_total_mb,
            disk_free_mb: self.disk_free_mb,
            disk_total_mb: self.disk_total_mb,
            cpu_total: self.cpu_total,
            instances: self.instances,
            state,
            templates,
        })
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PluginError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::Internal {
            internal: format!("plugin task failed: {e}"),
        })?
        .map_err(ServiceError::from)
}

fn outcome(result: &Result<Allocation, PluginError>) -> Result<Option<u32>, String> {
    match result {
        Ok(a) => Ok(a.chosen),
        Err(e) => Err(e.to_string()),
    }
}

impl Services {
    /// Every loaded plugin with its state and counters.
    pub fn plugin_list(&self) -> Vec<PluginInfo> {
        let host = self.plugins();
        let slots = host.slots();
        let shadow = host.shadow().map(|(p, _)| p);
        host.library()
            .into_iter()
            .map(|p| {
                let serving: Vec<String> = slots
                    .iter()
                    .filter(|s| Arc::ptr_eq(&s.current, &p))
                    .map(|s| s.slot.to_string())
                    .collect();
                let state = if p.is_quarantined() {
                    "quarantined"
                } else if !serving.is_empty() {
                    "active"
                } else if shadow.as_ref().is_some_and(|s| Arc::ptr_eq(s, &p)) {
                    "shadow"
                } else {
                    "loaded"
                };
                PluginInfo {
                    name: p.name.clone(),
                    kind: p.kind,
                    version: p.version.clone(),
                    digest: p.digest.clone(),
                    source: p.info.source.clone(),
                    state,
                    slots: serving,
                    calls: p.stats.calls.load(std::sync::atomic::Ordering::Relaxed),
                    faults: p.stats.faults.load(std::sync::atomic::Ordering::Relaxed),
                    last_fault: p.last_fault(),
                    cached: p.info.compile == CompileSource::Cache,
                    load_ms: p.info.load_time.as_secs_f64() * 1000.0,
                    loaded_at: p.info.loaded_at,
                    plugin: p,
                }
            })
            .collect()
    }

    /// One plugin (by name or digest prefix).
    pub fn plugin_inspect(&self, name_or_digest: &str) -> Result<PluginInfo, ServiceError> {
        let plugin = self.plugins().find(name_or_digest)?;
        self.plugin_list()
            .into_iter()
            .find(|p| Arc::ptr_eq(&p.plugin, &plugin))
            .ok_or_else(|| ServiceError::ItemNotFound(format!("Plugin {name_or_digest} not found")))
    }

    /// Slots and their occupants: (slot, current, previous).
    pub fn plugin_slots(&self) -> Vec<(String, Arc<LoadedPlugin>, Option<Arc<LoadedPlugin>>)> {
        self.plugins()
            .slots()
            .into_iter()
            .map(|s| (s.slot.to_string(), s.current, s.previous))
            .collect()
    }

    /// Loads a component from a file on the server (validates world, version and self-test;
    /// on failure nothing changes).
    pub async fn plugin_load(&self, path: &str) -> Result<PluginInfo, ServiceError> {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(ServiceError::BadRequest(format!(
                "Plugin path '{}' must be absolute",
                path.display()
            )));
        }
        self.plugin_change_begin()?;
        let host = self.plugins().clone();
        let loaded = blocking(move || host.load_path(&path)).await?;
        self.plugin_change_end()?;
        self.plugin_inspect(&loaded.digest)
    }

    /// Puts a plugin (a loaded one by name or digest, or a file to load first) into a slot.
    pub async fn plugin_swap(
        &self,
        slot: &str,
        plugin: &str,
    ) -> Result<(Arc<LoadedPlugin>, Arc<LoadedPlugin>), ServiceError> {
        let slot = SlotName::parse(slot)?;
        self.plugin_change_begin()?;
        let host = self.plugins().clone();
        let plugin = plugin.to_string();
        let swapped = blocking(move || {
            let candidate = if plugin.starts_with('/') {
                host.load_path(std::path::Path::new(&plugin))?
            } else {
                host.find(&plugin)?
            };
            let old = host.swap(&slot, candidate.clone())?;
            Ok((old, candidate))
        })
        .await?;
        self.plugin_change_end()?;
        Ok(swapped)
    }

    /// Returns a slot to its previous occupant.
    pub fn plugin_rollback(&self, slot: &str) -> Result<Arc<LoadedPlugin>, ServiceError> {
        let slot = SlotName::parse(slot)?;
        self.plugin_change_begin()?;
        let now = self.plugins().rollback(&slot)?;
        self.plugin_change_end()?;
        Ok(now)
    }

    /// Lifts a plugin's quarantine.
    pub fn plugin_release(&self, name_or_digest: &str) -> Result<PluginInfo, ServiceError> {
        self.plugin_change_begin()?;
        let plugin = self.plugins().release(name_or_digest)?;
        self.plugin_change_end()?;
        self.plugin_inspect(&plugin.digest)
    }

    /// Starts (`Some`) or stops (`None`) shadowing the allocator slot.
    pub fn plugin_shadow_set(&self, plugin: Option<&str>) -> Result<(), ServiceError> {
        self.plugin_change_begin()?;
        let plugin = match plugin {
            Some(name) => Some(self.plugins().find(name)?),
            None => None,
        };
        self.plugins().set_shadow(plugin)?;
        self.plugin_change_end()
    }

    /// The shadow allocator, the active one, and the recorded comparisons.
    pub fn plugin_shadow(&self) -> Option<(String, Vec<ShadowRecord>)> {
        self.plugins()
            .shadow()
            .map(|(p, records)| (p.name.clone(), records))
    }

    /// Runs `candidate` and the active allocator over a backend table and sample requests,
    /// side by side. Nothing is recorded or charged.
    pub async fn allocator_test(
        &self,
        candidate: &str,
        snapshot: Option<Vec<BackendSnapshot>>,
    ) -> Result<AllocatorTestReport, ServiceError> {
        let backends: Vec<Backend> = match snapshot {
            Some(list) => list
                .iter()
                .map(BackendSnapshot::to_backend)
                .collect::<Result<_, _>>()?,
            None => self
                .backends_live()?
                .iter()
                .filter_map(allocator_view)
                .collect(),
        };
        if backends.is_empty() {
            return Err(ServiceError::BadRequest(
                "No backends to test against: register a backend, or pass a snapshot of backends"
                    .into(),
            ));
        }
        let host = self.plugins().clone();
        let candidate = host.find(candidate)?;
        if candidate.kind != Kind::Allocator {
            return Err(ServiceError::BadRequest(format!(
                "{} is a {} plugin, not an allocator",
                candidate.name, candidate.kind
            )));
        }
        let requests = self.sample_requests();
        blocking(move || {
            let active = host.occupant(&SlotName::allocator())?;
            let rows = requests
                .into_iter()
                .map(|(label, request)| {
                    let theirs = host.allocate_with(&candidate, &backends, &request);
                    let ours = host.allocate_with(&active, &backends, &request);
                    AllocatorTestRow {
                        request: label,
                        active: outcome(&ours),
                        candidate: outcome(&theirs),
                        explanation: theirs.ok(),
                    }
                })
                .collect();
            Ok(AllocatorTestReport {
                candidate: candidate.name.clone(),
                active: active.name.clone(),
                backends: backends.len(),
                rows,
            })
        })
        .await
    }

    /// Small, medium and large servers on each disk template that has a driver, with the
    /// driver's disk factor applied (2× for drbd).
    fn sample_requests(&self) -> Vec<(String, VmRequest)> {
        let sizes = [(1u32, 1024u64, 10u64), (2, 4096, 40), (8, 32768, 200)];
        let mut out = Vec::new();
        for slot in self
            .plugins()
            .slots()
            .into_iter()
            .filter(|s| s.slot.kind == Kind::DiskTemplate)
        {
            let Some(caps) = slot.current.disk_capabilities() else {
                continue;
            };
            let Some(template) = template_flag(&caps.ganeti_template) else {
                continue;
            };
            let name = slot.slot.name.clone().unwrap_or_default();
            for (vcpus, ram_mb, disk_gb) in sizes {
                let request = VmRequest {
                    ram_mb,
                    disk_mb: disk_gb * 1024 * u64::from(caps.disk_factor),
                    vcpus,
                    template,
                    project_has_dedicated: false,
                };
                out.push((
                    format!("{name} {vcpus} vCPU {ram_mb} MiB {disk_gb} GiB"),
                    request,
                ));
            }
        }
        out
    }
}

/// A verdict as text: the score, or the reason for rejection.
pub fn verdict_text(v: &Verdict) -> String {
    match v {
        Verdict::Score(s) => format!("score {s:.4}"),
        Verdict::Rejected(r) => format!(
            "rejected: {}",
            match r {
                RejectReason::Offline => "offline",
                RejectReason::Drained => "drained",
                RejectReason::NotDedicated => "not-dedicated",
                RejectReason::NotPublic => "not-public",
                RejectReason::NoCapacity => "no-capacity",
                RejectReason::NoTemplate => "no-template",
            }
        ),
    }
}
