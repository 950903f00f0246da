//! The GStreamer side of a mixing hub: one private pipeline, changed only
//! by the hub's own thread, which takes [`Command`]s in order.
//!
//! ```text
//!  video: videotestsrc(black) ! queue ─┐
//!         appsrc (port 1) ! queue ─────┼─► compositor ! I420 WxH@fps ! appsink ─► one composed picture
//!         appsrc (port 2) ! queue ─────┘
//!  audio: appsrc (port i) ! audioconvert ! audioresample ! S16LE/48k/2 ! tee ─┐
//!         audiotestsrc(silence) ! queue ─► audiomixer (port j) ◄── queue ◄── tee of every i routed to j
//!                                  ! S16LE/48k/2 ! appsink ─► port j's audio
//! ```
//!
//! Every aggregator input has a [`branch_queue`] of its own. Without them
//! the aggregators cannot configure their latency (live sources report a
//! maximum latency of 0, below the aggregator's minimum), so they run as
//! non-live aggregators that wait for data on every pad; and a tee that
//! feeds several mixers pushes into them one after another from one thread:
//! with every port hearing every other, a mixer waiting for one tee while
//! that tee waits on another mixer stalled all the audio outputs at once
//! (the intermittent Composite recording without audio).
//!
//! As KMS (`kmscompositemixer.c`, `kmsaudiomixer.c`): a live black
//! background keeps the picture flowing with no inputs, and each output
//! mixer starts with live silence, so every port gets audio and video from
//! its creation. Inputs are stamped on arrival (`do-timestamp`), so sources
//! with unrelated timelines meet on the hub's clock; the aggregators wait
//! [`LATENCY`] for late inputs. Branches are added when a port first sends
//! that media and removed here, off the media worker (stopping a branch
//! waits for its streaming thread).

use super::layout::Rect;
use crate::sample::frame_from_sample;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gst::prelude::*;
use kms_media::{Codec, ElementId, HubOutput, MediaFrame};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

/// How long the aggregators wait for late inputs.
const LATENCY_MS: u64 = 100;
/// What a branch queue holds before it drops its oldest data.
const BRANCH_QUEUE_MS: u64 = 300;
/// Raw frames waiting in an input appsrc before the oldest are dropped.
const INPUT_QUEUE: u64 = 3;
/// The mixers' audio format (KMS forces the same on every mixer input).
pub const AUDIO_CAPS: &str = "audio/x-raw,format=S16LE,rate=48000,channels=2,layout=interleaved";

/// What the hub asks of its engine.
pub enum Command {
    /// A raw video frame into `port`'s compositor input (created on first use).
    Video(ElementId, MediaFrame),
    /// A raw audio frame into `port`'s mixer input (created on first use).
    Audio(ElementId, MediaFrame),
    /// `port`'s audio output: silence plus whatever is routed to it.
    AddOutput(ElementId),
    /// Everything of `port` goes.
    RemovePort(ElementId),
    /// The wanted audio routes, (from, to): each `to` hears the mix of its `from`s.
    AudioRoutes(BTreeSet<(ElementId, ElementId)>),
    /// The output size and where each video input goes.
    Layout { width: i32, height: i32, rects: Vec<(ElementId, Rect)> },
}

/// The composed picture's output settings.
#[derive(Debug, Clone, Copy)]
pub struct VideoSettings {
    pub width: i32,
    pub height: i32,
    pub framerate: i32,
}

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory).build().map_err(|e| format!("{factory}: {e}"))
}

/// The queue in front of an aggregator pad: its own streaming thread (no
/// upstream thread ever blocks on an aggregator), a bounded wait
/// ([`BRANCH_QUEUE_MS`], oldest data dropped past it) and a maximum latency
/// that lets the aggregator run live.
fn branch_queue() -> Result<gst::Element, String> {
    gst::ElementFactory::make("queue")
        .property("max-size-buffers", 0u32)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", BRANCH_QUEUE_MS * 1_000_000)
        .property_from_str("leaky", "downstream")
        .build()
        .map_err(|e| format!("queue: {e}"))
}

fn video_caps(v: VideoSettings) -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field("format", "I420")
        .field("width", v.width)
        .field("height", v.height)
        .field("framerate", gst::Fraction::new(v.framerate, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(1, 1))
        .build()
}

struct VideoOut {
    compositor: gst::Element,
    /// Caps of the background and of the output.
    caps: [gst::Element; 2],
    settings: VideoSettings,
}

/// Where an input branch ends.
enum InputEnd {
    /// Video: a request pad of the compositor.
    Compositor { compositor: gst::Element, pad: gst::Pad },
    /// Audio: a tee, one request pad per port the input is routed to.
    Tee(gst::Element),
}

struct Input {
    appsrc: gst_app::AppSrc,
    /// The branch, first to last.
    elements: Vec<gst::Element>,
    caps: Option<Arc<str>>,
    end: InputEnd,
}

struct Output {
    mixer: gst::Element,
    elements: Vec<gst::Element>,
}

/// One audio route: tee pad -> queue -> mixer pad.
struct Link {
    src: gst::Pad,
    queue: gst::Element,
    sink: gst::Pad,
}

/// The engine's state, owned by its thread.
pub struct Engine {
    pipeline: gst::Pipeline,
    video: Option<VideoOut>,
    video_in: HashMap<ElementId, Input>,
    audio_in: HashMap<ElementId, Input>,
    audio_out: HashMap<ElementId, Output>,
    /// Linked routes: (from, to) → (tee src pad, mixer sink pad).
    /// Audio routes: the tee's pad, the route's queue, the mixer's pad.
    links: HashMap<(ElementId, ElementId), Link>,
    routes: BTreeSet<(ElementId, ElementId)>,
    rects: HashMap<ElementId, Rect>,
    out: Sender<HubOutput>,
    waker: crate::Waker,
}

impl Engine {
    /// Builds the pipeline (with the compositor when `video` is set) and
    /// starts it; outputs go to `out`, each followed by a call of `waker`.
    pub fn new(pipeline: gst::Pipeline, video: Option<VideoSettings>, out: Sender<HubOutput>, waker: crate::Waker) -> Result<Engine, String> {
        let mut engine = Engine {
            pipeline,
            video: None,
            video_in: HashMap::new(),
            audio_in: HashMap::new(),
            audio_out: HashMap::new(),
            links: HashMap::new(),
            routes: BTreeSet::new(),
            rects: HashMap::new(),
            out,
            waker,
        };
        if let Some(v) = video {
            engine.video = Some(engine.build_video(v)?);
        }
        engine.pipeline.set_state(gst::State::Playing).map_err(|e| format!("the hub's pipeline cannot start: {e}"))?;
        Ok(engine)
    }

    /// Runs commands until the hub is dropped (the channel closes).
    /// `queued` counts the frames sent and not yet taken.
    pub fn run(mut self, commands: Receiver<Command>, queued: &AtomicUsize) {
        let mut failures = 0u64;
        while let Ok(command) = commands.recv() {
            if matches!(command, Command::Video(..) | Command::Audio(..)) {
                queued.fetch_sub(1, Ordering::AcqRel);
            }
            if let Err(e) = self.handle(command) {
                failures += 1;
                if failures.is_power_of_two() {
                    tracing::warn!(failures, "hub: {e}");
                }
            }
        }
    }

    fn handle(&mut self, command: Command) -> Result<(), String> {
        match command {
            Command::Video(port, frame) => self.push_video(port, &frame),
            Command::Audio(port, frame) => self.push_audio(port, &frame),
            Command::AddOutput(port) => {
                let output = self.build_output(port)?;
                self.audio_out.insert(port, output);
                self.relink();
                Ok(())
            }
            Command::RemovePort(port) => {
                self.routes.retain(|(from, to)| *from != port && *to != port);
                self.relink();
                for input in [self.video_in.remove(&port), self.audio_in.remove(&port)].into_iter().flatten() {
                    self.remove_input(input);
                }
                if let Some(output) = self.audio_out.remove(&port) {
                    self.remove_branch(&output.elements);
                }
                self.rects.remove(&port);
                // The branches' streaming threads allocated in arenas of their own.
                crate::island::give_back_memory();
                Ok(())
            }
            Command::AudioRoutes(routes) => {
                self.routes = routes;
                self.relink();
                Ok(())
            }
            Command::Layout { width, height, rects } => {
                self.rects = rects.into_iter().collect();
                self.resize(width, height);
                for (port, input) in &self.video_in {
                    if let (InputEnd::Compositor { pad, .. }, Some(rect)) = (&input.end, self.rects.get(port)) {
                        place(pad, rect);
                    }
                }
                Ok(())
            }
        }
    }

    fn build_video(&self, v: VideoSettings) -> Result<VideoOut, String> {
        let background = gst::ElementFactory::make("videotestsrc").property("is-live", true).property_from_str("pattern", "black").build().map_err(|e| e.to_string())?;
        let background_caps = make("capsfilter")?;
        let background_queue = branch_queue()?;
        let compositor = gst::ElementFactory::make("compositor")
            .property_from_str("background", "black")
            .property("latency", LATENCY_MS * 1_000_000)
            .build()
            .map_err(|e| format!("compositor: {e}"))?;
        let output_caps = make("capsfilter")?;
        let sink = self.appsink(None)?;
        for c in [&background_caps, &output_caps] {
            c.set_property("caps", video_caps(v));
        }
        let elements = [&background, &background_caps, &background_queue, &compositor, &output_caps, sink.upcast_ref()];
        self.pipeline.add_many(elements).map_err(|e| e.to_string())?;
        gst::Element::link_many([&background, &background_caps, &background_queue]).map_err(|e| e.to_string())?;
        let pad = compositor.request_pad_simple("sink_%u").ok_or("compositor: no pad")?;
        pad.set_property("zorder", 0u32);
        background_queue.static_pad("src").ok_or("no src")?.link(&pad).map_err(|e| format!("background: {e:?}"))?;
        gst::Element::link_many([&compositor, &output_caps, sink.upcast_ref()]).map_err(|e| e.to_string())?;
        Ok(VideoOut { compositor, caps: [background_caps, output_caps], settings: v })
    }

    /// An appsink whose samples become hub outputs: a broadcast picture
    /// (`port` = None) or one port's audio.
    fn appsink(&self, port: Option<ElementId>) -> Result<gst_app::AppSink, String> {
        let sink = gst_app::AppSink::builder().sync(false).max_buffers(4).drop(true).build();
        sink.set_property("async", false);
        let (out, waker) = (self.out.clone(), self.waker.clone());
        let mut unusable = 0u64;
        let mut timeline = AudioTimeline::default();
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let output = match port {
                        None => frame_from_sample(&sample, Codec::RawVideo).map(HubOutput::Broadcast),
                        Some(p) => match frame_from_sample(&sample, Codec::RawAudio) {
                            Some(f) => match timeline.admit(f) {
                                Some(f) => Some(HubOutput::Media(p, f)),
                                // Already sent: not an unusable sample.
                                None => return Ok(gst::FlowSuccess::Ok),
                            },
                            None => None,
                        },
                    };
                    match output {
                        Some(output) => {
                            if out.send(output).is_ok() {
                                waker();
                            }
                        }
                        None => {
                            // Not silently: a sample without a timestamp in its segment cannot be routed.
                            unusable += 1;
                            if unusable.is_power_of_two() {
                                let pts = sample.buffer().and_then(|b| b.pts());
                                tracing::warn!(unusable, ?port, ?pts, segment = ?sample.segment(), "hub output sample without a running time: dropped");
                            }
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        Ok(sink)
    }

    /// A live input appsrc stamping buffers on arrival.
    fn appsrc() -> gst_app::AppSrc {
        let src = gst_app::AppSrc::builder().is_live(true).format(gst::Format::Time).do_timestamp(true).max_buffers(INPUT_QUEUE).build();
        src.set_property_from_str("leaky-type", "downstream");
        src.set_property("block", false);
        src
    }

    fn push_video(&mut self, port: ElementId, frame: &MediaFrame) -> Result<(), String> {
        let Some(video) = &self.video else { return Ok(()) };
        if !self.video_in.contains_key(&port) {
            let appsrc = Engine::appsrc();
            let convert = make("videoconvert")?;
            let queue = branch_queue()?;
            self.pipeline.add_many([appsrc.upcast_ref(), &convert, &queue]).map_err(|e| e.to_string())?;
            gst::Element::link_many([appsrc.upcast_ref(), &convert, &queue]).map_err(|e| e.to_string())?;
            let pad = video.compositor.request_pad_simple("sink_%u").ok_or("compositor: no pad")?;
            pad.set_property_from_str("sizing-policy", "keep-aspect-ratio");
            if let Some(rect) = self.rects.get(&port) {
                place(&pad, rect);
            }
            queue.static_pad("src").ok_or("no src")?.link(&pad).map_err(|e| format!("video input: {e:?}"))?;
            for e in [appsrc.upcast_ref::<gst::Element>(), &convert, &queue] {
                e.sync_state_with_parent().map_err(|e| e.to_string())?;
            }
            let elements = vec![appsrc.clone().upcast(), convert, queue];
            self.video_in.insert(port, Input { appsrc, elements, caps: None, end: InputEnd::Compositor { compositor: video.compositor.clone(), pad } });
        }
        push(self.video_in.get_mut(&port), frame);
        Ok(())
    }

    fn push_audio(&mut self, port: ElementId, frame: &MediaFrame) -> Result<(), String> {
        if !self.audio_in.contains_key(&port) {
            let appsrc = Engine::appsrc();
            let chain = gst::parse::bin_from_description(&format!("audioconvert ! audioresample ! capsfilter caps=\"{AUDIO_CAPS}\""), true).map_err(|e| e.to_string())?;
            let tee = gst::ElementFactory::make("tee").property("allow-not-linked", true).build().map_err(|e| e.to_string())?;
            let elements: Vec<gst::Element> = vec![appsrc.clone().upcast(), chain.upcast(), tee.clone()];
            self.pipeline.add_many(elements.iter()).map_err(|e| e.to_string())?;
            gst::Element::link_many(elements.iter()).map_err(|e| e.to_string())?;
            for e in &elements {
                e.sync_state_with_parent().map_err(|e| e.to_string())?;
            }
            self.audio_in.insert(port, Input { appsrc, elements, caps: None, end: InputEnd::Tee(tee) });
            self.relink();
        }
        push(self.audio_in.get_mut(&port), frame);
        Ok(())
    }

    fn build_output(&self, port: ElementId) -> Result<Output, String> {
        let silence = gst::parse::bin_from_description(&format!("audiotestsrc is-live=true wave=silence samplesperbuffer=960 ! capsfilter caps=\"{AUDIO_CAPS}\""), true).map_err(|e| e.to_string())?;
        let silence_queue = branch_queue()?;
        let mixer = gst::ElementFactory::make("audiomixer").property("latency", LATENCY_MS * 1_000_000).build().map_err(|e| format!("audiomixer: {e}"))?;
        let caps = make("capsfilter")?;
        caps.set_property("caps", AUDIO_CAPS.parse::<gst::Caps>().map_err(|e| e.to_string())?);
        let sink = self.appsink(Some(port))?;
        let elements: Vec<gst::Element> = vec![silence.upcast(), silence_queue, mixer.clone(), caps, sink.upcast()];
        self.pipeline.add_many(elements.iter()).map_err(|e| e.to_string())?;
        gst::Element::link_many(elements.iter()).map_err(|e| e.to_string())?;
        for e in &elements {
            e.sync_state_with_parent().map_err(|e| e.to_string())?;
        }
        Ok(Output { mixer, elements })
    }

    /// Links the wanted routes whose ends both exist; unlinks the others.
    fn relink(&mut self) {
        let stale: Vec<(ElementId, ElementId)> = self.links.keys().filter(|r| !self.routes.contains(r) || !self.audio_in.contains_key(&r.0) || !self.audio_out.contains_key(&r.1)).copied().collect();
        for route in stale {
            if let Some(link) = self.links.remove(&route) {
                self.unlink(route, link);
            }
        }
        let wanted: Vec<(ElementId, ElementId)> = self.routes.iter().filter(|r| !self.links.contains_key(r)).copied().collect();
        for route in wanted {
            let (Some(input), Some(output)) = (self.audio_in.get(&route.0), self.audio_out.get(&route.1)) else { continue };
            let InputEnd::Tee(tee) = &input.end else { continue };
            match self.link(tee, &output.mixer) {
                Ok(link) => {
                    self.links.insert(route, link);
                }
                Err(e) => tracing::warn!("hub: audio route {} -> {}: {e}", route.0, route.1),
            }
        }
    }

    /// tee -> a new branch queue -> a new mixer pad, running.
    fn link(&self, tee: &gst::Element, mixer: &gst::Element) -> Result<Link, String> {
        let queue = branch_queue()?;
        self.pipeline.add(&queue).map_err(|e| e.to_string())?;
        let (src, sink) = (tee.request_pad_simple("src_%u"), mixer.request_pad_simple("sink_%u"));
        let (Some(src), Some(sink)) = (src.clone(), sink.clone()) else {
            // Whichever pad was given goes back.
            if let Some(src) = src {
                tee.release_request_pad(&src);
            }
            if let Some(sink) = sink {
                mixer.release_request_pad(&sink);
            }
            let _ = self.pipeline.remove(&queue);
            return Err("no tee or mixer pad".into());
        };
        let link = Link { src, queue, sink };
        let linked = (|| {
            link.queue.static_pad("src").ok_or("queue without src")?.link(&link.sink).map_err(|e| format!("{e:?}"))?;
            link.queue.sync_state_with_parent().map_err(|e| e.to_string())?;
            link.src.link(&link.queue.static_pad("sink").ok_or("queue without sink")?).map_err(|e| format!("{e:?}"))?;
            Ok::<(), String>(())
        })();
        if let Err(e) = linked {
            self.release_link(tee, mixer, link);
            return Err(e);
        }
        Ok(link)
    }

    fn unlink(&self, route: (ElementId, ElementId), link: Link) {
        let tee = match self.audio_in.get(&route.0) {
            Some(Input { end: InputEnd::Tee(tee), .. }) => Some(tee.clone()),
            _ => None,
        };
        match (tee, self.audio_out.get(&route.1).map(|o| o.mixer.clone())) {
            (Some(tee), Some(mixer)) => self.release_link(&tee, &mixer, link),
            // One end is gone with its branch: the queue still goes.
            _ => {
                let _ = link.queue.set_state(gst::State::Null);
                let _ = self.pipeline.remove(&link.queue);
            }
        }
    }

    /// Takes a route down: the tee stops feeding it, its queue stops (its
    /// thread finishes its push), then the mixer pad goes.
    fn release_link(&self, tee: &gst::Element, mixer: &gst::Element, link: Link) {
        if let Some(queue_sink) = link.queue.static_pad("sink") {
            let _ = link.src.unlink(&queue_sink);
        }
        tee.release_request_pad(&link.src);
        let _ = link.queue.set_state(gst::State::Null);
        let _ = self.pipeline.remove(&link.queue);
        mixer.release_request_pad(&link.sink);
    }

    /// Stops an input branch (its streaming thread finishes its push), then
    /// frees its compositor pad.
    fn remove_input(&self, input: Input) {
        self.remove_branch(&input.elements);
        if let InputEnd::Compositor { compositor, pad } = input.end {
            compositor.release_request_pad(&pad);
        }
    }

    fn remove_branch(&self, elements: &[gst::Element]) {
        for e in elements {
            let _ = e.set_state(gst::State::Null);
        }
        let _ = self.pipeline.remove_many(elements);
    }

    /// AlphaBlending follows its master's size: background and output caps change.
    fn resize(&mut self, width: i32, height: i32) {
        let Some(video) = &mut self.video else { return };
        if (video.settings.width, video.settings.height) == (width, height) || width <= 0 || height <= 0 {
            return;
        }
        video.settings.width = width;
        video.settings.height = height;
        for c in &video.caps {
            c.set_property("caps", video_caps(video.settings));
        }
    }
}

/// A port's audio output as one forward-running stream. When routes
/// change, the mixer can restart its output up to its latency back in time
/// (a new pad added while it runs); an encoder fed that fails for good
/// ("buffer going too far back in time": the Composite participant who got
/// 0.2 s of audio, then none). Audio already sent is cut off the new
/// buffers; a buffer wholly sent already is dropped.
#[derive(Default)]
struct AudioTimeline {
    /// Media time (48 kHz) the next sample must not precede.
    next: Option<u64>,
}

/// Bytes of one S16LE stereo sample ([`AUDIO_CAPS`]).
const AUDIO_BYTES_PER_SAMPLE: usize = 4;

impl AudioTimeline {
    fn admit(&mut self, mut frame: MediaFrame) -> Option<MediaFrame> {
        let samples = (frame.data.len() / AUDIO_BYTES_PER_SAMPLE) as u64;
        if let Some(next) = self.next {
            if frame.rtp_time + samples <= next {
                return None;
            }
            if frame.rtp_time < next {
                let skip = usize::try_from(next - frame.rtp_time).ok()? * AUDIO_BYTES_PER_SAMPLE;
                frame.data = Arc::from(&frame.data[skip..]);
                frame.rtp_time = next;
            }
        }
        self.next = Some(frame.rtp_time + (frame.data.len() / AUDIO_BYTES_PER_SAMPLE) as u64);
        Some(frame)
    }
}

fn place(pad: &gst::Pad, rect: &Rect) {
    pad.set_property("xpos", rect.x);
    pad.set_property("ypos", rect.y);
    pad.set_property("width", rect.width);
    pad.set_property("height", rect.height);
    pad.set_property("zorder", rect.z_order);
}

/// Pushes a raw frame into an input, setting its caps when they change; a
/// full input drops its oldest frame (leaky appsrc).
fn push(input: Option<&mut Input>, frame: &MediaFrame) {
    let (Some(input), Some(text)) = (input, &frame.raw_caps) else { return };
    if input.caps.as_ref() != Some(text) {
        let Ok(caps) = text.parse::<gst::Caps>() else { return };
        input.appsrc.set_caps(Some(&caps));
        input.caps = Some(text.clone());
    }
    let _ = input.appsrc.push_buffer(gst::Buffer::from_slice(frame.data.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(rtp_time: u64, samples: usize) -> MediaFrame {
        let data: Vec<u8> = (0..samples * AUDIO_BYTES_PER_SAMPLE).map(|i| (i / AUDIO_BYTES_PER_SAMPLE) as u8).collect();
        MediaFrame::new(Codec::RawAudio, 48_000, rtp_time, std::time::Instant::now(), Arc::from(data))
    }

    #[test]
    fn a_port_audio_output_never_goes_back_in_time() {
        let mut t = AudioTimeline::default();
        assert_eq!(t.admit(audio(1000, 960)).map(|f| f.rtp_time), Some(1000));
        assert_eq!(t.admit(audio(1960, 960)).map(|f| f.rtp_time), Some(1960), "contiguous");
        assert!(t.admit(audio(1500, 960)).is_none(), "wholly sent already: dropped");
        let cut = t.admit(audio(2820, 960)).expect("partly new");
        assert_eq!((cut.rtp_time, cut.data.len()), (2920, 860 * AUDIO_BYTES_PER_SAMPLE), "the sent part cut off");
        assert_eq!(cut.data[0], 100, "from the first new sample");
        assert_eq!(t.admit(audio(5000, 10)).map(|f| f.rtp_time), Some(5000), "a gap forward is kept");
    }
}
