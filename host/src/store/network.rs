//! Resource-first store reads for the network service: networks (subnets inside), ports,
//! floating IPs and resource pools. Writes go through `Batch` (`insert`/`update`/`remove`), so
//! an address, the record holding it and the server it serves change in one transaction.

use super::{Deleted, Store, StoreError, get, scan};
use crate::store::{FloatingIp, Network, Port, ResourcePool};

fn by_id<T: serde::de::DeserializeOwned + super::model::Versioned>(
    tree: &sled::Tree,
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

    /// The ports attached to one server, in id order (the NIC order in Ganeti).
    pub fn ports_of_server(&self, server_id: u64) -> Result<Vec<Port>, StoreError> {
        let mut ports = self.port_list()?;
        ports.retain(|p| p.device_id == Some(server_id));
        Ok(ports)
    }

    pub fn floating_ip_get(&self, id: u64) -> Result<FloatingIp, StoreError> {
        by_id(&self.trees.floating_ips, "floating_ips", id)
    }

    pub fn floating_ip_list(&self) -> Result<Vec<FloatingIp>, StoreError> {
        scan(&self.trees.floating_ips, "floating_ips", b"")
    }

    pub fn pool_get(&self, id: u64) -> Result<ResourcePool, StoreError> {
        by_id(&self.trees.pools, "pools", id)
    }

    pub fn pool_list(&self) -> Result<Vec<ResourcePool>, StoreError> {
        scan(&self.trees.pools, "pools", b"")
    }
}
