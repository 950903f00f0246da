//! PlayerEndpoint: a file or stream into the router.
//!
//! The island is `urisourcebin ! parsebin`; every elementary stream parsebin
//! exposes gets a branch ending in an appsink that paces it in real time
//! (`sync=true`). VP8, VP9, H.264 and Opus pass through without decoding
//! (H.264 as Annex B access units with SPS/PPS before every IDR, as WebRTC
//! receivers need); the pipeline's transcoders convert them for sinks that
//! take another codec. Any other codec GStreamer can decode is decoded and
//! encoded to VP8 or Opus here, unless `useEncodedMedia` is set: then nothing
//! is decoded and such a stream raises `Error` (KMS: the source "MUST already
//! be in a format compatible with the destination"). KMS also decodes VP8,
//! H.264 and Opus when `useEncodedMedia` is false; we pass them through
//! either way, since the router transcodes for the sinks that need it.
//!
//! Each appsink sample becomes a [`kms_media::MediaFrame`] with its RTP time
//! taken from the buffer's running time; a discontinuity (seek, restart) is
//! announced as a source change so sinks rebase their timestamps.

use crate::island::{BusNote, Island, Outbox, Waker};
use crate::sample::frame_from_sample;
use crate::state::{UriEndpoint, UriEndpointState, EMPTY_DOT};
use crate::uri::check_source;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gst::prelude::*;
use kms_media::{Codec, Element, ElementEvent, ElementOutput, FlowState, FlowTracker, MediaType};
use std::collections::VecDeque;
use std::time::Instant;

/// PlayerEndpoint `videoInfo` (VideoInfo register), times in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VideoInfo {
    pub is_seekable: bool,
    pub seekable_init: i64,
    pub seekable_end: i64,
    pub duration: i64,
}

/// Why a seek failed: 40700 PLAYER_SEEK_FAIL.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot seek to {position} ms: {reason}")]
pub struct SeekError {
    pub position: i64,
    pub reason: String,
}

pub struct PlayerEndpoint {
    uri: String,
    /// `networkCache` (ms): rtspsrc latency.
    network_cache_ms: u32,
    /// `useEncodedMedia`: never decode; streams the pipeline cannot carry are refused.
    use_encoded: bool,
    waker: Waker,
    island: Option<Island>,
    state: UriEndpointState,
    queue: VecDeque<ElementOutput>,
    /// MediaFlowOut: FLOWING with the first frame out, NOT_FLOWING after KMS's
    /// check window without one (paused) or when the media ends.
    flow_out: FlowTracker,
}

impl PlayerEndpoint {
    /// A player of `uri` (`networkCache` in ms, `useEncodedMedia`).
    pub fn new(uri: &str, network_cache_ms: u32, use_encoded: bool, waker: Waker) -> PlayerEndpoint {
        PlayerEndpoint {
            uri: uri.into(),
            network_cache_ms,
            use_encoded,
            waker,
            island: None,
            state: UriEndpointState::Stop,
            queue: VecDeque::new(),
            flow_out: FlowTracker::default(),
        }
    }

    fn event(&mut self, event: ElementEvent) {
        self.queue.push_back(ElementOutput::Event(event));
    }

    /// PlayerEndpoint.play: starts (building the island) or resumes.
    pub fn play(&mut self) {
        if self.state == UriEndpointState::Start {
            return;
        }
        if self.island.is_none() {
            if let Err(e) = check_source(&self.uri) {
                self.event(ElementEvent::Error { error_type: "INVALID_URI", description: e.to_string(), code: 0 });
                return;
            }
            match self.build() {
                Ok(island) => self.island = Some(island),
                Err(description) => {
                    self.event(ElementEvent::Error { error_type: "UNEXPECTED_ELEMENT_ERROR", description, code: 0 });
                    return;
                }
            }
        }
        if let Some(island) = &self.island {
            // A failure here (missing file, unreachable host) arrives on the bus as the Error event.
            let _ = island.pipeline.set_state(gst::State::Playing);
        }
        self.state = UriEndpointState::Start;
        self.event(ElementEvent::UriEndpointState { state: self.state.as_str() });
    }

    /// MediaFlowOut NOT_FLOWING for the streams that were flowing.
    fn stop_flowing(&mut self) {
        for media_type in self.flow_out.stop() {
            self.event(ElementEvent::MediaFlowOut { media_type, state: FlowState::NotFlowing });
        }
    }

    /// The island's controls, for the blocking queries (position, seek,
    /// videoInfo) the control plane runs off the media thread.
    pub fn control(&self) -> Option<PlayerControl> {
        self.island.as_ref().map(|i| PlayerControl(i.pipeline.clone()))
    }

    fn build(&self) -> Result<Island, String> {
        let pipeline = gst::Pipeline::new();
        let make = |factory: &str| gst::ElementFactory::make(factory).build().map_err(|e| format!("{factory}: {e}"));
        let source = make("urisourcebin")?;
        source.set_property("uri", &self.uri);
        let latency = self.network_cache_ms;
        source.connect("source-setup", false, move |args| {
            if let Some(src) = args.get(1).and_then(|v| v.get::<gst::Element>().ok()) {
                if src.find_property("latency").is_some() {
                    src.set_property("latency", latency);
                }
            }
            None
        });
        let parse = make("parsebin")?;
        pipeline.add_many([&source, &parse]).map_err(|e| e.to_string())?;
        let island = Island::new(pipeline.clone(), self.waker.clone());
        let parse_weak = parse.downgrade();
        source.connect_pad_added(move |_, pad| {
            if let Some(sink) = parse_weak.upgrade().and_then(|p| p.static_pad("sink")) {
                if !sink.is_linked() {
                    let _ = pad.link(&sink);
                }
            }
        });
        let outbox = island.outbox.clone();
        let pipeline_weak = pipeline.downgrade();
        let use_encoded = self.use_encoded;
        parse.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else { return };
            if let Err(e) = add_branch(&pipeline, pad, use_encoded, outbox.clone()) {
                let description = format!("cannot play the stream {:?}: {e}", pad.current_caps());
                outbox.event(ElementEvent::Error { error_type: "STREAM_ERROR_FAILED", description, code: 0 });
            }
        });
        Ok(island)
    }
}

/// What a parsed stream becomes: the codec we forward, whether it is
/// decoded first (by a decodebin in front), and the elements up to the appsink.
fn plan(caps: &gst::CapsRef) -> Option<(Codec, bool, &'static str)> {
    let name = caps.structure(0)?.name().as_str();
    Some(match name {
        "video/x-vp8" => (Codec::Vp8, false, "queue"),
        "video/x-vp9" => (Codec::Vp9, false, "queue"),
        "video/x-h264" => (Codec::H264, false, "h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! queue"),
        "audio/x-opus" => (Codec::Opus, false, "opusparse ! queue"),
        n if n.starts_with("video/") => {
            (Codec::Vp8, true, "queue ! videoconvert ! vp8enc deadline=1 cpu-used=8 keyframe-max-dist=60 end-usage=cbr target-bitrate=1000000 ! queue")
        }
        n if n.starts_with("audio/") => (Codec::Opus, true, "queue ! audioconvert ! audioresample ! opusenc ! queue"),
        _ => return None,
    })
}

/// Links a new parsebin pad through its branch to an appsink feeding `outbox`.
pub(crate) fn add_branch(pipeline: &gst::Pipeline, pad: &gst::Pad, use_encoded: bool, outbox: Outbox) -> Result<(), String> {
    let caps = pad.current_caps().or_else(|| Some(pad.query_caps(None))).ok_or("no caps")?;
    let Some((codec, decode, branch)) = plan(&caps) else {
        tracing::debug!(?caps, "player: stream ignored");
        return Ok(());
    };
    if decode && use_encoded {
        let name = caps.structure(0).map_or_else(String::new, |s| s.name().to_string());
        let description = format!("{name} cannot be carried without decoding, and useEncodedMedia is set");
        outbox.event(ElementEvent::Error { error_type: "STREAM_ERROR_CODEC_NOT_FOUND", description, code: 6 });
        return Ok(());
    }
    let bin = gst::parse::bin_from_description(&format!("{branch} ! appsink name=out sync=true"), true).map_err(|e| e.to_string())?;
    let sink = bin.by_name("out").and_then(|e| e.downcast::<gst_app::AppSink>().ok()).ok_or("no appsink")?;
    let media_type = codec.media_type();
    let mut first = true;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let Some(frame) = frame_from_sample(&sample, codec) else { return Ok(gst::FlowSuccess::Ok) };
                // A discontinuity after the first buffer (seek, restart): sinks rebase.
                let discont = sample.buffer().is_some_and(|b| b.flags().contains(gst::BufferFlags::DISCONT));
                if !std::mem::replace(&mut first, false) && discont {
                    outbox.push(ElementOutput::SourceChanged(media_type));
                }
                outbox.push(ElementOutput::Media(frame));
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.add(&bin).map_err(|e| e.to_string())?;
    let sink_pad = bin.static_pad("sink").ok_or("branch without sink pad")?;
    if decode {
        // decodebin's source pad appears once it has found a decoder.
        let decoder = gst::ElementFactory::make("decodebin").build().map_err(|e| e.to_string())?;
        pipeline.add(&decoder).map_err(|e| e.to_string())?;
        decoder.connect_pad_added(move |_, decoded| {
            if !sink_pad.is_linked() {
                if let Err(e) = decoded.link(&sink_pad) {
                    tracing::warn!("player decoder: {e:?}");
                }
            }
        });
        let decoder_sink = decoder.static_pad("sink").ok_or("decodebin without sink pad")?;
        pad.link(&decoder_sink).map_err(|e| format!("{e:?}"))?;
        decoder.sync_state_with_parent().map_err(|e| e.to_string())?;
    } else {
        pad.link(&sink_pad).map_err(|e| format!("{e:?}"))?;
    }
    bin.sync_state_with_parent().map_err(|e| e.to_string())?;
    Ok(())
}

/// A player's island, for queries that wait on GStreamer (run them off
/// the media thread).
pub struct PlayerControl(gst::Pipeline);

impl PlayerControl {
    /// `position` in ms (the playback position of the island).
    pub fn position(&self) -> Option<i64> {
        self.0.query_position::<gst::ClockTime>().map(|t| t.mseconds() as i64)
    }

    /// setPosition: a flushing seek to the keyframe at or before `ms`.
    pub fn seek(&self, ms: i64) -> Result<(), SeekError> {
        let err = |reason: &str| SeekError { position: ms, reason: reason.into() };
        let target = u64::try_from(ms).map_err(|_| err("negative position"))?;
        let info = self.video_info();
        if !info.is_seekable {
            return Err(err("the media is not seekable"));
        }
        if info.duration > 0 && ms > info.duration {
            return Err(err("beyond the end of the media"));
        }
        self.0
            .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::from_mseconds(target))
            .map_err(|e| err(&e.to_string()))
    }

    /// videoInfo: seekability and duration, once the island has prerolled
    /// (waits up to 2 s for it).
    pub fn video_info(&self) -> VideoInfo {
        let _ = self.0.state(gst::ClockTime::from_seconds(2));
        let duration = self.0.query_duration::<gst::ClockTime>().map_or(0, |d| d.mseconds() as i64);
        let mut query = gst::query::Seeking::new(gst::Format::Time);
        let (is_seekable, seekable_init, seekable_end) = if self.0.query(&mut query) {
            let (seekable, start, end) = query.result();
            let ms = |v: gst::GenericFormattedValue| v.value().max(0) / 1_000_000;
            (seekable, ms(start), ms(end))
        } else {
            (false, 0, 0)
        };
        VideoInfo { is_seekable, seekable_init, seekable_end, duration }
    }
}

impl Element for PlayerEndpoint {
    fn handle_timeout(&mut self, now: Instant) {
        for media_type in self.flow_out.check(now) {
            self.event(ElementEvent::MediaFlowOut { media_type, state: FlowState::NotFlowing });
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.flow_out.next_check()
    }

    fn is_media_flowing_out(&self, media_type: MediaType) -> bool {
        self.flow_out.is_flowing(media_type)
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        if let Some(out) = self.queue.pop_front() {
            return Some(out);
        }
        let island = self.island.as_ref()?;
        if let Some(out) = island.try_recv() {
            if let ElementOutput::Media(frame) = &out {
                let media_type = frame.media_type();
                if let Some(state) = self.flow_out.frame(frame.network_time, media_type) {
                    self.event(ElementEvent::MediaFlowOut { media_type, state });
                }
            }
            return Some(out);
        }
        for note in island.take_notes() {
            if note == BusNote::EndOfStream {
                self.queue.push_back(ElementOutput::Event(ElementEvent::Media { name: "EndOfStream" }));
                self.queue.push_back(ElementOutput::EndOfStream);
                // KMS stops the player at the end of the stream: play() starts over.
                self.stop();
                break;
            }
            // An error ends the media too: the Error event itself came through the outbox.
            self.stop_flowing();
        }
        self.queue.pop_front()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl UriEndpoint for PlayerEndpoint {
    fn pause(&mut self, _now: Instant) {
        if self.state != UriEndpointState::Start {
            return;
        }
        if let Some(island) = &self.island {
            let _ = island.pipeline.set_state(gst::State::Paused);
        }
        self.state = UriEndpointState::Pause;
        self.event(ElementEvent::UriEndpointState { state: self.state.as_str() });
    }

    /// The island is torn down; play() starts over.
    fn stop(&mut self) {
        if self.state == UriEndpointState::Stop && self.island.is_none() {
            return;
        }
        self.island = None;
        self.stop_flowing();
        self.state = UriEndpointState::Stop;
        self.event(ElementEvent::UriEndpointState { state: self.state.as_str() });
    }

    fn state(&self) -> UriEndpointState {
        self.state
    }

    fn dot(&self) -> String {
        self.island.as_ref().map_or_else(|| EMPTY_DOT.into(), Island::dot)
    }
}
