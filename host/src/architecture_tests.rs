//! The layering rules of `ARCHITECTURE.md`, checked by scanning the sources: a lower layer
//! must never name a higher one. Cheap, and it fails the moment someone takes a shortcut.

use std::path::Path;

/// (layer directory or file, modules it must not use)
const RULES: &[(&str, &[&str])] = &[
    (
        "store",
        &[
            "api", "service", "jobs", "plugins", "backend", "cli", "server", "demo",
        ],
    ),
    ("service", &["api", "cli", "server", "demo"]),
    (
        "api",
        &[
            "store", "plugins", "jobs", "backend", "cli", "server", "demo",
        ],
    ),
    ("jobs", &["api", "service", "cli", "server", "demo"]),
    (
        "plugins",
        &[
            "api", "service", "store", "jobs", "backend", "cli", "server", "demo",
        ],
    ),
    (
        "backend",
        &[
            "api", "service", "store", "jobs", "plugins", "cli", "server", "demo",
        ],
    ),
    ("demo.rs", &["api", "store", "cli", "server"]),
    (
        "clock.rs",
        &[
            "api",
            "service",
            "store",
            "cli",
            "server",
            "config",
            "demo",
            "resources",
        ],
    ),
    (
        "resources.rs",
        &[
            "api", "service", "store", "cli", "server", "config", "demo", "clock",
        ],
    ),
    (
        "config.rs",
        &["api", "service", "store", "cli", "server", "demo"],
    ),
    ("cli", &["store", "api", "service", "plugins", "jobs"]),
    (
        "names.rs",
        &[
            "api", "service", "store", "jobs", "plugins", "cli", "server", "demo", "config",
            "backend", "clock",
        ],
    ),
    (
        "metrics.rs",
        &[
            "api", "service", "store", "jobs", "plugins", "cli", "server", "demo", "config",
            "backend",
        ],
    ),
    (
        "progress_monitor.rs",
        &[
            "api", "service", "store", "jobs", "plugins", "cli", "server", "demo", "config",
            "backend",
        ],
    ),
    (
        "console.rs",
        &[
            "api", "service", "store", "jobs", "plugins", "cli", "server", "demo", "config",
        ],
    ),
];

fn rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)
            .expect("readable source dir")
            .flatten()
        {
            rust_files(&entry.path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Lines of `text` that refer to `crate::<module>` (in `use` lines or paths).
fn offending_lines(text: &str, module: &str) -> Vec<String> {
    let needle = format!("crate::{module}");
    text.lines()
        .filter(|line| {
            let code = line.split("//").next().unwrap_or("");
            code.match_indices(&needle).any(|(i, _)| {
                let rest = &code[i + needle.len()..];
                !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')
            })
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    for (layer, forbidden) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(
            !files.is_empty(),
            "layer {layer} has no sources: update RULES"
        );
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable source");
            for module in *forbidden {
                for line in offending_lines(&text, module) {
                    violations.push(format!(
                        "{}: uses crate::{module}: {}",
                        file.display(),
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scanner_catches_a_violation() {
    assert_eq!(
        offending_lines("use crate::store::Store;", "store").len(),
        1
    );
    assert_eq!(
        offending_lines("let x = crate::store::open();", "store").len(),
        1
    );
    assert!(offending_lines("use crate::storefront;", "store").is_empty());
    assert!(offending_lines("// crate::store is fine in a comment", "store").is_empty());
}
