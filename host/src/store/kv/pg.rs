//! The PostgreSQL engine: a connection pool on a runtime of its own, the tree operations as SQL
//! over the tables of `pg_schema`, and multi-tree transactions at SERIALIZABLE isolation.
//!
//! The store API is synchronous (sled's is), so each call hands its query to this engine's
//! runtime and waits for the answer on a plain channel: that works from any thread, inside or
//! outside the callers' tokio runtimes, and never nests runtimes. A transaction holds one pooled
//! connection in a task of that runtime for as long as its closure runs (microseconds: closures
//! only read and compute), buffers its writes, and sends them with the commit. PostgreSQL
//! aborts one of two transactions that could not have run one after the other (40001), and
//! `transact` then runs the closure again, as sled does on a conflict.

use std::cell::RefCell;
use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::IsolationLevel;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::pg_schema::{self, MIGRATION_LOCK};
use super::{Entry, TxError, TxTree};
use crate::config::redact_url;
use crate::store::StoreError;

/// Where and how to reach the database.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/db?sslmode=…` (or a key=value connection string).
    pub url: String,
    /// Extra CA certificates (PEM) to trust for TLS to the database, beside the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Connections in this process's pool.
    pub pool_size: usize,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        PgOptions {
            url: url.into(),
            ca_file: None,
            pool_size: 16,
        }
    }
}

/// The runtime every PostgreSQL connection of this process lives on (never dropped, so a store
/// dropped inside an async context cannot panic by dropping a runtime).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cyclades-postgres")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the PostgreSQL runtime: {e}"))
    })
}

/// Runs `fut` on the engine's runtime and waits for its result.
fn block<T: Send + 'static>(
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| StoreError::Database("the PostgreSQL worker stopped".into()))?
}

fn db_err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Database(Box::new(e))
}

fn is_conflict(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Round trips of this process's PostgreSQL stores: statements outside transactions,
/// transactions begun, and transactions re-run after a conflict (`kv::engine_counts`).
pub(super) static STATEMENTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub(super) static TRANSACTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub(super) static CONFLICTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn count(counter: &std::sync::atomic::AtomicU64) {
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The open PostgreSQL store of one process.
pub(in crate::store) struct PgDb {
    pool: Pool,
    shown: String,
    /// The database's clock minus this machine's, in milliseconds, measured at open: leases
    /// written here expire on the database's clock, as the claims that judge them do.
    clock_offset_ms: i64,
}

/// SQL for a value parameter `$n` of `table`, and for reading `v` back.
fn value_in(json: bool, n: usize) -> String {
    if json {
        format!("${n}::text::jsonb")
    } else {
        format!("${n}")
    }
}

fn value_out(json: bool) -> &'static str {
    if json { "v::text" } else { "v" }
}

fn value_param(json: bool, value: &[u8]) -> Box<dyn ToSql + Send + Sync> {
    if json {
        Box::new(String::from_utf8_lossy(value).into_owned())
    } else {
        Box::new(value.to_vec())
    }
}

fn read_value(json: bool, row: &tokio_postgres::Row, idx: usize) -> Result<Vec<u8>, StoreError> {
    if json {
        Ok(row.try_get::<_, String>(idx).map_err(db_err)?.into_bytes())
    } else {
        row.try_get::<_, Vec<u8>>(idx).map_err(db_err)
    }
}

fn is_json(table: &str) -> bool {
    pg_schema::table(table).is_some_and(|t| t.json)
}

fn params(p: &[Box<dyn ToSql + Send + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    p.iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl PgDb {
    /// Connects and applies the migrations this build knows (refusing a newer schema). Any
    /// number of processes may hold the same database open.
    pub(in crate::store) fn open(opts: &PgOptions) -> Result<PgDb, StoreError> {
        let shown = redact_url(&opts.url);
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let config: tokio_postgres::Config = opts.url.parse().map_err(|e| open_err(Box::new(e)))?;
        let tls = tls_connector(opts.ca_file.as_deref()).map_err(open_err)?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(opts.pool_size.max(2))
            .build()
            .map_err(|e| open_err(Box::new(e)))?;
        let migrate_pool = pool.clone();
        let migrate_shown = shown.clone();
        block(async move { migrate(&migrate_pool, &migrate_shown).await })?;
        let mut db = PgDb {
            pool,
            shown,
            clock_offset_ms: 0,
        };
        let before = crate::clock::Timestamp::now().0;
        let rows = db.query(
            "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint".into(),
            vec![],
        )?;
        let after = crate::clock::Timestamp::now().0;
        let remote: i64 = rows
            .first()
            .ok_or_else(|| StoreError::Database("the clock query returned no row".into()))?
            .try_get(0)
            .map_err(db_err)?;
        db.clock_offset_ms = remote - (before + after) / 2;
        Ok(db)
    }

    /// Now on the database's clock (milliseconds since the epoch), estimated locally.
    pub(in crate::store) fn now_ms(&self) -> i64 {
        crate::clock::Timestamp::now().0 + self.clock_offset_ms
    }

    /// One statement returning `(k, v::text)` rows.
    pub(in crate::store) fn query_rows(
        &self,
        sql: String,
        args: Vec<Box<dyn ToSql + Send + Sync>>,
    ) -> Result<Vec<Entry>, StoreError> {
        self.query(sql, args)?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, Vec<u8>>(0).map_err(db_err)?,
                    r.try_get::<_, String>(1).map_err(db_err)?.into_bytes(),
                ))
            })
            .collect()
    }

    /// One statement; how many rows it changed.
    pub(in crate::store) fn execute_sql(
        &self,
        sql: String,
        args: Vec<Box<dyn ToSql + Send + Sync>>,
    ) -> Result<u64, StoreError> {
        self.execute(sql, args)
    }

    pub(in crate::store) fn check_table(&self, name: &str) -> Result<(), StoreError> {
        match pg_schema::table(name) {
            Some(_) => Ok(()),
            None => Err(StoreError::Open {
                path: self.shown.clone(),
                source: format!("no table for tree '{name}'").into(),
            }),
        }
    }

    /// One statement on a pooled connection, returning its rows.
    fn query(
        &self,
        sql: String,
        args: Vec<Box<dyn ToSql + Send + Sync>>,
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        count(&STATEMENTS);
        let pool = self.pool.clone();
        block(async move {
            let client = pool.get().await.map_err(db_err)?;
            let statement = client.prepare_cached(&sql).await.map_err(db_err)?;
            client
                .query(&statement, &params(&args))
                .await
                .map_err(db_err)
        })
    }

    fn execute(
        &self,
        sql: String,
        args: Vec<Box<dyn ToSql + Send + Sync>>,
    ) -> Result<u64, StoreError> {
        count(&STATEMENTS);
        let pool = self.pool.clone();
        block(async move {
            let client = pool.get().await.map_err(db_err)?;
            let statement = client.prepare_cached(&sql).await.map_err(db_err)?;
            client
                .execute(&statement, &params(&args))
                .await
                .map_err(db_err)
        })
    }

    pub(in crate::store) fn get(
        &self,
        table: &'static str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let json = is_json(table);
        let rows = self.query(
            format!("SELECT {} FROM {table} WHERE k = $1", value_out(json)),
            vec![Box::new(key.to_vec())],
        )?;
        rows.first().map(|r| read_value(json, r, 0)).transpose()
    }

    pub(in crate::store) fn put(
        &self,
        table: &'static str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        let json = is_json(table);
        self.execute(
            upsert_sql(table, json),
            vec![Box::new(key.to_vec()), value_param(json, value)],
        )?;
        Ok(())
    }

    pub(in crate::store) fn delete(
        &self,
        table: &'static str,
        key: &[u8],
    ) -> Result<bool, StoreError> {
        Ok(self.execute(
            format!("DELETE FROM {table} WHERE k = $1"),
            vec![Box::new(key.to_vec())],
        )? > 0)
    }

    pub(in crate::store) fn scan(
        &self,
        table: &'static str,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> Result<Vec<Entry>, StoreError> {
        let json = is_json(table);
        let out = value_out(json);
        let (sql, args): (String, Vec<Box<dyn ToSql + Send + Sync>>) = match end {
            Some(end) => (
                format!("SELECT k, {out} FROM {table} WHERE k >= $1 AND k < $2 ORDER BY k"),
                vec![Box::new(start.to_vec()), Box::new(end.to_vec())],
            ),
            None => (
                format!("SELECT k, {out} FROM {table} WHERE k >= $1 ORDER BY k"),
                vec![Box::new(start.to_vec())],
            ),
        };
        self.query(sql, args)?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, Vec<u8>>(0).map_err(db_err)?,
                    read_value(json, r, 1)?,
                ))
            })
            .collect()
    }

    pub(in crate::store) fn count(&self, table: &'static str) -> Result<usize, StoreError> {
        let rows = self.query(format!("SELECT count(*) FROM {table}"), vec![])?;
        let n: i64 = rows
            .first()
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db_err)?
            .unwrap_or(0);
        Ok(n as usize)
    }

    pub(in crate::store) fn clear(&self, table: &'static str) -> Result<(), StoreError> {
        self.execute(format!("DELETE FROM {table}"), vec![])?;
        Ok(())
    }

    pub(in crate::store) fn compare_and_swap(
        &self,
        table: &'static str,
        key: &[u8],
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<Result<(), Option<Vec<u8>>>, StoreError> {
        let json = is_json(table);
        let k: Box<dyn ToSql + Send + Sync> = Box::new(key.to_vec());
        let changed = match (old, new) {
            (None, None) => self.get(table, key)?.is_none(),
            (None, Some(new)) => {
                self.execute(
                    format!(
                        "INSERT INTO {table} (k, v) VALUES ($1, {}) ON CONFLICT (k) DO NOTHING",
                        value_in(json, 2)
                    ),
                    vec![k, value_param(json, new)],
                )? == 1
            }
            (Some(old), Some(new)) => {
                self.execute(
                    format!(
                        "UPDATE {table} SET v = {} WHERE k = $1 AND v = {}",
                        value_in(json, 2),
                        value_in(json, 3)
                    ),
                    vec![k, value_param(json, new), value_param(json, old)],
                )? == 1
            }
            (Some(old), None) => {
                self.execute(
                    format!(
                        "DELETE FROM {table} WHERE k = $1 AND v = {}",
                        value_in(json, 2)
                    ),
                    vec![k, value_param(json, old)],
                )? == 1
            }
        };
        if changed {
            Ok(Ok(()))
        } else {
            Ok(Err(self.get(table, key)?))
        }
    }

    pub(in crate::store) fn next_id(&self) -> Result<u64, StoreError> {
        let rows = self.query("SELECT nextval('cyclades_ids')".into(), vec![])?;
        let id: i64 = rows
            .first()
            .ok_or_else(|| StoreError::Database("nextval returned no row".into()))?
            .try_get(0)
            .map_err(db_err)?;
        Ok(id as u64)
    }

    pub(in crate::store) fn advance_ids_to(&self, next: u64) -> Result<(), StoreError> {
        self.query(
            "SELECT setval('cyclades_ids', greatest($1, (SELECT last_value FROM cyclades_ids)))"
                .into(),
            vec![Box::new(next as i64)],
        )?;
        Ok(())
    }

    pub(in crate::store) fn size_on_disk(&self) -> Result<u64, StoreError> {
        let rows = self.query("SELECT pg_database_size(current_database())".into(), vec![])?;
        let n: i64 = rows
            .first()
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(db_err)?
            .unwrap_or(0);
        Ok(n as u64)
    }

    pub(in crate::store) fn ping(&self) -> Result<(), StoreError> {
        self.query("SELECT 1".into(), vec![]).map(|_| ())
    }

    /// Runs `f` in SERIALIZABLE transactions until one commits or `f` aborts.
    pub(in crate::store) fn transact<T>(
        &self,
        tables: &[&'static str],
        f: impl Fn(&[TxTree]) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        let mut backoff = Duration::from_millis(1);
        loop {
            count(&TRANSACTIONS);
            let tx = PgTx::begin(self);
            let trees: Vec<TxTree> = tables
                .iter()
                .map(|table| TxTree::Pg { tx: &tx, table })
                .collect();
            let outcome = f(&trees);
            drop(trees);
            match outcome {
                Ok(value) => match tx.commit() {
                    Ok(()) => return Ok(value),
                    Err(TxError::Conflict) => {}
                    Err(TxError::Abort(e)) => return Err(e),
                    Err(TxError::Sled(e)) => return Err(db_err(e)),
                },
                Err(TxError::Conflict) => {}
                Err(TxError::Abort(e)) => return Err(e),
                Err(TxError::Sled(e)) => return Err(db_err(e)),
            }
            // A conflict: another transaction won. Try again on fresh data, a little later.
            count(&CONFLICTS);
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(50));
        }
    }
}

fn upsert_sql(table: &str, json: bool) -> String {
    format!(
        "INSERT INTO {table} (k, v) VALUES ($1, {}) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
        value_in(json, 2)
    )
}

/// A buffered write of a transaction: (table, key, value or removal).
type Write = (&'static str, Vec<u8>, Option<Vec<u8>>);

enum TxRequest {
    Get {
        table: &'static str,
        key: Vec<u8>,
        /// `FOR SHARE`: a concurrent writer of the row waits for this transaction, and one
        /// that committed after its snapshot aborts it (40001), even outside SERIALIZABLE.
        lock: bool,
        reply: SyncSender<Result<Option<Vec<u8>>, TxError>>,
    },
    Commit {
        writes: Vec<Write>,
        reply: SyncSender<Result<(), TxError>>,
    },
}

/// One running transaction, seen from the caller's thread.
pub(in crate::store) struct PgTx {
    requests: tokio::sync::mpsc::UnboundedSender<TxRequest>,
    writes: RefCell<Vec<Write>>,
    pool: Pool,
}

fn tx_failure(e: tokio_postgres::Error) -> TxError {
    if is_conflict(&e) {
        TxError::Conflict
    } else {
        TxError::Abort(db_err(e))
    }
}

impl PgTx {
    fn begin(db: &PgDb) -> PgTx {
        let (requests, receiver) = tokio::sync::mpsc::unbounded_channel();
        runtime().spawn(transaction_task(db.pool.clone(), receiver));
        PgTx {
            requests,
            writes: RefCell::new(Vec::new()),
            pool: db.pool.clone(),
        }
    }

    fn ask<T>(
        &self,
        make: impl FnOnce(SyncSender<Result<T, TxError>>) -> TxRequest,
    ) -> Result<T, TxError> {
        let (reply, answer) = sync_channel(1);
        self.requests.send(make(reply)).map_err(|_| {
            TxError::Abort(StoreError::Database("the transaction task ended".into()))
        })?;
        answer.recv().map_err(|_| {
            TxError::Abort(StoreError::Database("the transaction task ended".into()))
        })?
    }

    pub(in crate::store) fn get(
        &self,
        table: &'static str,
        key: &[u8],
        lock: bool,
    ) -> Result<Option<Vec<u8>>, TxError> {
        // Reads see the transaction's own writes first.
        if let Some((_, _, value)) = self
            .writes
            .borrow()
            .iter()
            .rev()
            .find(|(t, k, _)| *t == table && k == key)
        {
            return Ok(value.clone());
        }
        let key = key.to_vec();
        self.ask(|reply| TxRequest::Get {
            table,
            key,
            lock,
            reply,
        })
    }

    pub(in crate::store) fn write(&self, table: &'static str, key: &[u8], value: Option<&[u8]>) {
        self.writes
            .borrow_mut()
            .push((table, key.to_vec(), value.map(<[u8]>::to_vec)));
    }

    /// Ids come from the shared sequence, outside the transaction (a retried closure skips some).
    pub(in crate::store) fn next_id(&self) -> Result<u64, TxError> {
        let pool = self.pool.clone();
        block(async move {
            let client = pool.get().await.map_err(db_err)?;
            let row = client
                .query_one("SELECT nextval('cyclades_ids')", &[])
                .await
                .map_err(db_err)?;
            Ok(row.try_get::<_, i64>(0).map_err(db_err)? as u64)
        })
        .map_err(TxError::Abort)
    }

    fn commit(self) -> Result<(), TxError> {
        let writes = self.writes.take();
        self.ask(|reply| TxRequest::Commit { writes, reply })
    }
}

/// Holds one connection's transaction while its closure runs: answers reads, then applies the
/// buffered writes and commits. If the caller goes away without committing, it rolls back.
async fn transaction_task(
    pool: Pool,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<TxRequest>,
) {
    let mut client = match pool.get().await {
        Ok(client) => client,
        Err(e) => return fail_all(&mut requests, db_err(e)).await,
    };
    let tx = match client
        .build_transaction()
        .isolation_level(IsolationLevel::Serializable)
        .start()
        .await
    {
        Ok(tx) => tx,
        Err(e) => return fail_all(&mut requests, db_err(e)).await,
    };
    while let Some(request) = requests.recv().await {
        match request {
            TxRequest::Get {
                table,
                key,
                lock,
                reply,
            } => {
                let json = is_json(table);
                let sql = format!(
                    "SELECT {} FROM {table} WHERE k = $1{}",
                    value_out(json),
                    if lock { " FOR SHARE" } else { "" }
                );
                let result = async {
                    let statement = tx.prepare_cached(&sql).await.map_err(tx_failure)?;
                    let rows = tx.query(&statement, &[&key]).await.map_err(tx_failure)?;
                    rows.first()
                        .map(|r| read_value(json, r, 0))
                        .transpose()
                        .map_err(TxError::Abort)
                }
                .await;
                let _ = reply.send(result);
            }
            TxRequest::Commit { writes, reply } => {
                let result = async {
                    for (table, key, value) in &writes {
                        let json = is_json(table);
                        match value {
                            Some(value) => {
                                let statement = tx
                                    .prepare_cached(&upsert_sql(table, json))
                                    .await
                                    .map_err(tx_failure)?;
                                let v = value_param(json, value);
                                tx.execute(
                                    &statement,
                                    &[
                                        key as &(dyn ToSql + Sync),
                                        v.as_ref() as &(dyn ToSql + Sync),
                                    ],
                                )
                                .await
                                .map_err(tx_failure)?;
                            }
                            None => {
                                let statement = tx
                                    .prepare_cached(&format!("DELETE FROM {table} WHERE k = $1"))
                                    .await
                                    .map_err(tx_failure)?;
                                tx.execute(&statement, &[key as &(dyn ToSql + Sync)])
                                    .await
                                    .map_err(tx_failure)?;
                            }
                        }
                    }
                    tx.commit().await.map_err(tx_failure)
                }
                .await;
                let _ = reply.send(result);
                return;
            }
        }
    }
}

async fn fail_all(requests: &mut tokio::sync::mpsc::UnboundedReceiver<TxRequest>, e: StoreError) {
    let message = e.to_string();
    if let Some(request) = requests.recv().await {
        let error = || TxError::Abort(StoreError::Database(message.clone().into()));
        match request {
            TxRequest::Get { reply, .. } => drop(reply.send(Err(error()))),
            TxRequest::Commit { reply, .. } => drop(reply.send(Err(error()))),
        }
    }
}

/// Applies the migrations this build knows, one transaction each, under an advisory lock.
async fn migrate(pool: &Pool, shown: &str) -> Result<(), StoreError> {
    let mut client = pool.get().await.map_err(|e| StoreError::Open {
        path: shown.to_string(),
        source: Box::new(e),
    })?;
    let tx = client.transaction().await.map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS cyclades_migrations (
             version integer PRIMARY KEY,
             applied timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(db_err)?;
    let found: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM cyclades_migrations",
            &[],
        )
        .await
        .map_err(db_err)?
        .try_get(0)
        .map_err(db_err)?;
    let migrations = pg_schema::migrations();
    let known = migrations.len() as i32;
    if found > known {
        return Err(StoreError::SchemaTooNew {
            path: shown.to_string(),
            found: found as u32,
            supported: known as u32,
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
        let version = i as i32 + 1;
        tx.batch_execute(sql).await.map_err(db_err)?;
        tx.execute(
            "INSERT INTO cyclades_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db_err)?;
        tracing::info!(version, "PostgreSQL schema migration applied");
    }
    tx.commit().await.map_err(db_err)
}

/// The tables of the database at `url` whose stored values contain `needle` (tests' check
/// that a secret never reaches the store in clear).
pub(in crate::store) fn tables_containing(
    url: &str,
    needle: &[u8],
) -> Result<Vec<String>, StoreError> {
    let config: tokio_postgres::Config = url.parse().map_err(db_err)?;
    let tls = tls_connector(None).map_err(StoreError::Database)?;
    let needle = needle.to_vec();
    block(async move {
        let (client, connection) = config.connect(tls).await.map_err(db_err)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut found = Vec::new();
        for t in pg_schema::TABLES {
            let sql = format!(
                "SELECT count(*) FROM {} WHERE position($1::bytea in convert_to({}, 'UTF8')) > 0 \
                 OR position($1::bytea in k) > 0",
                t.name,
                if t.json {
                    "v::text"
                } else {
                    "encode(v, 'escape')"
                }
            );
            let n: i64 = client
                .query_one(&sql, &[&needle])
                .await
                .map_err(db_err)?
                .get(0);
            if n > 0 {
                found.push(t.name.to_string());
            }
        }
        Ok(found)
    })
}

/// Creates database `name` (letters, digits and `_` only) on the server at `server_url`.
pub(in crate::store) fn create_database(server_url: &str, name: &str) -> Result<(), StoreError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Database(
            format!("bad database name '{name}'").into(),
        ));
    }
    execute(server_url, &format!("CREATE DATABASE {name}"))
}

/// Runs `sql` (one or more statements) on its own connection to `url`.
pub(in crate::store) fn execute(url: &str, sql: &str) -> Result<(), StoreError> {
    let config: tokio_postgres::Config = url.parse().map_err(db_err)?;
    let tls = tls_connector(None).map_err(StoreError::Database)?;
    let sql = sql.to_string();
    block(async move {
        let (client, connection) = config.connect(tls).await.map_err(db_err)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client.batch_execute(&sql).await.map_err(db_err)
    })
}

/// TLS for the database: the web PKI roots plus `ca_file`. Whether TLS is used is the URL's
/// `sslmode` (`disable`, `prefer` (the default) or `require`).
fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, Box<dyn std::error::Error + Send + Sync>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject;
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read the database CA file {}: {e}", path.display()))?
        {
            roots.add(cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?)?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}
