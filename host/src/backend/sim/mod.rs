//! The Ganeti RAPI simulator: a real HTTP server speaking RAPI `/2/` (same paths, methods,
//! JSON shapes, job ids and job states as Ganeti 3.0), over a simulated cluster whose state is
//! kept on disk so a restart (or `kill -9`) finds the cluster as it left it.
//!
//! Jobs move `queued → running → success|error` on a timeline (latencies from the recorded
//! fixtures, or zero), and their effects apply when they finish. Faults are injected through
//! `/sim/faults`. Run it alone with `cyclades ganeti-sim`, or in-process with [`start`].

mod deploy;
mod modify;
pub mod network;
mod routes;
pub mod state;
pub mod tls;
pub mod vnc;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use state::{Cluster, JobStatus, Latency};

/// How to run a simulator.
#[derive(Clone, Debug)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub cluster_name: String,
    pub nodes: usize,
    pub username: String,
    pub password: String,
    /// Where the cluster state lives (`ganeti-sim.json`); `None` keeps it in memory.
    pub state_dir: Option<PathBuf>,
    pub latency: Latency,
    /// `fake` or `kvm`: the hypervisor the cluster reports and whose `hvparams` it accepts.
    pub hypervisor: String,
    /// Serve HTTPS with a self-signed certificate (kept in the state directory), as Ganeti's
    /// RAPI does.
    pub tls: bool,
}

/// Shared simulator state.
#[derive(Clone)]
pub struct Sim {
    pub(crate) cluster: Arc<Mutex<Cluster>>,
    pub(crate) credentials: Arc<(String, String)>,
    state_file: Option<PathBuf>,
    /// The VNC server running instances' consoles point at (kvm clusters only).
    pub(crate) vnc: Option<SocketAddr>,
}

impl Sim {
    /// Reads the cluster after bringing jobs up to date (saving only if a job finished).
    pub fn read<R>(&self, f: impl FnOnce(&Cluster) -> R) -> R {
        self.run(false, |c| f(c))
    }

    /// Changes the cluster (after bringing jobs up to date) and saves it.
    pub fn write<R>(&self, f: impl FnOnce(&mut Cluster) -> R) -> R {
        self.run(true, f)
    }

    fn run<R>(&self, mutates: bool, f: impl FnOnce(&mut Cluster) -> R) -> R {
        let mut cluster = self.cluster.lock().unwrap_or_else(|e| e.into_inner());
        let advanced = cluster.advance(state::now());
        let result = f(&mut cluster);
        if let Some(path) = &self.state_file
            && (advanced || mutates)
        {
            save(path, &serde_json::to_vec(&*cluster).unwrap_or_default());
        }
        result
    }
}

fn save(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    if let Err(e) = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot save simulator state");
    }
}

/// A running simulator.
pub struct RunningSim {
    pub addr: SocketAddr,
    pub sim: Sim,
    tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// `http://<addr>` or `https://<addr>`: the RAPI base URL.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// `https` when it serves TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Serves until `signal` completes.
    pub async fn run_until(mut self, signal: impl std::future::Future<Output = ()>) {
        tokio::select! {
            _ = signal => {}
            _ = &mut self.task => return,
        }
        self.shutdown().await;
    }
}

/// Errors starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use simulator state {path}: {reason}")]
    State { path: String, reason: String },
}

/// Loads (or creates) the cluster and starts serving RAPI.
pub async fn start(options: SimOptions) -> Result<RunningSim, SimError> {
    let state_file = match &options.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| SimError::State {
                path: dir.display().to_string(),
                reason: e.to_string(),
            })?;
            Some(dir.join("ganeti-sim.json"))
        }
        None => None,
    };
    let cluster = match &state_file {
        Some(path) if path.is_file() => {
            let text = std::fs::read(path).map_err(|e| SimError::State {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let mut c: Cluster = serde_json::from_slice(&text).map_err(|e| SimError::State {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            c.latency = options.latency;
            c
        }
        _ => Cluster::new(&options.cluster_name, options.nodes, options.latency),
    };
    let mut cluster = cluster;
    cluster.hypervisor = options.hypervisor.clone();
    let vnc = if options.hypervisor == "kvm" {
        Some(
            vnc::start(options.listen.ip())
                .await
                .map_err(|source| SimError::Listen {
                    addr: options.listen,
                    source,
                })?,
        )
    } else {
        None
    };
    let sim = Sim {
        cluster: Arc::new(Mutex::new(cluster)),
        credentials: Arc::new((options.username.clone(), options.password.clone())),
        state_file,
        vnc,
    };
    sim.write(|_| ());
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|source| SimError::Listen {
            addr: options.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Listen {
        addr: options.listen,
        source,
    })?;
    let app = routes::router(sim.clone());
    let tls = if options.tls {
        let names = vec![
            "localhost".to_string(),
            addr.ip().to_string(),
            options.cluster_name.clone(),
        ];
        Some(tls::server_config(options.state_dir.as_deref(), &names)?)
    } else {
        None
    };
    let (tx, rx) = oneshot::channel::<()>();
    let ticker_sim = sim.clone();
    let task = tokio::spawn(async move {
        // Finished jobs take effect even when nobody polls.
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                ticker_sim.read(|_| ());
            }
        });
        match tls {
            Some(config) => tls::serve(listener, app, config, rx).await,
            None => {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.await;
                    })
                    .await;
            }
        }
        ticker.abort();
    });
    tracing::info!(%addr, tls = options.tls, "Ganeti RAPI simulator listening");
    Ok(RunningSim {
        addr,
        sim,
        tls: options.tls,
        shutdown: Some(tx),
        task,
    })
}

#[cfg(test)]
mod tests;
