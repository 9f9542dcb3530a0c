//! `ext_archipelago`: Archipelago volumes through Ganeti's ExtStorage provider `archipelago`
//! (spec §14).
//!
//! Every disk gets `provider: archipelago`, the provider parameters from this plugin's
//! `provider_kwargs` setting (Synnefo's `GANETI_DISK_PROVIDER_KWARGS["archipelago"]`, written
//! `key=value,key=value`), and the volume type's `GNT-EXTP:<key>` specs. Archipelago is a clone
//! provider: a volume made from an image gets `origin` (the image's map name) and
//! `origin_size`, and snf-image is told `img_id = null`, so it only customises the clone
//! instead of copying data. Volumes are shared, detachable and can be snapshotted.

use cyclades_plugin_sdk::disk_template::*;

const PROVIDER: &str = "archipelago";

struct Archipelago;

/// Parses `key=value,key=value` (the provider kwargs setting).
fn provider_kwargs() -> Result<Vec<Param>, PluginError> {
    let Some(text) = config_get("provider_kwargs") else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(param(k.trim(), text_value(v.trim()))),
            _ => Err(PluginError::internal(format!(
                "setting provider_kwargs: '{item}' is not key=value"
            ))),
        })
        .collect()
}

fn text_value(v: &str) -> ParamValue {
    text(v)
}

impl DiskTemplate for Archipelago {
    fn describe() -> Description {
        Description::new(
            "ext_archipelago",
            PluginKind::DiskTemplate,
            env!("CARGO_PKG_VERSION"),
        )
        .with_capabilities(&["extstorage", "clone", "snapshots", "detachable"])
    }

    fn capabilities() -> Capabilities {
        Capabilities {
            provider: Some(PROVIDER.into()),
            shared: true,
            snapshots: true,
            detachable: true,
            clone: true,
            ..Capabilities::basic("ext")
        }
    }

    fn render(volumes: Vec<Volume>) -> Result<Rendered, PluginError> {
        check_volumes(&volumes)?;
        let kwargs = provider_kwargs()?;
        let mut rendered = Rendered::disks(Vec::with_capacity(volumes.len()));
        for volume in &volumes {
            let mut disk = base_disk(volume);
            disk.push(param("provider", text(PROVIDER)));
            if let Some(origin) = &volume.origin {
                if origin.is_empty() {
                    return Err(PluginError::invalid(format!(
                        "volume {}: empty origin",
                        volume.name
                    )));
                }
                disk.push(param("origin", text(origin)));
                let size = volume.origin_size_mb.ok_or_else(|| {
                    PluginError::invalid(format!(
                        "volume {}: an origin needs its size (origin_size)",
                        volume.name
                    ))
                })?;
                disk.push(param("origin_size", ParamValue::Integer(size as i64)));
            }
            disk.extend(kwargs.iter().cloned());
            disk.extend(extstorage_specs(volume));
            rendered.disks.push(disk);
        }
        // The root volume is a clone of the image: snf-image must not copy data into it.
        if volumes[0].origin.is_some() {
            rendered.os_params.push(param("img_id", text("null")));
        }
        Ok(rendered)
    }
}

cyclades_plugin_sdk::export_disk_template!(Archipelago);

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, origin: Option<&str>) -> Volume {
        Volume {
            name: name.into(),
            size_gb: 10,
            origin: origin.map(str::to_string),
            origin_size_mb: origin.map(|_| 2048),
            specs: vec![
                ("GNT-EXTP:pool".into(), "fast".into()),
                ("other".into(), "ignored".into()),
            ],
        }
    }

    #[test]
    fn clones_carry_origin_and_blank_img_id() {
        let r = Archipelago::render(vec![
            volume("snf-vol-1", Some("map-abc")),
            volume("snf-vol-2", None),
        ])
        .expect("ok");
        let root = &r.disks[0];
        assert!(root.contains(&param("provider", text("archipelago"))));
        assert!(root.contains(&param("origin", text("map-abc"))));
        assert!(root.contains(&param("origin_size", ParamValue::Integer(2048))));
        assert!(
            root.contains(&param("pool", text("fast"))),
            "GNT-EXTP spec becomes a provider param"
        );
        assert!(!root.iter().any(|p| p.key == "other"));
        assert!(!r.disks[1].iter().any(|p| p.key == "origin"));
        assert_eq!(r.os_params, vec![param("img_id", text("null"))]);
        let caps = Archipelago::capabilities();
        assert_eq!(
            (caps.ganeti_template.as_str(), caps.provider.as_deref()),
            ("ext", Some("archipelago"))
        );
        assert!(caps.clone && caps.detachable && caps.snapshots);
    }

    #[test]
    fn provider_kwargs_come_from_the_settings() {
        cyclades_plugin_sdk::testing::set_config(
            "provider_kwargs",
            Some("cluster=ceph1, replicas=2"),
        );
        let r = Archipelago::render(vec![volume("v", None)]).expect("ok");
        assert!(r.disks[0].contains(&param("cluster", text("ceph1"))));
        assert!(r.disks[0].contains(&param("replicas", text("2"))));
        assert!(r.os_params.is_empty());
        cyclades_plugin_sdk::testing::set_config("provider_kwargs", Some("broken"));
        assert!(matches!(
            Archipelago::render(vec![volume("v", None)]),
            Err(PluginError::Internal(_))
        ));
        cyclades_plugin_sdk::testing::set_config("provider_kwargs", None);
    }

    #[test]
    fn an_origin_needs_its_size() {
        let mut v = volume("v", Some("map"));
        v.origin_size_mb = None;
        assert!(matches!(
            Archipelago::render(vec![v]),
            Err(PluginError::InvalidInput(_))
        ));
    }
}
