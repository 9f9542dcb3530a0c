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
        render_basic(&volumes, "plain")
    }
}

cyclades_plugin_sdk::export_disk_template!(Driver);

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        cyclades_plugin_sdk::disk_template::conformance::check::<super::Driver>("plain");
    }
}
