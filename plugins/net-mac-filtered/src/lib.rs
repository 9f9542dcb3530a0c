//! `MAC_FILTERED` (spec §15.1): private networks share one bridge (`prv0`, or this plugin's
//! `bridge` setting) and are isolated by ebtables rules on a per-network MAC prefix taken from
//! the host's MAC-prefix pool (it cannot be overridden). Tagged `private-filtered`.

use cyclades_plugin_sdk::network_flavor::*;

struct Flavor;

impl NetworkFlavor for Flavor {
    fn describe() -> Description {
        Description::new(
            "MAC_FILTERED",
            PluginKind::NetworkFlavor,
            env!("CARGO_PKG_VERSION"),
        )
        .with_capabilities(&["pool:mac-prefix", "user-creatable"])
    }

    fn pools() -> PoolNeeds {
        PoolNeeds {
            bridge: false,
            mac_prefix: true,
        }
    }

    fn render(request: NetworkRequest) -> Result<NetworkParams, PluginError> {
        let mac_prefix = from_pool(
            request.pool_mac_prefix,
            request.mac_prefix.is_some(),
            "MAC prefix",
            "MAC_FILTERED",
        )?;
        validate_mac_prefix(&mac_prefix)?;
        let mode = fixed_mode(request.mode, "bridged", "MAC_FILTERED")?;
        let link = request
            .link
            .or_else(|| config_get("bridge"))
            .unwrap_or_else(|| DEFAULT_MAC_FILTERED_BRIDGE.into());
        let tags = request
            .tags
            .unwrap_or_else(|| vec!["private-filtered".into()]);
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
    fn prefix_from_the_pool_on_prv0() {
        assert!(Flavor::pools().mac_prefix);
        let p = Flavor::render(NetworkRequest {
            pool_mac_prefix: Some("aa:00:1".into()),
            ..request(3)
        })
        .expect("ok");
        assert_eq!(
            (p.mode.as_str(), p.link.as_str(), p.mac_prefix.as_str()),
            ("bridged", "prv0", "aa:00:1")
        );
        assert_eq!(p.tags, vec!["private-filtered".to_string()]);
        let overridden = NetworkRequest {
            pool_mac_prefix: Some("aa:00:1".into()),
            mac_prefix: Some("aa:00:2".into()),
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
        cyclades_plugin_sdk::testing::set_config("bridge", Some("prv9"));
        let p = Flavor::render(NetworkRequest {
            pool_mac_prefix: Some("aa:00:1".into()),
            ..request(3)
        })
        .expect("ok");
        assert_eq!(p.link, "prv9");
        cyclades_plugin_sdk::testing::set_config("bridge", None);
    }
}
