//! Configuration: the TOML file, `CYCLADES_*` environment variables and flags, merged in that
//! order of increasing precedence, plus `config show` rendering with secrets redacted.
//!
//! Owns the `Config` struct and its validation. It must not start anything or touch the store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::resources;

/// Placeholder shown instead of a secret.
pub const REDACTED: &str = "<redacted>";

/// The whole effective configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub identity: IdentityConfig,
    pub quota: QuotaConfig,
    pub plugins: PluginsConfig,
    pub backends: BackendsConfig,
    pub security: SecurityConfig,
    pub api: ApiConfig,
    pub stats: StatsConfig,
    pub rescue: RescueConfig,
    pub console: ConsoleConfig,
    pub compute: ComputeConfig,
    pub network: NetworkConfig,
    pub volumes: VolumesConfig,
    pub demo: DemoConfig,
    pub store: StoreConfig,
}

/// `[network]`: network policies (Synnefo's `API_ENABLED_NETWORK_FLAVORS`,
/// `CYCLADES_DEFAULT_SERVER_NETWORKS`, `CYCLADES_FORCED_SERVER_NETWORKS`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Network flavors users may create through the API (operators may create any).
    pub api_enabled_flavors: Vec<String>,
    /// Networks a server gets when its create request has no `networks`. Each entry is a
    /// network id, `SNF:ANY_PUBLIC_IPV4`, `SNF:ANY_PUBLIC_IPV6` or `SNF:ANY_PUBLIC`, or several
    /// of these joined by `|` (the first that works). Access and floating-IP rules apply.
    pub default_server_networks: Vec<String>,
    /// Networks every server gets, whatever it asks (no access control, no floating IP).
    pub forced_server_networks: Vec<String>,
    /// The firewall profile shown for public NICs without a firewall tag.
    pub default_firewall_profile: String,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            api_enabled_flavors: vec!["MAC_FILTERED".into()],
            default_server_networks: Vec::new(),
            forced_server_networks: Vec::new(),
            default_firewall_profile: "DISABLED".into(),
        }
    }
}

/// `[compute]`: server policies.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeConfig {
    /// Owners may share a server with its project (`reassign` with `shared_to_project`), making
    /// it visible to and operable by every member (Synnefo's
    /// `CYCLADES_SHARED_RESOURCES_ENABLED`). Unshared servers are visible to their owner only.
    pub shared_resources: bool,
}

/// `[volumes]`: the block storage API's limits (Synnefo's `CYCLADES_VOLUME_MAX_SIZE`,
/// `CYCLADES_VOLUME_MAX_METADATA`, `GANETI_MAX_DISKS_PER_INSTANCE`). Which templates have
/// detachable volumes is the disk-template plugin's `detachable` capability.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VolumesConfig {
    /// Largest volume a user may create, in GiB.
    pub max_size_gb: u64,
    /// Most metadata items per volume.
    pub max_metadata: usize,
    /// Most volumes (disks) per server, the root volume included.
    pub max_per_server: usize,
}

impl Default for VolumesConfig {
    fn default() -> Self {
        VolumesConfig {
            max_size_gb: 200,
            max_metadata: 10,
            max_per_server: 8,
        }
    }
}

/// `[console]`: the built-in VNC console proxy (Synnefo's snf-vncauthproxy; see
/// `crate::console`). Each console request opens a one-time forwarding with its own password.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// The address forwardings listen on; default: the API's listen address.
    pub listen: Option<std::net::IpAddr>,
    /// The host name or address clients are told to connect to; default: the public URL's host.
    pub public_host: Option<String>,
    /// Inclusive range of ports for forwardings, e.g. `[30000, 30999]`; default: any free port.
    pub ports: Option<[u16; 2]>,
    /// How long a forwarding waits for its client, in seconds.
    pub connect_timeout_secs: u64,
    /// At most this many forwardings wait for their client at once (each holds a port): more
    /// console requests answer 503 until some are used or expire.
    pub max_waiting: usize,
    /// At most this many of those per user (more answer 413 `overLimit`), so that one user
    /// cannot hold every port.
    pub max_waiting_per_user: usize,
    /// One PEM file with the private key and certificate chain for `vnc-wss` consoles
    /// (WebSocket over TLS); without it `vnc-wss` answers 501.
    pub tls_pem: Option<PathBuf>,
    /// A noVNC page (its `vnc_lite.html`, e.g. Debian's `novnc` package behind a web server)
    /// for `os-getVNCConsole` `novnc` URLs; without it those answer 501.
    pub novnc_url: Option<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: None,
            public_host: None,
            ports: None,
            connect_timeout_secs: 30,
            max_waiting: 256,
            max_waiting_per_user: 8,
            tls_pem: None,
            novnc_url: None,
        }
    }
}

/// `[rescue]`: booting a stopped server from a rescue CD-ROM image (Synnefo's
/// `RESCUE_ENABLED`, `RESCUE_IMAGE_PATH`). Needs a hypervisor with `boot_order` and
/// `cdrom_image_path` (KVM).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RescueConfig {
    /// The `rescue` and `unrescue` actions exist (otherwise 404, as Synnefo).
    pub enabled: bool,
    /// Where `file` rescue images live on the Ganeti nodes.
    pub image_path: String,
}

impl Default for RescueConfig {
    fn default() -> Self {
        RescueConfig {
            enabled: false,
            image_path: "/usr/share/cyclades/rescue-images".into(),
        }
    }
}

/// `[stats]`: the graph URLs of `GET /servers/<id>/stats` (Synnefo's `*_GRAPH_URL`,
/// `STATS_REFRESH_PERIOD`, `CYCLADES_STATS_SECRET_KEY`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatsConfig {
    /// Key shared with the stats host (snf-stats-app): instance names in the URLs are
    /// AES-256-ECB encrypted under its SHA-256. When unset, one is generated into
    /// `<data-dir>/stats-secret-key` at first start (copy it to the stats host).
    pub secret_key: Option<String>,
    /// Seconds between refreshes the clients are told to use.
    pub refresh_secs: u64,
    /// URL templates, `%s` = the encrypted instance name. Default:
    /// `<public_url>/stats/v1.0/{cpu-bar,cpu-ts,net-bar,net-ts}/%s` (snf-stats-app's layout).
    pub cpu_bar_url: Option<String>,
    pub cpu_timeseries_url: Option<String>,
    pub net_bar_url: Option<String>,
    pub net_timeseries_url: Option<String>,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            secret_key: None,
            refresh_secs: 60,
            cpu_bar_url: None,
            cpu_timeseries_url: None,
            net_bar_url: None,
            net_timeseries_url: None,
        }
    }
}

impl std::fmt::Debug for StatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsConfig")
            .field("secret_key", &self.secret_key.as_ref().map(|_| REDACTED))
            .field("refresh_secs", &self.refresh_secs)
            .field("cpu_bar_url", &self.cpu_bar_url)
            .field("cpu_timeseries_url", &self.cpu_timeseries_url)
            .field("net_bar_url", &self.net_bar_url)
            .field("net_timeseries_url", &self.net_timeseries_url)
            .finish()
    }
}

/// `[demo]`: the embedded simulated cluster of `serve --demo`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Seconds a simulated Ganeti job waits in the queue, and runs (instance create; others).
    /// The defaults follow the real fixtures; 0 everywhere for benchmarks.
    pub ganeti_queued_secs: f64,
    pub ganeti_create_secs: f64,
    pub ganeti_other_secs: f64,
    /// Nodes of the simulated cluster (32 GiB RAM, 1000 GiB disk, 8 CPUs each).
    pub ganeti_nodes: usize,
    /// `fake` (as the real test cluster) or `kvm` (accepts KVM `hvparams`, e.g. for rescue).
    pub ganeti_hypervisor: String,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            ganeti_nodes: 4,
            ganeti_hypervisor: "fake".into(),
            ganeti_queued_secs: 0.2,
            ganeti_create_secs: 0.75,
            ganeti_other_secs: 0.25,
        }
    }
}

/// `[api]`: response shapes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// `endpoint` (default): the endpoint decides. Synnefo's endpoints (the Astakos v2.0
    /// catalog's `/compute/v2.0`, `/network/v2.0`, `/volume/v2.0`) behave as Synnefo's, the
    /// Keystone v3 catalog's (`/compute/v2.1`, `/networking`, `/volume/v3`, `/image/v2`) as
    /// OpenStack's; `docs/compatibility.md` lists the differences. `synnefo` or `openstack`
    /// forces one behaviour on every endpoint.
    pub compat: CompatMode,
    /// How far back a `changes-since` may reach, in seconds (Synnefo's `POLL_LIMIT`, 3600);
    /// older values answer 400 "Too old changes-since value". 0 allows any.
    pub changes_since_poll_limit_secs: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            compat: CompatMode::default(),
            changes_since_poll_limit_secs: 3600,
        }
    }
}

/// `api.compat`: whether the endpoint decides the behaviour, or one behaviour is forced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompatMode {
    #[default]
    Endpoint,
    Synnefo,
    Openstack,
}

impl CompatMode {
    /// The behaviour forced on every endpoint, if any.
    pub fn forced(self) -> Option<Compat> {
        match self {
            CompatMode::Endpoint => None,
            CompatMode::Synnefo => Some(Compat::Synnefo),
            CompatMode::Openstack => Some(Compat::Openstack),
        }
    }
}

/// The behaviour one request gets: Synnefo's shapes and rules, or OpenStack's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compat {
    Synnefo,
    Openstack,
}

/// `[backends]`: the Ganeti clusters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackendsConfig {
    /// How often every online backend's disk templates and resources are refreshed, in seconds
    /// (Synnefo's `BACKEND_REFRESH_MIN`, 15 minutes). 0 turns the refresh off.
    pub refresh_secs: u64,
    /// How often the reconciler compares every online backend with the store and repairs safe
    /// drift (operstate, tasks whose job is gone), in seconds. 0 turns it off.
    pub reconcile_secs: u64,
    /// Ask Ganeti for opportunistic locking on instance creation (Synnefo's
    /// `GANETI_USE_OPPORTUNISTIC_LOCKING`); a `temp_insufficient_resources` failure is then
    /// retried once without it (spec §10.5).
    pub opportunistic_locking: bool,
    /// Change NICs of running servers (Synnefo's `GANETI_USE_HOTPLUG`): connecting and
    /// disconnecting need no stopped server, and kvm backends are asked to hot-plug
    /// (`hotplug_if_possible`; other hypervisors apply the change at the next boot). When off,
    /// CONNECT and DISCONNECT need a STOPPED server.
    pub use_hotplug: bool,
    /// The prefix of every Ganeti name cyclades gives (Synnefo's `BACKEND_PREFIX_ID`):
    /// instances `<prefix><id>`, networks `<prefix>net-<id>`, NICs `<prefix>nic-<id>`, disks
    /// `<prefix>vol-<id>`. Set it once, before the first server: instances named with another
    /// prefix are not cyclades' (the reconciler leaves them alone).
    pub name_prefix: String,
    /// Users whose servers always go to one backend, bypassing the allocator (Synnefo's
    /// `BACKEND_PER_USER`): user id or name → backend id or cluster name. Drained backends are
    /// used all the same; offline ones answer 503.
    pub per_user: BTreeMap<String, String>,
}

impl Default for BackendsConfig {
    fn default() -> Self {
        BackendsConfig {
            refresh_secs: 900,
            reconcile_secs: 30,
            opportunistic_locking: true,
            use_hotplug: true,
            name_prefix: crate::names::DEFAULT_PREFIX.into(),
            per_user: BTreeMap::new(),
        }
    }
}

/// `[server]`: where to listen and keep state, how to log.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Socket address of the HTTP API (all services share it).
    pub listen: SocketAddr,
    /// Directory of the sled database, the `admin-token` file and plugin caches.
    pub data_dir: PathBuf,
    /// Base URL clients use to reach this server, as published in the service catalog
    /// (Synnefo's `CYCLADES_BASE_URL`). Defaults to `http://<listen address>`.
    pub public_url: Option<String>,
    /// Region name published in the catalog.
    pub region: String,
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8774)),
            data_dir: PathBuf::from("./cyclades-data"),
            public_url: None,
            region: "default".into(),
            log_format: LogFormat::Pretty,
            max_body_bytes: 1 << 20,
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// `[identity]`: tokens.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Lifetime of tokens issued by password or token authentication, in seconds.
    pub token_ttl_secs: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            token_ttl_secs: 24 * 3600,
        }
    }
}

/// `[quota]`: limits for projects that have no explicit limit for a resource.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Resource name → default limit (in the resource's unit: counts or bytes).
    pub default_limits: BTreeMap<String, i64>,
}

/// `[plugins]`: the plugin host.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// A directory of operator plugins (`*.wasm`) loaded at start, after the built-ins.
    pub dir: Option<PathBuf>,
    /// Where compiled plugins are cached (default `<data_dir>/plugin-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Initial occupant of each slot, by plugin name (`allocator = "alloc-pack"`,
    /// `"disk-template:drbd" = "drbd"`). The allocator slot defaults to `alloc-default`.
    pub slots: BTreeMap<String, String>,
    /// Consecutive sandbox faults after which a plugin is quarantined.
    pub quarantine_after: u32,
    /// Meter plugins with fuel (deterministic budgets, about 9% slower calls).
    pub fuel: bool,
    /// Plugin calls that may run at once, with pre-allocated instance slots (pooling
    /// allocator); further calls wait. 0 maps memory per call instead (slower).
    pub concurrent_calls: u32,
    /// Limits of every plugin call.
    pub default_limits: PluginLimits,
    /// Per-plugin overrides of the limits (`[plugins.limits."alloc-default"]`).
    pub limits: BTreeMap<String, PluginLimitsOverride>,
    /// Per-plugin settings, read by the plugin with `config-get` (`[plugins.settings.drbd]`).
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: None,
            cache_dir: None,
            slots: BTreeMap::new(),
            quarantine_after: 3,
            fuel: false,
            concurrent_calls: 64,
            default_limits: PluginLimits::default(),
            limits: BTreeMap::new(),
            settings: BTreeMap::new(),
        }
    }
}

/// Limits of one plugin call. Every call gets a fresh store with these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimits {
    /// Linear memory the plugin may grow to, in MiB; growing past it fails the call.
    pub memory_mib: u64,
    /// Wall-clock deadline of a call, in milliseconds (10 ms granularity).
    pub deadline_ms: u64,
    /// Fuel budget of a call, when `plugins.fuel` is on; unset means unmetered.
    pub fuel: Option<u64>,
    /// Table elements the plugin may allocate.
    pub table_elements: u64,
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            memory_mib: 64,
            deadline_ms: 2000,
            fuel: None,
            table_elements: 20_000,
        }
    }
}

/// An override of some limits for one plugin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimitsOverride {
    pub memory_mib: Option<u64>,
    pub deadline_ms: Option<u64>,
    pub fuel: Option<u64>,
    pub table_elements: Option<u64>,
}

/// `[security]`: secrets. Never printed, never logged.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Key that encrypts Ganeti RAPI passwords at rest (Synnefo's `SECRET_ENCRYPTION_KEY`).
    /// When unset, one is generated into the data dir at first start.
    pub secret_key: Option<String>,
}

impl std::fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("secret_key", &self.secret_key.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// A configuration that cannot be used, with the file and key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("bad setting {key}: {message}")]
    Invalid { key: String, message: String },
}

/// Values given as flags or `CYCLADES_*` variables; they override the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub token_ttl_secs: Option<u64>,
    pub secret_key: Option<String>,
    pub store_url: Option<String>,
}

impl Config {
    /// Reads `path` (if given), applies `overrides` and validates the result.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file; unknown keys are refused by name.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: shown,
            message,
        })
    }

    /// Parses TOML text, rendering toml's error (which names the key and line) on one line.
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().to_string();
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(v) = o.listen {
            self.server.listen = v;
        }
        if let Some(v) = &o.data_dir {
            self.server.data_dir = v.clone();
        }
        if let Some(v) = &o.public_url {
            self.server.public_url = Some(v.clone());
        }
        if let Some(v) = o.log_format {
            self.server.log_format = v;
        }
        if let Some(v) = o.token_ttl_secs {
            self.identity.token_ttl_secs = v;
        }
        if let Some(v) = &o.secret_key {
            self.security.secret_key = Some(v.clone());
        }
        if let Some(v) = &o.store_url {
            self.store.url = Some(v.clone());
        }
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "store.url",
                format!(
                    "'{}' is not a postgres:// URL (leave it unset for sled in server.data_dir)",
                    redact_url(url)
                ),
            ));
        }
        if self.store.pool_size == 0 {
            return Err(invalid("store.pool_size", "must be at least 1".into()));
        }
        if let Some([first, last]) = self.console.ports
            && (first == 0 || first > last)
        {
            return Err(invalid(
                "console.ports",
                format!("[{first}, {last}] must be a range of non-zero ports, low to high"),
            ));
        }
        if let Some(problem) = crate::names::prefix_problem(&self.backends.name_prefix) {
            return Err(invalid("backends.name_prefix", problem));
        }
        if self.console.max_waiting_per_user == 0 {
            return Err(invalid(
                "console.max_waiting_per_user",
                "must be at least 1".into(),
            ));
        }
        if self.volumes.max_size_gb == 0 {
            return Err(invalid("volumes.max_size_gb", "must be at least 1".into()));
        }
        if !(1..=16).contains(&self.volumes.max_per_server) {
            return Err(invalid(
                "volumes.max_per_server",
                format!(
                    "{} must be 1 to 16 (Ganeti's limit)",
                    self.volumes.max_per_server
                ),
            ));
        }
        if self.console.connect_timeout_secs == 0 {
            return Err(invalid(
                "console.connect_timeout_secs",
                "must be at least 1".into(),
            ));
        }
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "server.public_url",
                format!("'{url}' must start with http:// or https://"),
            ));
        }
        for (key, template) in [
            ("stats.cpu_bar_url", &self.stats.cpu_bar_url),
            ("stats.cpu_timeseries_url", &self.stats.cpu_timeseries_url),
            ("stats.net_bar_url", &self.stats.net_bar_url),
            ("stats.net_timeseries_url", &self.stats.net_timeseries_url),
        ] {
            if let Some(t) = template
                && t.matches("%s").count() != 1
            {
                return Err(invalid(
                    key,
                    format!("'{t}' must contain %s exactly once (the encrypted instance name)"),
                ));
            }
        }
        if !matches!(
            self.network.default_firewall_profile.as_str(),
            "ENABLED" | "DISABLED" | "PROTECTED"
        ) {
            return Err(invalid(
                "network.default_firewall_profile",
                format!(
                    "'{}' must be ENABLED, DISABLED or PROTECTED",
                    self.network.default_firewall_profile
                ),
            ));
        }
        for (key, list) in [
            (
                "network.default_server_networks",
                &self.network.default_server_networks,
            ),
            (
                "network.forced_server_networks",
                &self.network.forced_server_networks,
            ),
        ] {
            for entry in list {
                for choice in entry.split('|') {
                    if !(choice.starts_with("SNF:ANY_PUBLIC") || choice.parse::<u64>().is_ok()) {
                        return Err(invalid(
                            key,
                            format!(
                                "'{choice}' must be a network id, SNF:ANY_PUBLIC_IPV4, SNF:ANY_PUBLIC_IPV6 or SNF:ANY_PUBLIC"
                            ),
                        ));
                    }
                }
            }
        }
        if !matches!(self.demo.ganeti_hypervisor.as_str(), "fake" | "kvm") {
            return Err(invalid(
                "demo.ganeti_hypervisor",
                format!("'{}' must be fake or kvm", self.demo.ganeti_hypervisor),
            ));
        }
        if self.identity.token_ttl_secs == 0 {
            return Err(invalid(
                "identity.token_ttl_secs",
                "must be at least 1".into(),
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(invalid(
                "server.max_body_bytes",
                "must be at least 1024".into(),
            ));
        }
        for slot in self.plugins.slots.keys() {
            let ok = slot == "allocator"
                || slot
                    .strip_prefix("disk-template:")
                    .is_some_and(|n| !n.is_empty())
                || slot
                    .strip_prefix("network-flavor:")
                    .is_some_and(|n| !n.is_empty());
            if !ok {
                return Err(invalid(
                    &format!("plugins.slots.\"{slot}\""),
                    "unknown slot: use allocator, disk-template:<name> or network-flavor:<name>"
                        .into(),
                ));
            }
        }
        let limits = std::iter::once((
            "default_limits".to_string(),
            self.plugins.default_limits.deadline_ms,
            self.plugins.default_limits.memory_mib,
        ))
        .chain(self.plugins.limits.iter().map(|(n, o)| {
            (
                format!("limits.\"{n}\""),
                o.deadline_ms.unwrap_or(1),
                o.memory_mib.unwrap_or(1),
            )
        }));
        for (key, deadline, memory) in limits {
            if deadline == 0 || memory == 0 {
                return Err(invalid(
                    &format!("plugins.{key}"),
                    "deadline_ms and memory_mib must be at least 1".into(),
                ));
            }
        }
        for (name, limit) in &self.quota.default_limits {
            if resources::resource(name).is_none() {
                return Err(invalid(
                    &format!("quota.default_limits.\"{name}\""),
                    format!(
                        "unknown resource; known resources: {}",
                        resources::resource_names()
                    ),
                ));
            }
            if *limit < 0 {
                return Err(invalid(
                    &format!("quota.default_limits.\"{name}\""),
                    "must not be negative".into(),
                ));
            }
        }
        Ok(())
    }

    /// The default limit of a resource for projects without an explicit one.
    pub fn default_limit(&self, resource: &str) -> i64 {
        self.quota
            .default_limits
            .get(resource)
            .copied()
            .or_else(|| resources::resource(resource).map(|r| r.default_limit))
            .unwrap_or(0)
    }

    /// The effective configuration as TOML, with every secret replaced by `<redacted>`.
    pub fn render_redacted(&self) -> String {
        let mut shown = self.clone();
        if shown.security.secret_key.is_some() {
            shown.security.secret_key = Some(REDACTED.into());
        }
        if shown.stats.secret_key.is_some() {
            shown.stats.secret_key = Some(REDACTED.into());
        }
        shown.store.url = shown.store.url.as_deref().map(redact_url);
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

fn invalid(key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message,
    }
}

mod store;
pub use store::{StoreConfig, redact_url};

#[cfg(test)]
mod tests;
