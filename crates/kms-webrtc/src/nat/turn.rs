//! A TURN client over UDP (RFC 5766) for relay candidates: one allocation per
//! endpoint, on a socket of its own (an allocation is bound to its 5-tuple).
//!
//! Long-term credentials (RFC 5389 §10.2): the first Allocate is answered 401
//! with REALM and NONCE; every later request carries USERNAME, REALM, NONCE
//! and MESSAGE-INTEGRITY keyed with MD5(username:realm:password). A 438
//! (stale nonce) is retried with the new nonce. Data goes out as Send
//! indications after a CreatePermission for the peer's IP, and comes in as
//! Data indications. The allocation and permissions are refreshed before
//! they expire (RFC 5766 §7, §8: 600 s and 300 s by default).

use super::stun::{self, attr, Class, Message, Method, TransactionId};
use md5::{Digest, Md5};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Requests unanswered after this long are sent again, up to [`MAX_SENDS`].
const RTO: Duration = Duration::from_millis(500);
const MAX_SENDS: u32 = 7;
/// Permissions last 300 s; refreshed after 240 s.
const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
/// REQUESTED-TRANSPORT value for UDP (protocol number 17).
const UDP: [u8; 4] = [17, 0, 0, 0];

/// Where and how to allocate: KMS's `turnUrl` is `user:password@address:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnServer {
    pub addr: SocketAddr,
    pub username: String,
    pub password: String,
}

impl TurnServer {
    /// Parses `user:password@address[:port]` (port 3478 by default) with an
    /// IP address; `None` when malformed.
    pub fn parse(url: &str) -> Option<TurnServer> {
        let url = url.trim().trim_start_matches("turn:");
        let (credentials, host) = url.rsplit_once('@')?;
        let (username, password) = credentials.split_once(':')?;
        let host = host.split('?').next()?;
        let addr = host.parse::<SocketAddr>().ok().or_else(|| Some(SocketAddr::new(host.parse::<IpAddr>().ok()?, 3478)))?;
        Some(TurnServer { addr, username: username.into(), password: password.into() })
    }
}

/// What the client reports to its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnEvent {
    /// The relayed transport address: the relay candidate.
    Allocated(SocketAddr),
    /// No allocation (unreachable server, rejected credentials): the reason.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Allocate,
    Refresh,
    Permission(IpAddr),
}

#[derive(Debug)]
struct Pending {
    purpose: Purpose,
    bytes: Vec<u8>,
    sends: u32,
    next: Instant,
}

/// The client of one allocation.
#[derive(Debug)]
pub struct TurnClient {
    server: TurnServer,
    realm: Option<String>,
    nonce: Option<String>,
    key: Option<[u8; 16]>,
    relay: Option<SocketAddr>,
    refresh_at: Option<Instant>,
    /// Peer IPs with a permission, and when it must be refreshed.
    permissions: HashMap<IpAddr, Instant>,
    pending: HashMap<TransactionId, Pending>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<TurnEvent>,
    done: bool,
    /// Send indications so far (their transaction ids).
    indications: u64,
}

impl TurnClient {
    /// Starts allocating at once.
    pub fn new(now: Instant, server: TurnServer) -> TurnClient {
        let mut c = TurnClient {
            server,
            realm: None,
            nonce: None,
            key: None,
            relay: None,
            refresh_at: None,
            permissions: HashMap::new(),
            pending: HashMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            done: false,
            indications: 0,
        };
        c.request(now, Purpose::Allocate);
        c
    }

    pub fn server(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn relay(&self) -> Option<SocketAddr> {
        self.relay
    }

    fn request(&mut self, now: Instant, purpose: Purpose) {
        let transaction = super::new_transaction();
        let method = match purpose {
            Purpose::Allocate => Method::Allocate,
            Purpose::Refresh => Method::Refresh,
            Purpose::Permission(_) => Method::CreatePermission,
        };
        let mut m = Message::new(method, Class::Request, transaction);
        match purpose {
            Purpose::Allocate => m = m.with(attr::REQUESTED_TRANSPORT, &UDP[..]),
            Purpose::Refresh => m = m.with(attr::LIFETIME, 600u32.to_be_bytes().to_vec()),
            Purpose::Permission(ip) => m = m.with_address(attr::XOR_PEER_ADDRESS, SocketAddr::new(ip, 0)),
        }
        if let (Some(realm), Some(nonce)) = (&self.realm, &self.nonce) {
            m = m.with(attr::USERNAME, self.server.username.as_bytes()).with(attr::REALM, realm.as_bytes()).with(attr::NONCE, nonce.as_bytes());
        }
        let bytes = m.encode(self.key.as_ref().map(|k| &k[..]));
        self.out.push_back(bytes.clone());
        self.pending.insert(transaction, Pending { purpose, bytes, sends: 1, next: now + RTO });
    }

    /// Wraps `data` for `peer` as a Send indication, asking for a permission
    /// first when the peer's IP has none. Dropped until allocated.
    pub fn send_to(&mut self, now: Instant, peer: SocketAddr, data: &[u8]) {
        if self.relay.is_none() {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.permissions.entry(peer.ip()) {
            e.insert(now + PERMISSION_REFRESH);
            self.request(now, Purpose::Permission(peer.ip()));
        }
        // Indications get no answer: a counter is a unique enough id and
        // costs nothing per packet.
        self.indications = self.indications.wrapping_add(1);
        let mut transaction = [0u8; 12];
        transaction[4..].copy_from_slice(&self.indications.to_be_bytes());
        let m = Message::new(Method::Send, Class::Indication, transaction).with_address(attr::XOR_PEER_ADDRESS, peer).with(attr::DATA, data);
        self.out.push_back(m.encode(None));
    }

    /// A datagram from the TURN server. Returns the peer and payload of a Data
    /// indication; responses update the allocation.
    pub fn handle<'a>(&mut self, now: Instant, contents: &'a [u8]) -> Option<(SocketAddr, &'a [u8])> {
        let m = stun::parse(contents)?;
        if m.is(Method::Data, Class::Indication) {
            return Some((m.address(attr::XOR_PEER_ADDRESS)?, m.get(attr::DATA)?));
        }
        let pending = self.pending.remove(&m.transaction)?;
        match (m.class, pending.purpose) {
            (Class::Success, Purpose::Allocate) => {
                let Some(relay) = m.address(attr::XOR_RELAYED_ADDRESS) else {
                    self.fail("allocation without a relayed address");
                    return None;
                };
                self.relay = Some(relay);
                self.schedule_refresh(now, m.lifetime());
                self.events.push_back(TurnEvent::Allocated(relay));
            }
            (Class::Success, Purpose::Refresh) => self.schedule_refresh(now, m.lifetime()),
            (Class::Success, Purpose::Permission(_)) => {}
            (Class::Error, purpose) => match m.error_code() {
                // Unauthenticated (first Allocate) or stale nonce: retry with the new nonce.
                Some(401) if self.key.is_none() || purpose != Purpose::Allocate => self.authenticate(now, &m, purpose),
                Some(438) => self.authenticate(now, &m, purpose),
                code => {
                    let reason = m.get(attr::ERROR_CODE).and_then(|v| std::str::from_utf8(v.get(4..)?).ok()).unwrap_or("");
                    match purpose {
                        Purpose::Permission(ip) => {
                            self.permissions.remove(&ip);
                        }
                        _ => self.fail(&format!("TURN error {} {reason}", code.unwrap_or(0))),
                    }
                }
            },
            _ => {}
        }
        None
    }

    fn authenticate(&mut self, now: Instant, m: &stun::Parsed, purpose: Purpose) {
        let (Some(realm), Some(nonce)) = (m.text(attr::REALM).or(self.realm.as_deref()).map(str::to_owned), m.text(attr::NONCE)) else {
            self.fail("TURN server asked for credentials without a realm and nonce");
            return;
        };
        let key: [u8; 16] = Md5::digest(format!("{}:{realm}:{}", self.server.username, self.server.password)).into();
        self.key = Some(key);
        self.realm = Some(realm);
        self.nonce = Some(nonce.to_owned());
        self.request(now, purpose);
    }

    fn schedule_refresh(&mut self, now: Instant, lifetime: Option<u32>) {
        let lifetime = Duration::from_secs(u64::from(lifetime.unwrap_or(600)).max(60));
        self.refresh_at = Some(now + lifetime / 2);
    }

    fn fail(&mut self, reason: &str) {
        if !self.done {
            self.done = true;
            self.pending.clear();
            self.refresh_at = None;
            self.relay = None;
            self.events.push_back(TurnEvent::Failed(reason.to_owned()));
        }
    }

    /// Retransmissions and refreshes.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = false;
        for p in self.pending.values_mut().filter(|p| p.next <= now) {
            if p.sends >= MAX_SENDS {
                expired |= p.purpose == Purpose::Allocate;
                continue;
            }
            p.sends += 1;
            p.next = now + RTO * p.sends;
            self.out.push_back(p.bytes.clone());
        }
        self.pending.retain(|_, p| p.sends < MAX_SENDS || p.next > now);
        if expired {
            self.fail("the TURN server does not answer");
        }
        if self.refresh_at.is_some_and(|t| t <= now) {
            self.refresh_at = None;
            self.request(now, Purpose::Refresh);
        }
        let due: Vec<IpAddr> = self.permissions.iter().filter(|(_, t)| **t <= now).map(|(ip, _)| *ip).collect();
        for ip in due {
            self.permissions.insert(ip, now + PERMISSION_REFRESH);
            self.request(now, Purpose::Permission(ip));
        }
    }

    /// The next datagram for the TURN server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.values().map(|p| p.next);
        pending.chain(self.refresh_at).chain(self.permissions.values().copied()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_urls_in_kms_format() {
        let s = TurnServer::parse("user:pa:ss@127.0.0.1:3479").unwrap();
        assert_eq!((s.username.as_str(), s.password.as_str(), s.addr.port()), ("user", "pa:ss", 3479));
        assert_eq!(TurnServer::parse("u:p@10.0.0.1").unwrap().addr.port(), 3478);
        assert_eq!(TurnServer::parse("u:p@10.0.0.1:3478?transport=udp").unwrap().addr.port(), 3478);
        assert!(TurnServer::parse("10.0.0.1:3478").is_none(), "credentials are required");
        assert!(TurnServer::parse("u:p@not an address").is_none());
    }

    /// Plays a TURN server answering the client's first two requests.
    #[test]
    fn allocates_after_the_401_challenge_and_wraps_data() {
        let now = Instant::now();
        let server: SocketAddr = "192.0.2.1:3478".parse().unwrap();
        let mut c = TurnClient::new(now, TurnServer { addr: server, username: "u".into(), password: "p".into() });
        let first = c.poll_transmit().unwrap();
        let req = stun::parse(&first).unwrap();
        assert!(req.is(Method::Allocate, Class::Request) && req.get(attr::MESSAGE_INTEGRITY).is_none());
        let challenge = Message::new(Method::Allocate, Class::Error, req.transaction)
            .with(attr::ERROR_CODE, &[0u8, 0, 4, 1][..])
            .with(attr::REALM, &b"realm"[..])
            .with(attr::NONCE, &b"n1"[..])
            .encode(None);
        assert!(c.handle(now, &challenge).is_none());
        let second = c.poll_transmit().unwrap();
        let req = stun::parse(&second).unwrap();
        assert_eq!(req.text(attr::USERNAME), Some("u"));
        assert_eq!(req.text(attr::NONCE), Some("n1"));
        assert!(req.get(attr::MESSAGE_INTEGRITY).is_some());
        let relay: SocketAddr = "192.0.2.1:50000".parse().unwrap();
        let ok = Message::new(Method::Allocate, Class::Success, req.transaction).with_address(attr::XOR_RELAYED_ADDRESS, relay).encode(None);
        c.handle(now, &ok);
        assert_eq!(c.poll_event(), Some(TurnEvent::Allocated(relay)));

        let peer: SocketAddr = "198.51.100.2:9".parse().unwrap();
        c.send_to(now, peer, b"hello");
        let permission = stun::parse(&c.poll_transmit().unwrap()).map(|m| m.is(Method::CreatePermission, Class::Request));
        assert_eq!(permission, Some(true));
        let send = c.poll_transmit().unwrap();
        let send = stun::parse(&send).unwrap();
        assert_eq!(send.address(attr::XOR_PEER_ADDRESS), Some(peer));
        assert_eq!(send.get(attr::DATA), Some(&b"hello"[..]));

        let data = Message::new(Method::Data, Class::Indication, [3; 12]).with_address(attr::XOR_PEER_ADDRESS, peer).with(attr::DATA, &b"back"[..]).encode(None);
        assert_eq!(c.handle(now, &data), Some((peer, &b"back"[..])));
    }

    #[test]
    fn an_unanswered_allocation_fails() {
        let t0 = Instant::now();
        let mut c = TurnClient::new(t0, TurnServer::parse("u:p@192.0.2.1").unwrap());
        let mut now = t0;
        for _ in 0..40 {
            now += Duration::from_millis(500);
            c.handle_timeout(now);
        }
        assert!(matches!(c.poll_event(), Some(TurnEvent::Failed(_))));
        assert_eq!(c.poll_timeout(), None);
    }
}
