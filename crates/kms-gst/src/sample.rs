//! GStreamer samples into router frames, and frames into buffers: the one
//! place that maps between a buffer's running time and a frame's media time.

use gstreamer as gst;
use kms_media::{Codec, MediaFrame};
use std::sync::Arc;
use std::time::Instant;

/// RTP clock rate of frames of `codec` (raw video keeps 90 kHz, raw audio 48 kHz).
pub fn clock_rate(codec: Codec) -> u32 {
    match codec {
        Codec::Opus | Codec::RawAudio => 48_000,
        Codec::Pcmu | Codec::Pcma => 8000,
        _ => 90_000,
    }
}

/// A frame of `codec` from an appsink sample: its media time is the
/// buffer's running time (encoders may shift PTS and segment together, as
/// x264enc's 1000 hours) in `codec`'s clock rate; raw frames carry their
/// caps. `None` for a sample without a buffer, time or readable memory.
pub fn frame_from_sample(sample: &gst::Sample, codec: Codec) -> Option<MediaFrame> {
    let buffer = sample.buffer()?;
    let segment = sample.segment().and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
    let pts = buffer.pts()?;
    let running = segment.as_ref().map_or(Some(pts), |s| s.to_running_time(pts))?;
    let map = buffer.map_readable().ok()?;
    let clock_rate = clock_rate(codec);
    let raw_caps = match codec {
        Codec::RawVideo | Codec::RawAudio => sample.caps().map(|c| Arc::from(c.to_string())),
        _ => None,
    };
    Some(MediaFrame {
        codec,
        clock_rate,
        rtp_time: (u128::from(running.nseconds()) * u128::from(clock_rate) / 1_000_000_000) as u64,
        network_time: Instant::now(),
        contiguous: true,
        data: Arc::from(map.as_slice()),
        raw_caps,
        // Only raw frames travel from filter to filter with metadata.
        metadata: matches!(codec, Codec::RawVideo | Codec::RawAudio).then(|| metadata(buffer)).flatten(),
        rtp: Default::default(),
        layer: None,
        spatial: None,
    })
}

/// The custom GstMeta that carries [`MediaFrame::metadata`] on buffers
/// (one string field, `json`), copied by GStreamer's transforms.
const METADATA_META: &str = "KmsMediaMetadata";

fn register_metadata() {
    static REGISTERED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    REGISTERED.get_or_init(|| {
        if !gst::meta::CustomMeta::is_registered(METADATA_META) {
            gst::meta::CustomMeta::register(METADATA_META, &[]);
        }
    });
}

/// The metadata a buffer carries (JSON text).
pub(crate) fn metadata(buffer: &gst::BufferRef) -> Option<Arc<str>> {
    register_metadata();
    let meta = gst::meta::CustomMeta::from_buffer(buffer, METADATA_META).ok()?;
    meta.structure().get::<String>("json").ok().map(Arc::from)
}

/// Attaches (or replaces) a buffer's metadata (JSON text).
pub(crate) fn set_metadata(buffer: &mut gst::BufferRef, json: &str) {
    register_metadata();
    if let Ok(mut meta) = gst::meta::CustomMeta::from_mut_buffer(buffer, METADATA_META) {
        meta.mut_structure().set("json", json);
        return;
    }
    if let Ok(mut meta) = gst::meta::CustomMeta::add(buffer, METADATA_META) {
        meta.mut_structure().set("json", json);
    }
}

/// A buffer holding `frame`'s payload (shared, not copied) at `pts_ns`,
/// flagged as a delta unit when the frame is not a keyframe.
pub fn buffer_from_frame(frame: &MediaFrame, pts_ns: u64) -> gst::Buffer {
    let mut buffer = gst::Buffer::from_slice(frame.data.clone());
    if let Some(b) = buffer.get_mut() {
        b.set_pts(gst::ClockTime::from_nseconds(pts_ns));
        if frame.is_keyframe() == Some(false) {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
        if let Some(json) = &frame.metadata {
            set_metadata(b, json);
        }
    }
    buffer
}
