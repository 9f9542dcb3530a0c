//! The key-value layer under the store: ordered trees of byte keys and values, point reads and
//! writes, prefix and range scans, compare-and-swap, and multi-tree transactions, over either of
//! two engines: sled in the data directory (the embedded default) or PostgreSQL (the shared store
//! of several replicas).
//!
//! Owns the choice of engine and everything engine-specific: no sled or PostgreSQL type leaves
//! this module, and the store's resource methods above it are written once against `Tree`,
//! `TxTree` and `transact`. It knows nothing about records, resources or their meaning beyond
//! which tree holds JSON (PostgreSQL stores those as JSONB).

mod lease;
mod pg;
mod pg_schema;
mod sled_kv;

use super::StoreError;

pub use crate::config::redact_url;
pub use lease::{ClaimScope, Lease};
pub use pg::PgOptions;
pub(super) use pg::{PgDb, create_database, execute, tables_containing};

/// PostgreSQL round trips of this process so far: (statements outside transactions,
/// transactions, transactions re-run after a conflict). For benchmarks and diagnosis.
pub fn engine_counts() -> (u64, u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (
        pg::STATEMENTS.load(Relaxed),
        pg::TRANSACTIONS.load(Relaxed),
        pg::CONFLICTS.load(Relaxed),
    )
}

/// Keys and values read from a tree.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The open engine.
#[derive(Clone)]
pub(super) enum Db {
    Sled(sled::Db),
    Pg(std::sync::Arc<pg::PgDb>),
}

/// One named tree of an open engine. Cheap to clone.
#[derive(Clone)]
pub(super) struct Tree {
    name: &'static str,
    engine: TreeEngine,
}

#[derive(Clone)]
enum TreeEngine {
    Sled(sled::Tree),
    Pg(std::sync::Arc<pg::PgDb>),
}

/// How a multi-tree transaction's closure fails: `Abort` ends the transaction with that error;
/// `Conflict` (a concurrent writer) makes `transact` run the closure again on fresh data.
#[derive(Debug)]
pub(super) enum TxError {
    Abort(StoreError),
    Conflict,
    Sled(sled::transaction::UnabortableTransactionError),
}

impl From<sled::transaction::UnabortableTransactionError> for TxError {
    fn from(e: sled::transaction::UnabortableTransactionError) -> Self {
        TxError::Sled(e)
    }
}

/// A tree inside a running transaction.
pub(super) enum TxTree<'a> {
    Sled(&'a sled::transaction::TransactionalTree),
    Pg {
        tx: &'a pg::PgTx,
        table: &'static str,
    },
}

impl Db {
    /// Opens (creating if needed) one tree.
    pub(super) fn tree(&self, name: &'static str) -> Result<Tree, StoreError> {
        let engine = match self {
            Db::Sled(db) => TreeEngine::Sled(db.open_tree(name)?),
            Db::Pg(db) => {
                db.check_table(name)?;
                TreeEngine::Pg(db.clone())
            }
        };
        Ok(Tree { name, engine })
    }

    /// A new integer id, from 1: monotonic per engine and never repeated, though it may skip.
    pub(super) fn generate_id(&self) -> Result<u64, StoreError> {
        match self {
            Db::Sled(db) => Ok(db.generate_id()? + 1),
            Db::Pg(db) => db.next_id(),
        }
    }

    /// Makes every write so far durable (PostgreSQL commits are durable already).
    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        match self {
            Db::Sled(db) => {
                db.flush_async().await?;
                Ok(())
            }
            Db::Pg(_) => Ok(()),
        }
    }

    pub(super) fn flush_blocking(&self) -> Result<(), StoreError> {
        if let Db::Sled(db) = self {
            db.flush()?;
        }
        Ok(())
    }

    pub(super) fn size_on_disk(&self) -> u64 {
        match self {
            Db::Sled(db) => db.size_on_disk().unwrap_or(0),
            Db::Pg(db) => db.size_on_disk().unwrap_or(0),
        }
    }

    /// Makes the next generated id at least `next` (after copying ids from another store).
    pub(super) fn advance_ids_to(&self, next: u64) -> Result<(), StoreError> {
        match self {
            Db::Sled(_) => {
                while self.generate_id()? < next {}
                Ok(())
            }
            Db::Pg(db) => db.advance_ids_to(next),
        }
    }

    /// Which engine runs, for `/healthz` and the logs ("sled" or "postgres").
    pub(super) fn engine(&self) -> &'static str {
        match self {
            Db::Sled(_) => "sled",
            Db::Pg(_) => "postgres",
        }
    }

    /// Now on the engine's clock, in milliseconds since the epoch: the database's on
    /// PostgreSQL (estimated from the offset measured at open), this machine's on sled.
    pub(super) fn now_ms(&self) -> i64 {
        match self {
            Db::Sled(_) => crate::clock::Timestamp::now().0,
            Db::Pg(db) => db.now_ms(),
        }
    }

    /// Whether other processes may share this store (PostgreSQL) or it is this process's
    /// alone (sled's file lock).
    pub(super) fn shared(&self) -> bool {
        matches!(self, Db::Pg(_))
    }

    /// Whether the engine answers (PostgreSQL: a round trip; sled: always).
    pub(super) fn ping(&self) -> Result<(), StoreError> {
        match self {
            Db::Sled(_) => Ok(()),
            Db::Pg(db) => db.ping(),
        }
    }
}

impl Tree {
    pub(super) fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the tree's values are JSON records (as opposed to raw index bytes).
    pub(super) fn holds_json(&self) -> bool {
        pg_schema::table(self.name).is_some_and(|t| t.json)
    }

    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.engine {
            TreeEngine::Sled(t) => Ok(t.get(key)?.map(|v| v.to_vec())),
            TreeEngine::Pg(db) => db.get(self.name, key.as_ref()),
        }
    }

    pub(super) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), StoreError> {
        match &self.engine {
            TreeEngine::Sled(t) => {
                t.insert(key.as_ref(), value.as_ref())?;
                Ok(())
            }
            TreeEngine::Pg(db) => db.put(self.name, key.as_ref(), value.as_ref()),
        }
    }

    /// Removes `key`; whether it was there.
    pub(super) fn remove(&self, key: impl AsRef<[u8]>) -> Result<bool, StoreError> {
        match &self.engine {
            TreeEngine::Sled(t) => Ok(t.remove(key.as_ref())?.is_some()),
            TreeEngine::Pg(db) => db.delete(self.name, key.as_ref()),
        }
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub(super) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> Result<Vec<Entry>, StoreError> {
        let prefix = prefix.as_ref();
        match &self.engine {
            TreeEngine::Sled(t) => collect(t.scan_prefix(prefix)),
            TreeEngine::Pg(db) => db.scan(self.name, prefix, prefix_end(prefix).as_deref()),
        }
    }

    /// Every entry whose key is at least `start`, in key order.
    pub(super) fn range_from(&self, start: impl AsRef<[u8]>) -> Result<Vec<Entry>, StoreError> {
        let start = start.as_ref();
        match &self.engine {
            TreeEngine::Sled(t) => collect(t.range(start..)),
            TreeEngine::Pg(db) => db.scan(self.name, start, None),
        }
    }

    /// Every entry, in key order.
    pub(super) fn iter(&self) -> Result<Vec<Entry>, StoreError> {
        self.scan_prefix(b"")
    }

    pub(super) fn len(&self) -> Result<usize, StoreError> {
        match &self.engine {
            TreeEngine::Sled(t) => Ok(t.len()),
            TreeEngine::Pg(db) => db.count(self.name),
        }
    }

    pub(super) fn clear(&self) -> Result<(), StoreError> {
        match &self.engine {
            TreeEngine::Sled(t) => Ok(t.clear()?),
            TreeEngine::Pg(db) => db.clear(self.name),
        }
    }

    /// Replaces `old` (None: absent) by `new` (None: remove) if `old` is what is stored; else
    /// `Ok(Err(current))`. JSON values compare by meaning, not bytes, on PostgreSQL.
    pub(super) fn compare_and_swap(
        &self,
        key: &[u8],
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        match &self.engine {
            TreeEngine::Sled(t) => Ok(t
                .compare_and_swap(key, old, new)?
                .map_err(|e| e.current.map(|v| v.to_vec()))),
            TreeEngine::Pg(db) => db.compare_and_swap(self.name, key, old, new),
        }
    }
}

fn collect(
    iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
) -> Result<Vec<Entry>, StoreError> {
    iter.map(|item| {
        let (k, v) = item?;
        Ok((k.to_vec(), v.to_vec()))
    })
    .collect()
}

/// The smallest key greater than every key with `prefix` (None: there is none).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl TxTree<'_> {
    pub(super) fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, TxError> {
        match self {
            TxTree::Sled(t) => Ok(t.get(key.as_ref())?.map(|v| v.to_vec())),
            TxTree::Pg { tx, table } => tx.get(table, key.as_ref(), false),
        }
    }

    /// `get`, locking the entry against concurrent writers until the transaction ends (the
    /// fence of a lease: a claim by another replica cannot slip in before the commit).
    pub(super) fn get_locked(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, TxError> {
        match self {
            TxTree::Sled(t) => Ok(t.get(key.as_ref())?.map(|v| v.to_vec())),
            TxTree::Pg { tx, table } => tx.get(table, key.as_ref(), true),
        }
    }

    pub(super) fn insert(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<(), TxError> {
        match self {
            TxTree::Sled(t) => {
                t.insert(key.as_ref(), value.as_ref())?;
                Ok(())
            }
            TxTree::Pg { tx, table } => {
                tx.write(table, key.as_ref(), Some(value.as_ref()));
                Ok(())
            }
        }
    }

    pub(super) fn remove(&self, key: impl AsRef<[u8]>) -> Result<(), TxError> {
        match self {
            TxTree::Sled(t) => {
                t.remove(key.as_ref())?;
                Ok(())
            }
            TxTree::Pg { tx, table } => {
                tx.write(table, key.as_ref(), None);
                Ok(())
            }
        }
    }

    pub(super) fn generate_id(&self) -> Result<u64, TxError> {
        match self {
            TxTree::Sled(t) => Ok(t.generate_id().map_err(|e| TxError::Abort(e.into()))? + 1),
            TxTree::Pg { tx, .. } => tx.next_id(),
        }
    }
}

/// Runs `f` over `trees` as one atomic, isolated transaction: it sees a consistent state, and
/// its writes all land or none do. `f` may run more than once (after a conflict), so it must not
/// have effects outside the trees. All trees must come from the same engine.
pub(super) fn transact<T>(
    trees: &[&Tree],
    f: impl Fn(&[TxTree]) -> Result<T, TxError>,
) -> Result<T, StoreError> {
    let Some(first) = trees.first() else {
        return f(&[]).map_err(|e| match e {
            TxError::Abort(e) => e,
            other => StoreError::Database(format!("{other:?}").into()),
        });
    };
    match &first.engine {
        TreeEngine::Sled(_) => {
            let sled_trees: Vec<&sled::Tree> = trees
                .iter()
                .filter_map(|t| match &t.engine {
                    TreeEngine::Sled(s) => Some(s),
                    TreeEngine::Pg(_) => None,
                })
                .collect();
            sled_kv::transact(&sled_trees, f)
        }
        TreeEngine::Pg(db) => {
            let tables: Vec<&'static str> = trees.iter().map(|t| t.name).collect();
            db.transact(&tables, f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_key_after_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
