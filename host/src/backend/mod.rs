//! Everything between cyclades and its Ganeti clusters ("backends").
//!
//! Owns the RAPI client (`rapi`: typed errors with `retryable()`, timeouts, job polling with
//! backoff) and the RAPI simulator (`sim`), a real HTTP server speaking Ganeti's RAPI that
//! `serve --demo` and the tests use in place of a cluster. The backend registry is the
//! store's and the service's (`service/backends.rs`); the job engine and the reconcilers that
//! drive this client are in `jobs`.
//!
//! Rule: `backend` never touches the store or the services; it speaks HTTP RAPI only.

pub mod rapi;
pub mod sim;
