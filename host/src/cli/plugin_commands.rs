//! The plugin platform's operator commands: `plugin-list`, `plugin-inspect`, `plugin-load`,
//! `plugin-swap`, `plugin-rollback`, `plugin-release`, `allocator-test`, `plugin-shadow`.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::AdminClient;
use super::commands::{encode_segment, show_list, show_one};
use super::output::OutputFormat;
use super::{CliError, ListArgs, PluginCommand};

const PLUGIN_FIELDS: &[&str] = &[
    "name", "kind", "version", "digest", "source", "state", "calls", "faults",
];
const INSPECT_FIELDS: &[&str] = &[
    "name",
    "kind",
    "version",
    "digest",
    "source",
    "state",
    "slots",
    "calls",
    "faults",
    "last_fault",
    "cached",
    "load_ms",
];
const SLOT_FIELDS: &[&str] = &["slot", "plugin", "version", "digest", "previous"];

pub async fn run(
    command: &PluginCommand,
    client: &AdminClient,
    format: OutputFormat,
) -> Result<(), CliError> {
    match command {
        PluginCommand::PluginList { list } => {
            let mut reply = client.get("/plugins").await?;
            // Short digests read better in a table; JSON keeps them whole.
            if format != OutputFormat::Json
                && let Some(items) = reply["plugins"].as_array_mut()
            {
                for item in items {
                    if let Some(d) = item["digest"].as_str() {
                        item["digest"] = json!(d.chars().take(12).collect::<String>());
                    }
                }
            }
            show_list(&reply["plugins"], format, list, PLUGIN_FIELDS)
        }
        PluginCommand::PluginSlots { list } => {
            let reply = client.get("/plugin-slots").await?;
            show_list(&reply["slots"], format, list, SLOT_FIELDS)
        }
        PluginCommand::PluginInspect { plugin } => {
            let reply = client
                .get(&format!("/plugins/{}", encode_segment(plugin)))
                .await?;
            if format == OutputFormat::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&reply["plugin"]).unwrap_or_default()
                );
                return Ok(());
            }
            show_details(&reply["plugin"]);
            Ok(())
        }
        PluginCommand::PluginLoad { path } => {
            let absolute = std::fs::canonicalize(path).map_err(|e| {
                CliError::Message(format!("cannot read plugin {}: {e}", path.display()))
            })?;
            let body = json!({"path": absolute.display().to_string()});
            let reply = client.call(Method::POST, "/plugins", Some(body)).await?;
            show_one(&reply["plugin"], format, INSPECT_FIELDS)
        }
        PluginCommand::PluginSwap { slot, plugin } => {
            // A path on this machine is sent absolute; anything else is a loaded plugin's name.
            let plugin = match std::fs::canonicalize(plugin) {
                Ok(p) if p.is_file() => p.display().to_string(),
                _ => plugin.clone(),
            };
            let reply = client
                .call(
                    Method::POST,
                    "/plugin-slots/swap",
                    Some(json!({"slot": slot, "plugin": plugin})),
                )
                .await?;
            let s = &reply["slot"];
            if format == OutputFormat::Json {
                println!("{}", serde_json::to_string_pretty(s).unwrap_or_default());
            } else {
                println!(
                    "{}: {} {} ({}) now serves; was {} {}",
                    s["slot"].as_str().unwrap_or(""),
                    s["plugin"].as_str().unwrap_or(""),
                    s["version"].as_str().unwrap_or(""),
                    short(&s["digest"]),
                    s["previous"]["plugin"].as_str().unwrap_or(""),
                    s["previous"]["version"].as_str().unwrap_or(""),
                );
            }
            Ok(())
        }
        PluginCommand::PluginRollback { slot } => {
            let reply = client
                .call(
                    Method::POST,
                    "/plugin-slots/rollback",
                    Some(json!({"slot": slot})),
                )
                .await?;
            show_one(
                &reply["slot"],
                format,
                &["slot", "plugin", "version", "digest"],
            )
        }
        PluginCommand::PluginRelease { plugin } => {
            let reply = client
                .call(
                    Method::POST,
                    &format!("/plugins/{}/release", encode_segment(plugin)),
                    None,
                )
                .await?;
            show_one(&reply["plugin"], format, PLUGIN_FIELDS)
        }
        PluginCommand::AllocatorTest { plugin, snapshot } => {
            let backends = match snapshot {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        CliError::Message(format!("cannot read snapshot {}: {e}", path.display()))
                    })?;
                    let value: Value = serde_json::from_str(&text).map_err(|e| {
                        CliError::Message(format!("snapshot {} is not JSON: {e}", path.display()))
                    })?;
                    Some(value.get("backends").cloned().unwrap_or(value))
                }
                None => None,
            };
            let reply = client
                .call(
                    Method::POST,
                    "/allocator-test",
                    Some(json!({"plugin": plugin, "backends": backends})),
                )
                .await?;
            let report = &reply["allocator_test"];
            if format == OutputFormat::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(report).unwrap_or_default()
                );
                return Ok(());
            }
            println!(
                "{} (candidate) vs {} (active) over {} backends: same placement for {} of {} requests",
                report["candidate"].as_str().unwrap_or(""),
                report["active"].as_str().unwrap_or(""),
                report["backends"],
                report["same"],
                report["requests"]
            );
            let rows: Vec<Value> = report["results"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|r| json!({"request": r["request"], "active": text(&r["active"]), "candidate": text(&r["candidate"]), "same": r["same"]}))
                .collect();
            show_list(
                &Value::Array(rows),
                format,
                &ListArgs::default(),
                &["request", "active", "candidate", "same"],
            )
        }
        PluginCommand::PluginShadow { slot, plugin, off } => {
            if *off {
                client.call(Method::DELETE, "/plugin-shadow", None).await?;
                println!("shadowing stopped");
                return Ok(());
            }
            if let Some(slot) = slot {
                if slot != "allocator" {
                    return Err(CliError::Message(format!(
                        "only the allocator slot can be shadowed, not '{slot}'"
                    )));
                }
                let plugin = plugin.as_ref().ok_or_else(|| {
                    CliError::Message(
                        "name the plugin to shadow with: plugin-shadow allocator <plugin>".into(),
                    )
                })?;
                client
                    .call(
                        Method::PUT,
                        "/plugin-shadow",
                        Some(json!({"plugin": plugin})),
                    )
                    .await?;
                println!(
                    "{plugin} now shadows the allocator slot; see `cyclades plugin-shadow` for what it would have done"
                );
                return Ok(());
            }
            let reply = client.get("/plugin-shadow").await?;
            let shadow = &reply["shadow"];
            if shadow.is_null() {
                println!("no shadow allocator");
                return Ok(());
            }
            if format == OutputFormat::Json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(shadow).unwrap_or_default()
                );
                return Ok(());
            }
            println!(
                "{} shadows the allocator: same placement for {} of {} live requests",
                shadow["plugin"].as_str().unwrap_or(""),
                shadow["agree"],
                shadow["requests"]
            );
            show_list(
                &shadow["records"],
                format,
                &ListArgs::default(),
                &["at", "vcpus", "ram_mb", "disk_mb", "active", "shadow"],
            )
        }
    }
}

fn short(v: &Value) -> String {
    v.as_str().unwrap_or("").chars().take(12).collect()
}

fn text(v: &Value) -> Value {
    match v {
        Value::Object(o) => json!(format!(
            "error: {}",
            o.get("error").and_then(Value::as_str).unwrap_or("")
        )),
        other => other.clone(),
    }
}

/// `plugin-inspect`: one field per line.
fn show_details(plugin: &Value) {
    let Some(fields) = plugin.as_object() else {
        return;
    };
    let width = fields.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in fields {
        let shown = match value {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        println!("{key:width$}  {shown}");
    }
}
