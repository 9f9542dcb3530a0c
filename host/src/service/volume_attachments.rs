//! Volumes and servers (spec §2.1 `os-volume_attachments`, §5 delete paths, Synnefo's
//! `logic/server_attachments.py`): attaching an AVAILABLE detachable volume, detaching one,
//! and deleting a volume by the path its state needs (attached: `volume.delete`; never
//! initialised: at once; detached with data: `volume.purge` through a stopped helper server).
//! Rules are checked here; the jobs (`jobs::volume_ops`) hold the server's task lock.

use std::collections::BTreeMap;

use super::{Credentials, ServiceError, Services};
use crate::jobs::{VOLUME_ATTACH, VOLUME_DELETE, VOLUME_DETACH, VOLUME_PURGE, VolumeJobParams};
use crate::resources::GIB;
use crate::store::{Deleted, Server, Volume};

impl Services {
    /// `DELETE /volumes/<id>` (spec §5): attached → `volume.delete`; never initialised → at
    /// once; detached with data → `volume.purge` through a helper server.
    pub async fn volume_delete(&self, caller: &Credentials, id: &str) -> Result<(), ServiceError> {
        let v = self.live_volume_for(caller, id)?;
        if let Some(server_id) = v.server_id {
            let server = self.store().server_get(server_id)?;
            if !matches!(v.status.as_str(), "IN_USE" | "ERROR") {
                return Err(ServiceError::BadRequest(format!(
                    "Cannot delete volume while volume is in '{}' status.",
                    v.status
                )));
            }
            if v.is_root() {
                return Err(ServiceError::BadRequest(format!(
                    "Cannot delete the root volume of server {server_id}."
                )));
            }
            let hotplug = self.hotplug_for(&server)?;
            // Ganeti removes disks of a running instance only by hot-plugging them.
            if !hotplug && server.operstate == "STARTED" {
                return Err(ServiceError::Conflict(format!(
                    "Cannot delete volume {} while server {server_id} is running: its backend cannot hot-plug disks; stop the server first",
                    v.id
                )));
            }
            let params = VolumeJobParams {
                server_id,
                action: "DELETE_VOLUME".into(),
                volume_id: v.id,
                hotplug,
                charge: false,
            };
            self.submit_server_job(caller, server, "DELETE_VOLUME", &VOLUME_DELETE, params)
                .await?;
            return Ok(());
        }
        if !matches!(v.status.as_str(), "AVAILABLE" | "ERROR") {
            return Err(ServiceError::BadRequest(format!(
                "Volume is in invalid state: {}",
                v.status
            )));
        }
        if !v.initialised {
            let delete = || self.write_volume(&v, &v.as_deleted()).map(|_| ());
            if !v.quota_charged {
                return delete();
            }
            let provisions =
                BTreeMap::from([("cyclades.disk".to_string(), -(v.size_gb as i64) * GIB)]);
            let attempt = self.store().generate_id()?;
            return self.charged(
                format!("volume-{}-delete-{attempt}", v.id),
                &v.project_id,
                provisions,
                delete,
            );
        }
        let helper = self.helper_server_for(&v)?;
        let params = VolumeJobParams {
            server_id: helper.id,
            action: "DELETE_VOLUME".into(),
            volume_id: v.id,
            hotplug: false,
            charge: false,
        };
        let owner = Credentials {
            user_id: helper.user_id.clone(),
            project_id: Some(helper.project_id.clone()),
            project_ids: vec![helper.project_id.clone()],
            is_admin: true,
            ..caller.clone()
        };
        self.submit_server_job(&owner, helper, "DELETE_VOLUME", &VOLUME_PURGE, params)
            .await?;
        Ok(())
    }

    /// A STOPPED, unlocked helper server on the backend that holds `v`'s data (Synnefo's
    /// `get_random_helper_vm`); 503 when there is none.
    fn helper_server_for(&self, v: &Volume) -> Result<Server, ServiceError> {
        let backends = self.store().backend_list(Deleted::Exclude)?;
        let usable = |id: Option<u64>| {
            backends
                .iter()
                .any(|b| Some(b.id) == id && !b.offline && !b.drained)
        };
        self.store()
            .server_list(Deleted::Exclude)?
            .into_iter()
            .filter(|s| s.helper && s.operstate == "STOPPED" && s.task.is_none())
            .filter(|s| usable(s.backend_id))
            .filter(|s| v.backend_id.is_none() || s.backend_id == v.backend_id)
            .find(|s| {
                self.flavor_template(s.flavor_id)
                    .is_ok_and(|t| t == v.disk_template)
            })
            .ok_or_else(|| {
                // Synnefo answers 404 here; clients take a 404 on DELETE for "already gone"
                // (`openstack volume delete` exits 0), so this is a 503 that says what to do.
                ServiceError::ServiceUnavailable(format!(
                    "Cannot find an available helper server to delete detached volume {}: an operator needs a stopped one on its backend (cyclades server-create --helper)",
                    v.id
                ))
            })
    }

    fn flavor_template(&self, flavor_id: u64) -> Result<String, ServiceError> {
        Ok(self.store().flavor_get(flavor_id)?.disk_template)
    }

    /// `POST /servers/<id>/os-volume_attachments`: attaches an AVAILABLE detachable volume.
    pub async fn volume_attach(
        &self,
        caller: &Credentials,
        server_id: &str,
        volume_id: &str,
    ) -> Result<Volume, ServiceError> {
        let server = self.server_for_change(caller, server_id)?;
        let v = self
            .live_volume_for(caller, volume_id)
            .map_err(|_| ServiceError::BadRequest(format!("Volume {volume_id} not found")))?;
        if v.status != "AVAILABLE" {
            return Err(ServiceError::BadRequest(format!(
                "Cannot attach volume while volume is in '{}' status.",
                v.status
            )));
        }
        let vt = self.store().volume_type_get(v.volume_type_id)?;
        self.assert_detachable(&vt.name, &vt.disk_template)?;
        let template = self.flavor_template(server.flavor_id)?;
        if v.disk_template != template {
            return Err(ServiceError::BadRequest(format!(
                "Volume and server must have the same volume template. Volume has volume template '{}' while server has '{template}'",
                v.disk_template
            )));
        }
        if let (Some(data), Some(here)) = (v.backend_id, server.backend_id)
            && data != here
        {
            return Err(ServiceError::BadRequest(format!(
                "Volume {} holds data on another Ganeti backend than server {}",
                v.id, server.id
            )));
        }
        self.check_disk_slots(&server)?;
        let params = VolumeJobParams {
            server_id: server.id,
            action: "ATTACH_VOLUME".into(),
            volume_id: v.id,
            hotplug: self.hotplug_for(&server)?,
            charge: false,
        };
        self.submit_server_job(caller, server, "ATTACH_VOLUME", &VOLUME_ATTACH, params)
            .await?;
        Ok(self.store().volume_get(v.id)?)
    }

    /// `DELETE /servers/<id>/os-volume_attachments/<volume>`: detaches, keeping the data.
    pub async fn volume_detach(
        &self,
        caller: &Credentials,
        server_id: &str,
        volume_id: &str,
    ) -> Result<(), ServiceError> {
        let server = self.server_for_change(caller, server_id)?;
        let v = self
            .live_volume_for(caller, volume_id)
            .map_err(|_| ServiceError::BadRequest(format!("Volume {volume_id} not found")))?;
        let vt = self.store().volume_type_get(v.volume_type_id)?;
        self.assert_detachable(&vt.name, &vt.disk_template)?;
        if v.server_id != Some(server.id) {
            return Err(ServiceError::BadRequest(format!(
                "Volume '{}' is not attached to server '{}'",
                v.id, server.id
            )));
        }
        if !matches!(v.status.as_str(), "IN_USE" | "ERROR") {
            return Err(ServiceError::BadRequest(format!(
                "Cannot detach volume while volume is in '{}' status.",
                v.status
            )));
        }
        if v.is_root() {
            return Err(ServiceError::BadRequest(format!(
                "Cannot detach the root volume of server {}.",
                server.id
            )));
        }
        let params = VolumeJobParams {
            server_id: server.id,
            action: "DETACH_VOLUME".into(),
            volume_id: v.id,
            hotplug: self.hotplug_for(&server)?,
            charge: false,
        };
        self.submit_server_job(caller, server, "DETACH_VOLUME", &VOLUME_DETACH, params)
            .await?;
        Ok(())
    }

    /// `GET /servers/<id>/os-volume_attachments/<volume>`: 400 unless attached there.
    pub fn volume_attachment(
        &self,
        caller: &Credentials,
        server_id: &str,
        volume_id: &str,
    ) -> Result<Volume, ServiceError> {
        let server = self.server_for(caller, server_id)?;
        let attached = self.store().volumes_of_server(server.id)?;
        attached
            .into_iter()
            .find(|v| v.id.to_string() == volume_id)
            .ok_or_else(|| {
                ServiceError::BadRequest(format!(
                    "Volume '{volume_id}' is not attached to server '{}'",
                    server.id
                ))
            })
    }
}
