//! RtpEndpoint: plain RTP and SDES-SRTP peers (SIP gateways, IP cameras,
//! ffmpeg/GStreamer senders, other media servers) as a pipeline element.
//!
//! Negotiation ([`negotiation`], on [`sdp`]) binds port pairs from
//! `minPort..maxPort` ([`ports`]) and builds the GStreamer session
//! ([`session`]) once both descriptions are known. KMS's states:
//! ConnectionState is CONNECTED as soon as the negotiation completes;
//! MediaState follows the peer's RTCP (CONNECTED when its source is active,
//! DISCONNECTED on BYE or timeout).
//!
//! Feedback: lost packets are NACKed where the peer takes NACK; the REMB
//! sent to the peer is the sinks' estimate and KMS's loss-based estimate of
//! what the peer sends, within the bandwidth properties, and the peer's
//! REMB is reported upstream within them ([`RembRelay`], as the
//! WebRtcEndpoint's). Not done: retransmissions for the peer's NACKs (no
//! RTX is negotiated, as in KMS's RtpEndpoint).

pub(crate) mod fuzzing;
mod inbound;
mod negotiation;
mod ports;
mod rtcp;
mod sdes;
mod sdp;
mod session;

pub use negotiation::{codecs_from_config, RtpCodec};
pub use sdes::{CryptoSuite, SdesError, SrtpKey};

use crate::island::{BusNote, Waker};
use kms_media::bandwidth::{Bandwidth, RembRelay};
use kms_media::remb::{ReceivedTotals, RembParams};
use kms_media::{Codec, Element, ElementEvent, ElementOutput, MediaFlow, MediaFrame, MediaType, RtpStreamStats, SdpEndpointError, SdpNegotiation, StreamDirection};
use negotiation::{LinePorts, LocalSide, PendingOffer};
use ports::BoundLine;
use sdp::SessionDescription;
use session::RtpSession;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

/// What an RtpEndpoint is made with.
#[derive(Debug, Clone)]
pub struct RtpConfig {
    /// The address bound and announced (`c=`).
    pub address: IpAddr,
    /// `BaseRtpEndpoint.conf.ini` `minPort` / `maxPort`.
    pub min_port: u16,
    pub max_port: u16,
    /// `BaseRtpEndpoint.conf.ini` `mtu`, bytes of RTP packets we send.
    pub mtu: u16,
    /// The configured codecs GStreamer can carry, in order ([`codecs_from_config`]).
    pub codecs: Vec<RtpCodec>,
    /// The `crypto` constructor parameter: SRTP with this key.
    pub crypto: Option<SrtpKey>,
    /// The bandwidth properties: the receive limits are the `b=AS` lines of
    /// the descriptions we make (KMS's SdpEndpoint); all bound the REMB.
    pub bandwidth: Bandwidth,
    /// BaseRtpEndpoint `rembParams`.
    pub remb_params: RembParams,
}

/// Where the offer/answer stands.
enum Negotiation {
    Idle,
    /// generateOffer done: our offer and its bound lines wait for the answer.
    Offered(PendingOffer, Vec<BoundLine>),
    Done,
}

pub struct RtpEndpoint {
    config: RtpConfig,
    waker: Waker,
    negotiation: Negotiation,
    local_sdp: Option<String>,
    remote_sdp: Option<String>,
    session: Option<RtpSession>,
    /// The codec each line sends (`[audio, video]`), once negotiated.
    send_codecs: [Vec<Codec>; 2],
    flow: MediaFlow,
    media_connected: bool,
    /// The REMB sent to the peer and the peer's REMB reported upstream.
    remb: RembRelay,
    queue: VecDeque<ElementOutput>,
}

fn slot(t: MediaType) -> usize {
    usize::from(t == MediaType::Video)
}

/// A random SSRC / session id (RFC 3550 §8.1), from the kernel's random
/// source (the clock, should it be unreadable).
fn random_u32() -> u32 {
    match sdes::random_bytes(4) {
        Ok(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.subsec_nanos()),
    }
}

impl RtpEndpoint {
    pub fn new(config: RtpConfig, waker: Waker) -> RtpEndpoint {
        RtpEndpoint {
            remb: RembRelay::new(config.bandwidth, config.remb_params),
            config,
            waker,
            negotiation: Negotiation::Idle,
            local_sdp: None,
            remote_sdp: None,
            session: None,
            send_codecs: Default::default(),
            flow: MediaFlow::default(),
            media_connected: false,
            queue: VecDeque::new(),
        }
    }

    /// Runs `f` with our side of a negotiation; the lines it binds are kept in `bound`.
    fn with_local<T>(&self, bound: &mut Vec<BoundLine>, f: impl FnOnce(&mut LocalSide) -> T) -> T {
        let (address, min, max) = (self.config.address, self.config.min_port, self.config.max_port);
        let mut bind = |_: MediaType, mux: bool| -> Result<LinePorts, String> {
            let line = ports::bind_line(address, min, max, mux)?;
            let ports = line.ports;
            bound.push(line);
            Ok(ports)
        };
        let mut ssrc = random_u32;
        let mut local = LocalSide { address, codecs: &self.config.codecs, crypto: self.config.crypto.as_ref(), bind: &mut bind, ssrc: &mut ssrc };
        f(&mut local)
    }

    /// SdpEndpoint.generateOffer: audio and video lines (a line not wanted
    /// for receiving is sendonly). 40208 once negotiation started.
    pub fn generate_offer(&mut self, receive_audio: bool, receive_video: bool) -> Result<String, SdpEndpointError> {
        if !matches!(self.negotiation, Negotiation::Idle) {
            return Err(SdpEndpointError::AlreadyNegotiated);
        }
        let mut bound = Vec::new();
        let pending = self.with_local(&mut bound, |l| negotiation::offer(l, &[(MediaType::Audio, receive_audio), (MediaType::Video, receive_video)]))?;
        let sdp = self.config.bandwidth.recv.signal(&pending.offer.to_string());
        self.local_sdp = Some(sdp.clone());
        self.negotiation = Negotiation::Offered(pending, bound);
        Ok(sdp)
    }

    /// SdpEndpoint.processOffer: the answer. 40201 for an SDP that cannot
    /// be read, 40205 when no line can be served, 40208 once negotiation started.
    pub fn process_offer(&mut self, offer: &str) -> Result<String, SdpEndpointError> {
        if !matches!(self.negotiation, Negotiation::Idle) {
            return Err(SdpEndpointError::AlreadyNegotiated);
        }
        let parsed = parse(offer, "offer")?;
        let mut bound = Vec::new();
        let (answer, media) = self.with_local(&mut bound, |l| negotiation::answer(&parsed, l))?;
        let sdp = self.config.bandwidth.recv.signal(&answer.to_string());
        self.start(media, bound).map_err(SdpEndpointError::OfferRejected)?;
        self.remote_sdp = Some(offer.to_owned());
        self.local_sdp = Some(sdp.clone());
        Ok(sdp)
    }

    /// SdpEndpoint.processAnswer: returns our offer. 40209 without one,
    /// 40210 for a second answer, 40206 for an answer that does not fit.
    pub fn process_answer(&mut self, answer: &str) -> Result<String, SdpEndpointError> {
        match &self.negotiation {
            Negotiation::Idle => return Err(SdpEndpointError::NotOfferGenerated),
            Negotiation::Done => return Err(SdpEndpointError::AnswerAlreadyProcessed),
            Negotiation::Offered(..) => {}
        }
        let parsed = parse(answer, "answer")?;
        let Negotiation::Offered(pending, bound) = std::mem::replace(&mut self.negotiation, Negotiation::Done) else { unreachable!() };
        let media = match negotiation::apply_answer(&pending, &parsed, &self.config.codecs, self.config.crypto.as_ref()) {
            Ok(m) => m,
            Err(e) => {
                self.negotiation = Negotiation::Offered(pending, bound);
                return Err(e);
            }
        };
        self.start(media, bound).map_err(SdpEndpointError::AnswerRejected)?;
        self.remote_sdp = Some(answer.to_owned());
        Ok(self.local_sdp.clone().unwrap_or_default())
    }

    /// Builds the session of the negotiated lines (each with its bound
    /// sockets; unused ones are released) and raises ConnectionStateChanged.
    fn start(&mut self, media: Vec<negotiation::NegotiatedMedia>, mut bound: Vec<BoundLine>) -> Result<(), String> {
        let mut lines = Vec::new();
        for m in media {
            let Some(i) = bound.iter().position(|b| b.ports == m.ports) else { continue };
            lines.push((m, bound.swap_remove(i)));
        }
        for (m, _) in &lines {
            if let Some((_, c)) = m.payloads.first().filter(|_| m.direction.sends()) {
                self.send_codecs[slot(m.media_type)] = vec![c.codec];
            }
        }
        self.session = Some(RtpSession::start(lines, self.config.mtu, self.waker.clone())?);
        self.negotiation = Negotiation::Done;
        self.queue.push_back(ElementOutput::Event(ElementEvent::ConnectionState { connected: true }));
        // The peer may need a keyframe to start decoding what we send.
        self.queue.push_back(ElementOutput::KeyframeRequest);
        Ok(())
    }

    pub fn local_sdp(&self) -> Option<&str> {
        self.local_sdp.as_deref()
    }

    pub fn remote_sdp(&self) -> Option<&str> {
        self.remote_sdp.as_deref()
    }

    /// getConnectionState: CONNECTED once negotiated (KMS).
    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    /// getMediaState: CONNECTED while the peer's RTCP says it is there.
    pub fn is_media_connected(&self) -> bool {
        self.media_connected
    }

    /// getStats: the session's RTP streams.
    pub fn stats(&self) -> Vec<RtpStreamStats> {
        self.session.as_ref().map(RtpSession::stats).unwrap_or_default()
    }

    /// Sends the REMB to the peer when one is due ([`RembRelay`]), after
    /// updating the local estimate from the session's inbound video
    /// counters when that is due.
    fn send_remb(&mut self, now: Instant) {
        let Some(session) = &mut self.session else { return };
        if self.remb.sample_due(now) {
            let video = session.stats().into_iter().filter(|s| s.direction == StreamDirection::Inbound && s.media_type == MediaType::Video);
            let totals = video.map(|s| ReceivedTotals { bytes: s.bytes, packets: s.packets, lost: s.packets_lost.unwrap_or(0) }).sum();
            self.remb.sample(now, Some(totals));
        }
        if let Some(bitrate) = self.remb.poll(now) {
            session.send_remb(bitrate);
        }
    }

    /// The island's graph (getGstreamerDot).
    pub fn dot(&self) -> String {
        self.session.as_ref().map_or_else(|| crate::state::EMPTY_DOT.into(), |s| s.island().dot())
    }
}

/// An SDP from the client: 40201 when empty or unreadable.
fn parse(text: &str, what: &str) -> Result<SessionDescription, SdpEndpointError> {
    if text.trim().is_empty() {
        return Err(SdpEndpointError::SdpParse(format!("Empty {what} not valid")));
    }
    SessionDescription::parse(text).map_err(|e| SdpEndpointError::SdpParse(e.to_string()))
}

impl Element for RtpEndpoint {
    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        let Some(session) = &mut self.session else { return };
        if session.send(frame) {
            if let Some(event) = self.flow.frame_out(now, frame.media_type()) {
                self.queue.push_back(ElementOutput::Event(event));
            }
        }
    }

    fn handle_keyframe_request(&mut self, _now: Instant) {
        if let Some(s) = &self.session {
            s.request_keyframe();
        }
    }

    /// The sinks' estimate bounds the REMB sent to the peer (a fall at once).
    fn handle_bitrate_estimate(&mut self, now: Instant, bitrate: u64) {
        self.remb.sinks_estimate(now, bitrate);
        self.send_remb(now);
    }

    fn handle_source_changed(&mut self, _now: Instant, media_type: MediaType) {
        if let Some(s) = &mut self.session {
            s.source_changed(media_type);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for event in self.flow.check(now) {
            self.queue.push_back(ElementOutput::Event(event));
        }
        self.send_remb(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.flow.next_check(), self.remb.poll_timeout()].into_iter().flatten().min()
    }

    fn input_codecs(&self, media_type: MediaType) -> Option<&[Codec]> {
        let codecs = self.send_codecs.get(slot(media_type)).filter(|_| media_type != MediaType::Data)?;
        (!codecs.is_empty()).then_some(codecs.as_slice())
    }

    fn is_media_flowing_in(&self, media_type: MediaType) -> bool {
        self.flow.is_flowing_in(media_type)
    }

    fn is_media_flowing_out(&self, media_type: MediaType) -> bool {
        self.flow.is_flowing_out(media_type)
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        if let Some(out) = self.queue.pop_front() {
            return Some(out);
        }
        let session = self.session.as_ref()?;
        if let Some(out) = session.island().try_recv() {
            match &out {
                ElementOutput::Media(frame) => {
                    if let Some(event) = self.flow.frame_in(frame.network_time, frame.media_type()) {
                        self.queue.push_back(ElementOutput::Event(event));
                    }
                    if frame.media_type() == MediaType::Video {
                        self.remb.video_received(frame.network_time);
                    }
                }
                // The peer's REMB, bounded by the send bandwidth (and read as
                // rembOnConnect while its first ones rise below it).
                ElementOutput::BitrateEstimate(bitrate) => return Some(ElementOutput::BitrateEstimate(self.remb.peer_remb(*bitrate))),
                ElementOutput::Event(ElementEvent::MediaState { connected }) => self.media_connected = *connected,
                _ => {}
            }
            return Some(out);
        }
        for note in session.island().take_notes() {
            if note == BusNote::Error {
                tracing::warn!("RtpEndpoint session failed");
            }
        }
        self.queue.pop_front()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl SdpNegotiation for RtpEndpoint {
    fn generate_offer(&mut self, receive_audio: bool, receive_video: bool) -> Result<String, SdpEndpointError> {
        RtpEndpoint::generate_offer(self, receive_audio, receive_video)
    }

    fn process_offer(&mut self, offer: &str) -> Result<String, SdpEndpointError> {
        RtpEndpoint::process_offer(self, offer)
    }

    fn process_answer(&mut self, answer: &str) -> Result<String, SdpEndpointError> {
        RtpEndpoint::process_answer(self, answer)
    }

    fn local_sdp(&self) -> Option<&str> {
        RtpEndpoint::local_sdp(self)
    }

    fn remote_sdp(&self) -> Option<&str> {
        RtpEndpoint::remote_sdp(self)
    }

    fn connection_connected(&self) -> bool {
        self.is_connected()
    }

    fn media_connected(&self) -> bool {
        self.is_media_connected()
    }

    fn set_bandwidth(&mut self, bandwidth: Bandwidth) {
        self.config.bandwidth = bandwidth;
        if let Some(estimate) = self.remb.set_bandwidth(bandwidth) {
            self.queue.push_back(ElementOutput::BitrateEstimate(estimate));
        }
    }

    fn set_remb_params(&mut self, params: RembParams) {
        self.config.remb_params = params;
        self.remb.set_params(params);
    }
}
