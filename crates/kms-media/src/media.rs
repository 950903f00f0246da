//! What moves through the pipeline.

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Opus,
    Pcmu,
    Pcma,
    Vp8,
    Vp9,
    H264,
    Av1,
}

impl Codec {
    pub fn media_type(self) -> MediaType {
        match self {
            Codec::Opus | Codec::Pcmu | Codec::Pcma => MediaType::Audio,
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
}

impl MediaFrame {
    pub fn media_type(&self) -> MediaType {
        self.codec.media_type()
    }
}
