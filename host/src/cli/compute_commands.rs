//! Operator commands for compute: `volume-type-*`, `flavor-*`, `image-register/list/show`,
//! `server-create/list/inspect/modify/remove` and `job-list/inspect` (spec §14, §17).

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::AdminClient;
use super::commands::{encode_segment, printed_whole, show_list, show_one};
use super::output::OutputFormat;
use super::{CliError, ComputeCommand, ListArgs};

const VT_FIELDS: &[&str] = &["id", "name", "disk_template", "deleted"];
const FLAVOR_FIELDS: &[&str] = &[
    "id",
    "name",
    "cpu",
    "ram",
    "disk",
    "disk_template",
    "public",
    "allow_create",
    "deleted",
];
const IMAGE_FIELDS: &[&str] = &["id", "name", "owner", "status", "public", "location"];
const SERVER_FIELDS: &[&str] = &[
    "id",
    "name",
    "user_id",
    "project_id",
    "flavor_id",
    "status",
    "task_state",
    "backend_id",
    "suspended",
];
const JOB_FIELDS: &[&str] = &[
    "id",
    "kind",
    "target",
    "state",
    "failed_step",
    "created",
    "finished",
];

const REPLICA_FIELDS: &[&str] = &[
    "id",
    "address",
    "version",
    "started",
    "last_heartbeat",
    "alive",
    "jobs_owned",
    "reconciler",
];

/// "1,2,4" → [1, 2, 4], naming the argument on error.
fn numbers<T: std::str::FromStr>(what: &str, text: &str) -> Result<Vec<T>, CliError> {
    text.split(',')
        .map(|t| {
            t.trim().parse().map_err(|_| {
                CliError::Message(format!("invalid {what} '{t}': use numbers like 1,2,4"))
            })
        })
        .collect()
}

/// "k=v,k2=v2" (or repeated "k=v") → a JSON object.
fn pairs<'a>(
    what: &str,
    items: impl Iterator<Item = &'a str>,
) -> Result<Map<String, Value>, CliError> {
    let mut out = Map::new();
    for item in items.filter(|i| !i.trim().is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| CliError::Message(format!("invalid {what} '{item}': use KEY=VALUE")))?;
        out.insert(k.trim().to_string(), json!(v.trim()));
    }
    Ok(out)
}

fn deleted_query(path: &str, list: &ListArgs) -> String {
    if list.deleted {
        format!("{path}?deleted=only")
    } else {
        path.to_string()
    }
}

/// Synnefo's names of server fields (its Django model's) and ours, both accepted by
/// `server-list --filter-by`.
const SYNNEFO_SERVER_FIELDS: &[(&str, &str)] = &[
    ("flavor", "flavor_id"),
    ("userid", "user_id"),
    ("project", "project_id"),
    ("backend", "backend_id"),
    ("image", "image_id"),
];

/// A server's record as `server-show` and `server-inspect` print it.
const SERVER_RECORD_FIELDS: &[&str] = &[
    "id",
    "name",
    "user_id",
    "project_id",
    "flavor_id",
    "image_id",
    "status",
    "operstate",
    "task_state",
    "action",
    "active_job",
    "backend_id",
    "instance",
    "backend_job_id",
    "backend_opcode",
    "backend_job_status",
    "backend_log_msg",
    "suspended",
    "deleted",
    "created",
    "updated",
];

pub async fn run(
    command: &ComputeCommand,
    client: &AdminClient,
    format: OutputFormat,
) -> Result<(), CliError> {
    use ComputeCommand as C;
    match command {
        C::VolumeTypeCreate {
            name,
            disk_template,
            specs,
        } => {
            let specs = pairs("spec", specs.as_deref().unwrap_or("").split(','))?;
            let body = json!({"name": name, "disk_template": disk_template, "specs": specs});
            let reply = client
                .call(Method::POST, "/volume-types", Some(body))
                .await?;
            show_one(&reply["volume_type"], format, VT_FIELDS)
        }
        C::VolumeTypeList { list } => {
            let reply = client.get(&deleted_query("/volume-types", list)).await?;
            show_list(&reply["volume_types"], format, list, VT_FIELDS)
        }
        C::VolumeTypeShow { volume_type } => {
            let reply = client
                .get(&format!("/volume-types/{}", encode_segment(volume_type)))
                .await?;
            show_one(&reply["volume_type"], format, VT_FIELDS)
        }
        C::VolumeTypeModify {
            volume_type,
            deleted,
        } => {
            let reply = client
                .call(
                    Method::PATCH,
                    &format!("/volume-types/{}", encode_segment(volume_type)),
                    Some(json!({"deleted": deleted})),
                )
                .await?;
            show_one(&reply["volume_type"], format, VT_FIELDS)
        }
        C::FlavorCreate {
            cpus,
            rams,
            disks,
            volume_types,
            public,
            specs,
        } => {
            let body = json!({
                "cpus": numbers::<u32>("cpu count", cpus)?,
                "rams": numbers::<u64>("ram size", rams)?,
                "disks": numbers::<u64>("disk size", disks)?,
                "volume_types": volume_types.split(',').map(str::trim).collect::<Vec<_>>(),
                "public": public,
                "specs": pairs("spec", specs.as_deref().unwrap_or("").split(','))?,
            });
            let reply = client.call(Method::POST, "/flavors", Some(body)).await?;
            if printed_whole(&reply, format) {
                return Ok(());
            }
            for w in reply["warnings"].as_array().into_iter().flatten() {
                eprintln!("warning: {}", w.as_str().unwrap_or_default());
            }
            for f in reply["existing"].as_array().into_iter().flatten() {
                println!(
                    "flavor {} ({}) {}",
                    f["id"].as_str().unwrap_or_default(),
                    f["name"].as_str().unwrap_or_default(),
                    f["hint"].as_str().unwrap_or_default()
                );
            }
            let created = &reply["created"];
            println!(
                "created {} flavor(s)",
                created.as_array().map(Vec::len).unwrap_or(0)
            );
            if created.as_array().is_some_and(|a| !a.is_empty()) {
                show_list(created, format, &ListArgs::default(), FLAVOR_FIELDS)?;
            }
            Ok(())
        }
        C::FlavorList { list } => {
            let reply = client.get(&deleted_query("/flavors", list)).await?;
            show_list(&reply["flavors"], format, list, FLAVOR_FIELDS)
        }
        C::FlavorShow { flavor } => {
            let reply = client
                .get(&format!("/flavors/{}", encode_segment(flavor)))
                .await?;
            show_one(&reply["flavor"], format, FLAVOR_FIELDS)
        }
        C::FlavorModify {
            flavor,
            deleted,
            allow_create,
            public,
        } => {
            let body = json!({"deleted": deleted, "allow_create": allow_create, "public": public});
            let reply = client
                .call(
                    Method::PATCH,
                    &format!("/flavors/{}", encode_segment(flavor)),
                    Some(body),
                )
                .await?;
            show_one(&reply["flavor"], format, FLAVOR_FIELDS)
        }
        C::FlavorAccessList { flavor, list } => {
            let reply = client.get("/flavors").await?;
            let rows: Vec<Value> = reply["flavors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| {
                    // Ids are JSON strings (or numbers); names are strings.
                    let id = f["id"].as_str().map_or_else(|| f["id"].to_string(), str::to_string);
                    flavor
                        .as_ref()
                        .is_none_or(|want| f["name"] == want.as_str() || id == *want)
                })
                .flat_map(|f| {
                    f["access"].as_array().cloned().unwrap_or_default().into_iter().map(
                        move |project| json!({"flavor_id": f["id"], "flavor": f["name"], "project": project}),
                    )
                })
                .collect();
            show_list(
                &Value::Array(rows),
                format,
                list,
                &["flavor_id", "flavor", "project"],
            )
        }
        C::FlavorAccessAdd { flavor, project } | C::FlavorAccessRemove { flavor, project } => {
            let method = if matches!(command, C::FlavorAccessAdd { .. }) {
                Method::POST
            } else {
                Method::DELETE
            };
            let reply = client
                .call(
                    method,
                    &format!("/flavors/{}/access", encode_segment(flavor)),
                    Some(json!({"project": project})),
                )
                .await?;
            show_one(
                &reply["flavor"],
                format,
                &["id", "name", "public", "access"],
            )
        }
        C::ImageRegister {
            name,
            location,
            owner,
            public,
            disk_format,
            size,
            properties,
        } => {
            let body = json!({
                "name": name, "location": location, "owner": owner, "public": public,
                "disk_format": disk_format, "size": size,
                "properties": pairs("property", properties.iter().map(String::as_str))?,
            });
            let reply = client.call(Method::POST, "/images", Some(body)).await?;
            show_one(&reply["image"], format, IMAGE_FIELDS)
        }
        C::ImageList { list, user_id } => {
            let reply = client.get(&deleted_query("/images", list)).await?;
            let mut images = reply["images"].clone();
            if let (Some(user), Some(all)) = (user_id, images.as_array_mut()) {
                all.retain(|i| i["owner"] == user.as_str());
            }
            show_list(&images, format, list, IMAGE_FIELDS)
        }
        C::ImageShow { image } => {
            let reply = client
                .get(&format!("/images/{}", encode_segment(image)))
                .await?;
            show_one(
                &reply["image"],
                format,
                &[
                    "id",
                    "name",
                    "owner",
                    "status",
                    "public",
                    "location",
                    "disk_format",
                    "size",
                    "properties",
                    "members",
                ],
            )
        }
        C::ServerCreate {
            name,
            user,
            project,
            flavor,
            image,
            backend_id,
            password,
            wait,
            helper,
        } => {
            let body = json!({"name": name, "user": user, "project": project, "flavor": flavor,
                              "image": image, "backend_id": backend_id, "password": password,
                              "wait": wait, "helper": helper});
            let reply = client.call(Method::POST, "/servers", Some(body)).await?;
            let mut fields = SERVER_FIELDS.to_vec();
            fields.push("adminPass");
            show_one(&reply["server"], format, &fields)
        }
        C::HelperServersSync {
            user,
            project,
            flavor,
            image,
            backend_id,
            copies,
            name,
        } => {
            let body = json!({"user": user, "project": project, "flavor": flavor, "image": image,
                              "backend_id": backend_id, "copies": copies, "name": name});
            let reply = client
                .call(Method::POST, "/helper-servers/sync", Some(body))
                .await?;
            show_list(
                &reply["backends"],
                format,
                &ListArgs::default(),
                &[
                    "backend_id",
                    "clustername",
                    "helpers",
                    "created",
                    "stopped",
                    "errors",
                ],
            )
        }
        C::ServerList {
            user,
            project,
            list,
        } => {
            let mut query = Vec::new();
            if list.deleted {
                query.push("deleted=only".to_string());
            }
            if let Some(u) = user {
                query.push(format!("user={}", encode_segment(u)));
            }
            if let Some(p) = project {
                query.push(format!("project={}", encode_segment(p)));
            }
            let path = if query.is_empty() {
                "/servers".to_string()
            } else {
                format!("/servers?{}", query.join("&"))
            };
            let reply = client.get(&path).await?;
            let mut servers = reply["servers"].clone();
            // Synnefo's field names, for --filter-by as the admin guide writes it
            // (`--filter-by="operstate=STARTED,flavor=<flavor_id>"`).
            for row in servers.as_array_mut().into_iter().flatten() {
                for (synnefo, ours) in SYNNEFO_SERVER_FIELDS {
                    if row.get(synnefo).is_none() {
                        row[*synnefo] = row[*ours].clone();
                    }
                }
            }
            show_list(&servers, format, list, SERVER_FIELDS)
        }
        C::ServerShow { server } => {
            let reply = client
                .get(&format!("/servers/{}", encode_segment(server)))
                .await?;
            show_one(&reply["server"], format, SERVER_RECORD_FIELDS)
        }
        C::ServerInspect { server } => {
            let reply = client
                .get(&format!("/servers/{}", encode_segment(server)))
                .await?;
            if printed_whole(&reply, format) {
                return Ok(());
            }
            println!("== Database");
            show_one(&reply["server"], format, SERVER_RECORD_FIELDS)?;
            println!("\n== Database NICs");
            show_list(
                &reply["ports"],
                format,
                &ListArgs::default(),
                &[
                    "port",
                    "nic",
                    "network",
                    "ipv4",
                    "mac",
                    "status",
                    "floating_ip",
                    "firewall",
                ],
            )?;
            println!("\n== Ganeti");
            println!(
                "{}",
                serde_json::to_string_pretty(&reply["ganeti"]).unwrap_or_default()
            );
            println!("\n== Allocation (why this backend)");
            println!(
                "{}",
                serde_json::to_string_pretty(&reply["allocation"]).unwrap_or_default()
            );
            println!("\n== Jobs");
            show_list(&reply["jobs"], format, &ListArgs::default(), JOB_FIELDS)
        }
        C::ServerModify {
            server,
            suspended,
            name,
            flavor,
            action,
            wait,
        } => {
            let body =
                json!({"suspended": suspended, "name": name, "flavor": flavor, "action": action});
            let reply = client
                .call(
                    Method::PATCH,
                    &format!(
                        "/servers/{}{}",
                        encode_segment(server),
                        if *wait { "?wait=1" } else { "" }
                    ),
                    Some(body),
                )
                .await?;
            if let Some(job) = reply["job"].as_str() {
                match reply["state"].as_str() {
                    Some(state) => eprintln!("server {server}: job {job} {state}"),
                    None => eprintln!("server {server}: job {job} submitted"),
                }
            }
            show_one(&reply["server"], format, SERVER_FIELDS)
        }
        C::ServerRemove { server, wait } => {
            let path = format!(
                "/servers/{}{}",
                encode_segment(server),
                if *wait { "?wait=1" } else { "" }
            );
            let reply = client.call(Method::DELETE, &path, None).await?;
            match reply["state"].as_str() {
                Some(state) => println!(
                    "server {server}: destroy job {} {state}",
                    reply["job"].as_str().unwrap_or_default()
                ),
                None => println!(
                    "server {server}: destroy job {} submitted",
                    reply["job"].as_str().unwrap_or_default()
                ),
            }
            Ok(())
        }
        C::JobList { unfinished, list } => {
            let path = if *unfinished {
                "/jobs?unfinished=1"
            } else {
                "/jobs"
            };
            let reply = client.get(path).await?;
            show_list(&reply["jobs"], format, list, JOB_FIELDS)
        }
        C::ReplicaList { list } => {
            let reply = client.get("/replicas").await?;
            show_list(&reply["replicas"], format, list, REPLICA_FIELDS)
        }
        C::JobInspect { job } => {
            let reply = client
                .get(&format!("/jobs/{}", encode_segment(job)))
                .await?;
            if printed_whole(&reply, format) {
                return Ok(());
            }
            let mut fields = JOB_FIELDS.to_vec();
            fields.extend([
                "fault",
                "running",
                "owner",
                "attempt",
                "lease_expires",
                "params",
            ]);
            show_one(&reply["job"], format, &fields)?;
            println!("\n== Log");
            for e in reply["job"]["log"].as_array().into_iter().flatten() {
                let detail = match e["event"].as_str() {
                    Some("succeeded") => e["output"].to_string(),
                    Some("failed") | Some("undo_failed") => e["error"].to_string(),
                    _ => String::new(),
                };
                println!(
                    "{:>3} {} {:<24} {:<13} {}",
                    e["seq"],
                    e["at"],
                    e["step"].as_str().unwrap_or_default(),
                    e["event"].as_str().unwrap_or_default(),
                    detail
                );
            }
            Ok(())
        }
    }
}
