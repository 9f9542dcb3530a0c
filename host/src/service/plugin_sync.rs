//! Keeping every replica's plugin host alike on a shared store: a load, swap, rollback,
//! shadow, release or (automatic) quarantine on one replica is published to the store, and
//! every replica follows it within a poll (`PLUGIN_FOLLOW_EVERY`).
//!
//! Published: the library and each slot's occupant and history by digest, the shadow, the
//! quarantined digests (`store::PluginSlots`), and every component's bytes content-addressed,
//! so a replica that never saw a plugin's file loads it from the store. A change is made on
//! a host that has followed the latest state, then published with a compare-and-swap on the
//! state's generation: if another replica changed the slots meanwhile, this replica follows
//! theirs (undoing its own) and the operator gets a 409 to retry. On a store nobody shares
//! none of this runs: the configuration decides the slots at start, as before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{ServiceError, Services};
use crate::plugins::{LoadedPlugin, SlotName};
use crate::store::{PluginSlots, SlotRecord};

/// How often a replica looks for another replica's plugin change.
pub const PLUGIN_FOLLOW_EVERY: Duration = Duration::from_millis(250);

impl Services {
    fn plugin_sync_on(&self) -> bool {
        self.store().shared()
    }

    /// This host's plugin state, at generation `generation`.
    fn plugin_state_here(&self, generation: u64) -> PluginSlots {
        let host = self.plugins();
        PluginSlots {
            generation,
            library: host.library().iter().map(|p| p.digest.clone()).collect(),
            slots: host
                .slot_states()
                .into_iter()
                .map(|s| {
                    (
                        s.slot.to_string(),
                        SlotRecord {
                            current: s.current,
                            history: s.history,
                        },
                    )
                })
                .collect(),
            shadow: host.shadow().map(|(p, _)| p.digest.clone()),
            quarantined: host
                .library()
                .iter()
                .filter(|p| p.is_quarantined())
                .map(|p| p.digest.clone())
                .collect(),
            changed_by: self.replica_id().to_string(),
        }
    }

    /// Publishes this host's state over the generation it last followed. `false` when another
    /// replica published first.
    fn plugin_publish(&self) -> Result<bool, ServiceError> {
        let expected = self.inner.plugin_generation.load(Ordering::SeqCst);
        let next = self.plugin_state_here(expected + 1);
        for digest in &next.library {
            if let Some(bytes) = self.plugins().component(digest) {
                self.store().plugin_component_put(digest, &bytes)?;
            }
        }
        if self.store().plugin_slots_replace(expected, &next)? {
            self.inner
                .plugin_generation
                .store(next.generation, Ordering::SeqCst);
            return Ok(true);
        }
        Ok(false)
    }

    /// Before a plugin change: catch up with the other replicas (no-op on an unshared store).
    pub(super) fn plugin_change_begin(&self) -> Result<(), ServiceError> {
        if self.plugin_sync_on() {
            self.plugins_follow()?;
        }
        Ok(())
    }

    /// After a plugin change made here: publish it for the other replicas, or, if one of them
    /// changed the slots meanwhile, follow theirs and refuse this one (409).
    pub(super) fn plugin_change_end(&self) -> Result<(), ServiceError> {
        if !self.plugin_sync_on() || self.plugin_publish()? {
            return Ok(());
        }
        self.plugins_follow()?;
        Err(ServiceError::Conflict(
            "Another replica changed the plugin slots at the same time; this change was undone, \
             look at plugin-list and retry"
                .into(),
        ))
    }

    /// Applies the store's plugin state if another replica changed it, and publishes a
    /// quarantine that happened here. Whether anything changed on this host.
    pub fn plugins_follow(&self) -> Result<bool, ServiceError> {
        if !self.plugin_sync_on() {
            return Ok(false);
        }
        let Some(state) = self.store().plugin_slots()? else {
            // Nobody published yet: this replica's state (from its configuration) is the first.
            self.plugin_publish()?;
            return Ok(false);
        };
        let applied = self.inner.plugin_generation.load(Ordering::SeqCst);
        if state.generation == applied {
            let here: BTreeSet<String> = self.plugin_state_here(0).quarantined;
            if !here.is_subset(&state.quarantined) {
                self.plugin_publish()?;
            }
            return Ok(false);
        }
        self.plugin_apply(&state)?;
        self.inner
            .plugin_generation
            .store(state.generation, Ordering::SeqCst);
        Ok(true)
    }

    /// The loaded plugin with `digest`, loading it from the store if this host lacks it.
    fn plugin_ensure(&self, digest: &str, from: &str) -> Result<Arc<LoadedPlugin>, ServiceError> {
        if let Some(p) = self.plugins().by_digest(digest) {
            return Ok(p);
        }
        let bytes = self.store().plugin_component(digest)?.ok_or_else(|| {
            ServiceError::internal(&crate::plugins::PluginError::NotFound(format!(
                "component {digest} (published by replica {from}) is not in the store"
            )))
        })?;
        Ok(self
            .plugins()
            .load_bytes(&bytes, format!("replica:{from}"))?)
    }

    fn plugin_apply(&self, state: &PluginSlots) -> Result<(), ServiceError> {
        let from = state.changed_by.as_str();
        for digest in &state.library {
            self.plugin_ensure(digest, from)?;
        }
        let mut wanted: BTreeMap<SlotName, (Arc<LoadedPlugin>, Vec<Arc<LoadedPlugin>>)> =
            BTreeMap::new();
        for (slot, record) in &state.slots {
            let current = self.plugin_ensure(&record.current, from)?;
            let history = record
                .history
                .iter()
                .map(|d| self.plugin_ensure(d, from))
                .collect::<Result<Vec<_>, _>>()?;
            wanted.insert(SlotName::parse(slot)?, (current, history));
        }
        for (slot, (current, history)) in wanted {
            self.plugins().install(&slot, current, history)?;
        }
        let shadow_here = self.plugins().shadow().map(|(p, _)| p.digest.clone());
        if shadow_here != state.shadow {
            let shadow = match &state.shadow {
                Some(d) => Some(self.plugin_ensure(d, from)?),
                None => None,
            };
            self.plugins().set_shadow(shadow)?;
        }
        for p in self.plugins().library() {
            match (state.quarantined.contains(&p.digest), p.is_quarantined()) {
                (true, false) => p.quarantine(),
                (false, true) => p.release(),
                _ => {}
            }
        }
        Ok(())
    }
}
