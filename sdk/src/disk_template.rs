//! Disk template drivers turn a server's volumes into Ganeti disk parameters.
//!
//! Implement [`DiskTemplate`] and export it with
//! [`export_disk_template!`](crate::export_disk_template). The host calls `capabilities` when it
//! loads the plugin (to know, for example, that drbd counts disks twice for the allocator, or
//! that a template supports detachable volumes), and `render` when it builds a Ganeti
//! create-instance request.
//!
//! ```ignore
//! use cyclades_plugin_sdk::disk_template::*;
//!
//! /// Volumes on the site's SAN, through the ExtStorage provider `san`.
//! struct San;
//!
//! impl DiskTemplate for San {
//!     fn describe() -> Description {
//!         Description::new("ext_san", PluginKind::DiskTemplate, env!("CARGO_PKG_VERSION"))
//!     }
//!
//!     fn capabilities() -> Capabilities {
//!         Capabilities { provider: Some("san".into()), shared: true, detachable: true, ..Capabilities::basic("ext") }
//!     }
//!
//!     fn render(volumes: Vec<Volume>) -> Result<Rendered, PluginError> {
//!         let disks = volumes.iter().map(|v| {
//!             let mut disk = base_disk(v);
//!             disk.push(param("provider", text("san")));
//!             disk.extend(extstorage_specs(v));
//!             disk
//!         });
//!         Ok(Rendered::disks(disks.collect()))
//!     }
//! }
//!
//! cyclades_plugin_sdk::export_disk_template!(San);
//! ```

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "disk-template",
        path: "../wit/cyclades-plugin@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_disk_template_world",
        default_bindings_module: "cyclades_plugin_sdk::disk_template::bindings",
        runtime_path: "cyclades_plugin_sdk::__wit_bindgen::rt",
        additional_derives: [PartialEq],
    });
}

pub use bindings::cyclades::plugin::types::{
    Description, Param, ParamValue, PluginError, PluginKind,
};
pub use bindings::exports::cyclades::plugin::disk_template_api::{
    Guest as DiskTemplate, Rendered, TemplateCapabilities as Capabilities, Volume,
};

pub use crate::{Level, config_get, log};

crate::common::common_impls!();

/// Exports a type implementing [`DiskTemplate`] as the plugin's disk template driver.
#[macro_export]
macro_rules! export_disk_template {
    ($ty:ident) => {
        $crate::disk_template::bindings::__export_disk_template_world!($ty with_types_in $crate::disk_template::bindings);
    };
}

/// The prefix of volume type specs that become ExtStorage provider parameters.
pub const EXTSTORAGE_SPEC_PREFIX: &str = "GNT-EXTP:";

impl Capabilities {
    /// A template with no special capabilities and a disk factor of 1.
    pub fn basic(ganeti_template: &str) -> Self {
        Capabilities {
            ganeti_template: ganeti_template.to_string(),
            provider: None,
            mirrored: false,
            shared: false,
            snapshots: false,
            detachable: false,
            clone: false,
            disk_factor: 1,
        }
    }
}

impl Rendered {
    /// Just disks, no extra instance or OS parameters.
    pub fn disks(disks: Vec<Vec<Param>>) -> Self {
        Rendered {
            disks,
            instance_params: Vec::new(),
            os_params: Vec::new(),
        }
    }
}

/// A `key: value` parameter.
pub fn param(key: &str, value: ParamValue) -> Param {
    Param {
        key: key.to_string(),
        value,
    }
}

/// A text value.
pub fn text(value: &str) -> ParamValue {
    ParamValue::Text(value.to_string())
}

/// The parameters every Ganeti disk has: `name` and `size` (in MiB).
pub fn base_disk(volume: &Volume) -> Vec<Param> {
    vec![
        param("name", text(&volume.name)),
        param(
            "size",
            ParamValue::Integer(i64::from(volume.size_gb) * 1024),
        ),
    ]
}

/// Volume type specs `GNT-EXTP:<key>` = `<value>` as provider parameters `<key>: <value>`.
pub fn extstorage_specs(volume: &Volume) -> Vec<Param> {
    volume
        .specs
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(EXTSTORAGE_SPEC_PREFIX)
                .map(|key| param(key, text(v)))
        })
        .filter(|p| !p.key.is_empty())
        .collect()
}

/// Refuses an empty list of volumes and zero-sized volumes.
pub fn check_volumes(volumes: &[Volume]) -> Result<(), PluginError> {
    if volumes.is_empty() {
        return Err(PluginError::invalid("a server needs at least one volume"));
    }
    if let Some(v) = volumes.iter().find(|v| v.size_gb == 0) {
        return Err(PluginError::invalid(format!(
            "volume {} has size 0",
            v.name
        )));
    }
    Ok(())
}

/// `render` for templates that need nothing but each disk's name and size: checks the volumes,
/// refuses origins, and returns one `{name, size}` dictionary per volume.
pub fn render_basic(volumes: &[Volume], template: &str) -> Result<Rendered, PluginError> {
    check_volumes(volumes)?;
    refuse_origins(volumes, template)?;
    Ok(Rendered::disks(volumes.iter().map(base_disk).collect()))
}

/// Conformance checks every disk template driver should pass, for its native unit tests.
pub mod conformance {
    use super::*;

    /// A blank volume.
    pub fn volume(name: &str, size_gb: u32) -> Volume {
        Volume {
            name: name.into(),
            size_gb,
            origin: None,
            origin_size_mb: None,
            specs: vec![],
        }
    }

    /// Checks that `T` renders `{name, size in MiB}` first in every disk, reports
    /// `ganeti_template`, and refuses no volumes and zero-sized ones as invalid input; and,
    /// unless it can clone, volumes with an origin.
    pub fn check<T: DiskTemplate>(ganeti_template: &str) {
        let r = T::render(vec![volume("snf-vol-1", 20), volume("snf-vol-2", 1)])
            .expect("two volumes render");
        assert_eq!(r.disks.len(), 2);
        assert_eq!(r.disks[0][0], param("name", text("snf-vol-1")));
        assert_eq!(r.disks[0][1], param("size", ParamValue::Integer(20 * 1024)));
        let caps = T::capabilities();
        assert_eq!(caps.ganeti_template, ganeti_template);
        assert!(caps.disk_factor >= 1);
        assert!(matches!(
            T::render(vec![]),
            Err(PluginError::InvalidInput(_))
        ));
        assert!(matches!(
            T::render(vec![volume("v", 0)]),
            Err(PluginError::InvalidInput(_))
        ));
        if !caps.clone {
            let mut cloned = volume("v", 1);
            cloned.origin = Some("img".into());
            assert!(matches!(
                T::render(vec![cloned]),
                Err(PluginError::InvalidInput(_))
            ));
        }
        let d = T::describe();
        assert_eq!(d.kind, PluginKind::DiskTemplate);
    }
}

/// Refuses volumes with an origin (only clone-capable templates can start from an image
/// without copying it; others get their data from snf-image).
pub fn refuse_origins(volumes: &[Volume], template: &str) -> Result<(), PluginError> {
    match volumes.iter().find(|v| v.origin.is_some()) {
        Some(v) => Err(PluginError::invalid(format!(
            "volume {}: the {template} disk template cannot clone from an origin",
            v.name
        ))),
        None => Ok(()),
    }
}
