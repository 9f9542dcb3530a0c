//! Servers (spec §2.3–§2.5, §9.2): validation of create and actions, the task lock, submission
//! of `server.*` jobs and waiting for their checkpoint, and visibility (a user sees the servers
//! of their projects; everything else is 404). Record-only changes (name, access addresses,
//! metadata) are `server_records.rs`'s.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::server_input::{base64_decoded_len, strong_password};
pub use super::server_input::{generate_password, is_base64};
use super::{Credentials, Deleted, ServiceError, Services};
use crate::clock::Timestamp;
use crate::jobs::{
    Checkpoint, JobKind, SERVER_ACTIONS, SERVER_CREATE, SERVER_DESTROY, ServerActionParams,
    ServerCreateParams,
};
use crate::store::{Batch, FaultKind, JobFault, Server, StoreError};

pub const MAX_METADATA: usize = 10;
/// How many times a server action is decided again when a job moved the record on meanwhile.
const SERVER_LOCK_ATTEMPTS: usize = 5;
pub const MAX_PERSONALITY: usize = 5;
pub const MAX_PERSONALITY_SIZE: usize = 10240;

/// Nova's `accessIPv4`/`accessIPv6` of a server.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AccessIps {
    pub v4: Option<std::net::Ipv4Addr>,
    pub v6: Option<std::net::Ipv6Addr>,
}

/// A validated create request (the API layer has checked JSON types).
#[derive(Clone, Debug, Default)]
pub struct NewServer {
    pub name: String,
    pub image_ref: String,
    pub flavor_ref: String,
    pub metadata: BTreeMap<String, String>,
    /// Personality files: (path, base64 contents).
    pub personality: Vec<Value>,
    pub user_data: Option<String>,
    pub key_names: Vec<String>,
    pub admin_pass: Option<String>,
    pub project: Option<String>,
    /// Operator override of the allocator.
    pub backend_id: Option<u64>,
    /// Base URL of this deployment, for the one-time `config_url`.
    pub public_url: String,
    /// The request's `networks`; `None` when absent (the default networks apply).
    pub networks: Option<Vec<super::ports::RequestedNic>>,
    /// An operator's helper server (`server-create --helper`).
    pub helper: bool,
    /// The password is taken as given (if not empty), without Synnefo's strength rule: an
    /// operator's (`cyclades server-create --password`, as `snf-manage` does), or a user's
    /// through OpenStack's endpoints (Nova has no strength rule).
    pub password_as_given: bool,
    /// Nova's `accessIPv4`/`accessIPv6`, validated by the API.
    pub access_ips: AccessIps,
    /// The root volume's size from `block_device_mapping_v2` (must be the flavor's disk).
    pub root_size_gb: Option<u64>,
    /// Volumes besides the root one, from `block_device_mapping_v2`, in order.
    pub volumes: Vec<super::volumes::RequestedVolume>,
    /// User tags (spec §2.3: at most 50, each as `PUT /tags/<tag>` allows).
    pub tags: Vec<String>,
    /// Shared with the project's members (`[compute] shared_resources`).
    pub shared_to_project: bool,
}

/// A created server and its admin password (shown once).
pub struct CreatedServer {
    pub server: Server,
    pub admin_pass: String,
}

/// A server action as the API names it.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerAction {
    Start,
    Stop,
    Reboot {
        hard: bool,
    },
    Resize {
        flavor_ref: String,
    },
    /// Boot from a rescue image (`rescue_image_ref`, else chosen by the server's image).
    Rescue {
        image_ref: Option<String>,
    },
    Unrescue,
}

impl ServerAction {
    fn name(&self) -> &'static str {
        match self {
            ServerAction::Start => "START",
            ServerAction::Stop => "STOP",
            ServerAction::Reboot { .. } => "REBOOT",
            ServerAction::Resize { .. } => "RESIZE",
            ServerAction::Rescue { .. } => "RESCUE",
            ServerAction::Unrescue => "UNRESCUE",
        }
    }

    fn kind(&self) -> &'static JobKind {
        let name = match self {
            ServerAction::Start => "server.start",
            ServerAction::Stop => "server.stop",
            ServerAction::Reboot { .. } => "server.reboot",
            ServerAction::Resize { .. } => "server.resize",
            ServerAction::Rescue { .. } => "server.rescue",
            ServerAction::Unrescue => "server.unrescue",
        };
        SERVER_ACTIONS
            .iter()
            .find(|k| k.name == name)
            .unwrap_or(&SERVER_ACTIONS[0])
    }
}

fn fault_error(fault: JobFault) -> ServiceError {
    match fault.kind {
        FaultKind::BadRequest => ServiceError::BadRequest(fault.message),
        FaultKind::OverLimit => ServiceError::OverLimit(fault.message),
        FaultKind::ServiceUnavailable => ServiceError::ServiceUnavailable(fault.message),
        FaultKind::ItemNotFound => ServiceError::ItemNotFound(fault.message),
        FaultKind::Conflict => ServiceError::Conflict(fault.message),
        FaultKind::Ganeti | FaultKind::Internal => ServiceError::Internal {
            internal: fault.message,
        },
    }
}

impl Services {
    /// The caller's servers and those shared with their projects (live ones).
    pub fn servers_of(&self, caller: &Credentials) -> Result<Vec<Server>, ServiceError> {
        let mut all = self.store().server_list(Deleted::Exclude)?;
        all.retain(|s| visible(caller, s));
        Ok(all)
    }

    /// `GET /servers[/detail]`, optionally `changes-since` (deleted servers included then).
    pub fn server_list_for(
        &self,
        caller: &Credentials,
        changes_since: Option<Timestamp>,
    ) -> Result<Vec<Server>, ServiceError> {
        match changes_since {
            None => self.servers_of(caller),
            Some(t) => {
                let mut changed = self.store().server_list_changed_since(t)?;
                changed.retain(|s| visible(caller, s));
                Ok(changed)
            }
        }
    }

    /// `(id, generation)` of every server record (deleted included), cheap enough to validate
    /// a cache of rendered documents on every listing.
    pub fn server_generations(&self) -> Result<Vec<(u64, u64)>, ServiceError> {
        Ok(self.store().server_generations()?)
    }

    /// One server record by id, whoever owns it (callers check visibility); `None` if absent.
    pub fn server_record(&self, id: u64) -> Result<Option<Server>, ServiceError> {
        match self.store().server_get(id) {
            Ok(s) => Ok(Some(s)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Every server (operators).
    pub fn server_list(&self, deleted: Deleted) -> Result<Vec<Server>, ServiceError> {
        Ok(self.store().server_list(deleted)?)
    }

    /// A server by id, for operators (deleted included).
    pub fn server_show(&self, id: &str) -> Result<Server, ServiceError> {
        let n: u64 = id
            .parse()
            .map_err(|_| ServiceError::BadRequest(format!("Invalid server id '{id}'")))?;
        match self.store().server_get(n) {
            Err(StoreError::NotFound { .. }) => {
                Err(ServiceError::ItemNotFound(format!("Server {id} not found")))
            }
            other => Ok(other?),
        }
    }

    /// A server as a user sees it: theirs (deleted ones show DELETED where the caller reads
    /// deleted resources), else 404.
    pub fn server_for(&self, caller: &Credentials, id: &str) -> Result<Server, ServiceError> {
        let not_found = || ServiceError::ItemNotFound(format!("Server {id} not found"));
        let Ok(n) = id.parse::<u64>() else {
            return Err(not_found());
        };
        match self.store().server_get(n) {
            Ok(s) if visible(caller, &s) => {
                caller.require_live(s.deleted, not_found)?;
                Ok(s)
            }
            Ok(_) | Err(StoreError::NotFound { .. }) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// A server the caller may change (spec §9.2, §18): visible (else 404), not deleted (400)
    /// and not suspended (403, operators excepted). Every user mutation of a server starts
    /// here, before it validates anything else or touches Ganeti, the store or the quota.
    pub(super) fn server_for_change(
        &self,
        caller: &Credentials,
        id: &str,
    ) -> Result<Server, ServiceError> {
        let server = self.server_for(caller, id)?;
        check_changeable(caller, &server)?;
        Ok(server)
    }

    /// The cached admin password of a server the caller can see.
    pub fn server_password(&self, caller: &Credentials, id: &str) -> Result<String, ServiceError> {
        let s = self.server_for(caller, id)?;
        self.admin_password(s.id)?
            .ok_or_else(|| ServiceError::ItemNotFound("Password not found.".into()))
    }

    pub fn server_password_forget(
        &self,
        caller: &Credentials,
        id: &str,
    ) -> Result<(), ServiceError> {
        // Forgetting the password changes the server: refused while it is suspended.
        let s = self.server_for_change(caller, id)?;
        self.admin_password_forget(s.id)?;
        Ok(())
    }

    /// Validates a create request, submits `server.create`, and returns once the server is
    /// recorded in BUILD (or with the fault that stopped it: 413, 503, ...).
    pub async fn server_create(
        &self,
        caller: &Credentials,
        req: &NewServer,
    ) -> Result<CreatedServer, ServiceError> {
        if req.name.trim().is_empty() || req.name.len() > 255 {
            return Err(ServiceError::BadRequest(
                "Server name must be 1 to 255 characters".into(),
            ));
        }
        super::server_records::check_metadata(&req.metadata)?;
        let tags = super::server_tags::checked_tags(&req.tags)?;
        if req.shared_to_project && !self.config().compute.shared_resources {
            return Err(ServiceError::Forbidden(
                "Sharing resources with a project is not enabled on this cloud".into(),
            ));
        }
        if req.personality.len() > MAX_PERSONALITY {
            return Err(ServiceError::OverLimit(format!(
                "Maximum number of personality files exceeded ({MAX_PERSONALITY})"
            )));
        }
        for item in &req.personality {
            let Some(obj) = item.as_object() else {
                return Err(ServiceError::BadRequest(
                    "Malformed personality in request".into(),
                ));
            };
            if let Some(k) = obj
                .keys()
                .find(|k| !["contents", "group", "mode", "owner", "path"].contains(&k.as_str()))
            {
                return Err(ServiceError::BadRequest(format!(
                    "Malformed personality in request: unknown key '{k}'"
                )));
            }
            let contents = obj.get("contents").and_then(Value::as_str).unwrap_or("");
            if !is_base64(contents) || obj.get("path").and_then(Value::as_str).is_none() {
                return Err(ServiceError::BadRequest(
                    "Malformed personality in request".into(),
                ));
            }
            if base64_decoded_len(contents) > MAX_PERSONALITY_SIZE {
                return Err(ServiceError::OverLimit(format!(
                    "Maximum size of personality exceeded ({MAX_PERSONALITY_SIZE} bytes)"
                )));
            }
        }
        if let Some(data) = &req.user_data
            && !is_base64(data)
        {
            return Err(ServiceError::BadRequest(
                "Malformed user_data request".into(),
            ));
        }
        // The strength rule is Synnefo's users' (spec §2.3); an operator's choice is taken as
        // given (the admin guide's `--password='example_passw0rd'`), if not empty.
        if let Some(p) = &req.admin_pass
            && (p.is_empty() || (!req.password_as_given && !strong_password(p)))
        {
            return Err(ServiceError::BadRequest(
                "Invalid adminPass: use at least 10 characters with upper and lower case letters and digits"
                    .into(),
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
        let flavor = match self.flavor_for(caller, &req.flavor_ref) {
            Ok(f) if !f.deleted => f,
            Ok(_) | Err(ServiceError::BadRequest(_)) => {
                return Err(ServiceError::ItemNotFound("Flavor not found.".into()));
            }
            Err(e) => return Err(e),
        };
        if !Self::flavor_usable_by(&flavor, &project_id) {
            return Err(ServiceError::Forbidden("Insufficient access".into()));
        }
        if !flavor.allow_create && !caller.is_admin {
            return Err(ServiceError::Forbidden(format!(
                "Flavor {} is not allowed for new servers",
                flavor.id
            )));
        }
        let image = self.image_for(caller, &req.image_ref).map_err(|_| {
            ServiceError::ItemNotFound(format!("Image '{}' not found", req.image_ref))
        })?;
        let mut auth_keys = Vec::new();
        for key in &req.key_names {
            auth_keys.push(self.keypair_get(caller, key)?.public_key);
        }
        let driver = self
            .plugins()
            .disk_template(&flavor.disk_template)
            .map_err(|_| {
                ServiceError::ServiceUnavailable(format!(
                    "No disk template driver is loaded for '{}'",
                    flavor.disk_template
                ))
            })?;
        let clone = driver.disk_capabilities().is_some_and(|c| c.clone);

        let nics = self.plan_server_nics(caller, req.networks.as_deref())?;
        let admin_pass = req.admin_pass.clone().unwrap_or_else(generate_password);
        let server_id = self.store().generate_id()?;
        // After the server's id: the volumes' ids follow the root volume's (the server's).
        let (extra_volumes, pinned_backend) = self.plan_server_volumes(caller, req, &flavor)?;
        let job_id = self.store().generate_id()?;
        let config_key = self.vmapi_key(server_id);
        let config_url = format!("{}/vmapi/v1.0/server-params/{config_key}", req.public_url);
        let properties: BTreeMap<String, String> = image
            .properties
            .iter()
            .map(|(k, v)| (k.to_uppercase(), v.clone()))
            .collect();
        let mut config = json!({
            "img_id": if clone { "null".to_string() } else { image.location.clone() },
            "img_passwd": admin_pass,
            "img_format": image.disk_format,
            "img_personality": serde_json::to_string(&req.personality).unwrap_or_default(),
            "img_properties": serde_json::to_string(&properties).unwrap_or_default(),
        });
        if let Some(data) = &req.user_data {
            config["cloud_userdata"] = json!(data);
        }
        if !auth_keys.is_empty() {
            config["auth_keys"] = json!(auth_keys.join("\n"));
        }
        self.vm_config_put(&config_key, config)?;
        let params = ServerCreateParams {
            server_id,
            name: req.name.clone(),
            user_id: caller.user_id.clone(),
            project_id,
            flavor_id: flavor.id,
            image_id: image.id.clone(),
            image_location: image.location.clone(),
            image_format: image.disk_format.clone(),
            metadata: req.metadata.clone(),
            key_names: req.key_names.clone(),
            backend_id: match pinned_backend {
                Some(id) => Some(id),
                None => self.per_user_backend(caller)?,
            },
            config_url,
            nics,
            helper: req.helper,
            extra_volumes,
            tags,
            shared_to_project: req.shared_to_project,
            access_ipv4: req.access_ips.v4,
            access_ipv6: req.access_ips.v6,
        };
        let handle = self
            .jobs()
            .submit(
                &SERVER_CREATE,
                format!("server/{server_id}"),
                serde_json::to_value(&params).map_err(|e| ServiceError::internal(&e))?,
                job_id,
                Batch::new(),
            )
            .await?;
        match handle.wait().await {
            Checkpoint::Reached => {}
            Checkpoint::Failed(fault) => {
                self.vm_config_forget(&config_key)?;
                return Err(fault_error(fault));
            }
            Checkpoint::Interrupted => {
                return Err(ServiceError::ServiceUnavailable(
                    "The server is shutting down; the request will complete after restart".into(),
                ));
            }
        }
        self.admin_password_put(server_id, &admin_pass)?;
        let server = self.store().server_get(server_id)?;
        Ok(CreatedServer { server, admin_pass })
    }

    /// Checks the state rules of spec §9.2 and takes the task lock in the job's transaction.
    pub(super) async fn submit_server_job(
        &self,
        caller: &Credentials,
        server: Server,
        action: &str,
        kind: &'static JobKind,
        params: impl serde::Serialize,
    ) -> Result<u64, ServiceError> {
        self.submit_server_job_with(caller, server, action, kind, params, Batch::new())
            .await
    }

    /// `submit_server_job`, committing `extra` with the lock and the job (e.g. a new volume).
    pub(super) async fn submit_server_job_with(
        &self,
        caller: &Credentials,
        server: Server,
        action: &str,
        kind: &'static JobKind,
        params: impl serde::Serialize,
        extra: Batch,
    ) -> Result<u64, ServiceError> {
        let params = serde_json::to_value(&params).map_err(|e| ServiceError::internal(&e))?;
        let mut server = server;
        // The lock is a compare-and-swap on the server's generation: a job that moved the
        // record on between the read and the commit (a stop finishing, another replica's
        // step) makes it fail. The request is then decided again on the fresh record, as it
        // would be had it arrived a moment later; only a record that keeps changing is a 409.
        for _ in 0..SERVER_LOCK_ATTEMPTS {
            match self
                .submit_server_job_once(caller, &server, action, kind, &params, extra.clone())
                .await?
            {
                Some(job_id) => return Ok(job_id),
                None => server = self.store().server_get(server.id)?,
            }
        }
        Err(ServiceError::Conflict(format!(
            "Server {} changed while {action} was requested; try again",
            server.id
        )))
    }

    /// One try of `submit_server_job_with`: `None` when the server's record changed under it.
    async fn submit_server_job_once(
        &self,
        caller: &Credentials,
        server: &Server,
        action: &str,
        kind: &'static JobKind,
        params: &serde_json::Value,
        extra: Batch,
    ) -> Result<Option<u64>, ServiceError> {
        check_changeable(caller, server)?;
        // The task lock (spec §9.2, checklist C50): one pending action at a time, DESTROY
        // exempt. A second DELETE answers the destroy already under way.
        let pending_destroy = server.destroy_job.or_else(|| {
            server
                .active_job
                .filter(|_| server.task.as_deref() == Some("DESTROY"))
        });
        if let Some(job) = pending_destroy {
            return if action == "DESTROY" {
                Ok(Some(job))
            } else {
                Err(ServiceError::BadRequest(format!(
                    "Cannot perform {action} while there is a pending DESTROY"
                )))
            };
        }
        // A destroy behind another job: queued, it takes the lock once that job is done. Only
        // a create that has not reached Ganeti yet has nothing to destroy (Synnefo: 409).
        let queued = match server.task.as_deref() {
            None => false,
            Some("BUILD") if action != "DESTROY" || server.backend_job_id.is_none() => {
                return Err(ServiceError::BuildInProgress(
                    "Server is being built.".into(),
                ));
            }
            Some(_) if action == "DESTROY" => true,
            Some(task) => return Err(pending_task_refusal(action, task)),
        };
        if action != "DESTROY" {
            let state_ok = match (action, server.operstate.as_str()) {
                (_, "ERROR") => {
                    return Err(ServiceError::BadRequest(format!(
                        "Cannot perform {action} on a server in ERROR state"
                    )));
                }
                (_, "BUILD") => {
                    return Err(ServiceError::BuildInProgress(
                        "Server is being built.".into(),
                    ));
                }
                ("START", s) => s == "STOPPED",
                ("STOP", s) => s == "STARTED",
                ("RESIZE" | "RESCUE" | "UNRESCUE", s) => s == "STOPPED",
                (
                    "CONNECT" | "DISCONNECT" | "ATTACH_VOLUME" | "DETACH_VOLUME" | "DELETE_VOLUME",
                    s,
                ) => self.config().backends.use_hotplug || s == "STOPPED",
                _ => true,
            };
            if !state_ok {
                return Err(ServiceError::Conflict(format!(
                    "Cannot perform {action} while the server is in {} state",
                    status_of(&server)
                )));
            }
        }
        let job_id = self.store().generate_id()?;
        let mut locked = server.clone();
        if queued {
            locked.destroy_job = Some(job_id);
        } else {
            locked.task = Some(action.to_string());
            locked.active_job = Some(job_id);
            locked.action = action.to_string();
        }
        let mut lock = extra;
        lock.update_server(server, &locked);
        let handle = match self
            .jobs()
            .submit(
                kind,
                format!("server/{}", server.id),
                params.clone(),
                job_id,
                lock,
            )
            .await
        {
            Ok(h) => h,
            // The batch's only server record is this one (the lock).
            Err(StoreError::GenerationMismatch { kind: "server", .. }) => return Ok(None),
            Err(StoreError::GenerationMismatch { .. }) => {
                return Err(ServiceError::Conflict(format!(
                    "A resource of server {} changed while {action} was requested; try again",
                    server.id
                )));
            }
            Err(e) => return Err(e.into()),
        };
        if queued {
            // Its checkpoint comes after the job ahead of it: the request does not wait.
            return Ok(Some(job_id));
        }
        match handle.wait().await {
            Checkpoint::Reached | Checkpoint::Interrupted => Ok(Some(job_id)),
            Checkpoint::Failed(fault) => Err(fault_error(fault)),
        }
    }

    /// `POST /servers/<id>/action` for start, stop, reboot and resize.
    pub async fn server_action(
        &self,
        caller: &Credentials,
        id: &str,
        action: ServerAction,
    ) -> Result<u64, ServiceError> {
        let server = self.server_for_change(caller, id)?;
        let mut params = ServerActionParams {
            server_id: server.id,
            action: action.name().to_string(),
            hard: false,
            flavor_id: None,
            rescue_image_id: None,
            rescue_path: None,
        };
        match &action {
            ServerAction::Reboot { hard } => params.hard = *hard,
            ServerAction::Resize { flavor_ref } => {
                let target = match self.flavor_for(caller, flavor_ref) {
                    Ok(f) if !f.deleted => f,
                    Ok(_) => return Err(ServiceError::ItemNotFound("Flavor not found.".into())),
                    Err(e) => return Err(e),
                };
                if !Self::flavor_usable_by(&target, &server.project_id) {
                    return Err(ServiceError::Forbidden("Insufficient access".into()));
                }
                let current = self.store().flavor_get(server.flavor_id)?;
                if target.id == current.id {
                    return Err(ServiceError::BadRequest(
                        "Server already has this flavor".into(),
                    ));
                }
                if target.disk_gb != current.disk_gb {
                    return Err(ServiceError::BadRequest(
                        "Cannot change instance's disk size.".into(),
                    ));
                }
                if target.volume_type_id != current.volume_type_id {
                    return Err(ServiceError::BadRequest(
                        "Cannot change instance's volume type.".into(),
                    ));
                }
                params.flavor_id = Some(target.id);
            }
            ServerAction::Rescue { image_ref } => {
                self.rescue_allowed(&server, true)?;
                let (image, path) = self.rescue_choice(&server, image_ref.as_deref())?;
                params.rescue_image_id = Some(image.id);
                params.rescue_path = Some(path);
            }
            ServerAction::Unrescue => self.rescue_allowed(&server, false)?,
            _ => {}
        }
        self.submit_server_job(caller, server, action.name(), action.kind(), params)
            .await
    }

    /// `DELETE /servers/<id>`: submits `server.destroy` (quota released when it finishes).
    pub async fn server_delete(&self, caller: &Credentials, id: &str) -> Result<u64, ServiceError> {
        let server = self.server_for_change(caller, id)?;
        let params = ServerActionParams {
            server_id: server.id,
            action: "DESTROY".into(),
            hard: false,
            flavor_id: None,
            rescue_image_id: None,
            rescue_path: None,
        };
        let job = self
            .submit_server_job(caller, server.clone(), "DESTROY", &SERVER_DESTROY, params)
            .await?;
        self.admin_password_forget(server.id)?;
        Ok(job)
    }

    /// Waits for a job to finish (`--wait` in the CLI).
    pub async fn job_wait(&self, id: u64) -> Result<crate::store::JobState, ServiceError> {
        Ok(self.jobs().wait_finished(id).await?)
    }

    /// Operator changes: suspension, name, flavor (records only; no Ganeti call).
    /// `server-modify`: the name and the suspension change the record; `--flavor` (a resize)
    /// and `--action` submit the same jobs a user's request would, as the server's owner with
    /// the operator's rights (suspension does not stop them). Returns the server and the job.
    pub async fn server_modify_admin(
        &self,
        id: &str,
        suspended: Option<bool>,
        name: Option<&str>,
        flavor: Option<&str>,
        action: Option<&str>,
    ) -> Result<(Server, Option<u64>), ServiceError> {
        let server = self.server_show(id)?;
        let job_action = match (flavor, action) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::BadRequest(
                    "Give --flavor (a resize) or --action, not both".into(),
                ));
            }
            (Some(f), None) => Some(ServerAction::Resize {
                flavor_ref: self.flavor_by_id_or_name(f)?.id.to_string(),
            }),
            (None, Some(a)) => Some(match a {
                "start" => ServerAction::Start,
                "stop" => ServerAction::Stop,
                "reboot_hard" => ServerAction::Reboot { hard: true },
                "reboot_soft" => ServerAction::Reboot { hard: false },
                "rescue" => ServerAction::Rescue { image_ref: None },
                "unrescue" => ServerAction::Unrescue,
                other => {
                    return Err(ServiceError::BadRequest(format!(
                        "Unknown action '{other}': use start, stop, reboot_hard, reboot_soft, rescue or unrescue"
                    )));
                }
            }),
            (None, None) => None,
        };
        if suspended.is_some() || name.is_some() {
            self.store().server_update(server.id, |s| {
                if let Some(v) = suspended {
                    s.suspended = v;
                }
                if let Some(n) = name {
                    s.name = n.to_string();
                }
                Ok(())
            })?;
        }
        let job = match job_action {
            Some(a) => Some(self.server_action_admin(&server, a).await?),
            None => None,
        };
        Ok((self.store().server_get(server.id)?, job))
    }
}

/// Whether `caller` sees `s`: its owner, or a member of its project once shared.
pub fn visible(caller: &Credentials, s: &Server) -> bool {
    caller.can_see(&s.user_id, &s.project_id, s.shared_to_project)
}

pub use super::server_task::task_state_of;
pub(super) use super::server_task::{check_changeable, pending_task_refusal};

/// The API status of a server (spec §9.1).
pub fn status_of(s: &Server) -> &'static str {
    if s.deleted {
        return "DELETED";
    }
    match s.operstate.as_str() {
        "BUILD" => "BUILD",
        "ERROR" => "ERROR",
        "STOPPED" => "STOPPED",
        "STARTED" if s.task.as_deref() == Some("REBOOT") => "REBOOT",
        "STARTED" => "ACTIVE",
        "RESIZE" => "RESIZE",
        "DESTROYED" => "DELETED",
        _ => "UNKNOWN",
    }
}
