//! `PluginError`: every way loading or calling a plugin can fail, one variant per cause, so the
//! service layer can answer 400 (the caller's input), 503 (quarantined or missing) or 500, and
//! operators can tell a timeout from a memory hog from a panic.

/// A plugin failure. Call failures concern that call only: the host and other calls go on.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("no plugin named {0}")]
    NotFound(String),
    #[error(
        "unknown plugin slot '{slot}': use allocator, disk-template:<name> or network-flavor:<name>"
    )]
    UnknownSlot { slot: String },
    #[error("plugin slot {slot} is empty")]
    SlotEmpty { slot: String },
    #[error("cannot read plugin file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("not a valid WebAssembly component: {reason}")]
    Malformed { reason: String },
    #[error("wrong world: expected {expected}, but {found}")]
    WrongWorld { expected: String, found: String },
    #[error("unsupported WIT version: the plugin uses {found}; this host supports {supported}")]
    UnsupportedVersion { found: String, supported: String },
    #[error("the plugin failed its self-test: {reason}")]
    SelfTest { reason: String },
    #[error("plugin {plugin} ran past its deadline of {deadline_ms} ms and was stopped")]
    Timeout { plugin: String, deadline_ms: u64 },
    #[error("plugin {plugin} used up its fuel budget of {fuel}")]
    OutOfFuel { plugin: String, fuel: u64 },
    #[error("plugin {plugin} tried to use more than its memory limit of {limit_mib} MiB")]
    MemoryLimit { plugin: String, limit_mib: u64 },
    #[error("plugin {plugin} panicked: {message}")]
    Panic { plugin: String, message: String },
    #[error("plugin {plugin} trapped: {message}")]
    Trap { plugin: String, message: String },
    /// The plugin refused the input (`invalid-input`): the caller's fault.
    #[error("{plugin}: {message}")]
    InvalidInput { plugin: String, message: String },
    /// The plugin reported its own failure (`internal`).
    #[error("plugin {plugin} failed: {message}")]
    Internal { plugin: String, message: String },
    #[error(
        "plugin {plugin} is quarantined after {faults} consecutive faults; an operator must \
         release it (cyclades plugin-release) or swap the slot"
    )]
    Quarantined { plugin: String, faults: u32 },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("plugin host failure: {0}")]
    Host(String),
}

impl PluginError {
    /// Whether this failure is a sandbox fault that counts towards quarantine.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            PluginError::Timeout { .. }
                | PluginError::OutOfFuel { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::Panic { .. }
                | PluginError::Trap { .. }
        )
    }

    /// A short name of the variant, for stats and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::NotFound(_) => "not-found",
            PluginError::UnknownSlot { .. } => "unknown-slot",
            PluginError::SlotEmpty { .. } => "slot-empty",
            PluginError::Read { .. } => "read",
            PluginError::Malformed { .. } => "malformed",
            PluginError::WrongWorld { .. } => "wrong-world",
            PluginError::UnsupportedVersion { .. } => "unsupported-version",
            PluginError::SelfTest { .. } => "self-test",
            PluginError::Timeout { .. } => "timeout",
            PluginError::OutOfFuel { .. } => "out-of-fuel",
            PluginError::MemoryLimit { .. } => "memory-limit",
            PluginError::Panic { .. } => "panic",
            PluginError::Trap { .. } => "trap",
            PluginError::InvalidInput { .. } => "invalid-input",
            PluginError::Internal { .. } => "internal",
            PluginError::Quarantined { .. } => "quarantined",
            PluginError::Conflict(_) => "conflict",
            PluginError::BadRequest(_) => "bad-request",
            PluginError::Host(_) => "host",
        }
    }
}
