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

mod codecs;

pub use codecs::launch_chain;

use crate::island::{Island, Waker};
use gstreamer as gst;
use gstreamer_app as gst_app;
use gst::prelude::*;
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
        crate::init().is_ok() && codecs::encoder(TargetFormat::codec(codec)).is_some() && codecs::available(codec, true)
    }

    fn can_decode(&self, codec: Codec) -> bool {
        crate::init().is_ok() && codecs::decoder(codec).is_some() && codecs::available(codec, false)
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
}

/// Encoder branches, shared with the decoder's streaming thread.
type Branches = Arc<Mutex<Vec<Branch>>>;

/// A decoder and its encoders for one (source, media type).
pub struct GstTranscoder {
    bin_name: String,
    media_type: MediaType,
    input: Codec,
    waker: Waker,
    decoder: Island,
    appsrc: gst_app::AppSrc,
    branches: Branches,
    /// Media time of the first input frame (input clock rate) and that rate.
    base: Option<(u64, u32)>,
    /// Input is skipped until a keyframe (at start, after loss or a drop).
    waiting_keyframe: bool,
    arrivals: VecDeque<(u64, Instant)>,
    out: VecDeque<TranscoderOutput>,
}

fn lock(branches: &Branches) -> std::sync::MutexGuard<'_, Vec<Branch>> {
    branches.lock().unwrap_or_else(|e| e.into_inner())
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

impl GstTranscoder {
    fn new(id: ElementId, media_type: MediaType, input: Codec, waker: Waker) -> Result<GstTranscoder, String> {
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
        let decoder = Island::new(pipeline, waker.clone());
        // The decoder's keyframe requests (GstForceKeyUnit going upstream) reach the source.
        let outbox = decoder.outbox.clone();
        if let Some(pad) = appsrc.static_pad("src") {
            pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                if let Some(gst::PadProbeData::Event(e)) = &info.data {
                    if e.structure().is_some_and(|s| s.name() == "GstForceKeyUnit") {
                        outbox.push(ElementOutput::KeyframeRequest);
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }
        let branches: Branches = Arc::default();
        let shared = branches.clone();
        appsink(&decoder.pipeline)?.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    for b in lock(&shared).iter() {
                        // Full appsrcs drop their oldest raw frame (leaky).
                        let _ = b.appsrc.push_sample(&sample);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        decoder.pipeline.set_state(gst::State::Playing).map_err(|e| format!("decoder for {}: {e}", input.as_str()))?;
        Ok(GstTranscoder {
            bin_name: format!("transcoder{}-{}", id.0, media_type.as_str().to_lowercase()),
            media_type,
            input,
            waker,
            decoder,
            appsrc,
            branches,
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
        let encoder = pipeline.by_name("enc").ok_or_else(|| "no encoder".to_owned())?;
        let island = Island::new(pipeline, self.waker.clone());
        let (outbox, codec) = (island.outbox.clone(), format.codec);
        let clock_rate = clock_rate(codec);
        appsink(&island.pipeline)?.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let Some(buffer) = sample.buffer() else { return Ok(gst::FlowSuccess::Ok) };
                    let Ok(map) = buffer.map_readable() else { return Ok(gst::FlowSuccess::Ok) };
                    // Running time: encoders may shift PTS and segment (x264enc
                    // adds 1000 h); the running time is the input's timeline.
                    let segment = sample.segment().and_then(|s| s.downcast_ref::<gst::ClockTime>().cloned());
                    let pts = buffer.pts().and_then(|t| segment.as_ref().map_or(Some(t), |s| s.to_running_time(t))).map_or(0, gst::ClockTime::nseconds);
                    outbox.push(ElementOutput::Media(MediaFrame {
                        codec,
                        clock_rate,
                        // Relative to the first input frame; the base is added on the worker.
                        rtp_time: (u128::from(pts) * u128::from(clock_rate) / 1_000_000_000) as u64,
                        network_time: Instant::now(),
                        contiguous: true,
                        data: Arc::from(map.as_slice()),
                    }));
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        island.pipeline.set_state(gst::State::Playing).map_err(|e| format!("encoder for {format}: {e}"))?;
        Ok(Branch { format, appsrc, encoder, island })
    }

    /// An encoded output: its media time continues the input's timeline in
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
}

/// RTP clock rate of frames of `codec`.
fn clock_rate(codec: Codec) -> u32 {
    match codec {
        Codec::Opus => 48_000,
        Codec::Pcmu | Codec::Pcma => 8000,
        _ => 90_000,
    }
}

impl Transcoder for GstTranscoder {
    fn bin_name(&self) -> &str {
        &self.bin_name
    }

    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        if frame.codec != self.input {
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
        if self.appsrc.current_level_buffers() >= DECODER_QUEUE {
            // The decoder cannot keep up: drop, and restart at a keyframe.
            tracing::debug!(bin = %self.bin_name, "decoder behind: input dropped");
            self.waiting_keyframe = self.media_type == MediaType::Video;
            return;
        }
        let (base, rate) = *self.base.get_or_insert((frame.rtp_time, frame.clock_rate.max(1)));
        let pts = u128::from(frame.rtp_time.saturating_sub(base)) * 1_000_000_000 / u128::from(rate);
        let pts = pts as u64;
        if self.arrivals.len() == ARRIVALS {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((pts, frame.network_time.min(now)));
        let mut buffer = gst::Buffer::from_slice(frame.data.clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            if frame.is_keyframe() == Some(false) {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        if let Err(e) = self.appsrc.push_buffer(buffer) {
            tracing::debug!(bin = %self.bin_name, "decoder push: {e:?}");
        }
    }

    fn set_targets(&mut self, targets: &[TargetFormat]) {
        let mut branches = lock(&self.branches);
        // Dropped branches stop on the teardown thread (Island's Drop).
        branches.retain(|b| targets.contains(&b.format));
        let missing: Vec<TargetFormat> = targets.iter().filter(|t| !branches.iter().any(|b| b.format == **t)).copied().collect();
        drop(branches);
        for format in missing {
            match self.branch(format) {
                Ok(b) => lock(&self.branches).push(b),
                Err(e) => self.error(e),
            }
        }
        // A new encoder's first frame is a keyframe: its new sinks start there.
    }

    fn request_keyframe(&mut self, target: TargetFormat) {
        if let Some(b) = lock(&self.branches).iter().find(|b| b.format == target) {
            let event = gst::event::CustomUpstream::new(gst::Structure::builder("GstForceKeyUnit").field("all-headers", true).build());
            b.encoder.send_event(event);
        }
    }

    fn set_bitrate(&mut self, target: TargetFormat, bitrate: u64) {
        if let Some(b) = lock(&self.branches).iter().find(|b| b.format == target) {
            codecs::set_bitrate(&b.encoder, target.codec, bitrate);
        }
    }

    fn poll_output(&mut self) -> Option<TranscoderOutput> {
        loop {
            if let Some(out) = self.out.pop_front() {
                return Some(out);
            }
            if let Some(out) = self.decoder.try_recv() {
                match out {
                    ElementOutput::KeyframeRequest => self.out.push_back(TranscoderOutput::KeyframeRequest),
                    ElementOutput::Event(e @ ElementEvent::Error { .. }) => self.out.push_back(TranscoderOutput::Error(e)),
                    _ => {}
                }
                continue;
            }
            let mut found = None;
            for b in lock(&self.branches).iter() {
                if let Some(out) = b.island.try_recv() {
                    found = Some((b.format, out));
                    break;
                }
            }
            let (format, out) = found?;
            match out {
                ElementOutput::Media(frame) => {
                    let frame = self.finish_frame(frame);
                    return Some(TranscoderOutput::Media(format, frame));
                }
                ElementOutput::Event(e @ ElementEvent::Error { .. }) => return Some(TranscoderOutput::Error(e)),
                _ => {}
            }
        }
    }

    fn describe(&self) -> Vec<String> {
        let name = |e: Option<gst::Element>| e.and_then(|e| e.factory()).map_or_else(|| "?".to_owned(), |f| f.name().to_string());
        let mut lines = vec![format!("{} -> {}", self.input.as_str(), name(self.decoder.pipeline.by_name("dec")))];
        for b in lock(&self.branches).iter() {
            lines.push(format!("{} <- {}", b.format, name(Some(b.encoder.clone()))));
        }
        lines
    }
}
