//! Inert: stands in the graph for an element whose media behaviour is not
//! built yet (a PlayerEndpoint before GStreamer is wired, a filter, ...).
//!
//! It takes part in connections, so the control plane's graph bookkeeping
//! (connect, disconnect, getSourceConnections, events) is real, but it
//! consumes and produces no media and says so: `isMediaFlowing*` is false.

use crate::element::{Element, ElementOutput};

#[derive(Debug, Default)]
pub struct Inert;

impl Element for Inert {
    fn poll_output(&mut self) -> Option<ElementOutput> {
        None
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
