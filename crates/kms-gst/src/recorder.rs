//! RecorderEndpoint: frames from the router into a muxed file.
//!
//! The island (appsrc -> parser/AAC encoder -> muxer -> filesink) is built
//! when `record()` has been called and the first frame of every recorded
//! stream has arrived, so the codecs are known; video starts at a keyframe
//! (one is requested at `record()` and after a source switch). Timestamps:
//! each stream is anchored at its first frame's arrival relative to the
//! recording's start, then follows the frames' RTP time, so audio and video
//! stay in sync and a source switch or a pause only re-anchors the stream.
//! `stop()` sends end-of-stream and the file is complete when the muxer has
//! written its index: the `Stopped` event and `stopAndWait` wait for that.

use crate::island::{BusNote, Finished, Island, Waker};
use crate::profile::MediaProfile;
use crate::sample::buffer_from_frame;
use crate::state::{UriEndpoint, UriEndpointState, EMPTY_DOT};
use crate::uri::sink_for;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gst::prelude::*;
use kms_media::{Codec, Element, ElementEvent, ElementOutput, FlowState, FlowTracker, MediaFrame, MediaType};
use std::collections::VecDeque;
use std::time::{Duration, Instant};


/// Where one recorded stream is anchored on the file's timeline.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// File time (ns) of the anchoring frame.
    file_ns: u64,
    rtp_time: u64,
    clock_rate: u32,
}

/// One recorded stream (audio or video).
#[derive(Default)]
struct Track {
    codec: Option<Codec>,
    anchor: Option<Anchor>,
    appsrc: Option<gst_app::AppSrc>,
    last_pts: Option<u64>,
    /// A frame of this type arrived (even one dropped while waiting for a keyframe).
    seen: bool,
    /// A source of this type was connected to the recorder.
    connected: bool,
}

/// How long the first frames wait for a recorded stream that has not shown
/// up: briefly when nothing of its type is connected (an audio-only source
/// recorded with a video profile), longer when a source of its type is
/// connected but slow to start (a hub's mix behind a starting encoder).
const UNCONNECTED_STREAM_WAIT: Duration = Duration::from_secs(2);
const CONNECTED_STREAM_WAIT: Duration = Duration::from_secs(10);

pub struct RecorderEndpoint {
    /// The target: `file://` or `http(s)://`.
    uri: String,
    profile: MediaProfile,
    stop_on_eos: bool,
    state: UriEndpointState,
    waker: Waker,
    island: Option<Island>,
    /// Building the island failed: the element stays stopped.
    failed: bool,
    /// record() was called once (KMS records once per endpoint).
    started: bool,
    /// Arrival of the first recorded frame: file time zero.
    origin: Option<Instant>,
    paused_at: Option<Instant>,
    paused_total: Duration,
    tracks: [Track; 2],
    /// Frames held until every recorded stream has its first frame, and
    /// since when (their arrival here, not their capture).
    waiting: Vec<MediaFrame>,
    waiting_since: Option<Instant>,
    finishing: Vec<Finished>,
    queue: VecDeque<ElementOutput>,
    /// Media arriving at the recorder, recording or not (MediaFlowIn, isMediaFlowingIn).
    flow_in: FlowTracker,
}

/// Width and height of a VP8 keyframe (RFC 6386 §9.1: start code 9d 01 2a,
/// then 14-bit width and height, little-endian).
fn vp8_size(frame: &[u8]) -> Option<(u16, u16)> {
    let header = frame.get(3..10)?;
    if header[..3] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let dim = |lo: u8, hi: u8| u16::from_le_bytes([lo, hi]) & 0x3fff;
    Some((dim(header[3], header[4]), dim(header[5], header[6])))
}

fn slot(t: MediaType) -> usize {
    usize::from(t == MediaType::Video)
}

impl RecorderEndpoint {
    /// A recorder writing to `uri` (see [`crate::uri::sink_for`]).
    pub fn new(uri: &str, profile: MediaProfile, stop_on_eos: bool, waker: Waker) -> RecorderEndpoint {
        RecorderEndpoint {
            uri: uri.to_owned(),
            profile,
            stop_on_eos,
            state: UriEndpointState::Stop,
            waker,
            island: None,
            failed: false,
            started: false,
            origin: None,
            paused_at: None,
            paused_total: Duration::ZERO,
            tracks: Default::default(),
            waiting: Vec::new(),
            waiting_since: None,
            finishing: Vec::new(),
            queue: VecDeque::new(),
            flow_in: FlowTracker::default(),
        }
    }

    fn event(&mut self, event: ElementEvent) {
        self.queue.push_back(ElementOutput::Event(event));
    }

    /// RecorderEndpoint.record: starts, or resumes after pause. A target
    /// that cannot be written raises INVALID_URI at once.
    pub fn record(&mut self, now: Instant) {
        match self.state {
            UriEndpointState::Start => return,
            UriEndpointState::Pause => {
                if let Some(at) = self.paused_at.take() {
                    self.paused_total += now.saturating_duration_since(at);
                }
                for t in &mut self.tracks {
                    t.anchor = None;
                }
            }
            UriEndpointState::Stop => {
                if self.started {
                    // KMS records once per endpoint: a second record() after stop() is ignored.
                    return;
                }
                if let Err(e) = sink_for(&self.uri) {
                    return self.fail("INVALID_URI", e.to_string());
                }
                self.started = true;
            }
        }
        self.state = UriEndpointState::Start;
        self.queue.push_back(ElementOutput::KeyframeRequest);
        self.event(ElementEvent::UriEndpointState { state: self.state.as_str() });
        self.event(ElementEvent::Media { name: "Recording" });
    }

    /// stop / stopAndWait: ends the file. `finished` runs once the file is
    /// complete and closed (at once when nothing is being recorded); the
    /// Stopped event is raised once per recording.
    pub fn stop_then(&mut self, finished: Option<Finished>) {
        self.finishing.extend(finished);
        if self.state == UriEndpointState::Stop {
            // Never recorded, or already finishing (waiters go when the file is closed).
            if self.island.is_none() {
                self.release_waiters();
            }
            return;
        }
        if self.island.is_none() && !self.waiting.is_empty() {
            // Stopped while waiting for a stream that never came: what did
            // come is written, without that stream.
            for m in [MediaType::Audio, MediaType::Video] {
                let t = &self.tracks[slot(m)];
                if self.wanted(m) && t.connected && t.codec.is_none() {
                    let name = m.as_str();
                    tracing::warn!(uri = %self.uri, seen = t.seen, "recorder stopped before its connected {name} source sent a usable frame: the file has no {name}");
                }
            }
            self.start_writing();
        }
        self.state = UriEndpointState::Stop;
        match &self.island {
            Some(_) if !self.failed => self.end_of_stream(),
            // Nothing recorded yet, or a failed island that never reaches end-of-stream.
            _ => self.finish(),
        }
    }

    fn end_of_stream(&self) {
        for src in self.tracks.iter().filter_map(|t| t.appsrc.as_ref()) {
            let _ = src.end_of_stream();
        }
    }

    /// The recording ended (its file closed, or never opened): Stopped, and
    /// waiters released. The island is stopped off the media thread.
    fn finish(&mut self) {
        if let Some(island) = self.island.take() {
            while let Some(out) = island.try_recv() {
                self.queue.push_back(out);
            }
        }
        for t in &mut self.tracks {
            t.appsrc = None;
        }
        self.event(ElementEvent::UriEndpointState { state: UriEndpointState::Stop.as_str() });
        self.event(ElementEvent::Media { name: "Stopped" });
        self.release_waiters();
    }

    fn release_waiters(&mut self) {
        for f in self.finishing.drain(..) {
            f();
        }
    }

    /// Builds the island with the streams known so far and writes the
    /// frames that waited for it.
    fn start_writing(&mut self) {
        self.waiting_since = None;
        self.build();
        for f in std::mem::take(&mut self.waiting) {
            self.push(&f);
        }
    }

    fn wanted(&self, t: MediaType) -> bool {
        match t {
            MediaType::Audio => self.profile.audio,
            MediaType::Video => self.profile.video,
            MediaType::Data => false,
        }
    }

    /// Builds the island once every recorded stream has shown its codec.
    fn build(&mut self) {
        let [audio, video] = [self.tracks[0].codec, self.tracks[1].codec];
        // Matroska needs the picture size in the caps; VP8 carries it in keyframes.
        let size = self.waiting.iter().find(|f| f.codec == Codec::Vp8).and_then(|f| vp8_size(&f.data));
        let (factory, location) = match sink_for(&self.uri) {
            Ok(s) => s,
            Err(e) => return self.fail("INVALID_URI", e.to_string()),
        };
        let description = match self.profile.description(video.map(|c| (c, size)), audio, &format!("{factory} name=sink")) {
            Ok(d) => d,
            Err(e) => return self.fail("UNEXPECTED_ELEMENT_ERROR", e.to_string()),
        };
        tracing::debug!(%description, "recorder island");
        let pipeline = match gst::parse::launch(&description).map(|e| e.downcast::<gst::Pipeline>()) {
            Ok(Ok(p)) => p,
            _ => return self.fail("UNEXPECTED_ELEMENT_ERROR", format!("cannot build the recorder for {description}")),
        };
        if let Some(sink) = pipeline.by_name("sink") {
            sink.set_property("location", &location);
            if factory != "filesink" {
                // Uploaded as written: the muxer cannot seek back, so it writes a
                // streamable file (MP4: fragmented, else its index is never written).
                if let Some(mux) = pipeline.by_name("mux") {
                    if mux.find_property("fragment-duration").is_some() {
                        mux.set_property("fragment-duration", 1000u32);
                    } else if mux.find_property("streamable").is_some() {
                        mux.set_property("streamable", true);
                    }
                }
            }
        }
        for (i, name) in [(0, "audio"), (1, "video")] {
            self.tracks[i].appsrc = pipeline.by_name(name).and_then(|e| e.downcast::<gst_app::AppSrc>().ok());
        }
        let island = Island::new(pipeline, self.waker.clone());
        if island.pipeline.set_state(gst::State::Playing).is_err() {
            // The bus has the reason (unwritable path, ...): it arrives as the Error event.
            self.island = Some(island);
            self.failed = true;
            return;
        }
        self.island = Some(island);
    }

    fn fail(&mut self, error_type: &'static str, description: String) {
        self.failed = true;
        self.event(ElementEvent::Error { error_type, description, code: 0 });
    }

    /// Pushes one frame to its appsrc with its file timestamp.
    fn push(&mut self, frame: &MediaFrame) {
        let origin = *self.origin.get_or_insert(frame.network_time);
        let file_now = frame.network_time.saturating_duration_since(origin).saturating_sub(self.paused_total);
        let track = &mut self.tracks[slot(frame.media_type())];
        let Some(src) = &track.appsrc else { return };
        let anchor = *track.anchor.get_or_insert(Anchor {
            file_ns: file_now.as_nanos() as u64,
            rtp_time: frame.rtp_time,
            clock_rate: frame.clock_rate.max(1),
        });
        let since = frame.rtp_time.saturating_sub(anchor.rtp_time);
        let mut pts = anchor.file_ns + since * 1_000_000_000 / u64::from(anchor.clock_rate);
        // Never backwards: muxers refuse decreasing timestamps.
        if let Some(last) = track.last_pts {
            pts = pts.max(last + 1);
        }
        track.last_pts = Some(pts);
        if let Err(e) = src.push_buffer(buffer_from_frame(frame, pts)) {
            tracing::debug!("recorder push: {e:?}");
        }
    }
}

impl Element for RecorderEndpoint {
    /// What the profile's container takes (KMS's recording profiles): WEBM
    /// VP8, MP4 and FLV H.264, MKV and JPEG either; audio as Opus or G.711
    /// (encoded to AAC here where the container wants AAC). Once a stream
    /// has started, only its codec: anything else arrives transcoded.
    fn input_codecs(&self, media_type: MediaType) -> Option<&[Codec]> {
        if !self.wanted(media_type) {
            return None;
        }
        if let Some(codec) = self.tracks[slot(media_type)].codec.as_ref() {
            return Some(std::slice::from_ref(codec));
        }
        Some(self.profile.accepted(media_type))
    }

    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        let t = frame.media_type();
        if let Some(state) = self.flow_in.frame(now, t) {
            self.event(ElementEvent::MediaFlowIn { media_type: t, state });
        }
        if self.state != UriEndpointState::Start || self.failed || !self.wanted(t) {
            return;
        }
        let track = &mut self.tracks[slot(t)];
        track.seen = true;
        if track.codec.is_none() {
            if t == MediaType::Video && frame.is_keyframe() == Some(false) {
                self.queue.push_back(ElementOutput::KeyframeRequest);
                return;
            }
            track.codec = Some(frame.codec);
        } else if track.codec != Some(frame.codec) {
            return; // a codec change mid-file cannot be muxed without transcoding
        }
        if self.island.is_none() {
            self.waiting.push(frame.clone());
            let waited = now.saturating_duration_since(*self.waiting_since.get_or_insert(now));
            let known = |m: MediaType| !self.wanted(m) || self.tracks[slot(m)].codec.is_some();
            let ready = [MediaType::Audio, MediaType::Video].into_iter().all(known);
            // A stream that never showed up is given up on after a while (see
            // UNCONNECTED_STREAM_WAIT); a video source whose keyframe is late
            // is waited for.
            let given_up = |m: MediaType| {
                let track = &self.tracks[slot(m)];
                let limit = if track.connected { CONNECTED_STREAM_WAIT } else { UNCONNECTED_STREAM_WAIT };
                known(m) || (!track.seen && waited > limit)
            };
            if ready || [MediaType::Audio, MediaType::Video].into_iter().all(given_up) {
                self.start_writing();
            }
            return;
        }
        if self.tracks[slot(t)].anchor.is_none() && t == MediaType::Video && frame.is_keyframe() == Some(false) {
            self.queue.push_back(ElementOutput::KeyframeRequest);
            return;
        }
        self.push(frame);
    }

    fn handle_timeout(&mut self, now: Instant) {
        for media_type in self.flow_in.check(now) {
            self.event(ElementEvent::MediaFlowIn { media_type, state: FlowState::NotFlowing });
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.flow_in.next_check()
    }

    fn is_media_flowing_in(&self, media_type: MediaType) -> bool {
        self.flow_in.is_flowing(media_type)
    }

    fn handle_end_of_stream(&mut self, _now: Instant) {
        if self.stop_on_eos {
            self.stop_then(None);
        }
    }

    fn handle_source_changed(&mut self, _now: Instant, media_type: MediaType) {
        // A new source: its timestamps start elsewhere; re-anchor at its first
        // frame (a keyframe, for video) so nothing is lost across the switch.
        if media_type != MediaType::Data {
            let t = &mut self.tracks[slot(media_type)];
            t.anchor = None;
            t.connected = true;
        }
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        if let Some(out) = self.queue.pop_front() {
            return Some(out);
        }
        let island = self.island.as_ref()?;
        if let Some(out) = island.try_recv() {
            return Some(out);
        }
        for note in island.take_notes() {
            match note {
                // After the first of them the island is gone: finished once.
                _ if self.island.is_none() => {}
                BusNote::EndOfStream => self.finish(),
                BusNote::Error => {
                    self.failed = true;
                    if self.state == UriEndpointState::Stop {
                        self.finish();
                    }
                }
            }
        }
        self.queue.pop_front()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl UriEndpoint for RecorderEndpoint {
    /// Frames are dropped until record() resumes.
    fn pause(&mut self, now: Instant) {
        if self.state != UriEndpointState::Start {
            return;
        }
        self.state = UriEndpointState::Pause;
        self.paused_at = Some(now);
        self.event(ElementEvent::UriEndpointState { state: self.state.as_str() });
        self.event(ElementEvent::Media { name: "Paused" });
    }

    fn stop(&mut self) {
        self.stop_then(None);
    }

    fn state(&self) -> UriEndpointState {
        self.state
    }

    fn dot(&self) -> String {
        self.island.as_ref().map_or_else(|| EMPTY_DOT.into(), Island::dot)
    }
}

impl Drop for RecorderEndpoint {
    /// Released while recording (or finishing): the file is still completed,
    /// on the teardown thread, so it stays playable.
    fn drop(&mut self) {
        if self.failed {
            return;
        }
        if self.state != UriEndpointState::Stop {
            self.end_of_stream();
        }
        if let Some(island) = &mut self.island {
            island.drain_on_drop();
        }
    }
}
