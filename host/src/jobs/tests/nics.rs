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

/// A world with a running server and a private network: `(world, store, engine, server, network)`.
async fn server_and_network() -> (World, Store, JobEngine, u64, u64) {
    let w = world().await;
    let store = open_store(w.dir.path());
    let e = engine(&store);
    let (server_id, job) = submit_create(&w, &e).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let network_id = private_network(&store);
    (w, store, e, server_id, network_id)
}

#[tokio::test]
async fn connect_firewall_and_disconnect_run_twice_reach_the_same_state() {
    let (w, store, e, server_id, network_id) = server_and_network().await;
    e.set_test_hooks(TestHooks {
        fail_step: None,
        run_twice: true,
        ..TestHooks::default()
    });
    let port_id = store.generate_id().expect("id");
    let job = submit_nic(&e, server_id, &SERVER_CONNECT, port_id, Some(network_id)).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let o = nic_outcome(&w, &store, server_id, network_id, port_id, job);
    assert_eq!(
        o,
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
    let n = store.network_get(network_id).expect("network");
    assert_eq!(
        n.backends.get(&w.backend_id).map(|b| b.state.as_str()),
        Some("ACTIVE")
    );

    let job = submit_nic(&e, server_id, &SERVER_FIREWALL, port_id, None).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let o = nic_outcome(&w, &store, server_id, network_id, port_id, job);
    assert_eq!(
        o.port,
        Some(("ACTIVE".into(), true, Some("ENABLED".into())))
    );
    assert_eq!(o.tags, vec!["synnefo:network:NIC:protected".to_string()]);

    let job = submit_nic(&e, server_id, &SERVER_DISCONNECT, port_id, None).await;
    assert_eq!(finish(&e, job).await, JobState::Succeeded);
    let o = nic_outcome(&w, &store, server_id, network_id, port_id, job);
    assert_eq!(
        (
            o.port,
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
    for step in SERVER_CONNECT.steps {
        let (w, store, e, server_id, network_id) = server_and_network().await;
        e.set_test_hooks(TestHooks {
            fail_step: Some(step.name),
            run_twice: true,
            ..TestHooks::default()
        });
        let port_id = store.generate_id().expect("id");
        let job = submit_nic(&e, server_id, &SERVER_CONNECT, port_id, Some(network_id)).await;
        assert_eq!(finish(&e, job).await, JobState::Failed, "{}", step.name);
        let o = nic_outcome(&w, &store, server_id, network_id, port_id, job);
        assert_eq!(
            (o.port, o.used_addresses, o.in_ganeti, o.locked),
            (None, 0, false, false),
            "{}",
            step.name
        );
        let s = store.server_get(server_id).expect("server");
        assert_eq!(
            (s.operstate.as_str(), s.task),
            ("STARTED", None),
            "{}",
            step.name
        );
    }
}

#[tokio::test]
async fn each_failed_disconnect_step_keeps_the_port_until_ganeti_dropped_the_nic() {
    for (i, step) in SERVER_DISCONNECT.steps.iter().enumerate() {
        let (w, store, e, server_id, network_id) = server_and_network().await;
        let port_id = store.generate_id().expect("id");
        let job = submit_nic(&e, server_id, &SERVER_CONNECT, port_id, Some(network_id)).await;
        assert_eq!(finish(&e, job).await, JobState::Succeeded);
        e.set_test_hooks(TestHooks {
            fail_step: Some(step.name),
            run_twice: true,
            ..TestHooks::default()
        });
        let job = submit_nic(&e, server_id, &SERVER_DISCONNECT, port_id, None).await;
        let state = finish(&e, job).await;
        let o = nic_outcome(&w, &store, server_id, network_id, port_id, job);
        if i == 2 {
            // Past the point of no return (Ganeti dropped the NIC): stuck, lock held.
            assert_eq!(
                (state, o.in_ganeti, o.locked),
                (JobState::Stuck, false, true),
                "{}",
                step.name
            );
        } else {
            assert_eq!(state, JobState::Failed, "{}", step.name);
            assert_eq!(
                (o.port.map(|p| p.0), o.used_addresses, o.locked),
                (Some("ACTIVE".to_string()), 1, false),
                "{}",
                step.name
            );
            if i == 0 {
                assert!(o.in_ganeti, "nothing asked of Ganeti");
            }
            // A failed *wait* does not stop Ganeti: a NIC it dropped anyway is drift the
            // reconciler reports.
        }
    }
}

/// Connect, then disconnect, with a crash after `crash_at` log writes of the job `crash_in`
/// (0: connect, 1: disconnect); returns the outcome and the number of writes.
async fn connect_disconnect(
    crash_in: usize,
    crash_at: Option<u64>,
    older: bool,
) -> (Vec<NicOutcome>, u64) {
    let (w, store, e, server_id, network_id) = server_and_network().await;
    let port_id = store.generate_id().expect("id");
    let mut outcomes = Vec::new();
    let mut writes = 0;
    let (mut store, mut e) = (store, e);
    for (n, (kind, network)) in [
        (&SERVER_CONNECT, Some(network_id)),
        (&SERVER_DISCONNECT, None),
    ]
    .into_iter()
    .enumerate()
    {
        if n == crash_in {
            e.crash_after_writes(crash_at);
            if older {
                e.set_test_hooks(TestHooks {
                    older_outputs: Some(older_shapes),
                    ..TestHooks::default()
                });
            }
        }
        let job = submit_nic(&e, server_id, kind, port_id, network).await;
        if n == crash_in {
            (store, e, writes) = restart(&w, store, e).await;
        }
        assert_eq!(
            finish(&e, job).await,
            JobState::Succeeded,
            "{} crash at {crash_at:?}",
            kind.name
        );
        outcomes.push(nic_outcome(&w, &store, server_id, network_id, port_id, job));
    }
    (outcomes, writes)
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_connect_and_disconnect_changes_nothing() {
    for crash_in in [0, 1] {
        let (reference, writes) = connect_disconnect(crash_in, None, false).await;
        assert!(writes >= 4, "the job logged {writes} events");
        for k in 0..writes {
            let (o, _) = connect_disconnect(crash_in, Some(k), false).await;
            assert_eq!(o, reference, "crash after {k} log writes of job {crash_in}");
        }
    }
}

#[tokio::test]
async fn a_connect_logged_in_the_older_output_shapes_resumes_from_every_boundary() {
    let (reference, writes) = connect_disconnect(0, None, false).await;
    for k in 0..writes {
        let (o, _) = connect_disconnect(0, Some(k), true).await;
        assert_eq!(
            o, reference,
            "crash after {k} log writes of an older connect log"
        );
    }
}

/// `server.create` with a NIC on a private network, crashing after `crash_at` log writes:
/// the outcome (server, instances, quota, port, address, NIC in Ganeti) of the finished job.
async fn create_with_nic(crash_at: Option<u64>) -> ((Outcome, NicOutcome), u64) {
    let w = world().await;
    let store = open_store(w.dir.path());
    let e = engine(&store);
    let network_id = private_network(&store);
    let server_id = store.generate_id().expect("id");
    let port_id = store.generate_id().expect("id");
    let job = store.generate_id().expect("id");
    let mut params = w.create_params(server_id);
    params["nics"] = serde_json::to_value(vec![NicPlan {
        port_id,
        existing: false,
        network_id,
        address: None,
        floating_ip_id: None,
        name: String::new(),
    }])
    .expect("nics");
    e.crash_after_writes(crash_at);
    e.submit(
        &SERVER_CREATE,
        format!("server/{server_id}"),
        params,
        job,
        Batch::new(),
    )
    .await
    .expect("submit");
    let (store, e, writes) = restart(&w, store, e).await;
    assert_eq!(
        finish(&e, job).await,
        JobState::Succeeded,
        "crash at {crash_at:?}"
    );
    let o = outcome(&w, &store, server_id, job);
    let n = nic_outcome(&w, &store, server_id, network_id, port_id, job);
    ((o, n), writes)
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_create_with_a_nic_changes_nothing() {
    let (reference, writes) = create_with_nic(None).await;
    assert_eq!(
        (
            reference.1.port.clone(),
            reference.1.used_addresses,
            reference.1.in_ganeti
        ),
        (Some(("ACTIVE".to_string(), true, None)), 1, true),
        "{reference:?}"
    );
    for k in 0..writes {
        let (o, _) = create_with_nic(Some(k)).await;
        assert_eq!(o, reference, "crash after {k} log writes");
    }
}

#[tokio::test]
async fn a_crash_at_every_log_boundary_of_a_firewall_change_changes_nothing() {
    async fn run(crash_at: Option<u64>) -> (NicOutcome, u64) {
        let (w, store, e, server_id, network_id) = server_and_network().await;
        let port_id = store.generate_id().expect("id");
        let job = submit_nic(&e, server_id, &SERVER_CONNECT, port_id, Some(network_id)).await;
        assert_eq!(finish(&e, job).await, JobState::Succeeded);
        e.crash_after_writes(crash_at);
        let job = submit_nic(&e, server_id, &SERVER_FIREWALL, port_id, None).await;
        let (store, e, writes) = restart(&w, store, e).await;
        assert_eq!(
            finish(&e, job).await,
            JobState::Succeeded,
            "crash at {crash_at:?}"
        );
        (
            nic_outcome(&w, &store, server_id, network_id, port_id, job),
            writes,
        )
    }
    let (reference, writes) = run(None).await;
    assert_eq!(
        reference.tags,
        vec!["synnefo:network:NIC:protected".to_string()]
    );
    for k in 0..writes {
        assert_eq!(
            run(Some(k)).await.0,
            reference,
            "crash after {k} log writes"
        );
    }
}
