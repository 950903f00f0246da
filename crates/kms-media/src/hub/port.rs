//! HubPort: the element through which media enters and leaves a hub.

use crate::element::{Element, ElementEvent, ElementOutput};
use crate::flow::FlowTracker;
use crate::graph::ElementId;
use crate::media::{MediaFrame, MediaType};
use crate::FlowState;
use std::collections::VecDeque;
use std::time::Instant;

/// A port of the hub `hub`. The pipeline hands its input to the hub and
/// queues the hub's output for it ([`HubPort::emit`]); the port itself
/// keeps KMS's MediaFlowIn / MediaFlowOut state.
#[derive(Debug)]
pub struct HubPort {
    hub: ElementId,
    queue: VecDeque<ElementOutput>,
    flow_in: FlowTracker,
    flow_out: FlowTracker,
}

impl HubPort {
    pub fn new(hub: ElementId) -> HubPort {
        HubPort { hub, queue: VecDeque::new(), flow_in: FlowTracker::default(), flow_out: FlowTracker::default() }
    }

    /// The hub this port belongs to.
    pub fn hub(&self) -> ElementId {
        self.hub
    }

    /// A frame the hub sends out through this port.
    pub fn emit(&mut self, frame: MediaFrame) {
        self.note_output(frame.network_time, frame.media_type());
        self.queue.push_back(ElementOutput::Media(frame));
    }

    /// Media of `media_type` left through this port (routed by the pipeline
    /// on the hub's behalf, as a broadcast).
    pub fn note_output(&mut self, now: Instant, media_type: MediaType) {
        if let Some(state) = self.flow_out.frame(now, media_type) {
            self.queue.push_back(ElementOutput::Event(ElementEvent::MediaFlowOut { media_type, state }));
        }
    }

    /// The hub switched what leaves this port.
    pub fn source_changed(&mut self, media_type: MediaType) {
        self.queue.push_back(ElementOutput::SourceChanged(media_type));
    }
}

impl Element for HubPort {
    /// Records the flow; the pipeline gives the frame to the hub.
    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        let media_type = frame.media_type();
        if let Some(state) = self.flow_in.frame(now, media_type) {
            self.queue.push_back(ElementOutput::Event(ElementEvent::MediaFlowIn { media_type, state }));
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for media_type in self.flow_in.check(now) {
            self.queue.push_back(ElementOutput::Event(ElementEvent::MediaFlowIn { media_type, state: FlowState::NotFlowing }));
        }
        for media_type in self.flow_out.check(now) {
            self.queue.push_back(ElementOutput::Event(ElementEvent::MediaFlowOut { media_type, state: FlowState::NotFlowing }));
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.flow_in.next_check(), self.flow_out.next_check()].into_iter().flatten().min()
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        self.queue.pop_front()
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
