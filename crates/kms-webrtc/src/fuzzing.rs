//! Entry points for the fuzzers (`fuzz/`) and the corpus replay test
//! (`crates/kms-fuzz`): each takes arbitrary bytes and must return without
//! panicking or hanging, whatever they are. Not an API.

use crate::gather::NatConfig;
use crate::nat::stun;
use crate::nat::TurnServer;
use crate::{WebRtcConfig, WebRtcEndpoint};
use kms_media::{Datagram, Element, Transport};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9)))
}

/// Our media socket, the peer, a stranger, the STUN and TURN servers, and
/// the socket of our TURN allocation.
struct Addrs {
    local: SocketAddr,
    peer: SocketAddr,
    other: SocketAddr,
    stun: SocketAddr,
    turn: SocketAddr,
    relay_socket: SocketAddr,
}

fn addrs() -> Addrs {
    Addrs {
        local: addr("127.0.0.1:40000"),
        peer: addr("127.0.0.2:50000"),
        other: addr("127.0.0.3:50002"),
        stun: addr("127.0.0.4:3478"),
        turn: addr("127.0.0.5:3478"),
        relay_socket: addr("127.0.0.1:40002"),
    }
}

fn endpoint(now: Instant, nat: NatConfig) -> WebRtcEndpoint {
    let config = WebRtcConfig { host_addrs: vec![addrs().local], nat, data_channels: true, ..Default::default() };
    WebRtcEndpoint::new(now, config)
}

fn drain(e: &mut WebRtcEndpoint) {
    while e.poll_output().is_some() {}
}

/// A browser-like offer (audio, video, a data channel) from the peer.
fn browser_offer() -> &'static str {
    static OFFER: OnceLock<String> = OnceLock::new();
    OFFER.get_or_init(|| {
        let mut rtc = Rtc::builder().build(Instant::now());
        if let Ok(c) = Candidate::host(addrs().peer, "udp") {
            rtc.add_local_candidate(c);
        }
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        change.add_channel("fuzz".into());
        change.apply().map(|(offer, _)| offer.to_sdp_string()).unwrap_or_default()
    })
}

/// A STUN message as our STUN/TURN client reads a server's answer.
pub fn stun_message(data: &[u8]) {
    if let Some(m) = stun::parse(data) {
        for kind in [stun::attr::XOR_MAPPED_ADDRESS, stun::attr::XOR_RELAYED_ADDRESS, stun::attr::DATA, stun::attr::REALM, stun::attr::NONCE] {
            let _ = (m.address(kind), m.text(kind), m.get(kind));
        }
        let _ = m.error_code();
    }
}

/// An SDP offer into processOffer, then a trickled candidate made of the same bytes.
pub fn offer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut e = endpoint(Instant::now(), NatConfig::default());
    let _ = e.process_offer(&text);
    let _ = e.add_ice_candidate(&text);
    drain(&mut e);
}

/// An SDP answer to our generateOffer.
pub fn answer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut e = endpoint(Instant::now(), NatConfig::default());
    if e.generate_offer(true, true).is_ok() {
        let _ = e.process_answer(&text);
    }
    drain(&mut e);
}

/// Datagrams into an endpoint that answered a browser's offer and gathers
/// from a STUN and a TURN server. `data` is cut into datagrams, each a
/// length byte then that many bytes; the length byte also picks the sender:
/// the peer (whose 5-tuple the worker has routed to the endpoint already),
/// the STUN server, the TURN server (to the allocation's socket), or a
/// stranger (routed only when the endpoint accepts it, as the worker does).
/// Each datagram is 5 ms of virtual time after the previous one.
pub fn datagrams(data: &[u8]) {
    let a = addrs();
    let start = Instant::now();
    let turn = TurnServer { addr: a.turn, username: "user".into(), password: "pass".into() };
    let mut e = endpoint(start, NatConfig { stun_server: Some(a.stun), turn: Some((turn, a.relay_socket)) });
    if e.process_offer(browser_offer()).is_err() {
        return;
    }
    e.gather_candidates();
    drain(&mut e);
    let (mut now, mut rest) = (start, data);
    while let Some((&len, tail)) = rest.split_first() {
        let (contents, after) = tail.split_at(usize::from(len).min(tail.len()));
        rest = after;
        let (source, destination) = match len % 4 {
            0 => (a.peer, a.local),
            1 => (a.stun, a.local),
            2 => (a.turn, a.relay_socket),
            _ => (a.other, a.local),
        };
        let datagram = Datagram { transport: Transport::Udp, source, destination, contents };
        if source == a.peer || e.accepts(now, &datagram) {
            e.handle_datagram(now, datagram);
        }
        now += Duration::from_millis(5);
        if e.poll_timeout().is_some_and(|t| t <= now) {
            e.handle_timeout(now);
        }
        drain(&mut e);
    }
}

/// An ICE-TCP connection from the peer to our passive TCP candidate: the
/// input is the byte stream (its first byte picks how it is split into
/// reads), reassembled by the RFC 4571 [`crate::framing::Deframer`]; every
/// frame goes into an endpoint that answered a browser offer, as a TCP
/// datagram. Each frame also survives framing again unchanged.
pub fn ice_tcp(data: &[u8]) {
    let Some((&split, stream)) = data.split_first() else { return };
    let a = addrs();
    let local_tcp = addr("127.0.0.1:40001");
    let peer_tcp = addr("127.0.0.2:50010");
    let start = Instant::now();
    let config = WebRtcConfig { host_addrs: vec![a.local], tcp_addrs: vec![local_tcp], data_channels: true, ..Default::default() };
    let mut e = WebRtcEndpoint::new(start, config);
    if e.process_offer(browser_offer()).is_err() {
        return;
    }
    e.gather_candidates();
    drain(&mut e);
    let mut now = start;
    let mut deframer = crate::framing::Deframer::default();
    for chunk in stream.chunks(usize::from(split).max(1)) {
        deframer.push(chunk);
        while let Some(frame) = deframer.next_frame() {
            let again = crate::framing::frame(frame).expect("a deframed frame fits a frame");
            assert_eq!(&again[2..], frame);
            let datagram = Datagram { transport: Transport::Tcp, source: peer_tcp, destination: local_tcp, contents: frame };
            if e.accepts(now, &datagram) {
                e.handle_datagram(now, datagram);
            }
            now += Duration::from_millis(5);
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
            drain(&mut e);
        }
    }
}

