//! Everything between cyclades and its Ganeti clusters ("backends").
//!
//! Owns the RAPI simulator (`sim`), a real HTTP server speaking Ganeti's RAPI that tests and
//! `serve --demo` use in place of a cluster. The RAPI client, the backend registry and the job
//! engine arrive with the rest of the Ganeti-backends issue.
//!
//! Rule: `backend` never touches the store or the services; it speaks HTTP RAPI only.

pub mod sim;
