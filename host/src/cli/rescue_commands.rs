//! `rescue-image-create/list/modify/remove` (Synnefo's commands of the same names), over the
//! admin API. Owns argument-to-request mapping only.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::AdminClient;
use super::commands::{encode_segment, show_list, show_one};
use super::output::OutputFormat;
use super::{CliError, RescueCommand};

const FIELDS: &[&str] = &[
    "id",
    "name",
    "location",
    "location_type",
    "target_os_family",
    "target_os",
    "default",
    "deleted",
];

fn put(body: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(v) = value {
        body.insert(key.into(), json!(v));
    }
}

pub async fn run(
    command: &RescueCommand,
    client: &AdminClient,
    format: OutputFormat,
) -> Result<(), CliError> {
    match command {
        RescueCommand::RescueImageCreate { image, default } => {
            let mut body = Map::new();
            put(&mut body, "name", &image.name);
            put(&mut body, "location", &image.location);
            put(&mut body, "location_type", &image.location_type);
            put(&mut body, "os_family", &image.os_family);
            put(&mut body, "os", &image.os);
            put(&mut body, "target_os_family", &image.target_os_family);
            put(&mut body, "target_os", &image.target_os);
            body.insert("default".into(), json!(default));
            let reply = client
                .call(Method::POST, "/rescue-images", Some(Value::Object(body)))
                .await?;
            show_one(&reply["rescue_image"], format, FIELDS)
        }
        RescueCommand::RescueImageList { list } => {
            let path = if list.deleted {
                "/rescue-images?deleted=only"
            } else {
                "/rescue-images"
            };
            let reply = client.get(path).await?;
            show_list(&reply["rescue_images"], format, list, FIELDS)
        }
        RescueCommand::RescueImageModify {
            id,
            image,
            default,
            deleted,
        } => {
            let mut body = Map::new();
            put(&mut body, "name", &image.name);
            put(&mut body, "location", &image.location);
            put(&mut body, "location_type", &image.location_type);
            put(&mut body, "os_family", &image.os_family);
            put(&mut body, "os", &image.os);
            put(&mut body, "target_os_family", &image.target_os_family);
            put(&mut body, "target_os", &image.target_os);
            if let Some(d) = default {
                body.insert("default".into(), json!(d));
            }
            if let Some(d) = deleted {
                body.insert("deleted".into(), json!(d));
            }
            if body.is_empty() {
                return Err(CliError::Message("nothing to change".into()));
            }
            let reply = client
                .call(
                    Method::PATCH,
                    &format!("/rescue-images/{}", encode_segment(id)),
                    Some(Value::Object(body)),
                )
                .await?;
            show_one(&reply["rescue_image"], format, FIELDS)
        }
        RescueCommand::RescueImageRemove { id } => {
            client
                .call(
                    Method::DELETE,
                    &format!("/rescue-images/{}", encode_segment(id)),
                    None,
                )
                .await?;
            println!("Rescue image {id} removed.");
            Ok(())
        }
    }
}
