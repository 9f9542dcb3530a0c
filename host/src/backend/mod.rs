//! Everything between cyclades and its Ganeti clusters ("backends").
//!
//! Owns the RAPI client (`rapi`: typed errors with `retryable()`, timeouts, job polling with
//! backoff) and the RAPI simulator (`sim`), a real HTTP server speaking Ganeti's RAPI that
//! tests (and, next, `serve --demo`) use in place of a cluster. The backend registry, the job
//! engine and the reconciler arrive with the rest of the Ganeti-backends issue.
//!
//! Rule: `backend` never touches the store or the services; it speaks HTTP RAPI only.

pub mod rapi;
pub mod sim;
