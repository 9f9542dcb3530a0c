//! The image registry (Plankton's behaviour, spec §4): images are metadata pointing at a
//! location; visibility is owner, public, or shared with the caller's projects. Three API views
//! (Plankton v1.0, compute `/images`, Glance v2) render the same records.

use std::collections::BTreeMap;

use super::{Credentials, Deleted, ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{Image, StoreError};

/// Plankton's disk formats (snf-image `img_format`).
pub const DISK_FORMATS: &[&str] = &["diskdump", "extdump", "ntfsdump"];

/// Plankton's container formats (spec §4; `bare` is the default).
pub const CONTAINER_FORMATS: &[&str] = &["aki", "ari", "ami", "bare", "ovf"];

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
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    /// A new owner (a user id or name; administrators only).
    pub owner: Option<String>,
    /// A new status: one of [`SETTABLE_STATUSES`], any case.
    pub status: Option<String>,
    /// Properties to set, merged into the existing ones.
    pub set_properties: BTreeMap<String, String>,
    /// Properties to remove.
    pub remove_properties: Vec<String>,
}

/// The statuses an image update may set (Plankton's AVAILABLE/SAVING/ERROR, stored lower case).
pub const SETTABLE_STATUSES: &[&str] = &["available", "saving", "error"];

/// 400 unless `value` is one of `allowed` (`what`: "disk format", "container format").
fn check_format(what: &str, value: &str, allowed: &[&str]) -> Result<(), ServiceError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(ServiceError::BadRequest(format!(
        "Invalid {what} '{value}': use one of {}",
        allowed.join(", ")
    )))
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
        check_format("disk format", &disk_format, DISK_FORMATS)?;
        let container_format = new
            .container_format
            .clone()
            .unwrap_or_else(|| "bare".into());
        check_format("container format", &container_format, CONTAINER_FORMATS)?;
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

    /// One image as a user sees it (404 otherwise, never 403); an administrator finds any.
    pub fn image_for(&self, caller: &Credentials, id: &str) -> Result<Image, ServiceError> {
        match self.store().image_get(id) {
            Ok(i) if !i.deleted && (caller.is_admin || Self::image_visible(caller, &i)) => Ok(i),
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
        if let Some(f) = &changes.disk_format {
            check_format("disk format", f, DISK_FORMATS)?;
        }
        if let Some(f) = &changes.container_format {
            check_format("container format", f, CONTAINER_FORMATS)?;
        }
        for (k, v) in &changes.set_properties {
            check_property(k, v)?;
        }
        let status = match &changes.status {
            Some(s) => {
                let lower = s.to_ascii_lowercase();
                check_format("status", &lower, SETTABLE_STATUSES)?;
                Some(lower)
            }
            None => None,
        };
        let owner = match &changes.owner {
            Some(_) if !caller.is_admin => {
                return Err(ServiceError::Forbidden(
                    "Only an administrator can change an image's owner".into(),
                ));
            }
            Some(o) => Some(
                self.user_show(o)
                    .map_err(|_| ServiceError::BadRequest(format!("Unknown owner '{o}'")))?
                    .id,
            ),
            None => None,
        };
        Ok(self.store().image_update(&image.id, |i| {
            if let Some(o) = &owner {
                i.owner = o.clone();
            }
            if let Some(s) = &status {
                i.status = s.clone();
            }
            if let Some(n) = &changes.name {
                i.name = n.clone();
            }
            if let Some(p) = changes.public {
                i.is_public = p;
            }
            if let Some(f) = &changes.disk_format {
                i.disk_format = f.clone();
            }
            if let Some(f) = &changes.container_format {
                i.container_format = f.clone();
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

    /// Replaces the projects an image is shared with (Plankton's `PUT /images/<id>/members`).
    /// Every project must exist; nothing changes if one does not.
    pub fn image_members_replace(
        &self,
        caller: &Credentials,
        id: &str,
        projects: &[String],
    ) -> Result<Image, ServiceError> {
        let image = self.image_for(caller, id)?;
        if image.owner != caller.user_id && !caller.is_admin {
            return Err(ServiceError::Forbidden(format!(
                "Image {id} belongs to another user"
            )));
        }
        let mut members = Vec::new();
        for p in projects {
            let project = self.project_lookup(p)?;
            if !members.contains(&project.id) {
                members.push(project.id);
            }
        }
        Ok(self.store().image_update(&image.id, |i| {
            i.members = members.clone();
            Ok(())
        })?)
    }

    /// Images owned by `owner` that the caller sees through sharing, not because they are
    /// public (Plankton's `GET /shared-images/<member>`). Sorted by id.
    pub fn images_shared_by(
        &self,
        caller: &Credentials,
        owner: &str,
    ) -> Result<Vec<Image>, ServiceError> {
        let mut images = self.images_for(caller)?;
        images.retain(|i| i.owner == owner && !i.is_public);
        Ok(images)
    }
}
