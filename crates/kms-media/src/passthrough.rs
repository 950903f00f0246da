//! PassThrough: forwards its input (media and data) to its sinks unchanged, source changes
//! downstream, and keyframe requests and bitrate estimates from its sinks to
//! its source.

use crate::element::{Element, ElementOutput};
use crate::media::{DataMessage, MediaFrame, MediaType};
use std::collections::VecDeque;
use std::time::Instant;

#[derive(Debug, Default)]
pub struct PassThrough {
    queue: VecDeque<ElementOutput>,
}

impl PassThrough {
    /// Queues `output` after what is already waiting (an element built on
    /// a PassThrough adds its own outputs: events, processed frames).
    pub fn push(&mut self, output: ElementOutput) {
        self.queue.push_back(output);
    }
}

impl Element for PassThrough {
    fn handle_media(&mut self, _now: Instant, frame: &MediaFrame) {
        self.queue.push_back(ElementOutput::Media(frame.clone()));
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

    fn handle_layer_keyframe_request(&mut self, _now: Instant, layer: u8) {
        self.queue.push_back(ElementOutput::LayerKeyframeRequest(layer));
    }

    /// Its sinks pick their layers themselves: every layer passes.
    fn selects_layers(&self) -> bool {
        true
    }

    fn handle_source_changed(&mut self, _now: Instant, media_type: MediaType) {
        self.queue.push_back(ElementOutput::SourceChanged(media_type));
    }

    fn handle_bitrate_estimate(&mut self, _now: Instant, bitrate: u64) {
        self.queue.push_back(ElementOutput::BitrateEstimate(bitrate));
    }

    fn handle_sink_estimates(&mut self, _now: Instant, min: u64, max: u64) {
        self.queue.push_back(ElementOutput::SinkEstimates { min, max });
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        self.queue.pop_front()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
