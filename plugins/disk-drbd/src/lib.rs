//! `drbd`: the `drbd` Ganeti disk template (spec §14). Disks are LVM volumes mirrored to a secondary node with DRBD, so the allocator counts them twice. The create request carries `wait_for_sync`, from this plugin's `wait_for_sync` setting (Synnefo's `GANETI_DISKS_WAIT_FOR_SYNC`, default false).

use cyclades_plugin_sdk::disk_template::*;

struct Driver;

impl DiskTemplate for Driver {
    fn describe() -> Description {
        Description::new("drbd", PluginKind::DiskTemplate, env!("CARGO_PKG_VERSION"))
    }

    fn capabilities() -> Capabilities {
        Capabilities {
            mirrored: true,
            disk_factor: 2,
            ..Capabilities::basic("drbd")
        }
    }

    fn render(volumes: Vec<Volume>) -> Result<Rendered, PluginError> {
        let mut rendered = render_basic(&volumes, "drbd")?;
        let wait = match config_get("wait_for_sync").as_deref() {
            None | Some("false") | Some("False") | Some("0") => false,
            Some("true") | Some("True") | Some("1") => true,
            Some(other) => {
                return Err(PluginError::internal(format!(
                    "setting wait_for_sync must be true or false, not '{other}'"
                )));
            }
        };
        rendered
            .instance_params
            .push(param("wait_for_sync", ParamValue::Boolean(wait)));
        Ok(rendered)
    }
}

cyclades_plugin_sdk::export_disk_template!(Driver);

#[cfg(test)]
mod tests {
    use super::*;
    use cyclades_plugin_sdk::disk_template::conformance::{check, volume};

    #[test]
    fn conforms() {
        check::<Driver>("drbd");
    }

    #[test]
    fn drbd_counts_twice_and_honours_wait_for_sync() {
        assert_eq!(Driver::capabilities().disk_factor, 2);
        let r = Driver::render(vec![volume("v", 1)]).expect("rendered");
        assert_eq!(
            r.instance_params,
            vec![param("wait_for_sync", ParamValue::Boolean(false))]
        );
        cyclades_plugin_sdk::testing::set_config("wait_for_sync", Some("True"));
        let r = Driver::render(vec![volume("v", 1)]).expect("rendered");
        assert_eq!(
            r.instance_params,
            vec![param("wait_for_sync", ParamValue::Boolean(true))]
        );
        cyclades_plugin_sdk::testing::set_config("wait_for_sync", Some("maybe"));
        assert!(matches!(
            Driver::render(vec![volume("v", 1)]),
            Err(PluginError::Internal(_))
        ));
        cyclades_plugin_sdk::testing::set_config("wait_for_sync", None);
    }
}
