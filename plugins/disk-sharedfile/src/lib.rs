//! `sharedfile`: the `sharedfile` Ganeti disk template (spec §14). Disks are files on storage shared between nodes (NFS and the like), so servers can migrate.

use cyclades_plugin_sdk::disk_template::*;

struct Driver;

impl DiskTemplate for Driver {
    fn describe() -> Description {
        Description::new(
            "sharedfile",
            PluginKind::DiskTemplate,
            env!("CARGO_PKG_VERSION"),
        )
    }

    fn capabilities() -> Capabilities {
        Capabilities {
            shared: true,
            ..Capabilities::basic("sharedfile")
        }
    }

    fn render(volumes: Vec<Volume>) -> Result<Rendered, PluginError> {
        render_basic(&volumes, "sharedfile")
    }
}

cyclades_plugin_sdk::export_disk_template!(Driver);

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        cyclades_plugin_sdk::disk_template::conformance::check::<super::Driver>("sharedfile");
    }
}
