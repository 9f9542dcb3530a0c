//! Resource-first store methods for the compute service: volume types, flavors (unique per
//! cpu/ram/disk/volume type through `flavor_keys`), images and servers (with the
//! `servers_by_update` index that makes `changes-since` cost follow the changed servers).

use super::kv::{self, TxError};

use super::batch::update_key;
use super::{Deleted, Store, StoreError, decode, encode, get, scan, update_cas};
use crate::clock::Timestamp;
use crate::store::{Flavor, Image, Server, VolumeType};

fn flavor_key(cpu: u32, ram_mb: u64, disk_gb: u64, volume_type_id: u64) -> Vec<u8> {
    let mut key = cpu.to_be_bytes().to_vec();
    key.extend_from_slice(&ram_mb.to_be_bytes());
    key.extend_from_slice(&disk_gb.to_be_bytes());
    key.extend_from_slice(&volume_type_id.to_be_bytes());
    key
}

fn not_found(kind: &'static str, id: impl ToString) -> impl FnOnce(StoreError) -> StoreError {
    move |e| match e {
        StoreError::NotFound { .. } => StoreError::NotFound {
            kind,
            id: id.to_string(),
        },
        other => other,
    }
}

impl Store {
    // ----- volume types -----

    pub fn volume_type_insert(&self, vt: &VolumeType) -> Result<VolumeType, StoreError> {
        let record = VolumeType {
            id: self.generate_id()?,
            generation: 1,
            ..vt.clone()
        };
        self.trees
            .volume_types
            .insert(record.id.to_be_bytes(), encode(&record))?;
        Ok(record)
    }

    pub fn volume_type_get(&self, id: u64) -> Result<VolumeType, StoreError> {
        get(&self.trees.volume_types, "volume_types", &id.to_be_bytes())
            .map_err(not_found("volume type", id))
    }

    pub fn volume_type_list(&self, deleted: Deleted) -> Result<Vec<VolumeType>, StoreError> {
        let mut all: Vec<VolumeType> = scan(&self.trees.volume_types, "volume_types", b"")?;
        all.retain(|v| deleted.keeps(v.deleted));
        Ok(all)
    }

    pub fn volume_type_update(
        &self,
        id: u64,
        mut mutate: impl FnMut(&mut VolumeType) -> Result<(), StoreError>,
    ) -> Result<VolumeType, StoreError> {
        update_cas(
            &self.trees.volume_types,
            "volume_types",
            &id.to_be_bytes(),
            None,
            |v: &mut VolumeType| {
                mutate(v)?;
                v.updated = Timestamp::now();
                Ok(())
            },
        )
        .map_err(not_found("volume type", id))
    }

    // ----- flavors -----

    /// Inserts a flavor unless its (cpu, ram, disk, volume type) exists: then `AlreadyExists`
    /// names the existing flavor's id.
    pub fn flavor_insert(&self, flavor: &Flavor) -> Result<Flavor, StoreError> {
        let id = self.generate_id()?;
        let record = Flavor {
            id,
            generation: 1,
            ..flavor.clone()
        };
        let key = flavor_key(
            record.cpu,
            record.ram_mb,
            record.disk_gb,
            record.volume_type_id,
        );
        let encoded = encode(&record);
        kv::transact(&[&self.trees.flavors, &self.trees.flavor_keys], |t| {
            let (flavors, keys) = (&t[0], &t[1]);
            if let Some(existing) = keys.get(&key)? {
                let existing = u64::from_be_bytes(existing.as_slice().try_into().unwrap_or([0; 8]));
                return Err(TxError::Abort(StoreError::AlreadyExists {
                    kind: "flavor",
                    id: existing.to_string(),
                }));
            }
            flavors.insert(id.to_be_bytes(), encoded.as_slice())?;
            keys.insert(key.as_slice(), id.to_be_bytes())?;
            Ok(())
        })?;
        Ok(record)
    }

    /// The id of the flavor with these figures, if any (deleted ones included).
    pub fn flavor_find(
        &self,
        cpu: u32,
        ram_mb: u64,
        disk_gb: u64,
        volume_type_id: u64,
    ) -> Result<Option<Flavor>, StoreError> {
        match self
            .trees
            .flavor_keys
            .get(flavor_key(cpu, ram_mb, disk_gb, volume_type_id))?
        {
            Some(raw) => {
                let id = u64::from_be_bytes(raw.as_slice().try_into().unwrap_or([0; 8]));
                self.flavor_get(id).map(Some)
            }
            None => Ok(None),
        }
    }

    pub fn flavor_get(&self, id: u64) -> Result<Flavor, StoreError> {
        get(&self.trees.flavors, "flavors", &id.to_be_bytes()).map_err(not_found("flavor", id))
    }

    pub fn flavor_list(&self, deleted: Deleted) -> Result<Vec<Flavor>, StoreError> {
        let mut all: Vec<Flavor> = scan(&self.trees.flavors, "flavors", b"")?;
        all.retain(|f| deleted.keeps(f.deleted));
        Ok(all)
    }

    pub fn flavor_update(
        &self,
        id: u64,
        mut mutate: impl FnMut(&mut Flavor) -> Result<(), StoreError>,
    ) -> Result<Flavor, StoreError> {
        update_cas(
            &self.trees.flavors,
            "flavors",
            &id.to_be_bytes(),
            None,
            |f: &mut Flavor| {
                let (cpu, ram, disk, vt) = (f.cpu, f.ram_mb, f.disk_gb, f.volume_type_id);
                mutate(f)?;
                // The figures are the flavor's identity: they never change.
                (f.cpu, f.ram_mb, f.disk_gb, f.volume_type_id) = (cpu, ram, disk, vt);
                f.updated = Timestamp::now();
                Ok(())
            },
        )
        .map_err(not_found("flavor", id))
    }

    // ----- images -----

    pub fn image_insert(&self, image: &Image) -> Result<Image, StoreError> {
        let record = Image {
            generation: 1,
            ..image.clone()
        };
        let done = self.trees.images.compare_and_swap(
            record.id.as_bytes(),
            None,
            Some(&encode(&record)),
        )?;
        if done.is_err() {
            return Err(StoreError::AlreadyExists {
                kind: "image",
                id: record.id.clone(),
            });
        }
        Ok(record)
    }

    pub fn image_get(&self, id: &str) -> Result<Image, StoreError> {
        get(&self.trees.images, "images", id.as_bytes())
    }

    pub fn image_list(&self, deleted: Deleted) -> Result<Vec<Image>, StoreError> {
        let mut all: Vec<Image> = scan(&self.trees.images, "images", b"")?;
        all.retain(|i| deleted.keeps(i.deleted));
        Ok(all)
    }

    pub fn image_update(
        &self,
        id: &str,
        mut mutate: impl FnMut(&mut Image) -> Result<(), StoreError>,
    ) -> Result<Image, StoreError> {
        update_cas(
            &self.trees.images,
            "images",
            id.as_bytes(),
            None,
            |i: &mut Image| {
                mutate(i)?;
                i.updated = Timestamp::now();
                Ok(())
            },
        )
    }

    // ----- servers -----

    pub fn server_get(&self, id: u64) -> Result<Server, StoreError> {
        get(&self.trees.servers, "servers", &id.to_be_bytes()).map_err(not_found("server", id))
    }

    pub fn server_list(&self, deleted: Deleted) -> Result<Vec<Server>, StoreError> {
        let mut all: Vec<Server> = scan(&self.trees.servers, "servers", b"")?;
        all.retain(|s| deleted.keeps(s.deleted));
        Ok(all)
    }

    /// `(id, generation)` of every server record, in id order, read from the tail of each
    /// stored record without decoding it (`generation` is the last field of `Server`, so its
    /// JSON ends `"generation":<n>}`); a record that does not end so is decoded instead. Lets
    /// readers keep caches keyed by generation (the compute API's rendered documents).
    pub fn server_generations(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut out = Vec::new();
        for (key, raw) in self.trees.servers.iter()? {
            let id = u64::from_be_bytes(key.as_slice().try_into().unwrap_or([0; 8]));
            let generation = match trailing_generation(&raw) {
                Some(g) => g,
                None => decode::<Server>("servers", &raw)?.generation,
            };
            out.push((id, generation));
        }
        Ok(out)
    }

    /// Servers updated at or after `since` (deleted ones included), through the update index:
    /// the cost follows the number of changed servers, not the total.
    pub fn server_list_changed_since(&self, since: Timestamp) -> Result<Vec<Server>, StoreError> {
        let mut out = Vec::new();
        for (key, _) in self
            .trees
            .servers_by_update
            .range_from(update_key(since, 0))?
        {
            let id = u64::from_be_bytes(key[8..16].try_into().unwrap_or([0; 8]));
            if let Some(raw) = self.trees.servers.get(id.to_be_bytes())? {
                out.push(decode("servers", &raw)?);
            }
        }
        out.sort_by_key(|s: &Server| s.id);
        Ok(out)
    }

    /// Applies `mutate` to a server with compare-and-swap (retrying on concurrent writers),
    /// keeping the update index in step.
    pub fn server_update(
        &self,
        id: u64,
        mut mutate: impl FnMut(&mut Server) -> Result<(), StoreError>,
    ) -> Result<Server, StoreError> {
        loop {
            let before = self.server_get(id)?;
            let mut after = before.clone();
            mutate(&mut after)?;
            let mut batch = super::Batch::new();
            batch.update_server(&before, &after);
            match self.commit(&batch) {
                Ok(()) => return self.server_get(id),
                Err(StoreError::GenerationMismatch { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The value of a record's trailing `"generation":<n>}`, if the JSON ends that way.
fn trailing_generation(raw: &[u8]) -> Option<u64> {
    const FIELD: &[u8] = b"\"generation\":";
    let body = raw.strip_suffix(b"}")?;
    let digits_start = body.iter().rposition(|b| !b.is_ascii_digit())? + 1;
    let digits = &body[digits_start..];
    if digits.is_empty() || !body[..digits_start].ends_with(FIELD) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod generation_tests {
    use super::*;

    #[test]
    fn trailing_generation_reads_only_a_final_generation_field() {
        assert_eq!(
            trailing_generation(br#"{"id":1,"generation":42}"#),
            Some(42)
        );
        assert_eq!(trailing_generation(br#"{"generation":7}"#), Some(7));
        assert_eq!(trailing_generation(br#"{"generation":7,"id":1}"#), None);
        assert_eq!(trailing_generation(br#"{"name":"\"generation\":5"}"#), None);
        assert_eq!(trailing_generation(br#"{"generation":}"#), None);
        assert_eq!(trailing_generation(b""), None);
    }

    /// `server_generations` relies on `generation` being serialized last: this fails if a
    /// field is added after it (the fallback would still be right, only slower).
    #[test]
    fn a_stored_server_ends_with_its_generation() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("store");
        let server: Server = serde_json::from_value(serde_json::json!({
            "id": 9, "name": "n", "user_id": "u", "project_id": "p", "flavor_id": 1,
            "image_id": "i", "key_names": [], "metadata": {}, "backend_id": null,
            "operstate": "BUILD", "action": "CREATE", "task": null, "active_job": null,
            "backend_job_id": null, "backend_opcode": null, "backend_job_status": null,
            "backend_log_msg": null, "suspended": false, "quota_charged": false,
            "diagnostics": [], "created": 0,
            "updated": 0, "deleted": false, "generation": 0
        }))
        .expect("server");
        let raw = encode(&Server {
            generation: 123,
            ..server.clone()
        });
        assert_eq!(trailing_generation(&raw), Some(123));
        let mut batch = super::super::Batch::new();
        batch.insert_server(&server);
        store.commit(&batch).expect("insert");
        let stored = store.server_get(9).expect("get");
        assert_eq!(
            store.server_generations().expect("scan"),
            vec![(9, stored.generation)]
        );
    }
}
