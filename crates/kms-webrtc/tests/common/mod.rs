//! An in-memory network of str0m peers acting as browsers and one pipeline of
//! WebRtcEndpoints, on a virtual clock: no sockets, no sleeps, deterministic.
//!
//! Each test file uses part of it, so unused items are expected per file.
#![allow(dead_code)]

use kms_media::{Connection, Datagram, ElementEvent, ElementId, MediaType, Pipeline, PipelineOutput};
use kms_webrtc::{WebRtcConfig, WebRtcEndpoint};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaData, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::bwe::{Bitrate, BweKind};
use str0m::channel::ChannelId;
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The server's (virtual) media address.
pub const SERVER: &str = "127.0.0.1:40000";
/// A STUN server on the (virtual) internet, and the public address of the
/// NAT it sees the server behind.
pub const STUN_SERVER: &str = "198.51.100.1:3478";
pub const PUBLIC_IP: &str = "203.0.113.9";

/// A browser-like str0m peer.
pub struct Browser {
    pub addr: SocketAddr,
    pub rtc: Rtc,
    pub connected: bool,
    pub received: Vec<MediaData>,
    pub keyframe_requests: usize,
    /// The largest SRTP datagram the server sent this browser (bytes).
    pub largest_rtp_from_server: usize,
    /// REMB bitrates (bits/s) the server sent this browser.
    pub remb: Vec<u64>,
    /// The browser went away: nothing it sends or is sent arrives any more.
    pub vanished: bool,
    /// Data channels the browser has open, by label (its own "chat" when it
    /// offered one, and any the server opened).
    pub channels: Vec<(ChannelId, String)>,
    /// Data-channel messages received: (label, text).
    pub messages: Vec<(String, String)>,
    audio: Option<Mid>,
    video: Option<Mid>,
    timeout: Instant,
}

/// The whole test network.
pub struct Net {
    pub now: Instant,
    pub pipeline: Pipeline,
    pub browsers: Vec<Browser>,
    /// `browsers[i]` talks to this element.
    pub endpoints: Vec<ElementId>,
    /// Every event the pipeline raised, at the virtual time it did.
    pub events: Vec<(Instant, ElementId, ElementEvent)>,
    /// Seeded loss: (browser index, percent, LCG state) drops that share of
    /// the server's datagrams to that browser.
    pub loss: Option<(usize, u32, u64)>,
    /// Seeded loss the other way: that share of the browser's datagrams to
    /// the server.
    pub loss_from: Option<(usize, u32, u64)>,
    /// Every datagram a browser sent to the server, when recording.
    pub recorded: Option<Vec<(SocketAddr, Vec<u8>)>>,
    /// The next browser's offer announces a DTLS fingerprint it does not have.
    pub forge_next_fingerprint: bool,
    /// The next browser offers a data channel even when its endpoint does
    /// not use data channels.
    pub next_offers_data_channel: bool,
    /// The next browser offers Opus with RED (RFC 2198), as Chromium does.
    pub next_offers_red: bool,
    /// The next browser sends its video as simulcast layers with these rids.
    pub next_simulcast: Option<Vec<&'static str>>,
    /// A bottleneck on the server's datagrams to one browser: (browser
    /// index, bits/s). Datagrams queue behind each other at that rate and
    /// are dropped when the queue holds more than [`CAP_QUEUE`].
    pub cap: Option<(usize, u64)>,
    cap_busy_until: Option<Instant>,
    /// Datagrams crossing the bottleneck: (arrival, source, destination, contents).
    capped: VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    server: SocketAddr,
    in_flight: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Drains after which an element's deadline was less than [`SOON`]
    /// away: work the server left to its next timer pass though it was
    /// (about) due already.
    pub due_after_drain: u32,
}

/// Deadlines closer than this after a drain count in [`Net::due_after_drain`].
pub const SOON: Duration = Duration::from_micros(100);

/// The most a bottleneck ([`Net::cap`]) queues before it drops (drop tail).
pub const CAP_QUEUE: Duration = Duration::from_millis(150);

impl Net {
    pub fn new() -> Net {
        Net {
            now: Instant::now(),
            pipeline: Pipeline::new(),
            browsers: Vec::new(),
            endpoints: Vec::new(),
            events: Vec::new(),
            loss: None,
            loss_from: None,
            recorded: None,
            forge_next_fingerprint: false,
            next_offers_data_channel: false,
            next_offers_red: false,
            next_simulcast: None,
            cap: None,
            cap_busy_until: None,
            capped: VecDeque::new(),
            server: SERVER.parse().unwrap(),
            in_flight: VecDeque::new(),
            due_after_drain: 0,
        }
    }

    /// A network with a sendonly publisher connected to a recvonly viewer,
    /// both connected: (net, publisher, viewer).
    pub fn publisher_and_viewer() -> (Net, usize, usize) {
        let mut net = Net::new();
        let publisher = net.add_browser(Direction::SendOnly);
        let viewer = net.add_browser(Direction::RecvOnly);
        net.connect(publisher, viewer);
        net.run_until_connected();
        (net, publisher, viewer)
    }

    /// Adds a browser offering audio + video in `direction` to a new
    /// WebRtcEndpoint; returns its index.
    pub fn add_browser(&mut self, direction: Direction) -> usize {
        self.add_browser_with(direction, WebRtcConfig::default())
    }

    /// Like [`Net::add_browser`], with the endpoint's constructor flags from
    /// `config`; with `data_channels` the browser also offers a channel "chat".
    pub fn add_browser_with(&mut self, direction: Direction, config: WebRtcConfig) -> usize {
        let i = self.browsers.len();
        let addr: SocketAddr = format!("127.0.0.{}:5000", i + 2).parse().unwrap();
        let mut rtc = Rtc::builder().enable_opus(true, std::mem::take(&mut self.next_offers_red)).build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let mut change = rtc.sdp_api();
        let audio = change.add_media(MediaKind::Audio, direction, None, None, None);
        let simulcast = self.next_simulcast.take().map(|rids| {
            let mut s = str0m::media::Simulcast::new();
            for rid in rids {
                s.add_send_layer(str0m::media::SimulcastLayer::new(rid));
            }
            s
        });
        let video = change.add_media(MediaKind::Video, direction, None, None, simulcast);
        if config.data_channels || std::mem::take(&mut self.next_offers_data_channel) {
            change.add_channel("chat".into());
        }
        let (offer, pending): (_, SdpPendingOffer) = change.apply().unwrap();

        let mut endpoint = WebRtcEndpoint::new(self.now, WebRtcConfig { host_addrs: vec![self.server], ..config });
        let mut offer = offer.to_sdp_string();
        if std::mem::take(&mut self.forge_next_fingerprint) {
            offer = forge_fingerprint(&offer);
        }
        let answer = endpoint.process_offer(&offer).expect("offer accepted");
        endpoint.add_ice_candidate(&Candidate::host(addr, "udp").unwrap().to_sdp_string()).unwrap();
        rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
        rtc.add_remote_candidate(Candidate::host(self.server, "udp").unwrap());

        let id = self.pipeline.add(Box::new(endpoint));
        self.endpoints.push(id);
        self.browsers.push(Browser {
            addr,
            rtc,
            connected: false,
            received: Vec::new(),
            keyframe_requests: 0,
            largest_rtp_from_server: 0,
            remb: Vec::new(),
            vanished: false,
            channels: Vec::new(),
            messages: Vec::new(),
            audio: Some(audio),
            video: Some(video),
            timeout: self.now,
        });
        i
    }

    /// Connects browser `from`'s endpoint to browser `to`'s endpoint (audio + video).
    pub fn connect(&mut self, from: usize, to: usize) {
        for t in [MediaType::Audio, MediaType::Video] {
            self.pipeline.connect(self.now, Connection::new(self.endpoints[from], self.endpoints[to], t)).unwrap();
        }
    }

    /// The video stream stats of browser `i`'s endpoint in `direction`.
    pub fn video_stats(&mut self, i: usize, direction: kms_media::StreamDirection) -> kms_media::RtpStreamStats {
        let stats = self.pipeline.element_mut::<WebRtcEndpoint>(self.endpoints[i]).unwrap().stats();
        stats.into_iter().find(|s| s.direction == direction && s.media_type == MediaType::Video).expect("a video stream")
    }

    /// Runs the network for `duration` of virtual time, in steps of at most 5 ms.
    pub fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.step();
            let arrival = self.capped.front().map(|c| c.0);
            let next = self.browsers.iter().map(|b| b.timeout).chain(self.pipeline.poll_timeout()).chain(arrival).min().unwrap_or(end);
            self.now = next.clamp(self.now + Duration::from_micros(100), self.now + Duration::from_millis(5)).min(end);
        }
    }

    /// Sends recorded datagrams to the server again, as an attacker replaying them.
    pub fn replay(&mut self, datagrams: Vec<(SocketAddr, Vec<u8>)>) {
        for (source, contents) in datagrams {
            self.in_flight.push_back((source, self.server, contents));
        }
        self.run(Duration::from_millis(50));
    }

    /// Runs until every browser is connected (or fails after 10 s of virtual time).
    pub fn run_until_connected(&mut self) {
        for _ in 0..2000 {
            if self.browsers.iter().all(|b| b.connected) {
                return;
            }
            self.run(Duration::from_millis(5));
        }
        panic!("browsers did not connect");
    }

    fn step(&mut self) {
        let now = self.now;
        self.pipeline.handle_timeout(now);
        for b in &mut self.browsers {
            if b.timeout <= now {
                b.rtc.handle_input(Input::Timeout(now)).unwrap();
            }
        }
        while self.capped.front().is_some_and(|c| c.0 <= now) {
            let (_, source, destination, contents) = self.capped.pop_front().unwrap();
            self.deliver(now, source, destination, contents);
        }
        // Deliver until quiet: outputs may produce more packets in the same instant.
        loop {
            while let Some(out) = self.pipeline.poll_output(now) {
                match out {
                    PipelineOutput::Transmit(t) => self.in_flight.push_back((t.source, t.destination, t.contents)),
                    PipelineOutput::Event(id, event) => self.events.push((now, id, event)),
                }
            }
            if self.pipeline.poll_timeout().is_some_and(|t| t < now + SOON) {
                self.due_after_drain += 1;
            }
            for b in &mut self.browsers {
                b.drain(&mut self.in_flight);
            }
            if self.in_flight.is_empty() {
                break;
            }
            while let Some((source, destination, contents)) = self.in_flight.pop_front() {
                if self.browsers.iter().any(|b| b.vanished && (b.addr == source || b.addr == destination)) {
                    continue;
                }
                if dropped(&mut self.loss, &self.browsers, destination) || (destination == self.server && dropped(&mut self.loss_from, &self.browsers, source)) {
                    continue;
                }
                if let Some((_, rate)) = self.cap.filter(|(to, _)| self.browsers[*to].addr == destination && source == self.server) {
                    let start = self.cap_busy_until.map_or(now, |t| t.max(now));
                    let done = start + Duration::from_secs_f64(contents.len() as f64 * 8.0 / rate as f64);
                    if done - now <= CAP_QUEUE {
                        self.cap_busy_until = Some(done);
                        self.capped.push_back((done, source, destination, contents));
                    }
                    continue;
                }
                self.deliver(now, source, destination, contents);
            }
        }
    }

    fn deliver(&mut self, now: Instant, source: SocketAddr, destination: SocketAddr, contents: Vec<u8>) {
        if destination == STUN_SERVER.parse().unwrap() {
            self.in_flight.push_back((destination, source, stun_reply(source, &contents)));
        } else if destination == self.server {
            if let Some(recorded) = &mut self.recorded {
                recorded.push((source, contents.clone()));
            }
            let d = Datagram { transport: kms_media::Transport::Udp, source, destination, contents: &contents };
            if let Some(id) = self.pipeline.accepting(now, &d) {
                self.pipeline.handle_datagram(now, id, d);
            }
        } else if let Some(b) = self.browsers.iter_mut().find(|b| b.addr == destination) {
            // RTP (version 2, not an RTCP packet type: RFC 5761 §4).
            let rtp = contents.len() > 1 && contents[0] >> 6 == 2 && !(192..=223).contains(&contents[1]);
            if source == self.server && rtp {
                b.largest_rtp_from_server = b.largest_rtp_from_server.max(contents.len());
            }
            let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents: contents.as_slice().try_into().unwrap() });
            b.rtc.handle_input(input).unwrap();
        }
    }
}

/// Whether seeded `loss` (see [`Net::loss`]) drops a datagram to or from
/// `addr`: only when `addr` is its browser's.
fn dropped(loss: &mut Option<(usize, u32, u64)>, browsers: &[Browser], addr: SocketAddr) -> bool {
    let Some((browser, percent, state)) = loss else { return false };
    if browsers[*browser].addr != addr {
        return false;
    }
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*state >> 33) % 100) < u64::from(*percent)
}

impl Browser {
    fn drain(&mut self, out: &mut VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>) {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return;
                }
                Output::Transmit(t) => out.push_back((t.source, t.destination, t.contents.to_vec())),
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaData(d)) => self.received.push(d),
                Output::Event(Event::KeyframeRequest(_)) => self.keyframe_requests += 1,
                Output::Event(Event::EgressBitrateEstimate(BweKind::Remb { estimate, .. })) => self.remb.push(estimate.as_u64()),
                Output::Event(Event::ChannelOpen(id, label)) => self.channels.push((id, label)),
                Output::Event(Event::ChannelClose(id)) => self.channels.retain(|(c, _)| *c != id),
                Output::Event(Event::ChannelData(d)) => {
                    let label = self.channels.iter().find(|(id, _)| *id == d.id).map_or_else(String::new, |(_, l)| l.clone());
                    self.messages.push((label, String::from_utf8_lossy(&d.data).into_owned()));
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Sends a text message on the open data channel `label`.
    pub fn send_text(&mut self, label: &str, text: &str) {
        let id = self.channels.iter().find(|(_, l)| l == label).expect("channel open").0;
        assert!(self.rtc.channel(id).unwrap().write(false, text.as_bytes()).unwrap());
    }

    /// Sends one video frame (VP8) with the given bytes at media time `ts` (90 kHz).
    pub fn send_video(&mut self, now: Instant, ts: u64, data: &[u8]) {
        let mid = self.video.unwrap();
        let writer = self.rtc.writer(mid).unwrap();
        let pt = writer.payload_params().find(|p| p.spec().codec == Codec::Vp8).unwrap().pt();
        writer.write(pt, now, MediaTime::from_90khz(ts), data.to_vec()).unwrap();
    }

    /// Sends one VP8 frame on simulcast layer `rid` at media time `ts` (90 kHz).
    pub fn send_video_layer(&mut self, rid: &str, now: Instant, ts: u64, data: &[u8]) {
        let mid = self.video.unwrap();
        let writer = self.rtc.writer(mid).unwrap();
        let pt = writer.payload_params().find(|p| p.spec().codec == Codec::Vp8).unwrap().pt();
        writer.rid(rid.into()).write(pt, now, MediaTime::from_90khz(ts), data.to_vec()).unwrap();
    }

    /// Sends one video frame of `codec` (H.264 as an Annex B access unit) at
    /// media time `ts` (90 kHz).
    pub fn send_video_as(&mut self, codec: Codec, now: Instant, ts: u64, data: &[u8]) {
        let mid = self.video.unwrap();
        let writer = self.rtc.writer(mid).unwrap();
        let pt = writer.payload_params().find(|p| p.spec().codec == codec).unwrap().pt();
        writer.write(pt, now, MediaTime::from_90khz(ts), data.to_vec()).unwrap();
    }

    /// Sends one audio packet (Opus) at media time `ts` (48 kHz).
    pub fn send_audio(&mut self, now: Instant, ts: u64, data: &[u8]) {
        let mid = self.audio.unwrap();
        let writer = self.rtc.writer(mid).unwrap();
        let pt = writer.payload_params().find(|p| p.spec().codec == Codec::Opus).unwrap().pt();
        writer.write(pt, now, MediaTime::new(ts, str0m::media::Frequency::FORTY_EIGHT_KHZ), data.to_vec()).unwrap();
    }

    /// Asks the server for a keyframe on the video this browser receives (PLI).
    pub fn request_keyframe(&mut self) {
        let mid = self.video.unwrap();
        self.rtc.writer(mid).unwrap().request_keyframe(None, KeyframeRequestKind::Pli).unwrap();
    }

    /// Tells the server this browser can receive `bitrate` bits/s of video (REMB).
    pub fn send_remb(&mut self, bitrate: u64) {
        let mid = self.video.unwrap();
        let mut api = self.rtc.direct_api();
        let rx = api.stream_rx_by_mid(mid, None).expect("video received before REMB");
        rx.request_remb(Bitrate::bps(bitrate));
    }

    /// The VP8 PictureID of each received VP8 frame (`None` when absent).
    pub fn vp8_picture_ids(&self) -> Vec<Option<u64>> {
        self.frames(Codec::Vp8)
            .iter()
            .map(|d| match d.codec_extra {
                str0m::format::CodecExtra::Vp8(e) => e.picture_id,
                _ => None,
            })
            .collect()
    }

    /// Received frames of `codec`.
    pub fn frames(&self, codec: Codec) -> Vec<&MediaData> {
        self.received.iter().filter(|d| d.params.spec().codec == codec).collect()
    }
}

/// A VP8 interframe-looking payload (P bit set) followed by `fill`.
pub fn vp8_delta(fill: u8, len: usize) -> Vec<u8> {
    let mut v = vec![0x11, 0x02, 0x00];
    v.resize(len, fill);
    v
}

/// A VP8 keyframe-looking payload (P bit clear, start code) followed by `fill`.
pub fn vp8_frame(fill: u8, len: usize) -> Vec<u8> {
    let mut v = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
    v.resize(len, fill);
    v
}

/// A STUN server's Binding success answer mapping `source` to the same port
/// on [`PUBLIC_IP`], written out byte by byte from RFC 5389 (§6, §15.2)
/// rather than with the codec under test.
pub fn stun_reply(source: SocketAddr, request: &[u8]) -> Vec<u8> {
    assert_eq!(&request[..2], &[0x00, 0x01], "a Binding request");
    assert_eq!(&request[4..8], &[0x21, 0x12, 0xa4, 0x42], "magic cookie");
    let ip: std::net::Ipv4Addr = PUBLIC_IP.parse().unwrap();
    let mut reply = vec![0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    reply.extend_from_slice(&request[8..20]);
    reply.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    reply.extend_from_slice(&(source.port() ^ 0x2112).to_be_bytes());
    reply.extend_from_slice(&(u32::from(ip) ^ 0x2112_a442).to_be_bytes());
    reply
}

/// The offer with the first byte of its DTLS fingerprint changed.
fn forge_fingerprint(sdp: &str) -> String {
    let at = sdp.find("a=fingerprint:sha-256 ").expect("a fingerprint") + "a=fingerprint:sha-256 ".len();
    let forged = if &sdp[at..at + 2] == "00" { "11" } else { "00" };
    format!("{}{}{}", &sdp[..at], forged, &sdp[at + 2..])
}
