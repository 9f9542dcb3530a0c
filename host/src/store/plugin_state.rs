//! What every replica's plugin slots must look like, and the components they need, so that a
//! load, swap, rollback, shadow, release or quarantine on one replica reaches the others.
//!
//! Components are stored content-addressed (key: their SHA-256 digest, value: the bytes), so
//! a replica that never saw a plugin's file loads it from here. The slot state is one record,
//! replaced with a compare-and-swap on its `generation`. The store knows nothing of plugins
//! beyond these shapes; the service keeps the plugin host and this record in step.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::kv::{self, TxError};
use super::{Store, StoreError, decode, encode};

const STATE_KEY: &[u8] = b"slots";

/// One slot: its occupant and the previous ones (oldest first), by digest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub current: String,
    pub history: Vec<String>,
}

/// Every slot, the shadow allocator and the quarantined plugins, by digest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginSlots {
    /// Bumped by every change; replicas apply a generation once.
    pub generation: u64,
    /// Every loaded component, in load order.
    pub library: Vec<String>,
    /// `allocator`, `disk-template:<name>`, `network-flavor:<name>` → occupant.
    pub slots: BTreeMap<String, SlotRecord>,
    pub shadow: Option<String>,
    pub quarantined: BTreeSet<String>,
    /// The replica that made the change.
    pub changed_by: String,
}

impl Store {
    pub fn plugin_slots(&self) -> Result<Option<PluginSlots>, StoreError> {
        self.trees
            .plugin_state
            .get(STATE_KEY)?
            .map(|raw| decode("plugin_state", &raw))
            .transpose()
    }

    /// Writes `next` (its generation one past `expected`, 0 meaning none yet) if the stored
    /// state is still at `expected`. Whether it was written.
    pub fn plugin_slots_replace(
        &self,
        expected: u64,
        next: &PluginSlots,
    ) -> Result<bool, StoreError> {
        kv::transact(&[&self.trees.plugin_state], |t| {
            let found = match t[0].get(STATE_KEY)? {
                Some(raw) => {
                    decode::<PluginSlots>("plugin_state", &raw)
                        .map_err(TxError::Abort)?
                        .generation
                }
                None => 0,
            };
            if found != expected {
                return Ok(false);
            }
            t[0].insert(STATE_KEY, encode(next))?;
            Ok(true)
        })
    }

    /// Stores a component under its digest (once; the same digest is the same bytes).
    pub fn plugin_component_put(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let tree = &self.trees.plugin_components;
        if tree.get(digest.as_bytes())?.is_none() {
            tree.insert(digest.as_bytes(), bytes)?;
        }
        Ok(())
    }

    pub fn plugin_component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.trees.plugin_components.get(digest.as_bytes())
    }
}
