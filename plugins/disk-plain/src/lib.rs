//! `plain`: the `plain` Ganeti disk template (spec §14). Disks are LVM logical volumes on the primary node.

use cyclades_plugin_sdk::disk_template::*;

struct Driver;

impl DiskTemplate for Driver {
    fn describe() -> Description {
        Description::new("plain", PluginKind::DiskTemplate, env!("CARGO_PKG_VERSION"))
    }

    fn capabilities() -> Capabilities {
        Capabilities::basic("plain")
    }

    fn render(volumes: Vec<Volume>) -> Result<Rendered, PluginError> {
        check_volumes(&volumes)?;
        refuse_origins(&volumes, "plain")?;
        Ok(Rendered::disks(volumes.iter().map(base_disk).collect()))
    }
}

cyclades_plugin_sdk::export_disk_template!(Driver);

#[cfg(test)]
mod tests {
    use super::*;

    pub fn volume(name: &str, size_gb: u32) -> Volume {
        Volume {
            name: name.into(),
            size_gb,
            origin: None,
            origin_size_mb: None,
            specs: vec![],
        }
    }

    #[test]
    fn disks_have_name_and_size_in_mib() {
        let r = Driver::render(vec![volume("snf-vol-1", 20), volume("snf-vol-2", 1)])
            .expect("rendered");
        assert_eq!(r.disks.len(), 2);
        assert_eq!(r.disks[0][0], param("name", text("snf-vol-1")));
        assert_eq!(r.disks[0][1], param("size", ParamValue::Integer(20 * 1024)));
        assert_eq!(Driver::capabilities().ganeti_template, "plain");
    }

    #[test]
    fn bad_volumes_are_invalid_input() {
        assert!(matches!(
            Driver::render(vec![]),
            Err(PluginError::InvalidInput(_))
        ));
        assert!(matches!(
            Driver::render(vec![volume("v", 0)]),
            Err(PluginError::InvalidInput(_))
        ));
        let mut cloned = volume("v", 1);
        cloned.origin = Some("img".into());
        assert!(matches!(
            Driver::render(vec![cloned]),
            Err(PluginError::InvalidInput(_))
        ));
    }
}
