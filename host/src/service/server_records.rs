//! Direct changes to a server's record, with no Ganeti job: the name, Nova's access
//! addresses and the metadata (spec §2.5), each applied to fresh data until no concurrent
//! writer intervened. Owns the metadata rules; must not submit jobs or call Ganeti.

use std::collections::BTreeMap;

use super::servers::MAX_METADATA;
use super::{Credentials, ServiceError, Services};
use crate::store::{Batch, Server, StoreError};

/// A `PUT /servers/<id>`: what to change (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct ServerUpdate {
    pub name: Option<String>,
    pub access_ipv4: Option<Option<std::net::Ipv4Addr>>,
    pub access_ipv6: Option<Option<std::net::Ipv6Addr>>,
}

/// Synnefo's metadata rules: at most `MAX_METADATA` items, keys of 1 to 50 characters,
/// values of at most 500.
pub(super) fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), ServiceError> {
    if metadata.len() > MAX_METADATA {
        return Err(ServiceError::BadRequest(format!(
            "Virtual Machines cannot have more than {MAX_METADATA} metadata items"
        )));
    }
    for (k, v) in metadata {
        if k.is_empty() || k.len() > 50 {
            return Err(ServiceError::BadRequest(format!(
                "Metadata key '{k}' must be 1 to 50 characters"
            )));
        }
        if v.len() > 500 {
            return Err(ServiceError::BadRequest(format!(
                "Metadata value of '{k}' is longer than 500 characters"
            )));
        }
    }
    Ok(())
}

impl Services {
    /// Applies a change to a live, unsuspended server of the caller.
    pub(super) fn server_mutate(
        &self,
        caller: &Credentials,
        id: &str,
        mut change: impl FnMut(&mut Server) -> Result<(), ServiceError>,
    ) -> Result<Server, ServiceError> {
        let server = self.server_for_change(caller, id)?;
        loop {
            let before = self.store().server_get(server.id)?;
            let mut after = before.clone();
            change(&mut after)?;
            let mut batch = Batch::new();
            batch.update_server(&before, &after);
            match self.store().commit(&batch) {
                Ok(()) => return Ok(self.store().server_get(server.id)?),
                // A job or another request wrote meanwhile: apply the change to fresh data.
                Err(StoreError::GenerationMismatch { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub fn server_rename(
        &self,
        caller: &Credentials,
        id: &str,
        name: &str,
    ) -> Result<Server, ServiceError> {
        self.server_update(
            caller,
            id,
            &ServerUpdate {
                name: Some(name.to_string()),
                ..ServerUpdate::default()
            },
        )
    }

    /// `PUT /servers/<id>`: the name, and Nova's access addresses (`Some(None)` clears one).
    pub fn server_update(
        &self,
        caller: &Credentials,
        id: &str,
        update: &ServerUpdate,
    ) -> Result<Server, ServiceError> {
        if let Some(name) = &update.name
            && (name.trim().is_empty() || name.len() > 255)
        {
            return Err(ServiceError::BadRequest(
                "Server name must be 1 to 255 characters".into(),
            ));
        }
        self.server_mutate(caller, id, |s| {
            if let Some(name) = &update.name {
                s.name = name.clone();
            }
            if let Some(v4) = update.access_ipv4 {
                s.access_ipv4 = v4;
            }
            if let Some(v6) = update.access_ipv6 {
                s.access_ipv6 = v6;
            }
            Ok(())
        })
    }

    /// Merges (`replace = false`) or replaces server metadata.
    pub fn server_metadata_set(
        &self,
        caller: &Credentials,
        id: &str,
        items: &BTreeMap<String, String>,
        replace: bool,
    ) -> Result<Server, ServiceError> {
        self.server_mutate(caller, id, |s| {
            let mut next = if replace {
                BTreeMap::new()
            } else {
                s.metadata.clone()
            };
            next.extend(items.clone());
            check_metadata(&next)?;
            s.metadata = next;
            Ok(())
        })
    }

    pub fn server_metadata_delete(
        &self,
        caller: &Credentials,
        id: &str,
        key: &str,
    ) -> Result<Server, ServiceError> {
        self.server_mutate(caller, id, |s| {
            if s.metadata.remove(key).is_none() {
                return Err(ServiceError::ItemNotFound("Metadata key not found.".into()));
            }
            Ok(())
        })
    }
}
