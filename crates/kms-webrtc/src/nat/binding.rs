//! Server-reflexive discovery: a STUN Binding request from one host socket to
//! the configured STUN server (RFC 5389 §7, retransmitted per §7.2.1); the
//! XOR-MAPPED-ADDRESS of the answer is the candidate's address.

use super::stun::{self, attr, Class, Message, Method};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Retransmission timeouts: 500 ms doubling, 5 sends, then give up (~8 s).
const FIRST_RTO: Duration = Duration::from_millis(500);
const MAX_SENDS: u32 = 5;

/// One Binding transaction from `base` to `server`.
#[derive(Debug)]
pub struct ReflexiveProbe {
    pub base: SocketAddr,
    pub server: SocketAddr,
    transaction: stun::TransactionId,
    sends: u32,
    next: Option<Instant>,
}

impl ReflexiveProbe {
    pub fn new(now: Instant, base: SocketAddr, server: SocketAddr) -> ReflexiveProbe {
        ReflexiveProbe { base, server, transaction: super::new_transaction(), sends: 0, next: Some(now) }
    }

    /// The request to send now, if one is due.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next.is_none_or(|t| t > now) || self.sends >= MAX_SENDS {
            return None;
        }
        self.next = Some(now + FIRST_RTO * 2u32.pow(self.sends));
        self.sends += 1;
        Some(Message::new(Method::Binding, Class::Request, self.transaction).encode(None))
    }

    /// True when `contents` is the answer to this probe.
    pub fn matches(&self, source: SocketAddr, contents: &[u8]) -> bool {
        source == self.server && stun::parse(contents).is_some_and(|m| m.transaction == self.transaction)
    }

    /// The mapped address from the answer; `None` for an error answer.
    pub fn mapped(contents: &[u8]) -> Option<SocketAddr> {
        let m = stun::parse(contents)?;
        if !m.is(Method::Binding, Class::Success) {
            return None;
        }
        m.address(attr::XOR_MAPPED_ADDRESS)
    }

    /// True once every retransmission went unanswered.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.sends >= MAX_SENDS && self.next.is_some_and(|t| t <= now)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}
