//! Filters whose work is Rust code run on every decoded frame: the vision
//! modules (crate kms-vision) implement [`FrameProcessor`] and run as a
//! [`ProcessorFilter`].
//!
//! The island converts the frames to packed BGR (OpenCV's layout), and a
//! buffer probe on its streaming thread hands each one to the processor,
//! writable, in place (or a copy, for detectors that only read: see
//! [`FrameProcessor::READ_ONLY`]): the work never runs on a media worker. The island's
//! source queue holds two frames and drops the oldest when the processor
//! falls behind (as every filter, see [`super::Filter`]), so a slow module
//! skips frames instead of queueing them. The processor belongs to that
//! thread: the module's methods reach it as queued commands
//! ([`ProcessorFilter::apply`]), so no media worker waits on a frame.

use super::overlay::{load_image_in_background, Image};
use super::{Filter, FilterKind, Stage};
use crate::island::{Outbox, Waker};
use gstreamer as gst;
use gstreamer_video as gst_video;
use gst_video::prelude::*;
use kms_media::{DataMessage, ElementEvent, MediaType};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The frames converted to BGR and processed in the video's path.
const IN_PLACE_STAGE: &str = "videoconvert ! capsfilter name=bgr caps=video/x-raw,format=BGR";
/// A BGR copy for the processor on its own thread, the video untouched.
const READ_ONLY_STAGE: &str = concat!(
    "tee name=t ! queue leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0 ",
    "! videoconvert ! capsfilter name=bgr caps=video/x-raw,format=BGR ! fakesink sync=false async=false ",
    "t. ! identity"
);

/// A video frame as a processor sees it: packed 8-bit BGR, `stride` bytes
/// per row (at least `width * 3`), rows top to bottom.
pub struct BgrFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub data: &'a mut [u8],
    /// Media time of the frame from the filter's first frame.
    pub pts: Duration,
    /// The metadata the frame carries ([`kms_media::MediaFrame::metadata`],
    /// parsed); what the processor leaves here goes on with the frame.
    pub metadata: Option<serde_json::Value>,
}

impl<'a> BgrFrame<'a> {
    /// A tightly packed frame (`width * 3` bytes a row) at time 0 without
    /// metadata: what tests and benchmarks build.
    pub fn new(width: u32, height: u32, data: &'a mut [u8]) -> BgrFrame<'a> {
        BgrFrame { width, height, stride: width as usize * 3, data, pts: Duration::ZERO, metadata: None }
    }
}

/// Rust code run on each decoded frame of a filter.
pub trait FrameProcessor: Send + 'static {
    /// True when the module only transforms the picture (nothing to do
    /// without consumers); false for detectors, which raise events anyway.
    const IDLE_WITHOUT_CONSUMERS: bool;

    /// True for a detector that never changes the picture: it gets a copy
    /// on a branch of its own behind a one-frame leaky queue, so the video
    /// flows at full rate however slow it is, and it always sees the
    /// latest frame (what it draws or leaves in the metadata stays on the
    /// copy). False: frames are processed in place, in the video's path
    /// (the island's two-frame leaky queue drops when it is behind).
    const READ_ONLY: bool = false;

    /// Processes one frame in place; events it pushes are raised on the
    /// filter in order. Called on a GStreamer streaming thread.
    fn process(&mut self, frame: &mut BgrFrame<'_>, events: &mut Vec<ElementEvent>);

    /// True for a processor that reads data-channel messages ([`Self::data`]);
    /// the others are not sent them (they would queue until a frame).
    const WANTS_DATA: bool = false;

    /// A data-channel message reached the filter (before the next frame).
    fn data(&mut self, _message: &DataMessage) {}
}

/// A change to a processor, applied on its thread before the next frame.
pub type Command<P> = Box<dyn FnOnce(&mut P) + Send>;

/// The kind of a [`ProcessorFilter`]: the queue of commands to its processor.
pub struct Processor<P> {
    commands: Sender<Command<P>>,
}

impl<P: FrameProcessor> FilterKind for Processor<P> {
    const IDLE_WITHOUT_CONSUMERS: bool = P::IDLE_WITHOUT_CONSUMERS;

    fn on_data(&mut self, message: &DataMessage) {
        if !P::WANTS_DATA {
            return;
        }
        let message = message.clone();
        let _ = self.commands.send(Box::new(move |p: &mut P| p.data(&message)));
    }
}

/// A filter running the frame processor `P` on its video.
pub type ProcessorFilter<P> = Filter<Processor<P>>;

/// The processor and its commands, owned by the probe.
struct Probed<P> {
    processor: P,
    commands: Receiver<Command<P>>,
}

/// Locks `m`, taking over a lock a panicking holder left.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<P: FrameProcessor> ProcessorFilter<P> {
    /// Starts a video filter running `processor` on every frame it keeps up with.
    pub fn with_processor(processor: P, waker: Waker) -> Result<ProcessorFilter<P>, String> {
        crate::init()?;
        let description = if P::READ_ONLY { READ_ONLY_STAGE } else { IN_PLACE_STAGE };
        let bin = gst::parse::bin_from_description(description, true).map_err(|e| e.to_string())?;
        let bgr = bin.by_name("bgr").ok_or("no BGR capsfilter")?;
        let (sink, src) = (bin.static_pad("sink").ok_or("no sink pad")?, bin.static_pad("src").ok_or("no src pad")?);
        let probed = bgr.static_pad("src").ok_or("no BGR pad")?;
        let (commands, receiver) = channel();
        // Only the streaming thread locks it (the mutex makes the probe Sync).
        let state = Mutex::new(Probed { processor, commands: receiver });
        let outbox: Arc<OnceLock<Outbox>> = Arc::default();
        let probe_outbox = outbox.clone();
        probed.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let events = run_probe(pad, info, &mut lock(&state));
            if let Some(outbox) = probe_outbox.get() {
                events.into_iter().for_each(|e| outbox.event(e));
            }
            gst::PadProbeReturn::Ok
        });
        let filter = Filter::build(Processor { commands }, MediaType::Video, Stage { elements: vec![bin.upcast()], sink, src }, waker, |_| None)?;
        let _ = outbox.set(filter.outbox());
        Ok(filter)
    }

    /// Queues `command` for the processor: it runs on the processor's
    /// thread before the next frame, so the caller (a media worker) never
    /// waits for a frame's processing. Commands run in the order queued.
    pub fn apply(&self, command: impl FnOnce(&mut P) + Send + 'static) {
        let _ = self.kind.commands.send(Box::new(command));
    }

    /// Loads the picture at `uri` off the media worker (a path, `file://`,
    /// `http(s)://`) and queues `apply` with it (see [`Self::apply`]); a
    /// picture that cannot be loaded raises `Error` (RESOURCE_ERROR_OPEN).
    pub fn load_image(&self, uri: &str, apply: impl FnOnce(&mut P, Image) + Send + 'static) {
        let commands = self.kind.commands.clone();
        load_image_in_background(uri.to_owned(), self.outbox(), move |image| {
            let _ = commands.send(Box::new(move |p: &mut P| apply(p, image)));
        });
    }
}

/// Hands the probed buffer to the processor, writable; its events.
fn run_probe<P: FrameProcessor>(pad: &gst::Pad, info: &mut gst::PadProbeInfo, state: &mut Probed<P>) -> Vec<ElementEvent> {
    let mut events = Vec::new();
    while let Ok(command) = state.commands.try_recv() {
        command(&mut state.processor);
    }
    let Some(gst::PadProbeData::Buffer(buffer)) = info.data.take() else { return events };
    let mut buffer = buffer;
    let video = pad.current_caps().and_then(|c| gst_video::VideoInfo::from_caps(&c).ok());
    if let Some(video) = video.filter(|v| v.format() == gst_video::VideoFormat::Bgr) {
        let pts = Duration::from_nanos(buffer.pts().map_or(0, gst::ClockTime::nseconds));
        let metadata = crate::sample::metadata(&buffer).and_then(|json| serde_json::from_str(&json).ok());
        let mut left = None;
        if let Ok(mut mapped) = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer.make_mut(), &video) {
            let stride = usize::try_from(mapped.plane_stride()[0]).unwrap_or(0);
            if let Ok(data) = mapped.plane_data_mut(0) {
                let mut frame = BgrFrame { width: video.width(), height: video.height(), stride, data, pts, metadata };
                state.processor.process(&mut frame, &mut events);
                left = frame.metadata;
            }
        }
        if let Some(json) = left {
            crate::sample::set_metadata(buffer.make_mut(), &json.to_string());
        }
    }
    info.data = Some(gst::PadProbeData::Buffer(buffer));
    events
}
