//! Starting and stopping the whole control plane in one process: bind the port, open the
//! store, bootstrap identity (and the demo, if asked), write the operator token, serve HTTP,
//! and on shutdown drain requests and flush the store.
//!
//! This is the composition root: it may use every layer, and nothing below it may use it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::{self, AppState};
use crate::backend::sim;
use crate::config::Config;
use crate::demo::{self, DemoInfo};
use crate::plugins::{LimitsTable, PluginError, PluginHost, PluginHostOptions, Pool, SlotName};
use crate::secrets::Sealer;
use crate::service::{ServiceError, Services};
use crate::store::{Store, StoreError};

/// Name of the operator-token file in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// How often expired tokens are swept from the store.
const TOKEN_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Why the server could not start or stopped badly. Each message is one clear line.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
    #[error(
        "the data directory {path} is in use by another cyclades process (its lock is held); \
         replicas sharing a store each need a data directory of their own"
    )]
    DataDirInUse { path: String },
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("startup failed: {0}")]
    Service(#[from] ServiceError),
    #[error("plugins: {0}")]
    Plugin(#[from] PluginError),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
    #[error("backends.name_prefix: {0}")]
    NamePrefix(String),
    #[error("configuration: {0}")]
    Config(String),
}

/// What to start.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub config: Config,
    /// Seed the demo user, project and admin (see `demo`).
    pub demo: bool,
}

/// A server that is accepting requests.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub public_url: String,
    pub data_dir: PathBuf,
    /// The operator token (also in `<data_dir>/admin-token`).
    pub admin_token: String,
    /// Present when started with `demo`.
    pub demo: Option<DemoInfo>,
    services: Services,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
    /// Token purge, backend refresh and reconciliation; the lease heartbeat (apart, so that a
    /// long reconciliation pass never delays it).
    housekeeping: Vec<JoinHandle<()>>,
    /// The in-process simulated Ganeti cluster of `--demo`.
    simulator: Option<sim::RunningSim>,
    /// `<data-dir>/serve.lock`, locked for as long as this server runs (dropped last).
    _data_dir_lock: std::fs::File,
}

impl RunningServer {
    /// The RAPI URL of the in-process simulated Ganeti cluster (`--demo` only).
    pub fn simulator_url(&self) -> Option<String> {
        self.simulator.as_ref().map(|s| s.url())
    }

    /// Stops accepting requests, lets in-flight ones finish, and flushes the store.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.finish().await
    }

    /// Runs until `signal` completes, then shuts down gracefully.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServerError> {
        tokio::select! {
            _ = signal => {
                tracing::info!("shutdown requested");
                if let Some(tx) = self.shutdown.take() {
                    let _ = tx.send(());
                }
            }
            _ = &mut self.task => {}
        }
        self.finish().await
    }

    async fn finish(self) -> Result<(), ServerError> {
        // Wait for the housekeeping task to be gone too: it holds a handle on the store, and the data
        // directory's lock is released only when the last handle is dropped.
        for task in &self.housekeeping {
            task.abort();
        }
        for task in self.housekeeping {
            let _ = task.await;
        }
        if let Some(sim) = self.simulator {
            sim.shutdown().await;
        }
        let served = self
            .task
            .await
            .unwrap_or_else(|e| Err(ServerError::Serve(std::io::Error::other(e.to_string()))));
        self.services.flush().await?;
        tracing::info!("store flushed; stopped");
        served
    }
}

/// Starts the server and returns once it accepts requests.
pub async fn start(options: ServerOptions) -> Result<RunningServer, ServerError> {
    let config = options.config;
    crate::names::set_prefix(&config.backends.name_prefix).map_err(ServerError::NamePrefix)?;
    let addr = config.server.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| ServerError::Listen {
            addr,
            reason: match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "the address is already in use (is another cyclades running?)".into()
                }
                _ => e.to_string(),
            },
        })?;
    let bound = listener.local_addr().map_err(ServerError::Serve)?;
    let data_dir = config.server.data_dir.clone();
    let data_dir_lock = prepare_data_dir(&data_dir)?;
    let store = open_store(&config)?;
    // A console forwarding listens on the replica that answered the console action, so its URL
    // must name that replica; behind a load balancer (`public_url`) the default, the public
    // URL's host, would send the client to any replica.
    if store.shared() && config.server.public_url.is_some() && config.console.public_host.is_none()
    {
        return Err(ServerError::Config(
            "[console] public_host must name this replica (its own host name or address) when \
             replicas share a store behind server.public_url: console forwardings listen on the \
             replica that opened them"
                .into(),
        ));
    }
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"))
        .trim_end_matches('/')
        .to_string();
    let plugins = start_plugins(&config, options.demo).await?;
    // The key that seals secrets at rest and the one that signs stats URLs: configured, else
    // `<data-dir>/secret-key` and `stats-secret-key` (generated, mode 0600, at first start).
    let secret_key = load_or_generate_secret(
        config.security.secret_key.as_deref(),
        &data_dir.join(SECRET_KEY_FILE),
    )?;
    let stats_key = load_or_generate_secret(
        config.stats.secret_key.as_deref(),
        &data_dir.join(STATS_SECRET_KEY_FILE),
    )?;
    let services = Services::new(store, config.clone(), plugins, Sealer::new(&secret_key));
    // Several replicas may share a PostgreSQL store: this one registers first (refused if its
    // id is in use by a live process or its keys differ from the live replicas').
    let mut replica = services
        .replica_register(
            &format!("http://{bound}"),
            crate::service::replicas::replica_keys(&secret_key, &stats_key),
        )
        .await?;

    services
        .identity_bootstrap(options.demo.then_some(demo::ADMIN_PASSWORD))
        .await?;
    let demo = if options.demo {
        Some(demo::seed(&services).await?)
    } else {
        None
    };
    let simulator = if options.demo {
        let sim = sim::start(sim::SimOptions {
            tls: false,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            cluster_name: "demo.ganeti.sim".into(),
            nodes: config.demo.ganeti_nodes.clamp(1, 256),
            username: demo::SIM_USERNAME.into(),
            password: demo::SIM_PASSWORD.into(),
            state_dir: Some(data_dir.join("ganeti-sim")),
            hypervisor: config.demo.ganeti_hypervisor.clone(),
            latency: sim::Latency {
                queued: config.demo.ganeti_queued_secs.max(0.0),
                create: config.demo.ganeti_create_secs.max(0.0),
                other: config.demo.ganeti_other_secs.max(0.0),
            },
        })
        .await
        .map_err(|e| ServerError::Serve(std::io::Error::other(e.to_string())))?;
        demo::register_simulator(&services, sim.addr.port(), &config.demo.ganeti_hypervisor)
            .await?;
        Some(sim)
    } else {
        None
    };
    let admin_token = ensure_admin_token(&services, &data_dir)?;
    services.flush().await?;
    // Rule 7: jobs a previous process left unfinished resume now (backends are registered).
    // On a shared store, only the jobs it may: its own previous incarnation's, and lapsed ones.
    let resumed = services.jobs_recover()?;
    if resumed > 0 {
        tracing::info!(resumed, "unfinished jobs resumed");
    }
    // Replicas on a shared store keep their plugin slots alike: take the published state (or
    // publish this one's, if first), then follow changes made elsewhere.
    if let Err(e) = services.plugins_follow() {
        tracing::error!(error = %e, "cannot follow the replicas' plugin slots");
    }
    let plugin_services = services.clone();
    let plugin_follow = tokio::spawn(async move {
        let mut tick = tokio::time::interval(crate::service::plugin_sync::PLUGIN_FOLLOW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = plugin_services.clone();
            match tokio::task::spawn_blocking(move || s.plugins_follow()).await {
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "following the replicas' plugin slots failed")
                }
                Ok(Ok(true)) => tracing::info!("plugin slots follow another replica's change"),
                _ => {}
            }
        }
    });
    let leader = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lease_services = services.clone();
    let lease_leader = leader.clone();
    let lease_every = (config.store.lease() / 3).max(Duration::from_millis(100));
    let heartbeat = tokio::spawn(async move {
        let mut tick = tokio::time::interval(lease_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = lease_services.clone();
            let mut r = replica.clone();
            let beat = tokio::task::spawn_blocking(move || {
                let outcome = (
                    s.replica_heartbeat(&mut r),
                    s.jobs().heartbeat(),
                    s.reconciler_lead(),
                );
                (r, outcome)
            })
            .await;
            let Ok((r, (registry, jobs, lead))) = beat else {
                continue;
            };
            replica = r;
            if let Err(e) = registry {
                tracing::warn!(error = %e, "replica heartbeat failed");
            }
            if let Err(e) = jobs {
                tracing::warn!(error = %crate::jobs::chain(&e), "job lease heartbeat failed");
            }
            let leads = lead.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reconciler lease check failed");
                false
            });
            if leads != lease_leader.swap(leads, std::sync::atomic::Ordering::SeqCst) {
                tracing::info!(leads, "reconciler leadership changed");
            }
        }
    });

    let state = AppState::new(
        services.clone(),
        public_url.clone(),
        config.server.region.clone(),
        config.server.max_body_bytes,
        crate::api::StatsUrls::new(&config.stats, &stats_key, &public_url),
    );
    let app = api::router(state);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
            .map_err(ServerError::Serve)
    });
    let housekeeping_services = services.clone();
    let refresh_every = config.backends.refresh_secs;
    let reconcile_every = config.backends.reconcile_secs;
    let reconcile_leader = leader;
    let housekeeping = tokio::spawn(async move {
        let mut tick = tokio::time::interval(TOKEN_PURGE_INTERVAL);
        // Backend resources go stale as Ganeti changes; refresh them periodically (spec §13).
        let mut refresh = tokio::time::interval(Duration::from_secs(refresh_every.max(1)));
        refresh.tick().await;
        let mut reconcile = tokio::time::interval(Duration::from_secs(reconcile_every.max(1)));
        reconcile.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    match housekeeping_services.token_purge_expired() {
                        Ok(n) if n > 0 => tracing::info!(purged = n, "expired tokens removed"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "token purge failed"),
                    }
                    match housekeeping_services.secrets_purge_expired() {
                        Ok(n) if n > 0 => tracing::info!(purged = n, "expired VM secrets removed"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "VM secret purge failed"),
                    }
                }
                // The leader refreshes too: each refresh overwrites the optimistic charges of
                // placements in flight, so N replicas refreshing would wipe them N times as often.
                _ = refresh.tick(), if refresh_every > 0 => {
                    if !reconcile_leader.load(std::sync::atomic::Ordering::SeqCst) {
                        continue;
                    }
                    match housekeeping_services.backend_update_status(None).await {
                        Ok(list) => {
                            for b in list.iter().filter(|b| b.backend.last_error.is_some()) {
                                tracing::warn!(backend = %b.backend.clustername, error = ?b.backend.last_error, "backend refresh failed");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "backend refresh failed"),
                    }
                }
                // One replica reconciles at a time: the holder of the reconciler's lease. The
                // lease is checked when the tick fires, not as a `select!` guard: a guard is
                // read only when the loop turns, so a replica that became leader after it
                // would wait for an unrelated branch before its first pass.
                _ = reconcile.tick(), if reconcile_every > 0 => {
                    if !reconcile_leader.load(std::sync::atomic::Ordering::SeqCst) {
                        continue;
                    }
                    match housekeeping_services.reconcile(None, crate::jobs::ServerFixes::safe()).await {
                        Ok(reports) => {
                            let repaired: usize = reports.iter().map(|r| r.drift.iter().filter(|d| d.fixed).count()).sum();
                            let open: usize = reports.iter().map(|r| r.drift.iter().filter(|d| !d.fixed).count()).sum();
                            if repaired + open > 0 {
                                tracing::info!(repaired, awaiting_operator = open, "reconciliation pass");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "reconciliation failed"),
                    }
                    match housekeeping_services.reconcile_networks_safe().await {
                        Ok((repaired, open)) if repaired + open > 0 => {
                            tracing::info!(repaired, awaiting_operator = open, "network reconciliation pass");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "network reconciliation failed"),
                    }
                }
            }
        }
    });
    tracing::info!(%bound, %public_url, data_dir = %data_dir.display(), "cyclades is serving");
    Ok(RunningServer {
        addr: bound,
        public_url,
        data_dir,
        admin_token,
        demo,
        services,
        shutdown: Some(tx),
        task,
        housekeeping: vec![heartbeat, plugin_follow, housekeeping],
        simulator,
        _data_dir_lock: data_dir_lock,
    })
}

/// Creates the plugin host, loads the built-ins and the operator's plugin directory, and
/// puts the configured occupants into their slots.
async fn start_plugins(
    config: &Config,
    with_examples: bool,
) -> Result<Arc<PluginHost>, ServerError> {
    let p = &config.plugins;
    let options = PluginHostOptions {
        cache_dir: Some(
            p.cache_dir
                .clone()
                .unwrap_or_else(|| config.server.data_dir.join("plugin-cache")),
        ),
        fuel: p.fuel
            || p.default_limits.fuel.is_some()
            || p.limits.values().any(|l| l.fuel.is_some()),
        pool: (p.concurrent_calls > 0).then(|| Pool {
            concurrent_calls: p.concurrent_calls,
            max_memory_mib: p
                .limits
                .values()
                .filter_map(|l| l.memory_mib)
                .fold(p.default_limits.memory_mib, u64::max),
        }),
        limits: LimitsTable {
            default: p.default_limits,
            overrides: p.limits.clone(),
        },
        settings: p.settings.clone(),
        quarantine_after: p.quarantine_after,
        metrics: crate::metrics::Metrics::new(),
    };
    let dir = p.dir.clone();
    let slots = p.slots.clone();
    let started = std::time::Instant::now();
    let host = tokio::task::spawn_blocking(move || -> Result<PluginHost, ServerError> {
        let host = PluginHost::new(options)?;
        host.load_builtins()?;
        if with_examples {
            host.load_examples()?;
        }
        if let Some(dir) = dir {
            host.load_dir(&dir)?;
        }
        for (slot, name) in &slots {
            let parsed = SlotName::parse(slot)?;
            let plugin = host.find(name)?;
            host.swap(&parsed, plugin).map_err(|e| {
                ServerError::Plugin(PluginError::BadRequest(format!(
                    "plugins.slots.\"{slot}\": {e}"
                )))
            })?;
        }
        Ok(host)
    })
    .await
    .map_err(|e| ServerError::Serve(std::io::Error::other(e.to_string())))??;
    tracing::info!(
        plugins = host.library().len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "plugins loaded"
    );
    Ok(Arc::new(host))
}

/// The configured store: PostgreSQL at `[store] url`, else sled in the data directory.
pub fn open_store(config: &Config) -> Result<Store, crate::store::StoreError> {
    match &config.store.url {
        Some(url) => {
            let store = Store::open_postgres(&crate::store::PgOptions {
                url: url.clone(),
                ca_file: config.store.ca_file.clone(),
                pool_size: config.store.pool_size,
            })?;
            tracing::info!(store = %crate::store::redact_url(url), "store: PostgreSQL");
            Ok(store)
        }
        None => Store::open(&config.server.data_dir),
    }
}

/// One table copied by `store_migrate`: entries and the SHA-256 both sides agree on.
#[derive(Clone, Debug)]
pub struct MigratedTable {
    pub table: &'static str,
    pub entries: usize,
    pub digest: String,
}

/// `cyclades store-migrate`: copies the sled store of `from` into the empty PostgreSQL database
/// at `to` and verifies it. Refuses a target that holds anything.
pub fn store_migrate(
    from: &Path,
    to: &str,
    ca_file: Option<PathBuf>,
) -> Result<Vec<MigratedTable>, ServerError> {
    if !from.join("db").exists() {
        return Err(ServerError::DataDir {
            path: from.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no store here (expected a db/ directory)",
            ),
        });
    }
    let source = Store::open(from)?;
    let target = Store::open_postgres(&crate::store::PgOptions {
        url: to.to_string(),
        ca_file,
        pool_size: 4,
    })?;
    let reports = source.copy_into(&target)?;
    Ok(reports
        .into_iter()
        .map(|r| MigratedTable {
            table: r.tree,
            entries: r.entries,
            digest: r.digest,
        })
        .collect())
}

fn prepare_data_dir(dir: &Path) -> Result<std::fs::File, ServerError> {
    let err = |source| ServerError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    // One process per data directory, whichever store it uses: the directory holds the
    // admin token, the keys and the demo cluster's state. (sled also locks its own files;
    // PostgreSQL replicas share the store but never a directory.)
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(DATA_DIR_LOCK_FILE))
        .map_err(err)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServerError::DataDirInUse {
            path: dir.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(err(e)),
    }
}

/// The file a running server keeps locked in its data directory.
pub const DATA_DIR_LOCK_FILE: &str = "serve.lock";

/// Name of the generated secret-key file (when `security.secret_key` is not configured).
pub const SECRET_KEY_FILE: &str = "secret-key";

/// Name of the generated stats key file (when `stats.secret_key` is not configured).
pub const STATS_SECRET_KEY_FILE: &str = "stats-secret-key";

/// A configured secret, else the one in `path`, else a new one written there (mode 0600).
fn load_or_generate_secret(configured: Option<&str>, path: &Path) -> Result<String, ServerError> {
    if let Some(secret) = configured {
        return Ok(secret.to_string());
    }
    let err = |source| ServerError::DataDir {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(secret) if !secret.trim().is_empty() => Ok(secret.trim().to_string()),
        Ok(_) => Err(err(std::io::Error::other("the secret key file is empty"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = Sealer::generate_secret();
            write_private(path, &secret).map_err(err)?;
            Ok(secret)
        }
        Err(e) => Err(err(e)),
    }
}

/// Reads `admin-token`, keeps it if still valid, otherwise issues a new one and writes it
/// (mode 0600, atomically).
fn ensure_admin_token(services: &Services, dir: &Path) -> Result<String, ServerError> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    let existing = std::fs::read_to_string(&path)
        .ok()
        .map(|s| s.trim().to_string());
    match services.admin_token_ensure(existing.as_deref())? {
        None => Ok(existing.unwrap_or_default()),
        Some(token) => {
            write_private(&path, &token).map_err(|source| ServerError::DataDir {
                path: path.display().to_string(),
                source,
            })?;
            Ok(token)
        }
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
