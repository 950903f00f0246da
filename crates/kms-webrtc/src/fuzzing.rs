//! Entry points for the fuzzers (`fuzz/`) and the corpus replay test
//! (`crates/kms-fuzz`): each takes arbitrary bytes and must return without
//! panicking or hanging, whatever they are. Not an API.

use crate::gather::NatConfig;
use crate::nat::stun;
use crate::nat::TurnServer;
use crate::{WebRtcConfig, WebRtcEndpoint};
use kms_media::{Connection, Datagram, Element, MediaType, Pipeline, PipelineOutput, Transport};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::bwe::Bitrate;
use str0m::format::PayloadParams;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};

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

/// A browser-like str0m peer of [`media`]'s network: the publisher (sendonly,
/// in str0m's RTP mode when it writes raw payloads) or the viewer (recvonly).
struct Peer {
    addr: SocketAddr,
    rtc: Rtc,
    connected: bool,
    mids: [Option<Mid>; 2],
    timeout: Instant,
    /// Media frames str0m delivered (the viewer's: what got through).
    received: usize,
}

impl Peer {
    /// The mid of its audio (`kind` 0) or video (1) m-line and the formats
    /// negotiated on it.
    fn formats(&self, kind: u8) -> Option<(Mid, Vec<PayloadParams>)> {
        let mid = self.mids[usize::from(kind)]?;
        let pts = self.rtc.media(mid)?.remote_pts();
        Some((mid, self.rtc.codec_config().params().iter().filter(|p| pts.contains(&p.pt())).cloned().collect()))
    }

    fn drain(&mut self, out: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) {
        while let Ok(output) = self.rtc.poll_output() {
            match output {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return;
                }
                Output::Transmit(t) => out.push((t.source, t.destination, t.contents.to_vec())),
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaData(_)) => self.received += 1,
                Output::Event(_) => {}
            }
        }
    }
}

/// The in-memory network of [`media`]: a publisher and a viewer, each with a
/// WebRtcEndpoint in one pipeline (publisher's endpoint to viewer's), on a
/// virtual clock.
struct MediaNet {
    now: Instant,
    pipeline: Pipeline,
    peers: [Peer; 2],
    server: SocketAddr,
}

impl MediaNet {
    /// Both peers connected to their endpoints, or `None` if they did not
    /// connect within 10 s of virtual time.
    fn connected(simulcast: bool, raw: bool) -> Option<MediaNet> {
        let now = Instant::now();
        let server = addrs().local;
        let mut pipeline = Pipeline::new();
        let mut ids = Vec::new();
        let mut peers = Vec::new();
        for (i, direction) in [Direction::SendOnly, Direction::RecvOnly].into_iter().enumerate() {
            let addr = SocketAddr::from(([127, 0, 0, 2 + i as u8], 50_000));
            let mut builder = Rtc::builder().enable_pcmu(true, false);
            if raw && direction == Direction::SendOnly {
                builder = builder.set_rtp_mode(true);
            }
            let mut rtc = builder.build(now);
            rtc.add_local_candidate(Candidate::host(addr, "udp").ok()?);
            let mut change = rtc.sdp_api();
            let audio = change.add_media(MediaKind::Audio, direction, None, None, None);
            let video = change.add_media(MediaKind::Video, direction, None, None, None);
            let (offer, pending) = change.apply()?;
            let config = WebRtcConfig { host_addrs: vec![server], simulcast, ..Default::default() };
            let mut endpoint = WebRtcEndpoint::new(now, config);
            let answer = endpoint.process_offer(&offer.to_sdp_string()).ok()?;
            endpoint.add_ice_candidate(&Candidate::host(addr, "udp").ok()?.to_sdp_string()).ok()?;
            rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).ok()?).ok()?;
            rtc.add_remote_candidate(Candidate::host(server, "udp").ok()?);
            ids.push(pipeline.add(Box::new(endpoint)));
            peers.push(Peer { addr, rtc, connected: false, mids: [Some(audio), Some(video)], timeout: now, received: 0 });
        }
        for t in [MediaType::Audio, MediaType::Video] {
            pipeline.connect(now, Connection::new(ids[0], ids[1], t)).ok()?;
        }
        let peers: [Peer; 2] = peers.try_into().ok()?;
        let mut net = MediaNet { now, pipeline, peers, server };
        for _ in 0..2000 {
            if net.peers.iter().all(|p| p.connected) {
                return Some(net);
            }
            net.run(Duration::from_millis(5));
        }
        None
    }

    /// Runs `duration` of virtual time: timeouts, then every datagram
    /// delivered until the network is quiet, in steps of at most 5 ms.
    fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            let now = self.now;
            self.pipeline.handle_timeout(now);
            for p in &mut self.peers {
                if p.timeout <= now {
                    let _ = p.rtc.handle_input(Input::Timeout(now));
                }
            }
            let mut in_flight = Vec::new();
            for _ in 0..100 {
                while let Some(out) = self.pipeline.poll_output(now) {
                    if let PipelineOutput::Transmit(t) = out {
                        in_flight.push((t.source, t.destination, t.contents));
                    }
                }
                for p in &mut self.peers {
                    p.drain(&mut in_flight);
                }
                if in_flight.is_empty() {
                    break;
                }
                for (source, destination, contents) in in_flight.drain(..) {
                    if destination == self.server {
                        let d = Datagram { transport: Transport::Udp, source, destination, contents: &contents };
                        if let Some(id) = self.pipeline.accepting(now, &d) {
                            self.pipeline.handle_datagram(now, id, d);
                        }
                    } else if let Some(p) = self.peers.iter_mut().find(|p| p.addr == destination) {
                        if let Ok(contents) = contents.as_slice().try_into() {
                            let _ = p.rtc.handle_input(Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents }));
                        }
                    }
                }
            }
            let next = self.peers.iter().map(|p| p.timeout).chain(self.pipeline.poll_timeout()).min().unwrap_or(end);
            self.now = next.clamp(now + Duration::from_micros(100), now + Duration::from_millis(5)).min(end);
        }
    }

    /// The publisher sends `payload`: `pick` chooses audio or video (bit 0),
    /// the payload type among those negotiated (bits 1 to 6), and for a raw
    /// payload the marker bit (bit 7); the RTP timestamp moves on by a frame.
    fn publish(&mut self, pick: u8, payload: &[u8], raw: bool, n: u32) {
        let now = self.now;
        let publisher = &mut self.peers[0];
        let Some((mid, formats)) = publisher.formats(pick & 1) else { return };
        let Some(format) = formats.get(usize::from((pick >> 1) & 0x3f) % formats.len().max(1)) else { return };
        let (pt, rate) = (format.pt(), format.spec().clock_rate);
        let time = MediaTime::new(u64::from(n) * u64::from(rate.get()) / 50, rate);
        if !raw {
            if let Some(writer) = publisher.rtc.writer(mid) {
                let _ = writer.write(pt, now, time, payload.to_vec());
            }
            return;
        }
        let mut direct = publisher.rtc.direct_api();
        if let Some(stream) = direct.stream_tx_by_mid(mid, None) {
            stream.write_rtp(RtpWrite::new(pt, u64::from(n).into(), time.numer() as u32, now, payload.to_vec()).marker(pick & 0x80 != 0));
        }
    }

    /// The viewer's feedback on its video: a REMB of the bitrate the first
    /// eight bytes of `payload` give (big-endian bits/s, any value up to
    /// 2^64 - 1, which REMB's mantissa and exponent approximate), and a PLI.
    fn feedback(&mut self, payload: &[u8]) {
        let viewer = &mut self.peers[1];
        let Some(mid) = viewer.mids[1] else { return };
        let bits = payload.iter().take(8).fold(0u64, |a, &b| a << 8 | u64::from(b));
        if let Some(rx) = viewer.rtc.direct_api().stream_rx_by_mid(mid, None) {
            rx.request_remb(Bitrate::bps(bits));
        }
        if let Some(mut writer) = viewer.rtc.writer(mid) {
            let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
        }
    }
}

/// Media a connected publisher sends its WebRtcEndpoint inside valid SRTP,
/// forwarded by the pipeline to a viewer's endpoint and on to the viewer:
/// what the datagram fuzzer cannot reach (it cannot encrypt). The first byte
/// picks the endpoints' mode (bit 0: simulcast forwarding on, or KMS's), the
/// publisher's (bit 1: raw RTP payloads in str0m's RTP mode, so payload
/// descriptors are the fuzzer's too; else frames str0m packetizes) and the
/// viewer's (bit 2: it answers every chunk with feedback, see
/// [`MediaNet::feedback`]). Then chunks: a byte that [`MediaNet::publish`]
/// reads, a length byte, that many bytes; each 20 ms of virtual time after
/// the previous one.
pub fn media(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else { return };
    let raw = mode & 2 != 0;
    let Some(mut net) = MediaNet::connected(mode & 1 != 0, raw) else { return };
    let mut n = 0u32;
    while let [pick, len, tail @ ..] = rest {
        let (payload, after) = tail.split_at(usize::from(*len).min(tail.len()));
        rest = after;
        n += 1;
        net.publish(*pick, payload, raw, n);
        if mode & 4 != 0 {
            net.feedback(payload);
        }
        net.run(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness of [`media`] carries media end to end in both publisher
    /// modes and both forwarding modes (else the fuzzer would reach nothing).
    #[test]
    fn media_reaches_the_viewer() {
        // A VP8 keyframe-looking frame (P bit clear, start code 9d 01 2a).
        let mut keyframe = vec![0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
        keyframe.resize(300, 0x55);
        for (simulcast, raw) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut net = MediaNet::connected(simulcast, raw).expect("connected");
            let (_, formats) = net.peers[0].formats(1).unwrap();
            let vp8 = formats.iter().position(|p| p.spec().codec == str0m::format::Codec::Vp8).unwrap() as u8;
            for n in 1..=10 {
                // A raw payload is the frame behind a VP8 payload descriptor
                // (S bit, partition 0), marked as a frame's last packet.
                let payload = if raw { [&[0x10][..], &keyframe].concat() } else { keyframe.clone() };
                net.publish(0x80 | vp8 << 1 | 1, &payload, raw, n);
                net.run(Duration::from_millis(20));
            }
            assert!(net.peers[1].received > 0, "simulcast {simulcast}, raw {raw}: nothing reached the viewer");
        }
    }
}
