//! `volume-create/list/show/inspect/modify/attach/detach/remove` (Synnefo's commands of the
//! same names), over the admin API. Owns their arguments and the argument-to-request mapping
//! only.

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Subcommand};
use reqwest::Method;
use serde_json::json;

use super::client::AdminClient;
use super::commands::{encode_segment, printed_whole, show_list, show_one};
use super::output::OutputFormat;
use super::{CliError, ListArgs};

const VOLUME_FIELDS: &[&str] = &[
    "id",
    "name",
    "user_id",
    "project_id",
    "size",
    "disk_template",
    "status",
    "server_id",
    "index",
    "deleted",
];

/// `volume-show` and the database part of `volume-inspect`.
const VOLUME_DETAIL: &[&str] = &[
    "id",
    "name",
    "description",
    "user_id",
    "project_id",
    "shared_to_project",
    "size",
    "volume_type",
    "disk_template",
    "status",
    "server_id",
    "index",
    "disk",
    "backend_id",
    "backend_job_id",
    "initialised",
    "source",
    "delete_on_termination",
    "deleted",
    "created",
    "updated",
];

/// Volumes (spec §5, §17).
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume for a user: on a server (`--server`), or standalone (detachable types).
    VolumeCreate {
        #[arg(long)]
        name: String,
        /// Size in GiB.
        #[arg(long)]
        size: u64,
        /// Owner user name or id.
        #[arg(long)]
        user: String,
        /// Project [default: the user's default project].
        #[arg(long)]
        project: Option<String>,
        /// Volume type id [default: the server's].
        #[arg(long)]
        volume_type: Option<String>,
        /// Attach it to this server at once.
        #[arg(long)]
        server: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Wait until Ganeti has the disk.
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        wait: bool,
    },
    /// List volumes.
    VolumeList {
        /// Only this user's volumes (name or id).
        #[arg(long)]
        user: Option<String>,
        /// Only this project's volumes (name or id).
        #[arg(long)]
        project: Option<String>,
        /// Only the volumes of this server.
        #[arg(long)]
        server: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show one volume.
    VolumeShow { id: String },
    /// Show one volume with the Ganeti disk that holds it.
    VolumeInspect { id: String },
    /// Rename a volume or change its description.
    VolumeModify {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Attach an AVAILABLE detachable volume to a server.
    VolumeAttach {
        id: String,
        #[arg(long)]
        server: String,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        wait: bool,
    },
    /// Detach a volume from its server, keeping its data.
    VolumeDetach {
        id: String,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        wait: bool,
    },
    /// Delete a volume (a detached one with data goes through a helper server).
    VolumeRemove {
        id: String,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
        wait: bool,
    },
}

fn wait_query(wait: bool) -> &'static str {
    if wait { "?wait=1" } else { "" }
}

pub async fn run(
    command: &VolumeCommand,
    client: &AdminClient,
    format: OutputFormat,
) -> Result<(), CliError> {
    match command {
        VolumeCommand::VolumeCreate {
            name,
            size,
            user,
            project,
            volume_type,
            server,
            description,
            wait,
        } => {
            let body = json!({"name": name, "size": size, "user": user, "project": project,
                              "volume_type": volume_type, "server": server,
                              "description": description, "wait": wait});
            let reply = client.call(Method::POST, "/volumes", Some(body)).await?;
            show_one(&reply["volume"], format, VOLUME_FIELDS)
        }
        VolumeCommand::VolumeList {
            user,
            project,
            server,
            list,
        } => {
            let mut query = Vec::new();
            if list.deleted {
                query.push("deleted=only".to_string());
            }
            for (key, value) in [("user", user), ("project", project), ("server", server)] {
                if let Some(v) = value {
                    query.push(format!("{key}={}", encode_segment(v)));
                }
            }
            let path = if query.is_empty() {
                "/volumes".to_string()
            } else {
                format!("/volumes?{}", query.join("&"))
            };
            let reply = client.get(&path).await?;
            show_list(&reply["volumes"], format, list, VOLUME_FIELDS)
        }
        VolumeCommand::VolumeShow { id } => {
            let reply = client
                .get(&format!("/volumes/{}", encode_segment(id)))
                .await?;
            show_one(&reply["volume"], format, VOLUME_DETAIL)
        }
        VolumeCommand::VolumeInspect { id } => {
            let reply = client
                .get(&format!("/volumes/{}", encode_segment(id)))
                .await?;
            if printed_whole(&reply, format) {
                return Ok(());
            }
            println!("== Database");
            show_one(&reply["volume"], format, VOLUME_DETAIL)?;
            println!("\n== Ganeti (the server's instance)");
            println!(
                "{}",
                serde_json::to_string_pretty(&reply["ganeti"]).unwrap_or_default()
            );
            Ok(())
        }
        VolumeCommand::VolumeModify {
            id,
            name,
            description,
        } => {
            let body = json!({"name": name, "description": description});
            let reply = client
                .call(
                    Method::PATCH,
                    &format!("/volumes/{}", encode_segment(id)),
                    Some(body),
                )
                .await?;
            show_one(&reply["volume"], format, VOLUME_FIELDS)
        }
        VolumeCommand::VolumeAttach { id, server, wait } => {
            let path = format!(
                "/volumes/{}/attach{}",
                encode_segment(id),
                wait_query(*wait)
            );
            let reply = client
                .call(Method::POST, &path, Some(json!({"server": server})))
                .await?;
            show_one(&reply["volume"], format, VOLUME_FIELDS)
        }
        VolumeCommand::VolumeDetach { id, wait } => {
            let path = format!(
                "/volumes/{}/detach{}",
                encode_segment(id),
                wait_query(*wait)
            );
            let reply = client.call(Method::POST, &path, None).await?;
            show_one(&reply["volume"], format, VOLUME_FIELDS)
        }
        VolumeCommand::VolumeRemove { id, wait } => {
            let path = format!("/volumes/{}{}", encode_segment(id), wait_query(*wait));
            let reply = client.call(Method::DELETE, &path, None).await?;
            show_one(&reply["volume"], format, VOLUME_FIELDS)
        }
    }
}
