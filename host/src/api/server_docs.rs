//! Rendered server documents, cached by `(server id, generation)`, for
//! `GET /compute/v2.0/servers/detail`: clients (kamaki, the Synnefo UI, `openstack server
//! list`) poll it constantly, and rendering thousands of unchanged documents each time was most
//! of its cost.
//!
//! A document is a pure function of the server record and of the process's fixed API settings
//! (public URL, `api.compat`), and every change to a record bumps its generation, so an entry
//! whose generation matches the stored record is exactly what rendering would produce now. The
//! listing reads every record's generation without decoding it (`Store::server_generations`),
//! renders only the servers that changed, and splices the cached bytes together. The spliced
//! body itself is kept for the last few callers (user and project set) that asked (bounded in
//! bytes): a poll that
//! finds every generation unchanged gets the same shared bytes back without copying them.
//!
//! Owns the cache only; what a document contains is `compute_servers::server_doc`'s business.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use crate::service::{Credentials, Server, ServiceError};

/// One rendered document and what the listing needs to filter it without the record.
struct Entry {
    generation: u64,
    owner: String,
    project_id: String,
    shared: bool,
    deleted: bool,
    json: Arc<[u8]>,
}

/// A whole listing as last served to one user with one set of projects.
struct Listing {
    user_id: String,
    projects: Vec<String>,
    versions: Vec<(u64, u64)>,
    body: Bytes,
}

/// Whole listings kept at most, in bytes (the per-server documents are kept regardless).
const LISTINGS_MAX_BYTES: usize = 32 << 20;

/// The cache; one per process (inside `AppState`).
#[derive(Default)]
pub struct ServerDocCache {
    entries: Mutex<HashMap<u64, Arc<Entry>>>,
    /// Most recently served first.
    listings: Mutex<Vec<Listing>>,
}

impl ServerDocCache {
    /// `{"servers":[...]}` with the caller's live servers in id order: the same bytes as
    /// serializing the documents anew. `render` turns a record into its JSON document.
    pub fn detail_listing(
        &self,
        services: &crate::service::Services,
        caller: &Credentials,
        render: impl Fn(&Server) -> Result<Vec<u8>, ServiceError>,
    ) -> Result<Bytes, ServiceError> {
        let versions = services.server_generations()?;
        let mut projects = caller.project_ids.clone();
        projects.sort();
        projects.dedup();
        if let Some(body) = self.same_listing(&caller.user_id, &projects, &versions) {
            return Ok(body);
        }
        let body = Bytes::from(self.splice(services, caller, &versions, render)?);
        self.remember(caller.user_id.clone(), projects, versions, body.clone());
        Ok(body)
    }

    /// The body served last to this user and `projects`, if no server record changed since.
    fn same_listing(
        &self,
        user_id: &str,
        projects: &[String],
        versions: &[(u64, u64)],
    ) -> Option<Bytes> {
        let mut listings = lock(&self.listings);
        let at = listings.iter().position(|l| {
            l.user_id == user_id && l.projects == projects && l.versions == versions
        })?;
        let hit = listings.remove(at);
        let body = hit.body.clone();
        listings.insert(0, hit);
        Some(body)
    }

    fn remember(
        &self,
        user_id: String,
        projects: Vec<String>,
        versions: Vec<(u64, u64)>,
        body: Bytes,
    ) {
        let mut listings = lock(&self.listings);
        listings.retain(|l| l.user_id != user_id || l.projects != projects);
        listings.insert(
            0,
            Listing {
                user_id,
                projects,
                versions,
                body,
            },
        );
        let mut total = 0;
        listings.retain(|l| {
            total += l.body.len();
            total <= LISTINGS_MAX_BYTES
        });
    }

    /// Builds the body from per-server documents, rendering those that changed.
    fn splice(
        &self,
        services: &crate::service::Services,
        caller: &Credentials,
        versions: &[(u64, u64)],
        render: impl Fn(&Server) -> Result<Vec<u8>, ServiceError>,
    ) -> Result<Vec<u8>, ServiceError> {
        let mut found: Vec<Option<Arc<Entry>>> = {
            let entries = self.lock();
            versions
                .iter()
                .map(|(id, generation)| {
                    entries
                        .get(id)
                        .filter(|e| e.generation == *generation)
                        .cloned()
                })
                .collect()
        };
        let mut rendered = Vec::new();
        for ((id, _), slot) in versions.iter().zip(found.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            // Changed since it was cached (or never listed): render the current record.
            let Some(server) = services.server_record(*id)? else {
                continue;
            };
            let entry = Arc::new(Entry {
                generation: server.generation,
                owner: server.user_id.clone(),
                project_id: server.project_id.clone(),
                shared: server.shared_to_project,
                deleted: server.deleted,
                json: render(&server)?.into(),
            });
            rendered.push((*id, entry.clone()));
            *slot = Some(entry);
        }
        if !rendered.is_empty() {
            let mut entries = self.lock();
            entries.extend(rendered);
            // Forget servers that are gone from the store (the map never outgrows it for long).
            if entries.len() > versions.len() * 2 {
                let live: std::collections::HashSet<u64> =
                    versions.iter().map(|(id, _)| *id).collect();
                entries.retain(|id, _| live.contains(id));
            }
        }
        let visible: Vec<&Entry> = found
            .iter()
            .flatten()
            .map(|e| e.as_ref())
            .filter(|e| !e.deleted && caller.can_see(&e.owner, &e.project_id, e.shared))
            .collect();
        let size = visible.iter().map(|e| e.json.len() + 1).sum::<usize>() + 16;
        let mut body = Vec::with_capacity(size);
        body.extend_from_slice(b"{\"servers\":[");
        for (i, entry) in visible.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&entry.json);
        }
        body.extend_from_slice(b"]}");
        Ok(body)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Entry>>> {
        lock(&self.entries)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
