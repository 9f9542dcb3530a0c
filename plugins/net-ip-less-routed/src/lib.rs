//! `IP_LESS_ROUTED` (spec §15.1): a routed network (proxy ARP), tagged `ip-less-routed`. The
//! link is the routing table the operator passes (e.g. `snf_public`), else `snf-link-<id>`; the
//! host checks that it is unique among live routed networks. Default MAC prefix.

use cyclades_plugin_sdk::network_flavor::*;

struct Flavor;

impl NetworkFlavor for Flavor {
    fn describe() -> Description {
        Description::new(
            "IP_LESS_ROUTED",
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
        let mode = request.mode.unwrap_or_else(|| "routed".into());
        if mode != "routed" {
            return Err(PluginError::invalid(format!(
                "IP_LESS_ROUTED networks are routed; mode '{mode}' is not allowed"
            )));
        }
        let link = request
            .link
            .unwrap_or_else(|| format!("snf-link-{}", request.network_id));
        let mac_prefix = request
            .mac_prefix
            .unwrap_or_else(|| DEFAULT_MAC_PREFIX.into());
        validate_mac_prefix(&mac_prefix)?;
        let tags = request
            .tags
            .unwrap_or_else(|| vec!["ip-less-routed".into()]);
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
    fn routed_with_a_link_per_network() {
        let p = Flavor::render(request(7)).expect("ok");
        assert_eq!((p.mode.as_str(), p.link.as_str()), ("routed", "snf-link-7"));
        assert_eq!(p.tags, vec!["ip-less-routed".to_string()]);
        let p = Flavor::render(NetworkRequest {
            link: Some("snf_public".into()),
            ..request(7)
        })
        .expect("ok");
        assert_eq!(p.link, "snf_public");
        assert!(
            Flavor::render(NetworkRequest {
                mode: Some("bridged".into()),
                ..request(7)
            })
            .is_err()
        );
    }
}
