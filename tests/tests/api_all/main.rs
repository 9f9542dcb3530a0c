//! Every in-process API suite, in one test binary (one link, shared harness).

mod admin;
mod admin_servers;
mod backends;
mod build_progress;
mod catalog;
mod changes_since;
mod compute;
mod compute_more;
mod console;
mod create_body;
mod identity;
mod image_registry;
mod ipv6;
mod network_reassign;
mod networks;
mod plugins;
mod plumbing;
mod quota;
mod reconcile;
mod reconcile_networks;
mod rescue;
mod restart;
mod server_nics;
mod task_lock;
mod volumes;
mod volumes_more;
