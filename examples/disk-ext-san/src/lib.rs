//! `ext_san`: volumes on the site's SAN, through a Ganeti ExtStorage provider called `san`.
//!
//! Every disk gets `provider: san` and `pool: <pool>`, where the pool comes from the volume
//! type's `GNT-EXTP:pool` spec, else from this plugin's `default_pool` setting, else `gold`.
//! SAN volumes are shared by all nodes (servers can migrate) and can be detached.

use cyclades_plugin_sdk::disk_template::*;

struct San;

impl DiskTemplate for San {
    fn describe() -> Description {
        Description::new(
            "ext_san",
            PluginKind::DiskTemplate,
            env!("CARGO_PKG_VERSION"),
        )
        .with_capabilities(&["extstorage", "detachable"])
    }

    fn capabilities() -> Capabilities {
        Capabilities {
            provider: Some("san".into()),
            shared: true,
            detachable: true,
            ..Capabilities::basic("ext")
        }
    }

    fn render(volumes: Vec<Volume>) -> Result<Rendered, PluginError> {
        check_volumes(&volumes)?;
        refuse_origins(&volumes, "ext_san")?;
        let default_pool = config_get("default_pool").unwrap_or_else(|| "gold".into());
        let disks = volumes
            .iter()
            .map(|volume| {
                let mut disk = base_disk(volume);
                disk.push(param("provider", text("san")));
                let specs = extstorage_specs(volume);
                if !specs.iter().any(|p| p.key == "pool") {
                    disk.push(param("pool", text(&default_pool)));
                }
                disk.extend(specs);
                disk
            })
            .collect();
        Ok(Rendered::disks(disks))
    }
}

cyclades_plugin_sdk::export_disk_template!(San);

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(specs: &[(&str, &str)]) -> Volume {
        Volume {
            name: "snf-vol-1".into(),
            size_gb: 20,
            origin: None,
            origin_size_mb: None,
            specs: specs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn pool_comes_from_the_volume_type_then_the_settings() {
        let r = San::render(vec![volume(&[("GNT-EXTP:pool", "silver")])]).expect("ok");
        assert!(r.disks[0].contains(&param("pool", text("silver"))));
        assert!(r.disks[0].contains(&param("provider", text("san"))));
        let r = San::render(vec![volume(&[])]).expect("ok");
        assert!(r.disks[0].contains(&param("pool", text("gold"))));
        cyclades_plugin_sdk::testing::set_config("default_pool", Some("bronze"));
        let r = San::render(vec![volume(&[])]).expect("ok");
        assert!(r.disks[0].contains(&param("pool", text("bronze"))));
        cyclades_plugin_sdk::testing::set_config("default_pool", None);
    }
}
