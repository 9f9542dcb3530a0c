//! The VNC console end to end on a simulated kvm cluster: the `console` action opens a
//! one-time forwarding through the built-in proxy, a VNC client (plain, or over WebSocket as
//! noVNC, and over TLS for vnc-wss) authenticates with the password it got and reaches the
//! instance's console; noVNC URLs point at the configured page; the node's own address is never
//! handed out; an instance Ganeti stopped behind our back is refused and its record synced.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::compute::active_servers;
use super::reconcile::wait_ganeti_job;

/// RFB 3.8 with VNC authentication; returns the desktop name from ServerInit.
async fn vnc_desktop_name(host: &str, port: u16, password: &str) -> String {
    let mut s = tokio::net::TcpStream::connect((host, port))
        .await
        .expect("connect to the console proxy");
    let mut banner = [0u8; 12];
    s.read_exact(&mut banner).await.expect("banner");
    s.write_all(b"RFB 003.008\n").await.expect("version");
    let mut types = [0u8; 2];
    s.read_exact(&mut types).await.expect("security types");
    assert_eq!(types, [1, 2], "VNC authentication only");
    s.write_all(&[2]).await.expect("choose");
    let mut challenge = [0u8; 16];
    s.read_exact(&mut challenge).await.expect("challenge");
    let response = cyclades::console::vnc_auth_response(&challenge, password);
    s.write_all(&response).await.expect("response");
    let mut result = [0u8; 4];
    s.read_exact(&mut result).await.expect("result");
    assert_eq!(result, [0, 0, 0, 0], "authenticated");
    s.write_all(&[1]).await.expect("ClientInit");
    let mut init = [0u8; 24];
    s.read_exact(&mut init).await.expect("ServerInit");
    let len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    let mut name = vec![0u8; len];
    s.read_exact(&mut name).await.expect("name");
    String::from_utf8(name).expect("utf-8")
}

/// A WebSocket VNC client, as noVNC is: RFB 3.8 with VNC authentication in binary messages.
async fn websocket_desktop_name(port: u16, password: &str) -> String {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/"), tcp)
        .await
        .expect("WebSocket handshake");
    rfb_over_websocket(ws, password).await
}

/// The same over TLS, trusting only `cert` (a browser's noVNC on an HTTPS page).
async fn secure_websocket_desktop_name(port: u16, password: &str, cert: &[u8]) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(cert) {
        roots.add(c.expect("certificate")).expect("trusted");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the console proxy");
    let (ws, _) = tokio_tungstenite::client_async(format!("wss://localhost:{port}/"), tls)
        .await
        .expect("WebSocket handshake");
    rfb_over_websocket(ws, password).await
}

async fn rfb_over_websocket<S>(
    mut ws: tokio_tungstenite::WebSocketStream<S>,
    password: &str,
) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut buffer: Vec<u8> = Vec::new();
    let mut read = async |ws: &mut tokio_tungstenite::WebSocketStream<S>, n: usize| -> Vec<u8> {
        while buffer.len() < n {
            match ws.next().await.expect("message").expect("frame") {
                Message::Binary(b) => buffer.extend_from_slice(&b),
                other => panic!("unexpected {other:?}"),
            }
        }
        buffer.drain(..n).collect()
    };
    assert_eq!(read(&mut ws, 12).await, b"RFB 003.008\n");
    ws.send(Message::Binary(b"RFB 003.008\n".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(read(&mut ws, 2).await, [1, 2]);
    ws.send(Message::Binary(vec![2].into()))
        .await
        .expect("send");
    let challenge: [u8; 16] = read(&mut ws, 16).await.try_into().expect("16 bytes");
    let response = cyclades::console::vnc_auth_response(&challenge, password);
    ws.send(Message::Binary(response.to_vec().into()))
        .await
        .expect("send");
    assert_eq!(read(&mut ws, 4).await, [0, 0, 0, 0], "authenticated");
    ws.send(Message::Binary(vec![1].into()))
        .await
        .expect("ClientInit");
    let init = read(&mut ws, 24).await;
    let len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    String::from_utf8(read(&mut ws, len).await).expect("utf-8")
}

#[tokio::test]
async fn the_console_goes_through_a_one_time_authenticated_forwarding() {
    let ctx = TestContext::with_config(|c| {
        c.demo.ganeti_hypervisor = "kvm".into();
        c.backends.reconcile_secs = 0;
    })
    .await;
    let token = ctx.demo_token().await;
    let id = active_servers(&ctx, &token, &["con"]).await.remove(0);
    let path = format!("/compute/v2.0/servers/{id}/action");
    let act = |body| ctx.request(Method::POST, &path, Some(&token), Some(body));

    let r = act(json!({"console": {"type": "vnc"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = &r.body["console"];
    assert_eq!(c["type"], "vnc");
    assert_eq!(c["host"], "127.0.0.1", "the API's host, not the node's");
    let port = c["port"].as_u64().expect("port") as u16;
    let password = c["password"].as_str().expect("password").to_string();
    let direct = ctx
        .rapi(Method::GET, &format!("/2/instances/snf-{id}/console"), None)
        .await
        .body;
    assert_ne!(
        direct["port"].as_u64(),
        Some(u64::from(port)),
        "a proxy port"
    );
    assert_eq!(
        vnc_desktop_name("127.0.0.1", port, &password).await,
        "cyclades simulated console"
    );
    // Used once: the forwarding is gone.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );

    // os-getVNCConsole: xvpvnc is plain VNC; noVNC needs WebSockets (501, not a broken URL).
    let r = act(json!({"os-getVNCConsole": {"type": "xvpvnc"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.body["console"]["url"]
            .as_str()
            .unwrap_or("")
            .contains("password="),
        "{}",
        r.text
    );
    // Without [console] novnc_url there is no page to send a browser to.
    let r = act(json!({"os-getVNCConsole": {"type": "novnc"}})).await;
    assert!(
        r.fault(501, "notImplemented").contains("novnc_url"),
        "{}",
        r.text
    );
    act(json!({"console": {"type": "vnc-wss"}}))
        .await
        .fault(501, "notImplemented");

    // vnc-ws: the same one-time forwarding, RFB inside WebSocket binary messages (noVNC).
    let r = act(json!({"console": {"type": "vnc-ws"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = &r.body["console"];
    assert_eq!(c["type"], "vnc-ws");
    let port = c["port"].as_u64().expect("port") as u16;
    let password = c["password"].as_str().expect("password").to_string();
    assert_eq!(
        websocket_desktop_name(port, &password).await,
        "cyclades simulated console"
    );

    // Ganeti stops the instance behind our back: 400, and the record follows Ganeti.
    let job = ctx
        .rapi(
            Method::PUT,
            &format!("/2/instances/snf-{id}/shutdown"),
            Some(json!({})),
        )
        .await;
    wait_ganeti_job(&ctx, &job.body).await;
    act(json!({"console": {"type": "vnc"}}))
        .await
        .fault(400, "badRequest");
    ctx.wait_server(&token, &id, "STOPPED").await;
}

#[tokio::test]
async fn novnc_urls_point_at_the_configured_page() {
    let ctx = TestContext::with_config(|c| {
        c.demo.ganeti_hypervisor = "kvm".into();
        c.console.novnc_url = Some("https://novnc.example.org/vnc_lite.html".into());
    })
    .await;
    let token = ctx.demo_token().await;
    let id = active_servers(&ctx, &token, &["web"]).await.remove(0);
    let r = ctx
        .post(
            &token,
            &format!("/compute/v2.0/servers/{id}/action"),
            json!({"os-getVNCConsole": {"type": "novnc"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = r.body["console"]["url"].as_str().expect("url").to_string();
    assert!(
        url.starts_with("https://novnc.example.org/vnc_lite.html?host=127.0.0.1&port="),
        "{url}"
    );
    let query: std::collections::HashMap<&str, &str> = url
        .split_once('?')
        .map(|(_, q)| q.split('&').filter_map(|kv| kv.split_once('=')).collect())
        .unwrap_or_default();
    let port: u16 = query["port"].parse().expect("port");
    assert_eq!(
        websocket_desktop_name(port, query["password"]).await,
        "cyclades simulated console"
    );
}

#[tokio::test]
async fn vnc_wss_consoles_speak_tls_with_the_configured_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("certificate");
    let cert = certified.cert.pem();
    let pem = format!("{}{cert}", certified.key_pair.serialize_pem());
    let path = dir.path().join("console.pem");
    std::fs::write(&path, pem).expect("pem");
    let ctx = TestContext::with_config(|c| {
        c.demo.ganeti_hypervisor = "kvm".into();
        c.console.tls_pem = Some(path.clone());
        c.console.novnc_url = Some("https://cloud.example.org/novnc/vnc_lite.html".into());
    })
    .await;
    let token = ctx.demo_token().await;
    let id = active_servers(&ctx, &token, &["tls"]).await.remove(0);
    let path = format!("/compute/v2.0/servers/{id}/action");
    let r = ctx
        .post(&token, &path, json!({"console": {"type": "vnc-wss"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let port = r.body["console"]["port"].as_u64().expect("port") as u16;
    let password = r.body["console"]["password"]
        .as_str()
        .expect("password")
        .to_string();
    assert_eq!(
        secure_websocket_desktop_name(port, &password, cert.as_bytes()).await,
        "cyclades simulated console"
    );
    // noVNC on an HTTPS page gets a wss console (encrypt=1).
    let r = ctx
        .post(
            &token,
            &path,
            json!({"os-getVNCConsole": {"type": "novnc"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = r.body["console"]["url"].as_str().expect("url");
    assert!(url.contains("encrypt=1"), "{url}");
}
