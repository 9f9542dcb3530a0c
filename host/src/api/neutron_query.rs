//! Neutron's list query parameters, shared by networks, subnets, ports and floating IPs:
//! filters (`?device_id=5`, `?name=a&name=b`, `?fixed_ips=ip_address=10.0.0.3`) and the
//! `fields=` projection (on lists and on single resources). Works on rendered documents only;
//! owns no resource.

use std::collections::BTreeMap;

use serde_json::Value;

/// Parameters that are not filters.
const NOT_FILTERS: [&str; 7] = [
    "changes-since",
    "fields",
    "limit",
    "marker",
    "page_reverse",
    "sort_key",
    "sort_dir",
];

/// Neutron's list filters: every query parameter but paging, sorting, `fields` and
/// `changes-since` names a field that must equal one of its values. `fixed_ips` takes
/// `ip_address=A` or `subnet_id=S` and keeps documents with such a fixed IP. Filters on fields
/// the documents lack or hold as other lists/objects are ignored, as older Neutron does.
/// Booleans match case-insensitively (`?admin_state_up=True`).
pub(super) fn neutron_filter(docs: Vec<Value>, pairs: &[(String, String)]) -> Vec<Value> {
    let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        if !NOT_FILTERS.contains(&k.as_str()) {
            wanted.entry(k.as_str()).or_default().push(v.as_str());
        }
    }
    docs.into_iter()
        .filter(|doc| {
            wanted
                .iter()
                .all(|(key, values)| values.iter().any(|v| matches(doc, key, v)))
        })
        .collect()
}

fn matches(doc: &Value, key: &str, wanted: &str) -> bool {
    match doc.get(key) {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Number(n)) => n.to_string() == wanted,
        Some(Value::Bool(b)) => b.to_string().eq_ignore_ascii_case(wanted),
        Some(Value::Null) => wanted.is_empty(),
        Some(Value::Array(ips)) if key == "fixed_ips" => {
            let Some((field, value)) = wanted.split_once('=') else {
                return false;
            };
            ips.iter().any(|ip| ip[field].as_str() == Some(value))
        }
        _ => true,
    }
}

/// The `fields=` projection of a list: only the named fields of each document (all of
/// them when none is named).
pub(super) fn fields(docs: Vec<Value>, pairs: &[(String, String)]) -> Vec<Value> {
    docs.into_iter().map(|d| field_subset(d, pairs)).collect()
}

/// The `fields=` projection of one document.
pub(super) fn field_subset(doc: Value, pairs: &[(String, String)]) -> Value {
    let named: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "fields")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    match doc {
        Value::Object(map) if !named.is_empty() => Value::Object(
            map.into_iter()
                .filter(|(k, _)| named.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_and_fields_follow_neutron() {
        let docs = vec![
            json!({"id": "1", "admin_state_up": true, "fixed_ips": [{"ip_address": "10.0.0.3", "subnet_id": "7"}]}),
            json!({"id": "2", "admin_state_up": false, "fixed_ips": [{"ip_address": "10.0.0.4", "subnet_id": "7"}]}),
        ];
        let ids =
            |docs: Vec<Value>| -> Vec<Value> { docs.iter().map(|d| d["id"].clone()).collect() };
        let by_ip = neutron_filter(docs.clone(), &q(&[("fixed_ips", "ip_address=10.0.0.4")]));
        assert_eq!(ids(by_ip), [json!("2")]);
        let by_subnet = neutron_filter(docs.clone(), &q(&[("fixed_ips", "subnet_id=7")]));
        assert_eq!(ids(by_subnet).len(), 2);
        let up = neutron_filter(docs.clone(), &q(&[("admin_state_up", "True")]));
        assert_eq!(ids(up), [json!("1")]);
        let some = fields(docs, &q(&[("fields", "id"), ("fields", "admin_state_up")]));
        assert_eq!(some[0], json!({"id": "1", "admin_state_up": true}));
    }
}
