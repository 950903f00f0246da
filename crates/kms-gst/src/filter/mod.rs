//! Filters: GStreamer elements run on decoded frames of one media type, as
//! KMS's `kmsfilterelement`; the other media type passes through untouched.
//!
//! Every filter is a [`Filter`]: an island `appsrc ! convert ! <stage> !
//! convert ! appsink` on raw frames (the router decodes for it once per
//! source and encodes its output once per consumer format, see
//! `crate::transcoder`), plus what its kind adds: GStreamerFilter's command
//! element, ZBarFilter's detector, the overlays. KMS links the element
//! without converters and lets caps negotiate; the converters here let it
//! take the raw format it prefers. A filter that falls behind drops frames
//! (leaky appsrc, as KMS's one-buffer leaky queue). Detections arrive as bus
//! element messages and become events (see [`Island::with_messages`]).

mod command;
mod data;
mod module;
mod overlay;
mod process;
mod zbar;

pub use command::{FilterError, FilterType, GStreamerFilter, GstCommand};
pub use overlay::{load_image_in_background, Image, FaceLayout, FaceOverlay, FaceOverlayFilter, ImageLayout, ImageOverlay, ImageOverlayFilter, FACE_CASCADE, FACE_DETECT_STAGE};
pub use data::{SendData, SendDataFilter, ShowData, ShowDataFilter};
pub use module::{GstModule, ModuleFilter};
pub use process::{BgrFrame, FrameProcessor, Processor, ProcessorFilter};
pub use zbar::{ZBar, ZBarFilter};

use crate::island::{Island, Outbox, Waker};
use crate::sample::{buffer_from_frame, frame_from_sample};
use gstreamer as gst;
use gst::prelude::*;
use kms_media::{Codec, DataMessage, Timeline, Element, ElementEvent, ElementOutput, MediaFlow, MediaFrame, MediaType, PassThrough};
use std::sync::Arc;
use std::time::Instant;

/// Raw frames waiting for the stage before the oldest are dropped.
const QUEUE: u64 = 2;

/// What distinguishes one filter class from another.
pub trait FilterKind: Send + 'static {
    /// True when the filter only transforms (its work serves consumers
    /// only); false for detectors, which raise events with or without
    /// consumers.
    const IDLE_WITHOUT_CONSUMERS: bool;

    /// A data-channel message reached the filter (it is relayed downstream
    /// too, as KMS's filters pass DATA through); KmsShowData draws it.
    fn on_data(&mut self, _message: &DataMessage) {}
}

/// The elements a filter runs, already linked among themselves: the first
/// one's sink pad and the last one's src pad.
pub struct Stage {
    pub elements: Vec<gst::Element>,
    pub sink: gst::Pad,
    pub src: gst::Pad,
}

/// A filter element of kind `K`.
pub struct Filter<K> {
    pub(crate) kind: K,
    media_type: MediaType,
    island: Island,
    appsrc: gstreamer_app::AppSrc,
    /// The caps currently set on the appsrc (text as the frames carry it).
    caps: Option<Arc<str>>,
    /// Media time of the first filtered frame, for buffer PTS.
    base: Option<u64>,
    /// The input's media time made continuous across source switches (a
    /// new player connected to the filter starts its clock again).
    timeline: Timeline,
    /// What is not filtered (the other media type, data, end of stream,
    /// keyframe requests, estimates, source changes) passes through
    /// unchanged; events queue here too.
    relay: PassThrough,
    flow: MediaFlow,
}

impl<K: FilterKind> Filter<K> {
    /// Starts `stage` for `media_type` raw frames; element messages go
    /// through `hook` (detections), their events are raised on the filter.
    pub(crate) fn build(
        kind: K,
        media_type: MediaType,
        stage: Stage,
        waker: Waker,
        hook: impl Fn(&gst::Message) -> Option<ElementEvent> + Send + Sync + 'static,
    ) -> Result<Filter<K>, String> {
        let (convert, out_caps) = match media_type {
            MediaType::Video => ("videoconvert", "video/x-raw,format=I420"),
            _ => ("audioconvert ! audioresample", "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved"),
        };
        let head = format!("appsrc name=src format=time is-live=true do-timestamp=false block=false max-buffers={QUEUE} leaky-type=downstream ! {convert}");
        let tail = format!("{convert} ! {out_caps} ! appsink name=sink sync=false async=false");
        let head = gst::parse::bin_from_description(&head, true).map_err(|e| e.to_string())?;
        let tail = gst::parse::bin_from_description(&tail, true).map_err(|e| e.to_string())?;
        let pipeline = gst::Pipeline::new();
        pipeline.add_many([head.upcast_ref::<gst::Element>(), tail.upcast_ref()]).map_err(|e| e.to_string())?;
        pipeline.add_many(stage.elements.iter()).map_err(|e| e.to_string())?;
        let not_linked = || "Given command is not valid, pad templates don't match".to_owned();
        head.static_pad("src").ok_or_else(not_linked)?.link(&stage.sink).map_err(|_| not_linked())?;
        stage.src.link(&tail.static_pad("sink").ok_or_else(not_linked)?).map_err(|_| not_linked())?;
        let appsrc = head.by_name("src").and_then(|e| e.downcast::<gstreamer_app::AppSrc>().ok()).ok_or("no appsrc")?;
        let appsink = tail.by_name("sink").and_then(|e| e.downcast::<gstreamer_app::AppSink>().ok()).ok_or("no appsink")?;
        let island = Island::with_messages(pipeline, waker, hook);
        let (outbox, raw) = (island.outbox.clone(), if media_type == MediaType::Video { Codec::RawVideo } else { Codec::RawAudio });
        appsink.set_callbacks(
            gstreamer_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(frame) = frame_from_sample(&sample, raw) {
                        outbox.push(ElementOutput::Media(frame));
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        island.pipeline.set_state(gst::State::Playing).map_err(|e| format!("GStreamer element cannot be started: {e}"))?;
        Ok(Filter {
            kind,
            media_type,
            island,
            appsrc,
            caps: None,
            base: None,
            timeline: Timeline::default(),
            relay: PassThrough::default(),
            flow: MediaFlow::default(),
        })
    }

    /// The media type this filter processes.
    pub fn media_type(&self) -> MediaType {
        self.media_type
    }

    /// Where threads other than the island's report (image loaders).
    pub(crate) fn outbox(&self) -> Outbox {
        self.island.outbox.clone()
    }

    /// A raw frame into the stage, with its caps when they change.
    fn push(&mut self, frame: &MediaFrame) {
        let Some(text) = &frame.raw_caps else { return };
        if self.caps.as_ref() != Some(text) {
            let Ok(caps) = text.parse::<gst::Caps>() else { return };
            self.appsrc.set_caps(Some(&caps));
            self.caps = Some(text.clone());
        }
        let Some(time) = self.timeline.map(frame) else { return };
        let base = *self.base.get_or_insert(time);
        let pts = u128::from(time.saturating_sub(base)) * 1_000_000_000 / u128::from(frame.clock_rate.max(1));
        if let Err(e) = self.appsrc.push_buffer(buffer_from_frame(frame, pts as u64)) {
            tracing::debug!("filter push: {e:?}");
        }
    }
}

const RAW_VIDEO: [Codec; 1] = [Codec::RawVideo];
const RAW_AUDIO: [Codec; 1] = [Codec::RawAudio];

impl<K: FilterKind> Element for Filter<K> {
    /// Raw frames of the filtered type; anything of the other type.
    fn input_codecs(&self, media_type: MediaType) -> Option<&[Codec]> {
        match (media_type == self.media_type, media_type) {
            (true, MediaType::Video) => Some(&RAW_VIDEO),
            (true, MediaType::Audio) => Some(&RAW_AUDIO),
            _ => None,
        }
    }

    fn idle_without_consumers(&self) -> bool {
        K::IDLE_WITHOUT_CONSUMERS
    }

    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        if let Some(event) = self.flow.frame_in(now, frame.media_type()) {
            self.relay.push(ElementOutput::Event(event));
        }
        if frame.media_type() == self.media_type {
            self.push(frame);
        } else {
            self.relay.handle_media(now, frame);
        }
    }

    fn handle_data(&mut self, now: Instant, message: &DataMessage) {
        self.kind.on_data(message);
        self.relay.handle_data(now, message);
    }

    fn handle_end_of_stream(&mut self, now: Instant) {
        self.relay.handle_end_of_stream(now);
    }

    fn handle_keyframe_request(&mut self, now: Instant) {
        self.relay.handle_keyframe_request(now);
    }

    fn handle_source_changed(&mut self, now: Instant, media_type: MediaType) {
        if media_type == self.media_type {
            self.timeline.source_changed();
        }
        self.relay.handle_source_changed(now, media_type);
    }

    fn handle_bitrate_estimate(&mut self, now: Instant, bitrate: u64) {
        self.relay.handle_bitrate_estimate(now, bitrate);
    }

    fn handle_timeout(&mut self, now: Instant) {
        for event in self.flow.check(now) {
            self.relay.push(ElementOutput::Event(event));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.flow.next_check()
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        let out = match self.relay.poll_output() {
            Some(out) => out,
            None => {
                let mut out = self.island.try_recv()?;
                // Filtered frames keep the input's timeline (their PTS was relative to `base`).
                if let (ElementOutput::Media(frame), Some(base)) = (&mut out, self.base) {
                    frame.rtp_time = frame.rtp_time.wrapping_add(base);
                }
                out
            }
        };
        if let ElementOutput::Media(frame) = &out {
            if let Some(event) = self.flow.frame_out(frame.network_time, frame.media_type()) {
                self.relay.push(ElementOutput::Event(event));
            }
        }
        Some(out)
    }

    fn is_media_flowing_in(&self, media_type: MediaType) -> bool {
        self.flow.is_flowing_in(media_type)
    }

    fn is_media_flowing_out(&self, media_type: MediaType) -> bool {
        self.flow.is_flowing_out(media_type)
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
