//! One media worker's run loop and state: its pipelines, sockets and timers.

use super::tcp::TcpEvent;
use super::route::RouteKey;
use super::udp::{MediaSocket, RecvBatch, SendQueue};
use super::unmatched::{Unmatched, Verdict};
use super::{Command, MediaEvent, PipelineHandle, WakeQueue, WorkerLoad};
use kms_media::{Datagram, DeadlineQueue, ElementId, Pipeline, PipelineOutput, Transport};
use rustc_hash::FxHashMap;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Upper bound of one sleep without any deadline: idle workers wake once a
/// second (the deadline queue makes a missed wake-up impossible otherwise).
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Everything one worker owns. Commands from the control plane get `&mut` to it.
pub struct Worker {
    /// This worker's index in the media plane (the `worker` of its handles).
    index: u16,
    /// Keyed by the server's own handles (never network input): FxHash, a
    /// lookup per datagram and per timer pass.
    pipelines: FxHashMap<PipelineHandle, Pipeline>,
    /// Elements per pipeline as last drained, and their sum: the load figure
    /// placement reads.
    sizes: FxHashMap<PipelineHandle, usize>,
    elements: usize,
    next_pipeline: u64,
    host_addrs: Vec<SocketAddr>,
    /// The shared host sockets first, then sockets owned by one element.
    sockets: Vec<MediaSocket>,
    /// `minPort..=maxPort`, for the sockets bound later.
    ports: (u16, u16),
    /// (transport, local, remote) already claimed by an element.
    routes: HashMap<RouteKey, (PipelineHandle, ElementId)>,
    /// Negative routes and scan budgets for datagrams no route claims.
    unmatched: Unmatched<RouteKey>,
    /// Each pipeline's earliest element deadline.
    timers: DeadlineQueue<PipelineHandle>,
    /// ICE-TCP listener addresses (passive TCP candidates).
    tcp_addrs: Vec<SocketAddr>,
    /// Open ICE-TCP connections by (local, remote): their outgoing frames.
    tcp_conns: HashMap<(SocketAddr, SocketAddr), mpsc::Sender<Vec<u8>>>,
    /// Pipelines that may have output to drain.
    touched: Vec<PipelineHandle>,
    sends: SendQueue,
    load: Arc<WorkerLoad>,
    /// Barriers to send behind this iteration's events.
    pub(super) barriers: Vec<oneshot::Sender<()>>,
    /// The pipeline being driven: the one failed if a panic unwinds out of
    /// the work in progress (see [`Worker::guarded`]).
    current: Option<PipelineHandle>,
    /// Pipelines failed by a panic, with its message, for the control plane.
    failed: Vec<(PipelineHandle, String)>,
}

impl Worker {
    /// This worker's index (the `worker` of the pipelines it owns).
    pub fn index(&self) -> usize {
        usize::from(self.index)
    }

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
                self.routes.remove(&RouteKey { transport: Transport::Tcp, local, remote });
            }
        }
    }

    pub fn create_pipeline(&mut self) -> PipelineHandle {
        self.next_pipeline += 1;
        let handle = PipelineHandle::new(self.index, self.next_pipeline);
        self.pipelines.insert(handle, Pipeline::new());
        self.touched.push(handle);
        handle
    }

    /// Drops a pipeline with all its elements.
    pub fn remove_pipeline(&mut self, handle: PipelineHandle) {
        self.pipelines.remove(&handle);
        self.elements -= self.sizes.remove(&handle).unwrap_or(0);
        self.timers.set(handle, None);
        self.publish_weight();
        self.routes.retain(|_, (p, _)| *p != handle);
        self.sockets.retain(|s| s.owner.is_none_or(|(p, _)| p != handle));
    }

    /// Binds a UDP socket on `ip` (inside the port range) whose datagrams all
    /// go to `element`: a TURN allocation needs a 5-tuple of its own.
    pub fn bind_element_socket(&mut self, ip: std::net::IpAddr, handle: PipelineHandle, element: ElementId) -> std::io::Result<SocketAddr> {
        let socket = super::net::bind_in_range(ip, self.ports.0, self.ports.1)?;
        let socket = MediaSocket::new(socket, Some((handle, element)))?;
        let addr = socket.addr;
        self.sockets.push(socket);
        Ok(addr)
    }

    /// The pipeline, marked for draining after the command.
    pub fn pipeline(&mut self, handle: PipelineHandle) -> Option<&mut Pipeline> {
        self.touched.push(handle);
        self.current = Some(handle);
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
        self.current = Some(handle);
        if let Some(p) = self.pipelines.get_mut(&handle) {
            p.remove_hub(now, hub);
            self.touched.push(handle);
        }
    }

    /// Removes one element and forgets its network routes.
    pub fn remove_element(&mut self, now: Instant, handle: PipelineHandle, element: ElementId) {
        self.current = Some(handle);
        if let Some(p) = self.pipelines.get_mut(&handle) {
            p.remove(now, element);
            // Its removal may raise events on others (NOT_TRANSCODING).
            self.touched.push(handle);
        }
        self.routes.retain(|_, route| *route != (handle, element));
        self.sockets.retain(|s| s.owner != Some((handle, element)));
    }

    /// Routes a datagram: to the owner of the socket, else by the cached
    /// (local, remote) route, else to the element that accepts it, looked
    /// for only when the negative cache and the scan budget allow (see
    /// [`Unmatched`]). Answers from STUN servers are not cached: one server
    /// answers many endpoints on the same shared socket, each matched by its
    /// transaction id. STUN messages that match nothing are not cached
    /// either (the next one may carry another endpoint's ICE username).
    fn handle_datagram(&mut self, now: Instant, owner: Option<(PipelineHandle, ElementId)>, datagram: Datagram) {
        // Until a route names a pipeline, a panic blames none (not the
        // previous datagram's).
        self.current = None;
        let key = RouteKey { transport: datagram.transport, local: datagram.destination, remote: datagram.source };
        let route = match owner.or_else(|| self.routes.get(&key).copied()) {
            Some(route) => Some(route),
            None => self.find_route(now, key, &datagram),
        };
        let Some((handle, element)) = route else { return };
        if let Some(p) = self.pipelines.get_mut(&handle) {
            self.current = Some(handle);
            p.handle_datagram(now, element, datagram);
            self.touched.push(handle);
        }
    }

    /// The element that accepts a datagram no route claims, when the scan
    /// budget allows looking; cached both ways (see [`Self::handle_datagram`]).
    fn find_route(&mut self, now: Instant, key: RouteKey, datagram: &Datagram) -> Option<(PipelineHandle, ElementId)> {
        if self.unmatched.check(now, &key, datagram.source.ip()) != Verdict::Scan {
            return None;
        }
        let found = self.pipelines.iter().find_map(|(h, p)| p.accepting(now, datagram).map(|e| (*h, e)));
        match found {
            Some(route) if !is_stun_response(datagram.contents) => {
                self.routes.insert(key, route);
            }
            None if !is_stun(datagram.contents) => self.unmatched.remember(now, key),
            None => tracing::trace!(source = %datagram.source, "STUN message for no element dropped"),
            Some(_) => {}
        }
        found
    }

    /// Drives the pipelines whose deadline has come; the others are not visited.
    fn handle_timeout(&mut self, now: Instant) {
        while let Some(handle) = self.timers.pop_due(now) {
            if let Some(p) = self.pipelines.get_mut(&handle) {
                self.current = Some(handle);
                p.handle_timeout(now);
                // Drained next, which sets its next deadline.
                self.touched.push(handle);
            }
        }
    }

    /// Runs `f` on the worker. A panic inside it (a bug, never expected) is
    /// caught: the pipeline it was driving, if any, is failed and dropped
    /// (see [`Worker::fail_current`]) and the worker goes on serving every
    /// other pipeline, where an unwinding panic used to end the worker's
    /// thread and every pipeline on it.
    fn guarded(&mut self, f: impl FnOnce(&mut Worker)) {
        self.current = None;
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            self.fail_current(panic.as_ref());
        }
    }

    /// After a caught panic: the pipeline being driven is dropped (its
    /// state may be half updated) with its routes, timers and sockets, and
    /// reported to the control plane ([`MediaEvent::PipelineFailed`]); a
    /// panic outside any pipeline is only logged.
    fn fail_current(&mut self, panic: &(dyn std::any::Any + Send)) {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        let Some(handle) = self.current.take() else {
            tracing::error!(worker = self.index, "media worker: caught a panic outside any pipeline: {text}");
            return;
        };
        tracing::error!(worker = self.index, ?handle, "pipeline failed and dropped after a panic: {text}");
        if let Some(pipeline) = self.pipelines.remove(&handle) {
            // Dropping may panic too (the state is suspect): then the rest of
            // it is left unfreed rather than the worker ended.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(pipeline))).is_err() {
                tracing::error!(worker = self.index, ?handle, "dropping the failed pipeline panicked as well");
            }
        }
        self.remove_pipeline(handle);
        self.failed.push((handle, text));
    }

    /// Publishes the worker's size for placement and sizes its shared
    /// sockets' receive buffers for it.
    fn publish_weight(&mut self) {
        self.load.set_placement(self.pipelines.len(), self.elements);
        for socket in self.sockets.iter_mut().filter(|s| s.owner.is_none()) {
            socket.fit_receive_buffer(self.elements);
        }
    }

    /// Drains every touched pipeline: datagrams to the sockets, events out;
    /// then sets its next deadline and size.
    fn drain(&mut self, now: Instant, events: &mut EventQueue) {
        let (sockets, tcp_conns, sends) = (&self.sockets, &self.tcp_conns, &mut self.sends);
        self.touched.sort_unstable();
        self.touched.dedup();
        let mut resized = false;
        // Read in place and cleared after: the list keeps its allocation, and
        // after a panic in one pipeline the next pass still drains (and
        // sets the deadlines of) the others.
        for i in 0..self.touched.len() {
            let handle = self.touched[i];
            let Some(p) = self.pipelines.get_mut(&handle) else { continue };
            self.current = Some(handle);
            while let Some(out) = p.poll_output(now) {
                match out {
                    PipelineOutput::Transmit(t) if t.transport == Transport::Tcp => {
                        // A full queue drops the frame, like a congested UDP path.
                        if let Some(tx) = tcp_conns.get(&(t.source, t.destination)) {
                            let _ = tx.try_send(t.contents);
                        }
                    }
                    PipelineOutput::Transmit(t) => sends.push(sockets, &t.source, &t.destination, t.contents),
                    PipelineOutput::Event(element, event) => events.push(MediaEvent::Raised { pipeline: handle, element, event }),
                }
            }
            self.timers.set(handle, p.poll_timeout());
            let size = p.len();
            let old = self.sizes.insert(handle, size).unwrap_or(0);
            if old != size {
                self.elements = self.elements + size - old;
                resized = true;
            }
        }
        self.touched.clear();
        self.current = None;
        sends.flush(sockets);
        for (pipeline, description) in self.failed.drain(..) {
            events.push(MediaEvent::PipelineFailed { pipeline, description });
        }
        for barrier in self.barriers.drain(..) {
            events.push(MediaEvent::Barrier(barrier));
        }
        if resized {
            self.publish_weight();
            // A new endpoint may take what matched nothing before. (Media
            // from a WebRTC peer follows its STUN checks on the same
            // 5-tuple, which are never cached as negative.)
            self.unmatched.forget();
        }
    }
}

/// Events towards the control plane: a bounded channel, and what did not fit
/// while the control plane was behind, sent as room frees up (events are
/// never dropped; the backlog only grows while the control plane stalls).
pub(super) struct EventQueue {
    tx: mpsc::Sender<MediaEvent>,
    backlog: VecDeque<MediaEvent>,
}

impl EventQueue {
    fn push(&mut self, event: MediaEvent) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(event);
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(event)) = self.tx.try_send(event) {
            self.backlog.push_back(event);
        }
    }
}

/// A STUN message (RFC 5389 §6: two zero bits, then the magic cookie).
fn is_stun(contents: &[u8]) -> bool {
    contents.len() >= 20 && contents[0] & 0xC0 == 0 && contents[4..8] == [0x21, 0x12, 0xA4, 0x42]
}

/// A STUN success or error response (RFC 5389 §6: class bit C1 set).
fn is_stun_response(contents: &[u8]) -> bool {
    is_stun(contents) && contents[0] & 0x01 == 0x01
}

/// What woke the run loop.
enum Wake<'a> {
    Command(Option<Command>),
    /// A batch of `count` receive buffers from socket `index`.
    Datagrams(usize, usize),
    Tcp(TcpEvent),
    /// GStreamer islands queued output for elements.
    Woken,
    /// The control plane has room for backlogged events.
    EventRoom(mpsc::Permit<'a, MediaEvent>),
    Timer,
}

/// What a worker thread starts from.
pub(super) struct WorkerStart {
    pub index: u16,
    pub sockets: Vec<std::net::UdpSocket>,
    pub listeners: Vec<std::net::TcpListener>,
    pub ports: (u16, u16),
    pub commands: mpsc::Receiver<Command>,
    pub wakes: Arc<WakeQueue>,
    pub events: mpsc::Sender<MediaEvent>,
    pub load: Arc<WorkerLoad>,
}

/// The worker thread's body: a single-threaded runtime multiplexing commands,
/// sockets, island wake-ups and timers.
pub(super) fn run(start: WorkerStart) {
    let WorkerStart { index, sockets, listeners, ports, mut commands, wakes, events, load } = start;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(worker = index, "cannot start the media worker runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        let sockets: Vec<MediaSocket> = sockets
            .into_iter()
            .filter_map(|s| MediaSocket::new(s, None).inspect_err(|e| tracing::warn!("media socket unusable: {e}")).ok())
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
            index,
            pipelines: FxHashMap::default(),
            sizes: FxHashMap::default(),
            elements: 0,
            next_pipeline: 0,
            host_addrs,
            sockets,
            ports,
            routes: HashMap::new(),
            unmatched: Unmatched::new(Instant::now()),
            timers: DeadlineQueue::default(),
            tcp_addrs,
            tcp_conns: HashMap::new(),
            touched: Vec::new(),
            sends: SendQueue::default(),
            load: load.clone(),
            barriers: Vec::new(),
            current: None,
            failed: Vec::new(),
        };
        let mut events = EventQueue { tx: events, backlog: VecDeque::new() };
        let mut batch = RecvBatch::new();
        loop {
            let now = Instant::now();
            let deadline = worker.timers.next().map_or(now + MAX_SLEEP, |t| t.min(now + MAX_SLEEP));
            let backlogged = !events.backlog.is_empty();
            let wake = tokio::select! {
                command = commands.recv() => Wake::Command(command),
                (index, count) = batch.recv(&worker.sockets) => Wake::Datagrams(index, count),
                Some(event) = tcp_events.recv() => Wake::Tcp(event),
                () = wakes.notify.notified() => Wake::Woken,
                Ok(permit) = events.tx.reserve(), if backlogged => Wake::EventRoom(permit),
                () = tokio::time::sleep_until(deadline.into()) => Wake::Timer,
            };
            let woke = Instant::now();
            let lag = matches!(wake, Wake::Timer).then(|| woke.saturating_duration_since(deadline));
            // `{ wake }` moves it: a reserved event permit (which borrows the
            // queue) is gone once the match is.
            #[allow(clippy::blocks_in_conditions)]
            match { wake } {
                Wake::Command(Some(command)) => worker.guarded(|w| command(w, woke)),
                Wake::Command(None) => return,
                Wake::Datagrams(index, count) => {
                    let MediaSocket { addr, owner, .. } = &worker.sockets[index];
                    let (destination, owner) = (*addr, *owner);
                    worker.guarded(|w| {
                        for (source, contents) in batch.datagrams(count) {
                            w.handle_datagram(woke, owner, Datagram { transport: Transport::Udp, source, destination, contents });
                        }
                    });
                }
                Wake::Tcp(event) => worker.guarded(|w| w.handle_tcp(woke, event)),
                Wake::Woken => worker.guarded(|w| {
                    for (pipeline, element) in wakes.take() {
                        w.wake(pipeline, element);
                    }
                }),
                Wake::EventRoom(permit) => {
                    if let Some(event) = events.backlog.pop_front() {
                        permit.send(event);
                    }
                }
                Wake::Timer => {}
            }
            let now = Instant::now();
            worker.guarded(|w| w.handle_timeout(now));
            worker.guarded(|w| w.drain(now, &mut events));
            load.record(woke.elapsed(), lag);
            load.set_unmatched(worker.unmatched.counts);
        }
    });
}
