//! `PHYSICAL_VLAN` (spec §15.1): each network gets its own bridge, one VLAN, handed out by the
//! host's bridge pool (it cannot be overridden). Bridged, default MAC prefix, tagged
//! `physical-vlan`.

use cyclades_plugin_sdk::network_flavor::*;

struct Flavor;

impl NetworkFlavor for Flavor {
    fn describe() -> Description {
        Description::new(
            "PHYSICAL_VLAN",
            PluginKind::NetworkFlavor,
            env!("CARGO_PKG_VERSION"),
        )
        .with_capabilities(&["pool:bridge"])
    }

    fn pools() -> PoolNeeds {
        PoolNeeds {
            bridge: true,
            mac_prefix: false,
        }
    }

    fn render(request: NetworkRequest) -> Result<NetworkParams, PluginError> {
        let link = from_pool(
            request.pool_bridge,
            request.link.is_some(),
            "bridge",
            "PHYSICAL_VLAN",
        )?;
        let mode = fixed_mode(request.mode, "bridged", "PHYSICAL_VLAN")?;
        let mac_prefix = request
            .mac_prefix
            .unwrap_or_else(|| DEFAULT_MAC_PREFIX.into());
        validate_mac_prefix(&mac_prefix)?;
        let tags = request.tags.unwrap_or_else(|| vec!["physical-vlan".into()]);
        Ok(NetworkParams {
            mode,
            link,
            mac_prefix,
            tags,
        })
    }

    fn backend_mac_prefix(prefix: String, index: u32) -> Result<String, PluginError> {
        per_backend_mac_prefix(&prefix, index)
    }
}

cyclades_plugin_sdk::export_network_flavor!(Flavor);

#[cfg(test)]
mod tests {
    use super::*;
    use cyclades_plugin_sdk::network_flavor::conformance::{check, request};

    #[test]
    fn conforms() {
        check::<Flavor>();
    }

    #[test]
    fn bridge_from_the_pool() {
        assert!(Flavor::pools().bridge);
        let p = Flavor::render(NetworkRequest {
            pool_bridge: Some("prv4".into()),
            ..request(3)
        })
        .expect("ok");
        assert_eq!(
            (p.mode.as_str(), p.link.as_str(), p.mac_prefix.as_str()),
            ("bridged", "prv4", "aa:00:0")
        );
        assert_eq!(p.tags, vec!["physical-vlan".to_string()]);
        let overridden = NetworkRequest {
            pool_bridge: Some("prv4".into()),
            link: Some("br9".into()),
            ..request(3)
        };
        assert!(matches!(
            Flavor::render(overridden),
            Err(PluginError::InvalidInput(_))
        ));
        assert!(matches!(
            Flavor::render(request(3)),
            Err(PluginError::Internal(_))
        ));
    }
}
