//! HttpPostEndpoint: media uploaded with an HTTP POST (WebM, MP4, ... as a
//! whole body or a browser form's file part) into the router.
//!
//! The HTTP side (the server's `HttpEndpoint` listener) takes an
//! [`UploadSlot`] per endpoint URL; each POST begins an upload, an island
//! `appsrc ! parsebin` whose streams become frames exactly as a
//! PlayerEndpoint's do (paced in real time, so a fast uploader is slowed
//! down by TCP, and `useEncodedMedia` refuses what would need decoding).
//! The end of the body (complete or cut) is end-of-stream: EndOfStream is
//! raised and the island goes; a later POST starts a new upload (KMS accepts
//! it too, but then drops its media). KMS's session events: the first
//! upload raises MediaSessionStarted; `disconnectionTimeout` seconds after
//! an upload ends without a new one the URL expires (requests answer 404,
//! getUrl answers "") and MediaSessionTerminated is raised.

use crate::island::{BusNote, Island, Waker};
use crate::player::add_branch;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gst::prelude::*;
use kms_media::{Element, ElementEvent, ElementOutput, FlowState, FlowTracker, MediaType};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Bytes the appsrc queues before a writer waits (the upload's backpressure).
const UPLOAD_QUEUE_BYTES: u64 = 1 << 20;

/// How long the end of a body waits for the media's verdict (an unreadable
/// upload fails within it; a readable one keeps playing after it).
const OUTCOME_WAIT: Duration = Duration::from_secs(2);

/// Why an upload cannot begin (the HTTP status the server answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// 404: the endpoint is released or its URL expired.
    #[error("this URL is not registered")]
    Gone,
    /// 409: another upload to this URL is still running.
    #[error("an upload to this URL is in progress")]
    Busy,
    /// 500: GStreamer could not build the upload's pipeline.
    #[error("cannot receive the upload: {0}")]
    Failed(String),
}

#[derive(Default)]
struct SlotState {
    island: Option<Island>,
    /// A writer is pushing the current upload's body.
    writing: bool,
    /// A POST was accepted once (MediaSessionStarted).
    started: bool,
    /// The URL expired: no more uploads.
    expired: bool,
    /// The current upload failed (its island stopped on an error): the POST
    /// answers 415 with this text.
    failed: Option<String>,
}

/// What the HTTP side and the element share.
pub struct UploadSlot {
    use_encoded: bool,
    waker: Waker,
    state: Mutex<SlotState>,
}

/// One running upload: the body goes in through [`UploadWriter::write`].
pub struct UploadWriter {
    slot: Arc<UploadSlot>,
    appsrc: gst_app::AppSrc,
}

impl UploadSlot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Begins an upload (a POST whose headers were accepted).
    pub fn begin(self: &Arc<Self>) -> Result<UploadWriter, UploadError> {
        let mut state = self.lock();
        if state.expired {
            return Err(UploadError::Gone);
        }
        if state.writing {
            return Err(UploadError::Busy);
        }
        let pipeline = gst::Pipeline::new();
        let appsrc = gst_app::AppSrc::builder().format(gst::Format::Bytes).block(true).max_bytes(UPLOAD_QUEUE_BYTES).build();
        let parse = gst::ElementFactory::make("parsebin").build().map_err(|e| UploadError::Failed(e.to_string()))?;
        pipeline.add_many([appsrc.upcast_ref(), &parse]).map_err(|e| UploadError::Failed(e.to_string()))?;
        appsrc.link(&parse).map_err(|e| UploadError::Failed(e.to_string()))?;
        let island = Island::new(pipeline.clone(), self.waker.clone());
        let (outbox, weak, use_encoded) = (island.outbox.clone(), pipeline.downgrade(), self.use_encoded);
        parse.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else { return };
            if let Err(e) = add_branch(&pipeline, pad, use_encoded, outbox.clone()) {
                let description = format!("cannot play the uploaded stream {:?}: {e}", pad.current_caps());
                outbox.event(ElementEvent::Error { error_type: "STREAM_ERROR_FAILED", description, code: 0 });
            }
        });
        pipeline.set_state(gst::State::Playing).map_err(|e| UploadError::Failed(e.to_string()))?;
        state.island = Some(island);
        state.writing = true;
        state.started = true;
        state.failed = None;
        drop(state);
        (self.waker)();
        Ok(UploadWriter { slot: self.clone(), appsrc })
    }
}

impl UploadWriter {
    /// Queues a piece of the body; blocks while the island is behind (call
    /// it off async threads). False once the upload cannot take more (its
    /// media failed, or the endpoint is gone).
    pub fn write(&self, bytes: Vec<u8>) -> bool {
        // The lock is never held while pushing: the media worker polls the
        // element meanwhile.
        let failed = self.slot.lock().failed.is_some();
        !failed && self.appsrc.push_buffer(gst::Buffer::from_mut_slice(bytes)).is_ok()
    }

    /// The body ended (complete or cut short): end-of-stream. Returns the
    /// upload's failure when its media could not be read: waits (at most
    /// [`OUTCOME_WAIT`], on the writer's thread) for the island to end or fail.
    pub fn finish(self) -> Result<(), String> {
        let slot = self.slot.clone();
        drop(self);
        let deadline = Instant::now() + OUTCOME_WAIT;
        loop {
            let state = slot.lock();
            if let Some(e) = &state.failed {
                return Err(e.clone());
            }
            if state.island.is_none() || Instant::now() >= deadline {
                return Ok(());
            }
            drop(state);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for UploadWriter {
    fn drop(&mut self) {
        // A writer dropped without finish() (the handler went away): the upload ends.
        let _ = self.appsrc.end_of_stream();
        self.slot.lock().writing = false;
        (self.slot.waker)();
    }
}

/// The element.
pub struct HttpPostEndpoint {
    slot: Arc<UploadSlot>,
    url: String,
    /// `disconnectionTimeout`.
    timeout: Duration,
    expires_at: Option<Instant>,
    session_started: bool,
    /// The last Error the upload's island raised.
    last_error: Option<String>,
    flow_out: FlowTracker,
    queue: VecDeque<ElementOutput>,
}

impl HttpPostEndpoint {
    /// An endpoint reachable at `url`; its uploads go through the returned
    /// slot (register it with the HTTP side). `disconnection_timeout` in s.
    pub fn new(url: String, disconnection_timeout: Duration, use_encoded: bool, waker: Waker) -> (HttpPostEndpoint, Arc<UploadSlot>) {
        let slot = Arc::new(UploadSlot { use_encoded, waker, state: Mutex::default() });
        let endpoint = HttpPostEndpoint {
            slot: slot.clone(),
            url,
            timeout: disconnection_timeout,
            expires_at: None,
            session_started: false,
            last_error: None,
            flow_out: FlowTracker::default(),
            queue: VecDeque::new(),
        };
        (endpoint, slot)
    }

    /// The URL the HTTP side registered the slot under.
    pub fn set_url(&mut self, url: String) {
        self.url = url;
    }

    /// HttpEndpoint.getUrl: "" once the URL expired (KMS).
    pub fn url(&self) -> &str {
        if self.slot.lock().expired { "" } else { &self.url }
    }

    /// The upload island's graph (getGstreamerDot).
    pub fn dot(&self) -> String {
        self.slot.lock().island.as_ref().map_or_else(|| crate::state::EMPTY_DOT.into(), Island::dot)
    }

    fn event(&mut self, event: ElementEvent) {
        self.queue.push_back(ElementOutput::Event(event));
    }

    /// `disconnectionTimeout` runs from the end of an upload while no other begins.
    fn arm_expiry(&mut self) {
        let state = self.slot.lock();
        let idle = state.started && state.island.is_none() && !state.writing && !state.expired;
        drop(state);
        if !idle {
            self.expires_at = None;
        } else if self.expires_at.is_none() {
            self.expires_at = Some(Instant::now() + self.timeout);
        }
    }
}

impl Element for HttpPostEndpoint {
    fn handle_timeout(&mut self, now: Instant) {
        for media_type in self.flow_out.check(now) {
            self.event(ElementEvent::MediaFlowOut { media_type, state: FlowState::NotFlowing });
        }
        if self.expires_at.is_some_and(|t| now >= t) {
            self.expires_at = None;
            let mut state = self.slot.lock();
            if !state.writing && state.island.is_none() {
                state.expired = true;
                drop(state);
                self.event(ElementEvent::Media { name: "MediaSessionTerminated" });
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.flow_out.next_check(), self.expires_at].into_iter().flatten().min()
    }

    fn is_media_flowing_out(&self, media_type: MediaType) -> bool {
        self.flow_out.is_flowing(media_type)
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        if let Some(out) = self.queue.pop_front() {
            return Some(out);
        }
        let mut state = self.slot.lock();
        if state.started && !self.session_started {
            self.session_started = true;
            self.expires_at = None;
            drop(state);
            self.event(ElementEvent::Media { name: "MediaSessionStarted" });
            return self.queue.pop_front();
        }
        let Some(island) = state.island.as_ref() else {
            drop(state);
            self.arm_expiry();
            return self.queue.pop_front();
        };
        if let Some(out) = island.try_recv() {
            drop(state);
            match &out {
                ElementOutput::Media(frame) => {
                    if let Some(s) = self.flow_out.frame(frame.network_time, frame.media_type()) {
                        self.event(ElementEvent::MediaFlowOut { media_type: frame.media_type(), state: s });
                    }
                }
                // Kept for the POST's answer if the upload then fails (a
                // stream refused under useEncodedMedia does not fail it).
                ElementOutput::Event(ElementEvent::Error { description, .. }) => self.last_error = Some(description.clone()),
                _ => {}
            }
            return Some(out);
        }
        let notes = island.take_notes();
        if notes.is_empty() {
            drop(state);
        } else {
            // The upload is over (its end, or media that cannot be read): its
            // island goes (a writer still pushing is released), sinks learn
            // the media ended.
            if notes.contains(&BusNote::Error) {
                let error = self.last_error.take().unwrap_or_else(|| "the uploaded media cannot be read".into());
                state.failed.get_or_insert(error);
            }
            let island = state.island.take();
            drop(state);
            if let Some(island) = island {
                while let Some(out) = island.try_recv() {
                    self.queue.push_back(out);
                }
            }
            for media_type in self.flow_out.stop() {
                self.event(ElementEvent::MediaFlowOut { media_type, state: FlowState::NotFlowing });
            }
            self.event(ElementEvent::Media { name: "EndOfStream" });
            self.queue.push_back(ElementOutput::EndOfStream);
        }
        self.arm_expiry();
        self.queue.pop_front()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
