//! The image registry (Plankton's behaviour, spec §4): images are metadata pointing at a
//! location; visibility is owner, public, or shared with the caller's projects. Three API views
//! (Plankton v1.0, compute `/images`, Glance v2) render the same records.

use std::collections::BTreeMap;

use super::{Credentials, Deleted, ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{Image, StoreError};

/// Plankton's disk formats (snf-image `img_format`).
pub const DISK_FORMATS: &[&str] = &["diskdump", "extdump", "ntfsdump"];

/// What registering an image needs.
#[derive(Clone, Debug, Default)]
pub struct NewImage {
    pub name: String,
    pub location: String,
    pub owner: String,
    pub public: bool,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size: u64,
    pub checksum: Option<String>,
    pub properties: BTreeMap<String, String>,
}

/// Changes to an image; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct ImageChanges {
    pub name: Option<String>,
    pub public: Option<bool>,
    /// Properties to set (merge).
    pub set_properties: BTreeMap<String, String>,
    /// Properties to remove.
    pub remove_properties: Vec<String>,
    /// Replace all properties with `set_properties`.
    pub replace_properties: bool,
}

fn check_property(key: &str, value: &str) -> Result<(), ServiceError> {
    if key.is_empty() || key.len() > 128 || value.len() > 1024 {
        return Err(ServiceError::BadRequest(format!(
            "Invalid image property '{key}': keys are 1-128 characters, values up to 1024"
        )));
    }
    Ok(())
}

impl Services {
    pub fn image_register(&self, new: &NewImage) -> Result<Image, ServiceError> {
        if new.name.trim().is_empty() || new.name.len() > 255 {
            return Err(ServiceError::BadRequest(
                "Image name must be 1 to 255 characters".into(),
            ));
        }
        if new.location.trim().is_empty() || !new.location.contains("://") {
            return Err(ServiceError::BadRequest(format!(
                "Invalid image location '{}': use a URL such as pithos://<user>/<container>/<object>",
                new.location
            )));
        }
        let disk_format = new.disk_format.clone().unwrap_or_else(|| "diskdump".into());
        if !DISK_FORMATS.contains(&disk_format.as_str()) {
            return Err(ServiceError::BadRequest(format!(
                "Invalid disk format '{disk_format}': use one of {}",
                DISK_FORMATS.join(", ")
            )));
        }
        let container_format = new
            .container_format
            .clone()
            .unwrap_or_else(|| "bare".into());
        if container_format != "bare" {
            return Err(ServiceError::BadRequest(format!(
                "Invalid container format '{container_format}': only bare is supported"
            )));
        }
        for (k, v) in &new.properties {
            check_property(k, v)?;
        }
        let now = Timestamp::now();
        Ok(self.store().image_insert(&Image {
            id: uuid::Uuid::new_v4().to_string(),
            name: new.name.clone(),
            owner: new.owner.clone(),
            location: new.location.clone(),
            status: "available".into(),
            disk_format,
            container_format,
            size: new.size,
            checksum: new.checksum.clone().unwrap_or_default(),
            is_public: new.public,
            is_snapshot: false,
            members: Vec::new(),
            properties: new.properties.clone(),
            created: now,
            updated: now,
            deleted: false,
            generation: 0,
        })?)
    }

    /// Every image (operators).
    pub fn image_list(&self, deleted: Deleted) -> Result<Vec<Image>, ServiceError> {
        Ok(self.store().image_list(deleted)?)
    }

    /// An image by id (operators; deleted included).
    pub fn image_show(&self, id: &str) -> Result<Image, ServiceError> {
        match self.store().image_get(id) {
            Err(StoreError::NotFound { .. }) => {
                Err(ServiceError::ItemNotFound(format!("Image {id} not found")))
            }
            other => Ok(other?),
        }
    }

    fn image_visible(caller: &Credentials, image: &Image) -> bool {
        image.is_public
            || image.owner == caller.user_id
            || image.members.iter().any(|p| caller.is_member_of(p))
    }

    /// Images a user sees: own, shared with their projects, public. Sorted by id.
    pub fn images_for(&self, caller: &Credentials) -> Result<Vec<Image>, ServiceError> {
        let mut all = self.store().image_list(Deleted::Exclude)?;
        all.retain(|i| Self::image_visible(caller, i));
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// Images `caller` sees changed at or after `since`, deleted ones included
    /// (`changes-since` in the compute view).
    pub fn images_changed_since(
        &self,
        caller: &Credentials,
        since: crate::clock::Timestamp,
    ) -> Result<Vec<Image>, ServiceError> {
        let mut all = self.store().image_list(Deleted::Include)?;
        all.retain(|i| i.updated >= since && Self::image_visible(caller, i));
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    /// One image as a user sees it (404 otherwise, never 403).
    pub fn image_for(&self, caller: &Credentials, id: &str) -> Result<Image, ServiceError> {
        match self.store().image_get(id) {
            Ok(i) if !i.deleted && Self::image_visible(caller, &i) => Ok(i),
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                Err(ServiceError::ItemNotFound(format!("Image {id} not found")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Updates an image the caller owns (admins may update any).
    pub fn image_update(
        &self,
        caller: &Credentials,
        id: &str,
        changes: &ImageChanges,
    ) -> Result<Image, ServiceError> {
        let image = self.image_for(caller, id)?;
        if image.owner != caller.user_id && !caller.is_admin {
            return Err(ServiceError::Forbidden(format!(
                "Image {id} belongs to another user"
            )));
        }
        if let Some(name) = &changes.name
            && (name.trim().is_empty() || name.len() > 255)
        {
            return Err(ServiceError::BadRequest(
                "Image name must be 1 to 255 characters".into(),
            ));
        }
        for (k, v) in &changes.set_properties {
            check_property(k, v)?;
        }
        Ok(self.store().image_update(&image.id, |i| {
            if let Some(n) = &changes.name {
                i.name = n.clone();
            }
            if let Some(p) = changes.public {
                i.is_public = p;
            }
            if changes.replace_properties {
                i.properties.clear();
            }
            for k in &changes.remove_properties {
                i.properties.remove(k);
            }
            i.properties.extend(changes.set_properties.clone());
            Ok(())
        })?)
    }

    /// Unregisters an image the caller owns (the data at its location is untouched).
    pub fn image_unregister(&self, caller: &Credentials, id: &str) -> Result<(), ServiceError> {
        let image = self.image_for(caller, id)?;
        if image.owner != caller.user_id && !caller.is_admin {
            return Err(ServiceError::Forbidden(format!(
                "Image {id} belongs to another user"
            )));
        }
        self.store().image_update(&image.id, |i| {
            i.deleted = true;
            i.status = "deleted".into();
            Ok(())
        })?;
        Ok(())
    }

    /// Shares (or stops sharing) an image with a project.
    pub fn image_member(
        &self,
        caller: &Credentials,
        id: &str,
        project: &str,
        add: bool,
    ) -> Result<Image, ServiceError> {
        let image = self.image_for(caller, id)?;
        if image.owner != caller.user_id && !caller.is_admin {
            return Err(ServiceError::Forbidden(format!(
                "Image {id} belongs to another user"
            )));
        }
        let project = self.project_lookup(project)?;
        Ok(self.store().image_update(&image.id, |i| {
            i.members.retain(|m| *m != project.id);
            if add {
                i.members.push(project.id.clone());
            }
            Ok(())
        })?)
    }
}
