//! `helper-servers-sync` (Synnefo's command of the same name): keep N stopped helper servers
//! on every online backend that can host a flavor's disk template, so that detached volumes
//! with data can be deleted (`volume.purge` attaches them to a helper and removes them there).
//! Helpers are ordinary servers with the `helper` flag, created and stopped through the usual
//! jobs as the given user.

use super::servers::NewServer;
use super::{Credentials, ServiceError, Services};
use crate::store::{Deleted, JobState};

/// What the sync did on one backend.
#[derive(Clone, Debug, PartialEq)]
pub struct HelperSync {
    pub backend_id: u64,
    pub clustername: String,
    /// Helper servers created now.
    pub created: Vec<u64>,
    /// Helper servers stopped now.
    pub stopped: Vec<u64>,
    /// Live helpers on the backend afterwards.
    pub helpers: usize,
    /// Why a creation or stop failed, if one did.
    pub errors: Vec<String>,
}

/// A `helper-servers-sync` request.
#[derive(Clone, Debug)]
pub struct HelperSyncRequest {
    pub flavor_ref: String,
    pub image_ref: String,
    pub name: String,
    pub copies: usize,
    /// Only this backend (it must host the flavor's disk template).
    pub backend_id: Option<u64>,
    pub public_url: String,
}

impl Services {
    pub async fn helper_servers_sync(
        &self,
        owner: &Credentials,
        req: &HelperSyncRequest,
    ) -> Result<Vec<HelperSync>, ServiceError> {
        let flavor = self.flavor_for(owner, &req.flavor_ref)?;
        // Backends list Ganeti's templates (`ext` for every ExtStorage provider).
        let template = &self
            .template_capabilities(&flavor.disk_template)
            .map_or_else(|| flavor.disk_template.clone(), |c| c.ganeti_template);
        let backends: Vec<_> = self
            .store()
            .backend_list(Deleted::Exclude)?
            .into_iter()
            .filter(|b| req.backend_id.is_none_or(|id| id == b.id))
            .collect();
        if let Some(id) = req.backend_id {
            match backends.first() {
                None => {
                    return Err(ServiceError::ItemNotFound(format!(
                        "Backend {id} not found"
                    )));
                }
                Some(b) if !b.disk_templates.contains(template) => {
                    return Err(ServiceError::BadRequest(format!(
                        "Backend {} cannot host servers with disk template {template}; it has {}",
                        b.clustername,
                        b.disk_templates.join(", ")
                    )));
                }
                Some(_) => {}
            }
        }
        let mut out = Vec::new();
        for b in backends
            .into_iter()
            .filter(|b| !b.offline && b.disk_templates.contains(template))
        {
            let helpers = |services: &Services| -> Result<Vec<crate::store::Server>, ServiceError> {
                Ok(services
                    .store()
                    .server_list(Deleted::Exclude)?
                    .into_iter()
                    .filter(|s| s.helper && s.backend_id == Some(b.id))
                    .collect())
            };
            let mut sync = HelperSync {
                backend_id: b.id,
                clustername: b.clustername.clone(),
                created: Vec::new(),
                stopped: Vec::new(),
                helpers: 0,
                errors: Vec::new(),
            };
            for _ in helpers(self)?.len()..req.copies {
                let created = self
                    .server_create(
                        owner,
                        &NewServer {
                            name: req.name.clone(),
                            image_ref: req.image_ref.clone(),
                            flavor_ref: flavor.id.to_string(),
                            project: owner.project_id.clone(),
                            backend_id: Some(b.id),
                            public_url: req.public_url.clone(),
                            helper: true,
                            networks: Some(Vec::new()),
                            ..Default::default()
                        },
                    )
                    .await;
                match created {
                    Ok(c) => {
                        if let Some(job) = c.server.active_job {
                            self.job_wait(job).await?;
                        }
                        sync.created.push(c.server.id);
                    }
                    Err(e) => {
                        sync.errors.push(format!("create: {e}"));
                        break;
                    }
                }
            }
            for s in helpers(self)? {
                if s.operstate != "STARTED" || s.task.is_some() {
                    continue;
                }
                match self.server_stop_admin(&s.id.to_string()).await {
                    Ok(job) => match self.job_wait(job).await? {
                        JobState::Succeeded => sync.stopped.push(s.id),
                        other => {
                            sync.errors
                                .push(format!("stop {}: job {job} {}", s.id, other.as_str()))
                        }
                    },
                    Err(e) => sync.errors.push(format!("stop {}: {e}", s.id)),
                }
            }
            sync.helpers = helpers(self)?.len();
            out.push(sync);
        }
        Ok(out)
    }
}
