//! `block_device_mapping_v2` of `POST /servers` (spec §2.3, checklist B20, Synnefo's
//! `parse_block_device_mapping`): the root device must be the image (`imageRef`), further
//! devices become new volumes (blank, or a clone of an image on clone-capable templates) or
//! existing volumes (`volume`: AVAILABLE, detachable, attached once the instance exists).
//! Booting from an existing volume is not possible (the root volume is made from the image),
//! and snapshots are not enabled: both answer a 400 that says so.

use serde_json::Value;

use super::ApiError;
use crate::service::volumes::RequestedVolume;

const ALLOWED: &str = "image, volume, blank";

fn invalid(what: &str) -> ApiError {
    ApiError::bad_request(format!("Block Device Mapping is Invalid: {what}"))
}

/// The root volume's size, if given, and the other volumes, in order.
pub(super) fn parse(
    bdm: &Value,
    image_ref: &str,
) -> Result<(Option<u64>, Vec<RequestedVolume>), ApiError> {
    let list = bdm
        .as_array()
        .ok_or_else(|| ApiError::bad_request("Block Device Mapping is Invalid"))?;
    let mut devices = Vec::new();
    for device in list {
        let obj = device
            .as_object()
            .ok_or_else(|| ApiError::bad_request("Block Device Mapping is Invalid"))?;
        let source_type = match obj.get("source_type") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(invalid("Invalid source_type field")),
        };
        if !["image", "volume", "blank"].contains(&source_type.as_str()) {
            return Err(invalid(&format!("source_type must be on of {ALLOWED}")));
        }
        let uuid = match obj.get("uuid") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("Invalid uuid field")),
        };
        if uuid.is_none() && source_type != "blank" {
            return Err(invalid(&format!("uuid of {source_type} is missing")));
        }
        let size_gb = match obj.get("volume_size") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => {
                Some(n.as_u64().ok_or_else(|| invalid("Invalid size field"))?)
            }
            Some(Value::String(s)) => Some(s.parse().map_err(|_| invalid("Invalid size field"))?),
            Some(_) => return Err(invalid("Invalid size field")),
        };
        // Nova keeps an existing volume when its server goes unless told otherwise; here every
        // volume goes with its server (Synnefo), so that must be asked for (checked below).
        let confirmed = obj.get("delete_on_termination") == Some(&Value::Bool(true));
        match obj.get("delete_on_termination") {
            None | Some(Value::Null) | Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => {
                return Err(ApiError::bad_request(
                    "Volumes with 'delete_on_termination' set to false are not supported: every volume of a server is deleted with it",
                ));
            }
            Some(_) => return Err(invalid("Invalid delete_on_termination field")),
        }
        devices.push((
            RequestedVolume {
                source_type,
                uuid,
                size_gb,
            },
            confirmed,
        ));
    }
    let mut devices = devices.into_iter();
    let Some((root, _)) = devices.next() else {
        return Ok((None, Vec::new()));
    };
    match root.source_type.as_str() {
        "blank" => return Err(ApiError::bad_request("Root volume cannot be blank")),
        "volume" => {
            return Err(ApiError::bad_request(
                "Booting from an existing volume is not supported: the root volume is made from imageRef",
            ));
        }
        _ => {}
    }
    if root.uuid.as_deref() != Some(image_ref) {
        return Err(ApiError::bad_request(
            "The specified server's image is different from the the source of the first volume.",
        ));
    }
    let mut rest = Vec::new();
    for (v, confirmed) in devices {
        if v.source_type == "volume" && !confirmed {
            return Err(ApiError::bad_request(format!(
                "Volume {} would be deleted with the server (every volume of a server is): set 'delete_on_termination' to true to attach it at creation",
                v.uuid.as_deref().unwrap_or_default()
            )));
        }
        rest.push(v);
    }
    if let Some(v) = rest
        .iter()
        .find(|v| v.size_gb.is_none() && v.source_type != "volume")
    {
        return Err(invalid(&format!(
            "volume_size of a {} volume is missing",
            v.source_type
        )));
    }
    Ok((root.size_gb, rest))
}
