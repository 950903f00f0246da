//! The MediaPipeline router.

use crate::element::{Datagram, Element, ElementEvent, ElementOutput, Transmit};
use crate::graph::{Connection, Graph, GraphError};
use crate::latency::LatencyStats;
use crate::media::{MediaFrame, MediaType};
pub use crate::graph::ElementId;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

mod hubs;
mod transcoding;
pub use transcoding::TranscoderInfo;

/// Minimum interval between two keyframe requests forwarded to the same source.
/// Many sinks asking at once (a burst of PLIs after a viewer joins) reach the
/// publisher as one request; this is KMS's and mediasoup's behaviour in spirit.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(300);

/// What leaves the pipeline: datagrams for the I/O shell and element events for
/// the control plane.
#[derive(Debug)]
pub enum PipelineOutput {
    Transmit(Transmit),
    Event(ElementId, ElementEvent),
}

/// One MediaPipeline: the element arena, the connection graph and the routing.
#[derive(Default)]
pub struct Pipeline {
    next_id: u64,
    elements: BTreeMap<ElementId, Box<dyn Element>>,
    graph: Graph,
    /// Elements that received input since they were last polled.
    dirty: BTreeSet<ElementId>,
    /// The elements' timeouts by deadline, read again when they are drained
    /// (an element's deadline changes only when the pipeline calls it, and
    /// every such call marks it dirty).
    deadlines: crate::DeadlineQueue<ElementId>,
    /// Per (source, simulcast layer id, `None` for any): the last keyframe
    /// request forwarded.
    last_keyframe_request: HashMap<(ElementId, Option<u8>), Instant>,
    /// Per simulcast source: the layer id its primary frames carry now.
    primary_layers: HashMap<ElementId, u8>,
    /// The latest video bitrate estimate (bits/s) of each sink that sent one.
    estimates: HashMap<ElementId, u64>,
    /// The best estimate behind a sink that relays its own sinks' (a
    /// PassThrough), bits/s.
    estimate_max: HashMap<ElementId, u64>,
    /// `latencyStats`: input latency per element, when enabled.
    latency: LatencyStats,
    outbox: VecDeque<PipelineOutput>,
    /// Transcoders for sinks that cannot take their source's codec.
    transcoding: transcoding::Transcoding,
    /// Hubs and their ports.
    hubs: hubs::Hubs,
}

impl Pipeline {
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Adds an element and returns its id.
    pub fn add(&mut self, element: Box<dyn Element>) -> ElementId {
        self.next_id += 1;
        let id = ElementId(self.next_id);
        self.elements.insert(id, element);
        self.dirty.insert(id);
        id
    }

    /// Removes an element and every connection touching it (and the
    /// transcoders that served only it); a removed port leaves its hub.
    pub fn remove(&mut self, now: Instant, id: ElementId) -> Option<Box<dyn Element>> {
        self.port_removed(now, id);
        self.graph.remove_element(id);
        self.dirty.remove(&id);
        self.deadlines.set(id, None);
        self.last_keyframe_request.retain(|(source, _), _| *source != id);
        self.primary_layers.remove(&id);
        self.estimates.remove(&id);
        self.estimate_max.remove(&id);
        self.latency.remove(id);
        let removed = self.elements.remove(&id);
        self.prune_transcoders(now);
        removed
    }

    pub fn len(&self) -> usize {
        self.elements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The element `id` as its concrete type, for type-specific commands.
    /// Marks it for polling, since a command may produce output.
    pub fn element_mut<T: Element>(&mut self, id: ElementId) -> Option<&mut T> {
        let element = self.elements.get_mut(&id)?;
        self.dirty.insert(id);
        (element.as_mut() as &mut dyn std::any::Any).downcast_mut::<T>()
    }

    /// The element `id` through the element contract.
    pub fn element(&self, id: ElementId) -> Option<&dyn Element> {
        self.elements.get(&id).map(|e| e.as_ref())
    }

    /// Marks `id` to be polled: an element fed from another thread (a
    /// GStreamer island) has output queued.
    pub fn wake(&mut self, id: ElementId) {
        if self.elements.contains_key(&id) || self.is_transcoder(id) || self.is_hub(id) {
            self.dirty.insert(id);
        }
    }

    /// `MediaPipeline.latencyStats`: input latency per element and media type.
    pub fn latency(&self) -> &LatencyStats {
        &self.latency
    }

    pub fn latency_mut(&mut self) -> &mut LatencyStats {
        &mut self.latency
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// Connects per KMS's rules (see [`Graph::connect`]) and returns the replaced
    /// connection. A sink whose source changes is told so (it rebases its
    /// timeline, see [`crate::Timeline`]); a new VIDEO sink asks its source for
    /// a keyframe so its receiver can start decoding at once.
    pub fn connect(&mut self, now: Instant, conn: Connection) -> Result<Option<Connection>, GraphError> {
        for id in [conn.source, conn.sink] {
            match self.elements.get(&id) {
                None => return Err(GraphError::UnknownElement(id)),
                Some(e) if !e.carries_media() => return Err(GraphError::NoMedia(id)),
                Some(_) => {}
            }
        }
        let (source, sink, media_type) = (conn.source, conn.sink, conn.media_type);
        let previous = self.graph.source(sink, media_type);
        let replaced = self.graph.connect(conn);
        if previous != Some(source) {
            self.source_changed(now, sink, media_type);
        }
        if media_type == MediaType::Video {
            self.request_keyframe(now, source);
        }
        self.prune_transcoders(now);
        Ok(replaced)
    }

    fn source_changed(&mut self, now: Instant, sink: ElementId, media_type: MediaType) {
        if let Some(e) = self.elements.get_mut(&sink) {
            e.handle_source_changed(now, media_type);
            self.dirty.insert(sink);
        }
    }

    /// Disconnects `source` from `sink` for `media_type` (all types when `None`).
    pub fn disconnect(&mut self, now: Instant, source: ElementId, sink: ElementId, media_type: Option<MediaType>) -> Vec<Connection> {
        let removed = self.graph.disconnect(source, sink, media_type);
        self.prune_transcoders(now);
        removed
    }

    /// The element that accepts `datagram`, if any.
    pub fn accepting(&self, now: Instant, datagram: &Datagram) -> Option<ElementId> {
        self.elements.iter().find(|(_, e)| e.accepts(now, datagram)).map(|(id, _)| *id)
    }

    pub fn handle_datagram(&mut self, now: Instant, id: ElementId, datagram: Datagram) {
        if let Some(e) = self.elements.get_mut(&id) {
            e.handle_datagram(now, datagram);
            self.dirty.insert(id);
        }
    }

    /// Drives every element whose timeout is due (only those are visited);
    /// true when any was.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        let mut any = self.hubs_timeout(now);
        while let Some(id) = self.deadlines.pop_due(now) {
            let Some(e) = self.elements.get_mut(&id) else { continue };
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
                any = true;
            }
            // Drained next, which records its next deadline.
            self.dirty.insert(id);
        }
        any
    }

    /// The earliest element timeout, once [`Pipeline::poll_output`] has
    /// returned `None` (draining records the elements' deadlines).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next().into_iter().chain(self.hubs_poll_timeout()).min()
    }

    /// Routes everything the elements produced and returns the next output for
    /// the outside world; call until `None`.
    pub fn poll_output(&mut self, now: Instant) -> Option<PipelineOutput> {
        while self.outbox.is_empty() {
            let id = self.dirty.pop_first()?;
            if self.is_transcoder(id) {
                self.drain_transcoder(now, id);
            } else if self.is_hub(id) {
                self.drain_hub(now, id);
            } else {
                self.drain_element(now, id);
            }
        }
        self.outbox.pop_front()
    }

    fn drain_element(&mut self, now: Instant, id: ElementId) {
        while let Some(output) = self.elements.get_mut(&id).and_then(|e| e.poll_output()) {
            match output {
                ElementOutput::Media(frame) => self.route_media(now, id, &frame),
                ElementOutput::Data(message) => {
                    for sink in self.graph.sinks(id, MediaType::Data) {
                        if let Some(e) = self.elements.get_mut(&sink) {
                            e.handle_data(now, &message);
                            self.dirty.insert(sink);
                        }
                    }
                }
                ElementOutput::EndOfStream => {
                    let mut sinks: Vec<ElementId> = MediaType::ALL.iter().flat_map(|&t| self.graph.sinks(id, t)).collect();
                    sinks.sort_unstable();
                    sinks.dedup();
                    for sink in sinks {
                        if let Some(e) = self.elements.get_mut(&sink) {
                            e.handle_end_of_stream(now);
                            self.dirty.insert(sink);
                        }
                    }
                }
                ElementOutput::KeyframeRequest => {
                    if self.transcoded_keyframe_request(now, id) {
                        continue;
                    }
                    if let Some(source) = self.graph.source(id, MediaType::Video) {
                        self.request_keyframe(now, source);
                    }
                }
                ElementOutput::LayerKeyframeRequest(layer) => {
                    if let Some(source) = self.graph.source(id, MediaType::Video) {
                        self.request_layer_keyframe(now, source, layer);
                    }
                }
                ElementOutput::BitrateEstimate(bitrate) => self.sink_estimate(now, id, bitrate, None),
                ElementOutput::SinkEstimates { min, max } => self.sink_estimate(now, id, min, Some(max)),
                ElementOutput::SourceChanged(media_type) => {
                    let sinks: Vec<ElementId> = self.graph.sinks(id, media_type).collect();
                    for sink in sinks {
                        self.source_changed(now, sink, media_type);
                    }
                }
                ElementOutput::Transmit(t) => self.outbox.push_back(PipelineOutput::Transmit(t)),
                ElementOutput::Event(ev) => self.outbox.push_back(PipelineOutput::Event(id, ev)),
            }
        }
        let deadline = self.elements.get(&id).and_then(|e| e.poll_timeout());
        self.deadlines.set(id, deadline);
    }

    /// Sink `id` reported its estimate (and, relaying its own sinks', the
    /// best of theirs): relayed to its VIDEO source.
    fn sink_estimate(&mut self, now: Instant, id: ElementId, bitrate: u64, best: Option<u64>) {
        self.estimates.insert(id, bitrate);
        match best {
            Some(max) => self.estimate_max.insert(id, max),
            None => self.estimate_max.remove(&id),
        };
        if self.transcoded_estimate(id) {
            return;
        }
        if let Some(source) = self.graph.source(id, MediaType::Video) {
            self.relay_estimate(now, source);
        }
    }

    /// Gives `source` the minimum and maximum of its video sinks' latest
    /// estimates (of the sinks it feeds directly: a transcoder's encoder
    /// follows the others).
    fn relay_estimate(&mut self, now: Instant, source: ElementId) {
        // (sink's estimate, the best of its own sinks' when it relays them)
        let estimates = || {
            self.graph
                .sinks(source, MediaType::Video)
                .filter(|s| !self.is_transcoded_sink(*s, MediaType::Video))
                .filter_map(|s| self.estimates.get(&s).map(|e| (*e, self.estimate_max.get(&s).copied().unwrap_or(*e))))
        };
        let (Some(min), Some(max)) = (estimates().map(|e| e.0).min(), estimates().map(|e| e.1).max()) else { return };
        if let Some(e) = self.elements.get_mut(&source) {
            e.handle_sink_estimates(now, min, max);
            self.dirty.insert(source);
        }
        self.port_estimate(now, source, min);
    }

    /// Asks `source` for a keyframe of its simulcast layer `layer`, at most
    /// once per [`KEYFRAME_REQUEST_INTERVAL`] per layer.
    fn request_layer_keyframe(&mut self, now: Instant, source: ElementId, layer: u8) {
        if self.asked_recently(now, source, Some(layer)) {
            return;
        }
        if let Some(e) = self.elements.get_mut(&source) {
            e.handle_layer_keyframe_request(now, layer);
            self.last_keyframe_request.insert((source, Some(layer)), now);
            self.dirty.insert(source);
        }
    }

    /// Whether `source` was asked for a keyframe (of `layer`) within
    /// [`KEYFRAME_REQUEST_INTERVAL`].
    fn asked_recently(&self, now: Instant, source: ElementId, layer: Option<u8>) -> bool {
        let last = self.last_keyframe_request.get(&(source, layer));
        last.is_some_and(|t| now.saturating_duration_since(*t) < KEYFRAME_REQUEST_INTERVAL)
    }

    /// Whether `sink` gets `frame` of a simulcast source: a sink that
    /// selects layers gets every layer, any other only the primary one.
    /// When the primary layer changes (at a keyframe of the new one), the
    /// other sinks are told their source changed, so they rebase their
    /// timelines as for a new source.
    fn takes_layer(&self, sink: ElementId, frame: &MediaFrame) -> bool {
        match frame.layer {
            Some(layer) if !layer.primary => self.elements.get(&sink).is_some_and(|e| e.selects_layers()),
            _ => true,
        }
    }

    /// Notes the primary layer of `source`'s `frame`; on a change, the sinks
    /// that do not select layers see a source change.
    fn follow_primary_layer(&mut self, now: Instant, source: ElementId, frame: &MediaFrame) {
        let Some(layer) = frame.layer.filter(|l| l.primary) else { return };
        let previous = self.primary_layers.insert(source, layer.id);
        if previous.is_none_or(|p| p == layer.id) {
            return;
        }
        let sinks: Vec<ElementId> = self.graph.sinks(source, frame.media_type()).collect();
        for sink in sinks {
            if !self.elements.get(&sink).is_some_and(|e| e.selects_layers()) {
                self.source_changed(now, sink, frame.media_type());
            }
        }
    }

    /// Asks `source` for a keyframe unless one was asked within
    /// [`KEYFRAME_REQUEST_INTERVAL`].
    fn request_keyframe(&mut self, now: Instant, source: ElementId) {
        if self.asked_recently(now, source, None) {
            return;
        }
        if let Some(e) = self.elements.get_mut(&source) {
            e.handle_keyframe_request(now);
            self.last_keyframe_request.insert((source, None), now);
            self.dirty.insert(source);
        }
        self.port_keyframe_request(now, source);
    }
}

#[cfg(test)]
mod tests;
