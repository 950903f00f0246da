//! The router's half of hubs (see [`crate::hub`]): ports are elements of
//! the arena, hubs sit next to them in the same id space; frames routed to a
//! port are handed to its hub, and the hub's outputs leave through ports.

use super::{Pipeline, PipelineOutput};
use crate::graph::ElementId;
use crate::hub::{Hub, HubOutput, HubPort};
use crate::media::{MediaFrame, MediaType};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// The hubs of a pipeline and which hub each port belongs to.
#[derive(Default)]
pub(super) struct Hubs {
    hubs: BTreeMap<ElementId, Box<dyn Hub>>,
    port_hub: HashMap<ElementId, ElementId>,
}

impl Hubs {
    /// The hub of `port`, with its id.
    pub(super) fn of_port(&self, port: ElementId) -> Option<(ElementId, &dyn Hub)> {
        // Per frame and sink: pipelines without hubs skip the hashing.
        if self.port_hub.is_empty() {
            return None;
        }
        let id = *self.port_hub.get(&port)?;
        Some((id, self.hubs.get(&id)?.as_ref()))
    }

    fn ports_of(&self, hub: ElementId) -> impl Iterator<Item = ElementId> + '_ {
        self.port_hub.iter().filter(move |(_, h)| **h == hub).map(|(p, _)| *p)
    }
}

impl Pipeline {
    /// Adds a hub; its id shares the elements' id space.
    pub fn add_hub(&mut self, hub: Box<dyn Hub>) -> ElementId {
        self.next_id += 1;
        let id = ElementId(self.next_id);
        self.hubs.hubs.insert(id, hub);
        id
    }

    /// Creates a [`HubPort`] of `hub`; `None` when the hub is gone.
    pub fn add_port(&mut self, now: Instant, hub: ElementId) -> Option<ElementId> {
        if !self.hubs.hubs.contains_key(&hub) {
            return None;
        }
        let port = self.add(Box::new(HubPort::default()));
        self.hubs.port_hub.insert(port, hub);
        if let Some(h) = self.hubs.hubs.get_mut(&hub) {
            h.add_port(now, port);
            self.dirty.insert(hub);
        }
        Some(port)
    }

    /// Removes a hub and its ports (with their connections).
    pub fn remove_hub(&mut self, now: Instant, hub: ElementId) {
        let ports: Vec<ElementId> = self.hubs.ports_of(hub).collect();
        for port in ports {
            self.remove(now, port);
        }
        self.hubs.hubs.remove(&hub);
        self.dirty.remove(&hub);
        self.prune_transcoders(now);
    }

    /// The hub `id` as its concrete type, for class-specific commands
    /// (setSource, connect, ...). Marks it for polling.
    pub fn hub_mut<T: Hub>(&mut self, id: ElementId) -> Option<&mut T> {
        let hub = self.hubs.hubs.get_mut(&id)?;
        self.dirty.insert(id);
        (hub.as_mut() as &mut dyn std::any::Any).downcast_mut::<T>()
    }

    /// The hub `id` through the hub contract.
    pub fn hub(&self, id: ElementId) -> Option<&dyn Hub> {
        self.hubs.hubs.get(&id).map(|h| h.as_ref())
    }

    pub(super) fn is_hub(&self, id: ElementId) -> bool {
        self.hubs.hubs.contains_key(&id)
    }

    /// Whether frames can still come from `origin` (an element or a hub).
    pub(super) fn is_origin(&self, origin: ElementId) -> bool {
        self.elements.contains_key(&origin) || self.is_hub(origin)
    }

    /// The sinks a frame of `origin` reaches: an element's sinks, or for a
    /// hub's broadcast the sinks of all its ports.
    pub(super) fn consumers(&self, origin: ElementId, media_type: MediaType, out: &mut Vec<ElementId>) {
        out.clear();
        if self.is_hub(origin) {
            for port in self.hubs.ports_of(origin) {
                out.extend(self.graph.sinks(port, media_type));
            }
            out.sort_unstable();
            out.dedup();
        } else {
            out.extend(self.graph.sinks(origin, media_type));
        }
    }

    /// Whether `origin` feeds `sink` with `media_type`.
    pub(super) fn feeds(&self, origin: ElementId, sink: ElementId, media_type: MediaType) -> bool {
        if self.is_hub(origin) {
            self.hubs.ports_of(origin).any(|p| self.graph.sinks(p, media_type).any(|s| s == sink))
        } else {
            self.graph.sinks(origin, media_type).any(|s| s == sink)
        }
    }

    /// Media arrived into `port` (when it is one): its hub gets it.
    pub(super) fn port_input(&mut self, now: Instant, port: ElementId, frame: &MediaFrame) {
        if self.hubs.port_hub.is_empty() {
            return;
        }
        let Some(&hub) = self.hubs.port_hub.get(&port) else { return };
        if let Some(h) = self.hubs.hubs.get_mut(&hub) {
            h.handle_media(now, port, frame);
            self.dirty.insert(hub);
        }
    }

    /// A port was removed: its hub forgets it.
    pub(super) fn port_removed(&mut self, now: Instant, port: ElementId) {
        let Some(hub) = self.hubs.port_hub.remove(&port) else { return };
        if let Some(h) = self.hubs.hubs.get_mut(&hub) {
            h.remove_port(now, port);
            self.dirty.insert(hub);
        }
    }

    /// A consumer of `port` wants a keyframe: its hub decides from where.
    pub(super) fn port_keyframe_request(&mut self, now: Instant, port: ElementId) {
        let Some(&hub) = self.hubs.port_hub.get(&port) else { return };
        if let Some(h) = self.hubs.hubs.get_mut(&hub) {
            h.handle_keyframe_request(now, port);
            self.dirty.insert(hub);
        }
    }

    /// The consumers of `port` can take `bitrate`: its hub relays it.
    pub(super) fn port_estimate(&mut self, now: Instant, port: ElementId, bitrate: u64) {
        let Some(&hub) = self.hubs.port_hub.get(&port) else { return };
        if let Some(h) = self.hubs.hubs.get_mut(&hub) {
            h.handle_bitrate_estimate(now, port, bitrate);
            self.dirty.insert(hub);
        }
    }

    pub(super) fn hubs_timeout(&mut self, now: Instant) -> bool {
        let mut any = false;
        for (id, h) in self.hubs.hubs.iter_mut() {
            if h.poll_timeout().is_some_and(|t| t <= now) {
                h.handle_timeout(now);
                self.dirty.insert(*id);
                any = true;
            }
        }
        any
    }

    pub(super) fn hubs_poll_timeout(&self) -> Option<Instant> {
        self.hubs.hubs.values().filter_map(|h| h.poll_timeout()).min()
    }

    /// Routes what the hub `id` produced.
    pub(super) fn drain_hub(&mut self, now: Instant, id: ElementId) {
        while let Some(output) = self.hubs.hubs.get_mut(&id).and_then(|h| h.poll_output()) {
            match output {
                HubOutput::Media(port, frame) => {
                    if let Some(p) = self.element_mut::<HubPort>(port) {
                        p.emit(frame);
                    }
                }
                HubOutput::Broadcast(frame) => {
                    let ports: Vec<ElementId> = self.hubs.ports_of(id).collect();
                    for port in ports {
                        if let Some(p) = self.element_mut::<HubPort>(port) {
                            p.note_output(now, frame.media_type());
                        }
                    }
                    self.route_media(now, id, &frame);
                }
                HubOutput::KeyframeRequest(port) => {
                    if let Some(source) = self.graph.source(port, MediaType::Video) {
                        self.request_keyframe(now, source);
                    }
                }
                HubOutput::SourceChanged(port, media_type) => {
                    if let Some(p) = self.element_mut::<HubPort>(port) {
                        p.source_changed(media_type);
                    }
                }
                HubOutput::BitrateEstimate(port, bitrate) => {
                    self.estimates.insert(port, bitrate);
                    if let Some(source) = self.graph.source(port, MediaType::Video) {
                        self.relay_estimate(now, source);
                    }
                }
                HubOutput::HubEvent(event) => self.outbox.push_back(PipelineOutput::Event(id, event)),
            }
        }
    }
}
