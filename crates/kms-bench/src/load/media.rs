//! The load client's media thread: every peer on one thread and one socket.
//!
//! Control threads hand it the servers' offers ([`Command::Answer`]); it
//! answers them, then drives ICE, DTLS and SRTP for all peers: each datagram
//! goes to the peer owning its destination address, and str0m's timers are
//! driven on a fixed tick.

use super::peer::{Peer, PeerStats};
use super::socket::PeerSocket;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often every peer's timers are checked, and the longest socket wait.
pub const TICK: Duration = Duration::from_millis(5);

pub enum Command {
    /// Answer `offer` as peer `peer`; the SDP answer (or why not) goes back on `reply`.
    Answer { peer: usize, offer: String, reply: Sender<Result<String, String>> },
    /// Offer to publish as peer `peer`: the SDP offer (or why not) goes back
    /// on `reply`; the server's answer is then read from `answer`.
    Publish { peer: usize, reply: Sender<Result<String, String>>, answer: Receiver<String> },
    /// Reset every peer's counters: the measurement window starts.
    StartWindow,
    /// Stop and return every peer's stats.
    Stop,
}

/// How many peers have connected, and how many have received media, so far.
#[derive(Debug, Default)]
pub struct Progress {
    pub connected: AtomicUsize,
    pub receiving: AtomicUsize,
}

/// Polls `peer` (after a timeout input if `timeout`), sending with `send`,
/// and counts its first connection and first media in `progress`.
fn drive(peer: &mut Peer, progress: &Progress, now: Instant, timeout: bool, send: impl FnMut(SocketAddr, SocketAddr, &[u8])) {
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

/// Runs until [`Command::Stop`] (or every sender is gone); returns the stats
/// of every peer, by peer index, and counts progress in `progress`.
pub fn run(mut socket: PeerSocket, commands: Receiver<Command>, progress: Arc<Progress>) -> Vec<(usize, PeerStats)> {
    let mut peers: Vec<(usize, Peer)> = Vec::new();
    let mut by_addr: HashMap<SocketAddr, usize> = HashMap::new();
    let mut next_tick = Instant::now();
    // Publishing peers waiting for the server's answer: (index in `peers`, answer).
    let mut awaiting: Vec<(usize, Receiver<String>)> = Vec::new();
    loop {
        awaiting.retain(|(i, answer)| match answer.try_recv() {
            Ok(sdp) => {
                if let Err(e) = peers[*i].1.accept_answer(&sdp) {
                    eprintln!("publisher: {e}");
                }
                false
            }
            Err(TryRecvError::Empty) => true,
            Err(TryRecvError::Disconnected) => false,
        });
        loop {
            match commands.try_recv() {
                Ok(Command::Answer { peer, offer, reply }) => {
                    let local = socket.peer_addr(peer);
                    match Peer::answer(Instant::now(), local, &offer) {
                        Ok((p, answer)) => {
                            by_addr.insert(local, peers.len());
                            peers.push((peer, p));
                            let _ = reply.send(Ok(answer));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                Ok(Command::Publish { peer, reply, answer }) => {
                    let local = socket.peer_addr(peer);
                    match Peer::offer(Instant::now(), local) {
                        Ok((p, offer)) => {
                            by_addr.insert(local, peers.len());
                            awaiting.push((peers.len(), answer));
                            peers.push((peer, p));
                            let _ = reply.send(Ok(offer));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                Ok(Command::StartWindow) => peers.iter_mut().for_each(|(_, p)| p.start_window()),
                Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return peers.iter().map(|(i, p)| (*i, p.stats())).collect(),
                Err(TryRecvError::Empty) => break,
            }
        }
        // str0m wants its output polled after every input.
        let now = Instant::now();
        let mut outgoing = Vec::new();
        socket.poll(|(source, destination, data)| {
            if let Some(&i) = by_addr.get(&destination) {
                let peer = &mut peers[i].1;
                peer.receive(now, source, data);
                drive(peer, &progress, now, false, |src, dst, d| outgoing.push((src, dst, d.to_vec())));
            }
        });
        for (src, dst, data) in outgoing {
            socket.send(src, dst, &data);
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + TICK;
            for (_, peer) in peers.iter_mut() {
                let publishes = peer.publish(now);
                if publishes || peer.next_timeout <= now {
                    drive(peer, &progress, now, true, |src, dst, d| socket.send(src, dst, d));
                }
            }
        }
    }
}
