//! The `cyclades` command line: `serve`, `config show`, and the operator commands that mirror
//! Synnefo's `snf-manage` (users, projects, quotas, ...). Operator commands are clients of the
//! running server's `/admin/v1`; the CLI never opens the database (sled is single-process).

mod backend_commands;
mod client;
mod commands;
pub mod output;
mod plugin_commands;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    #[arg(long)]
    pub no_headers: bool,
    /// Show only deleted entries.
    #[arg(short = 'd', long)]
    pub deleted: bool,
    /// List the fields that -o and --filter-by accept, and exit.
    #[arg(long)]
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
        #[arg(long)]
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
    },
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
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
        #[arg(long)]
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
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        admin: Option<bool>,
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
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
        /// Do not contact the cluster now.
        #[arg(long)]
        no_check: bool,
        /// Accept the cluster's self-signed RAPI certificate.
        #[arg(long)]
        insecure: bool,
        #[arg(long, default_value = "kvm")]
        hypervisor: String,
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
        public: bool,
        /// Plain HTTP instead of HTTPS (the Ganeti simulator).
        #[arg(long)]
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
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        drained: Option<bool>,
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        offline: Option<bool>,
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        public: Option<bool>,
        #[arg(long)]
        port: Option<u16>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
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
        #[arg(long)]
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
