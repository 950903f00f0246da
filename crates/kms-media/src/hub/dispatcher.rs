//! Forwarding hubs: Dispatcher, DispatcherOneToMany and Mixer's routing.
//!
//! Media is forwarded as it arrived, never decoded. Each receiving port has
//! at most one sending port per media type; a change of sender tells the
//! receiver's sinks (they rebase sequence numbers and timestamps, and hold
//! video until a keyframe, see [`crate::Timeline`]) and asks the new sender
//! for a keyframe. Keyframe requests and bitrate estimates from a
//! receiver's consumers go to its sender's source.

use super::{Hub, HubOutput};
use crate::graph::ElementId;
use crate::media::{MediaFrame, MediaType};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::time::Instant;

/// Which KMS class the routing follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatcherMode {
    /// `Dispatcher.connect(source, sink)`: explicit pairs (audio and video).
    Pairs,
    /// `DispatcherOneToMany.setSource(source)`: every port receives the
    /// source, ports created later too.
    OneToMany,
}

/// A port argument that is not a live port of this hub, or a request the
/// hub does not support (KMS's Mixer refuses DATA and video disconnection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubError {
    UnknownPort(ElementId),
    /// A route to undo that does not exist.
    NotConnected,
    /// What the class does not do (KMS's UNSUPPORTED_MEDIA_TYPE).
    Unsupported(&'static str),
}

impl fmt::Display for HubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HubError::UnknownPort(id) => write!(f, "{id} is not a port of this hub"),
            HubError::NotConnected => f.write_str("Can not disconnect ports that are not connected"),
            HubError::Unsupported(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for HubError {}

const AV: [MediaType; 2] = [MediaType::Audio, MediaType::Video];

/// A forwarding hub.
#[derive(Debug)]
pub struct Dispatcher {
    mode: DispatcherMode,
    ports: BTreeSet<ElementId>,
    /// (receiving port, media type) → sending port.
    routes: BTreeMap<(ElementId, MediaType), ElementId>,
    /// DispatcherOneToMany's source.
    source: Option<ElementId>,
    /// Latest video estimate of each receiving port's consumers, bits/s.
    estimates: HashMap<ElementId, u64>,
    queue: VecDeque<HubOutput>,
}

impl Dispatcher {
    pub fn new(mode: DispatcherMode) -> Dispatcher {
        Dispatcher { mode, ports: BTreeSet::new(), routes: BTreeMap::new(), source: None, estimates: HashMap::new(), queue: VecDeque::new() }
    }

    fn check(&self, port: ElementId) -> Result<(), HubError> {
        if self.ports.contains(&port) {
            Ok(())
        } else {
            Err(HubError::UnknownPort(port))
        }
    }

    /// Routes `media_type` of `source` to `sink` (replacing its sender).
    fn route(&mut self, source: ElementId, sink: ElementId, media_type: MediaType) {
        if self.routes.insert((sink, media_type), source) != Some(source) {
            self.queue.push_back(HubOutput::SourceChanged(sink, media_type));
            if media_type == MediaType::Video {
                self.queue.push_back(HubOutput::KeyframeRequest(source));
            }
        }
    }

    /// `Dispatcher.connect(source, sink)` (both media types) or
    /// `Mixer.connect(media, source, sink)` (one).
    pub fn connect(&mut self, source: ElementId, sink: ElementId, media_type: Option<MediaType>) -> Result<(), HubError> {
        self.check(source)?;
        self.check(sink)?;
        for t in media_type.map_or(AV.to_vec(), |t| vec![t]) {
            self.route(source, sink, t);
        }
        Ok(())
    }

    /// `Mixer.disconnect(media, source, sink)`: `sink` stops receiving
    /// `source`'s `media_type` (nothing happens when it was not).
    pub fn disconnect(&mut self, source: ElementId, sink: ElementId, media_type: Option<MediaType>) -> Result<(), HubError> {
        self.check(source)?;
        self.check(sink)?;
        for t in media_type.map_or(AV.to_vec(), |t| vec![t]) {
            if self.routes.get(&(sink, t)) == Some(&source) {
                self.routes.remove(&(sink, t));
            }
        }
        Ok(())
    }

    /// `DispatcherOneToMany.setSource(source)`: every port, the source
    /// included (KMS links the source's own output too), receives it.
    pub fn set_source(&mut self, source: ElementId) -> Result<(), HubError> {
        self.check(source)?;
        self.source = Some(source);
        let receivers: Vec<ElementId> = self.ports.iter().copied().collect();
        for sink in receivers {
            for t in AV {
                self.route(source, sink, t);
            }
        }
        Ok(())
    }

    /// `DispatcherOneToMany.removeSource()`: nobody receives anything.
    pub fn remove_source(&mut self) {
        self.source = None;
        self.routes.clear();
    }

    /// The sender of `sink`'s `media_type`, if any.
    pub fn sender(&self, sink: ElementId, media_type: MediaType) -> Option<ElementId> {
        self.routes.get(&(sink, media_type)).copied()
    }
}

impl Hub for Dispatcher {
    fn add_port(&mut self, _now: Instant, port: ElementId) {
        self.ports.insert(port);
        if let (DispatcherMode::OneToMany, Some(source)) = (self.mode, self.source) {
            for t in AV {
                self.route(source, port, t);
            }
        }
    }

    fn remove_port(&mut self, _now: Instant, port: ElementId) {
        self.ports.remove(&port);
        self.estimates.remove(&port);
        self.routes.retain(|(sink, _), source| *sink != port && *source != port);
        if self.source == Some(port) {
            self.source = None;
        }
    }

    fn handle_media(&mut self, _now: Instant, port: ElementId, frame: &MediaFrame) {
        let media_type = frame.media_type();
        for (&(sink, t), &source) in &self.routes {
            if source == port && t == media_type {
                self.queue.push_back(HubOutput::Media(sink, frame.clone()));
            }
        }
    }

    fn handle_keyframe_request(&mut self, _now: Instant, port: ElementId) {
        if let Some(source) = self.sender(port, MediaType::Video) {
            self.queue.push_back(HubOutput::KeyframeRequest(source));
        }
    }

    /// The sender's publisher is told the minimum its receivers can take.
    fn handle_bitrate_estimate(&mut self, _now: Instant, port: ElementId, bitrate: u64) {
        self.estimates.insert(port, bitrate);
        let Some(source) = self.sender(port, MediaType::Video) else { return };
        let min = self
            .routes
            .iter()
            .filter(|((_, t), s)| *t == MediaType::Video && **s == source)
            .filter_map(|((sink, _), _)| self.estimates.get(sink))
            .min()
            .copied();
        if let Some(min) = min {
            self.queue.push_back(HubOutput::BitrateEstimate(source, min));
        }
    }

    fn poll_output(&mut self) -> Option<HubOutput> {
        self.queue.pop_front()
    }

    fn describe(&self) -> Vec<String> {
        self.routes.iter().map(|((sink, t), source)| format!("{source} -> {sink} ({})", t.as_str())).collect()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ElementId = ElementId(1);
    const B: ElementId = ElementId(2);
    const C: ElementId = ElementId(3);

    fn hub(mode: DispatcherMode) -> Dispatcher {
        let mut d = Dispatcher::new(mode);
        let now = Instant::now();
        for p in [A, B, C] {
            d.add_port(now, p);
        }
        d
    }

    fn drain(d: &mut Dispatcher) -> Vec<HubOutput> {
        std::iter::from_fn(|| d.poll_output()).collect()
    }

    #[test]
    fn one_to_many_switch_reroutes_everyone_but_the_source() {
        let mut d = hub(DispatcherMode::OneToMany);
        d.set_source(A).unwrap();
        let out = drain(&mut d);
        let changed: Vec<_> = out.iter().filter_map(|o| if let HubOutput::SourceChanged(p, t) = o { Some((*p, *t)) } else { None }).collect();
        assert_eq!(changed.len(), 6, "every port, the source included: {changed:?}");
        assert!(out.iter().any(|o| matches!(o, HubOutput::KeyframeRequest(A))));
        d.set_source(B).unwrap();
        drain(&mut d);
        assert_eq!(d.sender(A, MediaType::Video), Some(B));
        assert_eq!(d.sender(B, MediaType::Video), Some(B), "the source receives itself, as in KMS");
        d.remove_port(Instant::now(), B);
        assert_eq!(d.sender(A, MediaType::Video), None, "the source's release is removeSource");
        d.add_port(Instant::now(), ElementId(4));
        assert_eq!(d.sender(ElementId(4), MediaType::Video), None, "no source any more for new ports");
        assert_eq!(d.set_source(B), Err(HubError::UnknownPort(B)));
    }

    #[test]
    fn pairs_route_per_media_type_and_estimates_take_the_minimum() {
        let mut d = hub(DispatcherMode::Pairs);
        d.connect(A, B, None).unwrap();
        d.connect(A, C, Some(MediaType::Video)).unwrap();
        drain(&mut d);
        assert_eq!(d.sender(C, MediaType::Audio), None);
        let now = Instant::now();
        d.handle_bitrate_estimate(now, B, 500_000);
        d.handle_bitrate_estimate(now, C, 200_000);
        let last = drain(&mut d).pop();
        assert!(matches!(last, Some(HubOutput::BitrateEstimate(A, 200_000))));
        d.disconnect(A, C, Some(MediaType::Video)).unwrap();
        assert_eq!(d.sender(C, MediaType::Video), None);
        assert_eq!(d.connect(A, ElementId(9), None), Err(HubError::UnknownPort(ElementId(9))));
    }
}
