//! `Batch`: a set of record writes, each with a precondition, committed in one transaction.
//!
//! The job engine commits a local step's mutations together with the step's `Succeeded` event
//! (rule 2: local steps are exactly-once), and services commit a resource's task lock together
//! with the job that holds it. A precondition that fails (another writer got there first) aborts
//! the whole batch with `GenerationMismatch` or `AlreadyExists`, so nothing is half written.

use super::kv::{self, TxError, TxTree};
use serde::Serialize;

use super::model::Versioned;
use super::{Store, StoreError, decode, encode};
use crate::clock::Timestamp;
use crate::store::{
    Backend, FloatingIp, Image, JobEvent, JobRecord, Network, Port, ResourcePool, Server, Volume,
};

/// A record a batch writes by its own key and tree (the network service's records).
pub trait BatchRecord: Serialize + Versioned + Clone {
    const TREE: TreeId;
    fn key(&self) -> Vec<u8>;
    fn touch(&mut self, now: Timestamp);
}

macro_rules! batch_record {
    ($ty:ty, $tree:ident) => {
        impl BatchRecord for $ty {
            const TREE: TreeId = TreeId::$tree;
            fn key(&self) -> Vec<u8> {
                self.id.to_be_bytes().to_vec()
            }
            fn touch(&mut self, now: Timestamp) {
                self.updated = now;
            }
        }
    };
}
batch_record!(Network, Networks);
batch_record!(Port, Ports);
batch_record!(FloatingIp, FloatingIps);
batch_record!(ResourcePool, Pools);
batch_record!(Volume, Volumes);

/// The trees a batch may write, in the order `Store::commit` opens them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TreeId {
    Servers,
    ServersByUpdate,
    Backends,
    Jobs,
    JobLog,
    Images,
    Networks,
    Ports,
    FloatingIps,
    Pools,
    Volumes,
    /// Maintained by `commit` alongside `Ports`; never written by batches directly.
    PortsByServer,
    /// Maintained by `commit` alongside `Volumes`; never written by batches directly.
    VolumesByServer,
    JobLeases,
}

const TREE_COUNT: usize = 14;

#[derive(Clone, Debug)]
enum Expect {
    /// No precondition (index entries).
    Any,
    /// The key must not exist.
    Absent,
    /// The stored record must be at this generation.
    Generation(u64),
    /// The job lease at this key must be held by this owner at this attempt (read locked, so
    /// no claim commits in between); the op writes nothing.
    Lease { owner: String, attempt: u64 },
}

#[derive(Clone, Debug)]
struct Op {
    tree: TreeId,
    kind: &'static str,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    expect: Expect,
}

/// Writes to commit atomically. Build one, then `Store::commit` it.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    ops: Vec<Op>,
}

/// Key of the `servers_by_update` index: updated time ‖ server id, both big-endian.
pub(super) fn update_key(updated: Timestamp, id: u64) -> Vec<u8> {
    let mut key = (updated.0.max(0) as u64).to_be_bytes().to_vec();
    key.extend_from_slice(&id.to_be_bytes());
    key
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Appends every write of `other`.
    pub fn extend(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }

    fn write<T: Serialize + Versioned>(
        &mut self,
        tree: TreeId,
        key: Vec<u8>,
        record: &T,
        expect: Expect,
    ) {
        self.ops.push(Op {
            tree,
            kind: T::KIND,
            key,
            value: Some(encode(record)),
            expect,
        });
    }

    /// Inserts a new server (fails if the id exists).
    pub fn insert_server(&mut self, server: &Server) {
        let mut s = server.clone();
        s.generation = 1;
        self.ops.push(Op {
            tree: TreeId::ServersByUpdate,
            kind: "server index",
            key: update_key(s.updated, s.id),
            value: Some(Vec::new()),
            expect: Expect::Any,
        });
        self.write(
            TreeId::Servers,
            s.id.to_be_bytes().to_vec(),
            &s,
            Expect::Absent,
        );
    }

    /// Writes back a server read at `server.generation`, bumping generation and `updated`.
    /// `before` is the record as read (its `updated` locates the old index entry).
    pub fn update_server(&mut self, before: &Server, after: &Server) {
        let mut s = after.clone();
        s.generation = before.generation + 1;
        s.updated = Timestamp::now().max(before.updated);
        self.ops.push(Op {
            tree: TreeId::ServersByUpdate,
            kind: "server index",
            key: update_key(before.updated, before.id),
            value: None,
            expect: Expect::Any,
        });
        self.ops.push(Op {
            tree: TreeId::ServersByUpdate,
            kind: "server index",
            key: update_key(s.updated, s.id),
            value: Some(Vec::new()),
            expect: Expect::Any,
        });
        self.write(
            TreeId::Servers,
            s.id.to_be_bytes().to_vec(),
            &s,
            Expect::Generation(before.generation),
        );
    }

    /// Writes back a backend read at `backend.generation`.
    pub fn update_backend(&mut self, backend: &Backend) {
        let mut b = backend.clone();
        b.generation += 1;
        b.updated = Timestamp::now();
        self.write(
            TreeId::Backends,
            b.id.to_be_bytes().to_vec(),
            &b,
            Expect::Generation(backend.generation),
        );
    }

    /// Inserts a new job record.
    pub fn insert_job(&mut self, job: &JobRecord) {
        let mut j = job.clone();
        j.generation = 1;
        self.write(
            TreeId::Jobs,
            j.id.to_be_bytes().to_vec(),
            &j,
            Expect::Absent,
        );
    }

    /// Writes back a job record read at `job.generation`.
    pub fn update_job(&mut self, job: &JobRecord) {
        let mut j = job.clone();
        j.generation += 1;
        j.updated = Timestamp::now();
        self.write(
            TreeId::Jobs,
            j.id.to_be_bytes().to_vec(),
            &j,
            Expect::Generation(job.generation),
        );
    }

    /// Appends an event to a job's log (the slot must be free: a job never runs twice).
    pub fn append_event(&mut self, job_id: u64, event: &JobEvent) {
        self.write(
            TreeId::JobLog,
            super::jobs::log_key(job_id, event.seq),
            event,
            Expect::Absent,
        );
    }

    /// Creates a new job's lease, held by `owner` (attempt 1) until `expires` (store clock).
    pub fn insert_job_lease(&mut self, job_id: u64, owner: &str, expires: i64) {
        let lease = super::Lease {
            owner: owner.to_string(),
            attempt: 1,
            expires,
        };
        self.ops.push(Op {
            tree: TreeId::JobLeases,
            kind: "job lease",
            key: job_id.to_be_bytes().to_vec(),
            value: Some(lease.encode()),
            expect: Expect::Absent,
        });
    }

    /// Removes a finished job's lease.
    pub fn remove_job_lease(&mut self, job_id: u64) {
        self.ops.push(Op {
            tree: TreeId::JobLeases,
            kind: "job lease",
            key: job_id.to_be_bytes().to_vec(),
            value: None,
            expect: Expect::Any,
        });
    }

    /// Commits the batch only while `owner` holds the job's lease at `attempt`: a replica
    /// that lost the lease (stopped past its expiry, then resumed) can no longer write.
    pub fn fence_job(&mut self, job_id: u64, owner: &str, attempt: u64) {
        self.ops.push(Op {
            tree: TreeId::JobLeases,
            kind: "job lease",
            key: job_id.to_be_bytes().to_vec(),
            value: None,
            expect: Expect::Lease {
                owner: owner.to_string(),
                attempt,
            },
        });
    }

    /// Inserts a new record (fails if its id exists).
    pub fn insert<T: BatchRecord>(&mut self, record: &T) {
        let mut r = record.clone();
        r.set_generation(1);
        self.write(T::TREE, r.key(), &r, Expect::Absent);
    }

    /// Writes back a record read at `record.generation()`, bumping it and `updated`.
    pub fn update<T: BatchRecord>(&mut self, record: &T) {
        let mut r = record.clone();
        r.set_generation(record.generation() + 1);
        r.touch(Timestamp::now());
        self.write(
            T::TREE,
            r.key(),
            &r,
            Expect::Generation(record.generation()),
        );
    }

    /// Removes a record read at `record.generation()`.
    pub fn remove<T: BatchRecord>(&mut self, record: &T) {
        self.ops.push(Op {
            tree: T::TREE,
            kind: T::KIND,
            key: record.key(),
            value: None,
            expect: Expect::Generation(record.generation()),
        });
    }

    /// Writes back an image read at `image.generation`.
    pub fn update_image(&mut self, image: &Image) {
        let mut i = image.clone();
        i.generation += 1;
        i.updated = Timestamp::now();
        self.write(
            TreeId::Images,
            i.id.as_bytes().to_vec(),
            &i,
            Expect::Generation(image.generation),
        );
    }
}

/// The server a port (`device_id`) or a volume (`server_id`) belongs to.
#[derive(serde::Deserialize)]
struct ServerOf {
    #[serde(default)]
    device_id: Option<u64>,
    #[serde(default)]
    server_id: Option<u64>,
}

/// Moves a port's or volume's by-server index entry from its stored server to the one in `new`
/// (before the record itself is written, in the same transaction).
fn reindex_by_server(
    index: &TxTree,
    records: &TxTree,
    key: &[u8],
    new: Option<&[u8]>,
) -> Result<(), TxError> {
    let server = |raw: &[u8]| -> Result<Option<u64>, TxError> {
        let of = decode::<ServerOf>("batch", raw).map_err(TxError::Abort)?;
        Ok(of.device_id.or(of.server_id))
    };
    let record_id = u64::from_be_bytes(key.try_into().unwrap_or([0; 8]));
    let old = match records.get(key)? {
        Some(raw) => server(&raw)?,
        None => None,
    };
    let new = match new {
        Some(raw) => server(raw)?,
        None => None,
    };
    if old != new {
        if let Some(server) = old {
            index.remove(super::network::by_server_key(server, record_id))?;
        }
        if let Some(server) = new {
            index.insert(super::network::by_server_key(server, record_id), [])?;
        }
    }
    Ok(())
}

#[derive(serde::Deserialize)]
struct GenerationOnly {
    #[serde(default)]
    generation: u64,
}

impl Store {
    fn batch_tree(&self, id: TreeId) -> &kv::Tree {
        match id {
            TreeId::Servers => &self.trees.servers,
            TreeId::ServersByUpdate => &self.trees.servers_by_update,
            TreeId::Backends => &self.trees.backends,
            TreeId::Jobs => &self.trees.jobs,
            TreeId::JobLog => &self.trees.job_log,
            TreeId::Images => &self.trees.images,
            TreeId::Networks => &self.trees.networks,
            TreeId::Ports => &self.trees.ports,
            TreeId::FloatingIps => &self.trees.floating_ips,
            TreeId::Pools => &self.trees.pools,
            TreeId::Volumes => &self.trees.volumes,
            TreeId::PortsByServer => &self.trees.ports_by_server,
            TreeId::VolumesByServer => &self.trees.volumes_by_server,
            TreeId::JobLeases => &self.trees.job_leases,
        }
    }

    /// Commits every write of `batch` atomically, or none if a precondition fails.
    pub fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let order = [
            TreeId::Servers,
            TreeId::ServersByUpdate,
            TreeId::Backends,
            TreeId::Jobs,
            TreeId::JobLog,
            TreeId::Images,
            TreeId::Networks,
            TreeId::Ports,
            TreeId::FloatingIps,
            TreeId::Pools,
            TreeId::Volumes,
            TreeId::PortsByServer,
            TreeId::VolumesByServer,
            TreeId::JobLeases,
        ];
        let position = |id: TreeId| order.iter().position(|t| *t == id).unwrap_or(0);
        let (port_index, volume_index) = (
            position(TreeId::PortsByServer),
            position(TreeId::VolumesByServer),
        );
        let trees: Vec<&kv::Tree> = order.iter().map(|t| self.batch_tree(*t)).collect();
        debug_assert_eq!(trees.len(), TREE_COUNT);
        kv::transact(&trees, |view| {
            for op in &batch.ops {
                let index = order.iter().position(|t| *t == op.tree).unwrap_or(0);
                let tree = &view[index];
                let id = || String::from_utf8_lossy(&op.key).into_owned();
                match &op.expect {
                    Expect::Any => {}
                    Expect::Lease { owner, attempt } => {
                        let held = match tree.get_locked(&op.key)? {
                            Some(raw) => Some(super::Lease::decode(&raw).map_err(TxError::Abort)?),
                            None => None,
                        };
                        match held {
                            Some(l) if &l.owner == owner && l.attempt == *attempt => continue,
                            other => {
                                return Err(TxError::Abort(StoreError::LeaseLost {
                                    job: u64::from_be_bytes(
                                        op.key.as_slice().try_into().unwrap_or([0; 8]),
                                    ),
                                    holder: other
                                        .map(|l| format!("{} (attempt {})", l.owner, l.attempt)),
                                }));
                            }
                        }
                    }
                    Expect::Absent => {
                        if tree.get(&op.key)?.is_some() {
                            return Err(TxError::Abort(StoreError::AlreadyExists {
                                kind: op.kind,
                                id: id(),
                            }));
                        }
                    }
                    Expect::Generation(expected) => {
                        let found = match tree.get(&op.key)? {
                            Some(raw) => {
                                decode::<GenerationOnly>("batch", &raw)
                                    .map_err(TxError::Abort)?
                                    .generation
                            }
                            None => {
                                return Err(TxError::Abort(StoreError::NotFound {
                                    kind: op.kind,
                                    id: id(),
                                }));
                            }
                        };
                        if found != *expected {
                            return Err(TxError::Abort(StoreError::GenerationMismatch {
                                kind: op.kind,
                                id: id(),
                                expected: *expected,
                                found,
                            }));
                        }
                    }
                }
                match op.tree {
                    TreeId::Ports => {
                        reindex_by_server(&view[port_index], tree, &op.key, op.value.as_deref())?
                    }
                    TreeId::Volumes => {
                        reindex_by_server(&view[volume_index], tree, &op.key, op.value.as_deref())?
                    }
                    _ => {}
                }
                match &op.value {
                    Some(v) => {
                        tree.insert(op.key.as_slice(), v.as_slice())?;
                    }
                    None => {
                        tree.remove(op.key.as_slice())?;
                    }
                }
            }
            Ok(())
        })
    }
}
