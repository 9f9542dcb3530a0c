//! Which attributes a `POST /servers` body may carry (spec §2.3): each is used or refused
//! with a 400 naming it, never dropped. Owns that list only; the parsing of each attribute
//! stays in `compute_servers::parse_create`.

use serde_json::Value;

use super::ApiError;

/// Every attribute of a create request is used or refused (400 naming it), never dropped:
/// Synnefo's set (spec §2.3), Nova's `min_count`/`max_count`, and the Nova attributes clients
/// send with their defaults, accepted only where they ask for what this cloud does anyway.
pub(super) fn check(server: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    const USED: &[&str] = &[
        "name",
        "imageRef",
        "flavorRef",
        "metadata",
        "tags",
        "personality",
        "networks",
        "project",
        "shared_to_project",
        "key_name",
        "SNF:key_names",
        "adminPass",
        "user_data",
        "block_device_mapping_v2",
        "min_count",
        "max_count",
        "accessIPv4",
        "accessIPv6",
    ];
    for (key, value) in server {
        if USED.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        let fine = match key.as_str() {
            // The one security group there is.
            "security_groups" => value.as_array().is_some_and(|groups| {
                groups
                    .iter()
                    .all(|g| g.get("name").and_then(Value::as_str) == Some("default"))
            }),
            // snf-image always grows the root file system: AUTO is what happens.
            "OS-DCF:diskConfig" => value == "AUTO",
            "config_drive" => value == false || value == "",
            "return_reservation_id" => value.is_boolean(),
            _ => false,
        };
        if !fine {
            return Err(ApiError::bad_request(match key.as_str() {
                "security_groups" => {
                    "Unknown security group: the only security group is 'default'".to_string()
                }
                "config_drive" => {
                    "Config drives are not supported: user data reaches the server through its one-time configuration URL".to_string()
                }
                _ => format!("Unsupported server attribute '{key}'"),
            }));
        }
    }
    Ok(())
}
