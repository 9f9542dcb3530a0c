//! HTTPS for the simulator (`ganeti-sim --tls`), as real Ganeti's RAPI daemon serves it: a
//! self-signed certificate created on first start and kept in `<state-dir>/rapi.pem` (key and
//! certificate in one file, mode 0600, as Ganeti's own `rapi.pem`), so clients that pinned or
//! accepted it still talk to the same cluster after a restart.
//!
//! Owns the certificate and the TLS accept loop only; routes and state live elsewhere.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use super::SimError;

/// The file holding the simulator's key and certificate, under its state directory.
pub const PEM_FILE: &str = "rapi.pem";

/// The server's TLS configuration: the certificate from `state_dir` if there is one, else a new
/// self-signed one for `names` (saved there when there is a state directory).
pub fn server_config(
    state_dir: Option<&Path>,
    names: &[String],
) -> Result<Arc<ServerConfig>, SimError> {
    let pem = match state_dir.map(|d| d.join(PEM_FILE)) {
        Some(path) if path.is_file() => std::fs::read(&path).map_err(|e| state_error(&path, e))?,
        other => {
            let pem = self_signed(names)?;
            if let Some(path) = other {
                write_private(&path, &pem).map_err(|e| state_error(&path, e))?;
            }
            pem
        }
    };
    crate::console::tls_config_from_pem(&pem).map_err(pem_error)
}

/// A new self-signed certificate for `names`, as PEM: the private key, then the certificate.
fn self_signed(names: &[String]) -> Result<Vec<u8>, SimError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| pem_error(format!("cannot create a certificate: {e}")))?;
    let mut pem = certified.key_pair.serialize_pem();
    pem.push_str(&certified.cert.pem());
    Ok(pem.into_bytes())
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("pem.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn state_error(path: &Path, e: std::io::Error) -> SimError {
    SimError::State {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn pem_error(reason: String) -> SimError {
    SimError::State {
        path: PEM_FILE.into(),
        reason,
    }
}

/// Serves `app` over TLS until `shutdown` fires. A handshake that fails (a client refusing our
/// certificate, a plain-HTTP client) ends that connection only.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: Arc<ServerConfig>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::debug!(error = %e, "simulator accept failed");
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "simulator TLS handshake failed");
                    return;
                }
            };
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "simulator connection ended with an error");
            }
        });
    }
}
