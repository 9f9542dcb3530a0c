//! `cyclades`: an OpenStack-compatible cloud control plane for Ganeti clusters.
//!
//! Layers, from the top (a module may only call the ones below it):
//!
//! ```text
//! cli (operator commands, a client of /admin/v1)      server (composition root), demo
//!   └── api (axum routers, extractors, faults) ──────────┘
//!         └── service (business logic, authz, quotas)
//!               └── store (sled, typed resource-first API)
//! leaf modules usable by all: config, clock, resources, endpoints
//! ```
//!
//! See `ARCHITECTURE.md` for the request path and the store's trees.

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
