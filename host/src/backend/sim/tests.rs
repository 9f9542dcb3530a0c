//! The simulator over real HTTP, checked against the RAPI responses recorded from Ganeti 3.0.2
//! (`../shared/ganeti/fixtures/`, beside the repository; those comparisons are skipped with a
//! message when the folder is absent).

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

mod nic_macs;

async fn sim(latency: Latency, state_dir: Option<PathBuf>) -> RunningSim {
    start(SimOptions {
        tls: false,
        hypervisor: "fake".into(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        cluster_name: "cluster.ganeti.test".into(),
        nodes: 2,
        username: "cyclades".into(),
        password: "secret".into(),
        state_dir,
        latency,
    })
    .await
    .expect("simulator starts")
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(s: &RunningSim) -> Self {
        Client {
            http: reqwest::Client::new(),
            base: s.url(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("cyclades", Some("secret"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Submits and waits for the job to finish; returns the job document.
    async fn job(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let (status, id) = self.send(method, path, Some(body)).await;
        assert_eq!(status, 200, "{path}: {id}");
        let id = id.as_u64().expect("a bare job id");
        for _ in 0..500 {
            let job = self.get(&format!("/2/jobs/{id}")).await;
            if matches!(
                job["status"].as_str(),
                Some("success" | "error" | "canceled")
            ) {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("job {id} did not finish");
    }
}

fn fixture(name: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/ganeti/fixtures")
        .join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(serde_json::from_slice(&bytes).expect("fixture JSON")),
        Err(_) => {
            eprintln!("SKIPPED fixture comparison: {} not found", path.display());
            None
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field we read must exist in both documents with the same JSON type (a `null` on
/// either side matches anything, as Ganeti leaves some fields null in some states).
fn same_shape(ours: &Value, real: &Value, fields: &[&str], what: &str) {
    for f in fields {
        let (a, b) = (&ours[*f], &real[*f]);
        assert!(ours.get(*f).is_some(), "{what}: the simulator lacks {f}");
        assert!(
            real.get(*f).is_some(),
            "{what}: the real fixture lacks {f} (test is wrong)"
        );
        if !a.is_null() && !b.is_null() {
            assert_eq!(kind(a), kind(b), "{what}.{f}: simulator {a} vs real {b}");
        }
    }
}

fn create_body(name: &str) -> Value {
    json!({"__version__": 1, "mode": "create", "name": name, "disk_template": "file",
           "disks": [{"name": "snf-vol-1", "size": 1024}], "beparams": {"maxmem": 512, "minmem": 512, "vcpus": 1},
           "nics": [{"ip": "10.0.0.5", "name": "snf-nic-1", "network": "snf-net-1"}], "os": "snf-image+default",
           "osparams": {"config_url": "http://127.0.0.1:1/config"}, "ip_check": false, "name_check": false,
           "tags": ["synnefo:user:u1"], "wait_for_sync": false})
}

/// Creates and connects `snf-net-1` (10.0.0.0/24), as the fixtures' cluster had it.
async fn network_setup(c: &Client) {
    let create = json!({"network_name": "snf-net-1", "network": "10.0.0.0/24", "gateway": "10.0.0.1", "gateway6": null,
                        "network6": null, "mac_prefix": "aa:00:01", "add_reserved_ips": ["10.0.0.254"],
                        "conflicts_check": false, "tags": ["synnefo:network:1"]});
    let job = c.job(reqwest::Method::POST, "/2/networks", create).await;
    assert_eq!(job["status"], "success", "{job}");
    let connect = json!({"conflicts_check": false, "group_name": "default", "network_link": "br0", "network_mode": "bridged"});
    let job = c
        .job(
            reqwest::Method::PUT,
            "/2/networks/snf-net-1/connect",
            connect,
        )
        .await;
    assert_eq!(job["status"], "success", "{job}");
}

#[tokio::test]
async fn networks_and_nics_match_ganeti() {
    let s = sim(Latency::zero(), None).await;
    let c = Client::new(&s);
    let bad = json!({"network_name": "snf-net-1", "network": "10.0.0.0/24", "gateway": "10.0.0.1", "mac_prefix": "aa:00:01",
                     "add_reserved_ips": ["10.0.0.1"], "conflicts_check": false, "tags": ["synnefo:network:1"]});
    let failed = c.job(reqwest::Method::POST, "/2/networks", bad).await;
    if let Some(real) = fixture("job-failed-network-reserved-gateway.json") {
        assert_eq!(
            (&failed["status"], &failed["opresult"]),
            (&real["status"], &real["opresult"])
        );
    }
    network_setup(&c).await;
    let net = c.get("/2/networks/snf-net-1").await;
    if let Some(real) = fixture("network-snf-net-1.json") {
        for f in [
            "name",
            "network",
            "gateway",
            "mac_prefix",
            "map",
            "free_count",
            "reserved_count",
            "external_reservations",
            "group_list",
            "tags",
        ] {
            assert_eq!(net[f], real[f], "network.{f}");
        }
        same_shape(
            &net,
            &real,
            &[
                "uuid",
                "inst_list",
                "ctime",
                "serial_no",
                "network6",
                "gateway6",
            ],
            "network",
        );
    }
    if let Some(real) = fixture("networks.json") {
        assert_eq!(c.get("/2/networks").await, real);
    }
    let again = json!({"conflicts_check": false, "group_name": "default", "network_link": "br0", "network_mode": "bridged"});
    let connect_again = c
        .job(reqwest::Method::PUT, "/2/networks/snf-net-1/connect", again)
        .await;
    assert_eq!(connect_again["status"], "success");
    if let Some(real) = fixture("job-network-connect-again.json") {
        assert_eq!(connect_again["oplog"][0][0][3], real["oplog"][0][0][3]);
    }
    assert_eq!(
        c.job(reqwest::Method::POST, "/2/instances", create_body("snf-1"))
            .await["status"],
        "success"
    );
    let taken = c
        .job(reqwest::Method::POST, "/2/instances", create_body("snf-12"))
        .await;
    if let Some(real) = fixture("job-failed-ip-in-use.json") {
        assert_eq!(taken["opresult"], real["opresult"]);
    }
    let hotplug = json!({"hotplug": true, "nics": [["add", -1, {"ip": "10.0.0.6", "mac": "auto", "name": "snf-nic-2", "network": "snf-net-1"}]]});
    let refused = c
        .job(reqwest::Method::PUT, "/2/instances/snf-1/modify", hotplug)
        .await;
    if let Some(real) = fixture("job-modify-hotplug.json") {
        assert_eq!(
            (
                &refused["status"],
                &refused["opresult"][0][0],
                &refused["opresult"][0][1][1]
            ),
            (
                &real["status"],
                &real["opresult"][0][0],
                &real["opresult"][0][1][1]
            )
        );
    }
    let add = json!({"hotplug_if_possible": true, "nics": [["add", -1, {"ip": "10.0.0.7", "name": "snf-nic-3", "network": "snf-net-1"}]]});
    let added = c
        .job(reqwest::Method::PUT, "/2/instances/snf-1/modify", add)
        .await;
    assert_eq!(added["summary"], json!(["INSTANCE_SET_PARAMS(snf-1)"]));
    let change = added["opresult"][0][0].clone();
    assert_eq!(change[0], "nic.1");
    assert!(
        change[1]
            .as_str()
            .is_some_and(|t| t.starts_with("add:mac=aa:00:01:")
                && t.ends_with("ip=10.0.0.7,mode=bridged,link=br0,network=snf-net-1")),
        "{change}"
    );
    let after = c.get("/2/instances/snf-1").await;
    if let Some(real) = fixture("instance-snf-1-after-modify.json") {
        assert_eq!(
            (&after["nic.names"], &after["nic.ips"]),
            (&real["nic.names"], &real["nic.ips"])
        );
    }
    let removed = c
        .job(
            reqwest::Method::PUT,
            "/2/instances/snf-1/modify",
            json!({"nics": [["remove", "snf-nic-3", {}]]}),
        )
        .await;
    if let Some(real) = fixture("job-modify-remove-nic.json") {
        assert_eq!(removed["opresult"], real["opresult"]);
    }
    assert_eq!(
        c.get("/2/networks/snf-net-1").await["inst_list"],
        json!(["snf-1"])
    );
    assert_eq!(
        c.job(reqwest::Method::DELETE, "/2/instances/snf-1", json!({}))
            .await["status"],
        "success"
    );
    let busy = c
        .job(reqwest::Method::DELETE, "/2/networks/snf-net-1", json!({}))
        .await;
    assert_eq!(
        busy["status"], "error",
        "a connected network cannot be removed"
    );
    assert_eq!(
        c.job(
            reqwest::Method::PUT,
            "/2/networks/snf-net-1/disconnect",
            json!({"group_name": "default"})
        )
        .await["summary"],
        json!(["NETWORK_DISCONNECT(snf-net-1)"])
    );
    assert_eq!(
        c.job(reqwest::Method::DELETE, "/2/networks/snf-net-1", json!({}))
            .await["summary"],
        json!(["NETWORK_REMOVE(snf-net-1)"])
    );
    assert_eq!(c.get("/2/networks").await, json!([]));
    s.shutdown().await;
}

#[tokio::test]
async fn auth_errors_and_discovery_match_ganeti() {
    let s = sim(Latency::zero(), None).await;
    let c = Client::new(&s);
    let anonymous = reqwest::get(format!("{}/2/info", s.url()))
        .await
        .expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: Value = anonymous.json().await.expect("json");
    if let Some(real) = fixture("error-401-no-auth.json") {
        assert_eq!(body, real);
    }
    assert_eq!(
        reqwest::get(format!("{}/version", s.url()))
            .await
            .expect("v")
            .json::<Value>()
            .await
            .expect("json"),
        json!(2)
    );
    assert!(
        c.get("/2/features")
            .await
            .as_array()
            .expect("list")
            .contains(&json!("instance-create-reqv1"))
    );
    let (status, body) = c
        .send(reqwest::Method::GET, "/2/nosuchresource", None)
        .await;
    assert_eq!(status, 404);
    if let Some(real) = fixture("error-404-resource.json") {
        assert_eq!(body, real);
    }
    let (status, body) = c
        .send(
            reqwest::Method::POST,
            "/2/instances/snf-1/shutdown",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (501, json!(501)),
        "shutdown is PUT"
    );
    let (status, _) = c
        .send(
            reqwest::Method::POST,
            "/2/instances",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 400, "create needs __version__");

    let nodes = c.get("/2/nodes?bulk=1").await;
    assert_eq!(nodes.as_array().map(Vec::len), Some(2));
    if let Some(real) = fixture("nodes-bulk.json") {
        let fields = [
            "name",
            "mfree",
            "mtotal",
            "dfree",
            "dtotal",
            "ctotal",
            "cnodes",
            "offline",
            "drained",
            "vm_capable",
            "pinst_cnt",
            "pinst_list",
            "group.uuid",
            "role",
        ];
        same_shape(&nodes[0], &real[0], &fields, "node");
    }
    if let Some(real) = fixture("nodes.json") {
        assert_eq!(
            c.get("/2/nodes").await[0].as_object().map(|o| o.len()),
            real[0].as_object().map(|o| o.len())
        );
    }
    let groups = c.get("/2/groups?bulk=1").await;
    if let Some(real) = fixture("groups-bulk.json") {
        same_shape(
            &groups[0],
            &real[0],
            &[
                "name",
                "uuid",
                "node_cnt",
                "node_list",
                "alloc_policy",
                "ipolicy",
            ],
            "group",
        );
    }
    let info = c.get("/2/info").await;
    if let Some(real) = fixture("info.json") {
        same_shape(
            &info,
            &real,
            &[
                "name",
                "master",
                "enabled_disk_templates",
                "enabled_hypervisors",
                "default_hypervisor",
                "beparams",
                "ipolicy",
                "software_version",
            ],
            "info",
        );
    }
    let unknown = c.get("/2/jobs/999999").await;
    if let Some(real) = fixture("job-nonexistent.json") {
        assert_eq!(unknown, real);
    }
    s.shutdown().await;
}

#[tokio::test]
async fn instance_lifecycle_through_jobs() {
    let s = sim(Latency::zero(), None).await;
    let c = Client::new(&s);
    network_setup(&c).await;
    let free_before: u64 = c
        .get("/2/nodes?bulk=1")
        .await
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["mfree"].as_u64().unwrap_or(0))
        .sum();

    let job = c
        .job(reqwest::Method::POST, "/2/instances", create_body("snf-1"))
        .await;
    assert_eq!(job["status"], "success", "{job}");
    if let Some(real) = fixture("job-create-success.json") {
        same_shape(
            &job,
            &real,
            &[
                "id",
                "status",
                "ops",
                "opstatus",
                "opresult",
                "oplog",
                "summary",
                "received_ts",
                "start_ts",
                "end_ts",
            ],
            "job",
        );
        assert_eq!(job["summary"], json!(["INSTANCE_CREATE(snf-1)"]));
        assert_eq!(job["ops"][0]["OP_ID"], real["ops"][0]["OP_ID"]);
        assert_eq!(job["ops"][0]["instance_name"], "snf-1");
    }
    let node = job["opresult"][0][0]
        .as_str()
        .expect("the primary node")
        .to_string();
    let inst = c.get("/2/instances/snf-1").await;
    assert_eq!(
        (inst["status"].as_str(), inst["pnode"].as_str()),
        (Some("running"), Some(node.as_str()))
    );
    if let Some(real) = fixture("instance-snf-1.json") {
        let fields = [
            "name",
            "status",
            "admin_state",
            "oper_state",
            "pnode",
            "beparams",
            "disk_template",
            "disk.sizes",
            "disk.names",
            "nic.names",
            "nic.ips",
            "nic.macs",
            "nic.networks.names",
            "tags",
            "os",
            "serial_no",
            "ctime",
            "mtime",
            "uuid",
        ];
        same_shape(&inst, &real, &fields, "instance");
    }
    let free_after: u64 = c
        .get("/2/nodes?bulk=1")
        .await
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["mfree"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(
        free_before - free_after,
        512,
        "a running instance uses its memory"
    );

    // A second create with the same name fails the way Ganeti does.
    let dup = c
        .job(reqwest::Method::POST, "/2/instances", create_body("snf-1"))
        .await;
    assert_eq!(dup["status"], "error");
    assert_eq!(dup["opresult"][0][0], "OpPrereqError");
    assert_eq!(dup["opresult"][0][1][1], "already_exists");
    if let Some(real) = fixture("job-failed.json") {
        assert_eq!(dup["opresult"], real["opresult"]);
    }

    let stop = c
        .job(
            reqwest::Method::PUT,
            "/2/instances/snf-1/shutdown",
            json!({"timeout": 0}),
        )
        .await;
    assert_eq!(stop["summary"], json!(["INSTANCE_SHUTDOWN(snf-1)"]));
    let stopped = c.get("/2/instances/snf-1").await;
    assert_eq!(
        (
            stopped["status"].as_str(),
            stopped["admin_state"].as_str(),
            stopped["oper_state"].as_bool()
        ),
        (Some("ADMIN_down"), Some("down"), Some(false))
    );
    if let Some(real) = fixture("instance-snf-1-stopped.json") {
        assert_eq!(
            (stopped["status"].clone(), stopped["oper_ram"].clone()),
            (real["status"].clone(), real["oper_ram"].clone())
        );
    }
    let reboot_down = c
        .job(
            reqwest::Method::POST,
            "/2/instances/snf-1/reboot?type=hard",
            json!({}),
        )
        .await;
    assert_eq!(
        reboot_down["status"], "error",
        "a stopped instance cannot reboot"
    );
    assert_eq!(
        c.job(
            reqwest::Method::PUT,
            "/2/instances/snf-1/startup",
            json!({})
        )
        .await["status"],
        "success"
    );
    assert_eq!(
        c.job(
            reqwest::Method::POST,
            "/2/instances/snf-1/reboot?type=hard",
            json!({})
        )
        .await["status"],
        "success"
    );
    assert_eq!(
        c.job(reqwest::Method::DELETE, "/2/instances/snf-1", json!({}))
            .await["status"],
        "success"
    );
    let (status, _) = c
        .send(reqwest::Method::GET, "/2/instances/snf-1", None)
        .await;
    assert_eq!(status, 404);
    let free_end: u64 = c
        .get("/2/nodes?bulk=1")
        .await
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["mfree"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(free_end, free_before);
    s.shutdown().await;
}

#[tokio::test]
async fn jobs_take_realistic_time() {
    let s = sim(Latency::realistic(), None).await;
    let c = Client::new(&s);
    network_setup(&c).await;
    let (_, id) = c
        .send(
            reqwest::Method::POST,
            "/2/instances",
            Some(create_body("snf-9")),
        )
        .await;
    let early = c.get(&format!("/2/jobs/{id}")).await;
    assert_eq!(early["status"], "queued");
    assert_eq!(early["opresult"], json!([null]));
    let job = c
        .job(
            reqwest::Method::PUT,
            "/2/instances/snf-9/shutdown",
            json!({}),
        )
        .await;
    assert_eq!(
        job["status"], "success",
        "jobs run in id order: the create finished first"
    );
    let created = c.get(&format!("/2/jobs/{id}")).await;
    let secs = |v: &Value| v[0].as_f64().unwrap_or(0.0) + v[1].as_f64().unwrap_or(0.0) / 1e6;
    let (r, st, e) = (
        secs(&created["received_ts"]),
        secs(&created["start_ts"]),
        secs(&created["end_ts"]),
    );
    assert!(r <= st && st <= e, "{created}");
    assert!(
        (e - r) >= 0.9,
        "queued 0.2 s + create 0.75 s, got {}",
        e - r
    );
    s.shutdown().await;
}

#[tokio::test]
async fn faults_are_injected_on_request() {
    let s = sim(Latency::zero(), None).await;
    let c = Client::new(&s);
    network_setup(&c).await;
    c.send(
        reqwest::Method::POST,
        "/sim/faults",
        Some(json!({"fail_next": {"OP_INSTANCE_CREATE": 1}})),
    )
    .await;
    let failed = c
        .job(reqwest::Method::POST, "/2/instances", create_body("snf-2"))
        .await;
    assert_eq!(failed["status"], "error");
    assert_eq!(
        c.job(reqwest::Method::POST, "/2/instances", create_body("snf-2"))
            .await["status"],
        "success"
    );
    c.send(
        reqwest::Method::POST,
        "/sim/faults",
        Some(json!({"errors_next": 1})),
    )
    .await;
    assert_eq!(c.send(reqwest::Method::GET, "/2/info", None).await.0, 500);
    assert_eq!(c.send(reqwest::Method::GET, "/2/info", None).await.0, 200);
    c.send(
        reqwest::Method::POST,
        "/sim/faults",
        Some(json!({"offline": true})),
    )
    .await;
    assert_eq!(c.send(reqwest::Method::GET, "/2/info", None).await.0, 502);
    c.send(
        reqwest::Method::POST,
        "/sim/faults",
        Some(json!({"offline": false})),
    )
    .await;
    // Lose an instance behind the control plane's back.
    assert_eq!(
        c.send(reqwest::Method::DELETE, "/sim/instances/snf-2", None)
            .await
            .0,
        204
    );
    assert_eq!(
        c.send(reqwest::Method::GET, "/2/instances/snf-2", None)
            .await
            .0,
        404
    );
    assert_eq!(
        c.send(
            reqwest::Method::POST,
            "/sim/faults",
            Some(json!({"bogus": 1}))
        )
        .await
        .0,
        400
    );
    s.shutdown().await;
}

#[tokio::test]
async fn the_cluster_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sim(Latency::zero(), Some(dir.path().to_path_buf())).await;
    let c = Client::new(&s);
    network_setup(&c).await;
    assert_eq!(
        c.job(reqwest::Method::POST, "/2/instances", create_body("snf-5"))
            .await["status"],
        "success"
    );
    s.shutdown().await;
    let s = sim(Latency::zero(), Some(dir.path().to_path_buf())).await;
    let c = Client::new(&s);
    assert_eq!(c.get("/2/instances/snf-5").await["status"], "running");
    let jobs = c.get("/2/jobs").await;
    assert_eq!(
        jobs.as_array().map(Vec::len),
        Some(3),
        "the job queue survives"
    );
    let (_, next) = c
        .send(
            reqwest::Method::PUT,
            "/2/instances/snf-5/shutdown",
            Some(json!({})),
        )
        .await;
    assert_eq!(next, json!(4), "job ids continue after a restart");
    assert_eq!(
        c.get("/2/networks/snf-net-1").await["inst_list"],
        json!(["snf-5"])
    );
    s.shutdown().await;
}

#[test]
fn the_job_queue_archives_old_finished_jobs_like_ganeti() {
    let mut c = Cluster::new("archive.sim", 1, Latency::zero());
    let mut ids = Vec::new();
    for _ in 0..(state::JOBS_KEPT + 50) {
        ids.push(c.submit(json!({"OP_ID": "OP_TAGS_SET", "tags": []}), "tags".into()));
    }
    assert_eq!(c.jobs.len(), state::JOBS_KEPT);
    // The oldest are gone (RAPI then answers null fields); the newest remain.
    assert!(!c.jobs.contains_key(&ids[0]));
    assert!(c.jobs.contains_key(ids.last().expect("id")));
}
