//! The sans-IO media plane: a `MediaPipeline` is a router.
//!
//! A [`Pipeline`] owns its elements in an arena keyed by [`ElementId`] and keeps
//! the connection graph per [`MediaType`] ([`Graph`]). Elements never reference
//! each other: they emit [`ElementOutput`]s and the pipeline routes them —
//! media downstream to every connected sink (payload shared by reference),
//! keyframe requests upstream to the sink's source, throttled.
//!
//! Run loop: feed inputs with `handle_datagram` / `handle_timeout`, then call
//! [`Pipeline::poll_output`] until it returns `None`, and sleep until
//! [`Pipeline::poll_timeout`]. Time is always an argument; nothing here reads
//! the clock, opens a socket or spawns a thread. Nothing here panics on input.

pub mod av1;
pub mod bandwidth;
mod deadlines;
mod element;
mod flow;
mod graph;
mod hub;
mod media;
pub mod packetize;
mod inert;
mod latency;
mod passthrough;
mod pipeline;
mod rebase;
pub mod remb;
mod sdp_bandwidth;
mod sdp_error;
mod stats;
mod transcode;

pub use deadlines::DeadlineQueue;
pub use element::{Datagram, Element, ElementEvent, ElementOutput, FlowState, Transmit, Transport};
pub use flow::{FlowTracker, MediaFlow, FLOW_CHECK_INTERVAL};
pub use graph::{Connection, Graph, GraphError};
pub use hub::{Dispatcher, DispatcherMode, Hub, HubError, HubOutput, HubPort};
pub use media::{Codec, DataMessage, MediaFrame, MediaType, SimulcastLayer, SpatialLayers, MAX_SPATIAL_LAYERS};
pub use inert::Inert;
pub use latency::LatencyStats;
pub use passthrough::PassThrough;
pub use rebase::Timeline;
pub use sdp_bandwidth::RecvLimits;
pub use sdp_error::{SdpEndpointError, SdpNegotiation};
pub use stats::{RtpStreamStats, StreamDirection};
pub use pipeline::{ElementId, Pipeline, PipelineOutput, TranscoderInfo, KEYFRAME_REQUEST_INTERVAL};
pub use transcode::{route, EncoderBitrate, InputRoute, TargetFormat, Transcoder, TranscoderFactory, TranscoderOutput};
