//! Every in-process API suite, in one test binary (one link, shared harness).

mod admin;
mod backends;
mod compute;
mod identity;
mod plugins;
mod plumbing;
mod quota;
mod reconcile;
mod restart;
