//! Request-body helpers every API file shares: the `{"<key>": {...}}` object with its allowed
//! attributes, optional strings and booleans, string maps (metadata), and the "Malformed
//! request" fault. Each returns a 400 `ApiError` naming the field; none knows a resource.

use std::collections::BTreeMap;

use serde_json::Value;

use super::ApiError;

/// A 400 "Malformed request: <what>".
pub(super) fn malformed(what: &str) -> ApiError {
    ApiError::bad_request(format!("Malformed request: {what}"))
}

/// The `{"<key>": {...}}` object of a request body, whose attributes must all be among
/// `used` (what the handler reads): any other is refused with a 400 naming it rather than
/// dropped. Null values, and the Neutron attributes clients send with the value this cloud
/// has anyway (`admin_state_up: true`, `shared: false`, `port_security_enabled: true`,
/// `multiattach: false`, a keypair's `type: ssh`), are accepted.
pub(super) fn body_object<'a>(
    body: &'a Value,
    key: &str,
    used: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, ApiError> {
    let obj = body.get(key).and_then(Value::as_object).ok_or_else(|| {
        ApiError::bad_request(format!("Malformed request: missing '{key}' object"))
    })?;
    for (attribute, value) in obj {
        let as_here = match attribute.as_str() {
            "admin_state_up" | "port_security_enabled" => value == true,
            "shared" | "multiattach" => value == false,
            // Nova's keypair type: SSH keys are the only kind.
            "type" => key == "keypair" && value == "ssh",
            _ => false,
        };
        if !(value.is_null() || as_here || used.contains(&attribute.as_str())) {
            return Err(ApiError::bad_request(format!(
                "Unsupported {key} attribute '{attribute}'"
            )));
        }
    }
    Ok(obj)
}

/// An optional string field (400 if present and not a string).
pub(super) fn opt_str(
    obj: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::bad_request(format!(
            "Malformed request: '{key}' must be a string"
        ))),
    }
}

/// An optional boolean field (400 if present and not a boolean).
pub(super) fn opt_bool(
    obj: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::bad_request(format!(
            "Malformed request: '{key}' must be a boolean"
        ))),
    }
}

/// How a string map (metadata) takes what is not a string.
#[derive(Clone, Copy)]
pub(super) enum MapRules {
    /// Nova's (compute): numbers are taken as their text; a null map is malformed.
    Compute,
    /// Cinder's (volumes): values must be strings; a null map is an empty one.
    Volume,
}

/// The string map under `what` (absent: empty), or a 400 naming the bad key.
pub(super) fn string_map(
    v: Option<&Value>,
    what: &str,
    rules: MapRules,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    let v = match (v, rules) {
        (None, _) | (Some(Value::Null), MapRules::Volume) => return Ok(out),
        (Some(v), _) => v,
    };
    let obj = v
        .as_object()
        .ok_or_else(|| malformed(&format!("'{what}' must be an object")))?;
    for (k, v) in obj {
        let text = match (v, rules) {
            (Value::String(s), _) => s.clone(),
            (Value::Number(n), MapRules::Compute) => n.to_string(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid {what} value for key '{k}': use a string"
                )));
            }
        };
        out.insert(k.clone(), text);
    }
    Ok(out)
}
