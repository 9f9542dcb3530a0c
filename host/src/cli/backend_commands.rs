//! Operator commands for Ganeti backends: `backend-add`, `backend-list`, `backend-modify`,
//! `backend-remove`, `backend-update-status`, `project-backend-add/list/remove`.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::AdminClient;
use super::commands::{encode_segment, show_list, show_one};
use super::output::OutputFormat;
use super::{BackendCommand, CliError, ListArgs};

const BACKEND_FIELDS: &[&str] = &[
    "id",
    "clustername",
    "port",
    "drained",
    "offline",
    "public",
    "disk_templates",
    "mfree",
    "dfree",
    "pinst_cnt",
    "last_contact",
];

/// `backend-list` adds the reconciler's health columns.
const BACKEND_LIST_FIELDS: &[&str] = &[
    "id",
    "clustername",
    "port",
    "drained",
    "offline",
    "public",
    "disk_templates",
    "mfree",
    "dfree",
    "pinst_cnt",
    "last_contact",
    "last_reconciled",
    "jobs_in_flight",
];

pub async fn run(
    command: &BackendCommand,
    client: &AdminClient,
    format: OutputFormat,
) -> Result<(), CliError> {
    match command {
        BackendCommand::BackendAdd {
            clustername,
            port,
            username,
            password,
            no_check,
            insecure,
            hypervisor,
            public,
            http,
        } => {
            let body = json!({"backend": {"clustername": clustername, "port": port, "username": username, "password": password,
                "no_check": no_check, "insecure": insecure, "hypervisor": hypervisor, "public": public, "http": http}});
            let reply = client.call(Method::POST, "/backends", Some(body)).await?;
            show_one(&reply["backend"], format, BACKEND_FIELDS)?;
            if format != OutputFormat::Json {
                println!(
                    "The backend is drained: open it with `cyclades backend-modify {clustername} --drained false`."
                );
            }
            Ok(())
        }
        BackendCommand::BackendList { list } => {
            let path = if list.deleted {
                "/backends?deleted=only"
            } else {
                "/backends"
            };
            let reply = client.get(path).await?;
            show_list(&reply["backends"], format, list, BACKEND_LIST_FIELDS)
        }
        BackendCommand::BackendModify {
            backend,
            drained,
            offline,
            public,
            port,
            username,
            password,
            insecure,
            hypervisor,
        } => {
            let mut changes = Map::new();
            for (k, v) in [
                ("drained", json!(drained)),
                ("offline", json!(offline)),
                ("public", json!(public)),
                ("port", json!(port)),
                ("username", json!(username)),
                ("password", json!(password)),
                ("insecure", json!(insecure)),
                ("hypervisor", json!(hypervisor)),
            ] {
                if !v.is_null() {
                    changes.insert(k.to_string(), v);
                }
            }
            if changes.is_empty() {
                return Err(CliError::Message(
                    "nothing to change: give at least one option (see --help)".into(),
                ));
            }
            let path = format!("/backends/{}", encode_segment(backend));
            let reply = client
                .call(Method::PATCH, &path, Some(json!({"backend": changes})))
                .await?;
            show_one(&reply["backend"], format, BACKEND_FIELDS)
        }
        BackendCommand::BackendRemove { backend } => {
            let reply = client
                .call(
                    Method::DELETE,
                    &format!("/backends/{}", encode_segment(backend)),
                    None,
                )
                .await?;
            show_one(&reply["backend"], format, &["id", "clustername", "deleted"])
        }
        BackendCommand::BackendUpdateStatus { backend } => {
            let body = backend.as_ref().map(|b| json!({"backend": b}));
            let reply = client
                .call(Method::POST, "/backends/update-status", body)
                .await?;
            show_list(
                &reply["backends"],
                format,
                &Default::default(),
                &[
                    "id",
                    "clustername",
                    "disk_templates",
                    "mfree",
                    "dfree",
                    "last_contact",
                    "last_error",
                ],
            )
        }
        BackendCommand::ReconcileServers {
            backend_id,
            fix_stale,
            fix_orphans,
            fix_unsynced,
            fix_unsynced_flavors,
            fix_unsynced_rescue,
            fix_unsynced_tags,
            fix_unsynced_nics,
            fix_unsynced_disks,
            fix_pending_tasks,
            fix_all,
            list,
        } => {
            let body = json!({
                "backend": backend_id,
                "fix_stale": *fix_stale || *fix_all,
                "fix_orphans": *fix_orphans || *fix_all,
                "fix_unsynced": *fix_unsynced || *fix_all,
                "fix_unsynced_flavors": *fix_unsynced_flavors || *fix_all,
                "fix_unsynced_rescue": *fix_unsynced_rescue || *fix_all,
                "fix_unsynced_tags": *fix_unsynced_tags || *fix_all,
                "fix_unsynced_nics": *fix_unsynced_nics || *fix_all,
                "fix_unsynced_disks": *fix_unsynced_disks || *fix_all,
                "fix_pending_tasks": *fix_pending_tasks || *fix_all,
            });
            let reply = client
                .call(Method::POST, "/reconcile/servers", Some(body))
                .await?;
            show_report(
                &reply,
                "drift",
                format,
                list,
                &[
                    "backend",
                    "kind",
                    "server_id",
                    "instance",
                    "detail",
                    "fixed",
                ],
                &format!(
                    "No drift on {} backend(s).",
                    reply["backends"].as_u64().unwrap_or(0)
                ),
            )
        }
        BackendCommand::ReconcileCommissions { fix, list } => {
            let reply = client
                .call(
                    Method::POST,
                    "/reconcile/commissions",
                    Some(json!({"fix": fix})),
                )
                .await?;
            show_report(
                &reply,
                "commissions",
                format,
                list,
                &["serial", "name", "verdict", "reason", "fixed"],
                "No pending commissions.",
            )
        }
        BackendCommand::ReconcileResources { fix, list } => {
            let reply = client
                .call(
                    Method::POST,
                    "/reconcile/resources",
                    Some(json!({"fix": fix})),
                )
                .await?;
            show_report(
                &reply,
                "resources",
                format,
                list,
                &[
                    "project_id",
                    "resource",
                    "recorded",
                    "actual",
                    "fixed",
                    "note",
                ],
                "Quota usage matches every project's servers.",
            )
        }
        BackendCommand::EnforceResources {
            resources,
            soft_resources,
            projects,
            exclude_projects,
            max_operations,
            fix,
            list,
        } => {
            let body = json!({"resources": resources, "soft_resources": soft_resources,
                "projects": projects, "exclude_projects": exclude_projects,
                "max_operations": max_operations, "fix": fix});
            let reply = client
                .call(Method::POST, "/enforce/resources", Some(body))
                .await?;
            show_report(
                &reply,
                "actions",
                format,
                list,
                &[
                    "project_id",
                    "resource",
                    "usage",
                    "limit",
                    "server_id",
                    "action",
                    "job_id",
                    "error",
                ],
                "Every project is within its limits.",
            )
        }
        BackendCommand::BackendHealth { list } => {
            let reply = client.get("/backends/health").await?;
            show_list(
                &reply["backends"],
                format,
                list,
                &[
                    "id",
                    "clustername",
                    "offline",
                    "last_contact",
                    "last_reconciled",
                    "jobs_in_flight",
                    "repairs",
                    "reconcile_error",
                ],
            )
        }
        BackendCommand::ProjectBackendAdd { project, backend } => {
            client
                .call(
                    Method::POST,
                    "/project-backends",
                    Some(json!({"project": project, "backend": backend})),
                )
                .await?;
            println!("backend {backend} is now dedicated to project {project}");
            Ok(())
        }
        BackendCommand::ProjectBackendList { list } => {
            let reply = client.get("/project-backends").await?;
            show_list(
                &reply["project_backends"],
                format,
                list,
                &["project", "backend_id", "clustername"],
            )
        }
        BackendCommand::ProjectBackendRemove { project, backend } => {
            client
                .call(
                    Method::DELETE,
                    "/project-backends",
                    Some(json!({"project": project, "backend": backend})),
                )
                .await?;
            println!("backend {backend} is no longer dedicated to project {project}");
            Ok(())
        }
    }
}

/// A report's rows, or (except as JSON) one line saying there is nothing to report.
pub(super) fn show_report(
    reply: &Value,
    key: &str,
    format: OutputFormat,
    list: &ListArgs,
    fields: &[&str],
    nothing: &str,
) -> Result<(), CliError> {
    if format != OutputFormat::Json && reply[key].as_array().is_some_and(Vec::is_empty) {
        println!("{nothing}");
        return Ok(());
    }
    show_list(&reply[key], format, list, fields)
}
