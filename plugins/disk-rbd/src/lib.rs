//! `rbd`: the `rbd` Ganeti disk template (spec §14). Disks are Ceph RADOS block devices, shared by all nodes.

use cyclades_plugin_sdk::disk_template::*;

struct Driver;

impl DiskTemplate for Driver {
    fn describe() -> Description {
        Description::new("rbd", PluginKind::DiskTemplate, env!("CARGO_PKG_VERSION"))
    }

    fn capabilities() -> Capabilities {
        Capabilities {
            shared: true,
            ..Capabilities::basic("rbd")
        }
    }

    fn render(volumes: Vec<Volume>) -> Result<Rendered, PluginError> {
        render_basic(&volumes, "rbd")
    }
}

cyclades_plugin_sdk::export_disk_template!(Driver);

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        cyclades_plugin_sdk::disk_template::conformance::check::<super::Driver>("rbd");
    }
}
