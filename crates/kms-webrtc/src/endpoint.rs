//! The WebRtcEndpoint element.

use crate::bandwidth::{Bandwidth, RembRelay};
use crate::codecs::CodecList;
use crate::datachannel::{DataChannelStats, DataChannels};
use crate::direction::restrict_offer;
use crate::external::ExternalAddrs;
use kms_media::MediaFlow;
use crate::gather::{Gatherer, NatConfig};
use kms_media::{Codec, DataMessage, Datagram, Element, ElementEvent, ElementOutput, MediaFrame, MediaType, Timeline, Transmit, Transport};
use std::collections::{HashMap, VecDeque};
use crate::stats::{InboundLoss, RtpStreamStats, StreamDirection, STATS_INTERVAL};
use str0m::bwe::{Bitrate, BweKind};
use str0m::stats::{MediaEgressStats, MediaIngressStats};
use std::net::SocketAddr;
use std::sync::{Once, OnceLock};
use str0m::config::DtlsCert;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec as StrCodec;
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::channel::{ChannelConfig, Reliability};
use str0m::format::CodecConfig;
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

mod element;

/// Keyframe requests this endpoint sends to its own remote peer (on loss) are
/// spaced at least this much.
const OWN_KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_secs(1);

/// How long ICE may stay DISCONNECTED (consent lost, RFC 7675) before the
/// endpoint gives up: it raises IceComponentStateChanged FAILED and frees the
/// peer connection (buffers, SRTP contexts, timers). The object itself stays
/// until the application releases it, as in KMS.
pub const ICE_FAILED_AFTER: Duration = Duration::from_secs(10);

/// How one endpoint is set up; the constructor parameters and config of KMS.
#[derive(Debug, Clone, Default)]
pub struct WebRtcConfig {
    /// Local addresses of the media sockets: one host candidate each.
    pub host_addrs: Vec<SocketAddr>,
    /// Constructor flag `recvonly`: the SDP lets the peer only send.
    pub recvonly: bool,
    /// Constructor flag `sendonly`: the SDP lets the peer only receive.
    pub sendonly: bool,
    /// `externalIPv4` / `externalIPv6`: announced instead of the local addresses.
    pub external: ExternalAddrs,
    /// Video bandwidth properties (min/max video send/recv bandwidth).
    pub bandwidth: Bandwidth,
    /// STUN and TURN servers to gather server-reflexive and relay candidates from.
    pub nat: NatConfig,
    /// `iceTcp`: addresses of the ICE-TCP listeners, announced as passive TCP
    /// host candidates (RFC 6544); empty when ICE-TCP is off.
    pub tcp_addrs: Vec<SocketAddr>,
    /// `SdpEndpoint.conf.json` audioCodecs/videoCodecs: what is negotiated, in order.
    pub codecs: CodecList,
    /// Constructor flag `useDataChannels`: the peer's data channels are
    /// reported (DataChannelOpened/Closed, stats) and their messages routed
    /// as DATA media. Without it they carry nothing through the pipeline.
    pub data_channels: bool,
}

/// Why a negotiation or ICE call failed (shared by every SdpEndpoint).
pub use kms_media::SdpEndpointError as WebRtcError;

/// A WebRTC peer connection as a pipeline element.
pub struct WebRtcEndpoint {
    rtc: Rtc,
    config: WebRtcConfig,
    local_candidates: Vec<String>,
    /// Every local candidate added to `rtc` (host and gathered), to set up
    /// the peer connection again with the offerer's codec order.
    local_added: Vec<Candidate>,
    local_sdp: Option<String>,
    remote_sdp: Option<String>,
    /// The mid candidates are trickled with (the offer's first m-line).
    first_mid: String,
    /// Our offer from generateOffer, until processAnswer.
    pending_offer: Option<SdpPendingOffer>,
    answer_processed: bool,
    queue: VecDeque<ElementOutput>,
    next_timeout: Option<Instant>,
    /// m-lines we send on, by media type.
    send_mids: Vec<(Mid, MediaType)>,
    /// Codecs negotiated on the sending m-lines, in the peer's preference.
    send_codecs: Vec<(MediaType, Vec<Codec>)>,
    /// The m-line we receive video on, for keyframe requests to the peer.
    recv_video_mid: Option<Mid>,
    /// ICE and DTLS are up: media can be sent (ConnectionState CONNECTED).
    connected: bool,
    /// DTLS completed once; later ICE recoveries reconnect without a new handshake.
    dtls_done: bool,
    last_own_keyframe_request: Option<Instant>,
    flow: MediaFlow,
    /// Media type of every m-line, for stats.
    mid_types: HashMap<Mid, MediaType>,
    ingress: HashMap<Mid, MediaIngressStats>,
    egress: HashMap<Mid, MediaEgressStats>,
    inbound_loss: HashMap<Mid, InboundLoss>,
    /// Outgoing timelines (audio, video) across source switches.
    timelines: [Timeline; 2],
    remb: RembRelay,
    /// The time of the latest input, for events raised while polling.
    now: Instant,
    /// Since when ICE is DISCONNECTED, until it recovers or fails.
    disconnected_at: Option<Instant>,
    gatherer: Gatherer,
    /// Remote candidate lines added with addIceCandidate.
    remote_candidates: Vec<String>,
    /// The selected pair (local, remote candidate lines), once ICE chose one.
    selected_pair: Option<(String, String)>,
    /// The latest IceComponentState and DtlsConnectionState names.
    ice_state: &'static str,
    dtls_state: &'static str,
    /// gatherCandidates was called: candidates are trickled as found.
    trickling: bool,
    gathering_done_sent: bool,
    data: DataChannels,
}

/// Installs str0m's crypto provider (aws-lc-rs) once per process.
fn init_crypto() {
    static INIT: Once = Once::new();
    INIT.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// The DTLS certificate every endpoint presents: generated once per process,
/// as KMS does (`std::call_once` in WebRtcEndpointImpl), since generating one
/// per endpoint dominates the cost of creating it.
fn process_certificate() -> Option<DtlsCert> {
    static CERT: OnceLock<Option<DtlsCert>> = OnceLock::new();
    CERT.get_or_init(|| str0m::crypto::from_feature_flags().dtls_provider.generate_certificate()).clone()
}

/// KMS's feature set: the configured codecs (`SdpEndpoint.conf.json`), REMB
/// (`goog-remb` with the abs-send-time extension) and no transport-wide CC,
/// which KMS does not negotiate. A browser that receives with TWCC negotiated
/// sends TWCC feedback instead of the REMB the router relays to publishers.
fn kms_features(mut config: RtcConfig, codecs: &CodecList) -> RtcConfig {
    let mut exts = ExtensionMap::empty();
    for (id, ext) in [
        (1, Extension::AudioLevel),
        (2, Extension::AbsoluteSendTime),
        (4, Extension::RtpMid),
        (10, Extension::RtpStreamId),
        (11, Extension::RepairedRtpStreamId),
        (13, Extension::VideoOrientation),
    ] {
        exts.set(id, ext);
    }
    config = config.set_extension_map(exts);
    let params = codecs
        .payload_params()
        .into_iter()
        .map(|mut p| {
            p.set_fb_transport_cc(false);
            p
        })
        .collect();
    *config.codec_config() = CodecConfig::new_from_payload_params(params);
    config
}

/// How long (and how many) sent packets are kept to answer NACKs: one second
/// covers any round trip a NACK can still help with (str0m keeps 3 s and
/// 1024 packets by default: most of a viewer's memory).
const EGRESS_CACHE_AGE: Duration = Duration::from_secs(1);
const EGRESS_CACHE_PACKETS: usize = 400;

/// A peer connection with the process certificate and KMS's feature set.
fn new_rtc(now: Instant, codecs: &CodecList) -> Rtc {
    let mut builder = kms_features(Rtc::builder(), codecs).set_stats_interval(Some(STATS_INTERVAL));
    if let Some(cert) = process_certificate() {
        builder = builder.set_dtls_cert(cert);
    }
    builder.build(now)
}

/// The host candidates of `config`: one per address (UDP, and passive TCP
/// with ICE-TCP).
fn host_candidates(config: &WebRtcConfig) -> Vec<Candidate> {
    let udp = config.host_addrs.iter().map(|addr| Candidate::host(*addr, "udp"));
    let tcp = config.tcp_addrs.iter().map(|addr| Candidate::builder().tcp().host(*addr).tcptype(TcpType::Passive).build());
    let addrs = config.host_addrs.iter().chain(&config.tcp_addrs);
    addrs
        .zip(udp.chain(tcp))
        .filter_map(|(addr, candidate)| candidate.map_err(|e| tracing::warn!(%addr, "cannot use address as host candidate: {e}")).ok())
        .collect()
}

/// A peer connection with `candidates` as its local candidates; returns it
/// with the candidates it accepted (as given, without its ICE credentials)
/// and their lines.
fn rtc_with(now: Instant, codecs: &CodecList, candidates: Vec<Candidate>) -> (Rtc, Vec<Candidate>, Vec<String>) {
    let mut rtc = new_rtc(now, codecs);
    let (mut accepted, mut lines) = (Vec::new(), Vec::new());
    for c in candidates {
        if let Some(added) = rtc.add_local_candidate(c.clone()) {
            lines.push(added.to_sdp_string());
            accepted.push(c);
        }
    }
    (rtc, accepted, lines)
}

impl WebRtcEndpoint {
    /// A new endpoint with one host candidate per configured address.
    pub fn new(now: Instant, config: WebRtcConfig) -> WebRtcEndpoint {
        init_crypto();
        let (rtc, local_added, local_candidates) = rtc_with(now, &config.codecs, host_candidates(&config));
        WebRtcEndpoint {
            local_candidates,
            local_added,
            local_sdp: None,
            remote_sdp: None,
            first_mid: "0".into(),
            pending_offer: None,
            answer_processed: false,
            queue: VecDeque::new(),
            next_timeout: Some(now),
            send_mids: Vec::new(),
            send_codecs: Vec::new(),
            recv_video_mid: None,
            connected: false,
            dtls_done: false,
            last_own_keyframe_request: None,
            flow: MediaFlow::default(),
            mid_types: HashMap::new(),
            ingress: HashMap::new(),
            egress: HashMap::new(),
            inbound_loss: HashMap::new(),
            timelines: Default::default(),
            remb: RembRelay::new(config.bandwidth),
            now,
            disconnected_at: None,
            gatherer: Gatherer::new(now, &config.host_addrs, &config.nat),
            remote_candidates: Vec::new(),
            selected_pair: None,
            ice_state: "GATHERING",
            dtls_state: "NEW",
            trickling: false,
            gathering_done_sent: false,
            data: DataChannels::default(),
            rtc,
            config,
        }
    }

    /// SdpEndpoint.processOffer: returns the SDP answer (with host candidates);
    /// lines that cannot be served are refused in it (port 0), and 40205
    /// only when none can.
    pub fn process_offer(&mut self, offer: &str) -> Result<String, WebRtcError> {
        if self.local_sdp.is_some() {
            return Err(WebRtcError::AlreadyNegotiated);
        }
        // Lines WebRTC cannot serve are refused in the answer, as KMS does.
        let split = crate::mlines::split_offer(offer).map_err(WebRtcError::OfferRejected)?;
        let restricted = restrict_offer(&split.usable, self.config.recvonly, self.config.sendonly);
        let parsed = SdpOffer::from_sdp_string(&restricted).map_err(|e| WebRtcError::SdpParse(e.to_string()))?;
        // The answer keeps the offerer's codec preference (as KMS's SDP agent
        // does): the peer connection is set up again with the configured
        // codecs in the offer's order and every candidate it had, unless
        // candidates (which name its ICE ufrag) were already trickled.
        let codecs = self.config.codecs.in_offer_order(&restricted);
        if codecs != self.config.codecs && !self.trickling {
            (self.rtc, self.local_added, self.local_candidates) = rtc_with(self.now, &codecs, std::mem::take(&mut self.local_added));
            // Candidates the peer trickled before its offer arrived.
            for line in &self.remote_candidates {
                if let Ok(c) = Candidate::from_sdp_string(line) {
                    self.rtc.add_remote_candidate(c);
                }
            }
        }
        let answer = self.rtc.sdp_api().accept_offer(parsed).map_err(|e| WebRtcError::OfferRejected(e.to_string()))?;
        if let Some(mid) = first_mid(&split.usable) {
            self.first_mid = mid;
        }
        let answer = self.announced(&crate::mlines::merge_answer(&answer.to_sdp_string(), &split.refused));
        self.remote_sdp = Some(offer.to_owned());
        self.local_sdp = Some(answer.clone());
        Ok(answer)
    }

    /// SdpEndpoint.generateOffer(OfferOptions): an offer with one audio and one
    /// video m-line. `offer_audio`/`offer_video` false (offerToReceiveAudio/Video)
    /// make that m-line send-only; the `recvonly`/`sendonly` constructor flags
    /// fix the direction of both. One-shot like KMS: 40208 once negotiated.
    pub fn generate_offer(&mut self, offer_audio: bool, offer_video: bool) -> Result<String, WebRtcError> {
        if self.local_sdp.is_some() {
            return Err(WebRtcError::AlreadyNegotiated);
        }
        let (recvonly, sendonly) = (self.config.recvonly, self.config.sendonly);
        let direction = |receive: bool| match (recvonly, sendonly || !receive) {
            (true, _) => Direction::RecvOnly,
            (false, true) => Direction::SendOnly,
            (false, false) => Direction::SendRecv,
        };
        let mut change = self.rtc.sdp_api();
        // str0m raises MediaAdded only for m-lines the peer adds, so ours are
        // recorded here.
        let mut added = Vec::new();
        for (kind, receive) in [(MediaKind::Audio, offer_audio), (MediaKind::Video, offer_video)] {
            let dir = direction(receive);
            added.push((change.add_media(kind, dir, None, None, None), kind, dir));
        }
        let (offer, pending) = change.apply().ok_or_else(|| WebRtcError::GenerateOffer("nothing to offer".into()))?;
        for (mid, kind, dir) in added {
            self.record_media(mid, kind, dir);
        }
        let sdp = self.announced(&offer.to_sdp_string());
        if let Some(mid) = first_mid(&sdp) {
            self.first_mid = mid;
        }
        self.pending_offer = Some(pending);
        self.local_sdp = Some(sdp.clone());
        Ok(sdp)
    }

    /// SdpEndpoint.processAnswer: applies the peer's answer to our offer and
    /// returns our (local) description. 40209 without a generated offer, 40210
    /// for a second answer.
    pub fn process_answer(&mut self, answer: &str) -> Result<String, WebRtcError> {
        let Some(pending) = self.pending_offer.take() else {
            return Err(if self.answer_processed { WebRtcError::AnswerAlreadyProcessed } else { WebRtcError::NotOfferGenerated });
        };
        let parsed = match SdpAnswer::from_sdp_string(answer) {
            Ok(a) => a,
            Err(e) => {
                self.pending_offer = Some(pending);
                return Err(WebRtcError::SdpParse(e.to_string()));
            }
        };
        self.rtc.sdp_api().accept_answer(pending, parsed).map_err(|e| WebRtcError::AnswerRejected(e.to_string()))?;
        self.answer_processed = true;
        self.remote_sdp = Some(answer.to_owned());
        self.refresh_send_codecs();
        Ok(self.local_sdp.clone().unwrap_or_default())
    }

    /// WebRtcEndpoint.gatherCandidates: raises IceCandidateFound for every local
    /// candidate known so far, then for each server-reflexive and relay
    /// candidate as its STUN/TURN server answers, then IceGatheringDone.
    /// Host candidates are known up front; without STUN/TURN servers gathering
    /// completes at once. A second call does nothing (KMS).
    pub fn gather_candidates(&mut self) {
        if self.trickling {
            return;
        }
        self.trickling = true;
        for candidate in self.local_candidates.clone() {
            self.candidate_found(&candidate);
        }
        self.collect_candidates();
    }

    fn candidate_found(&mut self, candidate: &str) {
        self.queue.push_back(ElementOutput::Event(ElementEvent::IceCandidateFound {
            candidate: self.config.external.candidate(candidate),
            sdp_mid: self.first_mid.clone(),
            sdp_m_line_index: 0,
        }));
    }

    /// Adds what the gatherer found to the peer connection (and trickles it),
    /// and ends gathering once the gatherer is done.
    fn collect_candidates(&mut self) {
        while let Some(c) = self.gatherer.poll_candidate() {
            if let Some(added) = self.rtc.add_local_candidate(c.clone()) {
                let line = added.to_sdp_string();
                self.local_added.push(c);
                self.local_candidates.push(line.clone());
                if self.trickling {
                    self.candidate_found(&line);
                }
            }
        }
        if self.trickling && !self.gathering_done_sent && self.gatherer.is_done() {
            self.gathering_done_sent = true;
            self.queue.push_back(ElementOutput::Event(ElementEvent::IceGatheringDone));
        }
    }

    /// True once candidates are fixed: gatherCandidates was called or the
    /// session negotiated. STUN/TURN changes no longer apply (KMS).
    pub fn gathering_started(&self) -> bool {
        self.trickling || self.local_sdp.is_some()
    }

    /// The STUN/TURN servers in use.
    pub fn nat(&self) -> &NatConfig {
        &self.config.nat
    }

    /// Sets the STUN/TURN servers (`stunServerAddress`, `turnUrl`). Like KMS,
    /// they apply to gathering that has not started: set them before
    /// negotiating.
    pub fn set_nat(&mut self, now: Instant, nat: NatConfig) {
        if nat != self.config.nat && !self.gathering_started() {
            self.gatherer = Gatherer::new(now, &self.config.host_addrs, &nat);
            self.config.nat = nat;
        }
    }

    /// WebRtcEndpoint.addIceCandidate with a trickled remote candidate
    /// (`candidate:...`, with or without `a=`). An empty candidate (end of
    /// candidates) and mDNS `.local` candidates are accepted and ignored;
    /// peer-reflexive discovery connects those peers anyway.
    pub fn add_ice_candidate(&mut self, candidate: &str) -> Result<(), WebRtcError> {
        let text = candidate.trim();
        let text = text.strip_prefix("a=").unwrap_or(text);
        if text.is_empty() || text.split_whitespace().nth(4).is_some_and(|addr| addr.ends_with(".local")) {
            return Ok(());
        }
        let c = Candidate::from_sdp_string(text).map_err(|e| WebRtcError::Candidate(e.to_string()))?;
        self.remote_candidates.push(text.to_owned());
        self.rtc.add_remote_candidate(c);
        Ok(())
    }

    /// Sets `externalIPv4` / `externalIPv6`; applies to descriptions and
    /// candidates produced from now on (KMS: set it before negotiating).
    pub fn set_external(&mut self, external: ExternalAddrs) {
        self.config.external = external;
    }

    /// Sets the video bandwidth properties; they bound the REMB relay from now on.
    pub fn set_bandwidth(&mut self, bandwidth: Bandwidth) {
        self.config.bandwidth = bandwidth;
        self.remb.bandwidth = bandwidth;
    }

    /// An SDP as the peer must see it (external addresses announced).
    fn announced(&self, sdp: &str) -> String {
        let local: Vec<std::net::IpAddr> = self.config.host_addrs.iter().map(|a| a.ip()).collect();
        self.config.external.sdp(sdp, &local)
    }

    /// BaseRtpEndpoint connectionState / mediaState: true when CONNECTED.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The local SDP (our answer), once negotiated.
    pub fn local_sdp(&self) -> Option<&str> {
        self.local_sdp.as_deref()
    }

    /// The remote SDP (the peer's offer), once negotiated.
    pub fn remote_sdp(&self) -> Option<&str> {
        self.remote_sdp.as_deref()
    }

    fn event(&mut self, event: ElementEvent) {
        self.queue.push_back(ElementOutput::Event(event));
    }

    fn handle_rtc_event(&mut self, event: Event) {
        match event {
            Event::IceConnectionStateChange(state) => {
                let name = match state {
                    IceConnectionState::New => return,
                    IceConnectionState::Checking => "CONNECTING",
                    IceConnectionState::Connected => "CONNECTED",
                    IceConnectionState::Completed => "READY",
                    IceConnectionState::Disconnected => "DISCONNECTED",
                };
                self.ice_state = name;
                self.event(ElementEvent::IceComponentStateChanged { state: name });
                if matches!(state, IceConnectionState::Connected | IceConnectionState::Completed) && self.dtls_state == "NEW" {
                    self.dtls_state("CONNECTING");
                }
                self.disconnected_at = match state {
                    IceConnectionState::Disconnected => self.disconnected_at.or(Some(self.now)),
                    _ => None,
                };
                // Consent lost: the transport and the media session are down until
                // ICE recovers (str0m keeps checking, as trickle ICE allows).
                if state == IceConnectionState::Disconnected && self.connected {
                    self.connected = false;
                    self.event(ElementEvent::ConnectionState { connected: false });
                    self.event(ElementEvent::MediaState { connected: false });
                }
                if matches!(state, IceConnectionState::Connected | IceConnectionState::Completed) && !self.connected && self.dtls_done {
                    self.connected = true;
                    self.event(ElementEvent::ConnectionState { connected: true });
                    self.event(ElementEvent::MediaState { connected: true });
                }
            }
            Event::Connected => {
                self.dtls_state("CONNECTED");
                self.connected = true;
                self.dtls_done = true;
                self.event(ElementEvent::ConnectionState { connected: true });
                self.event(ElementEvent::MediaState { connected: true });
                self.remb.start(self.now);
                self.size_egress_caches();
                // Our sources' video can only reach the peer from now on: ask for a
                // keyframe so the peer's decoder starts at once.
                self.queue.push_back(ElementOutput::KeyframeRequest);
            }
            Event::MediaAdded(added) => self.record_media(added.mid, added.kind, added.direction),
            Event::MediaData(data) => {
                let spec = data.params.spec();
                let Some(codec) = codec_of(spec.codec) else { return };
                if !data.contiguous && codec.media_type() == MediaType::Video {
                    self.request_own_keyframe(data.network_time);
                }
                self.inbound_loss.entry(data.mid).or_default().frame(**data.seq_range.start(), **data.seq_range.end());
                if let Some(event) = self.flow.frame_in(data.network_time, codec.media_type()) {
                    self.event(event);
                }
                self.queue.push_back(ElementOutput::Media(MediaFrame {
                    codec,
                    clock_rate: spec.clock_rate.get(),
                    rtp_time: data.time.numer(),
                    network_time: data.network_time,
                    contiguous: data.contiguous,
                    data: data.data,
                    raw_caps: None,
                }));
            }
            Event::KeyframeRequest(_) => self.queue.push_back(ElementOutput::KeyframeRequest),
            Event::EgressBitrateEstimate(BweKind::Remb { estimate, .. }) => {
                let upstream = self.remb.peer_estimate(estimate.as_u64());
                self.queue.push_back(ElementOutput::BitrateEstimate(upstream));
            }
            Event::PeerStats(s) => {
                if let Some(pair) = s.selected_candidate_pair {
                    self.pair_selected(pair.local.addr, pair.remote.addr);
                }
            }
            Event::MediaIngressStats(s) => {
                self.ingress.insert(s.mid, s);
            }
            Event::MediaEgressStats(s) => {
                self.egress.insert(s.mid, s);
            }
            Event::ChannelOpen(id, label) if self.config.data_channels => {
                let Some(stream_id) = self.rtc.direct_api().sctp_stream_id_by_channel_id(id) else { return };
                let protocol = self.rtc.channel(id).and_then(|c| c.config().map(|c| c.protocol.clone())).unwrap_or_default();
                self.data.opened(id, stream_id, label, protocol);
                self.event(ElementEvent::DataChannelOpened { channel_id: stream_id });
            }
            Event::ChannelData(d) if self.config.data_channels => {
                if let Some(message) = self.data.received(d.id, d.binary, d.data) {
                    self.queue.push_back(ElementOutput::Data(message));
                }
            }
            Event::ChannelClose(id) => {
                if let Some(stream_id) = self.data.closed(id) {
                    self.event(ElementEvent::DataChannelClosed { channel_id: stream_id });
                }
            }
            _ => {}
        }
    }

    /// getStats: the latest counters of every RTP stream, inbound then outbound.
    pub fn stats(&mut self) -> Vec<RtpStreamStats> {
        type Row = (Mid, StreamDirection, [u64; 5], Option<u32>, Option<f32>, Option<u64>, Option<Duration>, Instant);
        let inbound = self.ingress.values().map(|s| {
            let lost = self.inbound_loss.get(&s.mid).map(InboundLoss::lost);
            (s.mid, StreamDirection::Inbound, [s.packets, s.bytes, s.firs, s.plis, s.nacks], Some(s.jitter), s.loss, lost, s.rtt, s.timestamp)
        });
        let outbound = self.egress.values().map(|s| {
            let lost = s.remote.as_ref().map(|r| r.packets_lost);
            (s.mid, StreamDirection::Outbound, [s.packets, s.bytes, s.firs, s.plis, s.nacks], None, s.loss, lost, s.rtt, s.timestamp)
        });
        let rows: Vec<Row> = inbound.chain(outbound).collect();
        let (remb_received, remb_sent) = self.remb.figures();
        let mut out = Vec::with_capacity(rows.len());
        for (mid, direction, [packets, bytes, fir_count, pli_count, nack_count], jitter, fraction_lost, packets_lost, round_trip_time, timestamp) in rows {
            let Some(&media_type) = self.mid_types.get(&mid) else { continue };
            let remb = match (media_type, direction) {
                (MediaType::Video, StreamDirection::Inbound) => remb_sent,
                (MediaType::Video, StreamDirection::Outbound) => remb_received,
                _ => None,
            };
            let mut api = self.rtc.direct_api();
            let ssrc = match direction {
                StreamDirection::Inbound => api.stream_rx_by_mid(mid, None).map(|r| *r.ssrc()),
                StreamDirection::Outbound => api.stream_tx_by_mid(mid, None).map(|t| *t.ssrc()),
            };
            let jitter = jitter.map(|j| f64::from(j) / f64::from(clock_rate(media_type)));
            out.push(RtpStreamStats {
                media_type,
                direction,
                ssrc,
                packets,
                bytes,
                fir_count,
                pli_count,
                nack_count,
                jitter,
                fraction_lost,
                packets_lost,
                remb,
                round_trip_time,
                timestamp,
            });
        }
        out
    }

    /// Sizes the NACK cache of every send stream ([`EGRESS_CACHE_AGE`]); the
    /// streams exist once the session is negotiated, before media flows.
    fn size_egress_caches(&mut self) {
        for &(mid, _) in &self.send_mids {
            if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
                tx.set_rtx_cache(EGRESS_CACHE_PACKETS, EGRESS_CACHE_AGE, Some(0.15));
            }
        }
    }

    /// Remembers an m-line we send or receive on.
    fn record_media(&mut self, mid: Mid, kind: MediaKind, direction: Direction) {
        let media_type = media_type_of(kind);
        self.mid_types.insert(mid, media_type);
        if direction.is_sending() && !self.send_mids.contains(&(mid, media_type)) {
            self.send_mids.push((mid, media_type));
        }
        if direction.is_receiving() && media_type == MediaType::Video {
            self.recv_video_mid = Some(mid);
        }
        self.refresh_send_codecs();
    }

    /// Reads the codecs each sending m-line negotiated (see `input_codecs`).
    fn refresh_send_codecs(&mut self) {
        let mut lists = Vec::new();
        for &(mid, media_type) in &self.send_mids {
            if let Some(writer) = self.rtc.writer(mid) {
                let mut codecs: Vec<Codec> = Vec::new();
                for c in writer.payload_params().filter_map(|p| codec_of(p.spec().codec)) {
                    if !codecs.contains(&c) {
                        codecs.push(c);
                    }
                }
                lists.push((media_type, codecs));
            }
        }
        self.send_codecs = lists;
    }

    /// Sends the REMB to our peer when one is due (see [`RembRelay`]). Until
    /// the peer's first video packet there is no stream to send it for; the
    /// next period retries.
    fn send_remb(&mut self, now: Instant) {
        let Some(bitrate) = self.remb.poll(now) else { return };
        let Some(mid) = self.recv_video_mid else { return };
        if let Some(rx) = self.rtc.direct_api().stream_rx_by_mid(mid, None) {
            rx.request_remb(Bitrate::bps(bitrate));
        }
    }

    fn dtls_state(&mut self, state: &'static str) {
        if self.dtls_state != state {
            self.dtls_state = state;
            self.event(ElementEvent::DtlsConnectionState { state });
        }
    }

    /// Raises NewCandidatePairSelected when the pair in use changed. Candidates
    /// are described by their SDP lines; a peer-reflexive remote (learnt from
    /// its checks) gets a `typ prflx` line.
    fn pair_selected(&mut self, local: SocketAddr, remote: SocketAddr) {
        let find = |lines: &[String], addr: SocketAddr| {
            let needle = format!(" {} {} typ ", addr.ip(), addr.port());
            lines.iter().find(|l| l.contains(&needle)).cloned()
        };
        let local = find(&self.local_candidates, local).unwrap_or_else(|| format!("candidate:0 1 udp 0 {} {} typ host", local.ip(), local.port()));
        let remote =
            find(&self.remote_candidates, remote).unwrap_or_else(|| format!("candidate:0 1 udp 0 {} {} typ prflx", remote.ip(), remote.port()));
        let pair = (self.config.external.candidate(&local), remote);
        if self.selected_pair.as_ref() != Some(&pair) {
            self.event(ElementEvent::NewCandidatePairSelected { local: pair.0.clone(), remote: pair.1.clone() });
            self.selected_pair = Some(pair);
        }
    }

    /// ICECandidatePairs: the selected pair, when there is one.
    pub fn candidate_pairs(&self) -> Vec<(String, String)> {
        self.selected_pair.iter().cloned().collect()
    }

    /// IceConnectionState and DtlsConnectionState (their state names).
    pub fn connection_states(&self) -> (&'static str, &'static str) {
        (self.ice_state, self.dtls_state)
    }

    /// WebRtcEndpoint.createDataChannel: opens a channel to the peer with DCEP
    /// once the SCTP association is up (the peer's offer must have had an
    /// application m-line). `max_packet_life_time` (ms) and `max_retransmits`
    /// are -1 when unset; setting both is an error, as in the W3C API.
    pub fn create_data_channel(&mut self, label: &str, ordered: bool, max_packet_life_time: i32, max_retransmits: i32, protocol: &str) -> Result<(), WebRtcError> {
        if !self.config.data_channels {
            return Err(WebRtcError::DataChannel("the endpoint was created without useDataChannels".into()));
        }
        if self.local_sdp.is_none() || self.ice_state == "FAILED" {
            return Err(WebRtcError::DataChannel("channels can be created once the session is negotiated and while it lives".into()));
        }
        let bound = |v: i32, name: &str| u16::try_from(v).map_err(|_| WebRtcError::DataChannel(format!("{name} {v} is out of range")));
        let reliability = match (max_packet_life_time, max_retransmits) {
            (-1, -1) => Reliability::Reliable,
            (lifetime, -1) => Reliability::MaxPacketLifetime { lifetime: bound(lifetime, "maxPacketLifeTime")? },
            (-1, retransmits) => Reliability::MaxRetransmits { retransmits: bound(retransmits, "maxRetransmits")? },
            _ => return Err(WebRtcError::DataChannel("maxPacketLifeTime and maxRetransmits cannot both be set".into())),
        };
        let config = ChannelConfig { label: label.into(), ordered, reliability, negotiated: None, protocol: protocol.into() };
        self.rtc.direct_api().create_data_channel(config);
        Ok(())
    }

    /// WebRtcEndpoint.closeDataChannel by SCTP stream id (KMS's channelId).
    pub fn close_data_channel(&mut self, stream_id: u16) -> Result<(), WebRtcError> {
        let id = self.data.by_stream_id(stream_id).ok_or_else(|| WebRtcError::DataChannel(format!("no open data channel {stream_id}")))?;
        self.rtc.direct_api().close_data_channel(id);
        Ok(())
    }

    /// getStats: every data channel seen, and the (opened, closed) totals.
    pub fn data_channel_stats(&self) -> (Vec<DataChannelStats>, (u64, u64)) {
        (self.data.stats(), self.data.totals())
    }

    /// BaseRtpEndpoint.requestKeyframe: a PLI to the peer now, unthrottled.
    pub fn request_keyframe(&mut self) {
        self.last_own_keyframe_request = None;
        self.request_own_keyframe(self.now);
    }

    /// ICE stayed disconnected for [`ICE_FAILED_AFTER`]: FAILED, and the peer
    /// connection is replaced by an empty, closed one so its memory goes now.
    fn fail(&mut self, now: Instant) {
        self.disconnected_at = None;
        self.ice_state = "FAILED";
        self.event(ElementEvent::IceComponentStateChanged { state: "FAILED" });
        self.dtls_state("CLOSED");
        let mut closed = new_rtc(now, &self.config.codecs);
        closed.disconnect();
        drop(std::mem::replace(&mut self.rtc, closed));
        self.next_timeout = None;
        self.send_mids.clear();
        self.recv_video_mid = None;
        self.remb = RembRelay::new(self.config.bandwidth);
        self.gatherer = Gatherer::default();
        for channel_id in self.data.close_all() {
            self.event(ElementEvent::DataChannelClosed { channel_id });
        }
    }

    /// Sends a PLI to our own peer for the video it sends us, throttled.
    fn request_own_keyframe(&mut self, now: Instant) {
        if self.last_own_keyframe_request.is_some_and(|t| now.saturating_duration_since(t) < OWN_KEYFRAME_REQUEST_INTERVAL) {
            return;
        }
        let Some(mid) = self.recv_video_mid else { return };
        let Some(mut writer) = self.rtc.writer(mid) else { return };
        if writer.is_request_keyframe_possible(KeyframeRequestKind::Pli) {
            if let Err(e) = writer.request_keyframe(None, KeyframeRequestKind::Pli) {
                tracing::debug!("keyframe request to peer failed: {e}");
            }
            self.last_own_keyframe_request = Some(now);
        }
    }
}

/// The `a=mid:` of the first m-line of an SDP.
fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|l| l.trim().strip_prefix("a=mid:")).map(|m| m.trim().to_owned())
}

/// RTP clock rate used to express jitter in seconds: 90 kHz for video; 48 kHz
/// for audio (Opus, the WebRTC default; G.711 streams would read 6x high).
fn clock_rate(media_type: MediaType) -> u32 {
    match media_type {
        MediaType::Video => 90_000,
        _ => 48_000,
    }
}

/// Index of a media type's outgoing [`Timeline`]: 0 audio, 1 video.
fn timeline_index(media_type: MediaType) -> usize {
    usize::from(media_type == MediaType::Video)
}

fn media_type_of(kind: MediaKind) -> MediaType {
    match kind {
        MediaKind::Audio => MediaType::Audio,
        MediaKind::Video => MediaType::Video,
    }
}

fn codec_of(codec: StrCodec) -> Option<Codec> {
    Some(match codec {
        StrCodec::Opus => Codec::Opus,
        StrCodec::PCMU => Codec::Pcmu,
        StrCodec::PCMA => Codec::Pcma,
        StrCodec::Vp8 => Codec::Vp8,
        StrCodec::Vp9 => Codec::Vp9,
        StrCodec::H264 => Codec::H264,
        StrCodec::Av1 => Codec::Av1,
        _ => return None,
    })
}
