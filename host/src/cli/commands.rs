//! What each command does. Operator commands build a request for `/admin/v1`, send it with
//! `AdminClient`, and print the result with `output`.

use std::io::IsTerminal;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::AdminClient;
use super::output::{self, ListView, OutputFormat};
use super::{Cli, CliError, Command, ConfigCommand, ListArgs, ServeArgs};
use crate::backend::sim;
use crate::config::{Config, LogFormat};
use crate::server::{self, RunningServer, ServerOptions};
use crate::{endpoints, resources};

const DEFAULT_DATA_DIR: &str = "./cyclades-data";

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let format = cli.output_format;
    let data_dir = cli.data_dir.clone();
    let client = || {
        AdminClient::new(
            &cli.url,
            cli.admin_token.clone(),
            &data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        )
    };
    match &cli.command {
        Command::Serve { args, demo } => serve(args, data_dir.clone(), *demo).await,
        Command::GanetiSim {
            listen,
            nodes,
            cluster_name,
            username,
            password,
            state_dir,
            job_latency,
            tls,
            hypervisor,
        } => {
            init_logging(LogFormat::Pretty);
            let latency = if job_latency == "0" {
                sim::Latency::zero()
            } else {
                sim::Latency::realistic()
            };
            let options = sim::SimOptions {
                listen: *listen,
                cluster_name: cluster_name.clone(),
                nodes: *nodes,
                username: username.clone(),
                password: password.clone(),
                state_dir: state_dir.clone(),
                latency,
                tls: *tls,
                hypervisor: hypervisor.clone(),
            };
            let running = sim::start(options)
                .await
                .map_err(|e| CliError::Message(e.to_string()))?;
            println!(
                "Ganeti RAPI simulator: cluster {cluster_name}, {nodes} nodes, RAPI at {}/2/ (user {username})",
                running.url()
            );
            running.run_until(shutdown_signal()).await;
            Ok(())
        }
        Command::ProgressMonitor {
            instance,
            progress_url,
        } => progress_monitor(instance, progress_url.clone()).await,
        Command::ServiceExportCyclades => {
            println!(
                "{}",
                serde_json::to_string_pretty(&service_export(&cli.url)).unwrap_or_default()
            );
            Ok(())
        }
        Command::StoreMigrate { from, to, ca_file } => {
            let tables = server::store_migrate(from, to, ca_file.clone())?;
            let rows: Vec<serde_json::Map<String, serde_json::Value>> = tables
                .iter()
                .map(|t| {
                    let mut row = serde_json::Map::new();
                    row.insert("table".into(), t.table.into());
                    row.insert("entries".into(), t.entries.into());
                    row.insert("sha256".into(), t.digest.clone().into());
                    row
                })
                .collect();
            let total: usize = tables.iter().map(|t| t.entries).sum();
            eprintln!(
                "copied {total} entries in {} tables from {} to {}; every table verified",
                tables.len(),
                from.display(),
                crate::config::redact_url(to)
            );
            let fields = ["table", "entries", "sha256"].map(String::from);
            let view = ListView {
                format,
                fields: &fields,
                headers: true,
            };
            print!(
                "{}",
                output::render(&rows, &view).map_err(CliError::Message)?
            );
            Ok(())
        }
        Command::Config(ConfigCommand::Show { args }) => {
            let config = args.load(data_dir.clone())?;
            print!("{}", config.render_redacted());
            Ok(())
        }
        Command::UserCreate {
            username,
            password,
            project,
            email,
            admin,
        } => {
            let body = json!({"user": {"name": username, "password": password, "project": project, "email": email, "admin": admin}});
            let reply = client()?.call(Method::POST, "/users", Some(body)).await?;
            show_one(&reply["user"], format, USER_FIELDS)
        }
        Command::UserList { list } => {
            let reply = client()?
                .get(&format!("/users{}", deleted_query(list)))
                .await?;
            show_list(&reply["users"], format, list, USER_FIELDS)
        }
        Command::UserModify {
            user,
            password,
            email,
            admin,
            enabled,
            add_projects,
            remove_projects,
            default_project,
        } => {
            let mut changes = Map::new();
            let mut put = |k: &str, v: Value| {
                if !v.is_null() {
                    changes.insert(k.to_string(), v);
                }
            };
            put("password", json!(password));
            put("email", json!(email));
            put("admin", json!(admin));
            put("enabled", json!(enabled));
            put("default_project", json!(default_project));
            if !add_projects.is_empty() {
                put("add_projects", json!(add_projects));
            }
            if !remove_projects.is_empty() {
                put("remove_projects", json!(remove_projects));
            }
            if changes.is_empty() {
                return Err(CliError::Message(
                    "nothing to change: give at least one option (see --help)".into(),
                ));
            }
            let path = format!("/users/{}", encode_segment(user));
            let reply = client()?
                .call(Method::PATCH, &path, Some(json!({"user": changes})))
                .await?;
            show_one(&reply["user"], format, USER_FIELDS)
        }
        Command::ProjectCreate { name, description } => {
            let body = json!({"project": {"name": name, "description": description}});
            let reply = client()?
                .call(Method::POST, "/projects", Some(body))
                .await?;
            show_one(&reply["project"], format, PROJECT_FIELDS)
        }
        Command::ProjectList { list } => {
            let reply = client()?
                .get(&format!("/projects{}", deleted_query(list)))
                .await?;
            show_list(&reply["projects"], format, list, PROJECT_FIELDS)
        }
        Command::QuotaSet {
            project,
            resource,
            limit,
        } => {
            let r = resources::resource(resource).ok_or_else(|| {
                CliError::Message(format!(
                    "unknown resource '{resource}'; known resources: {}",
                    resources::resource_names()
                ))
            })?;
            let limit = resources::parse_quantity(r, limit)
                .map_err(|e| CliError::Message(format!("bad --limit: {e}")))?;
            let path = format!(
                "/quotas/{}/{}",
                encode_segment(project),
                encode_segment(resource)
            );
            let reply = client()?
                .call(Method::PUT, &path, Some(json!({"limit": limit})))
                .await?;
            show_one(&reply["quota"], format, QUOTA_FIELDS)
        }
        Command::Backend(command) => {
            super::backend_commands::run(command, &client()?, format).await
        }
        Command::Plugin(command) => super::plugin_commands::run(command, &client()?, format).await,
        Command::Compute(command) => {
            super::compute_commands::run(command, &client()?, format).await
        }
        Command::Rescue(command) => super::rescue_commands::run(command, &client()?, format).await,
        Command::Network(command) => {
            super::network_commands::run(command, &client()?, format).await
        }
        Command::Volume(command) => super::volume_commands::run(command, &client()?, format).await,
        Command::QuotaList { project, list } => {
            let query = match project {
                Some(p) => format!("/quotas?project={}", encode_segment(p)),
                None => "/quotas".to_string(),
            };
            let reply = client()?.get(&query).await?;
            show_list(&reply["quotas"], format, list, QUOTA_FIELDS)
        }
    }
}

/// The services this cloud publishes and the quota resources it charges, as Synnefo's
/// `service-export-cyclades` prints them for Astakos' `service-import`.
fn service_export(base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let service = |name: &str, kind: &str, path: &str, version: &str, resources: Vec<Value>| {
        json!({name: {
            "type": kind,
            "component": "cyclades",
            "prefix": path.trim_start_matches('/').split('/').next().unwrap_or(""),
            "public": true,
            "endpoints": [{"versionId": version, "publicURL": format!("{base}{path}")}],
            "resources": resources,
        }})
    };
    let resources: Vec<Value> = resources::RESOURCES
        .iter()
        .map(|r| {
            json!({
                "name": r.name,
                "desc": r.description,
                "unit": match r.unit { resources::Unit::Bytes => Some("bytes"), resources::Unit::Count => None },
                "service_type": "compute",
                "service_origin": "cyclades_compute",
                "ui_visible": r.api_visible,
                "api_visible": r.api_visible,
                "default_limit": r.default_limit,
            })
        })
        .collect();
    let mut services = serde_json::Map::new();
    for e in endpoints::SERVICES {
        // Quota resources belong to the compute service, as in Synnefo.
        let owned = if e.kind == "compute" {
            resources.clone()
        } else {
            vec![]
        };
        if let Value::Object(map) = service(e.name, e.kind, e.path, e.version_id, owned) {
            services.extend(map);
        }
    }
    Value::Object(services)
}

const USER_FIELDS: &[&str] = &[
    "id",
    "name",
    "email",
    "admin",
    "enabled",
    "default_project",
    "projects",
    "created",
];
const PROJECT_FIELDS: &[&str] = &["id", "name", "description", "enabled", "created"];
const QUOTA_FIELDS: &[&str] = &["project", "resource", "limit", "usage", "pending"];

fn deleted_query(list: &ListArgs) -> &'static str {
    if list.deleted { "?deleted=only" } else { "" }
}

/// Percent-encodes one path segment (names are plain, but never trust that).
pub(super) fn encode_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) fn show_list(
    items: &Value,
    format: OutputFormat,
    list: &ListArgs,
    default_fields: &[&str],
) -> Result<(), CliError> {
    let rows: Vec<Map<String, Value>> = items
        .as_array()
        .ok_or_else(|| CliError::Message("the server answered without the expected list".into()))?
        .iter()
        .filter_map(|v| v.as_object().cloned())
        .collect();
    if list.list_fields {
        let mut fields: Vec<&str> = default_fields.to_vec();
        for key in rows.iter().flat_map(|r| r.keys()) {
            if !fields.contains(&key.as_str()) {
                fields.push(key);
            }
        }
        println!("{}", fields.join("\n"));
        return Ok(());
    }
    let filters = match &list.filter_by {
        Some(text) => output::parse_filters(text).map_err(CliError::Message)?,
        None => vec![],
    };
    let mut kept = Vec::with_capacity(rows.len());
    for row in rows {
        if output::matches(&row, &filters).map_err(CliError::Message)? {
            kept.push(row);
        }
    }
    let fields: Vec<String> = if list.output.is_empty() {
        default_fields.iter().map(|f| f.to_string()).collect()
    } else {
        list.output.clone()
    };
    let view = ListView {
        format,
        fields: &fields,
        headers: !list.no_headers,
    };
    print!(
        "{}",
        output::render(&kept, &view).map_err(CliError::Message)?
    );
    Ok(())
}

/// Prints the whole reply as pretty JSON when the output format is JSON (an `-inspect`
/// command's several sections as one document); says whether it did.
pub(super) fn printed_whole(reply: &Value, format: OutputFormat) -> bool {
    if format == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(reply).unwrap_or_default()
        );
    }
    format == OutputFormat::Json
}

pub(super) fn show_one(
    item: &Value,
    format: OutputFormat,
    fields: &[&str],
) -> Result<(), CliError> {
    let Some(row) = item.as_object() else {
        return Err(CliError::Message(
            "the server answered without the expected object".into(),
        ));
    };
    match format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(item).unwrap_or_default())
        }
        _ => {
            let fields: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            let view = ListView {
                format,
                fields: &fields,
                headers: true,
            };
            print!(
                "{}",
                output::render(std::slice::from_ref(row), &view).map_err(CliError::Message)?
            );
        }
    }
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CYCLADES_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sled=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

async fn serve(args: &ServeArgs, data_dir: Option<PathBuf>, demo: bool) -> Result<(), CliError> {
    let config: Config = args.load(data_dir)?;
    init_logging(config.server.log_format);
    let running = server::start(ServerOptions { config, demo }).await?;
    print_banner(&running);
    running.run_until(shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// What a newcomer needs after `serve` starts: endpoints, credentials, `OS_*` variables.
fn print_banner(running: &RunningServer) {
    let url = &running.public_url;
    println!(
        "cyclades is serving on {url} (data in {})",
        running.data_dir.display()
    );
    println!("  identity   {url}/identity/v3   (Keystone v3; Astakos v2.0 at {url}/identity/v2.0)");
    println!("  compute    {url}/compute/v2.0");
    println!("  network    {url}/network/v2.0");
    println!("  image      {url}/image/v1.0");
    println!("  volume     {url}/volume/v2.0");
    println!(
        "  admin API  {url}/admin/v1   (token in {})",
        running.data_dir.join(server::ADMIN_TOKEN_FILE).display()
    );
    if let Some(demo) = &running.demo {
        println!();
        println!(
            "Demo mode: user '{}' password '{}' in project '{}'; admin user '{}' password '{}'.",
            demo.user, demo.password, demo.project, demo.admin_user, demo.admin_password
        );
        println!("These are well-known passwords: keep a demo server on loopback.");
        if let Some(sim) = running.simulator_url() {
            println!(
                "A simulated Ganeti cluster (4 nodes) answers RAPI at {sim}/2/ and is registered as backend 127.0.0.1."
            );
        }
        println!();
        println!("For the openstack CLI:");
        println!("export OS_AUTH_URL={url}/identity/v3");
        println!("export OS_IDENTITY_API_VERSION=3");
        println!("export OS_USERNAME={}", demo.user);
        println!("export OS_PASSWORD={}", demo.password);
        println!("export OS_PROJECT_NAME={}", demo.project);
        println!("export OS_USER_DOMAIN_NAME=Default");
        println!("export OS_PROJECT_DOMAIN_NAME=Default");
        println!();
        println!(
            "Operator commands: cyclades --data-dir {} --url {url} user-list",
            running.data_dir.display()
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

/// `cyclades progress-monitor`: forwards stdin until it ends; only a missing URL is fatal.
async fn progress_monitor(instance: &str, url: Option<String>) -> Result<(), CliError> {
    use crate::progress_monitor::{Forwarder, forward_lines, progress_url, stdin_lines};
    let url = match url {
        Some(url) => url,
        None => std::env::var("OSP_CONFIG_URL")
            .ok()
            .and_then(|c| progress_url(&c))
            .ok_or_else(|| {
                CliError::Message(
                    "No progress URL: pass --progress-url or run under snf-image (OSP_CONFIG_URL)"
                        .into(),
                )
            })?,
    };
    let report = forward_lines(&Forwarder::new(&url, instance), stdin_lines()).await;
    eprintln!(
        "progress-monitor: {instance}: {} sent, {} malformed, {} refused",
        report.sent, report.malformed, report.failed
    );
    Ok(())
}
