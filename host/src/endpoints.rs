//! The services this cloud publishes: name, type, path and version of each. A leaf module
//! (no imports from the crate), shared by the API's service catalogs and the CLI's
//! `service-export-cyclades`.

/// One published service.
pub struct Endpoint {
    /// Synnefo's service name (`cyclades_compute`, ...).
    pub name: &'static str,
    /// The catalog type (`compute`, `network`, ...).
    pub kind: &'static str,
    /// Path under the public URL, without a trailing slash: Synnefo's endpoint, in the
    /// Astakos v2.0 catalog kamaki reads.
    pub path: &'static str,
    /// The same service with OpenStack's behaviour, in the Keystone v3 catalog the `openstack`
    /// CLI and openstacksdk read (`api/behaviour.rs` routes it).
    pub openstack_path: &'static str,
    pub version_id: &'static str,
}

/// The Cyclades services (Synnefo `api/services.py` names).
pub const SERVICES: &[Endpoint] = &[
    Endpoint {
        name: "cyclades_compute",
        kind: "compute",
        path: "/compute/v2.0",
        openstack_path: "/compute/v2.1",
        version_id: "v2.0",
    },
    Endpoint {
        name: "cyclades_network",
        kind: "network",
        path: "/network/v2.0",
        openstack_path: "/networking",
        version_id: "v2.0",
    },
    Endpoint {
        name: "cyclades_plankton",
        kind: "image",
        path: "/image/v1.0",
        openstack_path: "/image/v2",
        version_id: "v1.0",
    },
    Endpoint {
        name: "cyclades_volume",
        kind: "volume",
        path: "/volume/v2.0",
        openstack_path: "/volume/v3",
        version_id: "v2.0",
    },
    Endpoint {
        name: "cyclades_vmapi",
        kind: "vmapi",
        path: "/vmapi/v1.0",
        openstack_path: "/vmapi/v1.0",
        version_id: "v1.0",
    },
    Endpoint {
        name: "cyclades_admin",
        kind: "admin",
        path: "/admin/v1",
        openstack_path: "/admin/v1",
        version_id: "v1",
    },
];

/// Keystone v3 identity, as published in v3 catalogs.
pub const IDENTITY_V3: Endpoint = Endpoint {
    name: "keystone",
    kind: "identity",
    path: "/identity/v3",
    openstack_path: "/identity/v3",
    version_id: "v3",
};

/// The Astakos entries of v2.0 catalogs that kamaki requires.
pub const ASTAKOS: &[Endpoint] = &[
    Endpoint {
        name: "astakos_account",
        kind: "account",
        path: "/account/v1.0",
        openstack_path: "/account/v1.0",
        version_id: "v1.0",
    },
    Endpoint {
        name: "astakos_identity",
        kind: "identity",
        path: "/identity/v2.0",
        openstack_path: "/identity/v2.0",
        version_id: "v2.0",
    },
];
