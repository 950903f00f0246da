//! The WebRtcEndpoint element: a str0m peer connection in a pipeline.
//!
//! By concern: `peer` builds the peer connection (certificate, codecs,
//! extensions, host candidates), `negotiation` the SdpEndpoint operations,
//! `connectivity` ICE and DTLS (candidates, selected pair, typed states),
//! `events` str0m's events, `feedback` REMB and keyframe requests to the
//! peer, `layers` simulcast (tagging a publisher's layers, choosing a
//! viewer's), `stats` getStats, `data` data channels, `forward` media out as
//! RTP, `element` the pipeline's `Element` side (datagrams, timers, media
//! in and out).

use kms_media::bandwidth::{Bandwidth, RembRelay};
use crate::codecs::CodecList;
use crate::datachannel::DataChannels;
use crate::external::ExternalAddrs;
use crate::gather::{Gatherer, NatConfig};
use crate::simulcast::{LayerSelector, PublishedLayers, RateMeter, SpatialMeter, SpatialSelector};
use kms_media::packetize::Mtu;
use kms_media::remb::RembParams;
use kms_media::{Codec, DataMessage, Datagram, Element, ElementEvent, ElementOutput, MediaFlow, MediaFrame, MediaType, Transmit, Transport};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::format::Codec as StrCodec;
use str0m::media::{MediaKind, Rid};
use str0m::net::{Protocol, Receive};
use str0m::{Input, Output, Rtc};

mod connectivity;
mod data;
mod element;
mod events;
mod feedback;
mod forward;
mod layers;
mod negotiation;
mod peer;
mod stats;

pub use connectivity::{DtlsState, IceState};
use connectivity::IceSession;
use forward::{Outgoing, Sent};
use negotiation::Negotiated;
use stats::StreamCounters;

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
    /// BaseRtpEndpoint `rembParams`: the tuning of the REMB sent to the
    /// peer and `rembOnConnect` (see [`kms_media::bandwidth`]).
    pub remb_params: RembParams,
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
    /// `WebRtcEndpoint.conf.ini` `simulcast` (ours, `KMS_SIMULCAST`): a
    /// publisher's simulcast layers are all received and each viewer
    /// forwards the one its estimate carries, estimated per viewer with
    /// transport-wide CC; Opus RED is negotiated (see [`crate::simulcast`]).
    /// Off, the endpoint behaves as KMS's: REMB only, and an offer's layers
    /// refused. The server turns it on unless configured off; `Default`
    /// leaves it off (KMS's feature set).
    pub simulcast: bool,
    /// BaseRtpEndpoint `mtu` (`BaseRtpEndpoint.conf.ini`, `KMS_MTU`): the
    /// largest RTP packet sent; `setMtu` changes it for the codecs the
    /// endpoint cuts itself (see [`WebRtcEndpoint::set_mtu`]).
    pub mtu: Mtu,
}

/// Why a negotiation or ICE call failed (shared by every SdpEndpoint).
pub use kms_media::SdpEndpointError as WebRtcError;

/// A WebRTC peer connection as a pipeline element.
pub struct WebRtcEndpoint {
    rtc: Rtc,
    config: WebRtcConfig,
    queue: VecDeque<ElementOutput>,
    next_timeout: Option<Instant>,
    /// Media written to str0m since its last timeout: str0m takes written
    /// media at its next timeout, given before the next poll (one for every
    /// frame written to this peer since the last drain, not one per frame).
    written: bool,
    /// When a keyframe was last asked of the peer, per simulcast rid
    /// (`None`: the m-line's only stream).
    last_own_keyframe_request: HashMap<Option<Rid>, Instant>,
    flow: MediaFlow,
    /// Outgoing RTP streams (audio, video) across source switches (`forward`).
    outgoing: [Outgoing; 2],
    /// Simulcast on: the layers this endpoint's peer publishes (`layers`).
    published: PublishedLayers,
    /// Simulcast on: the layer forwarded to this endpoint's peer (`layers`).
    selector: LayerSelector,
    /// Simulcast on: the SVC spatial layers its peer publishes, and those
    /// this endpoint sends its peer (`layers`).
    spatial_meter: SpatialMeter,
    spatial: SpatialSelector,
    /// Simulcast on: the rate of video without layers sent to the peer.
    unlayered: RateMeter,
    /// The (minimum, desired) bitrates last given to str0m's estimator, kbps.
    probing: (u64, u64),
    remb: RembRelay,
    /// The time of the latest input, for events raised while polling.
    now: Instant,
    data: DataChannels,
    /// Candidates, ICE and DTLS state (`connectivity`).
    ice: IceSession,
    /// What negotiation settled (`negotiation`).
    sdp: Negotiated,
    /// str0m's latest per-stream figures (`stats`).
    counters: StreamCounters,
}

impl WebRtcEndpoint {
    /// A new endpoint with one host candidate per configured address.
    pub fn new(now: Instant, config: WebRtcConfig) -> WebRtcEndpoint {
        peer::init_crypto();
        let (rtc, local_added, local_candidates) = peer::rtc_with(now, &config, peer::host_candidates(&config));
        let gatherer = Gatherer::new(now, &config.host_addrs, &config.nat);
        WebRtcEndpoint {
            queue: VecDeque::new(),
            next_timeout: Some(now),
            written: false,
            last_own_keyframe_request: HashMap::new(),
            flow: MediaFlow::default(),
            outgoing: Default::default(),
            published: PublishedLayers::default(),
            selector: LayerSelector::default(),
            spatial_meter: SpatialMeter::default(),
            spatial: SpatialSelector::default(),
            unlayered: RateMeter::default(),
            probing: (0, 0),
            remb: RembRelay::new(config.bandwidth, config.remb_params),
            now,
            data: DataChannels::default(),
            ice: IceSession {
                local_candidates,
                local_added,
                connected: false,
                dtls_done: false,
                disconnected_at: None,
                gatherer,
                remote_candidates: Vec::new(),
                selected_pair: None,
                ice_state: IceState::Gathering,
                dtls_state: DtlsState::New,
                trickling: false,
                gathering_done_sent: false,
            },
            sdp: Negotiated {
                local_sdp: None,
                remote_sdp: None,
                first_mid: "0".into(),
                pending_offer: None,
                answer_processed: false,
                send_mids: Vec::new(),
                send_codecs: Vec::new(),
                recv_video_mid: None,
                mid_types: HashMap::new(),
            },
            counters: StreamCounters {
                ingress: HashMap::new(),
                egress: HashMap::new(),
                inbound: HashMap::new(),
            },
            rtc,
            config,
        }
    }

    fn event(&mut self, event: ElementEvent) {
        self.queue.push_back(ElementOutput::Event(event));
    }
}

/// Index of a media type's [`Outgoing`] stream: 0 audio, 1 video.
fn outgoing_index(media_type: MediaType) -> usize {
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
