//! A test fixture: an allocator that misbehaves on purpose, chosen by `request.vcpus`, so that
//! the host's tests can prove every fault is contained. Any other request gets an honest answer
//! (the first backend), which shows the plugin keeps working between faults.
//!
//! | vcpus | behaviour |
//! |-------|-----------|
//! | 1001  | spin `disk_mb` million iterations (`u64::MAX`: forever) |
//! | 1002  | allocate `ram_mb` MiB in one piece and touch it (infallible: aborts when refused) |
//! | 1003  | panic |
//! | 1004  | read `/etc/passwd` and report what happened |
//! | 1005  | open a TCP connection to 127.0.0.1:22 and report what happened |
//! | 1006  | report the environment variables it can see |
//! | 1007  | return an internal error |
//! | 1008  | return an invalid-input error |

use cyclades_plugin_sdk::allocator::*;

struct Evil;

fn answer(backends: &[Backend]) -> Allocation {
    Allocation {
        chosen: backends.first().map(|b| b.id),
        candidates: backends
            .iter()
            .map(|b| Candidate {
                backend_id: b.id,
                verdict: Verdict::Score(0.0),
            })
            .collect(),
        capacity_fallback: false,
    }
}

impl Allocator for Evil {
    fn describe() -> Description {
        Description::new(
            "fixture-evil",
            PluginKind::Allocator,
            env!("CARGO_PKG_VERSION"),
        )
    }

    fn choose(backends: Vec<Backend>, request: VmRequest) -> Result<Allocation, PluginError> {
        match request.vcpus {
            1001 => {
                let mut x: u64 = 0;
                let n = request.disk_mb.saturating_mul(1_000_000);
                let mut i = 0u64;
                while i < n {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
                    i = std::hint::black_box(i + 1);
                }
                log(Level::Debug, &format!("spun {n} times: {x}"));
                Ok(answer(&backends))
            }
            1002 => {
                let bytes = (request.ram_mb as usize).saturating_mul(1 << 20);
                let v = vec![1u8; bytes];
                log(
                    Level::Debug,
                    &format!("holding {} bytes", std::hint::black_box(&v).len()),
                );
                Ok(answer(&backends))
            }
            1003 => panic!("fixture-evil panics on purpose"),
            1004 => Err(PluginError::internal(
                match std::fs::read_to_string("/etc/passwd") {
                    Ok(text) => format!("file read succeeded: {} bytes", text.len()),
                    Err(e) => format!("file read failed: {e}"),
                },
            )),
            1005 => Err(PluginError::internal(
                match std::net::TcpStream::connect("127.0.0.1:22") {
                    Ok(_) => "socket connect succeeded".to_string(),
                    Err(e) => format!("socket connect failed: {e}"),
                },
            )),
            1006 => Err(PluginError::internal(format!(
                "env vars visible: {}",
                std::env::vars().count()
            ))),
            1007 => Err(PluginError::internal("fixture-evil internal error")),
            1008 => Err(PluginError::invalid("fixture-evil refuses this request")),
            // Breaks the contract: a backend nobody offered, and no explanation.
            1009 => Ok(Allocation {
                chosen: Some(u32::MAX),
                candidates: Vec::new(),
                capacity_fallback: false,
            }),
            _ => Ok(answer(&backends)),
        }
    }
}

cyclades_plugin_sdk::export_allocator!(Evil);
