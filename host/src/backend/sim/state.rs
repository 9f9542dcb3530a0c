//! The simulated cluster's state: nodes, one node group, instances and the job queue, with
//! the effects of each opcode, rendered in the JSON shapes real Ganeti 3.0 answers with
//! (checked against the recorded fixtures in the tests).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::network::Network;

/// What applying an opcode gives: (opresult, oplog messages), or (error class, message, code).
/// A failed opcode: Ganeti's error class, message and error code.
pub type OpError = (&'static str, String, Option<&'static str>);
pub type OpResult = Result<(Value, Vec<String>), OpError>;

/// Seconds since the epoch, as Ganeti's float timestamps.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Ganeti's `[sec, usec]` timestamp pairs.
fn ts(t: f64) -> Value {
    json!([t.trunc() as i64, ((t.fract()) * 1e6) as i64])
}

pub(super) fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub uuid: String,
    pub mtotal: u64,
    pub mfree: u64,
    pub dtotal: u64,
    pub dfree: u64,
    pub ctotal: u32,
    pub offline: bool,
    pub drained: bool,
    pub ctime: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Disk {
    pub name: Option<String>,
    pub size: u64,
    pub uuid: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Nic {
    pub name: Option<String>,
    pub ip: Option<String>,
    pub network: Option<String>,
    pub mac: String,
    pub uuid: String,
    pub link: String,
    pub mode: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instance {
    pub name: String,
    pub uuid: String,
    pub pnode: String,
    pub admin_up: bool,
    pub memory: u64,
    pub vcpus: u32,
    pub disk_template: String,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
    pub tags: Vec<String>,
    pub os: String,
    pub hvparams: Value,
    pub ctime: f64,
    pub mtime: f64,
    pub serial_no: u64,
}

/// A job's status values, as Ganeti spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Waiting,
    Running,
    Success,
    Error,
    Canceling,
    Canceled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Waiting => "waiting",
            JobStatus::Running => "running",
            JobStatus::Success => "success",
            JobStatus::Error => "error",
            JobStatus::Canceling => "canceling",
            JobStatus::Canceled => "canceled",
        }
    }

    pub fn finished(self) -> bool {
        matches!(
            self,
            JobStatus::Success | JobStatus::Error | JobStatus::Canceled
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    /// The opcode's input, with `OP_ID`.
    pub op: Value,
    pub status: JobStatus,
    pub received_ts: f64,
    pub start_ts: Option<f64>,
    pub end_ts: Option<f64>,
    /// When the job starts running and when it finishes (simulated latency).
    pub start_at: f64,
    pub finish_at: f64,
    pub oplog: Vec<Value>,
    pub opresult: Value,
    pub summary: String,
}

impl Job {
    pub fn opcode(&self) -> &str {
        self.op["OP_ID"].as_str().unwrap_or("")
    }

    /// The `GET /2/jobs/<id>` document.
    pub fn render(&self) -> Value {
        let opstatus = match self.status {
            JobStatus::Success => "success",
            JobStatus::Error => "error",
            JobStatus::Canceled => "canceled",
            JobStatus::Running => "running",
            _ => "queued",
        };
        json!({
            "id": self.id,
            "status": self.status.as_str(),
            "ops": [self.op],
            "opstatus": [opstatus],
            "opresult": [self.opresult],
            "oplog": [self.oplog],
            "summary": [self.summary],
            "received_ts": ts(self.received_ts),
            "start_ts": self.start_ts.map(ts),
            "end_ts": self.end_ts.map(ts),
        })
    }
}

/// Faults an operator (or a test) asks the simulator to produce.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Faults {
    /// Opcode (`OP_INSTANCE_CREATE`, ...) → how many of the next such jobs fail.
    pub fail_next: BTreeMap<String, u32>,
    /// Answer every RAPI request with 502 (the cluster is unreachable).
    pub offline: bool,
    /// Answer the next N RAPI requests with 500.
    pub errors_next: u32,
    /// The next N instance creations that ask for opportunistic locking find the node locks
    /// taken and fail with `temp_insufficient_resources`, as Ganeti's iallocator does.
    #[serde(default)]
    pub lock_contention: u32,
    /// RAPI features `GET /2/features` leaves out (an older Ganeti without
    /// `instance-create-reqv1`, say).
    #[serde(default)]
    pub features_missing: Vec<String>,
    /// Opcode → extra seconds the next such job runs (once), so that a test can observe
    /// what holds while a job is in flight.
    #[serde(default)]
    pub slow_next: BTreeMap<String, f64>,
    /// Answer `GET /2/jobs/<id>/wait` with 404, as a RAPI without it would (clients poll).
    #[serde(default)]
    pub wait_unsupported: bool,
}

/// Job timing: how long a job waits in the queue and runs, by opcode (seconds).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Latency {
    pub queued: f64,
    pub create: f64,
    pub other: f64,
}

/// Finished jobs the queue keeps; older ones are archived (then unknown, as in Ganeti, whose
/// RAPI answers an archived or unknown job id with null fields).
pub const JOBS_KEPT: usize = 1000;

impl Latency {
    /// Taken from the recorded fixtures' `received_ts`/`start_ts`/`end_ts`.
    pub fn realistic() -> Self {
        Latency {
            queued: 0.2,
            create: 0.75,
            other: 0.25,
        }
    }

    pub fn zero() -> Self {
        Latency {
            queued: 0.0,
            create: 0.0,
            other: 0.0,
        }
    }
}

/// The whole cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    pub group_uuid: String,
    pub nodes: Vec<Node>,
    pub instances: BTreeMap<String, Instance>,
    #[serde(default)]
    pub networks: BTreeMap<String, Network>,
    pub jobs: BTreeMap<u64, Job>,
    pub next_job: u64,
    pub faults: Faults,
    pub latency: Latency,
    pub ctime: f64,
    /// `fake` (as the real test cluster) or `kvm`: which `hvparams` instances accept.
    #[serde(default = "fake_hypervisor")]
    pub hypervisor: String,
    /// Disks detached from their instance (Ganeti 3.0 `detach`), by name: kept in the
    /// configuration until an instance attaches them again.
    #[serde(default)]
    pub detached_disks: BTreeMap<String, Disk>,
}

fn fake_hypervisor() -> String {
    "fake".into()
}

/// A RAPI error answer: `{code, message, explain}`.
#[derive(Debug)]
pub struct RapiError {
    pub code: u16,
    pub message: &'static str,
    pub explain: String,
}

impl RapiError {
    pub fn new(code: u16, explain: impl Into<String>) -> Self {
        let message = match code {
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            _ => "Internal Server Error",
        };
        RapiError {
            code,
            message,
            explain: explain.into(),
        }
    }
}

impl Cluster {
    /// A fresh cluster of `nodes` nodes, `node1.<name>` ...
    pub fn new(name: &str, nodes: usize, latency: Latency) -> Self {
        let t = now();
        let nodes = (1..=nodes.max(1))
            .map(|i| Node {
                name: format!("node{i}.{name}"),
                uuid: new_uuid(),
                mtotal: 32768,
                mfree: 32000,
                dtotal: 1_024_000,
                dfree: 1_000_000,
                ctotal: 8,
                offline: false,
                drained: false,
                ctime: t,
            })
            .collect();
        Cluster {
            name: name.to_string(),
            group_uuid: new_uuid(),
            nodes,
            instances: BTreeMap::new(),
            networks: BTreeMap::new(),
            jobs: BTreeMap::new(),
            next_job: 1,
            faults: Faults::default(),
            latency,
            ctime: t,
            hypervisor: fake_hypervisor(),
            detached_disks: BTreeMap::new(),
        }
    }

    pub fn enabled_disk_templates() -> Vec<&'static str> {
        vec![
            "file",
            "sharedfile",
            "plain",
            "drbd",
            "rbd",
            "ext",
            "diskless",
        ]
    }

    pub fn render_info(&self) -> Value {
        json!({
            "name": self.name,
            "master": self.nodes[0].name,
            "architecture": ["64bits", "x86_64"],
            "default_hypervisor": self.hypervisor,
            "enabled_hypervisors": [self.hypervisor],
            "enabled_disk_templates": Self::enabled_disk_templates(),
            "ipolicy": {"disk-templates": Self::enabled_disk_templates(), "vcpu-ratio": 4, "spindle-ratio": 32},
            "beparams": {"default": {"always_failover": false, "auto_balance": true, "maxmem": 128, "minmem": 128, "spindle_use": 1, "vcpus": 1}},
            "software_version": "3.0.2",
            "protocol_version": 3000000,
            "config_version": 3000000,
            "os_api_version": 20,
            "export_version": 0,
            "ctime": self.ctime,
            "mtime": self.ctime,
            "uuid": self.group_uuid,
            "tags": [],
        })
    }

    fn node_instances(&self, node: &str) -> Vec<String> {
        self.instances
            .values()
            .filter(|i| i.pnode == node)
            .map(|i| i.name.clone())
            .collect()
    }

    pub fn render_node(&self, n: &Node) -> Value {
        let pinst = self.node_instances(&n.name);
        // Documentation addresses (TEST-NET-3), one per node in order.
        let position = self
            .nodes
            .iter()
            .position(|m| m.name == n.name)
            .unwrap_or(0);
        let ip = format!("203.0.113.{}", 10 + position);
        json!({
            "name": n.name,
            "uuid": n.uuid,
            "mtotal": n.mtotal,
            "mfree": n.mfree,
            "mnode": 379,
            "dtotal": n.dtotal,
            "dfree": n.dfree,
            "ctotal": n.ctotal,
            "cnodes": 1,
            "csockets": 1,
            "cnos": n.ctotal,
            "offline": n.offline,
            "drained": n.drained,
            "vm_capable": true,
            "master_candidate": true,
            "master_capable": true,
            "role": if n.name == self.nodes[0].name { "M" } else { "C" },
            "pinst_cnt": pinst.len(),
            "pinst_list": pinst,
            "sinst_cnt": 0,
            "sinst_list": [],
            "group.uuid": self.group_uuid,
            "pip": ip,
            "sip": ip,
            "secondary_ip": ip,
            "serial_no": 1,
            "spfree": null,
            "sptotal": null,
            "tags": [],
            "ctime": n.ctime,
            "mtime": n.ctime,
            "ndparams": {"cpu_speed": 1, "exclusive_storage": false, "oob_program": "", "ovs": false, "ovs_link": "", "ovs_name": "switch1", "spindle_count": 1, "ssh_port": 22},
        })
    }

    pub fn render_group(&self) -> Value {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
        json!({
            "name": "default",
            "uuid": self.group_uuid,
            "alloc_policy": "preferred",
            "node_cnt": names.len(),
            "node_list": names,
            "ipolicy": {"disk-templates": Self::enabled_disk_templates(), "vcpu-ratio": 4, "spindle-ratio": 32},
            "serial_no": 1,
            "tags": [],
            "ctime": 0,
            "mtime": self.ctime,
        })
    }

    pub fn render_instance(&self, i: &Instance) -> Value {
        let running = i.admin_up;
        json!({
            "name": i.name,
            "uuid": i.uuid,
            "pnode": i.pnode,
            "snodes": [],
            "admin_state": if running { "up" } else { "down" },
            "oper_state": running,
            "status": if running { "running" } else { "ADMIN_down" },
            "oper_ram": if running { json!(i.memory) } else { Value::Null },
            "oper_vcpus": if running { json!(i.vcpus) } else { Value::Null },
            "beparams": {"always_failover": false, "auto_balance": true, "maxmem": i.memory, "memory": i.memory, "minmem": i.memory, "spindle_use": 1, "vcpus": i.vcpus},
            "custom_beparams": {"maxmem": i.memory, "minmem": i.memory, "vcpus": i.vcpus},
            "hvparams": i.hvparams,
            "custom_hvparams": i.hvparams,
            "disk_template": i.disk_template,
            "disk_usage": i.disks.iter().map(|d| d.size).sum::<u64>(),
            "disk.names": i.disks.iter().map(|d| d.name.clone()).collect::<Vec<_>>(),
            "disk.sizes": i.disks.iter().map(|d| d.size).collect::<Vec<_>>(),
            "disk.uuids": i.disks.iter().map(|d| d.uuid.clone()).collect::<Vec<_>>(),
            "disk.spindles": i.disks.iter().map(|_| Value::Null).collect::<Vec<_>>(),
            "nic.names": i.nics.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
            "nic.ips": i.nics.iter().map(|n| n.ip.clone()).collect::<Vec<_>>(),
            "nic.macs": i.nics.iter().map(|n| n.mac.clone()).collect::<Vec<_>>(),
            "nic.uuids": i.nics.iter().map(|n| n.uuid.clone()).collect::<Vec<_>>(),
            "nic.modes": i.nics.iter().map(|n| n.mode.clone()).collect::<Vec<_>>(),
            "nic.links": i.nics.iter().map(|n| n.link.clone()).collect::<Vec<_>>(),
            "nic.bridges": i.nics.iter().map(|n| n.link.clone()).collect::<Vec<_>>(),
            "nic.networks.names": i.nics.iter().map(|n| n.network.clone()).collect::<Vec<_>>(),
            "custom_nicparams": i.nics.iter().map(|n| json!({"link": n.link, "mode": n.mode, "vlan": ""})).collect::<Vec<_>>(),
            "network_port": null,
            "os": i.os,
            "tags": i.tags,
            "ctime": i.ctime,
            "mtime": i.mtime,
            "serial_no": i.serial_no,
        })
    }

    // ----- jobs -----

    /// Queues a job for `op` (which carries `OP_ID`) and returns its id.
    pub fn submit(&mut self, op: Value, summary: String) -> u64 {
        let id = self.next_job;
        self.next_job += 1;
        let t = now();
        let mut run = if op["OP_ID"] == "OP_INSTANCE_CREATE" {
            self.latency.create
        } else {
            self.latency.other
        };
        if let Some(extra) = op["OP_ID"]
            .as_str()
            .and_then(|opcode| self.faults.slow_next.remove(opcode))
        {
            run += extra.max(0.0);
        }
        let job = Job {
            id,
            op,
            status: JobStatus::Queued,
            received_ts: t,
            start_ts: None,
            end_ts: None,
            start_at: t + self.latency.queued,
            finish_at: t + self.latency.queued + run,
            oplog: Vec::new(),
            opresult: Value::Null,
            summary,
        };
        self.jobs.insert(id, job);
        self.advance(t);
        id
    }

    /// Moves every job along its timeline up to time `t`, applying finished jobs' effects in
    /// Archives the oldest finished jobs beyond `JOBS_KEPT`.
    fn archive_finished(&mut self) {
        let finished: Vec<u64> = self
            .jobs
            .values()
            .filter(|j| j.status.finished())
            .map(|j| j.id)
            .collect();
        if finished.len() > JOBS_KEPT {
            for id in &finished[..finished.len() - JOBS_KEPT] {
                self.jobs.remove(id);
            }
        }
    }

    /// id order. Returns whether anything changed.
    pub fn advance(&mut self, t: f64) -> bool {
        // (Jobs are archived as Ganeti's queue does, see `archive_finished`.)
        let due: Vec<u64> = self
            .jobs
            .values()
            .filter(|j| !j.status.finished())
            .map(|j| j.id)
            .collect();
        let mut changed = false;
        for id in due {
            let Some(job) = self.jobs.get(&id).cloned() else {
                continue;
            };
            if job.status == JobStatus::Queued && t >= job.start_at {
                if let Some(j) = self.jobs.get_mut(&id) {
                    j.status = JobStatus::Running;
                    j.start_ts = Some(job.start_at);
                }
                changed = true;
            }
            if t >= job.finish_at {
                let result = self.execute(&job);
                if let Some(j) = self.jobs.get_mut(&id) {
                    j.start_ts.get_or_insert(job.start_at);
                    j.end_ts = Some(job.finish_at.max(job.start_at));
                    match result {
                        Ok((result, log)) => {
                            j.status = JobStatus::Success;
                            j.opresult = result;
                            j.oplog = log
                                .into_iter()
                                .enumerate()
                                .map(|(n, m)| json!([n + 1, ts(job.finish_at), "message", m]))
                                .collect();
                        }
                        Err((kind, message, code)) => {
                            j.status = JobStatus::Error;
                            j.opresult = match code {
                                Some(code) => json!([kind, [message, code]]),
                                None => json!([kind, [message]]),
                            };
                        }
                    }
                }
                changed = true;
            } else {
                // Later jobs may depend on this one: keep id order.
                break;
            }
        }
        if changed {
            self.archive_finished();
        }
        changed
    }

    /// Applies one opcode. Errors are `(error class, message, error code)` as Ganeti reports.
    fn execute(&mut self, job: &Job) -> OpResult {
        let opcode = job.opcode().to_string();
        if let Some(n) = self.faults.fail_next.get_mut(&opcode)
            && *n > 0
        {
            *n -= 1;
            return Err((
                "OpExecError",
                format!("Injected failure of {opcode}"),
                Some("ecode_injected"),
            ));
        }
        if opcode == "OP_INSTANCE_CREATE"
            && job.op["opportunistic_locking"] == true
            && self.faults.lock_contention > 0
        {
            self.faults.lock_contention -= 1;
            return Err((
                "OpPrereqError",
                "Can't compute nodes using iallocator 'hail': the node locks it could take have no room"
                    .to_string(),
                Some("temp_insufficient_resources"),
            ));
        }
        let op = &job.op;
        let name = op["instance_name"].as_str().unwrap_or("").to_string();
        let t = now();
        match opcode.as_str() {
            "OP_INSTANCE_CREATE" => self.create_instance(op, &name, t),
            "OP_INSTANCE_STARTUP" | "OP_INSTANCE_SHUTDOWN" | "OP_INSTANCE_REBOOT" => {
                let up = opcode != "OP_INSTANCE_SHUTDOWN";
                let inst = self
                    .instances
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| missing(&name))?;
                if opcode == "OP_INSTANCE_REBOOT" && !inst.admin_up {
                    return Err((
                        "OpPrereqError",
                        format!("Instance {name} is down"),
                        Some("wrong_state"),
                    ));
                }
                if inst.admin_up != up {
                    let node = self.node_mut(&inst.pnode);
                    if up {
                        node.mfree = node.mfree.saturating_sub(inst.memory);
                    } else {
                        node.mfree += inst.memory;
                    }
                }
                if let Some(i) = self.instances.get_mut(&name) {
                    i.admin_up = up;
                    i.mtime = t;
                    i.serial_no += 1;
                }
                Ok((Value::Null, vec![]))
            }
            "OP_INSTANCE_REMOVE" => {
                let inst = self.instances.remove(&name).ok_or_else(|| missing(&name))?;
                let node = self.node_mut(&inst.pnode);
                if inst.admin_up {
                    node.mfree += inst.memory;
                }
                node.dfree += inst.disks.iter().map(|d| d.size).sum::<u64>();
                Ok((Value::Null, vec![]))
            }
            "OP_INSTANCE_SET_PARAMS" => self.modify_instance(op, &name, t),
            "OP_TAGS_SET" | "OP_TAGS_DEL" if op["kind"] == "instance" => {
                let inst = self
                    .instances
                    .get_mut(&name)
                    .ok_or_else(|| missing(&name))?;
                for tag in op["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    inst.tags.retain(|t| t != tag);
                    if opcode == "OP_TAGS_SET" {
                        inst.tags.push(tag.to_string());
                    }
                }
                Ok((Value::Null, vec![]))
            }
            "OP_TAGS_SET" | "OP_TAGS_DEL" => Ok((Value::Null, vec![])),
            "OP_NETWORK_ADD" => self.network_add(op),
            "OP_NETWORK_CONNECT" => self.network_connect(op),
            "OP_NETWORK_DISCONNECT" => self.network_disconnect(op),
            "OP_NETWORK_REMOVE" => self.network_remove(op),
            other => Err((
                "OpPrereqError",
                format!("Opcode {other} is not simulated"),
                Some("wrong_input"),
            )),
        }
    }

    fn node_mut(&mut self, name: &str) -> &mut Node {
        let index = self.nodes.iter().position(|n| n.name == name).unwrap_or(0);
        &mut self.nodes[index]
    }

    fn create_instance(&mut self, op: &Value, name: &str, t: f64) -> OpResult {
        self.check_hvparams(&op["hvparams"])?;
        if self.instances.contains_key(name) {
            return Err((
                "OpPrereqError",
                format!("Instance '{name}' is already in the cluster"),
                Some("already_exists"),
            ));
        }
        for nic in op["nics"].as_array().into_iter().flatten() {
            if let Some(network) = nic["network"].as_str() {
                match nic["ip"].as_str() {
                    Some(ip) => self.check_nic_ip(network, ip)?,
                    None if !self.networks.contains_key(network) => {
                        return Err((
                            "OpPrereqError",
                            format!("Network '{network}' not found"),
                            Some("unknown_entity"),
                        ));
                    }
                    None => {}
                }
            }
        }
        let template = op["disk_template"].as_str().unwrap_or("").to_string();
        if !Self::enabled_disk_templates().contains(&template.as_str()) {
            return Err((
                "OpPrereqError",
                format!("Disk template '{template}' is not enabled in cluster"),
                Some("wrong_input"),
            ));
        }
        // Ganeti's default instance policy (what a fresh `gnt-cluster init` sets).
        let nic_count = op["nics"].as_array().map(Vec::len).unwrap_or(0);
        if !(1..=8).contains(&nic_count) {
            return Err((
                "OpPrereqError",
                format!(
                    "Instance allocation to group {} (default) violates policy: nic-count value {nic_count} is not in range [1, 8]",
                    self.group_uuid
                ),
                Some("wrong_input"),
            ));
        }
        let memory = op["beparams"]["maxmem"]
            .as_u64()
            .or_else(|| op["beparams"]["memory"].as_u64())
            .unwrap_or(128);
        let vcpus = op["beparams"]["vcpus"].as_u64().unwrap_or(1) as u32;
        let disks: Vec<Disk> = op["disks"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|d| Disk {
                        name: d["name"].as_str().map(str::to_string),
                        size: d["size"].as_u64().unwrap_or(0),
                        uuid: new_uuid(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let disk_total: u64 =
            disks.iter().map(|d| d.size).sum::<u64>() * if template == "drbd" { 2 } else { 1 };
        let start = op["start"].as_bool().unwrap_or(true);
        let nics = op["nics"]
            .as_array()
            .map(|n| {
                n.iter()
                    .map(|nic| self.new_nic(nic))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let node_name = match op["pnode"].as_str() {
            Some(p) => p.to_string(),
            None => self
                .nodes
                .iter()
                .filter(|n| !n.offline && !n.drained && n.mfree >= memory && n.dfree >= disk_total)
                .max_by_key(|n| n.mfree)
                .map(|n| n.name.clone())
                .ok_or((
                    "OpPrereqError",
                    "Can't compute nodes using iallocator 'hail': not enough resources".to_string(),
                    Some("temp_insufficient_resources"),
                ))?,
        };
        let node = self.node_mut(&node_name);
        if start {
            node.mfree = node.mfree.saturating_sub(memory);
        }
        node.dfree = node.dfree.saturating_sub(disk_total);
        self.instances.insert(
            name.to_string(),
            Instance {
                name: name.to_string(),
                uuid: new_uuid(),
                pnode: node_name.clone(),
                admin_up: start,
                memory,
                vcpus,
                disk_template: template,
                disks,
                nics,
                tags: op["tags"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                os: op["os_type"]
                    .as_str()
                    .unwrap_or("snf-image+default")
                    .to_string(),
                hvparams: op["hvparams"].clone(),
                ctime: t,
                mtime: t,
                serial_no: 1,
            },
        );
        let mut log = vec![
            "* creating instance disks...".to_string(),
            format!("adding instance {name} to cluster config"),
        ];
        if start {
            log.push("* starting instance...".into());
        }
        Ok((json!([node_name]), log))
    }
}

pub(super) fn missing(name: &str) -> (&'static str, String, Option<&'static str>) {
    (
        "OpPrereqError",
        format!("Instance '{name}' not known"),
        Some("unknown_entity"),
    )
}
