//! Inert: stands in the graph for an element whose media behaviour is not
//! built yet (a PlayerEndpoint before GStreamer is wired, a filter, ...).
//!
//! It exists as an object (create, describe, properties, release) but it
//! consumes and produces no media and says so: `connect` to or from it is
//! refused (see [`Element::carries_media`]) and `isMediaFlowing*` is false.

use crate::element::{Element, ElementOutput};

#[derive(Debug, Default)]
pub struct Inert;

impl Element for Inert {
    fn poll_output(&mut self) -> Option<ElementOutput> {
        None
    }

    fn carries_media(&self) -> bool {
        false
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
