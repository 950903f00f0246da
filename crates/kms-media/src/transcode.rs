//! Transcoding on demand: the contract between the router and a transcoder.
//!
//! KMS puts an `agnosticbin` at every element's output: media reaches each
//! sink in a format the sink accepts, decoded and encoded again only when the
//! formats differ. Here the router decides per frame and per sink (see
//! [`crate::Pipeline`]): a sink that takes the frame's codec gets the frame
//! itself; any other sink gets it through the one [`Transcoder`] of its
//! (source, media type), which decodes once and encodes once per
//! [`TargetFormat`], shared by every sink that wants that format.
//!
//! Transcoders are built by a [`TranscoderFactory`] the I/O shell provides
//! (GStreamer, in `kms-gst`); this crate never decodes anything itself.

use crate::element::ElementEvent;
use crate::graph::ElementId;
use crate::media::{Codec, MediaFrame, MediaType};
use std::time::Instant;

/// One encoded output of a transcoder: a codec and, for video, an optional
/// frame rate (`setVideoFormat`'s VideoCaps `framerate`, as numerator and
/// denominator in frames per second). Every sink wanting the same format
/// shares one encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetFormat {
    pub codec: Codec,
    pub framerate: Option<(u32, u32)>,
}

impl TargetFormat {
    /// `codec` at the source's frame rate.
    pub fn codec(codec: Codec) -> TargetFormat {
        TargetFormat { codec, framerate: None }
    }
}

impl std::fmt::Display for TargetFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.codec.as_str())?;
        if let Some((n, d)) = self.framerate {
            write!(f, " @{n}/{d} fps")?;
        }
        Ok(())
    }
}

/// Encoder bitrate settings of a source element, bits/s: KMS's
/// `encoderBitrate` (where a video encoder starts, 300 kbps by default) and
/// `minEncoderBitrate` / `maxEncoderBitrate` (0 = no maximum), the bounds the
/// sinks' estimates (REMB) move it within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderBitrate {
    pub start: u64,
    pub min: u64,
    pub max: u64,
}

impl EncoderBitrate {
    /// KMS's defaults (`MediaElementImpl`, agnosticbin's default target).
    pub const DEFAULT: EncoderBitrate = EncoderBitrate { start: 300_000, min: 0, max: 0 };

    /// `bitrate` inside the bounds.
    pub fn clamp(&self, bitrate: u64) -> u64 {
        let upper = if self.max == 0 { u64::MAX } else { self.max };
        bitrate.min(upper).max(self.min)
    }
}

impl Default for EncoderBitrate {
    fn default() -> Self {
        EncoderBitrate::DEFAULT
    }
}

/// What a transcoder hands back to the router.
#[derive(Debug)]
pub enum TranscoderOutput {
    /// An encoded frame of one target format, routed to that format's sinks.
    /// Its `rtp_time` is the input's media time in the output clock rate, so
    /// a sink moving between the source and the transcoder keeps its timeline.
    Media(TargetFormat, MediaFrame),
    /// The decoder needs a keyframe: routed to the source (throttled).
    KeyframeRequest,
    /// A failure (KMS's `Error` event), raised on the source element.
    Error(ElementEvent),
}

/// One decoder for one (source, media type) and one encoder per target
/// format. Implementations decode and encode on threads of their own, never
/// on the caller's: `handle_media` only queues, and a transcoder that cannot
/// keep up drops frames (and asks for a keyframe) instead of queueing without
/// bound. Outputs are collected with `poll_output` after a wake-up.
pub trait Transcoder: Send {
    /// The name reported as `binName` in MediaTranscodingStateChanged and
    /// matched by `isMediaTranscoding`.
    fn bin_name(&self) -> &str;

    /// An input frame (of the codec the transcoder was built for).
    fn handle_media(&mut self, now: Instant, frame: &MediaFrame);

    /// The outputs wanted from now on: encoders are built for new formats and
    /// torn down (threads and memory back) for formats no longer listed.
    fn set_targets(&mut self, targets: &[TargetFormat]);

    /// A sink of `target` needs a keyframe: the encoder forces a key unit.
    fn request_keyframe(&mut self, target: TargetFormat);

    /// The encoder of `target` should aim at `bitrate` bits/s.
    fn set_bitrate(&mut self, target: TargetFormat, bitrate: u64);

    fn poll_output(&mut self) -> Option<TranscoderOutput>;

    /// One line per stage for MediaPipeline.getGstreamerDot (`VP8 -> vp8dec`,
    /// `H264 <- x264enc`, ...).
    fn describe(&self) -> Vec<String>;
}

/// Builds transcoders for a pipeline; provided by the I/O shell.
pub trait TranscoderFactory: Send {
    /// Whether frames of `codec` can be produced (an encoder exists).
    fn can_encode(&self, codec: Codec) -> bool;

    /// Whether frames of `codec` can be decoded.
    fn can_decode(&self, codec: Codec) -> bool;

    /// A transcoder from `input`; `id` is the id its wake-ups name (see
    /// [`crate::Pipeline::wake`]). Errors are a description for the log and
    /// the `Error` event.
    fn create(&self, id: ElementId, media_type: MediaType, input: Codec) -> Result<Box<dyn Transcoder>, String>;
}

/// How one frame reaches one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRoute {
    /// As it is: the sink takes the codec (or takes anything, or has not
    /// negotiated yet and drops media by itself).
    Direct,
    /// Through the source's transcoder, in this format.
    Convert(TargetFormat),
    /// No conversion exists to anything the sink takes.
    Impossible,
}

/// Decides the route of a frame of `codec` to a sink that takes `accepted`
/// (best first; `None` = anything), given the source's forced output format
/// (`setVideoFormat` / `setAudioFormat`) and what can be encoded. KMS's
/// agnosticbin rule: pass through when the sink can take the codec,
/// otherwise encode to the sink's preferred codec.
pub fn route(codec: Codec, accepted: Option<&[Codec]>, forced: Option<TargetFormat>, can_encode: impl Fn(Codec) -> bool) -> InputRoute {
    let takes = |c: Codec| accepted.is_none_or(|list| list.contains(&c));
    if let Some(f) = forced.filter(|f| takes(f.codec)) {
        if f.codec == codec && f.framerate.is_none() {
            return InputRoute::Direct;
        }
        return if can_encode(f.codec) { InputRoute::Convert(f) } else { InputRoute::Impossible };
    }
    match accepted {
        None => InputRoute::Direct,
        // Negotiated nothing of this media type: the sink drops it itself.
        Some([]) => InputRoute::Direct,
        Some(list) if list.contains(&codec) => InputRoute::Direct,
        Some(list) => list
            .iter()
            .copied()
            .find(|c| c.media_type() == codec.media_type() && can_encode(*c))
            .map_or(InputRoute::Impossible, |c| InputRoute::Convert(TargetFormat::codec(c))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(_: Codec) -> bool {
        true
    }

    #[test]
    fn matching_codecs_pass_through() {
        assert_eq!(route(Codec::Vp8, Some(&[Codec::H264, Codec::Vp8]), None, any), InputRoute::Direct);
        assert_eq!(route(Codec::Vp8, None, None, any), InputRoute::Direct);
    }

    #[test]
    fn a_mismatch_converts_to_the_sinks_preferred_codec() {
        let r = route(Codec::Vp8, Some(&[Codec::H264, Codec::Vp9]), None, any);
        assert_eq!(r, InputRoute::Convert(TargetFormat::codec(Codec::H264)));
        let r = route(Codec::Vp8, Some(&[Codec::H264, Codec::Vp9]), None, |c| c == Codec::Vp9);
        assert_eq!(r, InputRoute::Convert(TargetFormat::codec(Codec::Vp9)));
        assert_eq!(route(Codec::Vp8, Some(&[Codec::H264]), None, |_| false), InputRoute::Impossible);
        assert_eq!(route(Codec::Opus, Some(&[Codec::Pcmu]), None, any), InputRoute::Convert(TargetFormat::codec(Codec::Pcmu)));
    }

    #[test]
    fn a_forced_format_wins_when_the_sink_takes_it() {
        let small = TargetFormat { codec: Codec::Vp8, framerate: Some((15, 1)) };
        assert_eq!(route(Codec::Vp8, Some(&[Codec::Vp8]), Some(small), any), InputRoute::Convert(small));
        assert_eq!(route(Codec::Vp8, None, Some(TargetFormat::codec(Codec::Vp8)), any), InputRoute::Direct);
        // The sink cannot take the forced codec: its own preference decides.
        let h264 = TargetFormat::codec(Codec::H264);
        assert_eq!(route(Codec::Vp8, Some(&[Codec::Vp8]), Some(h264), any), InputRoute::Direct);
    }

    #[test]
    fn bounds_clamp_with_zero_as_unbounded() {
        assert_eq!(EncoderBitrate::DEFAULT.clamp(5_000_000), 5_000_000);
        let b = EncoderBitrate { start: 300_000, min: 100_000, max: 500_000 };
        assert_eq!(b.clamp(10), 100_000);
        assert_eq!(b.clamp(900_000), 500_000);
    }
}
