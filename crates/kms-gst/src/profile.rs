//! RecorderEndpoint `mediaProfile` (MediaProfileSpecType): which streams are
//! recorded and how they are muxed.
//!
//! Video is not transcoded here: WEBM takes VP8, MP4 and FLV take H.264,
//! MKV either, and the pipeline's transcoder converts anything else before
//! it arrives (see [`MediaProfile::accepted`]). JPEG_VIDEO_ONLY decodes the video and writes each frame as a
//! JPEG image, one after the other (KMS's jifmux muxer). Audio arrives as Opus (or G.711) and is kept where the
//! container takes it (WEBM, MKV) and encoded to AAC where KMS's profile says
//! AAC (MP4, FLV) — an audio-only re-encode is cheap.

use kms_media::{Codec, MediaType};

/// The container of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Webm,
    Mkv,
    Mp4,
    Flv,
    /// JPEG images (JPEG_VIDEO_ONLY).
    Jpeg,
}

impl std::fmt::Display for Container {
    /// The MediaProfileSpecType base name (`WEBM`, `MKV`, `MP4`, `FLV`, `JPEG`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Container::Webm => "WEBM",
            Container::Mkv => "MKV",
            Container::Mp4 => "MP4",
            Container::Flv => "FLV",
            Container::Jpeg => "JPEG",
        })
    }
}

/// A MediaProfileSpecType this recorder can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaProfile {
    pub container: Container,
    pub audio: bool,
    pub video: bool,
}

/// Why a profile or a stream cannot be recorded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("media profile {0} is not supported here")]
    Unsupported(String),
    #[error("{codec} video cannot be recorded as {container} without transcoding; record {instead} instead")]
    VideoCodec { codec: &'static str, container: Container, instead: &'static str },
}

impl MediaProfile {
    /// Parses a MediaProfileSpecType name. KURENTO_SPLIT_RECORDER is not
    /// supported (a clear error, as KMS gives for KSR without its muxer).
    pub fn parse(name: &str) -> Result<MediaProfile, ProfileError> {
        let (base, audio, video) = match name.split_once('_') {
            None => (name, true, true),
            Some((base, "VIDEO_ONLY")) => (base, false, true),
            Some((base, "AUDIO_ONLY")) => (base, true, false),
            Some(_) => return Err(ProfileError::Unsupported(name.into())),
        };
        let container = match base {
            "WEBM" => Container::Webm,
            "MKV" => Container::Mkv,
            "MP4" => Container::Mp4,
            "FLV" if audio && video => Container::Flv,
            "JPEG" if video && !audio => Container::Jpeg,
            _ => return Err(ProfileError::Unsupported(name.into())),
        };
        Ok(MediaProfile { container, audio, video })
    }

    /// The codecs this profile records of `media_type` without converting
    /// them first, best first (the router transcodes others to the first).
    pub fn accepted(self, media_type: MediaType) -> &'static [Codec] {
        match (media_type, self.container) {
            (MediaType::Audio, _) => &[Codec::Opus, Codec::Pcmu, Codec::Pcma],
            (MediaType::Video, Container::Webm) => &[Codec::Vp8],
            (MediaType::Video, Container::Mp4 | Container::Flv) => &[Codec::H264],
            (MediaType::Video, Container::Mkv | Container::Jpeg) => &[Codec::Vp8, Codec::H264],
            (MediaType::Data, _) => &[],
        }
    }

    fn muxer(self) -> &'static str {
        match self.container {
            Container::Webm => "webmmux",
            Container::Mkv => "matroskamux",
            Container::Mp4 => "mp4mux",
            Container::Flv => "flvmux streamable=false",
            Container::Jpeg => "jifmux",
        }
    }

    /// The appsrc caps and parser for recorded video of `codec` (VP8 with
    /// its picture size, which Matroska needs in the caps).
    fn video_branch(self, codec: Codec, size: Option<(u16, u16)>) -> Result<String, ProfileError> {
        let (w, h) = size.unwrap_or((640, 480));
        let vp8 = format!("video/x-vp8,width={w},height={h},framerate=0/1 ! queue");
        let h264 = "video/x-h264,stream-format=byte-stream,alignment=au ! h264parse ! queue".to_owned();
        match (self.container, codec) {
            (Container::Webm | Container::Mkv, Codec::Vp8) => Ok(vp8),
            (Container::Mkv | Container::Mp4 | Container::Flv, Codec::H264) => Ok(h264),
            (Container::Jpeg, Codec::Vp8) => Ok(format!("{vp8} ! vp8dec ! videoconvert ! jpegenc ! queue")),
            (Container::Jpeg, Codec::H264) => Ok(format!("{h264} ! decodebin ! videoconvert ! jpegenc ! queue")),
            (container, codec) => {
                let instead = if codec == Codec::H264 { "MP4 or MKV" } else { "WEBM or MKV" };
                Err(ProfileError::VideoCodec { codec: codec.as_str(), container, instead })
            }
        }
    }

    /// The appsrc caps and conversion for recorded audio of `codec`.
    fn audio_branch(self, codec: Codec) -> Option<String> {
        let caps = match codec {
            Codec::Opus => "audio/x-opus,channel-mapping-family=0,channels=2,rate=48000",
            Codec::Pcmu => "audio/x-mulaw,channels=1,rate=8000",
            Codec::Pcma => "audio/x-alaw,channels=1,rate=8000",
            _ => return None,
        };
        let decode = match codec {
            Codec::Opus => "opusparse ! opusdec",
            Codec::Pcmu => "mulawdec",
            _ => "alawdec",
        };
        let convert = format!("{decode} ! audioconvert ! audioresample");
        Some(match (self.container, codec) {
            (Container::Webm | Container::Mkv, Codec::Opus) => format!("{caps} ! opusparse ! queue"),
            (Container::Webm | Container::Mkv, _) => format!("{caps} ! {convert} ! opusenc ! queue"),
            (Container::Jpeg, _) => return None,
            (Container::Mp4 | Container::Flv, _) => format!("{caps} ! {convert} ! avenc_aac ! aacparse ! queue"),
        })
    }

    /// A `gst-launch` description: appsrcs named `video`/`audio` (for the
    /// streams this profile records, given their codecs) into the muxer, into
    /// `sink` (a sink description, e.g. `filesink location=...`).
    pub fn description(self, video: Option<(Codec, Option<(u16, u16)>)>, audio: Option<Codec>, sink: &str) -> Result<String, ProfileError> {
        // Bounded: past 64 MiB (a stalled upload) the oldest buffers are dropped.
        let src = |name: &str| format!("appsrc name={name} format=time is-live=true max-bytes=67108864 block=false leaky-type=downstream caps=");
        let mut d = format!("{} name=mux ! queue ! {sink}", self.muxer());
        if let (true, Some((codec, size))) = (self.video, video) {
            d += &format!(" {}{} ! mux.", src("video"), self.video_branch(codec, size)?);
        }
        if let (true, Some(codec)) = (self.audio, audio) {
            let branch = self.audio_branch(codec).ok_or_else(|| ProfileError::Unsupported(format!("{codec:?} audio")))?;
            d += &format!(" {}{branch} ! mux.", src("audio"));
        }
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kms_profile_names() {
        assert_eq!(MediaProfile::parse("WEBM"), Ok(MediaProfile { container: Container::Webm, audio: true, video: true }));
        assert_eq!(MediaProfile::parse("MP4_AUDIO_ONLY"), Ok(MediaProfile { container: Container::Mp4, audio: true, video: false }));
        assert_eq!(MediaProfile::parse("MKV_VIDEO_ONLY"), Ok(MediaProfile { container: Container::Mkv, audio: false, video: true }));
        assert_eq!(MediaProfile::parse("JPEG_VIDEO_ONLY"), Ok(MediaProfile { container: Container::Jpeg, audio: false, video: true }));
        for bad in ["JPEG", "JPEG_AUDIO_ONLY", "KURENTO_SPLIT_RECORDER", "AVI", "WEBM_BOTH"] {
            assert!(MediaProfile::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vp8_into_mp4_is_refused_with_a_reason() {
        let mp4 = MediaProfile::parse("MP4").unwrap();
        let err = mp4.description(Some((Codec::Vp8, None)), Some(Codec::Opus), "fakesink").unwrap_err();
        assert!(err.to_string().contains("WEBM or MKV"), "{err}");
        let d = mp4.description(Some((Codec::H264, None)), Some(Codec::Opus), "fakesink").unwrap();
        assert!(d.contains("mp4mux") && d.contains("avenc_aac") && d.contains("h264parse"), "{d}");
    }
}
