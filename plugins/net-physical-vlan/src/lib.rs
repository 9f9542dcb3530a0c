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
        if request.link.is_some() {
            return Err(PluginError::invalid(
                "PHYSICAL_VLAN networks take their bridge from the pool; the link cannot be overridden",
            ));
        }
        let link = request.pool_bridge.ok_or_else(|| {
            PluginError::internal("the host did not allocate a bridge from the pool")
        })?;
        let mode = request.mode.unwrap_or_else(|| "bridged".into());
        if mode != "bridged" {
            return Err(PluginError::invalid(format!(
                "PHYSICAL_VLAN networks are bridged; mode '{mode}' is not allowed"
            )));
        }
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

    fn request(id: u64) -> NetworkRequest {
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

    #[test]
    fn backend_prefix_appends_the_backend_index() {
        assert_eq!(
            Flavor::backend_mac_prefix("aa:00:1".into(), 2)
                .ok()
                .as_deref(),
            Some("aa:00:12")
        );
        assert!(Flavor::backend_mac_prefix("aa:00:1".into(), 16).is_err());
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
