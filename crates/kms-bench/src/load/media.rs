//! The load client's media thread: every peer on one thread and one socket.
//!
//! Control threads hand it the servers' offers ([`Command::Answer`]) or ask
//! it to publish ([`Command::Publish`], [`Command::AcceptAnswer`]); it then
//! drives ICE, DTLS and SRTP for all peers: each datagram goes to the peer
//! owning its destination address, and str0m's timers are driven on a fixed
//! tick.

use super::peer::{Peer, PeerStats};
use super::socket::{peer_index, PeerSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often every peer's timers are checked and publishers send what is
/// due, and the longest socket wait, with one publisher (viewers).
pub const TICK: Duration = Duration::from_millis(5);
/// The same with a publisher per peer (calls): a millisecond's packets at a
/// time, near what independent cameras deliver, rather than bursts of 5 ms
/// of every publisher at once (which overflow the server's socket buffer
/// where no real set of cameras would).
pub const PUBLISHERS_TICK: Duration = Duration::from_millis(1);

/// Every peer's stats, by peer index.
pub type Snapshot = Vec<(usize, PeerStats)>;

pub enum Command {
    /// Answer `offer` as peer `peer`; the SDP answer (or why not) goes back on `reply`.
    Answer { peer: usize, offer: String, reply: Sender<Result<String, String>> },
    /// Offer to publish as peer `peer` (three simulcast layers when
    /// `simulcast`; and to receive too when `duplex`, a call's peer); the
    /// SDP offer (or why not) goes back on `reply`.
    Publish { peer: usize, duplex: bool, simulcast: bool, reply: Sender<Result<String, String>> },
    /// The server's answer to publishing peer `peer`'s offer.
    AcceptAnswer { peer: usize, answer: String },
    /// Reset every peer's counters: the measurement window starts.
    StartWindow,
    /// Every peer's stats since the window started, sent on the channel.
    Snapshot(Sender<Snapshot>),
    /// Whether peer `peer` has received media, sent on the channel.
    Receiving { peer: usize, reply: Sender<bool> },
    /// Forget peer `peer` (its slot and address can be used again).
    Remove { peer: usize },
    /// Stop the thread.
    Stop,
}

/// Sends a command carrying a reply channel and waits for the reply (the
/// control side of a round trip to the media thread).
pub fn ask<T>(media: &Sender<Command>, command: impl FnOnce(Sender<T>) -> Command) -> Result<T, String> {
    let (reply, answer) = mpsc::channel();
    media.send(command(reply)).map_err(|_| "media thread gone")?;
    answer.recv().map_err(|_| "media thread gone".to_owned())
}

/// How many peers have connected, and how many have received media, so far.
#[derive(Debug, Default)]
pub struct Progress {
    pub connected: AtomicUsize,
    pub receiving: AtomicUsize,
}

/// Polls `peer` (after a timeout input if `timeout`), sending with `send`,
/// and counts its first connection and first media in `progress`.
fn drive(peer: &mut Peer, progress: &Progress, now: Instant, timeout: bool, send: impl FnMut(std::net::SocketAddr, std::net::SocketAddr, &[u8])) {
    if timeout {
        peer.timeout(now);
    }
    let (was_connected, was_receiving) = (peer.is_connected(), peer.is_receiving());
    peer.poll(now, send);
    if !was_connected && peer.is_connected() {
        progress.connected.fetch_add(1, Ordering::Relaxed);
    }
    if !was_receiving && peer.is_receiving() {
        progress.receiving.fetch_add(1, Ordering::Relaxed);
    }
}

fn snapshot(peers: &[Option<Peer>]) -> Snapshot {
    peers.iter().enumerate().filter_map(|(i, p)| Some((i, p.as_ref()?.stats()))).collect()
}

/// Runs until [`Command::Stop`] (or every sender is gone), counting
/// progress in `progress`.
/// Viewer `i` decrypts its media when `i % decrypt_every == 0` (1: all of
/// them); the others count headers (see `peer`).
pub fn run(mut socket: PeerSocket, commands: Receiver<Command>, progress: Arc<Progress>, decrypt_every: usize, tick: Duration) {
    // By peer index, which is also their address (see `socket::peer_ip`).
    let mut peers: Vec<Option<Peer>> = Vec::new();
    let mut next_tick = Instant::now();
    loop {
        loop {
            let command = match commands.try_recv() {
                Ok(c) => c,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            };
            let now = Instant::now();
            let mut add = |index: usize, made: Result<(Peer, String), String>| {
                made.map(|(peer, sdp)| {
                    if peers.len() <= index {
                        peers.resize_with(index + 1, || None);
                    }
                    peers[index] = Some(peer);
                    sdp
                })
            };
            match command {
                Command::Answer { peer, offer, reply } => {
                    let _ = reply.send(add(peer, Peer::answer(now, socket.sender().peer_addr(peer), &offer, peer % decrypt_every.max(1) == 0)));
                }
                Command::Publish { peer, duplex, simulcast, reply } => {
                    let decrypt = !duplex || peer % decrypt_every.max(1) == 0;
                    let _ = reply.send(add(peer, Peer::offer(now, socket.sender().peer_addr(peer), duplex, decrypt, simulcast)));
                }
                Command::AcceptAnswer { peer, answer } => {
                    let accepted = peers.get_mut(peer).and_then(Option::as_mut).ok_or("no such peer".to_owned());
                    if let Err(e) = accepted.and_then(|p| p.accept_answer(&answer)) {
                        eprintln!("publisher {peer}: {e}");
                    }
                }
                Command::StartWindow => peers.iter_mut().flatten().for_each(Peer::start_window),
                Command::Snapshot(reply) => {
                    let _ = reply.send(snapshot(&peers));
                }
                Command::Receiving { peer, reply } => {
                    let _ = reply.send(peers.get(peer).and_then(Option::as_ref).is_some_and(Peer::is_receiving));
                }
                Command::Remove { peer } => {
                    if let Some(slot) = peers.get_mut(peer) {
                        *slot = None;
                    }
                }
                Command::Stop => return,
            }
        }
        // str0m wants its output polled after every input.
        socket.poll(|tx, at, source, destination, data| {
            if let Some(peer) = peer_index(destination.ip()).and_then(|i| peers.get_mut(i)).and_then(Option::as_mut) {
                if peer.receive(at, source, data) {
                    drive(peer, &progress, at, false, |src, dst, d| tx.send(src, dst, d));
                }
            }
        });
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + tick;
            for peer in peers.iter_mut().flatten() {
                let publishes = peer.publish(now);
                if publishes || peer.next_timeout <= now {
                    drive(peer, &progress, now, true, |src, dst, d| socket.sender().send(src, dst, d));
                }
            }
        }
    }
}
