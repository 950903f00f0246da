//! GStreamerFilter: one GStreamer element (a `gst-launch` description) run on
//! the decoded frames of one media type; the other type passes through.
//!
//! As KMS's `GStreamerFilterImpl`: the command must parse into exactly one
//! element (not a bin) with a `sink` (or `video_sink`) and a `src` pad;
//! `AUTODETECT` takes AUDIO when both pads can carry raw audio, else VIDEO
//! when both can carry raw video (so an element with ANY caps, `identity`,
//! is an audio filter, as in KMS). Failures are KMS's 40001 messages. The
//! element runs in an island `appsrc ! convert ! element ! convert ! appsink`
//! (KMS links it without converters and lets caps negotiate; the converters
//! here let it take the raw format it prefers). Input is raw frames (the
//! router decodes for it, once per source, see `crate::transcoder`); a
//! filter that falls behind drops frames (leaky appsrc).

use crate::island::{Island, Waker};
use crate::sample::{buffer_from_frame, frame_from_sample};
use gstreamer as gst;
use gstreamer_app as gst_app;
use gst::prelude::*;
use kms_media::{Codec, DataMessage, Element, ElementEvent, ElementOutput, FlowState, FlowTracker, MediaFrame, MediaType};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

/// Raw frames waiting for the element before the oldest are dropped.
const QUEUE: u64 = 2;

/// `filterType` (FilterType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterType {
    Audio,
    Video,
    Autodetect,
}

impl FilterType {
    /// The wire name (`AUDIO`, `VIDEO`, `AUTODETECT`).
    pub fn parse(name: &str) -> Option<FilterType> {
        Some(match name {
            "AUDIO" => FilterType::Audio,
            "VIDEO" => FilterType::Video,
            "AUTODETECT" => FilterType::Autodetect,
            _ => return None,
        })
    }
}

/// Why a command or a property was refused; the server answers with `code`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// 40001 MARSHALL_ERROR, with KMS's message.
    #[error("{0}")]
    Invalid(String),
    /// 40006 NOT_IMPLEMENTED: a property of a type KMS does not convert either.
    #[error("{0}")]
    NotImplemented(String),
}

pub struct GStreamerFilter {
    media_type: MediaType,
    element: gst::Element,
    island: Island,
    appsrc: gst_app::AppSrc,
    /// The caps currently set on the appsrc (text as the frames carry it).
    caps: Option<Arc<str>>,
    /// Media time of the first filtered frame (90 kHz / 48 kHz) for buffer PTS.
    base: Option<u64>,
    queue: VecDeque<ElementOutput>,
    flow_in: FlowTracker,
    flow_out: FlowTracker,
}

fn invalid(message: impl Into<String>) -> FilterError {
    FilterError::Invalid(message.into())
}

/// Whether both pads of `element` can carry `caps`.
fn both_pads_take(sink: &gst::Pad, src: &gst::Pad, caps: &gst::Caps) -> bool {
    sink.query_caps(None).can_intersect(caps) && src.query_caps(None).can_intersect(caps)
}

impl GStreamerFilter {
    /// Parses `command` into its element and starts the island. Errors are
    /// KMS's (`GStreamerFilterImpl` constructor).
    pub fn new(command: &str, filter_type: FilterType, waker: Waker) -> Result<GStreamerFilter, FilterError> {
        crate::init().map_err(invalid)?;
        let element = match gst::parse::launch(command) {
            Ok(e) => e,
            Err(e) => return Err(invalid(format!("GStreamer element cannot be created: {e}"))),
        };
        if element.is::<gst::Bin>() {
            return Err(invalid("Given command is not valid, only one element can be created"));
        }
        let pads_dont_match = || invalid("Given command is not valid, pad templates don't match");
        let sink_pad = element.static_pad("sink").or_else(|| element.static_pad("video_sink")).ok_or_else(pads_dont_match)?;
        let src_pad = element.static_pad("src").ok_or_else(pads_dont_match)?;
        let media_type = match filter_type {
            FilterType::Audio => MediaType::Audio,
            FilterType::Video => MediaType::Video,
            FilterType::Autodetect if both_pads_take(&sink_pad, &src_pad, &gst::Caps::new_empty_simple("audio/x-raw")) => MediaType::Audio,
            FilterType::Autodetect if both_pads_take(&sink_pad, &src_pad, &gst::Caps::new_empty_simple("video/x-raw")) => MediaType::Video,
            FilterType::Autodetect => return Err(pads_dont_match()),
        };
        let (convert, out_caps) = match media_type {
            MediaType::Video => ("videoconvert", "video/x-raw,format=I420"),
            _ => ("audioconvert ! audioresample", "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved"),
        };
        let head = format!("appsrc name=src format=time is-live=true do-timestamp=false block=false max-buffers={QUEUE} leaky-type=downstream ! {convert}");
        let tail = format!("{convert} ! {out_caps} ! appsink name=sink sync=false async=false");
        let pipeline = gst::Pipeline::new();
        let bins = [&head, &tail].map(|d| gst::parse::bin_from_description(d, true).map_err(|e| invalid(e.to_string())));
        let [head, tail] = bins;
        let (head, tail) = (head?, tail?);
        pipeline.add_many([head.upcast_ref::<gst::Element>(), &element, tail.upcast_ref()]).map_err(|e| invalid(e.to_string()))?;
        let head_src = head.static_pad("src").ok_or_else(pads_dont_match)?;
        let tail_sink = tail.static_pad("sink").ok_or_else(pads_dont_match)?;
        head_src.link(&sink_pad).map_err(|_| pads_dont_match())?;
        src_pad.link(&tail_sink).map_err(|_| pads_dont_match())?;
        let appsrc = head.by_name("src").and_then(|e| e.downcast::<gst_app::AppSrc>().ok()).ok_or_else(pads_dont_match)?;
        let appsink = tail.by_name("sink").and_then(|e| e.downcast::<gst_app::AppSink>().ok()).ok_or_else(pads_dont_match)?;
        let island = Island::new(pipeline, waker);
        let (outbox, raw) = (island.outbox.clone(), if media_type == MediaType::Video { Codec::RawVideo } else { Codec::RawAudio });
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(frame) = frame_from_sample(&sample, raw) {
                        outbox.push(ElementOutput::Media(frame));
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        island.pipeline.set_state(gst::State::Playing).map_err(|e| invalid(format!("GStreamer element cannot be started: {e}")))?;
        Ok(GStreamerFilter {
            media_type,
            element,
            island,
            appsrc,
            caps: None,
            base: None,
            queue: VecDeque::new(),
            flow_in: FlowTracker::default(),
            flow_out: FlowTracker::default(),
        })
    }

    /// The media type this filter processes.
    pub fn media_type(&self) -> MediaType {
        self.media_type
    }

    /// GStreamerFilter.setElementProperty: sets `name` on the inner element
    /// from its text `value`, converted per the property's type as KMS does
    /// (ints, floats and doubles read from their leading number, enums by
    /// nick, strings as they are); booleans and unsigned and 64-bit integers
    /// are also converted here (KMS answers 40006 for them). Other types: 40006.
    pub fn set_element_property(&self, name: &str, value: &str) -> Result<(), FilterError> {
        let object_name = self.element.name();
        let pspec = self.element.find_property(name).ok_or_else(|| invalid(format!("No property named '{name}' in object '{object_name}'")))?;
        let t = pspec.value_type();
        let number = |what: &str| invalid(format!("Cannot convert '{value}' to {what}"));
        let lead = leading_number(value);
        let converted: gst::glib::Value = if t == i32::static_type() {
            lead.parse::<i32>().map_err(|_| number("int"))?.to_value()
        } else if t == u32::static_type() {
            lead.parse::<u32>().map_err(|_| number("uint"))?.to_value()
        } else if t == i64::static_type() {
            lead.parse::<i64>().map_err(|_| number("int64"))?.to_value()
        } else if t == u64::static_type() {
            lead.parse::<u64>().map_err(|_| number("uint64"))?.to_value()
        } else if t == f32::static_type() {
            lead.parse::<f32>().map_err(|_| number("float"))?.to_value()
        } else if t == f64::static_type() {
            lead.parse::<f64>().map_err(|_| number("double"))?.to_value()
        } else if t == bool::static_type() {
            match value {
                "true" | "TRUE" | "1" => true.to_value(),
                "false" | "FALSE" | "0" => false.to_value(),
                _ => return Err(number("boolean")),
            }
        } else if t == String::static_type() {
            value.to_value()
        } else if t.is_a(gst::glib::Type::ENUM) {
            let class = gst::glib::EnumClass::with_type(t).ok_or_else(|| number("enum"))?;
            class.to_value_by_nick(value).ok_or_else(|| invalid(format!("Cannot convert '{value}' to enum: Invalid value for enum {}", t.name())))?
        } else {
            return Err(FilterError::NotImplemented(format!("Property type not implemented: {}", t.name())));
        };
        if !pspec.flags().contains(gst::glib::ParamFlags::WRITABLE) || pspec.flags().contains(gst::glib::ParamFlags::CONSTRUCT_ONLY) {
            return Err(invalid(format!("Property '{name}' of '{object_name}' cannot be set")));
        }
        self.element.set_property_from_value(name, &converted);
        Ok(())
    }

    fn event(&mut self, event: ElementEvent) {
        self.queue.push_back(ElementOutput::Event(event));
    }

    /// A raw frame into the element, with its caps when they change.
    fn push(&mut self, frame: &MediaFrame) {
        let Some(text) = &frame.raw_caps else { return };
        if self.caps.as_ref() != Some(text) {
            let Ok(caps) = text.parse::<gst::Caps>() else { return };
            self.appsrc.set_caps(Some(&caps));
            self.caps = Some(text.clone());
        }
        let base = *self.base.get_or_insert(frame.rtp_time);
        let pts = u128::from(frame.rtp_time.saturating_sub(base)) * 1_000_000_000 / u128::from(frame.clock_rate.max(1));
        if let Err(e) = self.appsrc.push_buffer(buffer_from_frame(frame, pts as u64)) {
            tracing::debug!("filter push: {e:?}");
        }
    }
}

/// The leading number of `value` (`"12abc"` reads as 12, as C++'s stoi does).
fn leading_number(value: &str) -> &str {
    let value = value.trim_start();
    let end = value
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')) || c == 'e' || c == 'E'))
        .map_or(value.len(), |(i, _)| i);
    &value[..end]
}

const RAW_VIDEO: [Codec; 1] = [Codec::RawVideo];
const RAW_AUDIO: [Codec; 1] = [Codec::RawAudio];

impl Element for GStreamerFilter {
    /// Raw frames of the filtered type; anything of the other type.
    fn input_codecs(&self, media_type: MediaType) -> Option<&[Codec]> {
        match (media_type == self.media_type, media_type) {
            (true, MediaType::Video) => Some(&RAW_VIDEO),
            (true, MediaType::Audio) => Some(&RAW_AUDIO),
            _ => None,
        }
    }

    /// Nothing is filtered (or decoded for it) while nobody consumes it.
    fn idle_without_consumers(&self) -> bool {
        true
    }

    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        let media_type = frame.media_type();
        if let Some(state) = self.flow_in.frame(now, media_type) {
            self.event(ElementEvent::MediaFlowIn { media_type, state });
        }
        if media_type == self.media_type {
            self.push(frame);
        } else {
            self.queue.push_back(ElementOutput::Media(frame.clone()));
        }
    }

    fn handle_data(&mut self, _now: Instant, message: &DataMessage) {
        self.queue.push_back(ElementOutput::Data(message.clone()));
    }

    fn handle_end_of_stream(&mut self, _now: Instant) {
        self.queue.push_back(ElementOutput::EndOfStream);
    }

    fn handle_keyframe_request(&mut self, _now: Instant) {
        self.queue.push_back(ElementOutput::KeyframeRequest);
    }

    fn handle_source_changed(&mut self, _now: Instant, media_type: MediaType) {
        self.queue.push_back(ElementOutput::SourceChanged(media_type));
    }

    fn handle_bitrate_estimate(&mut self, _now: Instant, bitrate: u64) {
        self.queue.push_back(ElementOutput::BitrateEstimate(bitrate));
    }

    fn handle_timeout(&mut self, now: Instant) {
        for media_type in self.flow_in.check(now) {
            self.event(ElementEvent::MediaFlowIn { media_type, state: FlowState::NotFlowing });
        }
        for media_type in self.flow_out.check(now) {
            self.event(ElementEvent::MediaFlowOut { media_type, state: FlowState::NotFlowing });
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.flow_in.next_check(), self.flow_out.next_check()].into_iter().flatten().min()
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        let mut out = self.queue.pop_front().or_else(|| self.island.try_recv())?;
        if let (ElementOutput::Media(frame), Some(base)) = (&mut out, self.base) {
            // Filtered frames keep the input's timeline (their PTS was relative to `base`).
            if frame.codec == Codec::RawVideo || frame.codec == Codec::RawAudio {
                frame.rtp_time = frame.rtp_time.wrapping_add(base);
            }
        }
        if let ElementOutput::Media(frame) = &out {
            let media_type = frame.media_type();
            if let Some(state) = self.flow_out.frame(frame.network_time, media_type) {
                self.queue.push_back(ElementOutput::Event(ElementEvent::MediaFlowOut { media_type, state }));
            }
        }
        Some(out)
    }

    fn is_media_flowing_in(&self, media_type: MediaType) -> bool {
        self.flow_in.is_flowing(media_type)
    }

    fn is_media_flowing_out(&self, media_type: MediaType) -> bool {
        self.flow_out.is_flowing(media_type)
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
