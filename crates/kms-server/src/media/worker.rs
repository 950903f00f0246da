//! The media worker's run loop and state.

use super::tcp::TcpEvent;
use super::{Command, MediaEvent, PipelineHandle};
use kms_media::{Datagram, ElementId, Pipeline, PipelineOutput, Transport};
use std::collections::HashMap;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Largest datagram we accept; anything longer is truncated and then rejected.
const MAX_DATAGRAM: usize = 2048;
/// Upper bound of one sleep, so a missed wake-up costs at most this much.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// Everything the worker owns. Commands from the control plane get `&mut` to it.
pub struct Worker {
    pipelines: HashMap<PipelineHandle, Pipeline>,
    next_pipeline: u64,
    host_addrs: Vec<SocketAddr>,
    /// The shared host sockets first, then sockets owned by one element.
    sockets: Vec<MediaSocket>,
    /// `minPort..=maxPort`, for the sockets bound later.
    ports: (u16, u16),
    /// (transport, local, remote) already claimed by an element.
    routes: HashMap<(Transport, SocketAddr, SocketAddr), (PipelineHandle, ElementId)>,
    /// ICE-TCP listener addresses (passive TCP candidates).
    tcp_addrs: Vec<SocketAddr>,
    /// Open ICE-TCP connections by (local, remote): their outgoing frames.
    tcp_conns: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>>,
    /// Pipelines that may have output to drain.
    touched: Vec<PipelineHandle>,
}

impl Worker {
    /// Local addresses of the media sockets (host candidates).
    pub fn host_addrs(&self) -> &[SocketAddr] {
        &self.host_addrs
    }

    /// Addresses of the ICE-TCP listeners (passive TCP host candidates).
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    fn handle_tcp(&mut self, now: Instant, event: TcpEvent) {
        match event {
            TcpEvent::Opened { local, remote, tx } => {
                self.tcp_conns.insert((local, remote), tx);
            }
            TcpEvent::Frame { local, remote, data } => {
                let datagram = Datagram { transport: Transport::Tcp, source: remote, destination: local, contents: &data };
                self.handle_datagram(now, None, datagram);
            }
            TcpEvent::Closed { local, remote } => {
                self.tcp_conns.remove(&(local, remote));
                self.routes.remove(&(Transport::Tcp, local, remote));
            }
        }
    }

    pub fn create_pipeline(&mut self) -> PipelineHandle {
        self.next_pipeline += 1;
        let handle = PipelineHandle(self.next_pipeline);
        self.pipelines.insert(handle, Pipeline::new());
        handle
    }

    /// Drops a pipeline with all its elements.
    pub fn remove_pipeline(&mut self, handle: PipelineHandle) {
        self.pipelines.remove(&handle);
        self.routes.retain(|_, (p, _)| *p != handle);
        self.sockets.retain(|s| s.owner.is_none_or(|(p, _)| p != handle));
    }

    /// Binds a UDP socket on `ip` (inside the port range) whose datagrams all
    /// go to `element`: a TURN allocation needs a 5-tuple of its own.
    pub fn bind_element_socket(&mut self, ip: std::net::IpAddr, handle: PipelineHandle, element: ElementId) -> std::io::Result<SocketAddr> {
        let socket = super::net::bind_in_range(ip, self.ports.0, self.ports.1)?;
        let socket = UdpSocket::from_std(socket)?;
        let addr = socket.local_addr()?;
        self.sockets.push(MediaSocket { addr, socket, owner: Some((handle, element)) });
        Ok(addr)
    }

    /// The pipeline, marked for draining after the command.
    pub fn pipeline(&mut self, handle: PipelineHandle) -> Option<&mut Pipeline> {
        self.touched.push(handle);
        self.pipelines.get_mut(&handle)
    }

    /// Polls `element` at the end of this wake-up (its island queued output).
    pub fn wake(&mut self, handle: PipelineHandle, element: ElementId) {
        if let Some(p) = self.pipeline(handle) {
            p.wake(element);
        }
    }

    /// Removes a hub and its ports.
    pub fn remove_hub(&mut self, now: Instant, handle: PipelineHandle, hub: ElementId) {
        if let Some(p) = self.pipelines.get_mut(&handle) {
            p.remove_hub(now, hub);
            self.touched.push(handle);
        }
    }

    /// Removes one element and forgets its network routes.
    pub fn remove_element(&mut self, now: Instant, handle: PipelineHandle, element: ElementId) {
        if let Some(p) = self.pipelines.get_mut(&handle) {
            p.remove(now, element);
            // Its removal may raise events on others (NOT_TRANSCODING).
            self.touched.push(handle);
        }
        self.routes.retain(|_, route| *route != (handle, element));
        self.sockets.retain(|s| s.owner != Some((handle, element)));
    }

    /// Routes a datagram: to the owner of the socket, else by the cached
    /// (local, remote) route, else to the element that accepts it. Answers
    /// from STUN servers are not cached: one server answers many endpoints
    /// on the same shared socket, each matched by its transaction id.
    fn handle_datagram(&mut self, now: Instant, owner: Option<(PipelineHandle, ElementId)>, datagram: Datagram) {
        let key = (datagram.transport, datagram.destination, datagram.source);
        let route = match owner.or_else(|| self.routes.get(&key).copied()) {
            Some(route) => Some(route),
            None => self
                .pipelines
                .iter()
                .find_map(|(h, p)| p.accepting(now, &datagram).map(|e| (*h, e)))
                .inspect(|route| {
                    if !is_stun_response(datagram.contents) {
                        self.routes.insert(key, *route);
                    }
                }),
        };
        let Some((handle, element)) = route else {
            tracing::trace!(source = %datagram.source, "datagram for no element dropped");
            return;
        };
        if let Some(p) = self.pipelines.get_mut(&handle) {
            p.handle_datagram(now, element, datagram);
            self.touched.push(handle);
        }
    }

    /// Drives due timeouts. Every pipeline is visited on each wake-up: a timer
    /// queue keyed by deadline is the next step for thousands of pipelines.
    fn handle_timeout(&mut self, now: Instant) {
        for (handle, p) in self.pipelines.iter_mut() {
            if p.handle_timeout(now) {
                self.touched.push(*handle);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.pipelines.values().filter_map(Pipeline::poll_timeout).min()
    }

    /// Drains every touched pipeline: datagrams to the sockets, events out.
    fn drain(&mut self, now: Instant, events: &mpsc::UnboundedSender<MediaEvent>) {
        let (sockets, tcp_conns) = (&self.sockets, &self.tcp_conns);
        self.touched.sort_unstable_by_key(|h| h.0);
        self.touched.dedup();
        for handle in std::mem::take(&mut self.touched) {
            let Some(p) = self.pipelines.get_mut(&handle) else { continue };
            while let Some(out) = p.poll_output(now) {
                match out {
                    PipelineOutput::Transmit(t) if t.transport == Transport::Tcp => {
                        // A full queue drops the frame, like a congested UDP path.
                        if let Some(tx) = tcp_conns.get(&(t.source, t.destination)) {
                            let _ = tx.try_send(t.contents);
                        }
                    }
                    PipelineOutput::Transmit(t) => send(sockets, &t.source, &t.destination, &t.contents),
                    PipelineOutput::Event(element, event) => {
                        let _ = events.send(MediaEvent { pipeline: handle, element, event });
                    }
                }
            }
        }
    }
}

/// A media socket with its local address, read once (not a syscall per packet).
struct MediaSocket {
    addr: SocketAddr,
    socket: UdpSocket,
    /// The element every datagram goes to, for sockets bound for one element.
    owner: Option<(PipelineHandle, ElementId)>,
}

/// A STUN success or error response (RFC 5389 §6: class bit C1 set).
fn is_stun_response(contents: &[u8]) -> bool {
    contents.len() >= 20 && contents[0] & 0xC0 == 0 && contents[0] & 0x01 == 0x01 && contents[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

/// What woke the run loop.
enum Wake {
    Command(Option<Command>),
    Datagram(Option<(usize, usize, SocketAddr)>),
    Tcp(TcpEvent),
    Timer,
}

fn send(sockets: &[MediaSocket], source: &SocketAddr, destination: &SocketAddr, contents: &[u8]) {
    let Some(MediaSocket { socket, .. }) = sockets.iter().find(|s| s.addr == *source) else {
        tracing::debug!(%source, "no socket for transmit source");
        return;
    };
    // A full send buffer drops the datagram, as a congested network would;
    // NACK/RTX and PLI recover media. The worker never blocks on a socket.
    if let Err(e) = socket.try_send_to(contents, *destination) {
        tracing::debug!(%destination, "send failed: {e}");
    }
}

/// The worker thread's body: a single-threaded runtime multiplexing commands,
/// sockets and timers.
pub(super) fn run(
    sockets: Vec<std::net::UdpSocket>,
    listeners: Vec<std::net::TcpListener>,
    ports: (u16, u16),
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<MediaEvent>,
    load: std::sync::Arc<super::WorkerLoad>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the media worker runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        let sockets: Vec<MediaSocket> = sockets
            .into_iter()
            .filter_map(|s| {
                let socket = UdpSocket::from_std(s).ok()?;
                Some(MediaSocket { addr: socket.local_addr().ok()?, socket, owner: None })
            })
            .collect();
        let host_addrs = sockets.iter().map(|s| s.addr).collect();
        let (tcp_tx, mut tcp_events) = mpsc::channel(super::tcp::INCOMING_FRAMES);
        let mut tcp_addrs = Vec::new();
        for listener in listeners {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    tcp_addrs.extend(l.local_addr().ok());
                    tokio::spawn(super::tcp::accept(l, tcp_tx.clone()));
                }
                Err(e) => tracing::warn!("ICE-TCP listener unusable: {e}"),
            }
        }
        drop(tcp_tx);
        let mut worker = Worker {
            pipelines: HashMap::new(),
            next_pipeline: 0,
            host_addrs,
            sockets,
            ports,
            routes: HashMap::new(),
            tcp_addrs,
            tcp_conns: HashMap::new(),
            touched: Vec::new(),
        };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let now = Instant::now();
            let deadline = worker.poll_timeout().map_or(now + MAX_SLEEP, |t| t.min(now + MAX_SLEEP));
            let wake = tokio::select! {
                command = commands.recv() => Wake::Command(command),
                received = recv_any(&worker.sockets, &mut buf) => Wake::Datagram(received),
                Some(event) = tcp_events.recv() => Wake::Tcp(event),
                _ = tokio::time::sleep_until(deadline.into()) => Wake::Timer,
            };
            let woke = Instant::now();
            let lag = matches!(wake, Wake::Timer).then(|| woke.saturating_duration_since(deadline));
            match wake {
                Wake::Command(Some(command)) => command(&mut worker, Instant::now()),
                Wake::Command(None) => return,
                Wake::Datagram(Some((index, len, source))) => {
                    let MediaSocket { addr, owner, .. } = &worker.sockets[index];
                    let (destination, owner) = (*addr, *owner);
                    let datagram = Datagram { transport: Transport::Udp, source, destination, contents: &buf[..len] };
                    worker.handle_datagram(Instant::now(), owner, datagram);
                }
                Wake::Tcp(event) => worker.handle_tcp(Instant::now(), event),
                Wake::Datagram(None) | Wake::Timer => {}
            }
            let now = Instant::now();
            worker.handle_timeout(now);
            worker.drain(now, &events);
            load.record(woke.elapsed(), lag);
        }
    });
}

/// Receives from whichever socket is ready first: (socket index, length, source).
async fn recv_any(sockets: &[MediaSocket], buf: &mut [u8]) -> Option<(usize, usize, SocketAddr)> {
    if sockets.is_empty() {
        return std::future::pending().await;
    }
    poll_fn(|cx| {
        for (i, MediaSocket { socket, .. }) in sockets.iter().enumerate() {
            let mut read = ReadBuf::new(buf);
            match socket.poll_recv_from(cx, &mut read) {
                Poll::Ready(Ok(source)) => return Poll::Ready(Some((i, read.filled().len(), source))),
                // ICMP errors (port unreachable from a vanished peer) surface here; skip them.
                Poll::Ready(Err(e)) => {
                    tracing::trace!("recv error: {e}");
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}
