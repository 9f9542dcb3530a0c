//! `file`: the `file` Ganeti disk template (spec §14). Disks are files on each node's local storage.

use cyclades_plugin_sdk::disk_template::*;

struct Driver;

impl DiskTemplate for Driver {
    fn describe() -> Description {
        Description::new("file", PluginKind::DiskTemplate, env!("CARGO_PKG_VERSION"))
    }

    fn capabilities() -> Capabilities {
        Capabilities::basic("file")
    }

    fn render(volumes: Vec<Volume>) -> Result<Rendered, PluginError> {
        render_basic(&volumes, "file")
    }
}

cyclades_plugin_sdk::export_disk_template!(Driver);

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        cyclades_plugin_sdk::disk_template::conformance::check::<super::Driver>("file");
    }
}
