//! `console` / `os-getVNCConsole` (spec §2.4): checks the server, asks Ganeti where the
//! instance's VNC console is, opens a one-time forwarding through the built-in proxy
//! (`crate::console`; plain RFB for `vnc`, WebSocket for `vnc-ws` and noVNC) with a fresh
//! password, re-checks that the console did not move meanwhile,
//! and answers with the proxy's host, port and password. Never hands out the node's address.

use std::net::SocketAddr;
use std::time::Duration;

use super::reconcile::Fixes;
use super::{Credentials, ServiceError, Services};
use crate::backend::rapi::BackendError;
use crate::console::{ConsoleSettings, Transport, forward, one_time_password};

/// Where a server's console is reached (spec §2.4 `console`).
#[derive(Clone, Debug)]
pub struct ConsoleInfo {
    pub kind: String,
    pub host: String,
    pub port: u64,
    pub password: String,
    /// For `vnc-ws`: the noVNC page that opens this console, when `[console] novnc_url` is set.
    pub novnc_url: Option<String>,
}

/// The host in an `http(s)://host[:port]/...` URL.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

impl Services {
    fn console_settings(&self, user_id: &str) -> ConsoleSettings {
        let c = &self.config().console;
        let user = self
            .console_waiting_by_user()
            .lock()
            .map(|mut by_user| {
                // Users with nothing waiting are forgotten (only the map holds their count).
                by_user.retain(|_, count| count.in_use() > 0);
                by_user.entry(user_id.to_string()).or_default().clone()
            })
            .unwrap_or_default();
        ConsoleSettings {
            listen: c.listen.unwrap_or_else(|| self.config().server.listen.ip()),
            ports: c.ports.map(|[a, b]| (a, b)),
            connect_timeout: Duration::from_secs(c.connect_timeout_secs),
            max_waiting: c.max_waiting,
            waiting: self.console_waiting().clone(),
            user_waiting: Some((user, c.max_waiting_per_user)),
        }
    }

    /// Opens the console of a running server. `public_url` is the API's, whose host clients
    /// are sent to unless `[console] public_host` says otherwise.
    pub async fn server_console(
        &self,
        caller: &Credentials,
        id: &str,
        kind: &str,
        public_url: &str,
    ) -> Result<ConsoleInfo, ServiceError> {
        let transport = match kind {
            "vnc" => Transport::Tcp,
            "vnc-ws" => Transport::WebSocket,
            "vnc-wss" => {
                let Some(path) = &self.config().console.tls_pem else {
                    self.server_for(caller, id)?;
                    return Err(ServiceError::NotImplemented(
                        "Console type 'vnc-wss' needs [console] tls_pem (the proxy's key and certificate); use 'vnc-ws' or 'vnc'".into(),
                    ));
                };
                let pem = std::fs::read(path).map_err(|e| {
                    ServiceError::ServiceUnavailable(format!(
                        "Cannot read the console certificate {}: {e}",
                        path.display()
                    ))
                })?;
                let config = crate::console::tls_config_from_pem(&pem).map_err(|e| {
                    ServiceError::ServiceUnavailable(format!(
                        "The console certificate {} is unusable: {e}",
                        path.display()
                    ))
                })?;
                Transport::WebSocketTls(config)
            }
            _ => {
                return Err(ServiceError::BadRequest(format!(
                    "Invalid console type '{kind}': use vnc, vnc-ws or vnc-wss"
                )));
            }
        };
        let s = self.server_for_change(caller, id)?;
        if s.operstate != "STARTED" {
            return Err(ServiceError::BadRequest(
                "Server not in ACTIVE state.".into(),
            ));
        }
        let backend = s
            .backend_id
            .ok_or_else(|| ServiceError::BadRequest("Server has no backend".into()))?;
        let rapi = self
            .jobs()
            .env()
            .rapi(backend)
            .map_err(|e| ServiceError::ServiceUnavailable(e.fault.message))?;
        let name = s.instance_name();
        let where_ = |info: &serde_json::Value| {
            (
                info["host"].as_str().map(str::to_string),
                info["port"].as_u64(),
            )
        };
        let info = match rapi.console(&name).await {
            Ok(info) => info,
            Err(BackendError::NotFound { .. }) => {
                return Err(ServiceError::ServiceUnavailable(format!(
                    "{name} is not on its backend (the reconciler will repair the record)"
                )));
            }
            Err(e) => {
                // Spec §2.4: an instance Ganeti has stopped behind our back: the record
                // follows Ganeti, and the request is refused as for any stopped server.
                let stopped = rapi
                    .instance(&name)
                    .await?
                    .is_some_and(|i| i["oper_state"] == false);
                if stopped {
                    let sync = Fixes {
                        unsynced: true,
                        ..Default::default()
                    };
                    let _ = self.reconcile(Some(&backend.to_string()), sync).await;
                    return Err(ServiceError::BadRequest(
                        "Server not in ACTIVE state.".into(),
                    ));
                }
                return Err(e.into());
            }
        };
        let (Some(host), Some(port)) = where_(&info) else {
            return Err(ServiceError::ServiceUnavailable(format!(
                "Server {id} has no VNC console: {}",
                info["message"].as_str().unwrap_or("Ganeti reports none")
            )));
        };
        let port = u16::try_from(port).map_err(|_| {
            ServiceError::ServiceUnavailable(format!("Ganeti reports VNC port {port}"))
        })?;
        let target: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                ServiceError::ServiceUnavailable(format!(
                    "Cannot resolve the console host {host} of server {id}"
                ))
            })?;
        let forwarding = forward(
            &self.console_settings(&caller.user_id),
            target,
            one_time_password(),
            transport,
        )
        .await
        .map_err(|e| match e {
            crate::console::ConsoleError::UserBusy(_) => ServiceError::OverLimit(e.to_string()),
            _ => ServiceError::ServiceUnavailable(e.to_string()),
        })?;
        // Re-check: a migration meanwhile would leave the forwarding pointing at the old
        // node (it then expires unused).
        let again = rapi.console(&name).await?;
        if where_(&again) != (Some(host), Some(u64::from(port))) {
            return Err(ServiceError::ServiceUnavailable(format!(
                "The console of server {id} moved while being opened; try again"
            )));
        }
        let public_host = self
            .config()
            .console
            .public_host
            .clone()
            .unwrap_or_else(|| url_host(public_url).to_string());
        let novnc_url = match (&self.config().console.novnc_url, kind) {
            (Some(page), "vnc-ws" | "vnc-wss") => Some(format!(
                "{page}?host={public_host}&port={}&password={}&encrypt={}&path=",
                forwarding.port,
                forwarding.password,
                u8::from(kind == "vnc-wss")
            )),
            _ => None,
        };
        Ok(ConsoleInfo {
            kind: kind.to_string(),
            host: public_host,
            port: u64::from(forwarding.port),
            password: forwarding.password,
            novnc_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::url_host;

    #[test]
    fn hosts_come_out_of_urls() {
        assert_eq!(url_host("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(
            url_host("https://cloud.example.org/api"),
            "cloud.example.org"
        );
        assert_eq!(url_host("http://[::1]:8080/"), "::1");
    }
}
