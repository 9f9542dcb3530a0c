//! The VNC console end to end on a simulated kvm cluster: the `console` action opens a
//! one-time forwarding through the built-in proxy, a VNC client authenticates with the
//! password it got and reaches the instance's console; the node's own address is never
//! handed out; an instance Ganeti stopped behind our back is refused and its record synced.

use cyclades_tests::TestContext;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::compute::{FLAVOR_SMALL, create, flavor_id};
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

#[tokio::test]
async fn the_console_goes_through_a_one_time_authenticated_forwarding() {
    let ctx = TestContext::with_config(|c| {
        c.demo.ganeti_hypervisor = "kvm".into();
        c.backends.reconcile_secs = 0;
    })
    .await;
    let token = ctx.demo_token().await;
    let image = ctx.demo_image(&token).await;
    let flavor = flavor_id(&ctx, &token, FLAVOR_SMALL).await;
    let r = create(
        &ctx,
        &token,
        json!({"name": "con", "imageRef": image, "flavorRef": flavor}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let id = r.body["server"]["id"].as_str().expect("id").to_string();
    ctx.wait_server(&token, &id, "ACTIVE").await;
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
    let r = act(json!({"os-getVNCConsole": {"type": "novnc"}})).await;
    r.fault(501, "notImplemented");
    act(json!({"console": {"type": "vnc-wss"}}))
        .await
        .fault(501, "notImplemented");

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
