//! Mixing hubs on GStreamer: Composite, AlphaBlending and Mixer.
//!
//! [`Compositor`] is the hub the router sees (it decides layouts and audio
//! routes, all plain logic); its [`engine::Engine`] thread owns the
//! GStreamer pipeline and does what it is told, so the media worker never
//! waits on GStreamer. Inputs are raw frames (the router decodes each
//! port's input once); the composed picture is broadcast to every port
//! (encoded once per format its consumers need); each port's audio is its
//! own mix.
//!
//! - Composite: KMS's grid of the ports that send video (see
//!   [`layout::grid`]); each port hears every other port.
//! - AlphaBlending: the master (first port by default, zOrder 5) at full
//!   size and the output at its size (640x480 until it sends video); the
//!   others where `setPortProperties` puts them; each port hears the others.
//! - Mixer: video routed port to port without decoding (as a Dispatcher,
//!   `connect(VIDEO, ...)`), audio mixed per sink from the sources
//!   connected to it (`connect(AUDIO, ...)`).

mod engine;
mod layout;

pub use engine::{VideoSettings, AUDIO_CAPS as AUDIO_MIX_CAPS};
pub use layout::{grid, Placement, Rect, MASTER_Z_ORDER};

use crate::island::{Island, Waker};
use engine::{Command, Engine};
use gstreamer as gst;
use kms_media::{Codec, Dispatcher, DispatcherMode, ElementId, ElementOutput, Hub, HubError, HubOutput, MediaFrame, MediaType};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Frames waiting for the engine; frames beyond are dropped (the media
/// worker never waits for the engine).
const FRAME_QUEUE: usize = 64;

/// AlphaBlending's output size until its master sends video (KMS).
pub const BLEND_DEFAULT_SIZE: (i32, i32) = (640, 480);
/// AlphaBlending's output frame rate (KMS's videorate after the compositor).
const BLEND_FRAMERATE: i32 = 15;

/// Which KMS class a [`Compositor`] is.
#[derive(Debug, Clone, Copy)]
pub enum CompositorKind {
    /// Composite with its constructor's `width`, `height`, `framerate`.
    Composite(VideoSettings),
    AlphaBlending,
    Mixer,
}

/// A mixing hub.
pub struct Compositor {
    kind: CompositorKind,
    ports: BTreeSet<ElementId>,
    /// Ports that sent video, by id (creation order).
    video_inputs: BTreeSet<ElementId>,
    audio_inputs: BTreeSet<ElementId>,
    /// AlphaBlending: master and its zOrder; placed ports; the master's size.
    master: Option<(ElementId, i32)>,
    placed: BTreeMap<ElementId, Placement>,
    size: (i32, i32),
    /// The master's caps last looked at (parsed only when they change).
    master_caps: Option<Arc<str>>,
    /// Mixer: audio routes (from, to) and the video forwarding.
    mixer_audio: BTreeSet<(ElementId, ElementId)>,
    forward: Dispatcher,
    commands: Sender<Command>,
    /// Frames sent and not yet taken by the engine.
    queued: Arc<AtomicUsize>,
    outputs: Receiver<HubOutput>,
    island: Island,
    /// Frames dropped because the engine fell behind.
    dropped: u64,
}

const RAW_VIDEO: [Codec; 1] = [Codec::RawVideo];
const RAW_AUDIO: [Codec; 1] = [Codec::RawAudio];

impl Compositor {
    /// Starts the hub's pipeline and engine thread; `waker` makes the media
    /// worker poll the hub.
    pub fn new(kind: CompositorKind, waker: Waker) -> Result<Compositor, String> {
        crate::init()?;
        let (video, size) = match kind {
            CompositorKind::Composite(v) => (Some(v), (v.width, v.height)),
            CompositorKind::AlphaBlending => {
                let (width, height) = BLEND_DEFAULT_SIZE;
                (Some(VideoSettings { width, height, framerate: BLEND_FRAMERATE }), (width, height))
            }
            CompositorKind::Mixer => (None, (0, 0)),
        };
        let pipeline = gst::Pipeline::new();
        let (out_tx, outputs) = channel();
        let engine = Engine::new(pipeline.clone(), video, out_tx, waker.clone())?;
        let (commands, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let taken = queued.clone();
        std::thread::Builder::new().name("kms-hub".into()).spawn(move || engine.run(rx, &taken)).map_err(|e| e.to_string())?;
        let island = Island::new(pipeline, waker);
        Ok(Compositor {
            kind,
            ports: BTreeSet::new(),
            video_inputs: BTreeSet::new(),
            audio_inputs: BTreeSet::new(),
            master: None,
            placed: BTreeMap::new(),
            size,
            master_caps: None,
            mixer_audio: BTreeSet::new(),
            forward: Dispatcher::new(DispatcherMode::Pairs),
            commands,
            queued,
            outputs,
            island,
            dropped: 0,
        })
    }

    /// Queues a command; frames beyond [`FRAME_QUEUE`] are dropped, layout
    /// and route changes never are.
    fn send(&mut self, command: Command) {
        if matches!(command, Command::Video(..) | Command::Audio(..)) {
            if self.queued.load(Ordering::Acquire) >= FRAME_QUEUE {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::warn!(dropped = self.dropped, "hub: the mixer falls behind, input frames dropped");
                }
                return;
            }
            self.queued.fetch_add(1, Ordering::AcqRel);
        }
        let _ = self.commands.send(command);
    }

    /// `AlphaBlending.setMaster(source, zOrder)`.
    pub fn set_master(&mut self, port: ElementId, z_order: i32) -> Result<(), HubError> {
        self.check(port)?;
        self.master = Some((port, z_order));
        self.master_caps = None;
        self.relayout();
        Ok(())
    }

    /// `AlphaBlending.setPortProperties(...)`.
    pub fn set_port_properties(&mut self, port: ElementId, placement: Placement) -> Result<(), HubError> {
        self.check(port)?;
        self.placed.insert(port, placement);
        self.relayout();
        Ok(())
    }

    /// `Mixer.connect/disconnect(AUDIO, source, sink)`: `sink` hears the
    /// mix of every source connected to it. Disconnecting a route that does
    /// not exist is refused, as KMS does.
    pub fn route_audio(&mut self, source: ElementId, sink: ElementId, connect: bool) -> Result<(), HubError> {
        self.check(source)?;
        self.check(sink)?;
        let changed = if connect { self.mixer_audio.insert((source, sink)) } else { self.mixer_audio.remove(&(source, sink)) };
        if !connect && !changed {
            return Err(HubError::NotConnected);
        }
        self.send_routes();
        Ok(())
    }

    /// `Mixer.connect(VIDEO, source, sink)`; KMS has no video disconnection.
    pub fn route_video(&mut self, source: ElementId, sink: ElementId, connect: bool) -> Result<(), HubError> {
        if !connect {
            return Err(HubError::Unsupported("Video disconnection is not implemented yet"));
        }
        self.forward.connect(source, sink, Some(MediaType::Video))
    }

    fn check(&self, port: ElementId) -> Result<(), HubError> {
        if self.ports.contains(&port) {
            Ok(())
        } else {
            Err(HubError::UnknownPort(port))
        }
    }

    fn send_routes(&mut self) {
        let routes = match self.kind {
            CompositorKind::Mixer => self.mixer_audio.clone(),
            // Each port hears every other port (KMS: no echo of its own input).
            _ => self.audio_inputs.iter().flat_map(|from| self.ports.iter().filter(move |to| *to != from).map(move |to| (*from, *to))).collect(),
        };
        self.send(Command::AudioRoutes(routes));
    }

    fn relayout(&mut self) {
        let inputs: Vec<ElementId> = self.video_inputs.iter().copied().collect();
        let (width, height) = self.size;
        let rects = match self.kind {
            CompositorKind::Composite(_) => grid(&inputs, width, height),
            CompositorKind::AlphaBlending => {
                let placed: Vec<(ElementId, Placement)> = self.placed.iter().map(|(p, pl)| (*p, *pl)).collect();
                layout::blend(&inputs, self.master, &placed, width, height)
            }
            CompositorKind::Mixer => return,
        };
        self.send(Command::Layout { width, height, rects });
    }

    /// AlphaBlending: the output takes the master's picture size.
    fn follow_master(&mut self, frame: &MediaFrame) {
        if frame.raw_caps == self.master_caps {
            return;
        }
        self.master_caps = frame.raw_caps.clone();
        let Some(caps) = frame.raw_caps.as_deref().and_then(|c| c.parse::<gst::Caps>().ok()) else { return };
        let Some(s) = caps.structure(0) else { return };
        if let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) {
            if (w, h) != self.size {
                self.size = (w, h);
                self.relayout();
            }
        }
    }
}

impl Hub for Compositor {
    fn input_codecs(&self, media_type: MediaType) -> Option<&[Codec]> {
        match (media_type, self.kind) {
            (MediaType::Audio, _) => Some(&RAW_AUDIO),
            (MediaType::Video, CompositorKind::Mixer) => None,
            (MediaType::Video, _) => Some(&RAW_VIDEO),
            (MediaType::Data, _) => None,
        }
    }

    fn add_port(&mut self, now: Instant, port: ElementId) {
        self.ports.insert(port);
        self.forward.add_port(now, port);
        if matches!(self.kind, CompositorKind::AlphaBlending) && self.master.is_none() {
            self.master = Some((port, MASTER_Z_ORDER));
        }
        self.send(Command::AddOutput(port));
        self.send_routes();
    }

    fn remove_port(&mut self, now: Instant, port: ElementId) {
        self.ports.remove(&port);
        self.forward.remove_port(now, port);
        self.audio_inputs.remove(&port);
        self.placed.remove(&port);
        self.mixer_audio.retain(|(from, to)| *from != port && *to != port);
        if self.master.is_some_and(|(m, _)| m == port) {
            self.master = None;
            self.master_caps = None;
        }
        self.send(Command::RemovePort(port));
        if self.video_inputs.remove(&port) {
            self.relayout();
        }
    }

    fn handle_media(&mut self, now: Instant, port: ElementId, frame: &MediaFrame) {
        match (frame.codec, self.kind) {
            (Codec::RawAudio, _) => {
                if self.audio_inputs.insert(port) {
                    self.send_routes();
                }
                self.send(Command::Audio(port, frame.clone()));
            }
            (_, CompositorKind::Mixer) => self.forward.handle_media(now, port, frame),
            (Codec::RawVideo, kind) => {
                if matches!(kind, CompositorKind::AlphaBlending) && self.master.is_some_and(|(m, _)| m == port) {
                    self.follow_master(frame);
                }
                if self.video_inputs.insert(port) {
                    self.relayout();
                }
                self.send(Command::Video(port, frame.clone()));
            }
            _ => {}
        }
    }

    fn handle_keyframe_request(&mut self, now: Instant, port: ElementId) {
        self.forward.handle_keyframe_request(now, port);
    }

    fn handle_bitrate_estimate(&mut self, now: Instant, port: ElementId, bitrate: u64) {
        self.forward.handle_bitrate_estimate(now, port, bitrate);
    }

    fn poll_output(&mut self) -> Option<HubOutput> {
        if let Some(out) = self.forward.poll_output() {
            return Some(out);
        }
        if let Ok(out) = self.outputs.try_recv() {
            return Some(out);
        }
        match self.island.try_recv()? {
            ElementOutput::Event(event) => Some(HubOutput::HubEvent(event)),
            _ => None,
        }
    }

    fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("{:?}: {} ports, video inputs {:?}, audio inputs {:?}", self.kind, self.ports.len(), self.video_inputs, self.audio_inputs)];
        lines.extend(self.forward.describe());
        lines
    }

    fn gstreamer_dot(&self) -> Option<String> {
        Some(self.island.dot())
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
