//! `rescue-image-create/list/modify/remove` (Synnefo's commands of the same names), over the
//! admin API. Owns argument-to-request mapping only.

use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::AdminClient;
use super::commands::{encode_segment, show_list, show_one};
use super::output::OutputFormat;
use super::{CliError, RescueCommand, RescueImageArgs};

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

/// The request fields given on the command line (absent ones are left out).
fn image_body(image: &RescueImageArgs) -> Map<String, Value> {
    [
        ("name", &image.name),
        ("location", &image.location),
        ("location_type", &image.location_type),
        ("os_family", &image.os_family),
        ("os", &image.os),
        ("target_os_family", &image.target_os_family),
        ("target_os", &image.target_os),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key.to_string(), json!(value.as_ref()?))))
    .collect()
}

pub async fn run(
    command: &RescueCommand,
    client: &AdminClient,
    format: OutputFormat,
) -> Result<(), CliError> {
    match command {
        RescueCommand::RescueImageCreate { image, default } => {
            let mut body = image_body(image);
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
            let mut body = image_body(image);
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
