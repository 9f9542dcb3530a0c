//! Network flavors decide how a network is isolated on Ganeti: its mode, link (bridge or
//! routing table), MAC prefix and tags.
//!
//! Implement [`NetworkFlavor`] and export it with
//! [`export_network_flavor!`](crate::export_network_flavor). Flavors that need a value from one
//! of the host's pools (a bridge per network, or a MAC prefix per network) say so in `pools`;
//! the host allocates the value and passes it to `render`.
//!
//! ```ignore
//! use cyclades_plugin_sdk::network_flavor::*;
//!
//! /// One Open vSwitch VLAN per network, on the switch `ovs0`.
//! struct OvsVlan;
//!
//! impl NetworkFlavor for OvsVlan {
//!     fn describe() -> Description {
//!         Description::new("OVS_VLAN", PluginKind::NetworkFlavor, env!("CARGO_PKG_VERSION"))
//!     }
//!     fn pools() -> PoolNeeds {
//!         PoolNeeds { bridge: false, mac_prefix: false }
//!     }
//!     fn render(request: NetworkRequest) -> Result<NetworkParams, PluginError> {
//!         Ok(NetworkParams {
//!             mode: "openvswitch".into(),
//!             link: format!("ovs0.{}", 100 + request.network_id),
//!             mac_prefix: DEFAULT_MAC_PREFIX.into(),
//!             tags: vec!["ovs-vlan".into()],
//!         })
//!     }
//!     fn backend_mac_prefix(prefix: String, index: u32) -> Result<String, PluginError> {
//!         per_backend_mac_prefix(&prefix, index)
//!     }
//! }
//!
//! cyclades_plugin_sdk::export_network_flavor!(OvsVlan);
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "network-flavor",
        path: "../wit/cyclades-plugin@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_network_flavor_world",
        default_bindings_module: "cyclades_plugin_sdk::network_flavor::bindings",
        runtime_path: "cyclades_plugin_sdk::__wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

pub use bindings::cyclades::plugin::types::{Description, PluginError, PluginKind};
pub use bindings::exports::cyclades::plugin::network_flavor_api::{
    Guest as NetworkFlavor, NetworkParams, NetworkRequest, PoolNeeds,
};

pub use crate::{Level, config_get, log};

crate::common::common_impls!();

/// Exports a type implementing [`NetworkFlavor`] as the plugin's network flavor.
#[macro_export]
macro_rules! export_network_flavor {
    ($ty:ident) => {
        $crate::network_flavor::bindings::__export_network_flavor_world!($ty with_types_in $crate::network_flavor::bindings);
    };
}

/// Synnefo's `DEFAULT_MAC_PREFIX`.
pub const DEFAULT_MAC_PREFIX: &str = "aa:00:0";
/// Synnefo's `DEFAULT_BRIDGE`.
pub const DEFAULT_BRIDGE: &str = "br0";
/// Synnefo's `DEFAULT_MAC_FILTERED_BRIDGE`.
pub const DEFAULT_MAC_FILTERED_BRIDGE: &str = "prv0";

/// Checks that `prefix` can start a unicast MAC address: colon-separated groups of two hex
/// digits, the last of which may have one, at most five groups, and an even first octet.
pub fn validate_mac_prefix(prefix: &str) -> Result<(), PluginError> {
    let bad = |why: &str| {
        Err(PluginError::invalid(format!(
            "invalid MAC prefix '{prefix}': {why}"
        )))
    };
    let groups: Vec<&str> = prefix.split(':').collect();
    if prefix.is_empty() || groups.len() > 5 {
        return bad("expected 1 to 5 colon-separated hex groups, like aa:00:0");
    }
    for (i, g) in groups.iter().enumerate() {
        let last = i + 1 == groups.len();
        let ok_len = g.len() == 2 || (last && g.len() == 1);
        if !ok_len || !g.chars().all(|c| c.is_ascii_hexdigit()) {
            return bad("expected 1 to 5 colon-separated hex groups, like aa:00:0");
        }
    }
    let first = u8::from_str_radix(&groups[0][..1], 16).unwrap_or(0);
    if groups[0].len() == 2 {
        let octet = u8::from_str_radix(groups[0], 16).unwrap_or(1);
        if octet & 1 == 1 {
            return bad("the first octet must be unicast (even)");
        }
    } else if first > 0xf {
        return bad("bad first group");
    }
    Ok(())
}

/// Spec §15.2: the network's prefix on a backend is its prefix plus one hex digit, the
/// backend's index in its group of 16 (the host passes `index % 16` and, for backends past
/// the 16th, a prefix of the backend's group taken from the MAC-prefix pool).
pub fn per_backend_mac_prefix(prefix: &str, backend_index: u32) -> Result<String, PluginError> {
    validate_mac_prefix(prefix)?;
    if backend_index > 15 {
        return Err(PluginError::invalid(format!(
            "backend index {backend_index} does not fit one hex digit (0-15)"
        )));
    }
    let candidate = format!("{prefix}{backend_index:x}");
    // "aa:00:0" + "2" = "aa:00:02"; a prefix ending in a full group gets a new group.
    let candidate = if prefix.rsplit(':').next().is_some_and(|g| g.len() == 2) {
        format!("{prefix}:{backend_index:x}")
    } else {
        candidate
    };
    validate_mac_prefix(&candidate)?;
    Ok(candidate)
}

/// The mode of a flavor that allows only one: `only` when unset, an `invalid-input` error when
/// the operator asked for another.
pub fn fixed_mode(mode: Option<String>, only: &str, flavor: &str) -> Result<String, PluginError> {
    match mode {
        None => Ok(only.to_string()),
        Some(m) if m == only => Ok(m),
        Some(m) => Err(PluginError::invalid(format!(
            "{flavor} networks are {only}; mode '{m}' is not allowed"
        ))),
    }
}

/// A value the host hands out from one of its pools: an operator override of it is
/// `invalid-input`, a missing value is the host's fault (`internal`).
pub fn from_pool(
    pooled: Option<String>,
    overridden: bool,
    what: &str,
    flavor: &str,
) -> Result<String, PluginError> {
    if overridden {
        return Err(PluginError::invalid(format!(
            "{flavor} networks take their {what} from the pool; it cannot be overridden"
        )));
    }
    pooled.ok_or_else(|| {
        PluginError::internal(format!("the host did not allocate a {what} from the pool"))
    })
}

/// Conformance checks every network flavor should pass, for its native unit tests.
pub mod conformance {
    use super::*;

    /// A request for network `id` with nothing overridden and nothing from the pools.
    pub fn request(id: u64) -> NetworkRequest {
        NetworkRequest {
            network_id: id,
            mode: None,
            link: None,
            mac_prefix: None,
            tags: None,
            pool_bridge: None,
            pool_mac_prefix: None,
        }
    }

    /// Checks the per-backend MAC prefix rule (spec §15.2) and the declared kind.
    pub fn check<T: NetworkFlavor>() {
        assert_eq!(
            T::backend_mac_prefix("aa:00:1".into(), 2).ok().as_deref(),
            Some("aa:00:12")
        );
        assert!(T::backend_mac_prefix("aa:00:1".into(), 16).is_err());
        assert_eq!(T::describe().kind, PluginKind::NetworkFlavor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_prefixes_are_validated() {
        assert!(validate_mac_prefix("aa:00:0").is_ok());
        assert!(validate_mac_prefix("aa:00:12").is_ok());
        assert!(validate_mac_prefix("ab:00:0").is_err(), "multicast");
        assert!(validate_mac_prefix("aa:0g").is_err());
        assert!(validate_mac_prefix("aa:00:00:00:00:00").is_err());
        assert!(validate_mac_prefix("").is_err());
    }

    #[test]
    fn modes_and_pools() {
        assert_eq!(
            fixed_mode(None, "routed", "X").ok().as_deref(),
            Some("routed")
        );
        assert!(fixed_mode(Some("bridged".into()), "routed", "X").is_err());
        assert!(matches!(
            from_pool(None, false, "bridge", "X"),
            Err(PluginError::Internal(_))
        ));
        assert!(matches!(
            from_pool(Some("prv1".into()), true, "bridge", "X"),
            Err(PluginError::InvalidInput(_))
        ));
        assert_eq!(
            from_pool(Some("prv1".into()), false, "bridge", "X")
                .ok()
                .as_deref(),
            Some("prv1")
        );
    }

    #[test]
    fn backend_index_adds_one_hex_digit() {
        assert_eq!(
            per_backend_mac_prefix("aa:00:1", 2).ok().as_deref(),
            Some("aa:00:12")
        );
        assert_eq!(
            per_backend_mac_prefix("aa:00:0", 15).ok().as_deref(),
            Some("aa:00:0f")
        );
        assert_eq!(
            per_backend_mac_prefix("aa:00", 3).ok().as_deref(),
            Some("aa:00:3")
        );
        assert!(per_backend_mac_prefix("aa:00:1", 16).is_err());
    }
}
