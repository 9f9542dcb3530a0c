//! The block storage service (spec §5, §9.5, Synnefo's `volume/volumes.py` and
//! `logic/server_attachments.py`): volumes with or without a server, their metadata,
//! attachment, detachment, deletion and reassignment, and the volume types users see.
//!
//! Rules are checked here; changes to Ganeti go through the volume jobs (`jobs::volume_ops`)
//! under the server's task lock. A volume without a server exists only in the store (it is
//! charged to `cyclades.disk` at once, as Synnefo does); a detachable template is required for
//! that. Root volumes (index 0) are created with their server and charged with it.

use std::collections::BTreeMap;

use super::{Credentials, ServiceError, Services};
use crate::clock::Timestamp;
use crate::jobs::{ExtraVolume, VOLUME_ATTACH, VolumeJobParams};
use crate::resources::GIB;
use crate::store::{Batch, Deleted, Server, StoreError, Volume, VolumeType};

/// A validated create request (the API layer has checked JSON types).
#[derive(Clone, Debug, Default)]
pub struct NewVolume {
    pub name: String,
    pub size_gb: u64,
    pub volume_type: Option<String>,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    pub source_volid: Option<String>,
    pub snapshot_id: Option<String>,
    pub image_ref: Option<String>,
    pub server_id: Option<String>,
    pub project: Option<String>,
    pub shared_to_project: bool,
    /// Without a server and a `volume_type`, use the first detachable type (Cinder's default
    /// volume type) instead of refusing, as Synnefo does.
    pub default_type: bool,
}

/// A volume a create request asks for besides the root volume (`block_device_mapping_v2`).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestedVolume {
    /// `blank` or `image` (`volume` and `snapshot` sources are refused by the API).
    pub source_type: String,
    /// The image id of an `image` source.
    pub uuid: Option<String>,
    pub size_gb: Option<u64>,
    /// Deleted with the server (else detached and kept; detachable templates only).
    pub delete_on_termination: bool,
}

/// A volume type as users see it.
#[derive(Clone, Debug, PartialEq)]
pub struct VolumeTypeView {
    pub volume_type: VolumeType,
    /// Its volumes can exist without a server (the disk template's `detachable` capability).
    pub detachable: bool,
}

/// Whether `caller` sees volume `v` (owner, or members once shared with its project).
pub fn volume_visible(caller: &Credentials, v: &Volume) -> bool {
    caller.can_see(&v.user_id, &v.project_id, v.shared_to_project)
}

fn check_text(what: &str, text: &str) -> Result<(), ServiceError> {
    if text.chars().count() > 255 {
        return Err(ServiceError::BadRequest(format!(
            "Volume {what} is too long"
        )));
    }
    Ok(())
}

impl Services {
    fn check_volume_metadata(
        &self,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), ServiceError> {
        let max = self.config().volumes.max_metadata;
        if metadata.len() > max {
            return Err(ServiceError::BadRequest(format!(
                "Volumes cannot have more than {max} metadata items"
            )));
        }
        for (k, v) in metadata {
            if k.is_empty() || k.chars().count() > 64 {
                return Err(ServiceError::BadRequest(format!(
                    "Metadata key '{k}' must be 1 to 64 characters"
                )));
            }
            if v.chars().count() > 255 {
                return Err(ServiceError::BadRequest(format!(
                    "Metadata value of '{k}' is longer than 255 characters"
                )));
            }
        }
        Ok(())
    }

    /// What the loaded disk-template plugin of `template` says it can do (`None` without one).
    pub(super) fn template_capabilities(
        &self,
        template: &str,
    ) -> Option<crate::plugins::TemplateCapabilities> {
        self.plugins()
            .disk_template(template)
            .ok()
            .and_then(|d| d.disk_capabilities().cloned())
    }

    /// Whether volumes of disk template `template` can exist without a server.
    pub(super) fn detachable(&self, template: &str) -> bool {
        self.template_capabilities(template)
            .is_some_and(|c| c.detachable)
    }

    pub(super) fn assert_detachable(
        &self,
        vt_name: &str,
        template: &str,
    ) -> Result<(), ServiceError> {
        if self.detachable(template) {
            Ok(())
        } else {
            Err(ServiceError::BadRequest(format!(
                "Volume type '{vt_name}' is not detachable"
            )))
        }
    }

    /// Live volume types, with whether they are detachable (`GET /types`).
    pub fn volume_types_view(&self) -> Result<Vec<VolumeTypeView>, ServiceError> {
        Ok(self
            .store()
            .volume_type_list(Deleted::Exclude)?
            .into_iter()
            .map(|vt| VolumeTypeView {
                detachable: self.detachable(&vt.disk_template),
                volume_type: vt,
            })
            .collect())
    }

    /// One volume type by id (deleted ones too), 404 if unknown.
    pub fn volume_type_view(&self, id: &str) -> Result<VolumeTypeView, ServiceError> {
        let not_found = || ServiceError::ItemNotFound(format!("Volume type {id} not found"));
        let n: u64 = id.parse().map_err(|_| not_found())?;
        match self.store().volume_type_get(n) {
            Ok(vt) => Ok(VolumeTypeView {
                detachable: self.detachable(&vt.disk_template),
                volume_type: vt,
            }),
            Err(StoreError::NotFound { .. }) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// A live volume type by id (Synnefo) or name (Cinder clients send names).
    fn volume_type_named(&self, id_or_name: &str) -> Result<VolumeType, ServiceError> {
        let live = self.store().volume_type_list(Deleted::Exclude)?;
        live.iter()
            .find(|vt| vt.id.to_string() == id_or_name)
            .or_else(|| live.iter().find(|vt| vt.name == id_or_name))
            .cloned()
            .ok_or_else(|| {
                ServiceError::BadRequest(format!("Volume type {id_or_name} does not exist"))
            })
    }

    /// Volumes `caller` sees (live ones), in id order.
    pub fn volumes_for(&self, caller: &Credentials) -> Result<Vec<Volume>, ServiceError> {
        let mut all = self.store().volume_list(Deleted::Exclude)?;
        all.retain(|v| volume_visible(caller, v));
        Ok(all)
    }

    /// Volumes changed at or after `since`, deleted ones included (`changes-since`).
    pub fn volumes_changed_since(
        &self,
        caller: &Credentials,
        since: Timestamp,
    ) -> Result<Vec<Volume>, ServiceError> {
        let mut all = self.store().volume_list(Deleted::Include)?;
        all.retain(|v| v.updated >= since && volume_visible(caller, v));
        Ok(all)
    }

    /// Every volume (operators).
    pub fn volume_list(&self, deleted: Deleted) -> Result<Vec<Volume>, ServiceError> {
        Ok(self.store().volume_list(deleted)?)
    }

    /// One volume the caller sees (deleted ones too, where the caller reads deleted
    /// resources); 404 otherwise.
    pub fn volume_for(&self, caller: &Credentials, id: &str) -> Result<Volume, ServiceError> {
        let not_found = || ServiceError::ItemNotFound(format!("Volume {id} not found"));
        let n: u64 = id.parse().map_err(|_| not_found())?;
        match self.store().volume_get(n) {
            Ok(v) if volume_visible(caller, &v) || caller.is_admin => {
                caller.require_live(v.deleted, not_found)?;
                Ok(v)
            }
            Ok(_) | Err(StoreError::NotFound { .. }) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }

    pub(super) fn live_volume_for(
        &self,
        caller: &Credentials,
        id: &str,
    ) -> Result<Volume, ServiceError> {
        let v = self.volume_for(caller, id)?;
        if v.deleted {
            return Err(ServiceError::ItemNotFound(format!("Volume {id} not found")));
        }
        Ok(v)
    }

    /// The volumes attached to a server, root first.
    pub fn volumes_of_server(&self, server_id: u64) -> Result<Vec<Volume>, ServiceError> {
        Ok(self.store().volumes_of_server(server_id)?)
    }

    /// `POST /volumes`: a volume in the store only (AVAILABLE, charged at once), or created
    /// and attached to `server_id` by `volume.attach` (CREATING, charged by the job).
    pub async fn volume_create(
        &self,
        caller: &Credentials,
        req: &NewVolume,
    ) -> Result<Volume, ServiceError> {
        check_text("name", &req.name)?;
        check_text("description", &req.description)?;
        self.check_volume_metadata(&req.metadata)?;
        let max = self.config().volumes.max_size_gb;
        if req.size_gb == 0 {
            return Err(ServiceError::BadRequest(
                "Volume size must be a positive integer".into(),
            ));
        }
        if req.size_gb > max {
            return Err(ServiceError::BadRequest(format!(
                "Maximum volume size is {max}GB"
            )));
        }
        let sources = [&req.source_volid, &req.snapshot_id, &req.image_ref];
        if sources.iter().filter(|s| s.is_some()).count() > 1 {
            return Err(ServiceError::BadRequest(
                "Volume can not have more than one source!".into(),
            ));
        }
        if req.snapshot_id.is_some() {
            return Err(ServiceError::NotImplemented(
                "Making a clone from a snapshot is not implemented".into(),
            ));
        }
        if req.source_volid.is_some() {
            return Err(ServiceError::BadRequest(
                "Cloning a volume is not supported".into(),
            ));
        }
        let project_id = match &req.project {
            Some(p) => p.clone(),
            None => caller.project_id.clone().ok_or_else(|| {
                ServiceError::BadRequest(
                    "No project: scope the token to a project or pass 'project'".into(),
                )
            })?,
        };
        caller.require_member(&project_id)?;
        let server = match &req.server_id {
            None => None,
            Some(id) => Some(self.server_for_change(caller, id).map_err(|e| match e {
                ServiceError::ItemNotFound(_) => {
                    ServiceError::BadRequest(format!("Server {id} not found"))
                }
                other => other,
            })?),
        };
        let requested_type = match &req.volume_type {
            None => None,
            Some(id) => Some(self.volume_type_named(id)?),
        };
        let vt = match (&server, requested_type) {
            (Some(s), requested) => {
                let flavor = self.store().flavor_get(s.flavor_id)?;
                match requested {
                    Some(vt) if vt.disk_template != flavor.disk_template => {
                        return Err(ServiceError::BadRequest(format!(
                            "Cannot create a volume with template '{}' to a server with volume template '{}'.",
                            vt.disk_template, flavor.disk_template
                        )));
                    }
                    Some(vt) => vt,
                    None => self.store().volume_type_get(flavor.volume_type_id)?,
                }
            }
            (None, Some(vt)) => {
                self.assert_detachable(&vt.name, &vt.disk_template)?;
                vt
            }
            (None, None) if req.default_type => self
                .volume_types_view()?
                .into_iter()
                .find(|t| t.detachable)
                .map(|t| t.volume_type)
                .ok_or_else(|| {
                    ServiceError::BadRequest(
                        "No volume type holds volumes without a server: name a 'volume_type'"
                            .into(),
                    )
                })?,
            (None, None) => {
                return Err(ServiceError::BadRequest(
                    "A volume without 'server_id' needs a 'volume_type'".into(),
                ));
            }
        };
        if let Some(image_ref) = &req.image_ref {
            self.check_image_source(caller, image_ref, &vt, req.size_gb)?;
        }
        let now = Timestamp::now();
        let mut volume = Volume {
            id: self.store().generate_id()?,
            name: req.name.clone(),
            description: req.description.clone(),
            user_id: caller.user_id.clone(),
            project_id,
            shared_to_project: req.shared_to_project,
            size_gb: req.size_gb,
            volume_type_id: vt.id,
            disk_template: vt.disk_template.clone(),
            delete_on_termination: true,
            source: req.image_ref.as_ref().map(|i| format!("image:{i}")),
            status: "AVAILABLE".into(),
            server_id: None,
            index: None,
            backend_id: None,
            backend_job_id: None,
            initialised: false,
            quota_charged: false,
            metadata: req.metadata.clone(),
            created: now,
            updated: now,
            deleted: false,
            generation: 1,
        };
        let Some(server) = server else {
            volume.quota_charged = true;
            let provisions =
                BTreeMap::from([("cyclades.disk".to_string(), volume.size_gb as i64 * GIB)]);
            let mut batch = Batch::new();
            batch.insert(&volume);
            self.charged(
                format!("volume-{}-create", volume.id),
                &volume.project_id.clone(),
                provisions,
                || Ok(self.store().commit(&batch)?),
            )?;
            return Ok(self.store().volume_get(volume.id)?);
        };
        self.check_disk_slots(&server)?;
        volume.status = "CREATING".into();
        let mut batch = Batch::new();
        batch.insert(&volume);
        let params = VolumeJobParams {
            server_id: server.id,
            action: "ATTACH_VOLUME".into(),
            volume_id: volume.id,
            hotplug: self.hotplug_for(&server)?,
            charge: true,
        };
        // The volume is committed with the job; a job that fails leaves it in ERROR.
        self.submit_server_job_with(
            caller,
            server,
            "ATTACH_VOLUME",
            &VOLUME_ATTACH,
            params,
            batch,
        )
        .await?;
        Ok(self.store().volume_get(volume.id)?)
    }

    /// An image source: only for clone-capable templates; the image must be usable and fit.
    /// Returns the image.
    fn check_image_source(
        &self,
        caller: &Credentials,
        image_ref: &str,
        vt: &VolumeType,
        size_gb: u64,
    ) -> Result<crate::store::Image, ServiceError> {
        let clone = self
            .template_capabilities(&vt.disk_template)
            .is_some_and(|c| c.clone);
        if !clone {
            return Err(ServiceError::BadRequest(format!(
                "Cannot specify a 'source' attribute for volume type '{}' with disk template '{}'",
                vt.id, vt.disk_template
            )));
        }
        let image = self
            .image_for(caller, image_ref)
            .map_err(|_| ServiceError::BadRequest(format!("Image '{image_ref}' not found")))?;
        if image.status.to_lowercase() != "available" {
            return Err(ServiceError::BadRequest(format!(
                "Cannot create volume from image, while image is in '{}' status",
                image.status.to_uppercase()
            )));
        }
        if size_gb << 30 < image.size {
            return Err(ServiceError::BadRequest(format!(
                "Volume size '{}' is smaller than image's size '{}'",
                size_gb << 30,
                image.size
            )));
        }
        Ok(image)
    }

    /// The volumes a create request asks for besides the root one (`block_device_mapping_v2`),
    /// checked as `POST /volumes` and `os-volume_attachments` check them, with their ids; and
    /// the backend the server must go to when an existing volume's data lives on one.
    pub(super) fn plan_server_volumes(
        &self,
        caller: &Credentials,
        req: &super::servers::NewServer,
        flavor: &crate::store::Flavor,
    ) -> Result<(Vec<ExtraVolume>, Option<u64>), ServiceError> {
        if let Some(size) = req.root_size_gb
            && size != flavor.disk_gb
        {
            return Err(ServiceError::BadRequest(format!(
                "The root volume's size must be the flavor's disk size ({} GB)",
                flavor.disk_gb
            )));
        }
        if req.volumes.len() + 1 > self.config().volumes.max_per_server {
            return Err(ServiceError::BadRequest(
                "Maximum volumes per server limit reached".into(),
            ));
        }
        let max = self.config().volumes.max_size_gb;
        let vt = self.store().volume_type_get(flavor.volume_type_id)?;
        let mut planned = Vec::new();
        let mut pinned = req.backend_id;
        for v in &req.volumes {
            if v.source_type == "volume" {
                let id = v.uuid.clone().unwrap_or_default();
                let existing = self.existing_volume_for(caller, &id, flavor, &mut pinned)?;
                if planned.iter().any(|p: &ExtraVolume| p.id == existing.id) {
                    return Err(ServiceError::BadRequest(format!(
                        "Volume {id} appears twice in block_device_mapping_v2"
                    )));
                }
                planned.push(ExtraVolume {
                    id: existing.id,
                    size_gb: existing.size_gb,
                    image_id: None,
                    existing: true,
                    delete_on_termination: v.delete_on_termination,
                });
                continue;
            }
            let size_gb = v.size_gb.unwrap_or(0);
            if size_gb == 0 {
                return Err(ServiceError::BadRequest(
                    "Volume size must be a positive integer".into(),
                ));
            }
            if size_gb > max {
                return Err(ServiceError::BadRequest(format!(
                    "Maximum volume size is {max}GB"
                )));
            }
            let image_id = match (v.source_type.as_str(), &v.uuid) {
                ("image", Some(image)) => {
                    Some(self.check_image_source(caller, image, &vt, size_gb)?.id)
                }
                _ => None,
            };
            if !v.delete_on_termination {
                self.check_keepable(&flavor.disk_template, false)?;
            }
            planned.push(ExtraVolume {
                id: self.store().generate_id()?,
                size_gb,
                image_id,
                existing: false,
                delete_on_termination: v.delete_on_termination,
            });
        }
        Ok((planned, pinned))
    }

    /// An existing volume for a new server: the caller's, AVAILABLE, detachable, of the
    /// flavor's template; one with data pins the server to the backend holding it.
    fn existing_volume_for(
        &self,
        caller: &Credentials,
        id: &str,
        flavor: &crate::store::Flavor,
        pinned: &mut Option<u64>,
    ) -> Result<Volume, ServiceError> {
        let v = self
            .live_volume_for(caller, id)
            .map_err(|_| ServiceError::BadRequest(format!("Volume {id} not found")))?;
        if v.status != "AVAILABLE" {
            return Err(ServiceError::BadRequest(format!(
                "Cannot attach volume while volume is in '{}' status.",
                v.status
            )));
        }
        let vt = self.store().volume_type_get(v.volume_type_id)?;
        self.assert_detachable(&vt.name, &vt.disk_template)?;
        if v.disk_template != flavor.disk_template {
            return Err(ServiceError::BadRequest(format!(
                "Volume and server must have the same volume template. Volume has volume template '{}' while server has '{}'",
                v.disk_template, flavor.disk_template
            )));
        }
        if let Some(data) = v.backend_id.filter(|_| v.initialised) {
            match *pinned {
                Some(b) if b != data => {
                    return Err(ServiceError::BadRequest(format!(
                        "Volume {id} holds data on another Ganeti backend than the one asked for"
                    )));
                }
                _ => *pinned = Some(data),
            }
        }
        Ok(v)
    }

    /// The server may take one more disk (`[volumes] max_per_server`, Ganeti's limit).
    pub(super) fn check_disk_slots(&self, server: &Server) -> Result<(), ServiceError> {
        let attached = self.store().volumes_of_server(server.id)?.len();
        if attached >= self.config().volumes.max_per_server {
            return Err(ServiceError::BadRequest(
                "Maximum volumes per server limit reached".into(),
            ));
        }
        Ok(())
    }

    /// `PUT /volumes/<id>`: name, description, `delete_on_termination` (false: the volume is
    /// detached and kept when its server goes; detachable templates only, never the root).
    pub fn volume_update(
        &self,
        caller: &Credentials,
        id: &str,
        name: Option<String>,
        description: Option<String>,
        delete_on_termination: Option<bool>,
    ) -> Result<Volume, ServiceError> {
        if name.is_none() && description.is_none() && delete_on_termination.is_none() {
            return Err(ServiceError::BadRequest("Nothing to update.".into()));
        }
        let before = self.live_volume_for(caller, id)?;
        if let Some(n) = &name {
            check_text("name", n)?;
        }
        if let Some(d) = &description {
            check_text("description", d)?;
        }
        if delete_on_termination == Some(false) {
            self.check_keepable(&before.disk_template, before.is_root())?;
        }
        let mut after = before.clone();
        after.name = name.unwrap_or(after.name);
        after.description = description.unwrap_or(after.description);
        after.delete_on_termination = delete_on_termination.unwrap_or(after.delete_on_termination);
        self.write_volume(&before, &after)
    }

    /// A volume may outlive its server (`delete_on_termination` false) only on a detachable
    /// template, and never as a root volume.
    fn check_keepable(&self, template: &str, root: bool) -> Result<(), ServiceError> {
        if root {
            return Err(ServiceError::BadRequest(
                "The root volume goes with its server: 'delete_on_termination' must stay true"
                    .into(),
            ));
        }
        if !self.detachable(template) {
            return Err(ServiceError::BadRequest(format!(
                "Volumes of '{template}' disk template cannot have 'delete_on_termination' attribute set to 'False'"
            )));
        }
        Ok(())
    }

    pub(super) fn write_volume(
        &self,
        before: &Volume,
        after: &Volume,
    ) -> Result<Volume, ServiceError> {
        let mut batch = Batch::new();
        batch.update(after);
        match self.store().commit(&batch) {
            Ok(()) => Ok(self.store().volume_get(before.id)?),
            Err(StoreError::GenerationMismatch { .. }) => Err(ServiceError::Conflict(format!(
                "Volume {} changed meanwhile; try again",
                before.id
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Metadata: `replace` (PUT) or merge (POST) `items` into the volume's metadata.
    pub fn volume_metadata_set(
        &self,
        caller: &Credentials,
        id: &str,
        items: BTreeMap<String, String>,
        replace: bool,
    ) -> Result<Volume, ServiceError> {
        let before = self.live_volume_for(caller, id)?;
        let mut after = before.clone();
        if replace {
            after.metadata = items;
        } else {
            after.metadata.extend(items);
        }
        self.check_volume_metadata(&after.metadata)?;
        self.write_volume(&before, &after)
    }

    /// `DELETE /volumes/<id>/metadata/<key>` (400 for an unknown key, as Synnefo).
    pub fn volume_metadata_delete(
        &self,
        caller: &Credentials,
        id: &str,
        key: &str,
    ) -> Result<Volume, ServiceError> {
        let before = self.live_volume_for(caller, id)?;
        let mut after = before.clone();
        if after.metadata.remove(key).is_none() {
            return Err(ServiceError::BadRequest("Metadata key not found".into()));
        }
        self.write_volume(&before, &after)
    }

    /// `POST /volumes/<id>/action {"reassign": ...}`: owner or admin; root volumes go with
    /// their server (409).
    pub fn volume_reassign(
        &self,
        caller: &Credentials,
        id: &str,
        project: &str,
        shared_to_project: bool,
    ) -> Result<Volume, ServiceError> {
        let before = self.live_volume_for(caller, id)?;
        if !caller.is_admin && caller.user_id != before.user_id {
            return Err(ServiceError::Forbidden(
                "Action 'reassign' is allowed only to the owner of the volume.".into(),
            ));
        }
        if before.is_root() {
            return Err(ServiceError::Conflict(format!(
                "Cannot reassign: {} is a system volume",
                before.id
            )));
        }
        let target = self.project_lookup(project)?.id;
        let project = target.as_str();
        caller.require_member(project)?;
        if let Some(server_id) = before.server_id
            && let Ok(s) = self.store().server_get(server_id)
            && let Some(task) = &s.task
        {
            return Err(super::server_task::pending_task_refusal("REASSIGN", task));
        }
        let mut after = before.clone();
        after.project_id = project.to_string();
        after.shared_to_project = shared_to_project;
        if before.project_id == project || !before.quota_charged {
            return self.write_volume(&before, &after);
        }
        let attempt = self.store().generate_id()?;
        let size = before.size_gb as i64 * GIB;
        let name = format!("volume-{}-reassign-{attempt}", before.id);
        self.charged(
            format!("{name}-from"),
            &before.project_id,
            BTreeMap::from([("cyclades.disk".to_string(), -size)]),
            || {
                self.charged(
                    format!("{name}-to"),
                    project,
                    BTreeMap::from([("cyclades.disk".to_string(), size)]),
                    || self.write_volume(&before, &after),
                )
            },
        )
    }
}
