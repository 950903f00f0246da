//! A worker's UDP I/O through quinn-udp: receives in batches (recvmmsg, with
//! GRO trains split at their stride) and sends consecutive datagrams for one
//! destination as one GSO train (one system call for the packets of a video
//! frame), where the kernel has them; one datagram per call where it does not.

use kms_media::ElementId;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use std::future::poll_fn;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::task::Poll;
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::PipelineHandle;

/// Datagrams (or GRO trains) read per system call at most.
const BATCH: usize = quinn_udp::BATCH_SIZE;
/// One receive buffer: a GRO train of up to 64 KiB.
const BUF_SIZE: usize = 64 * 1024;
/// Segments of one GSO train at most (the kernel's limit is 64).
const MAX_TRAIN: usize = 16;

/// Receive buffer a worker's shared socket holds per element the worker
/// carries, in bytes of the kernel's accounting: the socket takes every
/// peer's packets, where KMS and Janus give each peer a socket (and so a
/// buffer) of its own. 16 KiB is about seven full-size datagrams (the
/// kernel counts ~2.3 KiB for each); 100 publishers of one worker get
/// 1.6 MiB, about 35 ms of their packets, where the kernel's default
/// (~208 KiB) overflowed a few times a second. Up to 13 elements keep the
/// default.
const RECEIVE_BUFFER_PER_ELEMENT: usize = 16 * 1024;
/// The buffer moves in steps of this size, so that creating or releasing
/// an element does not cost a system call each.
const RECEIVE_BUFFER_STEP: usize = 256 * 1024;

/// A media socket with its local address (read once, not a syscall per packet).
pub struct MediaSocket {
    pub addr: SocketAddr,
    socket: UdpSocket,
    state: UdpSocketState,
    /// The element every datagram goes to, for sockets bound for one element.
    pub owner: Option<(PipelineHandle, ElementId)>,
    /// The receive buffer it was created with (the kernel's
    /// `rmem_default`), in the kernel's accounting.
    default_receive_buffer: usize,
    /// The receive buffer last set, in the kernel's accounting.
    receive_buffer: usize,
}

impl MediaSocket {
    /// Registers a bound non-blocking socket with the worker's runtime and
    /// turns on what quinn-udp can use (GRO, GSO, packet info).
    pub fn new(socket: std::net::UdpSocket, owner: Option<(PipelineHandle, ElementId)>) -> std::io::Result<MediaSocket> {
        let state = UdpSocketState::new((&socket).into())?;
        let initial = state.recv_buffer_size((&socket).into())?;
        let socket = UdpSocket::from_std(socket)?;
        Ok(MediaSocket { addr: socket.local_addr()?, socket, state, owner, default_receive_buffer: initial, receive_buffer: initial })
    }

    /// Sizes the receive buffer for a worker carrying `elements` elements:
    /// [`RECEIVE_BUFFER_PER_ELEMENT`] each in steps of
    /// [`RECEIVE_BUFFER_STEP`], never below the size it was created with.
    /// The kernel caps it at twice `net.core.rmem_max` (Linux doubles what
    /// is asked for its bookkeeping); raise that sysctl for hundreds of
    /// peers per worker. A failure is logged and changes nothing.
    pub fn fit_receive_buffer(&mut self, elements: usize) {
        let wanted = match elements * RECEIVE_BUFFER_PER_ELEMENT {
            n if n <= self.default_receive_buffer => self.default_receive_buffer,
            n => n.div_ceil(RECEIVE_BUFFER_STEP) * RECEIVE_BUFFER_STEP,
        };
        if wanted == self.receive_buffer {
            return;
        }
        // Asked for half: the kernel doubles it.
        match self.state.set_recv_buffer_size((&self.socket).into(), wanted / 2) {
            Ok(()) => self.receive_buffer = wanted,
            Err(e) => tracing::debug!(socket = %self.addr, "cannot set the receive buffer: {e}"),
        }
    }

    /// The receive buffer in the kernel's accounting (SO_RCVBUF), as read back.
    #[cfg(test)]
    pub fn read_receive_buffer(&self) -> usize {
        self.state.recv_buffer_size((&self.socket).into()).unwrap_or(0)
    }
}

/// Receive buffers for one batch.
pub struct RecvBatch {
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
    /// The socket polled first next time, so a busy socket cannot starve the others.
    first: usize,
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch { bufs: vec![vec![0; BUF_SIZE]; BATCH], meta: vec![RecvMeta::default(); BATCH], first: 0 }
    }

    /// Waits until a socket has datagrams and reads a batch of them:
    /// (socket index, buffers filled). ICMP errors (port unreachable from a
    /// vanished peer) surface as a batch of 0.
    pub async fn recv(&mut self, sockets: &[MediaSocket]) -> (usize, usize) {
        if sockets.is_empty() {
            return std::future::pending().await;
        }
        let RecvBatch { bufs, meta, first } = self;
        poll_fn(|cx| {
            let n = sockets.len();
            for i in (0..n).map(|k| (*first + k) % n) {
                let s = &sockets[i];
                while let Poll::Ready(ready) = s.socket.poll_recv_ready(cx) {
                    if let Err(e) = ready {
                        tracing::trace!("recv error: {e}");
                        return Poll::Ready((i, 0));
                    }
                    let mut slices: [IoSliceMut<'_>; BATCH] = std::array::from_fn(|_| IoSliceMut::new(&mut []));
                    for (slice, buf) in slices.iter_mut().zip(bufs.iter_mut()) {
                        *slice = IoSliceMut::new(buf);
                    }
                    // try_io clears the readiness on WouldBlock, so the next
                    // poll_recv_ready registers for the next datagram.
                    match s.socket.try_io(Interest::READABLE, || s.state.recv((&s.socket).into(), &mut slices, meta)) {
                        Ok(count) => {
                            *first = (i + 1) % n;
                            return Poll::Ready((i, count));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(e) => {
                            tracing::trace!("recv error: {e}");
                            return Poll::Ready((i, 0));
                        }
                    }
                }
            }
            Poll::Pending
        })
        .await
    }

    /// The datagrams of the first `count` buffers: (source, contents), GRO
    /// trains split into their datagrams.
    pub fn datagrams(&self, count: usize) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.meta.iter().zip(&self.bufs).take(count).flat_map(|(meta, buf)| buf[..meta.len].chunks(meta.stride.max(1)).map(move |d| (meta.addr, d)))
    }
}

/// Datagrams on their way out: consecutive ones from one socket to one
/// destination of one size (the last may be shorter) leave as a GSO train.
#[derive(Default)]
pub struct SendQueue {
    /// The train's first datagram, kept as it came (no copy).
    first: Vec<u8>,
    /// A train of two segments or more, copied into this buffer; it keeps
    /// its capacity from train to train (no allocation per train).
    train: Vec<u8>,
    /// (socket index, destination, segment size, segments) of the train.
    head: Option<(usize, SocketAddr, usize, usize)>,
}

impl SendQueue {
    /// Queues one datagram from `source` (a socket's address) to
    /// `destination`. A datagram that starts a train is kept as it is (no
    /// copy); a second segment copies both into the reused train buffer.
    pub fn push(&mut self, sockets: &[MediaSocket], source: &SocketAddr, destination: &SocketAddr, contents: Vec<u8>) {
        let Some(index) = sockets.iter().position(|s| s.addr == *source) else {
            tracing::debug!(%source, "no socket for transmit source");
            return;
        };
        if let Some((i, dest, segment, segments)) = self.head {
            let fits = i == index && dest == *destination && contents.len() <= segment && segments < sockets[i].state.max_gso_segments().min(MAX_TRAIN);
            if fits {
                if segments == 1 {
                    self.train.clear();
                    self.train.extend_from_slice(&self.first);
                }
                self.train.extend_from_slice(&contents);
                self.head = Some((i, dest, segment, segments + 1));
                if contents.len() < segment {
                    // A shorter segment ends a train.
                    self.flush(sockets);
                }
                return;
            }
            self.flush(sockets);
        }
        self.head = Some((index, *destination, contents.len(), 1));
        self.first = contents;
    }

    /// Sends what is queued. A full send buffer drops the datagrams, as a
    /// congested network would; NACK/RTX and PLI recover media. The worker
    /// never blocks on a socket.
    pub fn flush(&mut self, sockets: &[MediaSocket]) {
        let Some((index, destination, segment, segments)) = self.head.take() else { return };
        let s = &sockets[index];
        let first = std::mem::take(&mut self.first);
        let contents = if segments > 1 { &self.train } else { &first };
        let transmit = Transmit { destination, ecn: None, contents, segment_size: (segments > 1).then_some(segment), src_ip: None };
        if let Err(e) = s.state.try_send((&s.socket).into(), &transmit) {
            tracing::debug!(%destination, "send failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> std::net::UdpSocket {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    /// Trains keep datagram boundaries: what a GSO train carries arrives as
    /// the datagrams that were queued, in order, and the receive side gives
    /// them back one by one whether or not the kernel merged them (GRO).
    #[tokio::test]
    async fn trains_and_batches_keep_datagram_boundaries() {
        let sockets = vec![MediaSocket::new(bound(), None).unwrap()];
        let peer = vec![MediaSocket::new(bound(), None).unwrap()];
        let (from, to) = (sockets[0].addr, peer[0].addr);
        let mut queue = SendQueue::default();
        // Two video frames' packets (equal, then a short last one), each
        // followed by audio; the second train is shorter than the first, so
        // a train buffer reused without clearing would show.
        let sizes = [1000, 1000, 1000, 1000, 1000, 300, 120, 800, 800, 800, 100, 90];
        let sent: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| vec![i as u8; n]).collect();
        for d in &sent {
            queue.push(&sockets, &from, &to, d.clone());
        }
        queue.flush(&sockets);
        let mut batch = RecvBatch::new();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.len() < sent.len() {
            let (index, count) = tokio::time::timeout(std::time::Duration::from_secs(2), batch.recv(&peer)).await.expect("datagrams arrive");
            assert_eq!(index, 0);
            got.extend(batch.datagrams(count).map(|(source, d)| {
                assert_eq!(source, from);
                d.to_vec()
            }));
        }
        assert_eq!(got, sent);
    }

    /// A worker's shared socket holds more for more elements (as far as
    /// `net.core.rmem_max` lets it) and goes back to the kernel's default
    /// when they go.
    #[tokio::test]
    async fn a_shared_socket_buffer_follows_the_workers_elements() {
        let mut socket = MediaSocket::new(bound(), None).unwrap();
        let initial = socket.read_receive_buffer();
        socket.fit_receive_buffer(2);
        assert_eq!(socket.read_receive_buffer(), initial, "a few elements keep the default");
        socket.fit_receive_buffer(400);
        assert!(socket.read_receive_buffer() > initial, "400 elements: {} bytes", socket.read_receive_buffer());
        socket.fit_receive_buffer(0);
        assert_eq!(socket.read_receive_buffer(), initial);
    }
}
