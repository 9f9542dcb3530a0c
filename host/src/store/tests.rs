//! Store tests on a real database: sled in a temporary directory, or a fresh PostgreSQL
//! database when the run asks for it (`store::testing`).

use std::collections::BTreeMap;

use super::*;
use crate::clock::Timestamp;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = testing::open(dir.path()).expect("open");
    (dir, store)
}

fn user(id: &str, name: &str) -> User {
    User {
        id: id.into(),
        name: name.into(),
        email: None,
        password_hash: None,
        is_admin: false,
        enabled: true,
        default_project_id: None,
        project_ids: vec![],
        created: Timestamp::now(),
        updated: Timestamp::now(),
        deleted: false,
        generation: 1,
    }
}

fn project(id: &str, name: &str) -> Project {
    Project {
        id: id.into(),
        name: name.into(),
        description: String::new(),
        enabled: true,
        created: Timestamp::now(),
        updated: Timestamp::now(),
        deleted: false,
        generation: 1,
    }
}

#[test]
fn ids_are_monotonic() {
    let (_dir, store) = temp_store();
    let ids: Vec<u64> = (0..100).map(|_| store.generate_id().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn names_are_unique_and_indexed() {
    let (_dir, store) = temp_store();
    store.user_insert(&user("u1", "alice")).unwrap();
    let err = store.user_insert(&user("u2", "alice")).unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists { kind: "user", .. }),
        "{err}"
    );
    // The failed insert left nothing behind.
    assert!(matches!(
        store.user_get("u2"),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.user_find("alice").unwrap().id, "u1");
    assert_eq!(store.user_find("u1").unwrap().name, "alice");
}

#[test]
fn updates_are_compare_and_swap_on_generation() {
    let (_dir, store) = temp_store();
    store.user_insert(&user("u1", "alice")).unwrap();
    let updated = store
        .user_update("u1", Some(1), |u| {
            u.is_admin = true;
            Ok(())
        })
        .unwrap();
    assert_eq!(updated.generation, 2);
    let stale = store.user_update("u1", Some(1), |_| Ok(())).unwrap_err();
    assert!(
        matches!(
            stale,
            StoreError::GenerationMismatch {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{stale}"
    );
    assert!(store.user_get("u1").unwrap().is_admin);
}

#[test]
fn soft_delete_keeps_the_record_and_frees_the_name() {
    let (_dir, store) = temp_store();
    store.project_insert(&project("p1", "demo")).unwrap();
    store.project_soft_delete("p1", None).unwrap();
    assert!(store.project_list(Deleted::Exclude).unwrap().is_empty());
    assert_eq!(store.project_list(Deleted::Only).unwrap().len(), 1);
    assert!(store.project_get("p1").unwrap().deleted);
    store.project_insert(&project("p2", "demo")).unwrap();
    assert_eq!(store.project_find("demo").unwrap().id, "p2");
}

#[test]
fn schema_version_is_checked_at_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = testing::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        store.force_schema_version(SCHEMA_VERSION + 1).unwrap();
    }
    let err = testing::reopen(dir.path())
        .err()
        .expect("newer schema refused");
    assert!(matches!(err, StoreError::SchemaTooNew { .. }));
    assert!(err.to_string().contains("newer"), "{err}");
}

/// sled's data directory is one process's alone; a PostgreSQL database is shared by replicas.
#[test]
fn a_second_open_of_the_same_dir_is_refused_on_sled_and_shared_on_postgres() {
    let (dir, store) = temp_store();
    match testing::open(dir.path()) {
        Err(err) => {
            assert!(!store.shared());
            assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        }
        Ok(second) => {
            assert!(store.shared() && second.shared());
            store.project_insert(&project("p1", "demo")).unwrap();
            assert_eq!(second.project_find("demo").unwrap().id, "p1");
        }
    }
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = testing::open(dir.path()).unwrap();
        store.project_insert(&project("p1", "demo")).unwrap();
        store.flush_blocking().unwrap();
    }
    let store = testing::reopen(dir.path()).unwrap();
    assert_eq!(store.project_find("demo").unwrap().id, "p1");
}

fn provisions(items: &[(&str, i64)]) -> BTreeMap<String, i64> {
    items.iter().map(|(r, q)| (r.to_string(), *q)).collect()
}

#[test]
fn commissions_charge_pending_then_resolve() {
    let (_dir, store) = temp_store();
    let limit = |_: &str| 2;
    let new = NewCommission {
        name: "job-1".into(),
        project_id: "p1".into(),
        provisions: provisions(&[("cyclades.vm", 1), ("cyclades.ram", 0)]),
        force: false,
    };
    let c = store.commission_issue(&new, &limit).unwrap();
    assert_eq!(c.state, CommissionState::Pending);
    // Same name, same provisions: the same commission (idempotent).
    assert_eq!(
        store.commission_issue(&new, &limit).unwrap().serial,
        c.serial
    );
    // Same name, different provisions: refused.
    let reused = NewCommission {
        provisions: provisions(&[("cyclades.vm", 2)]),
        ..new.clone()
    };
    assert!(matches!(
        store.commission_issue(&reused, &limit),
        Err(StoreError::CommissionNameReused { .. })
    ));
    let usage = &store.quota_usages("p1").unwrap();
    let vm = usage.iter().find(|u| u.resource == "cyclades.vm").unwrap();
    assert_eq!((vm.usage, vm.pending_add), (0, 1));

    // Pending counts against the limit: 1 pending + 2 > 2.
    let over = NewCommission {
        name: "job-2".into(),
        provisions: provisions(&[("cyclades.vm", 2)]),
        ..new.clone()
    };
    match store.commission_issue(&over, &limit) {
        Err(StoreError::LimitExceeded {
            resource,
            limit,
            usage,
            requested,
        }) => {
            assert_eq!(
                (resource.as_str(), limit, usage, requested),
                ("cyclades.vm", 2, 1, 2)
            );
        }
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    assert!(store.commission_find_by_name("job-2").unwrap().is_none());

    let accepted = store.commission_resolve(c.serial, true).unwrap();
    assert_eq!(accepted.state, CommissionState::Accepted);
    assert_eq!(
        store.commission_resolve(c.serial, true).unwrap().generation,
        accepted.generation
    );
    assert!(matches!(
        store.commission_resolve(c.serial, false),
        Err(StoreError::CommissionResolved {
            state: "accepted",
            ..
        })
    ));
    let vm = store
        .quota_usages("p1")
        .unwrap()
        .into_iter()
        .find(|u| u.resource == "cyclades.vm")
        .unwrap();
    assert_eq!((vm.usage, vm.pending_add), (1, 0));

    // A rejected removal leaves usage as it was; an explicit limit overrides the default.
    store.quota_limit_set("p1", "cyclades.vm", 5).unwrap();
    let big = NewCommission {
        name: "job-3".into(),
        provisions: provisions(&[("cyclades.vm", 4)]),
        ..new.clone()
    };
    let c3 = store.commission_issue(&big, &limit).unwrap();
    store.commission_resolve(c3.serial, false).unwrap();
    let vm = store
        .quota_usages("p1")
        .unwrap()
        .into_iter()
        .find(|u| u.resource == "cyclades.vm")
        .unwrap();
    assert_eq!((vm.usage, vm.pending_add, vm.pending_remove), (1, 0, 0));
    assert_eq!(
        store
            .commission_list(Some(CommissionState::Rejected))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn tokens_are_revoked_and_purged() {
    let (_dir, store) = temp_store();
    let now = Timestamp::now();
    let token = TokenRecord {
        user_id: "u1".into(),
        project_id: None,
        methods: vec!["password".into()],
        issued_at: now,
        expires_at: Some(now.plus_secs(10)),
        audit_id: "a".into(),
        revoked: false,
        generation: 1,
    };
    store.token_insert(b"digest-1", &token).unwrap();
    store
        .token_insert(
            b"digest-2",
            &TokenRecord {
                expires_at: None,
                ..token.clone()
            },
        )
        .unwrap();
    assert!(store.token_revoke(b"digest-1").unwrap());
    assert!(!store.token_revoke(b"missing").unwrap());
    assert!(store.token_get(b"digest-1").unwrap().unwrap().revoked);
    assert_eq!(store.token_purge(now.plus_secs(60)).unwrap(), 1);
    assert!(store.token_get(b"digest-1").unwrap().is_none());
    assert!(store.token_get(b"digest-2").unwrap().is_some());
    assert_eq!(store.token_revoke_user("u1").unwrap(), 1);
}

fn port(id: u64, device: Option<u64>) -> Port {
    Port {
        id,
        name: String::new(),
        network_id: 1,
        user_id: "u".into(),
        project_id: "p".into(),
        device_id: device,
        mac: None,
        ipv4: None,
        floating_ip_id: None,
        status: "DOWN".into(),
        firewall_profile: None,
        security_groups: vec![],
        created: Timestamp::now(),
        updated: Timestamp::now(),
        generation: 0,
    }
}

fn ids(ports: Vec<Port>) -> Vec<u64> {
    ports.into_iter().map(|p| p.id).collect()
}

#[test]
fn the_ports_of_a_server_follow_attach_move_and_remove() {
    let (dir, store) = temp_store();
    let mut batch = Batch::new();
    for (id, device) in [(11, Some(1)), (12, Some(1)), (13, Some(2)), (14, None)] {
        batch.insert(&port(id, device));
    }
    store.commit(&batch).expect("insert");
    assert_eq!(ids(store.ports_of_server(1).expect("ports")), vec![11, 12]);
    assert_eq!(ids(store.ports_of_server(2).expect("ports")), vec![13]);
    // 12 moves to server 2, 14 is attached to 1, 11 goes.
    let mut batch = Batch::new();
    let mut moved = store.port_get(12).expect("port");
    moved.device_id = Some(2);
    batch.update(&moved);
    let mut attached = store.port_get(14).expect("port");
    attached.device_id = Some(1);
    batch.update(&attached);
    batch.remove(&store.port_get(11).expect("port"));
    store.commit(&batch).expect("update");
    assert_eq!(ids(store.ports_of_server(1).expect("ports")), vec![14]);
    assert_eq!(ids(store.ports_of_server(2).expect("ports")), vec![12, 13]);
    // A failed batch leaves the index as it was.
    let mut batch = Batch::new();
    let mut stale = moved.clone();
    stale.device_id = None;
    batch.update(&stale);
    assert!(store.commit(&batch).is_err(), "stale generation");
    assert_eq!(ids(store.ports_of_server(2).expect("ports")), vec![12, 13]);
    // The index is rebuilt at open (a store written before it existed gets it).
    store.trees.ports_by_server.clear().expect("clear");
    drop(store);
    let store = testing::reopen(dir.path()).expect("reopen");
    assert_eq!(ids(store.ports_of_server(1).expect("ports")), vec![14]);
    assert_eq!(ids(store.ports_of_server(2).expect("ports")), vec![12, 13]);
}

/// Schema 1 → 2: servers recorded before volumes existed get their root volume at open, with a
/// status that follows the server's; deleted servers get none; a second open changes nothing.
#[test]
fn a_schema_1_store_gets_root_volumes_for_its_servers() {
    let (dir, store) = temp_store();
    let now = Timestamp::now();
    let flavor = store
        .flavor_insert(&Flavor {
            id: 0,
            cpu: 1,
            ram_mb: 1024,
            disk_gb: 10,
            volume_type_id: 3,
            disk_template: "drbd".into(),
            public: true,
            allow_create: true,
            access: vec![],
            specs: BTreeMap::new(),
            created: now,
            updated: now,
            deleted: false,
            generation: 0,
        })
        .expect("flavor");
    let server = |id: u64, operstate: &str, deleted: bool| -> Server {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": "n", "user_id": "u", "project_id": "p", "flavor_id": flavor.id,
            "image_id": "img", "key_names": [], "metadata": {}, "backend_id": 1,
            "operstate": operstate, "action": "CREATE", "task": null, "active_job": null,
            "backend_job_id": null, "backend_opcode": null, "backend_job_status": null,
            "backend_log_msg": null, "suspended": false, "quota_charged": true,
            "diagnostics": [], "created": 0, "updated": 0, "deleted": deleted, "generation": 0
        }))
        .expect("server")
    };
    let mut batch = Batch::new();
    for s in [
        server(101, "STARTED", false),
        server(102, "ERROR", false),
        server(103, "DESTROYED", true),
    ] {
        batch.insert_server(&s);
    }
    store.commit(&batch).expect("servers");
    store.force_schema_version(1).expect("v1");
    drop(store);

    let store = testing::reopen(dir.path()).expect("migrated");
    assert_eq!(store.schema_version().expect("version"), 2);
    let root = store.volume_get(101).expect("root volume");
    assert_eq!(
        (
            root.status.as_str(),
            root.index,
            root.size_gb,
            root.volume_type_id
        ),
        ("IN_USE", Some(0), 10, 3)
    );
    assert!(root.initialised && !root.quota_charged);
    assert_eq!(store.volume_get(102).expect("root").status, "ERROR");
    assert!(store.volume_get(103).is_err(), "deleted servers get none");
    assert_eq!(store.volumes_of_server(101).expect("index").len(), 1);
    drop(store);
    let store = testing::reopen(dir.path()).expect("reopen");
    assert_eq!(store.volume_list(Deleted::Include).expect("list").len(), 2);
}

/// Many writers at once (threads here; replicas on PostgreSQL behave the same): the limit check
/// and the charge are one isolated transaction, so exactly `limit` commissions pass and usage
/// counts each once. On PostgreSQL this exercises SERIALIZABLE conflicts and their re-runs.
#[test]
fn concurrent_commissions_never_exceed_the_limit() {
    let (_dir, store) = temp_store();
    let passed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..6 {
            let (store, passed) = (&store, &passed);
            scope.spawn(move || {
                for j in 0..5 {
                    let new = NewCommission {
                        name: format!("c-{t}-{j}"),
                        project_id: "p1".into(),
                        provisions: provisions(&[("cyclades.vm", 1)]),
                        force: false,
                    };
                    match store.commission_issue(&new, &|_| 7) {
                        Ok(_) => {
                            passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        Err(StoreError::LimitExceeded { .. }) => {}
                        Err(e) => panic!("unexpected: {e}"),
                    }
                }
            });
        }
    });
    assert_eq!(passed.into_inner(), 7);
    let usage = store.quota_usages("p1").unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].pending_add, 7);
    assert_eq!(
        store
            .commission_list(Some(CommissionState::Pending))
            .unwrap()
            .len(),
        7
    );
}

/// Two writers inserting the same name at once: one wins, the other gets `AlreadyExists`, and
/// the name index points at the winner (an absent-key read is part of the isolation).
#[test]
fn concurrent_inserts_of_one_name_have_one_winner() {
    let (_dir, store) = temp_store();
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let store = &store;
                scope.spawn(move || store.project_insert(&project(&format!("p{i}"), "same")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..6).filter(|i| results[*i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(matches!(r, Err(StoreError::AlreadyExists { .. })), "{r:?}");
    }
    assert_eq!(
        store.project_find("same").unwrap().id,
        format!("p{}", winners[0])
    );
    assert_eq!(store.project_list(Deleted::Exclude).unwrap().len(), 1);
}

/// PostgreSQL only: a database migrated by a newer cyclades (a DDL migration this build does
/// not know) is refused at open, naming the versions; the password is not in the error.
#[test]
fn a_postgres_schema_newer_than_this_build_is_refused() {
    let Some(server) =
        testing::postgres_or_skip("a_postgres_schema_newer_than_this_build_is_refused")
    else {
        return;
    };
    let url = testing::fresh_database(&server).unwrap();
    drop(Store::open_postgres(&PgOptions::new(url.clone())).unwrap());
    testing::execute(
        &url,
        "INSERT INTO cyclades_migrations (version) VALUES (99)",
    )
    .unwrap();
    let err = Store::open_postgres(&PgOptions::new(url.clone()))
        .err()
        .expect("newer schema refused");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    let password = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .unwrap();
    assert!(!err.to_string().contains(password), "{err}");
}
