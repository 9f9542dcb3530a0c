//! Backends: the Ganeti clusters this control plane drives (spec §13 backend commands).
//! Adding one checks its RAPI credentials (unless told not to), records its disk templates
//! and resources, and leaves it drained until an operator opens it. RAPI passwords are sealed
//! at rest and never logged.

use std::time::Duration;

use super::{Deleted, ServiceError, Services};
use crate::backend::rapi::{BackendError, RapiClient, RapiConfig};
use crate::clock::Timestamp;
use crate::store::{Backend, BackendResources, StoreError};

/// A backend as shown to operators.
#[derive(Clone, Debug)]
pub struct BackendInfo {
    pub backend: Backend,
    /// Names of the projects it is dedicated to.
    pub projects: Vec<String>,
}

/// What `backend_add` needs.
#[derive(Clone, Debug)]
pub struct NewBackend {
    pub clustername: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub no_check: bool,
    pub insecure: bool,
    /// `None`: the cluster's `default_hypervisor` (required when the cluster is not contacted).
    pub hypervisor: Option<String>,
    pub public: bool,
    /// Plain HTTP (the simulator) instead of HTTPS.
    pub http: bool,
}

/// What `backend_modify` changes; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct BackendChanges {
    pub drained: Option<bool>,
    pub offline: Option<bool>,
    pub public: Option<bool>,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub insecure: Option<bool>,
    pub hypervisor: Option<String>,
}

const HYPERVISORS: &[&str] = &["kvm", "xen-pvm", "xen-hvm", "fake"];

fn check_hypervisor(h: &str) -> Result<(), ServiceError> {
    if HYPERVISORS.contains(&h) {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "Invalid hypervisor '{h}': use one of {}",
            HYPERVISORS.join(", ")
        )))
    }
}

/// The hypervisor a new backend's instances get: the one asked for, if the cluster enables it,
/// else the cluster's default (Ganeti's `/2/info`).
fn cluster_hypervisor(
    info: &serde_json::Value,
    requested: Option<&String>,
    clustername: &str,
) -> Result<String, ServiceError> {
    let enabled: Vec<&str> = info["enabled_hypervisors"]
        .as_array()
        .map(|a| a.iter().filter_map(|h| h.as_str()).collect())
        .unwrap_or_default();
    let default = info["default_hypervisor"].as_str();
    match (requested, default) {
        (Some(h), _) if enabled.contains(&h.as_str()) => Ok(h.clone()),
        (Some(h), _) => Err(ServiceError::BadRequest(format!(
            "Hypervisor '{h}' is not enabled on {clustername}: it enables {}",
            if enabled.is_empty() {
                "none".to_string()
            } else {
                enabled.join(", ")
            }
        ))),
        (None, Some(d)) => Ok(d.to_string()),
        (None, None) => Err(ServiceError::BadRequest(format!(
            "{clustername} reports no default hypervisor: name one with --hypervisor"
        ))),
    }
}

fn check_clustername(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(format!(
            "Invalid cluster name '{name}'"
        )))
    }
}

impl From<BackendError> for ServiceError {
    fn from(e: BackendError) -> Self {
        match &e {
            BackendError::Offline { .. } => ServiceError::ServiceUnavailable(e.to_string()),
            BackendError::Unauthorized { .. } | BackendError::Certificate { .. } => {
                ServiceError::BadRequest(e.to_string())
            }
            BackendError::NotFound { .. } => ServiceError::ItemNotFound(e.to_string()),
            BackendError::Transport { .. } | BackendError::Timeout { .. } => {
                ServiceError::ServiceUnavailable(super::error::chain(&e))
            }
            BackendError::Rapi { .. }
            | BackendError::JobFailed { .. }
            | BackendError::Decode { .. } => ServiceError::internal(&e),
        }
    }
}

impl Services {
    /// A client for a backend being added (not stored yet, so not pooled).
    fn rapi(&self, b: &Backend) -> Result<RapiClient, ServiceError> {
        let password = self
            .sealer()
            .open(&b.password_sealed)
            .map_err(|e| ServiceError::internal(&e))?;
        Ok(RapiClient::new(RapiConfig {
            base_url: format!("{}://{}:{}", b.scheme, b.clustername, b.port),
            username: b.username.clone(),
            password,
            insecure: b.insecure,
            timeout: Duration::from_secs(30),
            offline: b.offline,
        })?)
    }

    fn backend_info(&self, backend: Backend) -> Result<BackendInfo, ServiceError> {
        let mut projects = Vec::new();
        for (project_id, id) in self.store().project_backend_list(None)? {
            if id == backend.id {
                projects.push(
                    self.store()
                        .project_get(&project_id)
                        .map(|p| p.name)
                        .unwrap_or(project_id),
                );
            }
        }
        Ok(BackendInfo { backend, projects })
    }

    /// A live backend by id or cluster name (404 otherwise).
    fn backend_lookup(&self, id_or_name: &str) -> Result<Backend, ServiceError> {
        match self.store().backend_find(id_or_name) {
            Ok(b) if !b.deleted => Ok(b),
            Ok(_) | Err(StoreError::NotFound { .. }) => Err(ServiceError::ItemNotFound(format!(
                "Backend {id_or_name} not found"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Registers a Ganeti cluster, drained.
    pub async fn backend_add(&self, new: &NewBackend) -> Result<BackendInfo, ServiceError> {
        check_clustername(&new.clustername)?;
        if let Some(h) = &new.hypervisor {
            check_hypervisor(h)?;
        }
        if new.no_check && new.hypervisor.is_none() {
            // Unasked, the cluster's hypervisor is unknown; guessing one fails its instances.
            return Err(ServiceError::BadRequest(
                "A backend added without checking the cluster needs its hypervisor (--hypervisor)"
                    .into(),
            ));
        }
        if new.port == 0 {
            return Err(ServiceError::BadRequest("Invalid port 0".into()));
        }
        if new.username.is_empty() || new.password.is_empty() {
            return Err(ServiceError::BadRequest(
                "A backend needs a RAPI username and password".into(),
            ));
        }
        if self
            .store()
            .backend_find(&new.clustername)
            .is_ok_and(|b| !b.deleted)
        {
            return Err(ServiceError::Conflict(format!(
                "Backend {} already exists",
                new.clustername
            )));
        }
        let now = Timestamp::now();
        let mut backend = Backend {
            id: 0,
            clustername: new.clustername.clone(),
            port: new.port,
            scheme: if new.http {
                "http".into()
            } else {
                "https".into()
            },
            username: new.username.clone(),
            password_sealed: self.sealer().seal(&new.password),
            insecure: new.insecure,
            // Known by now when unchecked; else read from the cluster below.
            hypervisor: new.hypervisor.clone().unwrap_or_default(),
            public: new.public,
            drained: true,
            offline: false,
            index: 0,
            disk_templates: Vec::new(),
            resources: BackendResources::default(),
            resources_updated: None,
            last_contact: None,
            last_error: None,
            created: now,
            updated: now,
            deleted: false,
            generation: 1,
        };
        if !new.no_check {
            let rapi = self.rapi(&backend)?;
            let features = rapi.features().await.map_err(|e| match e {
                BackendError::Unauthorized { .. } => ServiceError::BadRequest(format!(
                    "The Ganeti RAPI at {} refused the username and password",
                    new.clustername
                )),
                other => other.into(),
            })?;
            if !features.iter().any(|f| f == "instance-create-reqv1") {
                return Err(ServiceError::BadRequest(format!(
                    "{} does not support instance-create-reqv1: not a usable Ganeti",
                    new.clustername
                )));
            }
            let info = rapi.info().await?;
            backend.hypervisor =
                cluster_hypervisor(&info, new.hypervisor.as_ref(), &new.clustername)?;
            backend.disk_templates = rapi.disk_templates().await?;
            backend.resources = to_resources(rapi.resources().await?);
            backend.resources_updated = Some(Timestamp::now());
            backend.last_contact = backend.resources_updated;
        }
        let stored = self.store().backend_insert(&backend).map_err(|e| match e {
            StoreError::AlreadyExists { id, .. } => {
                ServiceError::Conflict(format!("Backend {id} already exists"))
            }
            other => other.into(),
        })?;
        if !new.no_check {
            // Spec §15.3: every public network is created on the new backend, synchronously.
            for n in self.store().network_list(Deleted::Exclude)? {
                if n.public
                    && let Err(e) = self.network_ensure_on(n.id, vec![stored.id], true).await
                {
                    tracing::warn!(network = n.id, backend = stored.id, error = %e,
                        "could not create a public network on the new backend; reconcile-networks --fix-missing will");
                }
            }
        }
        self.backend_info(self.store().backend_get(stored.id)?)
    }

    pub fn backend_list(&self, deleted: Deleted) -> Result<Vec<BackendInfo>, ServiceError> {
        self.store()
            .backend_list(deleted)?
            .into_iter()
            .map(|b| self.backend_info(b))
            .collect()
    }

    pub fn backend_show(&self, id_or_name: &str) -> Result<BackendInfo, ServiceError> {
        let b = self.backend_lookup(id_or_name)?;
        self.backend_info(b)
    }

    /// Changes a backend's settings. A new hypervisor must be one the cluster enables (asked
    /// of its `/2/info`, as `backend-add` does): instances of one it lacks would fail.
    pub async fn backend_modify(
        &self,
        id_or_name: &str,
        changes: &BackendChanges,
    ) -> Result<BackendInfo, ServiceError> {
        let b = self.backend_lookup(id_or_name)?;
        if let Some(h) = &changes.hypervisor {
            check_hypervisor(h)?;
            let info = self.rapi(&b)?.info().await?;
            cluster_hypervisor(&info, Some(h), &b.clustername)?;
        }
        if changes.port == Some(0) {
            return Err(ServiceError::BadRequest("Invalid port 0".into()));
        }
        let sealed = changes.password.as_ref().map(|p| self.sealer().seal(p));
        let updated = self.store().backend_update(b.id, Some(b.generation), |b| {
            if let Some(v) = changes.drained {
                b.drained = v;
            }
            if let Some(v) = changes.offline {
                b.offline = v;
            }
            if let Some(v) = changes.public {
                b.public = v;
            }
            if let Some(v) = changes.port {
                b.port = v;
            }
            if let Some(v) = &changes.username {
                b.username = v.clone();
            }
            if let Some(v) = &sealed {
                b.password_sealed = v.clone();
            }
            if let Some(v) = changes.insecure {
                b.insecure = v;
            }
            if let Some(v) = &changes.hypervisor {
                b.hypervisor = v.clone();
            }
            Ok(())
        })?;
        self.backend_info(updated)
    }

    /// Removes a backend that holds no servers.
    pub fn backend_remove(&self, id_or_name: &str) -> Result<BackendInfo, ServiceError> {
        let b = self.backend_lookup(id_or_name)?;
        let live = self
            .store()
            .server_list(Deleted::Exclude)?
            .into_iter()
            .filter(|s| s.backend_id == Some(b.id))
            .count();
        if live > 0 {
            return Err(ServiceError::Conflict(format!(
                "Backend {} hosts {live} server(s): remove them (or move them) first",
                b.clustername
            )));
        }
        let removed = self.store().backend_soft_delete(b.id)?;
        self.jobs().env().rapi_pool.forget(b.id);
        self.backend_info(removed)
    }

    /// Refreshes disk templates and resources of one backend or of every online backend.
    /// Failures are recorded on the backend (`last_error`) and reported, not raised.
    pub async fn backend_update_status(
        &self,
        id_or_name: Option<&str>,
    ) -> Result<Vec<BackendInfo>, ServiceError> {
        let targets = match id_or_name {
            Some(x) => vec![self.backend_lookup(x)?],
            None => self
                .store()
                .backend_list(Deleted::Exclude)?
                .into_iter()
                .filter(|b| !b.offline)
                .collect(),
        };
        let mut out = Vec::new();
        for b in targets {
            let rapi = self.jobs().env().rapi_for(&b)?;
            let fetched = async {
                Ok::<_, BackendError>((rapi.disk_templates().await?, rapi.resources().await?))
            }
            .await;
            let updated = self.store().backend_update(b.id, None, |rec| {
                match &fetched {
                    Ok((templates, resources)) => {
                        rec.disk_templates = templates.clone();
                        rec.resources = to_resources(*resources);
                        rec.resources_updated = Some(Timestamp::now());
                        rec.last_contact = rec.resources_updated;
                        rec.last_error = None;
                    }
                    Err(e) => rec.last_error = Some(e.to_string()),
                }
                Ok(())
            })?;
            out.push(self.backend_info(updated)?);
        }
        Ok(out)
    }

    pub fn project_backend_add(&self, project: &str, backend: &str) -> Result<(), ServiceError> {
        let p = self.project_lookup(project)?;
        let b = self.backend_lookup(backend)?;
        Ok(self.store().project_backend_add(&p.id, b.id)?)
    }

    pub fn project_backend_remove(&self, project: &str, backend: &str) -> Result<(), ServiceError> {
        let p = self.project_lookup(project)?;
        let b = self.backend_lookup(backend)?;
        if self.store().project_backend_remove(&p.id, b.id)? {
            Ok(())
        } else {
            Err(ServiceError::ItemNotFound(format!(
                "Backend {backend} is not dedicated to project {project}"
            )))
        }
    }

    /// (project name, backend id, cluster name) of every dedication to a live backend.
    pub fn project_backend_list(&self) -> Result<Vec<(String, u64, String)>, ServiceError> {
        let mut out = Vec::new();
        for (project_id, id) in self.store().project_backend_list(None)? {
            let Ok(b) = self.store().backend_get(id) else {
                continue;
            };
            if b.deleted {
                continue;
            }
            let name = self
                .store()
                .project_get(&project_id)
                .map(|p| p.name)
                .unwrap_or(project_id);
            out.push((name, id, b.clustername));
        }
        Ok(out)
    }

    /// Live backends, for allocation.
    pub(crate) fn backends_live(&self) -> Result<Vec<Backend>, ServiceError> {
        Ok(self.store().backend_list(Deleted::Exclude)?)
    }
}

fn to_resources(r: crate::backend::rapi::Resources) -> BackendResources {
    BackendResources {
        mfree: r.mfree,
        mtotal: r.mtotal,
        dfree: r.dfree,
        dtotal: r.dtotal,
        ctotal: r.ctotal,
        pinst_cnt: r.pinst_cnt,
    }
}
