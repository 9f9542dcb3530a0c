//! The job-engine suites for NICs of existing servers (`server.connect`,
//! `server.disconnect`, `server.firewall`), against real sled and the simulator: every step
//! failed in turn (nothing leaks: no port, no address, no NIC, no lock), every remote step and
//! undo run twice, and a crash at every log boundary ending where a run without one ends.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use super::*;
use crate::clock::Timestamp;
use crate::store::{Network, Subnet};

/// A private network with one IPv4 subnet, 10.9.0.0/24, in the store.
pub(super) fn private_network(store: &Store) -> u64 {
    let id = store.generate_id().expect("id");
    let network = network_record(id);
    let mut batch = Batch::new();
    batch.insert(&network);
    store.commit(&batch).expect("network");
    id
}

/// The record `private_network` stores, with id `id` (its subnet `id + 1`).
pub(super) fn network_record(id: u64) -> Network {
    let now = Timestamp::now();
    Network {
        id,
        name: "priv".into(),
        user_id: Some("u".into()),
        project_id: Some("p1".into()),
        shared_to_project: false,
        flavor: "MAC_FILTERED".into(),
        mode: "bridged".into(),
        link: "br0".into(),
        mac_prefix: "aa:00:05".into(),
        tags: vec!["nfdhcpd".into()],
        pooled_link: None,
        pooled_mac_prefix: None,
        group_mac_prefixes: Default::default(),
        plugin: serde_json::Value::Null,
        public: false,
        floating_ip_pool: false,
        drained: false,
        state: "ACTIVE".into(),
        action: None,
        subnets: vec![Subnet {
            id: id + 1,
            name: String::new(),
            ip_version: 4,
            cidr: "10.9.0.0/24".into(),
            gateway: Some("10.9.0.1".into()),
            dhcp: true,
            dns_nameservers: vec![],
            host_routes: vec![],
            pools: vec![(Ipv4Addr::new(10, 9, 0, 2), Ipv4Addr::new(10, 9, 0, 254))],
            used: BTreeSet::new(),
            reserved: BTreeSet::new(),
            created: now,
            updated: now,
        }],
        backends: BTreeMap::new(),
        active_job: None,
        created: now,
        updated: now,
        deleted: false,
        generation: 0,
    }
}

/// Takes the server's lock and submits a NIC job for port `port_id`.
async fn submit_nic(
    e: &JobEngine,
    server_id: u64,
    kind: &'static JobKind,
    port_id: u64,
    network_id: Option<u64>,
) -> u64 {
    let action = match kind.name {
        "server.connect" => "CONNECT",
        "server.disconnect" => "DISCONNECT",
        _ => "SET_FIREWALL_PROFILE",
    };
    let params = ServerNicParams {
        server_id,
        action: action.into(),
        port_id,
        plan: network_id.map(|network_id| NicPlan {
            port_id,
            existing: false,
            network_id,
            address: None,
            floating_ip_id: None,
            name: String::new(),
            nat_port_id: None,
        }),
        hotplug: true,
        profile: Some("ENABLED".into()),
    };
    submit_locked(e, server_id, kind, action, params).await
}

/// What a NIC job leaves behind, without ids (so runs in different worlds compare).
#[derive(Debug, PartialEq)]
struct NicOutcome {
    job: JobState,
    /// The port's status and whether it has a MAC and a firewall profile.
    port: Option<(String, bool, Option<String>)>,
    used_addresses: usize,
    /// Whether Ganeti's instance has the NIC, and the NIC's firewall tags.
    in_ganeti: bool,
    tags: Vec<String>,
    locked: bool,
}

fn nic_outcome(
    w: &World,
    store: &Store,
    server_id: u64,
    network_id: u64,
    port_id: u64,
    job: u64,
) -> NicOutcome {
    let nic = format!("snf-nic-{port_id}");
    let (in_ganeti, tags) = w.sim.sim.read(|c| {
        c.instances
            .get(&format!("snf-{server_id}"))
            .map(|i| {
                (
                    i.nics
                        .iter()
                        .any(|n| n.name.as_deref() == Some(nic.as_str())),
                    i.tags
                        .iter()
                        .filter(|t| t.contains(&nic))
                        .map(|t| t.replace(&nic, "NIC"))
                        .collect(),
                )
            })
            .unwrap_or_default()
    });
    NicOutcome {
        job: store.job_get(job).expect("job").state,
        port: store
            .port_get(port_id)
            .ok()
            .map(|p| (p.status, p.mac.is_some(), p.firewall_profile)),
        used_addresses: store.network_get(network_id).expect("network").subnets[0]
            .used
            .len(),
        in_ganeti,
        tags,
        locked: store
            .server_get(server_id)
            .expect("server")
            .active_job
            .is_some(),
    }
}

/// The NIC suites' scenario: a running server and a private network (the setup), then the
/// jobs `kinds` on one port of it (`server.connect` plans the port on the network).
struct NicJobs(&'static [&'static JobKind]);

/// What the NIC jobs work on: the server, the network and the port.
struct NicIds {
    server: u64,
    network: u64,
    port: u64,
}

impl kit::Scenario for NicJobs {
    type Ids = NicIds;
    type Outcome = NicOutcome;

    fn kinds(&self) -> Vec<&'static JobKind> {
        self.0.to_vec()
    }

    async fn setup(&self, w: &World, store: &Store, e: &JobEngine) -> NicIds {
        let (server, job) = submit_create(w, e).await;
        assert_eq!(
            finish(e, job).await,
            JobState::Succeeded,
            "the setup's create"
        );
        NicIds {
            server,
            network: private_network(store),
            port: store.generate_id().expect("id"),
        }
    }

    async fn submit(&self, n: usize, _: &World, e: &JobEngine, ids: &NicIds) -> u64 {
        let kind = self.0[n];
        let network = (kind.name == "server.connect").then_some(ids.network);
        submit_nic(e, ids.server, kind, ids.port, network).await
    }

    fn outcome(&self, w: &World, store: &Store, ids: &NicIds, job: u64) -> NicOutcome {
        nic_outcome(w, store, ids.server, ids.network, ids.port, job)
    }
}

const CONNECT: NicJobs = NicJobs(&[&SERVER_CONNECT]);
const CONNECT_DISCONNECT: NicJobs = NicJobs(&[&SERVER_CONNECT, &SERVER_DISCONNECT]);

#[tokio::test]
async fn connect_firewall_and_disconnect_run_twice_reach_the_same_state() {
    const CONNECT_FIREWALL_DISCONNECT: NicJobs =
        NicJobs(&[&SERVER_CONNECT, &SERVER_FIREWALL, &SERVER_DISCONNECT]);
    let ran = kit::run_twice_matches_once(&CONNECT_FIREWALL_DISCONNECT).await;
    assert_eq!(
        ran.outcomes[0],
        NicOutcome {
            job: JobState::Succeeded,
            port: Some(("ACTIVE".into(), true, None)),
            used_addresses: 1,
            in_ganeti: true,
            tags: vec![],
            locked: false,
        }
    );
    // The network went onto the backend on the way.
    let n = ran.store.network_get(ran.ids.network).expect("network");
    assert_eq!(
        n.backends.get(&ran.w.backend_id).map(|b| b.state.as_str()),
        Some("ACTIVE")
    );

    let o = &ran.outcomes[1];
    assert_eq!(
        o.port,
        Some(("ACTIVE".into(), true, Some("ENABLED".into())))
    );
    assert_eq!(o.tags, vec!["synnefo:network:NIC:protected".to_string()]);

    let o = ran.last();
    assert_eq!(
        (
            o.port.clone(),
            o.used_addresses,
            o.in_ganeti,
            o.tags.len(),
            o.locked
        ),
        (None, 0, false, 0, false),
        "port, address, NIC and firewall tag gone"
    );
}

#[tokio::test]
async fn each_failed_connect_step_leaks_nothing() {
    kit::fail_each_step(&CONNECT, 0, |_, step, ran| {
        assert_eq!(ran.state, JobState::Failed, "{step}");
        let o = ran.last();
        assert_eq!(
            (o.port.clone(), o.used_addresses, o.in_ganeti, o.locked),
            (None, 0, false, false),
            "{step}"
        );
        let s = ran.store.server_get(ran.ids.server).expect("server");
        assert_eq!((s.operstate.as_str(), s.task), ("STARTED", None), "{step}");
    })
    .await;
}

#[tokio::test]
async fn each_failed_disconnect_step_keeps_the_port_until_ganeti_dropped_the_nic() {
    kit::fail_each_step(&CONNECT_DISCONNECT, 1, |i, step, ran| {
        let o = ran.last();
        if i == 2 {
            // Past the point of no return (Ganeti dropped the NIC): stuck, lock held.
            assert_eq!(
                (ran.state, o.in_ganeti, o.locked),
                (JobState::Stuck, false, true),
                "{step}"
            );
        } else {
            assert_eq!(ran.state, JobState::Failed, "{step}");
            assert_eq!(
                (
                    o.port.as_ref().map(|p| p.0.as_str()),
                    o.used_addresses,
                    o.locked
                ),
                (Some("ACTIVE"), 1, false),
                "{step}"
            );
            if i == 0 {
                assert!(o.in_ganeti, "nothing asked of Ganeti");
            }
            // A failed *wait* does not stop Ganeti: a NIC it dropped anyway is drift the
            // reconciler reports.
        }
    })
    .await;
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_connect_and_disconnect_changes_nothing() {
    kit::crash_at_every_boundary(&CONNECT_DISCONNECT, &[0, 1]).await;
}

#[tokio::test]
async fn a_connect_logged_in_the_older_output_shapes_resumes_from_every_boundary() {
    kit::older_logs_resume(&CONNECT, 0).await;
}

/// `server.create` with a NIC on a private network (the network made in the setup): the
/// outcome of the server and of its port.
struct CreateWithNic;

impl kit::Scenario for CreateWithNic {
    type Ids = NicIds;
    type Outcome = (Outcome, NicOutcome);

    fn kinds(&self) -> Vec<&'static JobKind> {
        vec![&SERVER_CREATE]
    }

    async fn setup(&self, _: &World, store: &Store, _: &JobEngine) -> NicIds {
        NicIds {
            network: private_network(store),
            server: store.generate_id().expect("id"),
            port: store.generate_id().expect("id"),
        }
    }

    async fn submit(&self, _: usize, w: &World, e: &JobEngine, ids: &NicIds) -> u64 {
        let job = e.env().store.generate_id().expect("id");
        let mut params = w.create_params(ids.server);
        params["nics"] = serde_json::to_value(vec![NicPlan {
            port_id: ids.port,
            existing: false,
            network_id: ids.network,
            address: None,
            floating_ip_id: None,
            name: String::new(),
            nat_port_id: None,
        }])
        .expect("nics");
        let target = format!("server/{}", ids.server);
        submit_as(e, job, &SERVER_CREATE, target, params, Batch::new()).await
    }

    fn outcome(&self, w: &World, store: &Store, ids: &NicIds, job: u64) -> Self::Outcome {
        (
            outcome(w, store, ids.server, job),
            nic_outcome(w, store, ids.server, ids.network, ids.port, job),
        )
    }
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_create_with_a_nic_changes_nothing() {
    let reference = kit::crash_at_every_boundary(&CreateWithNic, &[0]).await;
    let nic = &reference[0].1;
    assert_eq!(
        (nic.port.clone(), nic.used_addresses, nic.in_ganeti),
        (Some(("ACTIVE".to_string(), true, None)), 1, true),
        "{reference:?}"
    );
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_firewall_change_changes_nothing() {
    const CONNECT_FIREWALL: NicJobs = NicJobs(&[&SERVER_CONNECT, &SERVER_FIREWALL]);
    let reference = kit::crash_at_every_boundary(&CONNECT_FIREWALL, &[1]).await;
    assert_eq!(
        reference[1].tags,
        vec!["synnefo:network:NIC:protected".to_string()]
    );
}
