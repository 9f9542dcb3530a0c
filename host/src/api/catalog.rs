//! The service catalog: which services this server publishes and where, rendered in Keystone
//! v3 form (`token.catalog`) and in Astakos/Keystone v2.0 form (`access.serviceCatalog`).
//!
//! URLs are built from the configured public URL, so a server behind a proxy publishes the
//! addresses clients can reach.

use serde_json::{Value, json};

use crate::endpoints::{ASTAKOS, IDENTITY_V3, SERVICES};

/// Keystone v3 catalog: every service, plus identity v3, each with one public endpoint, at
/// its OpenStack-behaviour path.
pub fn v3(public_url: &str, region: &str) -> Value {
    let entries: Vec<Value> = SERVICES
        .iter()
        .chain(std::iter::once(&IDENTITY_V3))
        .map(|s| {
            json!({
                "id": s.name,
                "name": s.name,
                "type": s.kind,
                "endpoints": [{
                    "id": format!("{}-public", s.name),
                    "interface": "public",
                    "region": region,
                    "region_id": region,
                    "url": format!("{public_url}{}", s.openstack_path),
                }],
            })
        })
        .collect();
    Value::Array(entries)
}

/// Astakos/Keystone v2.0 catalog, with the `astakos_account` and `astakos_identity` entries
/// kamaki requires.
pub fn v2(public_url: &str, region: &str) -> Value {
    let entries: Vec<Value> = SERVICES
        .iter()
        .chain(ASTAKOS.iter())
        .map(|s| {
            json!({
                "name": s.name,
                "type": s.kind,
                "endpoints": [{
                    "versionId": s.version_id,
                    "publicURL": format!("{public_url}{}", s.path),
                    "region": region,
                    "SNF:uiURL": format!("{public_url}/ui"),
                }],
                "endpoints_links": [],
            })
        })
        .collect();
    Value::Array(entries)
}
