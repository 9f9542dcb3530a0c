//! The records the store persists, one struct per tree (plus the index trees' key layouts).
//!
//! Every record carries a `generation` that the store bumps on each write (compare-and-swap), and
//! soft-deletable records carry `deleted`. These are storage shapes, not wire shapes: the API
//! layer never serialises them directly. Field names are persisted: renaming one needs a migration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// A record kept under a generation counter for compare-and-swap updates.
pub trait Versioned {
    /// What the record is called in errors ("user", "project", ...).
    const KIND: &'static str;
    fn generation(&self) -> u64;
    fn set_generation(&mut self, generation: u64);
}

macro_rules! versioned {
    ($ty:ty, $kind:literal) => {
        impl $crate::store::model::Versioned for $ty {
            const KIND: &'static str = $kind;
            fn generation(&self) -> u64 {
                self.generation
            }
            fn set_generation(&mut self, generation: u64) {
                self.generation = generation;
            }
        }
    };
}
pub(crate) use versioned;

/// A user account (Astakos user / Keystone user).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// 32 lowercase hex digits, Keystone style.
    pub id: String,
    /// Unique login name.
    pub name: String,
    pub email: Option<String>,
    /// PHC-format argon2 hash; `None` means password login is impossible (token-only account).
    pub password_hash: Option<String>,
    /// Holds the global `admin` role.
    pub is_admin: bool,
    pub enabled: bool,
    /// Project a token is scoped to when the client does not name one.
    pub default_project_id: Option<String>,
    /// Projects this user is a member of.
    pub project_ids: Vec<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub generation: u64,
}
versioned!(User, "user");

/// A project (Astakos project / Keystone project): the unit that owns resources and quota.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub generation: u64,
}
versioned!(Project, "project");

/// An issued token. Stored under the SHA-256 digest of the token, never the token itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub user_id: String,
    pub project_id: Option<String>,
    pub methods: Vec<String>,
    pub issued_at: Timestamp,
    /// `None` for the never-expiring operator token in `admin-token`.
    pub expires_at: Option<Timestamp>,
    /// Keystone audit id (random, safe to show and log).
    pub audit_id: String,
    pub revoked: bool,
    pub generation: u64,
}
versioned!(TokenRecord, "token");

/// The limit of one resource for one project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuotaLimit {
    pub project_id: String,
    pub resource: String,
    pub limit: i64,
    pub updated: Timestamp,
    pub generation: u64,
}
versioned!(QuotaLimit, "quota limit");

/// What one project holds of one resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaUsage {
    pub project_id: String,
    pub resource: String,
    /// Accepted usage.
    pub usage: i64,
    /// Sum of the positive quantities of pending commissions (counted against the limit).
    pub pending_add: i64,
    /// Sum of the negative quantities of pending commissions (as a positive number).
    pub pending_remove: i64,
    pub generation: u64,
}
versioned!(QuotaUsage, "quota usage");

/// The state of a quota commission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommissionState {
    Pending,
    Accepted,
    Rejected,
}

impl CommissionState {
    pub fn as_str(self) -> &'static str {
        match self {
            CommissionState::Pending => "pending",
            CommissionState::Accepted => "accepted",
            CommissionState::Rejected => "rejected",
        }
    }
}

/// A quota commission: provisional changes to a project's holdings, resolved later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Commission {
    /// Monotonic serial from the store's id generator.
    pub serial: u64,
    /// Client-chosen unique name; issuing the same name twice returns the first commission.
    pub name: String,
    pub project_id: String,
    /// Resource name → signed quantity.
    pub provisions: BTreeMap<String, i64>,
    pub state: CommissionState,
    pub created: Timestamp,
    pub resolved: Option<Timestamp>,
    pub generation: u64,
}
versioned!(Commission, "commission");

/// Resource totals of a backend as Ganeti last reported them (spec §13).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendResources {
    pub mfree: u64,
    pub mtotal: u64,
    pub dfree: u64,
    pub dtotal: u64,
    pub ctotal: u64,
    pub pinst_cnt: u64,
}

/// A Ganeti cluster this control plane drives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backend {
    pub id: u64,
    /// Host name of the cluster's RAPI endpoint; unique.
    pub clustername: String,
    pub port: u16,
    /// `https` for real clusters, `http` for the simulator.
    pub scheme: String,
    pub username: String,
    /// The RAPI password, sealed by `secrets::Sealer` (never stored in clear).
    pub password_sealed: String,
    /// Accept the cluster's self-signed certificate.
    pub insecure: bool,
    pub hypervisor: String,
    /// Available to projects without dedicated backends.
    pub public: bool,
    /// No new servers.
    pub drained: bool,
    /// Not contacted at all.
    pub offline: bool,
    /// 0-255, unique among live backends. Backends come in groups of 16 for MAC prefixes:
    /// `index % 16` is the hex digit of the per-backend MAC prefix (spec §15.2), `index / 16`
    /// picks the network prefix it extends (`Network::group_mac_prefixes`).
    pub index: u8,
    pub disk_templates: Vec<String>,
    pub resources: BackendResources,
    pub resources_updated: Option<Timestamp>,
    /// Last time the backend answered, and the last error if it did not.
    pub last_contact: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
    pub deleted: bool,
    pub generation: u64,
}
versioned!(Backend, "backend");

/// How many backends share one network MAC prefix, each adding its own hex digit.
pub const BACKENDS_PER_MAC_GROUP: u8 = 16;

impl Backend {
    /// The group of 16 backends whose per-backend MAC prefixes extend one network prefix.
    pub fn mac_group(&self) -> u8 {
        self.index / BACKENDS_PER_MAC_GROUP
    }

    /// The hex digit this backend adds to the network prefix of its group.
    pub fn mac_digit(&self) -> u8 {
        self.index % BACKENDS_PER_MAC_GROUP
    }
}
