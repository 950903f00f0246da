//! The element contract: how the pipeline drives one MediaElement.

use crate::media::{Codec, DataMessage, MediaFrame, MediaType};
use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

/// How a datagram travels: a UDP datagram, or one RFC 4571 frame on a TCP
/// connection (ICE-TCP, RFC 6544) identified by its two addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

/// A datagram received on one of the media sockets or TCP connections.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    pub transport: Transport,
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: &'a [u8],
}

/// A datagram an element wants sent.
#[derive(Debug, Clone)]
pub struct Transmit {
    pub transport: Transport,
    /// Local address to send from (selects the socket or TCP connection).
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// `FLOWING` / `NOT_FLOWING` of MediaFlowIn/OutStateChanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    Flowing,
    NotFlowing,
}

/// Events an element raises; the control plane turns them into Kurento events.
#[derive(Debug, Clone, PartialEq)]
pub enum ElementEvent {
    /// A local ICE candidate (`candidate:` line without `a=`), for IceCandidateFound.
    IceCandidateFound { candidate: String, sdp_mid: String, sdp_m_line_index: u32 },
    IceGatheringDone,
    /// ICE state by name (`CONNECTING`, `CONNECTED`, `READY`, `FAILED`, ...).
    IceComponentStateChanged { state: &'static str },
    /// ICE selected a new pair (NewCandidatePairSelected): candidate lines.
    NewCandidatePairSelected { local: String, remote: String },
    /// DTLS state by name (`CONNECTING`, `CONNECTED`, `FAILED`, `CLOSED`).
    DtlsConnectionState { state: &'static str },
    /// Media started or stopped arriving into (or leaving) the element.
    MediaFlowIn { media_type: MediaType, state: FlowState },
    MediaFlowOut { media_type: MediaType, state: FlowState },
    /// The element's media session went up or down (MediaStateChanged).
    MediaState { connected: bool },
    /// The transport (ICE + DTLS) went up or down (ConnectionStateChanged).
    ConnectionState { connected: bool },
    /// A data channel opened or closed (DataChannelOpened / DataChannelClosed);
    /// `channel_id` is its SCTP stream id, as in KMS.
    DataChannelOpened { channel_id: u16 },
    DataChannelClosed { channel_id: u16 },
    /// A Media event without fields of its own: `Recording`, `Paused`,
    /// `Stopped` (RecorderEndpoint), `EndOfStream` (PlayerEndpoint).
    Media { name: &'static str },
    /// UriEndpointStateChanged: `STOP`, `START` or `PAUSE`.
    UriEndpointState { state: &'static str },
    /// ZBarFilter's CodeFound: a bar code or QR code came into view
    /// (`code_type` as zbar names it, `QR-Code`, `EAN-13`, ...).
    CodeFound { code_type: String, value: String },
    /// MediaTranscodingStateChanged, raised on the source whose output is
    /// (or stops being) transcoded; `bin_name` names its transcoder.
    MediaTranscoding { media_type: MediaType, transcoding: bool, bin_name: String },
    /// OnKeySoftLimit (RtpEndpoint): the SRTP key of this media type is near
    /// the end of its lifetime (RFC 3711 §9.2 soft limit).
    KeySoftLimit { media_type: MediaType },
    /// An event of a module's own class (the vision modules' WindowIn,
    /// PlateDetected, CrowdDetectorOccupancy...): its kmd name and its own
    /// fields as they go on the wire (the Media base fields are added by
    /// the control plane).
    Module { name: &'static str, fields: serde_json::Map<String, serde_json::Value> },
    /// The Kurento `Error` event: `error_type` is KMS's name
    /// (`RESOURCE_ERROR_OPEN`, `INVALID_URI`, ...), `code` its errorCode.
    Error { error_type: &'static str, description: String, code: i32 },
}

/// What an element emits for the pipeline to route.
#[derive(Debug)]
pub enum ElementOutput {
    /// Media produced by this element: routed to every sink of its type.
    Media(MediaFrame),
    /// A data-channel message: routed to every DATA sink.
    Data(DataMessage),
    /// This element's media ended (a PlayerEndpoint at the end of its file):
    /// routed once to every sink, of any media type.
    EndOfStream,
    /// This element needs a keyframe: routed to its VIDEO source.
    KeyframeRequest,
    /// This element needs a keyframe of one simulcast layer (its
    /// [`crate::SimulcastLayer::id`]): routed to its VIDEO source, throttled
    /// per layer.
    LayerKeyframeRequest(u8),
    /// This element's peer can take this much video, in bits/s (a REMB it
    /// received, bounded by the element's send bandwidth): routed to its VIDEO
    /// source, which gets the minimum over all its sinks.
    BitrateEstimate(u64),
    /// The minimum and maximum estimates (bits/s) of this element's own
    /// sinks, relayed by an element that only passes media through (a
    /// PassThrough): routed to its VIDEO source like [`Self::BitrateEstimate`]
    /// of the minimum, with the maximum kept for a simulcast publisher.
    SinkEstimates { min: u64, max: u64 },
    /// This element's media of this type now comes from another origin: routed
    /// to its sinks as a source change (a PassThrough relays upstream switches).
    SourceChanged(MediaType),
    Transmit(Transmit),
    Event(ElementEvent),
}

/// One MediaElement inside a pipeline.
///
/// Inputs come in through `handle_*`, outputs leave through `poll_output`
/// (called until `None` after every input). Implementations never block and
/// never panic on network input.
pub trait Element: Send + Any {
    /// True when `datagram` belongs to this element (a STUN ufrag or a known peer).
    fn accepts(&self, _now: Instant, _datagram: &Datagram) -> bool {
        false
    }

    fn handle_datagram(&mut self, _now: Instant, _datagram: Datagram) {}

    fn handle_timeout(&mut self, _now: Instant) {}

    /// Media from this element's source for the frame's type.
    fn handle_media(&mut self, _now: Instant, _frame: &MediaFrame) {}

    /// A source of this element reached the end of its media
    /// (RecorderEndpoint `stopOnEndOfStream` acts on it).
    fn handle_end_of_stream(&mut self, _now: Instant) {}

    /// A data-channel message from this element's DATA source.
    fn handle_data(&mut self, _now: Instant, _message: &DataMessage) {}

    /// A sink of this element needs a video keyframe.
    fn handle_keyframe_request(&mut self, _now: Instant) {}

    /// A sink of this element needs a keyframe of the simulcast layer
    /// `layer`; an element without layers takes it as a plain request.
    fn handle_layer_keyframe_request(&mut self, now: Instant, _layer: u8) {
        self.handle_keyframe_request(now);
    }

    /// True for a sink that picks one simulcast layer per peer itself (a
    /// WebRtcEndpoint with simulcast forwarding on): it gets the frames of
    /// every layer. Other sinks get only the primary layer's.
    fn selects_layers(&self) -> bool {
        false
    }

    /// The source feeding this element with `media_type` was replaced (or the
    /// first one connected): its timestamps start from another origin.
    fn handle_source_changed(&mut self, _now: Instant, _media_type: MediaType) {}

    /// The minimum video bitrate (bits/s) the sinks of this element can take,
    /// from their latest estimates; KMS relays it to the publisher as REMB.
    fn handle_bitrate_estimate(&mut self, _now: Instant, _bitrate: u64) {}

    /// The minimum and maximum video bitrate (bits/s) over the sinks'
    /// latest estimates. A simulcast publisher follows the best-served sink
    /// (the others take a lower layer); every other element the minimum.
    fn handle_sink_estimates(&mut self, now: Instant, min: u64, _max: u64) {
        self.handle_bitrate_estimate(now, min);
    }

    fn poll_output(&mut self) -> Option<ElementOutput>;

    /// The codecs this element takes as a sink of `media_type`, best first,
    /// once known (a WebRtcEndpoint after negotiation, a recorder from its
    /// profile); `None` when it takes anything or does not know yet. A frame
    /// of another codec reaches it through a transcoder.
    fn input_codecs(&self, _media_type: MediaType) -> Option<&[Codec]> {
        None
    }

    /// True for an element whose work only serves its consumers (a
    /// transforming filter): while it has no sink of a media type, the
    /// router does not feed it that type, so nothing is decoded for it.
    fn idle_without_consumers(&self) -> bool {
        false
    }

    /// False for an element whose media is not built: connections to or from
    /// it are refused rather than silently dropping media.
    fn carries_media(&self) -> bool {
        true
    }

    /// isMediaFlowingIn: media of `media_type` is arriving (AUDIO/VIDEO only).
    fn is_media_flowing_in(&self, _media_type: MediaType) -> bool {
        false
    }

    /// isMediaFlowingOut: media of `media_type` is leaving (AUDIO/VIDEO only).
    fn is_media_flowing_out(&self, _media_type: MediaType) -> bool {
        false
    }

    /// The next time `handle_timeout` must be called.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn as_any_mut(&mut self) -> &mut dyn Any;
}
