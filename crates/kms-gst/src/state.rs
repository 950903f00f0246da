//! What PlayerEndpoint and RecorderEndpoint share as UriEndpoints.

use kms_media::Element;
use std::time::Instant;

/// UriEndpoint `state` (UriEndpointState) and UriEndpointStateChanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriEndpointState {
    Stop,
    Start,
    Pause,
}

impl UriEndpointState {
    /// KMS's name: `STOP`, `START`, `PAUSE`.
    pub fn as_str(self) -> &'static str {
        match self {
            UriEndpointState::Stop => "STOP",
            UriEndpointState::Start => "START",
            UriEndpointState::Pause => "PAUSE",
        }
    }
}

/// The UriEndpoint methods both endpoints answer, plus MediaElement's
/// `getGstreamerDot` of their island.
pub trait UriEndpoint: Element {
    /// UriEndpoint.pause.
    fn pause(&mut self, now: Instant);
    /// UriEndpoint.stop.
    fn stop(&mut self);
    fn state(&self) -> UriEndpointState;
    /// The island as Graphviz dot text; an empty graph before it exists.
    fn dot(&self) -> String;
}

/// The dot text of an element without an island yet.
pub const EMPTY_DOT: &str = "digraph pipeline {}\n";
