//! Candidate gathering beyond host candidates: one STUN Binding per host
//! address (server-reflexive) and one TURN allocation (relay), with the relay's
//! traffic wrapped and unwrapped on the way to and from str0m.

use crate::nat::{ReflexiveProbe, TurnClient, TurnEvent, TurnServer};
use kms_media::{Datagram, Transmit, Transport};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;
use str0m::Candidate;

/// Where to gather from: `stunServerAddress`/`stunServerPort` and `turnUrl`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatConfig {
    pub stun_server: Option<SocketAddr>,
    /// The TURN server and the local socket reserved for its allocation.
    pub turn: Option<(TurnServer, SocketAddr)>,
}

/// The gathering state of one endpoint.
#[derive(Debug, Default)]
pub struct Gatherer {
    probes: Vec<ReflexiveProbe>,
    turn: Option<(TurnClient, SocketAddr)>,
    turn_done: bool,
    found: VecDeque<Candidate>,
}

impl Gatherer {
    /// Starts gathering from every host address in `hosts` (IPv4 only for
    /// STUN when the server is IPv4, and vice versa).
    pub fn new(now: Instant, hosts: &[SocketAddr], config: &NatConfig) -> Gatherer {
        let probes = match config.stun_server {
            Some(server) => hosts.iter().filter(|h| h.is_ipv4() == server.is_ipv4()).map(|h| ReflexiveProbe::new(now, *h, server)).collect(),
            None => Vec::new(),
        };
        let turn = config.turn.clone().map(|(server, local)| (TurnClient::new(now, server), local));
        let turn_done = turn.is_none();
        Gatherer { probes, turn, turn_done, found: VecDeque::new() }
    }

    /// Every probe answered or gave up, and the allocation succeeded or failed.
    pub fn is_done(&self) -> bool {
        self.probes.is_empty() && self.turn_done
    }

    /// True for answers to our probes and anything on the TURN socket.
    pub fn accepts(&self, d: &Datagram) -> bool {
        self.turn.as_ref().is_some_and(|(_, local)| d.destination == *local) || self.probes.iter().any(|p| p.matches(d.source, d.contents))
    }

    /// Handles a datagram [`Gatherer::accepts`]; returns relayed peer data
    /// (peer, relay address, payload) for the peer connection.
    pub fn handle_datagram<'a>(&mut self, now: Instant, d: &Datagram<'a>) -> Option<(SocketAddr, SocketAddr, &'a [u8])> {
        if let Some((turn, local)) = &mut self.turn {
            if d.destination == *local {
                if d.source != turn.server() {
                    return None;
                }
                let relay = turn.relay();
                let data = turn.handle(now, d.contents);
                self.collect_turn_events();
                let (peer, payload) = data?;
                return Some((peer, relay?, payload));
            }
        }
        if let Some(i) = self.probes.iter().position(|p| p.matches(d.source, d.contents)) {
            let probe = self.probes.remove(i);
            match ReflexiveProbe::mapped(d.contents) {
                Some(mapped) => match Candidate::server_reflexive(mapped, probe.base, "udp") {
                    Ok(c) => self.found.push_back(c),
                    Err(e) => tracing::debug!(%mapped, "unusable server-reflexive address: {e}"),
                },
                None => tracing::warn!(server = %probe.server, "STUN server refused the binding request"),
            }
        }
        None
    }

    fn collect_turn_events(&mut self) {
        let Some((turn, local)) = &mut self.turn else { return };
        while let Some(event) = turn.poll_event() {
            self.turn_done = true;
            match event {
                TurnEvent::Allocated(relay) => match Candidate::relayed(relay, *local, "udp") {
                    Ok(c) => self.found.push_back(c),
                    Err(e) => tracing::warn!(%relay, "unusable relay address: {e}"),
                },
                TurnEvent::Failed(reason) => tracing::warn!(server = %turn.server(), "no TURN relay: {reason}"),
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.probes.retain(|p| {
            let gone = p.timed_out(now);
            if gone {
                tracing::warn!(server = %p.server, "STUN server did not answer");
            }
            !gone
        });
        if let Some((turn, _)) = &mut self.turn {
            turn.handle_timeout(now);
        }
        self.collect_turn_events();
    }

    /// A datagram str0m sends from `source`: wrapped for the TURN server when
    /// `source` is the relay address; `None` means it went to the relay.
    pub fn route(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, contents: &[u8]) -> bool {
        match &mut self.turn {
            Some((turn, _)) if turn.relay() == Some(source) => {
                turn.send_to(now, destination, contents);
                true
            }
            _ => false,
        }
    }

    /// The next datagram of our own (probes, TURN requests and indications).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        for p in &mut self.probes {
            if let Some(contents) = p.poll_transmit(now) {
                return Some(Transmit { transport: Transport::Udp, source: p.base, destination: p.server, contents });
            }
        }
        let (turn, local) = self.turn.as_mut()?;
        turn.poll_transmit().map(|contents| Transmit { transport: Transport::Udp, source: *local, destination: turn.server(), contents })
    }

    /// A newly found local candidate.
    pub fn poll_candidate(&mut self) -> Option<Candidate> {
        self.found.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let probes = self.probes.iter().filter_map(ReflexiveProbe::poll_timeout);
        probes.chain(self.turn.as_ref().and_then(|(t, _)| t.poll_timeout())).min()
    }
}
