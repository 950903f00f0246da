//! The connection graph of one pipeline, with KMS's rules.
//!
//! A sink has at most one source per (media type, sink description); connecting
//! a new one replaces the old (`MediaElementImpl::connect`). A source feeds any
//! number of sinks. An element may be connected to itself (loopback).

use crate::media::MediaType;
use std::fmt;

/// Typed id of an element inside its pipeline's arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId(pub u64);

impl fmt::Display for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "element#{}", self.0)
    }
}

/// One directed connection: ElementConnectionData in Kurento terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub source: ElementId,
    pub sink: ElementId,
    pub media_type: MediaType,
    /// Pad description on the source side (`default`).
    pub source_description: String,
    /// Pad description on the sink side (`default`).
    pub sink_description: String,
}

impl Connection {
    /// A connection between the `default` pads.
    pub fn new(source: ElementId, sink: ElementId, media_type: MediaType) -> Connection {
        Connection {
            source,
            sink,
            media_type,
            source_description: "default".into(),
            sink_description: "default".into(),
        }
    }

    fn same_sink_pad(&self, other: &Connection) -> bool {
        self.sink == other.sink && self.media_type == other.media_type && self.sink_description == other.sink_description
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    UnknownElement(ElementId),
    /// The element does not carry media yet (its class is not built): a
    /// connection to it would be a silent black hole, so it is refused.
    NoMedia(ElementId),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::UnknownElement(id) => write!(f, "{id} is not in this pipeline"),
            GraphError::NoMedia(id) => write!(f, "{id} does not carry media yet"),
        }
    }
}

impl std::error::Error for GraphError {}

/// All connections of one pipeline. Pipelines hold a handful of elements, so a
/// flat list is both the simplest and the fastest structure here.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    connections: Vec<Connection>,
}

impl Graph {
    /// Adds `conn`. Returns the connection it replaced on the same sink pad, if any.
    /// Connecting an existing connection again changes nothing and returns `None`.
    pub fn connect(&mut self, conn: Connection) -> Option<Connection> {
        if self.connections.contains(&conn) {
            return None;
        }
        let replaced = self.connections.iter().position(|c| c.same_sink_pad(&conn)).map(|i| self.connections.remove(i));
        self.connections.push(conn);
        replaced
    }

    /// Removes the connections from `source` to `sink` of `media_type` (every
    /// type when `None`). Returns what was removed.
    pub fn disconnect(&mut self, source: ElementId, sink: ElementId, media_type: Option<MediaType>) -> Vec<Connection> {
        self.remove_where(|c| c.source == source && c.sink == sink && media_type.is_none_or(|t| c.media_type == t))
    }

    /// Every connection, in the order they were made.
    pub fn connections(&self) -> &[Connection] {
        &self.connections
    }

    /// Removes every connection touching `id`.
    pub fn remove_element(&mut self, id: ElementId) -> Vec<Connection> {
        self.remove_where(|c| c.source == id || c.sink == id)
    }

    fn remove_where(&mut self, pred: impl Fn(&Connection) -> bool) -> Vec<Connection> {
        let (removed, kept) = std::mem::take(&mut self.connections).into_iter().partition(|c| pred(c));
        self.connections = kept;
        removed
    }

    /// Sinks fed by `source` with `media_type`.
    pub fn sinks(&self, source: ElementId, media_type: MediaType) -> impl Iterator<Item = ElementId> + '_ {
        self.connections.iter().filter(move |c| c.source == source && c.media_type == media_type).map(|c| c.sink)
    }

    /// The source feeding `sink` with `media_type` on its default pad.
    pub fn source(&self, sink: ElementId, media_type: MediaType) -> Option<ElementId> {
        self.connections.iter().find(|c| c.sink == sink && c.media_type == media_type).map(|c| c.source)
    }

    /// Connections into `sink` (getSourceConnections), filtered by type.
    pub fn source_connections(&self, sink: ElementId, media_type: Option<MediaType>) -> Vec<&Connection> {
        self.connections.iter().filter(|c| c.sink == sink && media_type.is_none_or(|t| c.media_type == t)).collect()
    }

    /// Connections out of `source` (getSinkConnections), filtered by type.
    pub fn sink_connections(&self, source: ElementId, media_type: Option<MediaType>) -> Vec<&Connection> {
        self.connections.iter().filter(|c| c.source == source && media_type.is_none_or(|t| c.media_type == t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ElementId = ElementId(1);
    const B: ElementId = ElementId(2);
    const C: ElementId = ElementId(3);

    #[test]
    fn a_new_source_replaces_the_old_one_per_type() {
        let mut g = Graph::default();
        assert_eq!(g.connect(Connection::new(A, C, MediaType::Video)), None);
        assert_eq!(g.connect(Connection::new(A, C, MediaType::Audio)), None);
        let replaced = g.connect(Connection::new(B, C, MediaType::Video)).unwrap();
        assert_eq!(replaced.source, A);
        assert_eq!(g.source(C, MediaType::Video), Some(B));
        assert_eq!(g.source(C, MediaType::Audio), Some(A));
    }

    #[test]
    fn fan_out_and_loopback() {
        let mut g = Graph::default();
        g.connect(Connection::new(A, A, MediaType::Video));
        g.connect(Connection::new(A, B, MediaType::Video));
        g.connect(Connection::new(A, C, MediaType::Video));
        assert_eq!(g.sinks(A, MediaType::Video).collect::<Vec<_>>(), [A, B, C]);
        assert_eq!(g.sinks(A, MediaType::Audio).count(), 0);
        assert_eq!(g.connect(Connection::new(A, B, MediaType::Video)), None, "idempotent");
        assert_eq!(g.sink_connections(A, None).len(), 3);
    }

    #[test]
    fn disconnect_and_remove() {
        let mut g = Graph::default();
        for t in MediaType::ALL {
            g.connect(Connection::new(A, B, t));
        }
        g.connect(Connection::new(B, C, MediaType::Audio));
        assert_eq!(g.disconnect(A, B, Some(MediaType::Data)).len(), 1);
        assert_eq!(g.source_connections(B, None).len(), 2);
        assert_eq!(g.remove_element(B).len(), 3);
        assert!(g.sink_connections(A, None).is_empty());
    }
}
