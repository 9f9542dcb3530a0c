//! Rescue (spec §2.4, §10.2): booting a stopped server from a rescue CD-ROM image, and the
//! operators' registry of rescue images (`rescue-image-*`).
//!
//! Which image: the one the user names (`rescue_image_ref`), else one whose target OS family
//! and OS match the server's image properties (`OSFAMILY`, `OS`), else one matching the family
//! alone, else the default. The choice and the CD-ROM path are recorded in the job's params, so
//! a resumed job boots what was chosen. Owns the registry rules and the choice; the Ganeti
//! calls are the `server.rescue`/`server.unrescue` jobs'.

use super::{ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::{RescueImage, Server, StoreError};

/// What `rescue-image-create` gives.
#[derive(Clone, Debug, Default)]
pub struct NewRescueImage {
    pub name: Option<String>,
    pub location: String,
    /// `file` or `http`; guessed from the location when absent.
    pub location_type: Option<String>,
    pub os_family: Option<String>,
    pub os: Option<String>,
    pub target_os_family: Option<String>,
    pub target_os: Option<String>,
    pub default: bool,
}

/// What `rescue-image-modify` changes.
#[derive(Clone, Debug, Default)]
pub struct RescueImageChanges {
    pub name: Option<String>,
    pub location: Option<String>,
    pub location_type: Option<String>,
    pub os_family: Option<String>,
    pub os: Option<String>,
    pub target_os_family: Option<String>,
    pub target_os: Option<String>,
    pub default: Option<bool>,
    pub deleted: Option<bool>,
}

fn location_type(location: &str, given: Option<&str>) -> Result<String, ServiceError> {
    match given {
        Some(t @ ("file" | "http")) => Ok(t.to_string()),
        Some(other) => Err(ServiceError::BadRequest(format!(
            "Invalid location type '{other}': use file or http"
        ))),
        None if location.starts_with("http://") || location.starts_with("https://") => {
            Ok("http".into())
        }
        None => Ok("file".into()),
    }
}

impl Services {
    pub fn rescue_image_create(&self, new: &NewRescueImage) -> Result<RescueImage, ServiceError> {
        let location = new.location.trim();
        if location.is_empty() {
            return Err(ServiceError::BadRequest("Location is required".into()));
        }
        if new.default && self.default_rescue_image()?.is_some() {
            return Err(ServiceError::Conflict(
                "There is already a default rescue image; modify it first".into(),
            ));
        }
        let now = Timestamp::now();
        let image = RescueImage {
            id: 0,
            name: new
                .name
                .clone()
                .unwrap_or_else(|| format!("rescue-image-{}", uuid::Uuid::new_v4())),
            location: location.to_string(),
            location_type: location_type(location, new.location_type.as_deref())?,
            os_family: new.os_family.clone(),
            os: new.os.clone(),
            target_os_family: new.target_os_family.clone(),
            target_os: new.target_os.clone(),
            is_default: new.default,
            deleted: false,
            created: now,
            updated: now,
            generation: 0,
        };
        Ok(self.store().rescue_image_insert(&image)?)
    }

    pub fn rescue_image_list(&self, deleted: bool) -> Result<Vec<RescueImage>, ServiceError> {
        let mut all = self.store().rescue_image_list()?;
        all.retain(|i| deleted || !i.deleted);
        Ok(all)
    }

    pub fn rescue_image_get(&self, id: &str) -> Result<RescueImage, ServiceError> {
        let n: u64 = id
            .parse()
            .map_err(|_| ServiceError::BadRequest(format!("Invalid rescue image id '{id}'")))?;
        match self.store().rescue_image_get(n) {
            Err(StoreError::NotFound { .. }) => Err(ServiceError::ItemNotFound(format!(
                "Rescue image {id} not found"
            ))),
            other => Ok(other?),
        }
    }

    /// Changes a rescue image. Making one the default unmarks the previous default; the
    /// default cannot be unmarked directly (mark another one instead), as Synnefo.
    pub fn rescue_image_modify(
        &self,
        id: &str,
        changes: &RescueImageChanges,
    ) -> Result<RescueImage, ServiceError> {
        let image = self.rescue_image_get(id)?;
        if changes.default == Some(false) && image.is_default {
            return Err(ServiceError::BadRequest(format!(
                "Rescue image {id} is the default and cannot be unmarked: make another one the default"
            )));
        }
        if changes.deleted == Some(true) && image.is_default && changes.default != Some(false) {
            return Err(ServiceError::BadRequest(format!(
                "Rescue image {id} is the default: make another one the default before deleting it"
            )));
        }
        let new_type = match (&changes.location, &changes.location_type) {
            (None, None) => None,
            (location, given) => Some(location_type(
                location.as_deref().unwrap_or(&image.location),
                given.as_deref(),
            )?),
        };
        if changes.default == Some(true)
            && let Some(previous) = self.default_rescue_image()?
            && previous.id != image.id
        {
            self.store().rescue_image_update(previous.id, |r| {
                r.is_default = false;
                r.updated = Timestamp::now();
                Ok(())
            })?;
        }
        Ok(self.store().rescue_image_update(image.id, |r| {
            let set = |field: &mut Option<String>, value: &Option<String>| {
                if let Some(v) = value {
                    *field = (!v.is_empty()).then(|| v.clone());
                }
            };
            if let Some(name) = &changes.name {
                r.name = name.clone();
            }
            if let Some(location) = &changes.location {
                r.location = location.clone();
            }
            if let Some(t) = &new_type {
                r.location_type = t.clone();
            }
            set(&mut r.os_family, &changes.os_family);
            set(&mut r.os, &changes.os);
            set(&mut r.target_os_family, &changes.target_os_family);
            set(&mut r.target_os, &changes.target_os);
            if let Some(d) = changes.default {
                r.is_default = d;
            }
            if let Some(d) = changes.deleted {
                r.deleted = d;
            }
            r.updated = Timestamp::now();
            Ok(())
        })?)
    }

    fn default_rescue_image(&self) -> Result<Option<RescueImage>, ServiceError> {
        Ok(self
            .store()
            .rescue_image_list()?
            .into_iter()
            .find(|i| i.is_default && !i.deleted))
    }

    /// The rescue image for `server` and the CD-ROM path Ganeti gets (spec §2.4 selection).
    pub(super) fn rescue_choice(
        &self,
        server: &Server,
        image_ref: Option<&str>,
    ) -> Result<(RescueImage, String), ServiceError> {
        let images = self.rescue_image_list(false)?;
        let chosen = match image_ref {
            Some(r) => images
                .iter()
                .find(|i| i.id.to_string() == r)
                .cloned()
                .ok_or_else(|| ServiceError::BadRequest(format!("Rescue image {r} not found")))?,
            None => {
                let props = self
                    .store()
                    .image_get(&server.image_id)
                    .map(|i| i.properties)
                    .unwrap_or_default();
                let family = props.get("OSFAMILY").map(|s| s.to_lowercase());
                let os = props.get("OS").map(|s| s.to_lowercase());
                let lower = |v: &Option<String>| v.as_ref().map(|s| s.to_lowercase());
                images
                    .iter()
                    .find(|i| {
                        family.is_some()
                            && lower(&i.target_os_family) == family
                            && os.is_some()
                            && lower(&i.target_os) == os
                    })
                    .or_else(|| {
                        images.iter().find(|i| {
                            family.is_some()
                                && lower(&i.target_os_family) == family
                                && i.target_os.is_none()
                        })
                    })
                    .or_else(|| images.iter().find(|i| i.is_default))
                    .cloned()
                    .ok_or_else(|| {
                        ServiceError::BadRequest(
                            "No rescue image suits this server and there is no default".into(),
                        )
                    })?
            }
        };
        let path = match chosen.location_type.as_str() {
            "http" => chosen.location.clone(),
            _ => format!(
                "{}/{}",
                self.config().rescue.image_path.trim_end_matches('/'),
                chosen.location.trim_start_matches('/')
            ),
        };
        Ok((chosen, path))
    }

    /// The feature switch and the rescue-specific state rule (STOPPED is checked with the
    /// other actions').
    pub(super) fn rescue_allowed(&self, server: &Server, rescue: bool) -> Result<(), ServiceError> {
        if !self.config().rescue.enabled {
            return Err(ServiceError::ItemNotFound(
                "Rescue is not enabled on this cloud".into(),
            ));
        }
        match (rescue, server.rescue) {
            (true, true) => Err(ServiceError::Conflict(
                "Server is already in rescue mode".into(),
            )),
            (false, false) => Err(ServiceError::Conflict(
                "Server is not in rescue mode".into(),
            )),
            _ => Ok(()),
        }
    }
}
