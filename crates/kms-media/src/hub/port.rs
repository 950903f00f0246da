//! HubPort: the element through which media enters and leaves a hub.

use crate::element::{Element, ElementOutput};
use crate::flow::MediaFlow;
use crate::media::{MediaFrame, MediaType};
use std::collections::VecDeque;
use std::time::Instant;

/// A port of a hub. The pipeline (which knows the port's hub) hands its
/// input to the hub and queues the hub's output for it ([`HubPort::emit`]);
/// the port itself keeps KMS's MediaFlowIn / MediaFlowOut state.
#[derive(Debug, Default)]
pub struct HubPort {
    queue: VecDeque<ElementOutput>,
    flow: MediaFlow,
}

impl HubPort {
    /// A frame the hub sends out through this port.
    pub fn emit(&mut self, frame: MediaFrame) {
        self.note_output(frame.network_time, frame.media_type());
        self.queue.push_back(ElementOutput::Media(frame));
    }

    /// Media of `media_type` left through this port (routed by the pipeline
    /// on the hub's behalf, as a broadcast).
    pub fn note_output(&mut self, now: Instant, media_type: MediaType) {
        self.queue.extend(self.flow.frame_out(now, media_type).map(ElementOutput::Event));
    }

    /// The hub switched what leaves this port.
    pub fn source_changed(&mut self, media_type: MediaType) {
        self.queue.push_back(ElementOutput::SourceChanged(media_type));
    }
}

impl Element for HubPort {
    /// Records the flow; the pipeline gives the frame to the hub.
    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        self.queue.extend(self.flow.frame_in(now, frame.media_type()).map(ElementOutput::Event));
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.queue.extend(self.flow.check(now).into_iter().map(ElementOutput::Event));
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.flow.next_check()
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        self.queue.pop_front()
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
