//! Hubs: Composite, AlphaBlending, Dispatcher, DispatcherOneToMany, Mixer.
//!
//! A KMS hub is not a MediaElement; its [`HubPort`]s are. Media connected
//! into a port goes to the hub; what the hub produces for a port leaves
//! through that port to the port's sinks. Here the pipeline owns the hubs
//! next to its elements (same id space) and does the glue (see
//! [`crate::Pipeline::add_hub`]): a frame routed to a port is handed to the
//! port's hub, and the hub's [`HubOutput`]s are routed as if the port had
//! produced them, so transcoding, keyframe requests and source switches work
//! exactly as between elements.
//!
//! Forwarding hubs (the dispatchers, [`Dispatcher`]) take any codec and never
//! decode. Mixing hubs (Composite, AlphaBlending: `kms-gst`) take raw frames,
//! so the router decodes each input once; their composed video is the same
//! for every port and is [`HubOutput::Broadcast`], so it is encoded once per
//! format its consumers need, whatever the number of ports.

mod dispatcher;
mod port;

pub use dispatcher::{Dispatcher, DispatcherMode, HubError};
pub use port::HubPort;

use crate::element::ElementEvent;
use crate::graph::ElementId;
use crate::media::{Codec, MediaFrame, MediaType};
use std::any::Any;
use std::time::Instant;

/// What a hub hands to the router.
#[derive(Debug)]
pub enum HubOutput {
    /// A frame leaving through one port, to that port's sinks.
    Media(ElementId, MediaFrame),
    /// A frame leaving through every port (a composed picture): routed once
    /// to the union of all ports' sinks, transcoded once per format.
    Broadcast(MediaFrame),
    /// The hub needs a video keyframe from whatever feeds this port.
    KeyframeRequest(ElementId),
    /// What leaves this port (of this media type) now comes from another
    /// origin: the port's sinks rebase their timeline.
    SourceChanged(ElementId, MediaType),
    /// The consumers of what this port brings in can take this many bits/s:
    /// relayed to the port's source like a sink's estimate.
    BitrateEstimate(ElementId, u64),
    /// An event raised on the hub itself (KMS's `Error` of a failing mixer).
    HubEvent(ElementEvent),
}

/// One hub inside a pipeline. Same rules as [`crate::Element`]: inputs
/// through `handle_*`, outputs through `poll_output` until `None`; never
/// blocks, never panics on input.
pub trait Hub: Send + Any {
    /// The codecs every port takes as a sink of `media_type` (see
    /// [`crate::Element::input_codecs`]); `None` for anything.
    fn input_codecs(&self, _media_type: MediaType) -> Option<&[Codec]> {
        None
    }

    /// A port was created on this hub.
    fn add_port(&mut self, now: Instant, port: ElementId);

    /// A port was released; the hub forgets it (and what it brought in).
    fn remove_port(&mut self, now: Instant, port: ElementId);

    /// Media arriving into `port` from its source.
    fn handle_media(&mut self, now: Instant, port: ElementId, frame: &MediaFrame);

    /// A consumer of what leaves `port` needs a video keyframe.
    fn handle_keyframe_request(&mut self, _now: Instant, _port: ElementId) {}

    /// The consumers of what leaves `port` can take `bitrate` bits/s.
    fn handle_bitrate_estimate(&mut self, _now: Instant, _port: ElementId, _bitrate: u64) {}

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn poll_output(&mut self) -> Option<HubOutput>;

    /// One line per route or stage, for Hub.getGstreamerDot.
    fn describe(&self) -> Vec<String> {
        Vec::new()
    }

    /// The hub's GStreamer pipeline as Graphviz text (what KMS's
    /// Hub.getGstreamerDot returns), for hubs built on GStreamer.
    fn gstreamer_dot(&self) -> Option<String> {
        None
    }

    fn as_any_mut(&mut self) -> &mut dyn Any;
}
