//! The binary on PostgreSQL: `serve --store-url` serves, and a second replica on the same
//! database serves the same state (a second process under the same replica id is refused); `config show` never prints the database password; `store-migrate` copies a stopped
//! server's sled store into an empty database, prints the verified tables, and refuses a
//! non-empty target. Needs PostgreSQL (`scripts/postgres/up.sh`); says it skipped without one.

mod support;

use std::process::Command;

use cyclades::store::testing;
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_cyclades");

#[test]
fn serve_and_store_migrate_on_postgres() {
    let Some(server) = testing::postgres_or_skip("serve_and_store_migrate_on_postgres") else {
        return;
    };
    let password = server
        .split(':')
        .nth(2)
        .and_then(|p| p.split('@').next())
        .expect("a password in the test URL")
        .to_string();

    // A sled site with some state, then stopped.
    let sled_dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(sled_dir.path(), &[]);
    ok(served.cli(&["project-create", "--name", "moved"]));
    ok(served.cli(&[
        "user-create",
        "--username",
        "mover",
        "--password",
        "pw-mover",
        "--project",
        "moved",
    ]));
    drop(served.terminate());

    // store-migrate into an empty database: every table listed, verified.
    let target = testing::fresh_database(&server).expect("database");
    let migrate = |to: &str| {
        Command::new(BIN)
            .args(["store-migrate", "--from"])
            .arg(sled_dir.path())
            .args(["--to", to, "--output-format", "csv"])
            .env("CYCLADES_LOG", "warn")
            .output()
            .expect("run store-migrate")
    };
    let out = migrate(&target);
    let printed = ok(out.clone());
    assert!(
        stderr(&out).contains("every table verified"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(&password) && !printed.contains(&password));
    let row = |table: &str| {
        printed
            .lines()
            .find(|l| l.starts_with(&format!("{table},")))
            .unwrap_or_else(|| panic!("no {table} row in {printed}"))
            .to_string()
    };
    assert!(!row("users").starts_with("users,0,"), "{printed}");
    assert!(!row("projects").starts_with("projects,0,"), "{printed}");
    assert!(row("meta").starts_with("meta,1,"), "{printed}");
    // A second run into the same (now non-empty) database is refused, naming why.
    clean_failure(&migrate(&target), "not empty");

    // serve on the migrated database: the moved project is there.
    // Replicas share their keys through their configuration (a replica with other keys is
    // refused below).
    let keys = "[security]\nsecret_key = \"pg-cli-shared-secret\"\n\
                [stats]\nsecret_key = \"pg-cli-shared-stats\"\n";
    let data = tempfile::tempdir().expect("tempdir");
    let first_config = data.path().join("replica.toml");
    std::fs::write(&first_config, keys).expect("config");
    let on_pg = Served::start(
        &data.path().join("data"),
        &[
            "--store-url",
            &target,
            "--config",
            first_config.to_str().expect("utf8"),
        ],
    );
    let projects = ok(on_pg.cli(&["project-list", "--output-format", "csv"]));
    assert!(projects.contains("moved"), "{projects}");
    // A second replica on the same database serves the same state at once; /healthz says
    // which replica answers and that its store is reachable.
    let other = tempfile::tempdir().expect("tempdir");
    let config = other.path().join("replica.toml");
    std::fs::write(
        &config,
        format!("[store]\nreplica_id = \"second\"\nlease_secs = 2\n{keys}"),
    )
    .expect("config");
    let second = Served::start(
        &other.path().join("data"),
        &[
            "--store-url",
            &target,
            "--config",
            config.to_str().expect("utf8"),
        ],
    );
    let projects = ok(second.cli(&["project-list", "--output-format", "csv"]));
    assert!(projects.contains("moved"), "{projects}");
    let (status, health) = http_get(&second.url, "/healthz");
    assert_eq!(status, 200, "{health}");
    assert!(
        health.contains("\"replica\":\"second\"")
            && health.contains("\"engine\":\"postgres\"")
            && health.contains("\"reachable\":true"),
        "{health}"
    );
    ok(second.cli(&["project-create", "--name", "from-second"]));
    let projects = ok(on_pg.cli(&["project-list", "--output-format", "csv"]));
    assert!(projects.contains("from-second"), "{projects}");
    let replicas = ok(on_pg.cli(&["replica-list", "--output-format", "csv", "-o", "id,alive"]));
    assert!(replicas.contains("second,true"), "{replicas}");
    assert!(!replicas.contains(&password), "{replicas}");
    // Two processes under one replica id: the second waits out the lease, then is refused.
    let clash = serve_once(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        other.path().join("clash").to_str().expect("utf8"),
        "--store-url",
        &target,
        "--config",
        config.to_str().expect("utf8"),
    ]);
    clean_failure(&clash, "in use by a live process");
    assert!(!stderr(&clash).contains(&password), "{}", stderr(&clash));
    // A replica whose keys differ (here: its data directory's own) could not open what the
    // others seal: refused, naming the setting.
    let other_keys = other.path().join("other-keys.toml");
    std::fs::write(&other_keys, "[store]\nreplica_id = \"third\"\n").expect("config");
    let keyless = serve_once(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        other.path().join("third").to_str().expect("utf8"),
        "--store-url",
        &target,
        "--config",
        other_keys.to_str().expect("utf8"),
    ]);
    clean_failure(
        &keyless,
        "uses another [security] secret_key or [stats] secret_key",
    );
    drop(second.terminate());
    drop(on_pg.terminate());

    // config show redacts the database password, from the flag and from the environment.
    let shown = ok(Command::new(BIN)
        .args(["config", "show", "--store-url", &target])
        .output()
        .expect("config show"));
    assert!(shown.contains("***@127.0.0.1"), "{shown}");
    assert!(!shown.contains(&password), "{shown}");
    let shown = ok(Command::new(BIN)
        .args(["config", "show"])
        .env("CYCLADES_STORE_URL", &target)
        .output()
        .expect("config show"));
    assert!(
        shown.contains("***@127.0.0.1") && !shown.contains(&password),
        "{shown}"
    );
}
