//! Test support: the store engine a test run asks for, one throwaway store per test.
//!
//! `CYCLADES_TEST_STORE=postgres` (with `CYCLADES_TEST_POSTGRES_URL`, printed by
//! `scripts/postgres/up.sh`) runs every suite that opens its store through here on PostgreSQL,
//! one fresh database per test directory; otherwise sled in that directory. Not for production
//! use: it creates databases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{PgOptions, Store, StoreError};

/// The PostgreSQL server tests may use (`CYCLADES_TEST_POSTGRES_URL`), if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("CYCLADES_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether this run puts every test store on PostgreSQL (`CYCLADES_TEST_STORE=postgres`).
pub fn uses_postgres() -> bool {
    match std::env::var("CYCLADES_TEST_STORE").as_deref() {
        Ok("postgres") => {
            assert!(
                postgres_url().is_some(),
                "CYCLADES_TEST_STORE=postgres needs CYCLADES_TEST_POSTGRES_URL \
                 (bash scripts/postgres/up.sh prints it)"
            );
            true
        }
        Ok("sled") | Ok("") | Err(_) => false,
        Ok(other) => panic!("CYCLADES_TEST_STORE={other}: expected sled or postgres"),
    }
}

/// For a test that needs PostgreSQL whatever the run's engine: the server URL, or `None` after
/// printing why the test skips. With `CYCLADES_REQUIRE_POSTGRES=1` a missing server fails.
pub fn postgres_or_skip(test: &str) -> Option<String> {
    match postgres_url() {
        Some(url) => Some(url),
        None if std::env::var("CYCLADES_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("{test}: CYCLADES_REQUIRE_POSTGRES=1 but CYCLADES_TEST_POSTGRES_URL is unset")
        }
        None => {
            eprintln!(
                "{test}: skipped: no PostgreSQL (run `bash scripts/postgres/up.sh` and export \
                 the CYCLADES_TEST_POSTGRES_URL it prints)"
            );
            None
        }
    }
}

/// A new, empty database on the server at `server_url`; returns its URL.
pub fn fresh_database(server_url: &str) -> Result<String, StoreError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "cyc_{}_{}_{}",
        std::process::id(),
        crate::clock::Timestamp::now().0,
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    super::kv::create_database(server_url, &name)?;
    Ok(with_database(server_url, &name))
}

/// Runs SQL on the database at `url` (tests that change the schema behind the store's back).
pub fn execute(url: &str, sql: &str) -> Result<(), StoreError> {
    super::kv::execute(url, sql)
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{name}{query}", &base[..path_start])
}

/// The database URL standing for test directory `dir` on PostgreSQL runs (created at first
/// ask, the same on every later ask, so reopening `dir` reopens that store); `None` on sled runs.
pub fn store_url_for(dir: &Path) -> Option<String> {
    if !uses_postgres() {
        return None;
    }
    static DATABASES: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);
    let mut map = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
    let map = map.get_or_insert_with(HashMap::new);
    if let Some(url) = map.get(dir) {
        return Some(url.clone());
    }
    let server = postgres_url()?;
    let url = fresh_database(&server).unwrap_or_else(|e| {
        panic!(
            "cannot create a test database on {}: {e}",
            super::redact_url(&server)
        )
    });
    map.insert(dir.to_path_buf(), url.clone());
    Some(url)
}

/// Opens the store of test directory `dir` on this run's engine.
pub fn open(dir: &Path) -> Result<Store, StoreError> {
    match store_url_for(dir) {
        Some(url) => Store::open_postgres(&PgOptions::new(url)),
        None => Store::open(dir),
    }
}

/// `open` after a store over `dir` was just dropped: sled lets go of its file lock when its
/// last background thread ends, so a `Locked` is retried for up to two seconds.
pub fn reopen(dir: &Path) -> Result<Store, StoreError> {
    for _ in 0..200 {
        match open(dir) {
            Err(StoreError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            other => return other,
        }
    }
    open(dir)
}

/// Where `needle` is stored under test directory `dir`: the files of the directory (sled, keys,
/// caches) and, on PostgreSQL runs, the tables of its database.
pub fn stored_in_clear(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found: Vec<String> = walk(dir)
        .into_iter()
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .map(|p| p.display().to_string())
        .collect();
    if let Some(url) = store_url_for(dir) {
        let tables = super::kv::tables_containing(&url, needle)
            .unwrap_or_else(|e| panic!("cannot search the test database: {e}"));
        found.extend(tables.into_iter().map(|t| format!("table {t}")));
    }
    found
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
