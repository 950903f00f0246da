//! ICE-TCP I/O (RFC 6544 passive candidates): one listener per host address;
//! each accepted connection carries RFC 4571 frames (a 16-bit length, then
//! the packet). Connections run as tasks on the media worker's own
//! single-threaded runtime (no thread per peer) and exchange frames with the
//! run loop over bounded channels: a slow reader is backpressured, a peer
//! that does not read loses frames as it would lose UDP datagrams.

use kms_webrtc::framing::{self, Deframer};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Bytes read from a connection at a time (frames are reassembled by [`Deframer`]).
const READ_CHUNK: usize = 16 * 1024;
/// Frames queued towards one peer before further ones are dropped.
const OUTGOING_FRAMES: usize = 256;
/// Frames read from all connections not yet taken by the run loop.
pub const INCOMING_FRAMES: usize = 1024;

/// What the connections tell the run loop.
#[derive(Debug)]
pub enum TcpEvent {
    /// A peer connected to `local`; frames for it go to `tx`.
    Opened { local: SocketAddr, remote: SocketAddr, tx: mpsc::Sender<Vec<u8>> },
    /// One RFC 4571 frame from `remote`.
    Frame { local: SocketAddr, remote: SocketAddr, data: Vec<u8> },
    Closed { local: SocketAddr, remote: SocketAddr },
}

/// Accepts connections on `listener` until the run loop goes away.
pub async fn accept(listener: TcpListener, events: mpsc::Sender<TcpEvent>) {
    let Ok(local) = listener.local_addr() else { return };
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, local, remote, events.clone()));
            }
            Err(e) => tracing::debug!(%local, "ICE-TCP accept failed: {e}"),
        }
        if events.is_closed() {
            return;
        }
    }
}

async fn connection(stream: TcpStream, local: SocketAddr, remote: SocketAddr, events: mpsc::Sender<TcpEvent>) {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(OUTGOING_FRAMES);
    if events.send(TcpEvent::Opened { local, remote, tx }).await.is_err() {
        return;
    }
    let (mut reader, mut writer) = stream.into_split();
    let read = async {
        let mut deframer = Deframer::default();
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            let n = reader.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<(), std::io::Error>(());
            }
            deframer.push(&chunk[..n]);
            while let Some(frame) = deframer.next_frame() {
                let data = frame.to_vec();
                if events.send(TcpEvent::Frame { local, remote, data }).await.is_err() {
                    return Ok(());
                }
            }
        }
    };
    let write = async {
        while let Some(payload) = rx.recv().await {
            // RFC 4571 framing in one write: with TCP_NODELAY two writes would be two segments.
            let Some(framed) = framing::frame(&payload) else { continue };
            writer.write_all(&framed).await?;
        }
        Ok::<(), std::io::Error>(())
    };
    let result = tokio::select! { r = read => r, r = write => r };
    if let Err(e) = result {
        tracing::debug!(%remote, "ICE-TCP connection ended: {e}");
    }
    let _ = events.send(TcpEvent::Closed { local, remote }).await;
}
