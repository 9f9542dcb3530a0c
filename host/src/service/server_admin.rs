//! Servers as operators and consoles see them: acting as a user (`server-create`), removing
//! any server, the Ganeti view and recorded allocation of `server-inspect`, name resolution for
//! the CLI. The VNC console is `server_console.rs`. Validation, jobs and the task lock live in `servers.rs`.

use serde_json::{Value, json};

use super::{Credentials, ServiceError, Services};
use crate::clock::Timestamp;
use crate::store::Server;

impl Services {
    /// Credentials acting as `user` in `project` (operators creating servers on a user's
    /// behalf). The operator's own admin role is not carried over.
    pub fn act_as(&self, user: &str, project: Option<&str>) -> Result<Credentials, ServiceError> {
        let u = self.user_show(user)?;
        if u.deleted || !u.enabled {
            return Err(ServiceError::BadRequest(format!("User {user} is disabled")));
        }
        let project_id = match project {
            Some(p) => Some(self.project_lookup(p)?.id),
            None => u.default_project_id.clone(),
        };
        if let Some(p) = &project_id
            && !u.project_ids.contains(p)
        {
            return Err(ServiceError::BadRequest(format!(
                "User {user} is not a member of project {p}"
            )));
        }
        Ok(member_credentials(u.id, u.name, project_id, u.project_ids))
    }

    /// `server-remove`: destroys any server as an operator (suspension does not apply).
    pub async fn server_remove_admin(&self, id: &str) -> Result<u64, ServiceError> {
        let server = self.server_show(id)?;
        let mut admin = self.act_as_owner(&server)?;
        admin.is_admin = true;
        self.server_delete(&admin, id).await
    }

    /// The backend `[backends] per_user` pins the caller to, if any (by user id or name).
    pub(super) fn per_user_backend(
        &self,
        caller: &Credentials,
    ) -> Result<Option<u64>, ServiceError> {
        let per_user = &self.config().backends.per_user;
        let Some(backend) = per_user
            .get(&caller.user_id)
            .or_else(|| per_user.get(&caller.user_name))
        else {
            return Ok(None);
        };
        match self.backend_show(backend) {
            Ok(b) => Ok(Some(b.backend.id)),
            Err(ServiceError::ItemNotFound(_)) => Err(ServiceError::ServiceUnavailable(format!(
                "backends.per_user sends {} to backend '{backend}', which does not exist",
                caller.user_name
            ))),
            Err(e) => Err(e),
        }
    }

    /// `enforce-resources`: shuts down any server as an operator.
    pub async fn server_stop_admin(&self, id: &str) -> Result<u64, ServiceError> {
        let server = self.server_show(id)?;
        self.server_action_admin(&server, super::servers::ServerAction::Stop)
            .await
    }

    /// Any action on any server, as its owner with the operator's rights.
    pub(super) async fn server_action_admin(
        &self,
        server: &Server,
        action: super::servers::ServerAction,
    ) -> Result<u64, ServiceError> {
        let mut admin = self.act_as_owner(server)?;
        admin.is_admin = true;
        self.server_action(&admin, &server.id.to_string(), action)
            .await
    }

    /// Credentials of volume `id`'s owner, with the admin role (operators' volume commands:
    /// suspension and ownership checks do not stop them).
    pub fn act_as_volume_owner(&self, id: &str) -> Result<Credentials, ServiceError> {
        let n: u64 = id
            .parse()
            .map_err(|_| ServiceError::ItemNotFound(format!("Volume {id} not found")))?;
        let v = match self.store().volume_get(n) {
            Ok(v) => v,
            Err(crate::store::StoreError::NotFound { .. }) => {
                return Err(ServiceError::ItemNotFound(format!("Volume {id} not found")));
            }
            Err(e) => return Err(e.into()),
        };
        let mut c = member_credentials(
            v.user_id.clone(),
            String::new(),
            Some(v.project_id.clone()),
            vec![v.project_id],
        );
        c.is_admin = true;
        Ok(c)
    }

    /// Credentials of server `id`'s owner, with the admin role (operators' port commands:
    /// the operator may take any address).
    pub fn act_as_server_owner(&self, id: &str) -> Result<Credentials, ServiceError> {
        let s = self.server_show(id)?;
        let mut c = self.act_as_owner(&s)?;
        c.is_admin = true;
        Ok(c)
    }

    /// Credentials of `user` in `project` with the admin role: an operator's command made on
    /// a user's behalf (the user's quota, any address).
    pub fn act_as_operator(
        &self,
        user: &str,
        project: Option<&str>,
    ) -> Result<Credentials, ServiceError> {
        let mut c = self.act_as(user, project)?;
        c.is_admin = true;
        Ok(c)
    }

    /// Credentials of floating IP `id`'s owner, with the admin role (operators' commands).
    pub fn act_as_floating_ip_owner(&self, id: &str) -> Result<Credentials, ServiceError> {
        let f = self.floating_ip_show(id)?;
        self.act_as_operator(&f.user_id, Some(&f.project_id))
    }

    /// Credentials of port `id`'s owner, with the admin role.
    pub fn act_as_port_owner(&self, id: &str) -> Result<Credentials, ServiceError> {
        let p = self.port_show(id)?;
        let mut c = member_credentials(
            p.user_id.clone(),
            String::new(),
            Some(p.project_id.clone()),
            vec![p.project_id],
        );
        c.is_admin = true;
        Ok(c)
    }

    fn act_as_owner(&self, server: &Server) -> Result<Credentials, ServiceError> {
        Ok(member_credentials(
            server.user_id.clone(),
            String::new(),
            Some(server.project_id.clone()),
            vec![server.project_id.clone()],
        ))
    }
}

/// Credentials of a plain project member, made by the server itself for operator commands
/// (no token behind them).
fn member_credentials(
    user_id: String,
    user_name: String,
    project_id: Option<String>,
    project_ids: Vec<String>,
) -> Credentials {
    Credentials {
        user_id,
        user_name,
        project_id,
        project_name: None,
        project_ids,
        roles: vec![super::ROLE_MEMBER],
        is_admin: false,
        methods: vec!["admin".into()],
        issued_at: Timestamp::now(),
        expires_at: None,
        audit_id: String::new(),
        read_deleted: true,
    }
}

impl Services {
    /// Ganeti's view of a server for `server-inspect` (or why it is unavailable).
    pub async fn server_ganeti_view(&self, s: &Server) -> Value {
        let Some(backend_id) = s.backend_id else {
            return json!({"error": "no backend allocated"});
        };
        let client = match self.jobs().env().rapi(backend_id) {
            Ok(c) => c,
            Err(e) => return json!({"error": e.fault.message}),
        };
        match client.instance(&s.instance_name()).await {
            Ok(Some(i)) => json!({
                "name": i["name"], "status": i["status"], "oper_state": i["oper_state"],
                "admin_state": i["admin_state"], "pnode": i["pnode"], "disk_template": i["disk_template"],
                "beparams": i["beparams"], "nic.names": i["nic.names"], "nic.ips": i["nic.ips"],
                "nic.macs": i["nic.macs"], "nic.networks.names": i["nic.networks.names"],
                "disk.sizes": i["disk.sizes"], "disk.names": i["disk.names"],
                "tags": i["tags"], "osparams": i["osparams"],
            }),
            Ok(None) => {
                json!({"error": format!("{} does not exist on the backend", s.instance_name())})
            }
            Err(e) => json!({"error": super::error_chain(&e)}),
        }
    }

    /// The allocator's recorded decision for a server: the plugin and each candidate's score or
    /// rejection, as the `server.create` job logged it.
    pub fn server_allocation(&self, s: &Server) -> Result<Value, ServiceError> {
        for job in self.store().job_list()? {
            if job.kind == "server.create" && job.target == format!("server/{}", s.id) {
                for event in self.store().job_log(job.id)? {
                    if event.step == "allocate_backend"
                        && let crate::store::JobEventKind::Succeeded { output } = event.kind
                    {
                        return Ok(output);
                    }
                }
            }
        }
        Ok(Value::Null)
    }
}

impl Services {
    /// Operator convenience: a flavor and an image by id or by (unique) name, as `caller` sees
    /// them. Returns their ids.
    pub fn resolve_flavor_and_image(
        &self,
        caller: &Credentials,
        flavor: &str,
        image: &str,
    ) -> Result<(String, String), ServiceError> {
        let flavor_id = if flavor.parse::<u64>().is_ok() {
            flavor.to_string()
        } else {
            self.flavors_for(caller)?
                .into_iter()
                .find(|f| f.name() == flavor)
                .map(|f| f.id.to_string())
                .ok_or_else(|| ServiceError::ItemNotFound(format!("Flavor {flavor} not found")))?
        };
        let image_id = match self.image_for(caller, image) {
            Ok(i) => i.id,
            Err(ServiceError::ItemNotFound(_)) => {
                let matches: Vec<_> = self
                    .images_for(caller)?
                    .into_iter()
                    .filter(|i| i.name == image)
                    .collect();
                match matches.as_slice() {
                    [one] => one.id.clone(),
                    [] => {
                        return Err(ServiceError::ItemNotFound(format!(
                            "Image {image} not found"
                        )));
                    }
                    _ => {
                        return Err(ServiceError::Conflict(format!(
                            "Several images are called {image}: use an id"
                        )));
                    }
                }
            }
            Err(e) => return Err(e),
        };
        Ok((flavor_id, image_id))
    }
}
