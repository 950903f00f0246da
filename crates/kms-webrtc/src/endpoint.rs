//! The WebRtcEndpoint element: a str0m peer connection in a pipeline.
//!
//! By concern: `peer` builds the peer connection (certificate, codecs,
//! extensions, host candidates), `negotiation` the SdpEndpoint operations,
//! `connectivity` ICE and DTLS (candidates, selected pair, typed states),
//! `events` str0m's events, `feedback` REMB and keyframe requests to the
//! peer, `stats` getStats, `data` data channels, `element` the pipeline's
//! `Element` side (datagrams, timers, media in and out).

use crate::bandwidth::{Bandwidth, RembRelay};
use crate::codecs::CodecList;
use crate::datachannel::DataChannels;
use crate::external::ExternalAddrs;
use crate::gather::{Gatherer, NatConfig};
use crate::stats::InboundLoss;
use kms_media::{Codec, DataMessage, Datagram, Element, ElementEvent, ElementOutput, MediaFlow, MediaFrame, MediaType, Timeline, Transmit, Transport};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::change::SdpPendingOffer;
use str0m::format::Codec as StrCodec;
use str0m::media::{Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::stats::{MediaEgressStats, MediaIngressStats};
use str0m::{Candidate, Input, Output, Rtc};

mod connectivity;
mod data;
mod element;
mod events;
mod feedback;
mod negotiation;
mod peer;
mod stats;

pub use connectivity::{DtlsState, IceState};

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
    ice_state: IceState,
    dtls_state: DtlsState,
    /// gatherCandidates was called: candidates are trickled as found.
    trickling: bool,
    gathering_done_sent: bool,
    data: DataChannels,
}

impl WebRtcEndpoint {
    /// A new endpoint with one host candidate per configured address.
    pub fn new(now: Instant, config: WebRtcConfig) -> WebRtcEndpoint {
        peer::init_crypto();
        let (rtc, local_added, local_candidates) = peer::rtc_with(now, &config.codecs, peer::host_candidates(&config));
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
            ice_state: IceState::Gathering,
            dtls_state: DtlsState::New,
            trickling: false,
            gathering_done_sent: false,
            data: DataChannels::default(),
            rtc,
            config,
        }
    }

    fn event(&mut self, event: ElementEvent) {
        self.queue.push_back(ElementOutput::Event(event));
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
