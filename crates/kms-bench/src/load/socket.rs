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
use std::time::{Duration, Instant};

/// Datagrams read per system call at most (recvmmsg), each buffer large
/// enough for a GRO batch.
const BATCH: usize = 16;
const BUF_SIZE: usize = 64 * 1024;
/// Receive buffer: a few hundred ms of 400 viewers at 1.2 Mbit/s.
const RECV_BUFFER: i32 = 32 << 20;

/// The sending half: the socket itself and the local port of every peer.
pub struct Sender {
    socket: UdpSocket,
    state: UdpSocketState,
    port: u16,
}

pub struct PeerSocket {
    tx: Sender,
    /// Longest wait for a datagram (ms).
    tick_ms: i32,
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
}

/// The address of peer `index`: 127.1.0.1, 127.1.0.2, ... (127.0.0.0/8 only).
pub fn peer_ip(index: usize) -> Ipv4Addr {
    let n = index as u32 + 1;
    Ipv4Addr::new(127, 1, (n >> 8) as u8, n as u8)
}

/// The peer whose address is `ip` (the inverse of [`peer_ip`]).
pub fn peer_index(ip: IpAddr) -> Option<usize> {
    let IpAddr::V4(v4) = ip else { return None };
    let [127, 1, hi, lo] = v4.octets() else { return None };
    (usize::from(hi) << 8 | usize::from(lo)).checked_sub(1)
}

impl Sender {
    /// The local address of peer `index`.
    pub fn peer_addr(&self, index: usize) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(peer_ip(index)), self.port)
    }

    /// Sends `contents` from `source` (a peer address) to `destination`. A
    /// failed send is lost like a lost packet: str0m retransmits what matters
    /// (ICE, DTLS).
    pub fn send(&self, source: SocketAddr, destination: SocketAddr, contents: &[u8]) {
        let transmit = Transmit { destination, ecn: None, contents, segment_size: None, src_ip: Some(source.ip()) };
        let _ = self.state.try_send((&self.socket).into(), &transmit);
    }
}

/// Sets the receive buffer past `net.core.rmem_max` when allowed
/// (SO_RCVBUFFORCE, root), else as large as the system lets.
fn grow_receive_buffer(socket: &UdpSocket) {
    for option in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: a valid socket and an i32 option value of the right size.
        let ok = unsafe {
            let size = RECV_BUFFER;
            libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, option, (&size as *const i32).cast(), std::mem::size_of::<i32>() as u32)
        } == 0;
        if ok {
            return;
        }
    }
}

impl PeerSocket {
    /// Binds 0.0.0.0 on an ephemeral port, so that every 127.1.x.y reaches it;
    /// `poll` waits at most `tick` for datagrams.
    pub fn bind(tick: Duration) -> std::io::Result<PeerSocket> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        let state = UdpSocketState::new((&socket).into())?;
        let port = socket.local_addr()?.port();
        grow_receive_buffer(&socket);
        let tick_ms = tick.as_millis().clamp(1, 1000) as i32;
        Ok(PeerSocket { tx: Sender { socket, state, port }, tick_ms, bufs: vec![vec![0; BUF_SIZE]; BATCH], meta: vec![RecvMeta::default(); BATCH] })
    }

    pub fn sender(&self) -> &Sender {
        &self.tx
    }

    /// Reads what has arrived (waiting at most the tick when nothing has) and
    /// hands each datagram to `each` with the sender, its arrival time (read
    /// once per batch, after it arrived), source, destination and payload.
    pub fn poll(&mut self, mut each: impl FnMut(&Sender, Instant, SocketAddr, SocketAddr, &[u8])) {
        let mut count = self.recv();
        if count == 0 {
            // quinn-udp makes the socket non-blocking: wait for readability.
            let mut fd = libc::pollfd { fd: self.tx.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd for the duration of the call.
            if unsafe { libc::poll(&mut fd, 1, self.tick_ms) } <= 0 {
                return;
            }
            count = self.recv();
        }
        let at = Instant::now();
        for (meta, buf) in self.meta.iter().zip(&self.bufs).take(count) {
            let Some(dst_ip) = meta.dst_ip else { continue };
            let destination = SocketAddr::new(dst_ip, self.tx.port);
            for chunk in buf[..meta.len].chunks(meta.stride.max(1)) {
                each(&self.tx, at, meta.addr, destination, chunk);
            }
        }
    }

    /// One recvmmsg: how many buffers were filled (0 when nothing was queued).
    fn recv(&mut self) -> usize {
        let mut slices: Vec<IoSliceMut<'_>> = self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        self.tx.state.recv((&self.tx.socket).into(), &mut slices, &mut self.meta).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses_map_back_to_their_index() {
        for i in [0, 1, 254, 255, 256, 399, 65_000] {
            assert_eq!(peer_index(IpAddr::V4(peer_ip(i))), Some(i), "{i}");
        }
        assert_eq!(peer_index("127.0.0.1".parse().unwrap()), None);
        assert_eq!(peer_index("127.1.0.0".parse().unwrap()), None);
    }
}
