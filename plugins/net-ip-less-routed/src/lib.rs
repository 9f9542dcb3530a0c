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
        let mode = fixed_mode(request.mode, "routed", "IP_LESS_ROUTED")?;
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
    use cyclades_plugin_sdk::network_flavor::conformance::{check, request};

    #[test]
    fn conforms() {
        check::<Flavor>();
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
