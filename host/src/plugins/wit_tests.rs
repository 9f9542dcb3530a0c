//! Released WIT versions are frozen: their files must match `wit/RELEASED.sha256`.

use std::path::Path;

use super::hex_digest;

#[test]
fn released_wit_files_never_change() {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let list = std::fs::read_to_string(wit.join("RELEASED.sha256")).expect("RELEASED.sha256");
    let mut checked = 0;
    for line in list.lines().filter(|l| !l.trim().is_empty()) {
        let (hash, file) = line.split_once("  ").expect("`<sha256>  <path>` lines");
        let bytes = std::fs::read(wit.join(file))
            .unwrap_or_else(|e| panic!("released file {file} is missing: {e}"));
        assert_eq!(
            hex_digest(&bytes),
            hash,
            "released WIT file {file} was edited; add a new version instead"
        );
        checked += 1;
    }
    assert!(checked > 0);
    // Every released version directory is listed.
    for entry in std::fs::read_dir(&wit).expect("wit dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && name.starts_with("cyclades-plugin@") {
            assert!(
                list.contains(&format!("{name}/")),
                "{name} is not listed in RELEASED.sha256"
            );
        }
    }
}

#[test]
fn the_host_supports_the_newest_released_version() {
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../wit/cyclades-plugin@{}", super::WIT_VERSION))
            .is_dir()
    );
}
