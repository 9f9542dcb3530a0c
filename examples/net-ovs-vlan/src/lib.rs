//! `OVS_VLAN`: one Open vSwitch VLAN per network.
//!
//! Networks are `openvswitch` mode on the switch named by the `switch` setting (default
//! `ovs0`); the link is `<switch>.<vlan>` with `vlan = vlan_base + network id` (`vlan_base`
//! setting, default 100), refused above VLAN 4094. Tagged `ovs-vlan`.

use cyclades_plugin_sdk::network_flavor::*;

struct OvsVlan;

fn setting_u64(key: &str, default: u64) -> Result<u64, PluginError> {
    match config_get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            PluginError::internal(format!("setting {key} must be a number, not '{v}'"))
        }),
    }
}

impl NetworkFlavor for OvsVlan {
    fn describe() -> Description {
        Description::new(
            "OVS_VLAN",
            PluginKind::NetworkFlavor,
            env!("CARGO_PKG_VERSION"),
        )
    }

    fn pools() -> PoolNeeds {
        PoolNeeds {
            bridge: false,
            mac_prefix: false,
        }
    }

    fn render(request: NetworkRequest) -> Result<NetworkParams, PluginError> {
        let switch = config_get("switch").unwrap_or_else(|| "ovs0".into());
        let vlan = setting_u64("vlan_base", 100)? + request.network_id;
        if vlan > 4094 {
            return Err(PluginError::invalid(format!(
                "network {} maps to VLAN {vlan}, above 4094",
                request.network_id
            )));
        }
        let mac_prefix = request
            .mac_prefix
            .unwrap_or_else(|| DEFAULT_MAC_PREFIX.into());
        validate_mac_prefix(&mac_prefix)?;
        Ok(NetworkParams {
            mode: "openvswitch".into(),
            link: format!("{switch}.{vlan}"),
            mac_prefix,
            tags: request.tags.unwrap_or_else(|| vec!["ovs-vlan".into()]),
        })
    }

    fn backend_mac_prefix(prefix: String, index: u32) -> Result<String, PluginError> {
        per_backend_mac_prefix(&prefix, index)
    }
}

cyclades_plugin_sdk::export_network_flavor!(OvsVlan);

#[cfg(test)]
mod tests {
    use super::*;
    use cyclades_plugin_sdk::network_flavor::conformance::{check, request};

    #[test]
    fn conforms() {
        check::<OvsVlan>();
    }

    #[test]
    fn vlan_per_network() {
        let p = OvsVlan::render(request(7)).expect("ok");
        assert_eq!(
            (p.mode.as_str(), p.link.as_str()),
            ("openvswitch", "ovs0.107")
        );
        assert!(OvsVlan::render(request(4000)).is_err());
    }
}
