//! The service catalog: which services this server publishes and where, rendered in Keystone
//! v3 form (`token.catalog`) and in Astakos/Keystone v2.0 form (`access.serviceCatalog`).
//!
//! URLs are built from the configured public URL, so a server behind a proxy publishes the
//! addresses clients can reach.

use serde_json::{Value, json};

/// One published service.
pub struct CatalogService {
    pub name: &'static str,
    pub kind: &'static str,
    /// Path under the public URL, without a trailing slash.
    pub path: &'static str,
    pub version_id: &'static str,
}

/// The services of the catalog (Synnefo `api/services.py` names).
pub const SERVICES: &[CatalogService] = &[
    CatalogService {
        name: "cyclades_compute",
        kind: "compute",
        path: "/compute/v2.0",
        version_id: "v2.0",
    },
    CatalogService {
        name: "cyclades_network",
        kind: "network",
        path: "/network/v2.0",
        version_id: "v2.0",
    },
    CatalogService {
        name: "cyclades_plankton",
        kind: "image",
        path: "/image/v1.0",
        version_id: "v1.0",
    },
    CatalogService {
        name: "cyclades_volume",
        kind: "volume",
        path: "/volume/v2.0",
        version_id: "v2.0",
    },
    CatalogService {
        name: "cyclades_vmapi",
        kind: "vmapi",
        path: "/vmapi/v1.0",
        version_id: "v1.0",
    },
    CatalogService {
        name: "cyclades_admin",
        kind: "admin",
        path: "/admin/v1",
        version_id: "v1",
    },
];

/// Keystone v3 catalog: every service, plus identity v3, each with one public endpoint.
pub fn v3(public_url: &str, region: &str) -> Value {
    let identity = CatalogService {
        name: "keystone",
        kind: "identity",
        path: "/identity/v3",
        version_id: "v3",
    };
    let entries: Vec<Value> = SERVICES
        .iter()
        .chain(std::iter::once(&identity))
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
                    "url": format!("{public_url}{}", s.path),
                }],
            })
        })
        .collect();
    Value::Array(entries)
}

/// Astakos/Keystone v2.0 catalog, with the `astakos_account` and `astakos_identity` entries
/// kamaki requires.
pub fn v2(public_url: &str, region: &str) -> Value {
    let astakos = [
        CatalogService {
            name: "astakos_account",
            kind: "account",
            path: "/account/v1.0",
            version_id: "v1.0",
        },
        CatalogService {
            name: "astakos_identity",
            kind: "identity",
            path: "/identity/v2.0",
            version_id: "v2.0",
        },
    ];
    let entries: Vec<Value> = SERVICES
        .iter()
        .chain(astakos.iter())
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
