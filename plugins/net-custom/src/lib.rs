//! `CUSTOM` (spec §15.1): a bridged network on an operator-chosen bridge (default `br0`, or this
//! plugin's `default_bridge` setting) with the default MAC prefix (`aa:00:0`, or
//! `default_mac_prefix`) and no tags; the typical public network. Operators may override mode,
//! link, MAC prefix and tags.

use cyclades_plugin_sdk::network_flavor::*;

struct Flavor;

const MODES: &[&str] = &["bridged", "routed", "openvswitch"];

impl NetworkFlavor for Flavor {
    fn describe() -> Description {
        Description::new(
            "CUSTOM",
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
        let mode = request.mode.unwrap_or_else(|| "bridged".into());
        if !MODES.contains(&mode.as_str()) {
            return Err(PluginError::invalid(format!(
                "unknown network mode '{mode}': use bridged, routed or openvswitch"
            )));
        }
        let link = request
            .link
            .or_else(|| config_get("default_bridge"))
            .unwrap_or_else(|| DEFAULT_BRIDGE.into());
        let mac_prefix = request
            .mac_prefix
            .or_else(|| config_get("default_mac_prefix"))
            .unwrap_or_else(|| DEFAULT_MAC_PREFIX.into());
        validate_mac_prefix(&mac_prefix)?;
        Ok(NetworkParams {
            mode,
            link,
            mac_prefix,
            tags: request.tags.unwrap_or_default(),
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
    fn defaults_and_overrides() {
        let p = Flavor::render(request(1)).expect("ok");
        assert_eq!(
            (p.mode.as_str(), p.link.as_str(), p.mac_prefix.as_str()),
            ("bridged", "br0", "aa:00:0")
        );
        assert!(p.tags.is_empty());
        let over = NetworkRequest {
            mode: Some("routed".into()),
            link: Some("snf_public".into()),
            tags: Some(vec!["public".into()]),
            ..request(1)
        };
        let p = Flavor::render(over).expect("ok");
        assert_eq!((p.mode.as_str(), p.link.as_str()), ("routed", "snf_public"));
        assert_eq!(p.tags, vec!["public".to_string()]);
        assert!(
            Flavor::render(NetworkRequest {
                mode: Some("tunnel".into()),
                ..request(1)
            })
            .is_err()
        );
        assert!(
            Flavor::render(NetworkRequest {
                mac_prefix: Some("zz".into()),
                ..request(1)
            })
            .is_err()
        );
    }
}
