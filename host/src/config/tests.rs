//! Tests of the configuration: parsing, unknown keys, validation, the example file.

use super::*;

#[test]
fn unknown_keys_are_named() {
    let err = Config::from_toml("[server]\nlisten = \"127.0.0.1:1\"\nlistne = 3\n").unwrap_err();
    assert!(err.contains("listne"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    let err = Config::from_toml("[sever]\n").unwrap_err();
    assert!(err.contains("sever"), "{err}");
}

#[test]
fn overrides_beat_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:9000\"\ndata_dir = \"/x\"\n",
    )
    .unwrap();
    let o = Overrides {
        listen: Some("127.0.0.1:9001".parse().unwrap()),
        ..Default::default()
    };
    let c = Config::load(Some(&path), &o).unwrap();
    assert_eq!(c.server.listen.port(), 9001);
    assert_eq!(c.server.data_dir, PathBuf::from("/x"));
}

#[test]
fn bad_values_name_the_key() {
    let c = Config::from_toml("[quota.default_limits]\n\"cyclades.vmm\" = 3\n").unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("cyclades.vmm"), "{err}");
    let c = Config::from_toml("[identity]\ntoken_ttl_secs = 0\n").unwrap();
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("identity.token_ttl_secs")
    );
}

#[test]
fn plugin_settings_are_validated() {
    let c = Config::from_toml("[plugins.slots]\ngpu = \"x\"\n").unwrap();
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("plugins.slots.\"gpu\"")
    );
    let c = Config::from_toml("[plugins.default_limits]\ndeadline_ms = 0\n").unwrap();
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("plugins.default_limits")
    );
    let c = Config::from_toml("[plugins.limits.x]\nmemory_mib = 0\n").unwrap();
    assert!(
        c.validate()
            .unwrap_err()
            .to_string()
            .contains("plugins.limits.\"x\"")
    );
    let err = Config::from_toml("[plugins]\nfuell = true\n").unwrap_err();
    assert!(err.contains("fuell"), "{err}");
}

#[test]
fn secrets_are_redacted() {
    let c = Config::from_toml(
        "[security]\nsecret_key = \"hunter2\"\n[stats]\nsecret_key = \"stats-hunter3\"\n",
    )
    .unwrap();
    let shown = c.render_redacted();
    assert!(!shown.contains("stats-hunter3"), "{shown}");
    assert!(!format!("{c:?}").contains("stats-hunter3"));
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(REDACTED));
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn the_sample_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/cyclades.toml");
    let c = Config::load(Some(&path), &Overrides::default()).expect("sample config loads");
    assert_eq!(c.default_limit("cyclades.vm"), 10);
}

#[test]
fn the_three_replica_example_configs_are_valid_and_distinct() {
    let mut ids = Vec::new();
    for r in 1..=3 {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../examples/config/replica-{r}.toml"));
        let c = Config::load(Some(&path), &Overrides::default()).expect("replica config loads");
        ids.push(c.store.replica_id(c.server.listen));
        assert!(c.security.secret_key.is_some());
    }
    assert_eq!(ids, ["r1", "r2", "r3"]);
}

#[test]
fn default_limits_fall_back_to_the_catalogue() {
    let c = Config::from_toml("[quota.default_limits]\n\"cyclades.vm\" = 3\n").unwrap();
    assert_eq!(c.default_limit("cyclades.vm"), 3);
    assert_eq!(c.default_limit("cyclades.floating_ip"), 5);
}

#[test]
fn the_password_never_shows() {
    assert_eq!(
        redact_url("postgres://cyc:s3cret@db:5432/cyclades?sslmode=require"),
        "postgres://cyc:***@db:5432/cyclades?sslmode=require"
    );
    assert_eq!(redact_url("postgres://cyc@db/c"), "postgres://cyc@db/c");
    assert_eq!(
        redact_url("host=db user=cyc password=s3cret dbname=c"),
        "host=db user=cyc password=*** dbname=c"
    );
    assert_eq!(
        redact_url("postgres://db/c?user=cyc&password=s3cret"),
        "postgres://db/c?user=cyc&password=***"
    );
}

#[test]
fn the_store_password_never_shows_in_config_show_nor_debug() {
    let c = Config::from_toml("[store]\nurl = \"postgres://cyc:s3cret@db/cyclades\"\n").unwrap();
    c.validate().unwrap();
    let shown = c.render_redacted();
    assert!(shown.contains("postgres://cyc:***@db/cyclades"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(!format!("{c:?}").contains("s3cret"));
    let bad = Config::from_toml("[store]\nurl = \"mysql://cyc:s3cret@db/c\"\n").unwrap();
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.contains("store.url") && !err.contains("s3cret"),
        "{err}"
    );
}
