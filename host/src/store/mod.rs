//! The state store: a typed, resource-first API over sled or PostgreSQL.
//!
//! Owns the database handle, the tree layout (one tree per resource plus index trees), the
//! monotonic id generator, the schema version check, and the generic record mechanics: JSON
//! encoding, compare-and-swap updates on a `generation`, soft delete, and multi-tree
//! transactions. It knows nothing about HTTP, jobs, plugins or Ganeti, and no engine type leaves
//! this module: callers see `Store`, the records in `model`, and `StoreError`. The engine (sled
//! in the data directory, or PostgreSQL) lives in `kv`; everything else here is written once.
//!
//! | tree                 | key                         | value            |
//! |----------------------|-----------------------------|------------------|
//! | `meta`               | `schema_version`            | u32, big-endian  |
//! | `users`              | user id                     | `User`           |
//! | `users_by_name`      | user name                   | user id          |
//! | `projects`           | project id                  | `Project`        |
//! | `projects_by_name`   | project name                | project id       |
//! | `tokens`             | SHA-256 of the token        | `TokenRecord`    |
//! | `quota_limits`       | project id ‖ 0 ‖ resource   | `QuotaLimit`     |
//! | `quota_usage`        | project id ‖ 0 ‖ resource   | `QuotaUsage`     |
//! | `commissions`        | serial, u64 big-endian      | `Commission`     |
//! | `commissions_by_name`| commission name             | serial           |
//! | `backends`           | backend id, u64 big-endian  | `Backend`        |
//! | `backends_by_name`   | cluster name                | backend id       |
//! | `project_backends`   | project id ‖ 0 ‖ backend id | (empty)          |
//! | `jobs`               | job id                      | `JobRecord`      |
//! | `job_log`            | job id ‖ seq                | `JobEvent`       |
//! | `volume_types`       | volume type id              | `VolumeType`     |
//! | `flavors`            | flavor id                   | `Flavor`         |
//! | `flavor_keys`        | cpu ‖ ram ‖ disk ‖ vtype    | flavor id        |
//! | `images`             | image uuid                  | `Image`          |
//! | `servers`            | server id                   | `Server`         |
//! | `servers_by_update`  | updated ms ‖ server id      | (empty)          |
//! | `keypairs`           | user id ‖ 0 ‖ name          | `KeyPair`        |
//! | `rescue_images`      | rescue image id             | `RescueImage`    |
//! | `networks`           | network id                  | `Network` (with its subnets) |
//! | `ports`              | port id                     | `Port`           |
//! | `ports_by_server`    | server id ‖ port id         | (empty; rebuilt at open) |
//! | `floating_ips`       | floating IP id              | `FloatingIp`     |
//! | `pools`              | pool id                     | `ResourcePool`   |
//! | `volumes`            | volume id                   | `Volume`         |
//! | `volumes_by_server`  | server id ‖ volume id       | (empty; rebuilt at open) |
//! | `job_leases`         | job id (unfinished jobs)    | `kv::Lease`      |
//! | `leases`             | lease name (`reconciler`)   | `kv::Lease`      |
//! | `replicas`           | replica id                  | `ReplicaRecord`  |
//! | `vm_secrets`         | digest of the secret's name | `SealedSecret`   |
//! | `plugin_state`       | `slots`                     | `PluginSlots`    |
//! | `plugin_components`  | component digest (hex)      | component bytes  |

mod backend;
mod batch;
mod compute;
mod copy;
mod error;
mod identity;
mod jobs;
mod keypairs;
pub mod kv;
mod leases;
mod migrate;
pub mod model;
mod model_compute;
mod model_jobs;
mod model_network;
mod model_volume;
mod network;
mod plugin_state;
mod quota;
mod rescue;
pub mod testing;
mod vm_secrets;
mod volume;
pub use backend::MAX_BACKENDS;
pub use batch::{Batch, BatchRecord};
pub use copy::TreeReport;
pub use kv::{ClaimScope, Lease, PgOptions, redact_url};
pub use leases::{JobLease, ReplicaRecord};
pub use plugin_state::{PluginSlots, SlotRecord};
pub use quota::NewCommission;
pub use vm_secrets::SealedSecret;

use std::path::Path;

use serde::{Serialize, de::DeserializeOwned};

pub use error::StoreError;
pub use model::*;
pub use model_compute::*;
pub use model_jobs::*;
pub use model_network::*;
pub use model_volume::*;

/// The schema version this build writes. Bump it (and add a migration in `open`) whenever a
/// persisted shape changes incompatibly.
pub const SCHEMA_VERSION: u32 = 2;

const SCHEMA_KEY: &[u8] = b"schema_version";

/// Whether list calls include soft-deleted records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Deleted {
    /// Only live records (the default everywhere).
    #[default]
    Exclude,
    /// Only soft-deleted records (`--deleted` in the admin CLI).
    Only,
    /// Both.
    Include,
}

impl Deleted {
    pub fn keeps(self, deleted: bool) -> bool {
        match self {
            Deleted::Exclude => !deleted,
            Deleted::Only => deleted,
            Deleted::Include => true,
        }
    }
}

/// The open database. Cheap to clone (engine handles are reference counted).
#[derive(Clone)]
pub struct Store {
    db: kv::Db,
    trees: Trees,
    meta: kv::Tree,
    group: std::sync::Arc<GroupCommit>,
}

/// Group commit: concurrent `flush` calls share one fsync. A flush that *starts* after a
/// caller's request covers that caller's writes (they happened before the request), so the
/// caller may return without its own fsync.
#[derive(Default)]
struct GroupCommit {
    requests: std::sync::atomic::AtomicU64,
    covered: std::sync::atomic::AtomicU64,
    lock: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct Trees {
    users: kv::Tree,
    users_by_name: kv::Tree,
    projects: kv::Tree,
    projects_by_name: kv::Tree,
    tokens: kv::Tree,
    quota_limits: kv::Tree,
    quota_usage: kv::Tree,
    commissions: kv::Tree,
    commissions_by_name: kv::Tree,
    backends: kv::Tree,
    backends_by_name: kv::Tree,
    project_backends: kv::Tree,
    jobs: kv::Tree,
    job_log: kv::Tree,
    volume_types: kv::Tree,
    flavors: kv::Tree,
    flavor_keys: kv::Tree,
    images: kv::Tree,
    servers: kv::Tree,
    servers_by_update: kv::Tree,
    keypairs: kv::Tree,
    rescue_images: kv::Tree,
    networks: kv::Tree,
    ports: kv::Tree,
    /// Index: server id ‖ port id (both big-endian) → empty, kept by `commit`.
    ports_by_server: kv::Tree,
    floating_ips: kv::Tree,
    pools: kv::Tree,
    volumes: kv::Tree,
    /// Index: server id ‖ volume id (both big-endian) → empty, kept by `commit`.
    volumes_by_server: kv::Tree,
    job_leases: kv::Tree,
    leases: kv::Tree,
    replicas: kv::Tree,
    vm_secrets: kv::Tree,
    plugin_state: kv::Tree,
    plugin_components: kv::Tree,
}

impl Store {
    /// Opens (creating if needed) the sled database under `dir/db`, checking the schema version.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("db");
        let shown = path.display().to_string();
        let db = sled::Config::new()
            .path(&path)
            .open()
            .map_err(|e| match &e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked {
                        path: dir.display().to_string(),
                    }
                }
                _ => StoreError::Open {
                    path: shown.clone(),
                    source: Box::new(e),
                },
            })?;
        Store::over(kv::Db::Sled(db), &dir.display().to_string())
    }

    /// Opens the PostgreSQL store at `opts.url`, applying its migrations. Any number of
    /// replicas may share it: jobs are owned through leases, the reconciler through a leader.
    pub fn open_postgres(opts: &PgOptions) -> Result<Store, StoreError> {
        let db = kv::PgDb::open(opts)?;
        Store::over(kv::Db::Pg(std::sync::Arc::new(db)), &redact_url(&opts.url))
    }

    /// The trees, the record schema check and migrations, the same on every engine.
    fn over(db: kv::Db, shown: &str) -> Result<Store, StoreError> {
        let meta = db.tree("meta")?;
        let mut migrate_from = None;
        match meta.get(SCHEMA_KEY)? {
            None => {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(raw) => {
                let found = u32::from_be_bytes(raw.as_slice().try_into().map_err(|_| {
                    StoreError::Open {
                        path: shown.to_string(),
                        source: "schema_version is not a 4-byte integer".into(),
                    }
                })?);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        path: shown.to_string(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                if found < SCHEMA_VERSION {
                    migrate_from = Some(found);
                }
            }
        }
        let trees = Trees {
            users: db.tree("users")?,
            users_by_name: db.tree("users_by_name")?,
            projects: db.tree("projects")?,
            projects_by_name: db.tree("projects_by_name")?,
            tokens: db.tree("tokens")?,
            quota_limits: db.tree("quota_limits")?,
            quota_usage: db.tree("quota_usage")?,
            commissions: db.tree("commissions")?,
            commissions_by_name: db.tree("commissions_by_name")?,
            backends: db.tree("backends")?,
            backends_by_name: db.tree("backends_by_name")?,
            project_backends: db.tree("project_backends")?,
            jobs: db.tree("jobs")?,
            job_log: db.tree("job_log")?,
            volume_types: db.tree("volume_types")?,
            flavors: db.tree("flavors")?,
            flavor_keys: db.tree("flavor_keys")?,
            images: db.tree("images")?,
            servers: db.tree("servers")?,
            servers_by_update: db.tree("servers_by_update")?,
            keypairs: db.tree("keypairs")?,
            rescue_images: db.tree("rescue_images")?,
            networks: db.tree("networks")?,
            ports: db.tree("ports")?,
            ports_by_server: db.tree("ports_by_server")?,
            floating_ips: db.tree("floating_ips")?,
            pools: db.tree("pools")?,
            volumes: db.tree("volumes")?,
            volumes_by_server: db.tree("volumes_by_server")?,
            job_leases: db.tree("job_leases")?,
            leases: db.tree("leases")?,
            replicas: db.tree("replicas")?,
            vm_secrets: db.tree("vm_secrets")?,
            plugin_state: db.tree("plugin_state")?,
            plugin_components: db.tree("plugin_components")?,
        };
        let store = Store {
            db,
            trees,
            meta,
            group: Default::default(),
        };
        // Derived data is rebuilt rather than trusted (and stores from before the index get it).
        store.rebuild_port_index()?;
        store.rebuild_volume_index()?;
        // Older schemas are migrated one version at a time; each version is written after its
        // migration, so a crash re-runs (idempotent) migrations.
        if let Some(mut version) = migrate_from {
            while version < SCHEMA_VERSION {
                if version == 1 {
                    let added = migrate::add_root_volumes(&store)?;
                    tracing::info!(added, "schema 1 → 2: root volumes recorded for servers");
                }
                version += 1;
                store.meta.insert(SCHEMA_KEY, version.to_be_bytes())?;
            }
        }
        store.db.flush_blocking()?;
        Ok(store)
    }

    /// Which engine holds the store: "sled" or "postgres".
    pub fn engine(&self) -> &'static str {
        self.db.engine()
    }

    /// Whether the store answers (for `/healthz`).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.db.ping()
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let raw = self
            .meta
            .get(SCHEMA_KEY)?
            .ok_or_else(|| StoreError::NotFound {
                kind: "meta key",
                id: "schema_version".into(),
            })?;
        Ok(u32::from_be_bytes(
            raw.as_slice().try_into().unwrap_or([0; 4]),
        ))
    }

    /// Test and migration hook: overwrite the recorded schema version.
    #[doc(hidden)]
    pub fn force_schema_version(&self, version: u32) -> Result<(), StoreError> {
        self.meta.insert(SCHEMA_KEY, version.to_be_bytes())?;
        self.db.flush_blocking()?;
        Ok(())
    }

    /// A new integer id, from 1: monotonic and never repeated, though it may skip values.
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        self.db.generate_id()
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        let ticket = self.group.requests.fetch_add(1, SeqCst) + 1;
        let _one_at_a_time = self.group.lock.lock().await;
        if self.group.covered.load(SeqCst) >= ticket {
            return Ok(());
        }
        let upto = self.group.requests.load(SeqCst);
        self.db.flush().await?;
        self.group.covered.fetch_max(upto, SeqCst);
        Ok(())
    }

    /// Bytes the store takes on disk (0 if the engine cannot tell).
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk()
    }

    /// Blocking flush, for shutdown paths outside an async context.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush_blocking()
    }
}

// ----- generic record mechanics (private to the store) -----

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our records are plain structs of strings, numbers and maps with string keys: encoding
    // them cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(tree: &'static str, raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|source| StoreError::Corrupt { tree, source })
}

fn get<T: DeserializeOwned + model::Versioned>(
    tree: &kv::Tree,
    tree_name: &'static str,
    key: &[u8],
) -> Result<T, StoreError> {
    match tree.get(key)? {
        Some(raw) => decode(tree_name, &raw),
        None => Err(StoreError::NotFound {
            kind: T::KIND,
            id: String::from_utf8_lossy(key).into_owned(),
        }),
    }
}

fn scan<T: DeserializeOwned>(
    tree: &kv::Tree,
    tree_name: &'static str,
    prefix: &[u8],
) -> Result<Vec<T>, StoreError> {
    tree.scan_prefix(prefix)?
        .iter()
        .map(|(_, raw)| decode(tree_name, raw))
        .collect()
}

/// Reads, mutates and writes back one record with compare-and-swap, bumping its generation.
///
/// With `expected = Some(g)` the update fails with `GenerationMismatch` unless the stored record
/// is at generation `g`. With `None`, a concurrent writer makes the update retry on fresh data.
fn update_cas<T, F>(
    tree: &kv::Tree,
    tree_name: &'static str,
    key: &[u8],
    expected: Option<u64>,
    mut mutate: F,
) -> Result<T, StoreError>
where
    T: Serialize + DeserializeOwned + model::Versioned,
    F: FnMut(&mut T) -> Result<(), StoreError>,
{
    loop {
        let old_raw = tree.get(key)?.ok_or_else(|| StoreError::NotFound {
            kind: T::KIND,
            id: String::from_utf8_lossy(key).into_owned(),
        })?;
        let mut record: T = decode(tree_name, &old_raw)?;
        if let Some(expected) = expected
            && record.generation() != expected
        {
            return Err(StoreError::GenerationMismatch {
                kind: T::KIND,
                id: String::from_utf8_lossy(key).into_owned(),
                expected,
                found: record.generation(),
            });
        }
        mutate(&mut record)?;
        record.set_generation(record.generation() + 1);
        let new_raw = encode(&record);
        match tree.compare_and_swap(key, Some(&old_raw), Some(&new_raw))? {
            Ok(()) => return Ok(record),
            Err(_) if expected.is_none() => continue,
            Err(current) => {
                let found = match current {
                    Some(raw) => decode::<T>(tree_name, &raw)?.generation(),
                    None => 0,
                };
                return Err(StoreError::GenerationMismatch {
                    kind: T::KIND,
                    id: String::from_utf8_lossy(key).into_owned(),
                    expected: expected.unwrap_or_default(),
                    found,
                });
            }
        }
    }
}

/// Key of a per-project, per-resource record: `project ‖ 0 ‖ resource`.
fn project_resource_key(project_id: &str, resource: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(project_id.len() + resource.len() + 1);
    key.extend_from_slice(project_id.as_bytes());
    key.push(0);
    key.extend_from_slice(resource.as_bytes());
    key
}

fn project_prefix(project_id: &str) -> Vec<u8> {
    let mut key = project_id.as_bytes().to_vec();
    key.push(0);
    key
}

#[cfg(test)]
mod tests;
