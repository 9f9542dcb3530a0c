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
        // Synnefo's (and Nova's) default: an existing volume is kept when its server goes,
        // anything made for the server goes with it.
        let delete_on_termination = match obj.get("delete_on_termination") {
            None | Some(Value::Null) => source_type != "volume",
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(invalid("Invalid delete_on_termination field")),
        };
        devices.push(RequestedVolume {
            source_type,
            uuid,
            size_gb,
            delete_on_termination,
        });
    }
    let mut devices = devices.into_iter();
    let Some(root) = devices.next() else {
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
    if !root.delete_on_termination {
        return Err(ApiError::bad_request(
            "The root volume goes with its server: 'delete_on_termination' of the first device must be true",
        ));
    }
    let rest: Vec<RequestedVolume> = devices.collect();
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
