//! The simulated kvm cluster's VNC console: one small RFB 3.8 server (security type None, as
//! Ganeti's kvm exports consoles) that every running instance's `GET .../console` points at.
//! It serves a 64×48 framebuffer in one colour and ignores input, enough for a real VNC client
//! (or the console proxy's tests) to connect and draw. It knows nothing of the cluster state.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WIDTH: u16 = 64;
const HEIGHT: u16 = 48;
/// The desktop name clients show.
pub const DESKTOP_NAME: &str = "cyclades simulated console";

/// Starts the server on `ip` (any free port); returns its address.
pub async fn start(ip: std::net::IpAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((ip, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = session(stream).await;
            });
        }
    });
    Ok(addr)
}

async fn session(mut s: TcpStream) -> std::io::Result<()> {
    s.write_all(b"RFB 003.008\n").await?;
    let mut version = [0u8; 12];
    s.read_exact(&mut version).await?;
    s.write_all(&[1, 1]).await?; // one security type: None
    let mut chosen = [0u8; 1];
    s.read_exact(&mut chosen).await?;
    s.write_all(&0u32.to_be_bytes()).await?; // SecurityResult OK
    let mut shared = [0u8; 1];
    s.read_exact(&mut shared).await?; // ClientInit
    let mut init = Vec::new();
    init.extend(WIDTH.to_be_bytes());
    init.extend(HEIGHT.to_be_bytes());
    // Pixel format: 32 bpp, depth 24, little endian, true colour, 8 bits per channel.
    init.extend([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    init.extend((DESKTOP_NAME.len() as u32).to_be_bytes());
    init.extend(DESKTOP_NAME.as_bytes());
    s.write_all(&init).await?;
    loop {
        let mut kind = [0u8; 1];
        s.read_exact(&mut kind).await?;
        match kind[0] {
            0 => skip(&mut s, 19).await?, // SetPixelFormat
            2 => {
                let mut head = [0u8; 3];
                s.read_exact(&mut head).await?;
                let n = u16::from_be_bytes([head[1], head[2]]);
                skip(&mut s, usize::from(n) * 4).await?;
            }
            3 => {
                skip(&mut s, 9).await?;
                s.write_all(&frame()).await?;
            }
            4 => skip(&mut s, 7).await?, // KeyEvent
            5 => skip(&mut s, 5).await?, // PointerEvent
            6 => {
                let mut head = [0u8; 7];
                s.read_exact(&mut head).await?;
                let len = u32::from_be_bytes([head[3], head[4], head[5], head[6]]);
                skip(&mut s, len as usize).await?;
            }
            _ => return Ok(()),
        }
    }
}

async fn skip(s: &mut TcpStream, n: usize) -> std::io::Result<()> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).await?;
    Ok(())
}

/// A FramebufferUpdate with the whole screen as one raw rectangle.
fn frame() -> Vec<u8> {
    let mut f = vec![0, 0];
    f.extend(1u16.to_be_bytes());
    f.extend([0, 0, 0, 0]);
    f.extend(WIDTH.to_be_bytes());
    f.extend(HEIGHT.to_be_bytes());
    f.extend(0i32.to_be_bytes()); // raw encoding
    for _ in 0..usize::from(WIDTH) * usize::from(HEIGHT) {
        f.extend([0x30, 0x60, 0x90, 0x00]);
    }
    f
}
