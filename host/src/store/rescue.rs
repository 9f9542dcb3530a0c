//! Resource-first store methods for rescue images, keyed by id (soft delete).

use super::{Store, StoreError, encode, get, scan, update_cas};
use crate::store::RescueImage;

impl Store {
    /// Inserts a new rescue image with a fresh id (the service keeps one default).
    pub fn rescue_image_insert(&self, image: &RescueImage) -> Result<RescueImage, StoreError> {
        let record = RescueImage {
            id: self.generate_id()?,
            generation: 1,
            ..image.clone()
        };
        self.trees
            .rescue_images
            .insert(record.id.to_be_bytes(), encode(&record))?;
        Ok(record)
    }

    pub fn rescue_image_get(&self, id: u64) -> Result<RescueImage, StoreError> {
        get(
            &self.trees.rescue_images,
            "rescue_images",
            &id.to_be_bytes(),
        )
        .map_err(|e| match e {
            StoreError::NotFound { kind, .. } => StoreError::NotFound {
                kind,
                id: id.to_string(),
            },
            other => other,
        })
    }

    /// Every rescue image, deleted ones included, in id order.
    pub fn rescue_image_list(&self) -> Result<Vec<RescueImage>, StoreError> {
        scan(&self.trees.rescue_images, "rescue_images", b"")
    }

    /// Applies `mutate` with compare-and-swap (retried on concurrent writers).
    pub fn rescue_image_update(
        &self,
        id: u64,
        mutate: impl FnMut(&mut RescueImage) -> Result<(), StoreError>,
    ) -> Result<RescueImage, StoreError> {
        update_cas(
            &self.trees.rescue_images,
            "rescue_images",
            &id.to_be_bytes(),
            None,
            mutate,
        )
    }
}
