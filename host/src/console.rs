//! The VNC console proxy: Synnefo's snf-vncauthproxy, built in.
//!
//! A console request gets a one-time forwarding: a fresh listening socket on
//! `[console] listen` (from `[console] ports`, or any free port) and a random password. The
//! first client to connect within `[console] connect_timeout_secs` is taken through the RFB
//! handshake (protocol 3.3, 3.7 or 3.8; over plain TCP, or inside WebSocket binary messages for
//! noVNC) with VNC authentication (DES of a random challenge);
//! only then does the proxy connect to the instance's VNC server (as Ganeti's kvm exports it,
//! without a password) and relay bytes both ways. The socket closes after that one client, or
//! when the timeout passes unused, so a password opens one session at most.
//!
//! Owns forwardings, both RFB handshakes and the relay. It must not touch the store or Ganeti:
//! the service layer finds the instance's VNC address and re-checks it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use des::cipher::{BlockEncrypt, KeyInit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long either RFB handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where forwardings listen and how long they wait.
#[derive(Clone, Debug)]
pub struct ConsoleSettings {
    pub listen: IpAddr,
    /// An inclusive port range, or any free port.
    pub ports: Option<(u16, u16)>,
    pub connect_timeout: Duration,
    /// At most this many forwardings wait for a client at once, counted in `waiting`.
    pub max_waiting: usize,
    pub waiting: WaitingCount,
    /// The requesting user's own count and limit, if any.
    pub user_waiting: Option<(WaitingCount, usize)>,
}

/// How many forwardings are waiting for their client (shared by every request of a server).
#[derive(Clone, Debug, Default)]
pub struct WaitingCount(std::sync::Arc<std::sync::atomic::AtomicUsize>);

/// One waiting forwarding; counted until dropped.
struct Waiting(WaitingCount);

impl Drop for Waiting {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl WaitingCount {
    /// How many wait now.
    pub fn in_use(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Counts one more, unless `max` already wait.
    fn enter(&self, max: usize) -> Option<Waiting> {
        use std::sync::atomic::Ordering;
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Waiting(self.clone()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("no free console port in {0}-{1}")]
    NoFreePort(u16, u16),
    #[error("cannot listen for a console connection: {0}")]
    Listen(#[source] std::io::Error),
    #[error(
        "you have {0} consoles waiting for their clients already; connect to one or let them expire"
    )]
    UserBusy(usize),
    #[error("{0} consoles are already waiting for their clients; try again shortly")]
    Busy(usize),
}

/// Why a console session ended early (logged, never shown to API users).
#[derive(Debug, thiserror::Error)]
pub enum RfbError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake took too long")]
    Timeout,
    #[error("{0}")]
    Protocol(String),
}

/// How the client reaches a forwarding: plain RFB over TCP (`vnc`), RFB inside WebSocket
/// binary messages (`vnc-ws`, what noVNC and Synnefo's UI use), or the same over TLS
/// (`vnc-wss`), on the one-time port.
#[derive(Clone)]
pub enum Transport {
    Tcp,
    WebSocket,
    WebSocketTls(Arc<rustls::ServerConfig>),
}

/// A TLS server configuration from one PEM file holding the private key and the certificate
/// chain (the format of Ganeti's own `rapi.pem`).
pub fn tls_config_from_pem(pem: &[u8]) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in it".into());
    }
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// A forwarding ready for one client.
#[derive(Clone, Debug)]
pub struct Forwarding {
    pub port: u16,
    pub password: String,
}

/// An 8-character password (VNC authentication uses at most 8).
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// The response to a VNC-authentication `challenge` under `password`: the challenge encrypted
/// with DES, the key being the password's first 8 bytes (zero-padded) with each byte's bits
/// mirrored (RFB's quirk).
pub fn vnc_auth_response(challenge: &[u8; 16], password: &str) -> [u8; 16] {
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(password.bytes()) {
        *k = b.reverse_bits();
    }
    let cipher = des::Des::new(&key.into());
    let mut out = *challenge;
    for block in out.chunks_exact_mut(8) {
        cipher.encrypt_block(block.into());
    }
    out
}

/// Opens a forwarding to `target` (the instance's VNC server) guarded by `password`.
pub async fn forward(
    settings: &ConsoleSettings,
    target: SocketAddr,
    password: String,
    transport: Transport,
) -> Result<Forwarding, ConsoleError> {
    let user_waiting = match &settings.user_waiting {
        Some((count, max)) => Some(count.enter(*max).ok_or(ConsoleError::UserBusy(*max))?),
        None => None,
    };
    let waiting = settings
        .waiting
        .enter(settings.max_waiting)
        .ok_or(ConsoleError::Busy(settings.max_waiting))?;
    let listener = bind(settings).await?;
    let port = listener.local_addr().map_err(ConsoleError::Listen)?.port();
    let timeout = settings.connect_timeout;
    let secret = password.clone();
    tokio::spawn(async move {
        let accepted = tokio::time::timeout(timeout, listener.accept()).await;
        // One client per forwarding: nobody else can connect from here on.
        drop(listener);
        drop(waiting);
        drop(user_waiting);
        match accepted {
            Ok(Ok((client, peer))) => {
                match serve_client(client, transport, target, &secret).await {
                    Ok(()) => tracing::info!(%peer, port, "console session ended"),
                    Err(e) => tracing::info!(%peer, port, error = %e, "console session refused"),
                }
            }
            Ok(Err(e)) => tracing::warn!(port, error = %e, "console accept failed"),
            Err(_) => tracing::debug!(port, "console forwarding expired unused"),
        }
    });
    Ok(Forwarding { port, password })
}

async fn bind(settings: &ConsoleSettings) -> Result<TcpListener, ConsoleError> {
    let Some((first, last)) = settings.ports else {
        return TcpListener::bind((settings.listen, 0))
            .await
            .map_err(ConsoleError::Listen);
    };
    // Start at a random point so concurrent requests rarely collide.
    let span = u32::from(last.saturating_sub(first)) + 1;
    let start = OsRng.next_u32() % span;
    for i in 0..span {
        let port = first + ((start + i) % span) as u16;
        if let Ok(l) = TcpListener::bind((settings.listen, port)).await {
            return Ok(l);
        }
    }
    Err(ConsoleError::NoFreePort(first, last))
}

/// The RFB protocol minor version (3, 7 or 8) from a `RFB 003.00x\n` banner.
fn minor_version(banner: &[u8; 12]) -> Result<u8, RfbError> {
    let text = std::str::from_utf8(banner).unwrap_or("");
    let minor = text
        .strip_prefix("RFB 003.")
        .and_then(|r| r.trim_end().parse::<u16>().ok())
        .ok_or_else(|| RfbError::Protocol(format!("not an RFB 3.x banner: {text:?}")))?;
    Ok(match minor {
        3..=6 => 3,
        7 => 7,
        m if m >= 8 => 8,
        _ => return Err(RfbError::Protocol(format!("unsupported RFB 3.{minor}"))),
    })
}

fn banner(minor: u8) -> &'static [u8; 12] {
    match minor {
        3 => b"RFB 003.003\n",
        7 => b"RFB 003.007\n",
        _ => b"RFB 003.008\n",
    }
}

/// Takes the accepted client through its transport to the RFB session.
async fn serve_client(
    client: TcpStream,
    transport: Transport,
    target: SocketAddr,
    password: &str,
) -> Result<(), RfbError> {
    match transport {
        Transport::Tcp => session(client, target, password).await,
        Transport::WebSocket => websocket_session(client, target, password).await,
        Transport::WebSocketTls(config) => {
            let tls = timed(async {
                tokio_rustls::TlsAcceptor::from(config)
                    .accept(client)
                    .await
                    .map_err(RfbError::Io)
            })
            .await?;
            websocket_session(tls, target, password).await
        }
    }
}

/// The WebSocket handshake on `stream`, then the RFB session through a byte pipe.
async fn websocket_session<S>(stream: S, target: SocketAddr, password: &str) -> Result<(), RfbError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = timed(async {
        tokio_tungstenite::accept_async(stream)
            .await
            .map_err(|e| RfbError::Protocol(format!("WebSocket handshake: {e}")))
    })
    .await?;
    let (near, far) = tokio::io::duplex(64 * 1024);
    tokio::spawn(websocket_bridge(ws, far));
    session(near, target, password).await
}

/// Moves bytes between WebSocket binary messages and a byte pipe, both ways, until either
/// side closes.
async fn websocket_bridge<S: AsyncRead + AsyncWrite + Unpin>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    pipe: tokio::io::DuplexStream,
) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut sink, mut stream) = ws.split();
    let (mut from_pipe, mut to_pipe) = tokio::io::split(pipe);
    let inbound = async {
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Binary(bytes) => {
                    if to_pipe.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = to_pipe.shutdown().await;
    };
    let outbound = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from_pipe.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink
                        .send(Message::Binary(buf[..n].to_vec().into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = sink.close().await;
    };
    tokio::join!(inbound, outbound);
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    target: SocketAddr,
    password: &str,
) -> Result<(), RfbError> {
    let minor = timed(authenticate_client(&mut client, password)).await?;
    let backend = match timed(open_backend(target)).await {
        Ok(b) => b,
        Err(e) => {
            let _ = refuse(&mut client, minor, "the console is not available").await;
            return Err(e);
        }
    };
    client.write_all(&0u32.to_be_bytes()).await?;
    relay(client, backend).await
}

async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, RfbError>>,
) -> Result<T, RfbError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, f)
        .await
        .map_err(|_| RfbError::Timeout)?
}

/// The proxy as RFB server: version, security type 2, challenge, response. Returns the
/// negotiated minor version once the response matches (the SecurityResult is sent later).
async fn authenticate_client<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut S,
    password: &str,
) -> Result<u8, RfbError> {
    client.write_all(banner(8)).await?;
    let mut theirs = [0u8; 12];
    client.read_exact(&mut theirs).await?;
    let minor = minor_version(&theirs)?;
    if minor == 3 {
        client.write_all(&2u32.to_be_bytes()).await?;
    } else {
        client.write_all(&[1, 2]).await?;
        let mut chosen = [0u8; 1];
        client.read_exact(&mut chosen).await?;
        if chosen[0] != 2 {
            return Err(RfbError::Protocol(format!(
                "client chose security type {}",
                chosen[0]
            )));
        }
    }
    let mut challenge = [0u8; 16];
    OsRng.fill_bytes(&mut challenge);
    client.write_all(&challenge).await?;
    let mut response = [0u8; 16];
    client.read_exact(&mut response).await?;
    let expected = vnc_auth_response(&challenge, password);
    // Constant-time comparison: no early exit on the first differing byte.
    let differ = expected
        .iter()
        .zip(response.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if differ != 0 {
        let _ = refuse(client, minor, "Authentication failed").await;
        return Err(RfbError::Protocol("wrong password".into()));
    }
    Ok(minor)
}

/// A failed SecurityResult (with its reason from RFB 3.8 on).
async fn refuse<S: AsyncWrite + Unpin>(
    client: &mut S,
    minor: u8,
    reason: &str,
) -> Result<(), RfbError> {
    let mut message = 1u32.to_be_bytes().to_vec();
    if minor >= 8 {
        message.extend((reason.len() as u32).to_be_bytes());
        message.extend(reason.as_bytes());
    }
    client.write_all(&message).await?;
    Ok(())
}

/// The proxy as RFB client of the instance's VNC server, which must offer security type None.
async fn open_backend(target: SocketAddr) -> Result<TcpStream, RfbError> {
    let mut server = TcpStream::connect(target).await?;
    let mut theirs = [0u8; 12];
    server.read_exact(&mut theirs).await?;
    let minor = minor_version(&theirs)?;
    server.write_all(banner(minor)).await?;
    if minor == 3 {
        let mut kind = [0u8; 4];
        server.read_exact(&mut kind).await?;
        if u32::from_be_bytes(kind) != 1 {
            return Err(RfbError::Protocol(format!(
                "VNC server wants security type {}",
                u32::from_be_bytes(kind)
            )));
        }
        return Ok(server);
    }
    let mut count = [0u8; 1];
    server.read_exact(&mut count).await?;
    let mut types = vec![0u8; usize::from(count[0])];
    server.read_exact(&mut types).await?;
    if !types.contains(&1) {
        return Err(RfbError::Protocol(format!(
            "VNC server offers no unauthenticated access (types {types:?})"
        )));
    }
    server.write_all(&[1]).await?;
    if minor >= 8 {
        let mut result = [0u8; 4];
        server.read_exact(&mut result).await?;
        if u32::from_be_bytes(result) != 0 {
            return Err(RfbError::Protocol("VNC server refused the session".into()));
        }
    }
    Ok(server)
}

async fn relay<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: S,
    mut backend: TcpStream,
) -> Result<(), RfbError> {
    tokio::io::copy_bidirectional(&mut client, &mut backend).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnc_auth_matches_a_reference_vector() {
        // Computed independently: openssl des-ecb with key = bit-reversed "password".
        let challenge: [u8; 16] = *b"0123456789abcdef";
        let got = vnc_auth_response(&challenge, "password");
        assert_eq!(hex(&got), REFERENCE);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const REFERENCE: &str = "5645abeb5f1e6475e8feb11beb66ea19";

    /// Connects as a VNC client with RFB `minor` and `password`; returns the SecurityResult
    /// and the stream.
    async fn client(port: u16, minor: u8, password: &str) -> (u32, TcpStream) {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let mut banner_in = [0u8; 12];
        s.read_exact(&mut banner_in).await.expect("banner");
        assert_eq!(&banner_in, b"RFB 003.008\n");
        s.write_all(banner(minor)).await.expect("version");
        if minor == 3 {
            let mut kind = [0u8; 4];
            s.read_exact(&mut kind).await.expect("type");
            assert_eq!(u32::from_be_bytes(kind), 2);
        } else {
            let mut types = [0u8; 2];
            s.read_exact(&mut types).await.expect("types");
            assert_eq!(types, [1, 2]);
            s.write_all(&[2]).await.expect("choose");
        }
        let mut challenge = [0u8; 16];
        s.read_exact(&mut challenge).await.expect("challenge");
        s.write_all(&vnc_auth_response(&challenge, password))
            .await
            .expect("response");
        let mut result = [0u8; 4];
        s.read_exact(&mut result).await.expect("result");
        (u32::from_be_bytes(result), s)
    }

    fn settings() -> ConsoleSettings {
        ConsoleSettings {
            listen: "127.0.0.1".parse().expect("ip"),
            ports: None,
            connect_timeout: Duration::from_secs(5),
            max_waiting: 8,
            waiting: WaitingCount::default(),
            user_waiting: None,
        }
    }

    #[tokio::test]
    async fn a_forwarding_admits_one_authenticated_client_and_relays_the_console() {
        let vnc = crate::backend::sim::vnc::start("127.0.0.1".parse().expect("ip"))
            .await
            .expect("vnc");
        for minor in [3, 7, 8] {
            let f = forward(&settings(), vnc, one_time_password(), Transport::Tcp)
                .await
                .expect("forward");
            assert_eq!(f.password.len(), 8);
            let (result, mut s) = client(f.port, minor, &f.password).await;
            assert_eq!(result, 0, "RFB 3.{minor}");
            // Past authentication the bytes are the VNC server's: ClientInit, ServerInit.
            s.write_all(&[1]).await.expect("ClientInit");
            let mut init = [0u8; 24];
            s.read_exact(&mut init).await.expect("ServerInit");
            assert_eq!((init[0], init[1], init[2], init[3]), (0, 64, 0, 48));
            let len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
            let mut name = vec![0u8; len];
            s.read_exact(&mut name).await.expect("name");
            assert_eq!(name, crate::backend::sim::vnc::DESKTOP_NAME.as_bytes());
            s.write_all(&[3, 0, 0, 0, 0, 0, 0, 64, 0, 48])
                .await
                .expect("FramebufferUpdateRequest");
            let mut update = [0u8; 4];
            s.read_exact(&mut update).await.expect("FramebufferUpdate");
            assert_eq!(update, [0, 0, 0, 1]);
            // One client per forwarding: the port is closed now.
            assert!(TcpStream::connect(("127.0.0.1", f.port)).await.is_err());
        }
    }

    #[tokio::test]
    async fn a_wrong_password_is_refused_with_a_reason_and_nothing_relayed() {
        let vnc = crate::backend::sim::vnc::start("127.0.0.1".parse().expect("ip"))
            .await
            .expect("vnc");
        let f = forward(&settings(), vnc, "Right123".into(), Transport::Tcp)
            .await
            .expect("forward");
        let (result, mut s) = client(f.port, 8, "Wrong123").await;
        assert_eq!(result, 1);
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.expect("reason length");
        let mut reason = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut reason).await.expect("reason");
        assert_eq!(reason, b"Authentication failed");
        // Only the first 8 characters count, as in every VNC client.
        let f = forward(&settings(), vnc, "Right123".into(), Transport::Tcp)
            .await
            .expect("forward");
        assert_eq!(client(f.port, 8, "Right123-and-more").await.0, 0);
    }

    #[tokio::test]
    async fn an_unreachable_console_fails_the_session_and_an_unused_forwarding_expires() {
        // A port nothing listens on: authenticated, then told the console is unavailable.
        let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let target = closed.local_addr().expect("addr");
        drop(closed);
        let f = forward(&settings(), target, "secret12".into(), Transport::Tcp)
            .await
            .expect("forward");
        assert_eq!(client(f.port, 8, "secret12").await.0, 1);
        let quick = ConsoleSettings {
            connect_timeout: Duration::from_millis(100),
            ..settings()
        };
        let f = forward(&quick, target, "secret12".into(), Transport::Tcp)
            .await
            .expect("forward");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(TcpStream::connect(("127.0.0.1", f.port)).await.is_err());
    }

    #[tokio::test]
    async fn forwardings_take_ports_from_the_configured_range() {
        let probe = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = probe.local_addr().expect("addr").port();
        drop(probe);
        let ranged = ConsoleSettings {
            ports: Some((base, base)),
            ..settings()
        };
        let target: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let f = forward(&ranged, target, "secret12".into(), Transport::Tcp)
            .await
            .expect("forward");
        assert_eq!(f.port, base);
        // The one port is taken until that forwarding ends.
        let err = forward(&ranged, target, "secret12".into(), Transport::Tcp)
            .await
            .expect_err("range exhausted");
        assert!(err.to_string().contains("no free console port"), "{err}");
    }

    #[tokio::test]
    async fn waiting_forwardings_are_bounded_and_counted_down() {
        let vnc = crate::backend::sim::vnc::start("127.0.0.1".parse().expect("ip"))
            .await
            .expect("vnc");
        let one = ConsoleSettings {
            max_waiting: 1,
            ..settings()
        };
        let f = forward(&one, vnc, "secret12".into(), Transport::Tcp)
            .await
            .expect("first");
        let err = forward(&one, vnc, "secret12".into(), Transport::Tcp)
            .await
            .expect_err("one already waits");
        assert!(matches!(err, ConsoleError::Busy(1)), "{err}");
        // Used: the slot is free again.
        assert_eq!(client(f.port, 8, "secret12").await.0, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        forward(&one, vnc, "secret12".into(), Transport::Tcp)
            .await
            .expect("the slot came back");
    }

    #[tokio::test]
    async fn one_user_cannot_hold_every_waiting_forwarding() {
        let vnc = crate::backend::sim::vnc::start("127.0.0.1".parse().expect("ip"))
            .await
            .expect("vnc");
        let mallory = WaitingCount::default();
        let as_mallory = ConsoleSettings {
            user_waiting: Some((mallory.clone(), 2)),
            ..settings()
        };
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(
                forward(&as_mallory, vnc, "secret12".into(), Transport::Tcp)
                    .await
                    .expect("within the user's share"),
            );
        }
        let err = forward(&as_mallory, vnc, "secret12".into(), Transport::Tcp)
            .await
            .expect_err("over the user's share");
        assert!(matches!(err, ConsoleError::UserBusy(2)), "{err}");
        // Another user shares the same global pool and is not affected.
        let alice = ConsoleSettings {
            user_waiting: Some((WaitingCount::default(), 2)),
            waiting: as_mallory.waiting.clone(),
            ..settings()
        };
        forward(&alice, vnc, "secret12".into(), Transport::Tcp)
            .await
            .expect("another user");
        // One of mallory's is used: her share has room again.
        assert_eq!(client(held[0].port, 8, "secret12").await.0, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
        forward(&as_mallory, vnc, "secret12".into(), Transport::Tcp)
            .await
            .expect("the slot came back");
    }

    #[test]
    fn banners_parse_to_the_three_versions() {
        assert_eq!(minor_version(b"RFB 003.003\n").ok(), Some(3));
        assert_eq!(minor_version(b"RFB 003.007\n").ok(), Some(7));
        assert_eq!(minor_version(b"RFB 003.008\n").ok(), Some(8));
        assert_eq!(minor_version(b"RFB 003.889\n").ok(), Some(8));
        assert!(minor_version(b"HTTP/1.1 200").is_err());
    }
}
