//! `cyclades`: an OpenStack-compatible cloud control plane for Ganeti clusters.
//!
//! Layers, from the top (a module may only call the ones below it):
//!
//! ```text
//! cli (operator commands, a client of /admin/v1)      server (composition root), demo
//!   └── api (axum routers, extractors, faults) ──────────┘
//!         └── service (business logic, authz, quotas)
//!               └── jobs (crash-safe job engine, job kinds, reconcilers)
//!                     ├── store (sled or PostgreSQL, typed resource-first API)
//!                     ├── plugins (wasmtime host for the site's wasm components)
//!                     └── backend (Ganeti RAPI client and simulator)
//! console (VNC proxy) uses no layer
//! leaf modules usable by all: config, clock, resources, endpoints, secrets, ipam, names
//! ```
//!
//! `service` also calls `store`, `plugins` and `backend` directly. `architecture_tests.rs`
//! checks these rules; see `ARCHITECTURE.md` for the life of a server create and the store's
//! trees.

pub mod api;
pub mod backend;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod demo;
pub mod endpoints;
pub mod ipam;
pub mod jobs;
pub mod metrics;
pub mod names;
pub mod plugins;
pub mod progress_monitor;
pub mod resources;
pub mod secrets;
pub mod server;
pub mod service;
pub mod store;

#[cfg(test)]
mod architecture_tests;
