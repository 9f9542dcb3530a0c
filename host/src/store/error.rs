//! `StoreError`: every way a store call can fail, without exposing engine types.

/// A store failure. Variants name the resource kind and id so that the service layer can turn
/// them into precise API faults; engine errors are boxed so no sled or PostgreSQL type leaks out of `store`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },

    #[error("{kind} {id} already exists")]
    AlreadyExists { kind: &'static str, id: String },

    #[error("{kind} {id} was changed concurrently (expected generation {expected}, found {found})")]
    GenerationMismatch {
        kind: &'static str,
        id: String,
        expected: u64,
        found: u64,
    },

    #[error(
        "quota exceeded for resource '{resource}': limit {limit}, usage {usage}, requested {requested}"
    )]
    LimitExceeded {
        resource: String,
        limit: i64,
        usage: i64,
        requested: i64,
    },

    #[error("commission {serial} is already {state}")]
    CommissionResolved { serial: u64, state: &'static str },

    #[error("commission name '{name}' was already used for different provisions")]
    CommissionNameReused { name: String },

    #[error("job {job}'s lease is no longer this replica's (now held by {})", holder.as_deref().unwrap_or("nobody"))]
    LeaseLost { job: u64, holder: Option<String> },

    #[error("the store at {path} is in use by another cyclades process (its lock is held)")]
    Locked { path: String },

    #[error(
        "the store at {path} holds schema version {found}, newer than the {supported} this \
         cyclades understands; run a newer cyclades or point --data-dir or --store-url elsewhere"
    )]
    SchemaTooNew {
        path: String,
        found: u32,
        supported: u32,
    },

    #[error("cannot open the store at {path}")]
    Open {
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("corrupt record in tree '{tree}'")]
    Corrupt {
        tree: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("the target store is not empty: tree {tree} holds {entries} entries")]
    TargetNotEmpty { tree: &'static str, entries: usize },

    #[error("database failure")]
    Database(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Database(Box::new(e))
    }
}
