//! The PostgreSQL schema: one table per store tree, and the versioned migrations that create and
//! change them, applied at open under an advisory lock so replicas starting together apply each
//! once. A database whose schema is newer than this build knows is refused.
//!
//! Every table has the tree's key as `k bytea PRIMARY KEY` (so key order and prefix scans match
//! sled's byte order). Record trees keep the record as `v jsonb`, with the fields that lookups,
//! filters, uniqueness and ordering need as generated, indexed columns; index trees (name → id,
//! server ‖ port, …) keep raw bytes in `v bytea`.

/// (table, holds JSON records, extra columns and constraints, extra statements).
pub(super) struct Table {
    pub name: &'static str,
    pub json: bool,
    columns: &'static str,
    indexes: &'static str,
    /// The migration that creates it.
    since: usize,
}

const fn records(name: &'static str, columns: &'static str, indexes: &'static str) -> Table {
    Table {
        name,
        json: true,
        columns,
        indexes,
        since: 1,
    }
}

const fn bytes(name: &'static str) -> Table {
    Table {
        name,
        json: false,
        columns: "",
        indexes: "",
        since: 1,
    }
}

/// A lease table (`kv::lease`): owner and expiry as indexed columns for claims and renewals.
const fn leases(name: &'static str, indexes: &'static str) -> Table {
    Table {
        name,
        json: true,
        columns: ",
    owner text GENERATED ALWAYS AS (v->>'owner') STORED,
    expires bigint GENERATED ALWAYS AS ((v->>'expires')::bigint) STORED",
        indexes,
        since: 2,
    }
}

const OWNED: &str = ",
    user_id text GENERATED ALWAYS AS (v->>'user_id') STORED,
    project_id text GENERATED ALWAYS AS (v->>'project_id') STORED,
    updated bigint GENERATED ALWAYS AS ((v->>'updated')::bigint) STORED,
    deleted boolean GENERATED ALWAYS AS ((v->>'deleted')::boolean) STORED";

/// Every tree the store opens, in the order of `store/mod.rs`'s table.
pub(super) const TABLES: &[Table] = &[
    bytes("meta"),
    records(
        "users",
        ",\n    name text GENERATED ALWAYS AS (v->>'name') STORED",
        "CREATE INDEX users_name ON users (name);",
    ),
    bytes("users_by_name"),
    records(
        "projects",
        ",\n    name text GENERATED ALWAYS AS (v->>'name') STORED,
    deleted boolean GENERATED ALWAYS AS ((v->>'deleted')::boolean) STORED",
        "CREATE UNIQUE INDEX projects_live_name ON projects (name) WHERE deleted IS NOT TRUE;",
    ),
    bytes("projects_by_name"),
    records(
        "tokens",
        ",\n    user_id text GENERATED ALWAYS AS (v->>'user_id') STORED",
        "CREATE INDEX tokens_user ON tokens (user_id);",
    ),
    records(
        "quota_limits",
        ",\n    project_id text GENERATED ALWAYS AS (v->>'project_id') STORED,
    resource text GENERATED ALWAYS AS (v->>'resource') STORED",
        "CREATE UNIQUE INDEX quota_limits_project_resource ON quota_limits (project_id, resource);",
    ),
    records(
        "quota_usage",
        ",\n    project_id text GENERATED ALWAYS AS (v->>'project_id') STORED,
    resource text GENERATED ALWAYS AS (v->>'resource') STORED",
        "CREATE UNIQUE INDEX quota_usage_project_resource ON quota_usage (project_id, resource);",
    ),
    records(
        "commissions",
        ",\n    name text GENERATED ALWAYS AS (v->>'name') STORED,
    project_id text GENERATED ALWAYS AS (v->>'project_id') STORED,
    state text GENERATED ALWAYS AS (v->>'state') STORED",
        "CREATE UNIQUE INDEX commissions_name ON commissions (name);
         CREATE INDEX commissions_project ON commissions (project_id, state);",
    ),
    bytes("commissions_by_name"),
    records(
        "backends",
        ",\n    clustername text GENERATED ALWAYS AS (v->>'clustername') STORED,
    deleted boolean GENERATED ALWAYS AS ((v->>'deleted')::boolean) STORED",
        "CREATE UNIQUE INDEX backends_live_clustername ON backends (clustername) WHERE deleted IS NOT TRUE;",
    ),
    bytes("backends_by_name"),
    bytes("project_backends"),
    records(
        "jobs",
        ",\n    state text GENERATED ALWAYS AS (v->>'state') STORED,
    updated bigint GENERATED ALWAYS AS ((v->>'updated')::bigint) STORED",
        "CREATE INDEX jobs_state ON jobs (state);",
    ),
    records("job_log", "", ""),
    records("volume_types", "", ""),
    records("flavors", "", ""),
    bytes("flavor_keys"),
    records(
        "images",
        ",\n    owner text GENERATED ALWAYS AS (v->>'owner') STORED",
        "CREATE INDEX images_owner ON images (owner);",
    ),
    records(
        "servers",
        OWNED,
        "CREATE INDEX servers_project ON servers (project_id);
         CREATE INDEX servers_user ON servers (user_id);
         CREATE INDEX servers_updated ON servers (updated);",
    ),
    bytes("servers_by_update"),
    records(
        "keypairs",
        ",\n    user_id text GENERATED ALWAYS AS (v->>'user_id') STORED,
    name text GENERATED ALWAYS AS (v->>'name') STORED",
        "CREATE UNIQUE INDEX keypairs_user_name ON keypairs (user_id, name);",
    ),
    records("rescue_images", "", ""),
    records(
        "networks",
        OWNED,
        "CREATE INDEX networks_project ON networks (project_id);",
    ),
    records(
        "ports",
        ",\n    network_id bigint GENERATED ALWAYS AS ((v->>'network_id')::bigint) STORED,
    device_id bigint GENERATED ALWAYS AS ((v->>'device_id')::bigint) STORED,
    project_id text GENERATED ALWAYS AS (v->>'project_id') STORED",
        "CREATE INDEX ports_network ON ports (network_id);
         CREATE INDEX ports_device ON ports (device_id);
         CREATE INDEX ports_project ON ports (project_id);",
    ),
    bytes("ports_by_server"),
    records(
        "floating_ips",
        ",\n    network_id bigint GENERATED ALWAYS AS ((v->>'network_id')::bigint) STORED,
    server_id bigint GENERATED ALWAYS AS ((v->>'server_id')::bigint) STORED,
    address text GENERATED ALWAYS AS (v->>'address') STORED,
    project_id text GENERATED ALWAYS AS (v->>'project_id') STORED",
        "CREATE INDEX floating_ips_address ON floating_ips (address);
         CREATE INDEX floating_ips_project ON floating_ips (project_id);",
    ),
    records("pools", "", ""),
    records(
        "volumes",
        OWNED,
        "CREATE INDEX volumes_project ON volumes (project_id);",
    ),
    bytes("volumes_by_server"),
    leases(
        "job_leases",
        "CREATE INDEX job_leases_expires ON job_leases (expires);
         CREATE INDEX job_leases_owner ON job_leases (owner);",
    ),
    leases("leases", ""),
    Table {
        name: "replicas",
        json: true,
        columns: "",
        indexes: "",
        since: 2,
    },
    Table {
        name: "vm_secrets",
        json: true,
        columns: "",
        indexes: "",
        since: 2,
    },
    Table {
        name: "plugin_state",
        json: true,
        columns: "",
        indexes: "",
        since: 2,
    },
    Table {
        name: "plugin_components",
        json: false,
        columns: "",
        indexes: "",
        since: 2,
    },
];

pub(super) fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Migration 1: the first tables and the id sequence.
fn initial_schema() -> String {
    let mut sql = String::from("CREATE SEQUENCE cyclades_ids START 1;\n");
    sql.push_str(&tables_of(1));
    sql
}

/// `CREATE TABLE` (and index) statements of the tables migration `since` adds.
fn tables_of(since: usize) -> String {
    let mut sql = String::new();
    for t in TABLES.iter().filter(|t| t.since == since) {
        let v = if t.json { "jsonb" } else { "bytea" };
        sql.push_str(&format!(
            "CREATE TABLE {} (\n    k bytea PRIMARY KEY,\n    v {v} NOT NULL{}\n);\n{}\n",
            t.name, t.columns, t.indexes
        ));
    }
    sql
}

/// The migrations, in order; migration `n` (from 1) is `migrations()[n - 1]`. Append, never edit.
pub(super) fn migrations() -> Vec<String> {
    // 2: job leases, named leases (the reconciler's leader), the replica registry, the
    // sealed VM secrets any replica serves, and the plugin slots and components replicas share.
    vec![initial_schema(), tables_of(2)]
}

/// The advisory lock key that serialises migrations between replicas starting together.
pub(super) const MIGRATION_LOCK: i64 = 0x6379_6d69_6772; // "cymigr"
