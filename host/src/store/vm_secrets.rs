//! Sealed short-lived secrets every replica can serve: the one-time VM configuration behind
//! `/vmapi/v1.0/server-params/<key>` and the admin password behind `GET /servers/<id>/password`.
//!
//! The store only keeps what the service hands it: an opaque key (a digest, never the URL's
//! key) and a value sealed under the deployment secret, with an expiry. It never sees clear
//! text and knows nothing of what is sealed.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, decode, encode};
use crate::clock::Timestamp;

/// One sealed secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// `Sealer::seal` output.
    pub sealed: String,
    /// After this it is gone (never served, removed by the purge).
    pub expires: Timestamp,
}

impl Store {
    pub fn sealed_secret_put(&self, key: &str, secret: &SealedSecret) -> Result<(), StoreError> {
        self.trees.vm_secrets.insert(key.as_bytes(), encode(secret))
    }

    /// The secret at `key` if it has not expired.
    pub fn sealed_secret_get(&self, key: &str) -> Result<Option<SealedSecret>, StoreError> {
        let Some(raw) = self.trees.vm_secrets.get(key.as_bytes())? else {
            return Ok(None);
        };
        let secret: SealedSecret = decode("vm_secrets", &raw)?;
        Ok((secret.expires > Timestamp::now()).then_some(secret))
    }

    /// Removes and returns the secret at `key`, atomically: of two replicas taking it at once,
    /// exactly one gets it. Expired secrets are removed and not returned.
    pub fn sealed_secret_take(&self, key: &str) -> Result<Option<SealedSecret>, StoreError> {
        let Some(raw) = self.trees.vm_secrets.get(key.as_bytes())? else {
            return Ok(None);
        };
        if self
            .trees
            .vm_secrets
            .compare_and_swap(key.as_bytes(), Some(&raw), None)?
            .is_err()
        {
            return Ok(None); // another reader took it first
        }
        let secret: SealedSecret = decode("vm_secrets", &raw)?;
        Ok((secret.expires > Timestamp::now()).then_some(secret))
    }

    pub fn sealed_secret_remove(&self, key: &str) -> Result<(), StoreError> {
        self.trees.vm_secrets.remove(key.as_bytes())?;
        Ok(())
    }

    /// Removes every expired secret; how many.
    pub fn sealed_secrets_purge(&self) -> Result<usize, StoreError> {
        let now = Timestamp::now();
        let mut removed = 0;
        for (key, raw) in self.trees.vm_secrets.iter()? {
            let secret: SealedSecret = decode("vm_secrets", &raw)?;
            if secret.expires <= now
                && self
                    .trees
                    .vm_secrets
                    .compare_and_swap(&key, Some(&raw), None)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
