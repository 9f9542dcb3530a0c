//! Which behaviour a request gets, decided by the endpoint it came through: Synnefo's
//! endpoints (the Astakos v2.0 catalog, what kamaki reads) or OpenStack's (the Keystone v3
//! catalog, what the `openstack` CLI and openstacksdk read), over the same handlers, services
//! and data. `api.compat` can force one behaviour everywhere.
//!
//! Owns the OpenStack path prefixes, the rewrite of each onto the route that serves it, and
//! the link prefixes each behaviour publishes. Must not know any handler or resource: the
//! handlers read `AppState::compat` and build links with `AppState::compute_url` and siblings.

use crate::config::Compat;

/// Where one behaviour's services live under the public URL (without a trailing slash), so
/// that every link a document carries leads back through the endpoint the client used.
#[derive(Debug)]
pub struct Prefixes {
    pub compute: &'static str,
    /// The versioned network API.
    pub network: &'static str,
    pub volume: &'static str,
    /// The compute API version id of `GET <compute>` (Nova's `v2.1`, Synnefo's `v2.0`).
    pub compute_version: &'static str,
    /// The behaviour these endpoints have unless `api.compat` forces another.
    pub native: Compat,
}

/// Synnefo's endpoints: the routes as the handlers register them.
pub const SYNNEFO: Prefixes = Prefixes {
    compute: "/compute/v2.0",
    network: "/network/v2.0",
    volume: "/volume/v2.0",
    compute_version: "v2.0",
    native: Compat::Synnefo,
};

/// OpenStack's endpoints. Neutron's root is unversioned (clients append `v2.0/`), and since
/// `/network` is Synnefo's it gets a prefix of its own.
pub const OPENSTACK: Prefixes = Prefixes {
    compute: "/compute/v2.1",
    network: "/networking/v2.0",
    volume: "/volume/v3",
    compute_version: "v2.1",
    native: Compat::Openstack,
};

/// Each OpenStack prefix and the route prefix that serves it, most specific first.
const OPENSTACK_ROUTES: &[(&str, &str)] = &[
    ("/compute/v2.1", "/compute/v2.0"),
    ("/networking/v2.0", "/network/v2.0"),
    ("/networking", "/network"),
    ("/volume/v3", "/volume/v2.0"),
    ("/image/v2", "/image/v2"),
];

/// For a path under an OpenStack endpoint, the path of the route that serves it; `None` for
/// every other path (served with Synnefo's behaviour unless `api.compat` forces one).
pub fn openstack_route(path: &str) -> Option<String> {
    OPENSTACK_ROUTES.iter().find_map(|(from, to)| {
        let rest = path.strip_prefix(from)?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{to}{rest}"))
    })
}

/// The behaviour of an endpoint family, unless `forced`.
pub fn behaviour(prefixes: &Prefixes, forced: Option<Compat>) -> Compat {
    forced.unwrap_or(prefixes.native)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openstack_prefixes_map_onto_the_routes_and_nothing_else_does() {
        assert_eq!(
            openstack_route("/compute/v2.1/servers/7").as_deref(),
            Some("/compute/v2.0/servers/7")
        );
        assert_eq!(
            openstack_route("/compute/v2.1").as_deref(),
            Some("/compute/v2.0")
        );
        assert_eq!(
            openstack_route("/networking/v2.0/ports").as_deref(),
            Some("/network/v2.0/ports")
        );
        assert_eq!(
            openstack_route("/networking/").as_deref(),
            Some("/network/")
        );
        assert_eq!(
            openstack_route("/volume/v3/volumes").as_deref(),
            Some("/volume/v2.0/volumes")
        );
        assert_eq!(openstack_route("/compute/v2.0/servers"), None);
        assert_eq!(openstack_route("/compute/v2.10"), None);
        assert_eq!(openstack_route("/networkingx"), None);
        assert_eq!(openstack_route("/network/v2.0/ports"), None);
        assert_eq!(behaviour(&OPENSTACK, None), Compat::Openstack);
        assert_eq!(behaviour(&SYNNEFO, None), Compat::Synnefo);
        assert_eq!(
            behaviour(&OPENSTACK, Some(Compat::Synnefo)),
            Compat::Synnefo
        );
    }
}
