//! Builds the built-in plugins (and the test fixture plugins) into wasm32-wasip2 components and
//! embeds the built-ins in the host, so `cargo run -- serve` has them with no extra step.
//!
//! Each group of plugins is built by a nested `cargo build --target wasm32-wasip2 --profile
//! plugin` into its own target directory (`target/wasm-plugins`), one group per plugin kind so
//! that SDK features never unify across kinds (a component must carry only its own world).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a group of plugin crates is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Embedded and loaded at every start.
    Builtin,
    /// Embedded and loaded by `serve --demo` only.
    Example,
    /// Built for the tests only.
    Fixture,
}

/// (crates built together, role)
const GROUPS: &[(&[&str], Role)] = &[
    (
        &["alloc-default", "alloc-pack", "alloc-spread"],
        Role::Builtin,
    ),
    (
        &[
            "disk-file",
            "disk-sharedfile",
            "disk-plain",
            "disk-drbd",
            "disk-rbd",
            "disk-ext-archipelago",
        ],
        Role::Builtin,
    ),
    (
        &[
            "net-custom",
            "net-ip-less-routed",
            "net-mac-filtered",
            "net-physical-vlan",
        ],
        Role::Builtin,
    ),
    (&["alloc-headroom"], Role::Example),
    (&["disk-ext-san"], Role::Example),
    (&["net-ovs-vlan"], Role::Example),
    (&["fixture-evil"], Role::Fixture),
    (&["fixture-future-wit"], Role::Fixture),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("workspace root").to_path_buf();
    for dir in ["plugins", "sdk", "wit", "tests/plugins", "examples"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    println!("cargo:rerun-if-env-changed=CYCLADES_PLUGIN_TARGET_DIR");

    let target_dir = std::env::var_os("CYCLADES_PLUGIN_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("wasm-plugins"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    for (crates, _) in GROUPS {
        build_group(&cargo, &root, &target_dir, crates);
    }

    let artifacts = target_dir.join(TARGET).join("plugin");
    let mut generated = String::new();
    for (constant, doc, wanted) in [
        (
            "BUILTIN_PLUGINS",
            "Built-in plugin components, loaded at every start",
            Role::Builtin,
        ),
        (
            "EXAMPLE_PLUGINS",
            "The example plugins of `examples/`, loaded by `serve --demo`",
            Role::Example,
        ),
    ] {
        generated.push_str(&format!(
            "/// {doc}: (crate, component bytes).\npub static {constant}: &[(&str, &[u8])] = &[\n"
        ));
        for (crates, role) in GROUPS {
            if *role != wanted {
                continue;
            }
            for name in *crates {
                let file = artifacts.join(format!("{}.wasm", name.replace('-', "_")));
                assert!(
                    file.is_file(),
                    "plugin build did not produce {}",
                    file.display()
                );
                generated.push_str(&format!(
                    "    ({name:?}, include_bytes!({:?})),\n",
                    file.display().to_string()
                ));
            }
        }
        generated.push_str("];\n\n");
    }
    generated.push_str("/// Where the plugin builds (including test fixtures) are.\n");
    generated.push_str(&format!(
        "pub const PLUGIN_ARTIFACT_DIR: &str = {:?};\n",
        artifacts.display().to_string()
    ));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("builtin_plugins.rs");
    std::fs::write(&out, generated).expect("write builtin_plugins.rs");
}

fn build_group(cargo: &str, root: &Path, target_dir: &Path, crates: &[&str]) {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--quiet",
            "--target",
            TARGET,
            "--profile",
            "plugin",
            "--target-dir",
        ])
        .arg(target_dir);
    for name in crates {
        cmd.args(["-p", name]);
    }
    // The outer build's settings are for the host, not for the wasm target.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        let keep = [
            "CARGO_HOME",
            "CARGO_NET_",
            "CARGO_HTTP_",
            "CARGO_REGISTRIES_",
            "CARGO_REGISTRY_",
        ]
        .iter()
        .any(|k| key.starts_with(k));
        let drop = (key.starts_with("CARGO_") && !keep)
            || [
                "RUSTFLAGS",
                "RUSTC_WRAPPER",
                "RUSTC_WORKSPACE_WRAPPER",
                "TARGET",
                "HOST",
                "OUT_DIR",
            ]
            .contains(&key.as_str())
            || ["OPT_LEVEL", "PROFILE", "DEBUG", "NUM_JOBS", "RUSTDOC"].contains(&key.as_str());
        if drop {
            cmd.env_remove(&key);
        }
    }
    let output = cmd.output().expect("run cargo for the wasm plugins");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint =
            if stderr.contains("wasm32-wasip2") && stderr.contains("target may not be installed") {
                "\nThe wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`."
            } else {
                ""
            };
        panic!("building the plugins {crates:?} for {TARGET} failed:\n{stderr}{hint}");
    }
}
