//! Bridge and MAC-prefix pools (spec §15.2, `pool-create/list/show/modify/remove`): the values
//! network flavors such as `PHYSICAL_VLAN` (a bridge each) and `MAC_FILTERED` (a MAC prefix each)
//! draw from. Values are indexes into a base: bridges `prv1…prv<size>`, MAC prefixes
//! `base + index` as five hex digits, index 0 reserved for public networks and prefixes that are
//! not unicast and locally administered never handed out.
//!
//! Owns pool validation and the operator commands; the value arithmetic is on the record
//! (`ResourcePool::take`/`give_back`), used inside the network's own transaction.

use super::{ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{Batch, ResourcePool, mac_base};

pub use crate::store::{BRIDGE, MAC_PREFIX};

impl Services {
    pub fn pool_list(&self) -> Result<Vec<ResourcePool>, ServiceError> {
        Ok(self.store().pool_list()?)
    }

    /// The pool of one kind, if it exists.
    pub fn pool_of_kind(&self, kind: &str) -> Result<Option<ResourcePool>, ServiceError> {
        Ok(self.pool_list()?.into_iter().find(|p| p.kind == kind))
    }

    pub fn pool_show(&self, id: u64) -> Result<ResourcePool, ServiceError> {
        Ok(self.store().pool_get(id)?)
    }

    /// `pool-create --type bridge|mac-prefix --base B --size N`: one pool per kind.
    pub fn pool_create(
        &self,
        kind: &str,
        base: &str,
        size: u32,
    ) -> Result<ResourcePool, ServiceError> {
        if size == 0 || size > 1 << 20 {
            return Err(ServiceError::BadRequest(
                "Pool size must be between 1 and 1048576".into(),
            ));
        }
        let mut reserved = std::collections::BTreeSet::new();
        match kind {
            BRIDGE => {
                if base.is_empty()
                    || base.len() > 12
                    || !base
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(ServiceError::BadRequest(format!(
                        "Invalid bridge base '{base}': use up to 12 letters, digits, '-' or '_'"
                    )));
                }
            }
            MAC_PREFIX => {
                let Some(b) = mac_base(base) else {
                    return Err(ServiceError::BadRequest(format!(
                        "Invalid MAC prefix base '{base}': use five hex digits as aa:00:0"
                    )));
                };
                if u64::from(b) + u64::from(size) > 0x10_0000 {
                    return Err(ServiceError::BadRequest(format!(
                        "A pool of {size} prefixes from {base} runs past ff:ff:f"
                    )));
                }
                reserved.insert(0);
                for i in 1..size {
                    let first_octet = (b + i) >> 12;
                    // Unicast (bit 0 clear) and locally administered (bit 1 set) only.
                    if first_octet & 0x01 != 0 || first_octet & 0x02 == 0 {
                        reserved.insert(i);
                    }
                }
            }
            other => {
                return Err(ServiceError::BadRequest(format!(
                    "Unknown pool type '{other}': use bridge or mac-prefix"
                )));
            }
        }
        if self.pool_of_kind(kind)?.is_some() {
            return Err(ServiceError::Conflict(format!(
                "A {kind} pool already exists: remove it first"
            )));
        }
        let now = Timestamp::now();
        let pool = ResourcePool {
            id: self.store().generate_id()?,
            kind: kind.into(),
            base: base.into(),
            size,
            used: Default::default(),
            reserved,
            created: now,
            updated: now,
            generation: 1,
        };
        let mut batch = Batch::new();
        batch.insert(&pool);
        self.store().commit(&batch)?;
        Ok(self.store().pool_get(pool.id)?)
    }

    /// `pool-modify --add-reserved/--remove-reserved`: values operators keep out of use.
    pub fn pool_modify(
        &self,
        id: u64,
        add_reserved: &[String],
        remove_reserved: &[String],
    ) -> Result<ResourcePool, ServiceError> {
        let pool = self.store().pool_get(id)?;
        let mut after = pool.clone();
        for (values, add) in [(add_reserved, true), (remove_reserved, false)] {
            for v in values {
                let i = pool.index_of(v).ok_or_else(|| {
                    ServiceError::BadRequest(format!("'{v}' is not a value of pool {id}"))
                })?;
                if add && after.used.contains(&i) {
                    return Err(ServiceError::Conflict(format!("'{v}' is in use")));
                }
                if add {
                    after.reserved.insert(i);
                } else {
                    after.reserved.remove(&i);
                }
            }
        }
        let mut batch = Batch::new();
        batch.update(&after);
        self.store().commit(&batch)?;
        Ok(self.store().pool_get(id)?)
    }

    /// `pool-remove`: refused while any value is in use.
    pub fn pool_remove(&self, id: u64) -> Result<(), ServiceError> {
        let pool = self.store().pool_get(id)?;
        if !pool.used.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "Pool {id} has {} values in use by networks",
                pool.used.len()
            )));
        }
        let mut batch = Batch::new();
        batch.remove(&pool);
        self.store().commit(&batch)?;
        Ok(())
    }
}
