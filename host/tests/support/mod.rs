//! What the process-level tests share: the `cyclades` binary, a served instance over a temp
//! data dir (`Served`), output helpers, and where the real `openstack` CLI is.
#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_cyclades");

/// A `cyclades serve` child process, killed on drop.
pub struct Served {
    pub child: Child,
    pub url: String,
    pub banner: Vec<String>,
    pub dir: PathBuf,
}

impl Served {
    /// The `export OS_...=...` lines of the `--demo` banner, as (name, value).
    pub fn exports(&self) -> Vec<(String, String)> {
        self.banner
            .iter()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Starts `serve` on a free port over `dir`, and waits for the banner to end.
    pub fn start(dir: &Path, extra: &[&str]) -> Served {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("CYCLADES_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn cyclades serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let demo = extra.contains(&"--demo");
        let mut banner = Vec::new();
        loop {
            let line = match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().expect("output");
                    panic!(
                        "server did not start: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            };
            banner.push(line.clone());
            let done = if demo {
                line.starts_with("Operator commands:")
            } else {
                line.starts_with("  admin API")
            };
            if done {
                break;
            }
        }
        let url = banner[0]
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("url in banner")
            .to_string();
        Served {
            child,
            url,
            banner,
            dir: dir.to_path_buf(),
        }
    }

    /// Runs an operator command against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(["--url", &self.url, "--data-dir"])
            .arg(&self.dir)
            .args(args)
            .env_remove("CYCLADES_ADMIN_TOKEN")
            .output()
            .expect("run cyclades")
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> Output {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let child = std::mem::replace(
            &mut self.child,
            Command::new("true").spawn().expect("placeholder"),
        );
        child.wait_with_output().expect("wait")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Asserts a clean failure: non-zero exit, one `error:` line containing `expected`, no panic.
#[track_caller]
pub fn clean_failure(o: &Output, expected: &str) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success: {}",
        stdout(o)
    );
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let error_lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{err}");
    assert!(
        error_lines[0].contains(expected),
        "expected '{expected}' in: {err}"
    );
}

pub fn serve_once(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("serve")
        .args(args)
        .env("CYCLADES_LOG", "warn")
        .output()
        .expect("run serve")
}

/// Finds the `openstack` CLI: `CYCLADES_OPENSTACK_CLI`, else `openstack` on PATH.
pub fn openstack_cli() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CYCLADES_OPENSTACK_CLI") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("openstack"))
            .find(|p| p.is_file())
    })
}

/// The `openstack` CLI for test `test`, or `None` after saying why it is skipped (a failure
/// instead when `CYCLADES_REQUIRE_E2E` is set, as in CI).
pub fn openstack_or_skip(test: &str) -> Option<PathBuf> {
    let found = openstack_cli();
    if found.is_none() {
        assert!(
            std::env::var_os("CYCLADES_REQUIRE_E2E").is_none(),
            "CYCLADES_REQUIRE_E2E is set but no openstack CLI was found (set CYCLADES_OPENSTACK_CLI)"
        );
        eprintln!(
            "SKIPPED {test}: no openstack CLI (pip install python-openstackclient, or set CYCLADES_OPENSTACK_CLI)"
        );
    }
    found
}

/// A plain `GET` over HTTP/1.1 to `base` (`http://host:port`): the status and the body.
pub fn http_get(base: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply");
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
