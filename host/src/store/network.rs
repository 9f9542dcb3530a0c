//! Resource-first store reads for the network service: networks (subnets inside), ports,
//! floating IPs and resource pools. Writes go through `Batch` (`insert`/`update`/`remove`), so
//! an address, the record holding it and the server it serves change in one transaction.

use super::kv;
use super::{Deleted, Store, StoreError, get, scan};
use crate::store::{FloatingIp, Network, Port, ResourcePool};

fn by_id<T: serde::de::DeserializeOwned + super::model::Versioned>(
    tree: &kv::Tree,
    name: &'static str,
    id: u64,
) -> Result<T, StoreError> {
    get(tree, name, &id.to_be_bytes()).map_err(|e| match e {
        StoreError::NotFound { kind, .. } => StoreError::NotFound {
            kind,
            id: id.to_string(),
        },
        other => other,
    })
}

impl Store {
    pub fn network_get(&self, id: u64) -> Result<Network, StoreError> {
        by_id(&self.trees.networks, "networks", id)
    }

    pub fn network_list(&self, deleted: Deleted) -> Result<Vec<Network>, StoreError> {
        let mut all: Vec<Network> = scan(&self.trees.networks, "networks", b"")?;
        all.retain(|n| deleted.keeps(n.deleted));
        Ok(all)
    }

    pub fn port_get(&self, id: u64) -> Result<Port, StoreError> {
        by_id(&self.trees.ports, "ports", id)
    }

    pub fn port_list(&self) -> Result<Vec<Port>, StoreError> {
        scan(&self.trees.ports, "ports", b"")
    }

    /// The ports attached to a server, by port id (NIC order), through the `ports_by_server`
    /// index.
    pub fn ports_of_server(&self, server_id: u64) -> Result<Vec<Port>, StoreError> {
        let mut ports = Vec::new();
        for (key, _) in self
            .trees
            .ports_by_server
            .scan_prefix(server_id.to_be_bytes())?
        {
            let Some(port_id) = key.get(8..16).and_then(|b| b.try_into().ok()) else {
                continue;
            };
            match self.port_get(u64::from_be_bytes(port_id)) {
                // The index entry and the port are written in one transaction; a port that
                // moved meanwhile (a concurrent commit) is left out.
                Ok(p) if p.device_id == Some(server_id) => ports.push(p),
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ports)
    }

    /// Rebuilds the `ports_by_server` index from the ports (at every open).
    pub(super) fn rebuild_port_index(&self) -> Result<(), StoreError> {
        self.trees.ports_by_server.clear()?;
        for p in self.port_list()? {
            if let Some(server) = p.device_id {
                self.trees
                    .ports_by_server
                    .insert(by_server_key(server, p.id), [])?;
            }
        }
        Ok(())
    }

    pub fn floating_ip_get(&self, id: u64) -> Result<FloatingIp, StoreError> {
        by_id(&self.trees.floating_ips, "floating_ips", id)
    }

    /// Floating IPs held now (released ones left out).
    pub fn floating_ip_list(&self) -> Result<Vec<FloatingIp>, StoreError> {
        let mut all = self.floating_ip_list_all()?;
        all.retain(|f| !f.deleted);
        Ok(all)
    }

    /// Every floating IP, released ones included.
    pub fn floating_ip_list_all(&self) -> Result<Vec<FloatingIp>, StoreError> {
        scan(&self.trees.floating_ips, "floating_ips", b"")
    }

    pub fn pool_get(&self, id: u64) -> Result<ResourcePool, StoreError> {
        by_id(&self.trees.pools, "pools", id)
    }

    pub fn pool_list(&self) -> Result<Vec<ResourcePool>, StoreError> {
        scan(&self.trees.pools, "pools", b"")
    }
}

/// Key of the `ports_by_server` and `volumes_by_server` indexes.
pub(super) fn by_server_key(server_id: u64, port_id: u64) -> Vec<u8> {
    let mut key = server_id.to_be_bytes().to_vec();
    key.extend_from_slice(&port_id.to_be_bytes());
    key
}
