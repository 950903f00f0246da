//! One UDP socket carrying every peer of the load client.
//!
//! Each peer has its own loopback address (127.1.x.y) on the same socket and
//! port, so the server sees N distinct 5-tuples while the client keeps one
//! socket: datagrams are told apart by their destination address (IP_PKTINFO,
//! via quinn-udp) and sent from the peer's address.

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Datagrams read per system call at most (recvmmsg), each buffer large
/// enough for a GRO batch.
const BATCH: usize = 16;
const BUF_SIZE: usize = 64 * 1024;

pub struct PeerSocket {
    socket: UdpSocket,
    state: UdpSocketState,
    port: u16,
    /// Longest wait for a datagram (ms).
    tick_ms: i32,
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
}

/// One received datagram: (source, destination, payload).
pub type Received<'a> = (SocketAddr, SocketAddr, &'a [u8]);

/// The address of peer `index`: 127.1.0.1, 127.1.0.2, ... (127.0.0.0/8 only).
pub fn peer_ip(index: usize) -> Ipv4Addr {
    let n = index as u32 + 1;
    Ipv4Addr::new(127, 1, (n >> 8) as u8, n as u8)
}

impl PeerSocket {
    /// Binds 0.0.0.0 on an ephemeral port, so that every 127.1.x.y reaches it;
    /// `poll` waits at most `tick` for datagrams.
    pub fn bind(tick: Duration) -> std::io::Result<PeerSocket> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        let state = UdpSocketState::new((&socket).into())?;
        let port = socket.local_addr()?.port();
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(8 << 20);
        let tick_ms = tick.as_millis().clamp(1, 1000) as i32;
        Ok(PeerSocket { socket, state, port, tick_ms, bufs: vec![vec![0; BUF_SIZE]; BATCH], meta: vec![RecvMeta::default(); BATCH] })
    }

    /// The local address of peer `index`.
    pub fn peer_addr(&self, index: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(peer_ip(index)), self.port)
    }

    /// Sends `contents` from `source` (a peer address) to `destination`.
    pub fn send(&self, source: SocketAddr, destination: SocketAddr, contents: &[u8]) {
        let transmit = Transmit { destination, ecn: None, contents, segment_size: None, src_ip: Some(source.ip()) };
        // A failed send is lost like a lost packet: str0m retransmits what matters (ICE, DTLS).
        let _ = self.state.try_send((&self.socket).into(), &transmit);
    }

    /// Reads what has arrived (waiting at most the tick) and hands each
    /// datagram to `each`. Returns how many datagrams were read.
    pub fn poll(&mut self, mut each: impl FnMut(Received<'_>)) -> usize {
        // quinn-udp makes the socket non-blocking: wait for readability here.
        let mut fd = libc::pollfd { fd: self.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut fd, 1, self.tick_ms) } <= 0 {
            return 0;
        }
        let mut slices: Vec<IoSliceMut<'_>> = self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let count = match self.state.recv((&self.socket).into(), &mut slices, &mut self.meta) {
            Ok(n) => n,
            Err(_) => return 0, // timed out (the tick) or interrupted
        };
        let mut datagrams = 0;
        for (meta, buf) in self.meta.iter().zip(&self.bufs).take(count) {
            let Some(dst_ip) = meta.dst_ip else { continue };
            let destination = SocketAddr::new(dst_ip, self.port);
            let stride = meta.stride.max(1);
            for chunk in buf[..meta.len].chunks(stride) {
                datagrams += 1;
                each((meta.addr, destination, chunk));
            }
        }
        datagrams
    }
}
