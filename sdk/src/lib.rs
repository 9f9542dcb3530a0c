//! # cyclades-plugin-sdk
//!
//! Write site-specific parts of a [cyclades] cloud as sandboxed WebAssembly components:
//! **allocators** (which Ganeti cluster a new server goes to), **disk templates** (how a
//! volume becomes Ganeti disk parameters) and **network flavors** (how a network is isolated).
//!
//! A plugin is an ordinary `cdylib` crate that depends on this SDK with the feature of its
//! kind, implements one trait, and exports itself with one macro:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! cyclades-plugin-sdk = { version = "0.1", features = ["allocator"] }
//! ```
//!
//! ```ignore
//! use cyclades_plugin_sdk::allocator::*;
//!
//! struct FewestInstances;
//!
//! impl Allocator for FewestInstances {
//!     fn describe() -> Description {
//!         Description::new("alloc-fewest", PluginKind::Allocator, env!("CARGO_PKG_VERSION"))
//!     }
//!
//!     fn choose(backends: Vec<Backend>, request: VmRequest) -> Result<Allocation, PluginError> {
//!         // Keep what passes the standard filters, score the rest by instance count.
//!         Ok(choose_lowest(&backends, &request, |b| f64::from(b.instances)))
//!     }
//! }
//!
//! export_allocator!(FewestInstances);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release` and load the `.wasm` with
//! `cyclades plugin-load`. The examples for each kind are in the [`allocator`],
//! [`disk_template`] and [`network_flavor`] modules.
//!
//! Plugins have no access to files, the network, the environment or clocks. They may log with
//! [`log`] and read their own configuration with [`config_get`].
//!
//! [cyclades]: https://example.invalid/cyclades

#![allow(clippy::too_many_arguments)]

extern crate self as cyclades_plugin_sdk;

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

/// The WIT package version this SDK builds plugins against.
pub const WIT_VERSION: &str = "0.1.0";

#[cfg(feature = "allocator")]
pub mod allocator;
#[cfg(feature = "disk-template")]
pub mod disk_template;
#[cfg(feature = "network-flavor")]
pub mod network_flavor;

mod common;
pub use common::*;
