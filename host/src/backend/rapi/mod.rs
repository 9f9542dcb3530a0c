//! The Ganeti RAPI client (`/2/...` over HTTPS with basic auth), used for every backend:
//! real clusters and the simulator alike. Every call has a timeout; job polling backs off;
//! errors are typed and say whether retrying can help. The password is never logged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

/// How to reach one cluster.
#[derive(Clone)]
pub struct RapiConfig {
    /// `https://<clustername>:<port>` (or `http://` for the simulator).
    pub base_url: String,
    pub username: String,
    pub password: String,
    /// Accept the cluster's self-signed certificate (Ganeti's default RAPI certificate).
    pub insecure: bool,
    /// Timeout of each HTTP call.
    pub timeout: Duration,
    /// An offline backend is answered without contacting it.
    pub offline: bool,
}

impl std::fmt::Debug for RapiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RapiConfig")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// A RAPI failure.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("backend {cluster} is offline")]
    Offline { cluster: String },
    #[error("backend {cluster} refused the RAPI credentials")]
    Unauthorized { cluster: String },
    #[error("{what} does not exist on {cluster}")]
    NotFound { cluster: String, what: String },
    #[error("RAPI {status} from {cluster}: {message}: {explain}")]
    Rapi {
        cluster: String,
        status: u16,
        message: String,
        explain: String,
    },
    #[error("Ganeti job {job_id} ({summary}) failed: {kind}: {message}")]
    JobFailed {
        job_id: u64,
        summary: String,
        kind: String,
        message: String,
        code: Option<String>,
    },
    #[error(
        "the TLS certificate of {cluster} is not trusted ({detail}); Ganeti's RAPI uses a \
         self-signed certificate by default: add or modify the backend with --insecure, or \
         install a certificate this host trusts"
    )]
    Certificate { cluster: String, detail: String },
    #[error("cannot reach {cluster}")]
    Transport {
        cluster: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{what} on {cluster} did not finish within {seconds} s")]
    Timeout {
        cluster: String,
        what: String,
        seconds: u64,
    },
    #[error("unexpected answer from {cluster} to {what}: {reason}")]
    Decode {
        cluster: String,
        what: String,
        reason: String,
    },
}

impl BackendError {
    /// A short name of the failure (a metrics label).
    pub fn kind(&self) -> &'static str {
        match self {
            BackendError::Offline { .. } => "offline",
            BackendError::Unauthorized { .. } => "unauthorized",
            BackendError::NotFound { .. } => "not_found",
            BackendError::Rapi { .. } => "rapi_error",
            BackendError::JobFailed { .. } => "job_failed",
            BackendError::Certificate { .. } => "certificate",
            BackendError::Transport { .. } => "unreachable",
            BackendError::Timeout { .. } => "timeout",
            BackendError::Decode { .. } => "decode",
        }
    }

    /// Whether the same call may succeed if tried again later.
    pub fn retryable(&self) -> bool {
        match self {
            BackendError::Transport { .. } | BackendError::Timeout { .. } => true,
            BackendError::Rapi { status, .. } => *status >= 500 && *status != 501,
            BackendError::JobFailed { code, .. } => {
                code.as_deref() == Some("temp_insufficient_resources")
            }
            _ => false,
        }
    }
}

/// A Ganeti job as `GET /2/jobs/<id>` reports it.
#[derive(Clone, Debug, Deserialize)]
pub struct JobInfo {
    pub id: u64,
    pub status: Option<String>,
    #[serde(default)]
    pub opresult: Option<Vec<Value>>,
    #[serde(default)]
    pub summary: Option<Vec<String>>,
    #[serde(default)]
    pub received_ts: Option<(i64, i64)>,
    #[serde(default)]
    pub end_ts: Option<(i64, i64)>,
}

impl JobInfo {
    pub fn finished(&self) -> bool {
        matches!(
            self.status.as_deref(),
            Some("success" | "error" | "canceled")
        )
    }
}

/// Physical resources of a cluster (spec §13: summed over vm-capable, online, undrained
/// nodes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub mfree: u64,
    pub mtotal: u64,
    pub dfree: u64,
    pub dtotal: u64,
    pub ctotal: u64,
    pub pinst_cnt: u64,
}

/// A client for one cluster. Clones share the HTTP connection pool and what was learned of
/// the cluster (whether it answers `/2/jobs/<id>/wait`).
#[derive(Clone)]
pub struct RapiClient {
    http: reqwest::Client,
    config: RapiConfig,
    wait_support: Arc<AtomicU8>,
    /// Counts each call (its cluster, method, outcome and latency) when set.
    metrics: Option<crate::metrics::Metrics>,
}

/// `RapiClient::wait_support`: not tried yet, answered, or not offered (poll instead).
const WAIT_UNKNOWN: u8 = 0;
const WAIT_OFFERED: u8 = 1;
const WAIT_ABSENT: u8 = 2;

/// How long one `/2/jobs/<id>/wait` may block at most (Ganeti's RAPI waits 10 s), plus slack.
const WAIT_CALL: Duration = Duration::from_secs(10);
const WAIT_SLACK: Duration = Duration::from_secs(5);

impl RapiClient {
    pub fn new(config: RapiConfig) -> Result<Self, BackendError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .danger_accept_invalid_certs(config.insecure)
            .build()
            .map_err(|source| BackendError::Transport {
                cluster: config.base_url.clone(),
                source,
            })?;
        Ok(RapiClient {
            http,
            config,
            wait_support: Arc::new(AtomicU8::new(WAIT_UNKNOWN)),
            metrics: None,
        })
    }

    /// This client, counting its calls into `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn cluster(&self) -> String {
        self.config.base_url.clone()
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, BackendError> {
        self.call_within(method, path, body, self.config.timeout)
            .await
    }

    /// `call` with its own timeout (a `/wait` blocks longer than an ordinary call may),
    /// counted in the metrics.
    async fn call_within(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, BackendError> {
        let started = std::time::Instant::now();
        let label = method.to_string();
        let result = self.call_once(method, path, body, timeout).await;
        if let Some(metrics) = &self.metrics {
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            };
            metrics.rapi_call(&self.config.base_url, &label, outcome, started.elapsed());
        }
        result
    }

    async fn call_once(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, BackendError> {
        if self.config.offline {
            return Err(BackendError::Offline {
                cluster: self.cluster(),
            });
        }
        let url = format!("{}{path}", self.config.base_url.trim_end_matches('/'));
        let mut request = self
            .http
            .request(method, &url)
            .timeout(timeout)
            .basic_auth(&self.config.username, Some(&self.config.password))
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|source| {
            if source.is_timeout() {
                BackendError::Timeout {
                    cluster: self.cluster(),
                    what: path.to_string(),
                    seconds: timeout.as_secs(),
                }
            } else if let Some(detail) = certificate_problem(&source) {
                BackendError::Certificate {
                    cluster: self.cluster(),
                    detail,
                }
            } else {
                BackendError::Transport {
                    cluster: self.cluster(),
                    source,
                }
            }
        })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|source| BackendError::Transport {
                cluster: self.cluster(),
                source,
            })?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match status {
            200..=299 => Ok(value),
            401 => Err(BackendError::Unauthorized {
                cluster: self.cluster(),
            }),
            404 => Err(BackendError::NotFound {
                cluster: self.cluster(),
                what: path.to_string(),
            }),
            _ => Err(BackendError::Rapi {
                cluster: self.cluster(),
                status,
                message: value["message"].as_str().unwrap_or("").to_string(),
                explain: value["explain"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| text.chars().take(200).collect()),
            }),
        }
    }

    fn job_id(&self, value: Value, what: &str) -> Result<u64, BackendError> {
        value.as_u64().ok_or_else(|| BackendError::Decode {
            cluster: self.cluster(),
            what: what.to_string(),
            reason: format!("expected a job id, got {value}"),
        })
    }

    pub async fn info(&self) -> Result<Value, BackendError> {
        self.call(Method::GET, "/2/info", None).await
    }

    pub async fn features(&self) -> Result<Vec<String>, BackendError> {
        let v = self.call(Method::GET, "/2/features", None).await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The disk templates the cluster allows (`enabled_disk_templates` ∩ `ipolicy`).
    pub async fn disk_templates(&self) -> Result<Vec<String>, BackendError> {
        let info = self.info().await?;
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let enabled = list(&info["enabled_disk_templates"]);
        let policy = list(&info["ipolicy"]["disk-templates"]);
        Ok(if policy.is_empty() {
            enabled
        } else {
            enabled.into_iter().filter(|t| policy.contains(t)).collect()
        })
    }

    pub async fn nodes(&self) -> Result<Vec<Value>, BackendError> {
        let v = self.call(Method::GET, "/2/nodes?bulk=1", None).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Resource totals over usable nodes (spec §13 `get_physical_resources`).
    pub async fn resources(&self) -> Result<Resources, BackendError> {
        let mut r = Resources::default();
        for n in self.nodes().await? {
            let usable = n["vm_capable"].as_bool().unwrap_or(false)
                && !n["drained"].as_bool().unwrap_or(false)
                && !n["offline"].as_bool().unwrap_or(false)
                && n["cnodes"].as_u64().is_some();
            if usable {
                let get = |k: &str| n[k].as_u64().unwrap_or(0);
                r.mfree += get("mfree");
                r.mtotal += get("mtotal");
                r.dfree += get("dfree");
                r.dtotal += get("dtotal");
                r.ctotal += get("ctotal");
                r.pinst_cnt += get("pinst_cnt");
            }
        }
        Ok(r)
    }

    pub async fn groups(&self) -> Result<Vec<Value>, BackendError> {
        let v = self.call(Method::GET, "/2/groups?bulk=1", None).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    pub async fn instances(&self) -> Result<Vec<Value>, BackendError> {
        let v = self.call(Method::GET, "/2/instances?bulk=1", None).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// One instance, or `None` if Ganeti does not know it.
    pub async fn instance(&self, name: &str) -> Result<Option<Value>, BackendError> {
        match self
            .call(Method::GET, &format!("/2/instances/{name}"), None)
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(BackendError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /2/instances/<name>/console`: `{kind: "vnc", host, port, display}` for a VNC
    /// console, `{kind: "msg", message}` when the hypervisor has none.
    pub async fn console(&self, name: &str) -> Result<Value, BackendError> {
        self.call(Method::GET, &format!("/2/instances/{name}/console"), None)
            .await
    }

    /// Submits an instance creation (`__version__: 1` is added). Returns the job id.
    pub async fn create_instance(&self, mut body: Value) -> Result<u64, BackendError> {
        body["__version__"] = json!(1);
        let v = self.call(Method::POST, "/2/instances", Some(body)).await?;
        self.job_id(v, "create instance")
    }

    pub async fn startup(&self, name: &str) -> Result<u64, BackendError> {
        let v = self
            .call(
                Method::PUT,
                &format!("/2/instances/{name}/startup"),
                Some(json!({})),
            )
            .await?;
        self.job_id(v, "startup")
    }

    pub async fn shutdown(
        &self,
        name: &str,
        timeout_secs: Option<u64>,
    ) -> Result<u64, BackendError> {
        let body = timeout_secs
            .map(|t| json!({"timeout": t}))
            .unwrap_or_else(|| json!({}));
        let v = self
            .call(
                Method::PUT,
                &format!("/2/instances/{name}/shutdown"),
                Some(body),
            )
            .await?;
        self.job_id(v, "shutdown")
    }

    /// Reboots; `hard` uses `shutdown_timeout: 0` as Synnefo does.
    pub async fn reboot(&self, name: &str, hard: bool) -> Result<u64, BackendError> {
        let body = if hard {
            json!({"shutdown_timeout": 0})
        } else {
            json!({})
        };
        let v = self
            .call(
                Method::POST,
                &format!("/2/instances/{name}/reboot?type=hard"),
                Some(body),
            )
            .await?;
        self.job_id(v, "reboot")
    }

    pub async fn delete_instance(&self, name: &str) -> Result<u64, BackendError> {
        let v = self
            .call(
                Method::DELETE,
                &format!("/2/instances/{name}"),
                Some(json!({})),
            )
            .await?;
        self.job_id(v, "delete instance")
    }

    /// `PUT /2/instances/<name>/modify` (NIC/disk add/remove, beparams, `hotplug_if_possible`).
    pub async fn modify_instance(&self, name: &str, body: Value) -> Result<u64, BackendError> {
        let v = self
            .call(
                Method::PUT,
                &format!("/2/instances/{name}/modify"),
                Some(body),
            )
            .await?;
        self.job_id(v, "modify instance")
    }

    /// `PUT /2/instances/<name>/tags?tag=...` (already Ganeti-encoded tags). Returns the job id.
    pub async fn add_instance_tags(
        &self,
        name: &str,
        tags: &[String],
    ) -> Result<u64, BackendError> {
        let v = self
            .call(
                Method::PUT,
                &format!("/2/instances/{name}/tags?{}", tag_query(tags)),
                None,
            )
            .await?;
        self.job_id(v, "add tags")
    }

    /// `DELETE /2/instances/<name>/tags?tag=...`. Returns the job id.
    pub async fn delete_instance_tags(
        &self,
        name: &str,
        tags: &[String],
    ) -> Result<u64, BackendError> {
        let v = self
            .call(
                Method::DELETE,
                &format!("/2/instances/{name}/tags?{}", tag_query(tags)),
                None,
            )
            .await?;
        self.job_id(v, "delete tags")
    }

    pub async fn networks(&self) -> Result<Vec<Value>, BackendError> {
        let v = self.call(Method::GET, "/2/networks?bulk=1", None).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// One network, or `None` if Ganeti does not know it.
    pub async fn network(&self, name: &str) -> Result<Option<Value>, BackendError> {
        match self
            .call(Method::GET, &format!("/2/networks/{name}"), None)
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(BackendError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /2/networks` (`network_name`, `network`, `gateway`, `mac_prefix`, `tags`, ...).
    pub async fn create_network(&self, body: Value) -> Result<u64, BackendError> {
        let v = self.call(Method::POST, "/2/networks", Some(body)).await?;
        self.job_id(v, "create network")
    }

    pub async fn connect_network(
        &self,
        name: &str,
        group: &str,
        mode: &str,
        link: &str,
        conflicts_check: bool,
    ) -> Result<u64, BackendError> {
        let body = json!({"group_name": group, "network_mode": mode, "network_link": link, "conflicts_check": conflicts_check});
        let v = self
            .call(
                Method::PUT,
                &format!("/2/networks/{name}/connect"),
                Some(body),
            )
            .await?;
        self.job_id(v, "connect network")
    }

    pub async fn disconnect_network(&self, name: &str, group: &str) -> Result<u64, BackendError> {
        let v = self
            .call(
                Method::PUT,
                &format!("/2/networks/{name}/disconnect"),
                Some(json!({"group_name": group})),
            )
            .await?;
        self.job_id(v, "disconnect network")
    }

    pub async fn delete_network(&self, name: &str) -> Result<u64, BackendError> {
        let v = self
            .call(
                Method::DELETE,
                &format!("/2/networks/{name}"),
                Some(json!({})),
            )
            .await?;
        self.job_id(v, "delete network")
    }

    pub async fn job(&self, id: u64) -> Result<JobInfo, BackendError> {
        let v = self
            .call(Method::GET, &format!("/2/jobs/{id}"), None)
            .await?;
        serde_json::from_value(v).map_err(|e| BackendError::Decode {
            cluster: self.cluster(),
            what: format!("job {id}"),
            reason: e.to_string(),
        })
    }

    /// Waits for a job to finish or `deadline` to pass. Where the cluster answers Ganeti's
    /// `GET /2/jobs/<id>/wait` (WaitForJobChange), each call returns as soon as the job's status
    /// changes, so the end of a job is seen when it happens; elsewhere it polls (every 25 ms
    /// at first, backing off by 1.2× to 1 s). A failed job is `JobFailed` with Ganeti's error
    /// class, message and code.
    pub async fn wait_job(&self, id: u64, deadline: Duration) -> Result<JobInfo, BackendError> {
        let started = Instant::now();
        if self.wait_support.load(Ordering::Relaxed) != WAIT_ABSENT {
            self.wait_for_change(id, started, deadline).await?;
        }
        self.poll_job(id, started, deadline).await
    }

    /// This client (and its clones), following jobs by polling only (a benchmark baseline).
    pub fn polling_only(self) -> Self {
        self.wait_support.store(WAIT_ABSENT, Ordering::Relaxed);
        self
    }

    /// Whether the cluster answered `/2/jobs/<id>/wait` (`None`: not tried yet).
    pub fn waits_for_job_changes(&self) -> Option<bool> {
        match self.wait_support.load(Ordering::Relaxed) {
            WAIT_OFFERED => Some(true),
            WAIT_ABSENT => Some(false),
            _ => None,
        }
    }

    /// Blocks on `/2/jobs/<id>/wait` until the job's status is final (then `poll_job` reads
    /// the whole job once), or returns early to let polling take over: when the cluster has
    /// no such call, or answers it with an error that polling can judge better.
    async fn wait_for_change(
        &self,
        id: u64,
        started: Instant,
        deadline: Duration,
    ) -> Result<(), BackendError> {
        let path = format!("/2/jobs/{id}/wait");
        let mut previous = Value::Null;
        let mut serial: Option<u64> = None;
        while started.elapsed() < deadline {
            let body = json!({"fields": ["status"], "previous_job_info": previous,
                              "previous_log_serial": serial});
            let timeout = WAIT_CALL.min(deadline.saturating_sub(started.elapsed())) + WAIT_SLACK;
            let answer = match self
                .call_within(Method::GET, &path, Some(body), timeout)
                .await
            {
                Ok(answer) => answer,
                // No such call here (an older RAPI), or not for this user: poll from now on.
                Err(BackendError::NotFound { .. })
                | Err(BackendError::Rapi {
                    status: 403 | 405 | 415 | 501,
                    ..
                }) if self.wait_support.load(Ordering::Relaxed) != WAIT_OFFERED => {
                    self.wait_support.store(WAIT_ABSENT, Ordering::Relaxed);
                    return Ok(());
                }
                // A lost job (luxid's 500) or a hiccup: polling tells a missing job apart.
                Err(BackendError::Rapi { .. } | BackendError::NotFound { .. }) => return Ok(()),
                Err(e) => return Err(e),
            };
            self.wait_support.store(WAIT_OFFERED, Ordering::Relaxed);
            if answer.is_null() {
                continue; // Ganeti's "no change" before 3.0
            }
            for entry in answer["log_entries"].as_array().into_iter().flatten() {
                serial = serial.max(entry[0].as_u64());
            }
            let status = answer["job_info"][0].as_str();
            if status.is_none_or(|s| matches!(s, "success" | "error" | "canceled")) {
                return Ok(());
            }
            previous = answer["job_info"].clone();
        }
        Ok(())
    }

    /// Polls a job until it finishes or `deadline` (counted from `started`) passes.
    async fn poll_job(
        &self,
        id: u64,
        started: Instant,
        deadline: Duration,
    ) -> Result<JobInfo, BackendError> {
        let mut delay = Duration::from_millis(25);
        loop {
            let job = self.job(id).await?;
            if job.status.is_none() {
                return Err(BackendError::NotFound {
                    cluster: self.cluster(),
                    what: format!("job {id}"),
                });
            }
            if job.finished() {
                if job.status.as_deref() == Some("success") {
                    return Ok(job);
                }
                // opresult: [["OpPrereqError", ["message", "code"]]]
                let failure = job
                    .opresult
                    .as_ref()
                    .and_then(|r| r.first())
                    .cloned()
                    .unwrap_or(Value::Null);
                return Err(BackendError::JobFailed {
                    job_id: id,
                    summary: job
                        .summary
                        .as_ref()
                        .and_then(|s| s.first().cloned())
                        .unwrap_or_default(),
                    kind: failure[0].as_str().unwrap_or("error").to_string(),
                    message: failure[1][0]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| failure[1].to_string()),
                    code: failure[1][1].as_str().map(str::to_string),
                });
            }
            if started.elapsed() >= deadline {
                return Err(BackendError::Timeout {
                    cluster: self.cluster(),
                    what: format!("job {id}"),
                    seconds: deadline.as_secs(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = delay.mul_f64(1.2).min(Duration::from_secs(1));
        }
    }
}

/// `tag=a&tag=b`, escaping what a query string would misread.
fn tag_query(tags: &[String]) -> String {
    tags.iter()
        .map(|t| {
            let escaped: String = t
                .chars()
                .map(|c| match c {
                    '+' => "%2B".to_string(),
                    '&' => "%26".to_string(),
                    '#' => "%23".to_string(),
                    '%' => "%25".to_string(),
                    ' ' => "%20".to_string(),
                    c => c.to_string(),
                })
                .collect();
            format!("tag={escaped}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The namespace of users' server tags in Ganeti (`cyclades:user:<tag>`, encoded whole).
pub const USER_TAG_PREFIX: &str = "cyclades:user:";

/// The inverse of [`tag_to_ganeti`]; `None` if `tag` is not such an encoding.
pub fn tag_from_ganeti(tag: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'*' => out.push(b'_'),
            b'+' => out.push(b' '),
            b'/' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Synnefo's `tag_to_ganeti` (spec §10.6): UTF-8, `quote_plus(tag, safe=':')`, then `%` → `/`
/// and `_` → `*`, so the tag fits Ganeti's tag alphabet.
pub fn tag_to_ganeti(tag: &str) -> String {
    let mut out = String::new();
    for b in tag.as_bytes() {
        match *b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'~' | b':' => {
                out.push(*b as char)
            }
            b'_' => out.push('*'),
            b' ' => out.push('+'),
            other => out.push_str(&format!("/{other:02X}")),
        }
    }
    out
}

mod pool;
pub use pool::RapiPool;

#[cfg(test)]
mod tests;

/// The TLS verification failure inside a transport error, if that is what it is.
fn certificate_problem(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        let text = err.to_string();
        if text.contains("certificate") {
            return Some(text);
        }
        source = err.source();
    }
    None
}
