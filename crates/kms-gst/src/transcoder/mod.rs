//! Transcoders on GStreamer: one decoder island per (source, media type) and
//! one encoder island per target format, as KMS's agnosticbin builds a
//! decoder and an encoder tree per format.
//!
//! ```text
//!  frames ─► appsrc ! decoder ! appsink ══raw══╦═► appsrc ! convert ! encoder ! appsink ─► frames (format A)
//!                                              ╚═► appsrc ! convert ! encoder ! appsink ─► frames (format B)
//! ```
//!
//! Decoded buffers go from the decoder's streaming thread straight into each
//! encoder's appsrc (shared by reference, never through the media worker);
//! every appsrc runs its own streaming thread, so the worker only queues
//! input and collects output. Input is bounded: a decoder that falls behind
//! drops frames until the next keyframe (and asks for one); an encoder that
//! falls behind drops raw frames (leaky appsrc). Input media time is carried
//! as buffer PTS, so output frames keep the source's timeline in the output
//! clock rate.
//!
//! Processing elements exchange raw frames ([`Codec::RawVideo`] /
//! [`Codec::RawAudio`]): a raw target hands the decoder's samples to the
//! router (one copy per frame) instead of encoding them, and a raw source
//! (a filter's output) has no decoder, its frames go straight to the
//! encoders. A chain of filters thus decodes once and encodes once.

mod codecs;

pub use codecs::{launch_decoder, launch_encoder};

use crate::island::{Island, Waker};
use gstreamer as gst;
use gstreamer_app as gst_app;
use gst::prelude::*;
use crate::sample::{buffer_from_frame, frame_from_sample};
use kms_media::{Codec, ElementEvent, ElementId, ElementOutput, MediaFrame, MediaType, TargetFormat, Transcoder, TranscoderFactory, TranscoderOutput};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Encoded frames waiting in the decoder's appsrc before input is dropped.
const DECODER_QUEUE: u64 = 30;
/// Raw frames waiting in an encoder's appsrc before the oldest are dropped.
const ENCODER_QUEUE: u64 = 3;
/// Raw audio buffers (20 ms each) waiting in an encoder's appsrc.
const AUDIO_ENCODER_QUEUE: u64 = 25;
/// Input arrival times remembered to stamp output frames (latencyStats).
const ARRIVALS: usize = 256;

/// Builds [`GstTranscoder`]s for one pipeline.
pub struct GstTranscoderFactory {
    /// A waker that makes the media worker poll the transcoder of this id.
    waker_for: Box<dyn Fn(ElementId) -> Waker + Send>,
}

impl GstTranscoderFactory {
    pub fn new(waker_for: impl Fn(ElementId) -> Waker + Send + 'static) -> GstTranscoderFactory {
        GstTranscoderFactory { waker_for: Box::new(waker_for) }
    }
}

impl TranscoderFactory for GstTranscoderFactory {
    fn can_encode(&self, codec: Codec) -> bool {
        codecs::supported(codec, true)
    }

    fn can_decode(&self, codec: Codec) -> bool {
        codecs::supported(codec, false)
    }

    fn create(&self, id: ElementId, media_type: MediaType, input: Codec) -> Result<Box<dyn Transcoder>, String> {
        crate::init()?;
        let t = GstTranscoder::new(id, media_type, input, (self.waker_for)(id))?;
        Ok(Box::new(t))
    }
}

/// One encoder island.
struct Branch {
    format: TargetFormat,
    appsrc: gst_app::AppSrc,
    encoder: gst::Element,
    island: Island,
    /// A frame-rate ceiling (ns between frames) and when the next frame is due.
    min_interval: Option<u64>,
    next_due: Option<u64>,
}

impl Branch {
    /// Whether a raw frame at `pts` (ns) goes to this encoder: always, or at
    /// the forced frame rate (frames are dropped here; a quarter interval of
    /// slack keeps a 30 fps source at 15 fps, not 10; a jump back restarts).
    fn takes(&mut self, pts: Option<u64>) -> bool {
        let (Some(interval), Some(pts)) = (self.min_interval, pts) else { return true };
        if let Some(due) = self.next_due {
            if pts + interval / 4 < due && due - pts <= 2 * interval {
                return false;
            }
        }
        let due = self.next_due.filter(|d| d.saturating_sub(pts) <= 2 * interval).map_or(pts, |d| d.max(pts.saturating_sub(interval / 2)));
        self.next_due = Some(due + interval);
        true
    }
}

/// What the decoder's streaming thread shares with the worker.
#[derive(Default)]
struct Outputs {
    branches: Vec<Branch>,
    /// A sink takes raw frames (a filter, a hub input): decoded samples are
    /// also handed to the router.
    raw_wanted: bool,
}

type Shared = Arc<Mutex<Outputs>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Outputs> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where input frames go.
enum Input {
    /// Encoded frames: a decoder island whose output feeds the encoders.
    Decoder { island: Island, appsrc: gst_app::AppSrc },
    /// Raw frames (a processing element's output): straight to the encoders,
    /// with the caps they arrived with.
    Raw { caps: Option<(Arc<str>, gst::Caps)> },
}

/// A decoder (or raw input) and its encoders for one (source, media type).
pub struct GstTranscoder {
    bin_name: String,
    media_type: MediaType,
    input_codec: Codec,
    waker: Waker,
    input: Input,
    shared: Shared,
    /// Media time of the first input frame (input clock rate) and that rate.
    base: Option<(u64, u32)>,
    /// Input is skipped until a keyframe (at start, after loss or a drop).
    waiting_keyframe: bool,
    arrivals: VecDeque<(u64, Instant)>,
    out: VecDeque<TranscoderOutput>,
}

fn launch(description: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(description)
        .map_err(|e| format!("{description}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| format!("{description}: not a pipeline"))
}

fn appsrc(pipeline: &gst::Pipeline) -> Result<gst_app::AppSrc, String> {
    pipeline.by_name("src").and_then(|e| e.downcast::<gst_app::AppSrc>().ok()).ok_or_else(|| "no appsrc".to_owned())
}

fn appsink(pipeline: &gst::Pipeline) -> Result<gst_app::AppSink, String> {
    pipeline.by_name("sink").and_then(|e| e.downcast::<gst_app::AppSink>().ok()).ok_or_else(|| "no appsink".to_owned())
}

/// The raw codec of a media type.
fn raw_codec(media_type: MediaType) -> Codec {
    if media_type == MediaType::Video {
        Codec::RawVideo
    } else {
        Codec::RawAudio
    }
}

/// A decoder island for `input`: its samples go to every encoder branch
/// (and, when wanted, to the router as raw frames); its keyframe requests
/// (GstForceKeyUnit going upstream) reach the source.
fn decoder(input: Codec, media_type: MediaType, shared: &Shared, waker: &Waker) -> Result<Input, String> {
    let (caps, chain) = codecs::decoder(input).ok_or_else(|| format!("{} is not decoded here", input.as_str()))?;
    let description = format!(
        "appsrc name=src format=time is-live=true do-timestamp=false block=false max-buffers={DECODER_QUEUE} caps={caps} \
         ! {chain} ! appsink name=sink sync=false async=false"
    );
    let pipeline = launch(&description)?;
    let appsrc = appsrc(&pipeline)?;
    if let Some(dec) = pipeline.by_name("dec") {
        // Corrupt input costs a keyframe request, never the transcoder
        // (GstVideoDecoder gives up after 10 errors by default).
        for (name, value) in [("max-errors", (-1i32).to_value()), ("automatic-request-sync-points", true.to_value()), ("discard-corrupted-frames", true.to_value())] {
            if dec.find_property(name).is_some() {
                dec.set_property_from_value(name, &value);
            }
        }
    }
    let island = Island::new(pipeline, waker.clone());
    let outbox = island.outbox.clone();
    if let Some(pad) = appsrc.static_pad("src") {
        let outbox = outbox.clone();
        pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(e)) = &info.data {
                if e.structure().is_some_and(|s| s.name() == "GstForceKeyUnit") {
                    outbox.push(ElementOutput::KeyframeRequest);
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    let (shared, raw) = (shared.clone(), raw_codec(media_type));
    appsink(&island.pipeline)?.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let mut outputs = lock(&shared);
                let pts = sample.buffer().and_then(|b| b.pts()).map(gst::ClockTime::nseconds);
                for b in outputs.branches.iter_mut() {
                    if b.takes(pts) {
                        // Full appsrcs drop their oldest raw frame (leaky).
                        let _ = b.appsrc.push_sample(&sample);
                    }
                }
                if outputs.raw_wanted {
                    if let Some(frame) = frame_from_sample(&sample, raw) {
                        outbox.push(ElementOutput::Media(frame));
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    island.pipeline.set_state(gst::State::Playing).map_err(|e| format!("decoder for {}: {e}", input.as_str()))?;
    Ok(Input::Decoder { island, appsrc })
}

impl GstTranscoder {
    fn new(id: ElementId, media_type: MediaType, input_codec: Codec, waker: Waker) -> Result<GstTranscoder, String> {
        let shared = Shared::default();
        let input = if input_codec == raw_codec(media_type) { Input::Raw { caps: None } } else { decoder(input_codec, media_type, &shared, &waker)? };
        Ok(GstTranscoder {
            bin_name: format!("transcoder{}-{}", id.0, media_type.as_str().to_lowercase()),
            media_type,
            input_codec,
            waker,
            input,
            shared,
            base: None,
            waiting_keyframe: media_type == MediaType::Video,
            arrivals: VecDeque::new(),
            out: VecDeque::new(),
        })
    }

    fn branch(&self, format: TargetFormat) -> Result<Branch, String> {
        let chain = codecs::encoder(format).ok_or_else(|| format!("{format} is not encoded here"))?;
        let queue = if self.media_type == MediaType::Video { ENCODER_QUEUE } else { AUDIO_ENCODER_QUEUE };
        let description = format!(
            "appsrc name=src format=time is-live=true do-timestamp=false block=false max-buffers={queue} leaky-type=downstream \
             ! {chain} ! appsink name=sink sync=false async=false"
        );
        let pipeline = launch(&description)?;
        let appsrc = appsrc(&pipeline)?;
        if let Input::Raw { caps: Some((_, caps)) } = &self.input {
            appsrc.set_caps(Some(caps));
        }
        let encoder = pipeline.by_name("enc").ok_or_else(|| "no encoder".to_owned())?;
        let island = Island::new(pipeline, self.waker.clone());
        let (outbox, codec) = (island.outbox.clone(), format.codec);
        appsink(&island.pipeline)?.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    // Relative to the first input frame; the base is added on the worker.
                    if let Some(frame) = frame_from_sample(&sample, codec) {
                        outbox.push(ElementOutput::Media(frame));
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        island.pipeline.set_state(gst::State::Playing).map_err(|e| format!("encoder for {format}: {e}"))?;
        Ok(Branch { format, appsrc, encoder, island, min_interval: codecs::min_frame_interval(format), next_due: None })
    }

    /// An output frame: its media time continues the input's timeline in
    /// the output clock rate, its arrival is the input frame's.
    fn finish_frame(&self, mut frame: MediaFrame) -> MediaFrame {
        if let Some((base, rate)) = self.base {
            let scaled = u128::from(base) * u128::from(frame.clock_rate) / u128::from(rate.max(1));
            let relative_ns = u128::from(frame.rtp_time) * 1_000_000_000 / u128::from(frame.clock_rate.max(1));
            frame.rtp_time = frame.rtp_time.wrapping_add(scaled as u64);
            if let Some((_, at)) = self.arrivals.iter().find(|(pts, _)| u128::from(*pts) >= relative_ns) {
                frame.network_time = *at;
            }
        }
        frame
    }

    fn error(&mut self, description: String) {
        tracing::warn!(bin = %self.bin_name, "{description}");
        self.out.push_back(TranscoderOutput::Error(ElementEvent::Error { error_type: "STREAM_ERROR_ENCODE", description, code: 8 }));
    }

    /// Raw input: straight into every encoder, with its caps when they change.
    fn push_raw(&mut self, frame: &MediaFrame, buffer: gst::Buffer) {
        let Input::Raw { caps } = &mut self.input else { return };
        let Some(text) = &frame.raw_caps else { return };
        if caps.as_ref().is_none_or(|(known, _)| known != text) {
            match text.parse::<gst::Caps>() {
                Ok(parsed) => {
                    for b in &lock(&self.shared).branches {
                        b.appsrc.set_caps(Some(&parsed));
                    }
                    *caps = Some((text.clone(), parsed));
                }
                Err(_) => return tracing::debug!(bin = %self.bin_name, "raw frame with unreadable caps dropped: {text}"),
            }
        }
        let pts = buffer.pts().map(gst::ClockTime::nseconds);
        for b in lock(&self.shared).branches.iter_mut() {
            if b.takes(pts) {
                let _ = b.appsrc.push_buffer(buffer.clone());
            }
        }
    }
}

impl Transcoder for GstTranscoder {
    fn bin_name(&self) -> &str {
        &self.bin_name
    }

    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        if frame.codec != self.input_codec {
            return;
        }
        if !frame.contiguous && self.media_type == MediaType::Video {
            self.waiting_keyframe = true;
        }
        if self.waiting_keyframe {
            if frame.is_keyframe() == Some(false) {
                self.out.push_back(TranscoderOutput::KeyframeRequest);
                return;
            }
            self.waiting_keyframe = false;
        }
        if let Input::Decoder { appsrc, .. } = &self.input {
            if appsrc.current_level_buffers() >= DECODER_QUEUE {
                // The decoder cannot keep up: drop, and restart at a keyframe.
                tracing::debug!(bin = %self.bin_name, "decoder behind: input dropped");
                self.waiting_keyframe = self.media_type == MediaType::Video;
                return;
            }
        }
        let (base, rate) = *self.base.get_or_insert((frame.rtp_time, frame.clock_rate.max(1)));
        let pts = (u128::from(frame.rtp_time.saturating_sub(base)) * 1_000_000_000 / u128::from(rate)) as u64;
        if self.arrivals.len() == ARRIVALS {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((pts, frame.network_time.min(now)));
        let buffer = buffer_from_frame(frame, pts);
        match &self.input {
            Input::Decoder { appsrc, .. } => {
                if let Err(e) = appsrc.push_buffer(buffer) {
                    tracing::debug!(bin = %self.bin_name, "decoder push: {e:?}");
                }
            }
            Input::Raw { .. } => self.push_raw(frame, buffer),
        }
    }

    fn set_targets(&mut self, targets: &[TargetFormat]) {
        let raw = raw_codec(self.media_type);
        let mut outputs = lock(&self.shared);
        outputs.raw_wanted = targets.iter().any(|t| t.codec == raw);
        // Dropped branches stop on the teardown thread (Island's Drop).
        outputs.branches.retain(|b| targets.contains(&b.format));
        let missing: Vec<TargetFormat> = targets.iter().filter(|t| t.codec != raw && !outputs.branches.iter().any(|b| b.format == **t)).copied().collect();
        drop(outputs);
        for format in missing {
            match self.branch(format) {
                Ok(b) => lock(&self.shared).branches.push(b),
                Err(e) => self.error(e),
            }
        }
        // A new encoder's first frame is a keyframe: its new sinks start there.
    }

    fn request_keyframe(&mut self, target: TargetFormat) {
        // Raw targets need none: every raw frame stands alone.
        if let Some(b) = lock(&self.shared).branches.iter().find(|b| b.format == target) {
            let event = gst::event::CustomUpstream::new(gst::Structure::builder("GstForceKeyUnit").field("all-headers", true).build());
            b.encoder.send_event(event);
        }
    }

    fn set_bitrate(&mut self, target: TargetFormat, bitrate: u64) {
        if let Some(b) = lock(&self.shared).branches.iter().find(|b| b.format == target) {
            codecs::set_bitrate(&b.encoder, target.codec, bitrate);
        }
    }

    fn poll_output(&mut self) -> Option<TranscoderOutput> {
        loop {
            if let Some(out) = self.out.pop_front() {
                return Some(out);
            }
            if let Input::Decoder { island, .. } = &self.input {
                if let Some(out) = island.try_recv() {
                    match out {
                        ElementOutput::Media(frame) => {
                            let frame = self.finish_frame(frame);
                            return Some(TranscoderOutput::Media(TargetFormat::codec(frame.codec), frame));
                        }
                        ElementOutput::KeyframeRequest => self.out.push_back(TranscoderOutput::KeyframeRequest),
                        ElementOutput::Event(e @ ElementEvent::Error { .. }) => self.out.push_back(TranscoderOutput::Error(e)),
                        _ => {}
                    }
                    continue;
                }
            }
            let found = lock(&self.shared).branches.iter().find_map(|b| b.island.try_recv().map(|out| (b.format, out)));
            let (format, out) = found?;
            match out {
                ElementOutput::Media(frame) => return Some(TranscoderOutput::Media(format, self.finish_frame(frame))),
                ElementOutput::Event(e @ ElementEvent::Error { .. }) => return Some(TranscoderOutput::Error(e)),
                _ => {}
            }
        }
    }

    fn describe(&self) -> Vec<String> {
        let name = |e: Option<gst::Element>| e.and_then(|e| e.factory()).map_or_else(|| "?".to_owned(), |f| f.name().to_string());
        let first = match &self.input {
            Input::Decoder { island, .. } => format!("{} -> {}", self.input_codec.as_str(), name(island.pipeline.by_name("dec"))),
            Input::Raw { .. } => "RAW in (no decoder)".to_owned(),
        };
        let outputs = lock(&self.shared);
        let mut lines = vec![first];
        if outputs.raw_wanted {
            lines.push("RAW out (decoded frames)".to_owned());
        }
        lines.extend(outputs.branches.iter().map(|b| format!("{} <- {}", b.format, name(Some(b.encoder.clone())))));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forced_rate_halves_30_fps_to_15() {
        gst::init().unwrap();
        let pipeline = gst::Pipeline::new();
        let appsrc = gst_app::AppSrc::builder().build();
        let encoder = gst::ElementFactory::make("identity").build().unwrap();
        let waker: Waker = Arc::new(|| {});
        let mut b = Branch { format: TargetFormat::codec(Codec::Vp8), appsrc, encoder, island: Island::new(pipeline, waker), min_interval: Some(66_666_666), next_due: None };
        let fed = (0..30u64).filter(|i| b.takes(Some(i * 33_333_333))).count();
        assert_eq!(fed, 15);
        assert!(b.takes(Some(5_000_000_000)), "after a gap");
        assert!(b.takes(Some(10)), "after a jump back");
    }
}
