//! What moves through the pipeline.

use crate::packetize::RtpPayloads;
use std::sync::Arc;
use std::time::Instant;

/// Kurento's `MediaType`: the kind of a connection and of the media on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaType {
    Audio,
    Video,
    Data,
}

impl MediaType {
    /// All three, in the order KMS connects them when no type is given.
    pub const ALL: [MediaType; 3] = [MediaType::Audio, MediaType::Video, MediaType::Data];

    /// The wire name (`AUDIO`, `VIDEO`, `DATA`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "AUDIO",
            MediaType::Video => "VIDEO",
            MediaType::Data => "DATA",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<MediaType> {
        MediaType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Codecs the forwarding path recognises, by their SDP encoding names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Codec {
    Opus,
    Pcmu,
    Pcma,
    Vp8,
    Vp9,
    H264,
    Av1,
    /// Decoded video travelling between processing elements (filters, hub
    /// inputs); its layout is in the frame's `raw_caps`.
    RawVideo,
    /// Decoded audio between processing elements, described by `raw_caps`.
    RawAudio,
}

impl Codec {
    /// The SDP encoding name (`VP8`, `H264`, `opus`, `PCMU`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::H264 => "H264",
            Codec::Av1 => "AV1",
            Codec::RawVideo | Codec::RawAudio => "RAW",
        }
    }

    pub fn media_type(self) -> MediaType {
        match self {
            Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::RawAudio => MediaType::Audio,
            _ => MediaType::Video,
        }
    }
}

/// One depacketized media frame (a video frame or an audio packet's payload),
/// produced by a source element and shared by every sink it is routed to.
#[derive(Debug, Clone)]
pub struct MediaFrame {
    pub codec: Codec,
    /// RTP clock rate in Hz (90000 for video, 48000 for Opus, 8000 for G.711).
    pub clock_rate: u32,
    /// Media time in `clock_rate` units, unwrapped (monotonic across RTP wraps).
    pub rtp_time: u64,
    /// When the first packet of this frame arrived.
    pub network_time: Instant,
    /// False when packets were lost before this frame: a decoder may need a keyframe.
    pub contiguous: bool,
    /// Codec payload, shared by reference on fan-out.
    pub data: Arc<[u8]>,
    /// For [`Codec::RawVideo`] / [`Codec::RawAudio`]: the GStreamer caps of
    /// the samples (`video/x-raw, format=I420, width=640, height=360, ...`);
    /// `None` for encoded frames.
    pub raw_caps: Option<Arc<str>>,
    /// Metadata a processing element attached to the frame for the ones
    /// after it (JSON text; KMS's serializable buffer meta: KmsDetectFaces
    /// writes the faces it found, KmsShowFaces draws them). Travels with
    /// raw frames from filter to filter.
    pub metadata: Option<Arc<str>>,
    /// The frame cut into RTP payloads on first use, shared by every sink
    /// that sends it as RTP (see [`crate::packetize`]).
    pub rtp: RtpPayloads,
    /// The simulcast layer this frame belongs to, when its publisher sends
    /// several (RFC 8853); `None` for a single stream.
    pub layer: Option<SimulcastLayer>,
    /// The spatial layers a VP9 or AV1 SVC frame carries, when its
    /// publisher encodes several (`scalabilityMode` L2T*/L3T*); `None`
    /// otherwise.
    pub spatial: Option<SpatialLayers>,
}

/// The spatial layers of one SVC frame (VP9, RFC 9628 §4: one picture per
/// spatial layer, lowest first, each after the previous in the frame's
/// data; AV1: a temporal unit whose OBUs name their spatial layer, lowest
/// first, [`crate::av1::spatial_layer_ends`]), as the publishing endpoint
/// tags them. A sink that sends fewer
/// layers cuts the data after the last one it keeps: lower layers never
/// refer to higher ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpatialLayers {
    /// Where each spatial layer ends in `data` (bytes); 0: the layer is not
    /// in this frame.
    pub ends: [u32; MAX_SPATIAL_LAYERS],
    /// The measured bitrate of the layers up to each one (bits/s: index 1
    /// is layers 0 and 1 together); 0 until measured.
    pub bitrates: [u32; MAX_SPATIAL_LAYERS],
}

/// The most spatial layers an SVC frame carries here (VP9 allows 8, AV1's
/// `spatial_id` 4; browsers' scalability modes use at most 3).
pub const MAX_SPATIAL_LAYERS: usize = 3;

/// Which simulcast layer (one `rid` of a publisher's m-line, RFC 8851/8853)
/// a frame belongs to, as the publishing endpoint tags it.
///
/// Sinks that choose a layer per peer ([`crate::Element::selects_layers`])
/// get the frames of every layer; every other sink (recorder, transcoder,
/// filter, hub port) gets only the `primary` one, so layers are never
/// interleaved into one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulcastLayer {
    /// The layer's number at its publisher (the order its rid was first
    /// seen); stable for the publisher's lifetime.
    pub id: u8,
    /// The layer's measured bitrate in bits/s (payload bytes over the last
    /// measuring window, see the publisher); 0 until first measured.
    pub bitrate: u32,
    /// True for the layer routed to sinks that do not select layers: the
    /// best active layer, changed only at a keyframe of the new one.
    pub primary: bool,
}

/// One data-channel message (DATA media), shared by every sink it is routed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMessage {
    /// Label of the channel it arrived on; sinks send it on their channel of
    /// the same label, or on their first open channel.
    pub label: Arc<str>,
    /// Binary (PPID 53) or text (PPID 51), RFC 8831 §6.6.
    pub binary: bool,
    pub data: Arc<[u8]>,
}

impl MediaFrame {
    /// An encoded, contiguous frame: `codec`'s payload at `rtp_time` (in
    /// `clock_rate` units) that arrived at `network_time`.
    pub fn new(codec: Codec, clock_rate: u32, rtp_time: u64, network_time: Instant, data: Arc<[u8]>) -> MediaFrame {
        MediaFrame { codec, clock_rate, rtp_time, network_time, contiguous: true, data, raw_caps: None, metadata: None, rtp: RtpPayloads::default(), layer: None, spatial: None }
    }

    pub fn media_type(&self) -> MediaType {
        self.codec.media_type()
    }

    /// Whether this frame starts a decodable picture: `Some(true)` for a VP8
    /// key frame (RFC 6386 §9.1, P bit clear), a VP9 key frame (VP9
    /// bitstream spec §6.2: uncompressed header with frame_type 0) or an
    /// H.264 access unit with an IDR slice or SPS (Annex B NAL types 5/7, as
    /// depacketized) or an AV1 temporal unit whose first frame header is a
    /// KEY_FRAME ([`crate::av1::is_keyframe`]); `None` when the codec is not
    /// inspected (audio, raw media).
    pub fn is_keyframe(&self) -> Option<bool> {
        match self.codec {
            Codec::Vp8 => Some(self.data.first().is_some_and(|b| b & 0x01 == 0)),
            Codec::Vp9 => Some(self.data.first().is_some_and(|&b| vp9_is_keyframe(b))),
            Codec::H264 => Some(h264_nal_types(&self.data).any(|t| t == 5 || t == 7)),
            Codec::Av1 => Some(crate::av1::is_keyframe(&self.data)),
            _ => None,
        }
    }
}

/// From the first byte of a VP9 frame: frame_marker (2 bits, = 2),
/// profile_low_bit, profile_high_bit, a reserved zero bit for profile 3,
/// show_existing_frame, then frame_type (0 = key frame).
fn vp9_is_keyframe(b: u8) -> bool {
    if b >> 6 != 0b10 {
        return false;
    }
    let profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1);
    let next = if profile == 3 { 2 } else { 3 };
    let show_existing = (b >> next) & 1;
    let frame_type = (b >> (next - 1)) & 1;
    show_existing == 0 && frame_type == 0
}

/// NAL unit types of an Annex B byte stream (after each 00 00 01 start code).
fn h264_nal_types(data: &[u8]) -> impl Iterator<Item = u8> + '_ {
    data.windows(4).filter(|w| w[0] == 0 && w[1] == 0 && w[2] == 1).map(|w| w[3] & 0x1f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(codec: Codec, data: &[u8]) -> MediaFrame {
        MediaFrame::new(codec, 90_000, 0, Instant::now(), Arc::from(data))
    }

    #[test]
    fn keyframes_are_recognised_per_codec() {
        // VP9 profile 0: marker 10, profile bits 00, show_existing 0, frame_type 0 (key) / 1 (inter).
        assert_eq!(frame(Codec::Vp9, &[0x82, 0x49, 0x83]).is_keyframe(), Some(true));
        assert_eq!(frame(Codec::Vp9, &[0x86, 0x00]).is_keyframe(), Some(false));
        assert_eq!(frame(Codec::Vp9, &[0x88]).is_keyframe(), Some(false), "show_existing_frame repeats a frame");
        assert_eq!(frame(Codec::Vp9, &[]).is_keyframe(), Some(false));
        assert_eq!(frame(Codec::Vp8, &[0x10, 0, 0]).is_keyframe(), Some(true));
        assert_eq!(frame(Codec::H264, &[0, 0, 0, 1, 0x67, 0, 0, 1, 0x65]).is_keyframe(), Some(true));
        assert_eq!(frame(Codec::H264, &[0, 0, 0, 1, 0x41]).is_keyframe(), Some(false));
        assert_eq!(frame(Codec::Opus, &[1]).is_keyframe(), None);
    }
}
