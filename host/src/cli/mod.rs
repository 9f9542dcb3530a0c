//! The `cyclades` command line: `serve`, `config show`, and the operator commands that mirror
//! Synnefo's `snf-manage` (users, projects, quotas, ...). Operator commands are clients of the
//! running server's `/admin/v1`; the CLI never opens the database (sled is single-process).

mod backend_commands;
mod client;
mod commands;
mod compute_commands;
mod network_commands;
pub use network_commands::NetworkCommand;
pub mod output;
mod plugin_commands;
mod rescue_commands;
mod volume_commands;
pub use volume_commands::VolumeCommand;

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};

use crate::config::{Config, ConfigError, LogFormat, Overrides};
use output::OutputFormat;

/// A command failure: one line for stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Server(#[from] crate::server::ServerError),
}

#[derive(Parser, Debug)]
#[command(
    name = "cyclades",
    version,
    about = "An OpenStack-compatible cloud control plane for Ganeti clusters"
)]
pub struct Cli {
    /// URL of the running server (operator commands).
    #[arg(
        long,
        global = true,
        env = "CYCLADES_URL",
        default_value = "http://127.0.0.1:8774"
    )]
    pub url: String,
    /// Data directory: where `serve` keeps state, and where operator commands find `admin-token`.
    #[arg(long, global = true, env = "CYCLADES_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Operator token (else read from <data-dir>/admin-token).
    #[arg(
        long = "admin-token",
        global = true,
        env = "CYCLADES_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Pretty)]
    pub output_format: OutputFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by `serve` and `config show`.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "CYCLADES_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8774].
    #[arg(long, env = "CYCLADES_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// Base URL published to clients [default: http://<listen>].
    #[arg(long, env = "CYCLADES_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Log format [default: pretty].
    #[arg(long, env = "CYCLADES_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Token lifetime in seconds [default: 86400].
    #[arg(long, env = "CYCLADES_TOKEN_TTL")]
    pub token_ttl: Option<u64>,
    /// Key that encrypts secrets at rest.
    #[arg(long, env = "CYCLADES_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// PostgreSQL store, `postgres://user:password@host:port/db` [default: sled in --data-dir].
    #[arg(long, env = "CYCLADES_STORE_URL", hide_env_values = true)]
    pub store_url: Option<String>,
}

/// Options of every list command.
#[derive(Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// Comma-separated fields to show.
    #[arg(short = 'o', long = "output", value_delimiter = ',')]
    pub output: Vec<String>,
    /// Keep rows matching "k=v,k2>=v2" (=, !=, >, >=, <, <=).
    #[arg(long)]
    pub filter_by: Option<String>,
    /// Omit the header row.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub no_headers: bool,
    /// Show only deleted entries.
    #[arg(short = 'd', long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub deleted: bool,
    /// List the fields that -o and --filter-by accept, and exit.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub list_fields: bool,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the control plane (API, identity, quotas) in this process.
    Serve {
        #[command(flatten)]
        args: ServeArgs,
        /// Seed a demo user, project and admin and print how to use them.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        demo: bool,
    },
    /// Run a simulated Ganeti cluster speaking RAPI over HTTP (for demos and tests).
    GanetiSim {
        #[arg(long, default_value = "127.0.0.1:5080")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value_t = 4)]
        nodes: usize,
        #[arg(long, default_value = "cluster.sim.test")]
        cluster_name: String,
        #[arg(long, default_value = "cyclades")]
        username: String,
        #[arg(
            long,
            default_value = "cyclades",
            env = "CYCLADES_SIM_PASSWORD",
            hide_env_values = true
        )]
        password: String,
        /// Keep the cluster's state here (survives restarts); default: in memory only.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Job timing: `realistic` (from the recorded fixtures) or `0` (instant).
        #[arg(long, default_value = "realistic", value_parser = ["realistic", "0"])]
        job_latency: String,
        /// The hypervisor the cluster reports and whose `hvparams` it accepts.
        #[arg(long, default_value = "fake", value_parser = ["fake", "kvm"])]
        hypervisor: String,
        /// Serve HTTPS with a self-signed certificate, as Ganeti's RAPI does (kept in
        /// `<state-dir>/rapi.pem` across restarts); add the backend with `--insecure`.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        tls: bool,
    },
    /// Forward snf-image's progress messages (one JSON object per line on stdin) to the
    /// host, which shows them as build progress and diagnostics. Set snf-image's
    /// `PROGRESS_MONITOR="cyclades progress-monitor"` on each Ganeti node (spec §11.2).
    ProgressMonitor {
        /// The Ganeti instance being deployed (`snf-<id>`), as snf-image passes it.
        instance: String,
        /// The server's progress URL; default: derived from `OSP_CONFIG_URL`, the
        /// configuration URL Ganeti gives snf-image.
        #[arg(long)]
        progress_url: Option<String>,
    },
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy a sled store (a stopped server's data directory) into an empty PostgreSQL
    /// database and verify the copy (entries and a digest per table).
    StoreMigrate {
        /// The data directory whose store to copy (no server may be running on it).
        #[arg(long)]
        from: PathBuf,
        /// The empty PostgreSQL database, `postgres://user:password@host:port/db`.
        #[arg(long, env = "CYCLADES_STORE_URL", hide_env_values = true)]
        to: String,
        /// PEM file of CA certificates for TLS to the database.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
    /// Print the service and resource definitions (JSON) for registering this cloud with an
    /// external identity service (Synnefo's service-export-cyclades).
    ServiceExportCyclades,
    /// Create a user.
    UserCreate {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: Option<String>,
        /// Project (name or id) the user joins and uses by default.
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// Give the user the admin role.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        admin: bool,
    },
    /// List users.
    UserList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Change a user.
    UserModify {
        /// User name or id.
        user: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        admin: Option<bool>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        enabled: Option<bool>,
        /// Add a project membership (repeatable).
        #[arg(long = "add-project")]
        add_projects: Vec<String>,
        /// Remove a project membership (repeatable).
        #[arg(long = "remove-project")]
        remove_projects: Vec<String>,
        #[arg(long)]
        default_project: Option<String>,
    },
    /// Create a project.
    ProjectCreate {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List projects.
    ProjectList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Set a project's limit of one resource (e.g. --resource cyclades.ram --limit 8G).
    QuotaSet {
        #[arg(long)]
        project: String,
        #[arg(long)]
        resource: String,
        /// Count, or bytes with an optional K/M/G/T suffix.
        #[arg(long)]
        limit: String,
    },
    /// List limits and usage per project and resource.
    QuotaList {
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    #[command(flatten)]
    Plugin(PluginCommand),
    #[command(flatten)]
    Backend(BackendCommand),
    #[command(flatten)]
    Compute(ComputeCommand),
    #[command(flatten)]
    Rescue(RescueCommand),
    #[command(flatten)]
    Network(NetworkCommand),
    #[command(flatten)]
    Volume(VolumeCommand),
}

/// The rescue-image fields `rescue-image-create` and `-modify` share.
#[derive(clap::Args, Debug)]
pub struct RescueImageArgs {
    #[arg(long)]
    pub name: Option<String>,
    /// A file name under `rescue.image_path`, or an http(s) URL.
    #[arg(long)]
    pub location: Option<String>,
    /// file or http (guessed from the location when omitted).
    #[arg(long)]
    pub location_type: Option<String>,
    /// The rescue system's own OS family and OS.
    #[arg(long)]
    pub os_family: Option<String>,
    #[arg(long)]
    pub os: Option<String>,
    /// The servers it suits (matched with their image's OSFAMILY and OS).
    #[arg(long)]
    pub target_os_family: Option<String>,
    #[arg(long)]
    pub target_os: Option<String>,
}

/// Rescue images (spec §2.5, §17).
#[derive(Subcommand, Debug)]
pub enum RescueCommand {
    /// Register a rescue image (`--default` makes it the fallback for every server).
    RescueImageCreate {
        #[command(flatten)]
        image: RescueImageArgs,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        default: bool,
    },
    /// List rescue images.
    RescueImageList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Change a rescue image; `--default true` moves the default to it.
    RescueImageModify {
        id: String,
        #[command(flatten)]
        image: RescueImageArgs,
        #[arg(long, value_parser = BoolishValueParser::new())]
        default: Option<bool>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        deleted: Option<bool>,
    },
    /// Remove (soft-delete) a rescue image.
    RescueImageRemove { id: String },
}

/// Volume types, flavors, images, servers and jobs (spec §14, §17).
#[derive(Subcommand, Debug)]
pub enum ComputeCommand {
    /// Create a volume type for a disk template (drbd, plain, file, sharedfile, rbd, ext_<provider>).
    VolumeTypeCreate {
        #[arg(long)]
        name: String,
        #[arg(long)]
        disk_template: String,
        /// Specs "k=v,k2=v2" (GNT-EXTP:<k> reach ExtStorage disks).
        #[arg(long)]
        specs: Option<String>,
    },
    /// List volume types.
    VolumeTypeList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one volume type.
    VolumeTypeShow { volume_type: String },
    /// Delete (and with it its flavors) or undelete a volume type.
    VolumeTypeModify {
        volume_type: String,
        #[arg(long, value_parser = BoolishValueParser::new())]
        deleted: bool,
    },
    /// Create flavors: the cartesian product of the comma-separated lists
    /// (`flavor-create 2,4 4096 40 drbd` creates 2 flavors).
    FlavorCreate {
        /// vCPU counts, e.g. 1,2,4
        cpus: String,
        /// RAM sizes in MiB (rounded up to a multiple of 4)
        rams: String,
        /// Disk sizes in GiB
        disks: String,
        /// Volume type ids or names, or disk templates
        volume_types: String,
        #[arg(long, default_value_t = true, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        public: bool,
        /// Specs "k=v,k2=v2".
        #[arg(long)]
        specs: Option<String>,
    },
    /// List flavors.
    FlavorList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one flavor.
    FlavorShow { flavor: String },
    /// Delete, undelete, allow or forbid new servers, make public or private.
    FlavorModify {
        flavor: String,
        #[arg(long, value_parser = BoolishValueParser::new())]
        deleted: Option<bool>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        allow_create: Option<bool>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        public: Option<bool>,
    },
    /// Give a project access to a non-public flavor.
    FlavorAccessAdd {
        #[arg(long)]
        flavor: String,
        #[arg(long)]
        project: String,
    },
    /// List which projects may use which non-public flavors (Synnefo's flavor-access-list).
    FlavorAccessList {
        /// Only this flavor (id or name).
        #[arg(long)]
        flavor: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Take a project's access to a flavor away.
    FlavorAccessRemove {
        #[arg(long)]
        flavor: String,
        #[arg(long)]
        project: String,
    },
    /// Register an image (metadata only: its data stays at --location).
    ImageRegister {
        #[arg(long)]
        name: String,
        #[arg(long)]
        location: String,
        /// Owner user name or id [default: the operator].
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        public: bool,
        #[arg(long, default_value = "diskdump")]
        disk_format: String,
        #[arg(long, default_value_t = 0)]
        size: u64,
        /// Image property KEY=VALUE (repeatable), e.g. --property OSFAMILY=linux
        #[arg(long = "property")]
        properties: Vec<String>,
    },
    /// List images.
    ImageList {
        #[command(flatten)]
        list: ListArgs,
        /// Only the images this user (id) owns (Synnefo's --user-id).
        #[arg(long)]
        user_id: Option<String>,
    },
    /// Show one image.
    ImageShow { image: String },
    /// Create a server for a user (bypass the allocator with --backend-id).
    ServerCreate {
        #[arg(long)]
        name: String,
        /// Owner user name or id (Synnefo: --user-id).
        #[arg(long, visible_alias = "user-id")]
        user: String,
        /// Project [default: the user's default project].
        #[arg(long)]
        project: Option<String>,
        /// Flavor id or name (Synnefo: --flavor-id).
        #[arg(long, visible_alias = "flavor-id")]
        flavor: String,
        /// Image id or name (Synnefo: --image-id).
        #[arg(long, visible_alias = "image-id")]
        image: String,
        #[arg(long)]
        backend_id: Option<u64>,
        /// Admin password [default: generated].
        #[arg(long, env = "CYCLADES_SERVER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Wait until the server is ACTIVE (or ERROR).
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        wait: bool,
        /// A helper server for internal actions (deleting detached volumes); stop it once
        /// it is ACTIVE: only STOPPED helpers are used.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        helper: bool,
    },
    /// Keep N stopped helper servers on every online backend that can host the flavor (they
    /// let detached volumes with data be deleted).
    HelperServersSync {
        /// Owner of the helpers (user name or id).
        #[arg(long)]
        user: String,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        flavor: String,
        #[arg(long)]
        image: String,
        /// Only this backend.
        #[arg(long)]
        backend_id: Option<u64>,
        /// Helpers per backend.
        #[arg(long, default_value_t = 1)]
        copies: usize,
        #[arg(long)]
        name: Option<String>,
    },
    /// List servers.
    ServerList {
        /// Only this user's servers (name or id).
        #[arg(long)]
        user: Option<String>,
        /// Only this project's servers (name or id).
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a server as the database records it (Synnefo's server-show).
    ServerShow { server: String },
    /// Show a server: the database and Ganeti side by side, its jobs and its allocation.
    ServerInspect { server: String },
    /// Suspend or unsuspend, rename, or change the recorded flavor of a server.
    ServerModify {
        server: String,
        #[arg(long, value_parser = BoolishValueParser::new())]
        suspended: Option<bool>,
        #[arg(long)]
        name: Option<String>,
        /// Resize to this flavor (id or name): a resize job, as the user's would be.
        #[arg(long)]
        flavor: Option<String>,
        /// Submit an action job.
        #[arg(long, value_parser = ["start", "stop", "reboot_hard", "reboot_soft", "rescue", "unrescue"])]
        action: Option<String>,
        /// Wait until the job finishes.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        wait: bool,
    },
    /// Destroy a server.
    ServerRemove {
        server: String,
        /// Wait until the server is gone.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        wait: bool,
    },
    /// List jobs (newest first).
    JobList {
        /// Only running, unwinding and stuck jobs.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        unfinished: bool,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a job with its parameters, its lease (which replica runs it) and its step log.
    JobInspect { job: String },
    /// List the replicas sharing the store: id, address, version, started, last heartbeat,
    /// whether alive, jobs owned and which one runs the reconciler.
    ReplicaList {
        #[command(flatten)]
        list: ListArgs,
    },
}

/// Ganeti backends (spec §13).
#[derive(Subcommand, Debug)]
pub enum BackendCommand {
    /// Register a Ganeti cluster (created drained; checks credentials unless --no-check).
    BackendAdd {
        #[arg(long)]
        clustername: String,
        #[arg(long, default_value_t = 5080)]
        port: u16,
        #[arg(long)]
        username: String,
        #[arg(long, env = "CYCLADES_RAPI_PASSWORD", hide_env_values = true)]
        password: String,
        /// Do not contact the cluster now (then --hypervisor is required).
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        no_check: bool,
        /// Accept the cluster's self-signed RAPI certificate.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        insecure: bool,
        /// The hypervisor of its instances; by default the cluster's own (`default_hypervisor`
        /// in Ganeti's `/2/info`). One the cluster does not enable is refused.
        #[arg(long)]
        hypervisor: Option<String>,
        #[arg(long, default_value_t = true, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        public: bool,
        /// Plain HTTP instead of HTTPS (the Ganeti simulator).
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        http: bool,
    },
    /// List backends with their state and resources.
    BackendList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Change a backend: drain it, take it offline, change credentials.
    BackendModify {
        /// Backend id or cluster name.
        backend: String,
        #[arg(long, value_parser = BoolishValueParser::new())]
        drained: Option<bool>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        offline: Option<bool>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        public: Option<bool>,
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, value_parser = BoolishValueParser::new())]
        insecure: Option<bool>,
        #[arg(long)]
        hypervisor: Option<String>,
    },
    /// Remove a backend that holds no servers.
    BackendRemove { backend: String },
    /// Refresh disk templates and resources (one backend, or every online one).
    BackendUpdateStatus { backend: Option<String> },
    /// Dedicate a backend to a project.
    ProjectBackendAdd {
        #[arg(long)]
        project: String,
        #[arg(long)]
        backend: String,
    },
    /// List dedications of backends to projects.
    ProjectBackendList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Compare servers with Ganeti and report drift; repair with the --fix-* flags (spec §12).
    /// The server repairs operstate, rescue, tags, NICs and pending tasks by itself every
    /// `backends.reconcile_secs`.
    ReconcileServers {
        /// Only this backend (id or cluster name).
        #[arg(long)]
        backend_id: Option<String>,
        /// Servers Ganeti no longer has: mark them deleted and release their quota.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_stale: bool,
        /// `snf-<id>` instances with no live server: remove them from Ganeti.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_orphans: bool,
        /// Operstate differs from Ganeti: follow Ganeti (quota follows).
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_unsynced: bool,
        /// vCPUs/RAM differ from the flavor: switch to the matching flavor.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_unsynced_flavors: bool,
        /// Ganeti boots from a rescue CD-ROM and the record says not (or the reverse): follow
        /// Ganeti.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_unsynced_rescue: bool,
        /// User tags in Ganeti differ from the record: follow Ganeti.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_unsynced_tags: bool,
        /// Ports differ from the instance's NICs (address, MAC, firewall tag, NIC gone):
        /// follow Ganeti.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_unsynced_nics: bool,
        /// Volumes differ from the instance's disks: a volume whose disk is gone is deleted
        /// (its quota given back); one whose disk is there becomes IN_USE.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_unsynced_disks: bool,
        /// Tasks whose job is finished or unknown: clear them.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_pending_tasks: bool,
        /// All of the above.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix_all: bool,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Pending commissions whose job finished or vanished: accept or reject them with --fix.
    ReconcileCommissions {
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix: bool,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Quota usage recorded per project vs what its servers hold; --fix corrects the record
    /// with a forced commission (projects with jobs in flight are left for the next run).
    ReconcileResources {
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix: bool,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Projects over their limits: plan (and with --fix, submit) deletions and shutdowns of
    /// their servers until they fit (ERROR, BUILD, STOPPED, then running servers, newest first).
    EnforceResources {
        /// Only these resources, comma-separated (`vm,cpu,ram,total_cpu,total_ram,disk`).
        #[arg(long, value_delimiter = ',')]
        resources: Option<Vec<String>>,
        /// Over these, shut servers down instead of deleting them.
        #[arg(long, value_delimiter = ',')]
        soft_resources: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        projects: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        exclude_projects: Vec<String>,
        #[arg(long)]
        max_operations: Option<usize>,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        fix: bool,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Per backend: last reached, last reconciled, jobs in flight, repairs made.
    BackendHealth {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Remove a dedication.
    ProjectBackendRemove {
        #[arg(long)]
        project: String,
        #[arg(long)]
        backend: String,
    },
}

/// The plugin platform's operator commands.
#[derive(Subcommand, Debug)]
pub enum PluginCommand {
    /// List loaded plugins: name, kind, version, digest, source, state, calls, faults.
    PluginList {
        #[command(flatten)]
        list: ListArgs,
    },
    /// List the slots (allocator, disk-template:<name>, network-flavor:<name>) and who serves them.
    PluginSlots {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one plugin (by name or digest prefix): limits, capabilities, slots, counters.
    PluginInspect { plugin: String },
    /// Load a plugin component (validated: world, WIT version, describe self-test).
    PluginLoad {
        /// Path of the .wasm component (on the server's machine).
        path: PathBuf,
    },
    /// Put a plugin into a slot atomically: allocator, disk-template:<name> or network-flavor:<name>.
    PluginSwap {
        slot: String,
        /// A loaded plugin (name or digest prefix) or a path to a .wasm file to load first.
        plugin: String,
    },
    /// Return a slot to its previous occupant.
    PluginRollback { slot: String },
    /// Lift a plugin's quarantine after repeated faults.
    PluginRelease { plugin: String },
    /// Run an allocator beside the active one on sample requests and compare placements.
    AllocatorTest {
        plugin: String,
        /// JSON file with a backend table ({"backends": [...]}); default: the registered backends.
        #[arg(long)]
        snapshot: Option<PathBuf>,
    },
    /// Shadow the active allocator with another on live requests (recorded, never acted on).
    /// With no arguments, show what the shadow recorded.
    PluginShadow {
        /// The slot to shadow (only `allocator`).
        slot: Option<String>,
        plugin: Option<String>,
        /// Stop shadowing.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        off: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets redacted).
    Show {
        #[command(flatten)]
        args: ServeArgs,
    },
}

impl ServeArgs {
    /// Loads the configuration file and applies these flags and `CYCLADES_*` variables.
    pub fn load(&self, data_dir: Option<PathBuf>) -> Result<Config, ConfigError> {
        let overrides = Overrides {
            listen: self.listen,
            data_dir,
            public_url: self.public_url.clone(),
            log_format: self.log_format,
            token_ttl_secs: self.token_ttl,
            secret_key: self.secret_key.clone(),
            store_url: self.store_url.clone(),
        };
        Config::load(self.config.as_deref(), &overrides)
    }
}

/// Entry point of the binary: parses arguments, runs the command, returns the exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
