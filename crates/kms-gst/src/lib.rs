//! GStreamer at the edges: the UriEndpoints (PlayerEndpoint, RecorderEndpoint)
//! and RtpEndpoint as pipeline elements, and the transcoders the router inserts when a sink
//! cannot take its source's codec.
//!
//! Each element owns a private GStreamer pipeline (an [`Island`]) joined to the
//! router by appsink (player) or appsrc (recorder). The router stays sans-IO:
//! GStreamer's streaming threads only queue outputs and wake the media worker
//! through a [`Waker`]; the worker drains them when it polls the element.

mod filter;
#[doc(hidden)]
pub mod fuzzing;
mod http_post;
mod hub;
mod island;
mod player;
mod profile;
mod recorder;
mod rtp;
mod sample;
mod state;
mod transcoder;
mod uri;

pub use filter::{
    SendData, SendDataFilter, ShowData, ShowDataFilter, GstModule, ModuleFilter, load_image_in_background, BgrFrame, FrameProcessor, Image, Processor, ProcessorFilter, FaceLayout, FaceOverlay, FaceOverlayFilter, Filter, FilterError, FilterKind, FilterType, GStreamerFilter, GstCommand, ImageLayout, ImageOverlay,
    ImageOverlayFilter, ZBar, ZBarFilter, FACE_CASCADE, FACE_DETECT_STAGE,
};
pub use http_post::{HttpPostEndpoint, UploadError, UploadSlot, UploadWriter};
pub use hub::{grid, Compositor, AUDIO_MIX_CAPS, CompositorKind, Placement, Rect, VideoSettings, BLEND_DEFAULT_SIZE, MASTER_Z_ORDER};
pub use island::{Finished, Waker};
pub use player::{PlayerControl, PlayerEndpoint, SeekError, VideoInfo};
pub use profile::MediaProfile;
pub use recorder::RecorderEndpoint;
pub use rtp::{codecs_from_config, CryptoSuite, RtpCodec, RtpConfig, RtpEndpoint, SdesError, SrtpKey};
pub use state::{UriEndpoint, UriEndpointState};
pub use transcoder::{launch_decoder, launch_encoder, GstTranscoder, GstTranscoderFactory};
pub use uri::resolve as resolve_uri;

/// Initialises GStreamer once per process; an error means GStreamer is not
/// usable here (the UriEndpoints then fail with it).
pub fn init() -> Result<(), String> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| gstreamer::init().map_err(|e| e.to_string())).clone()
}

/// True when GStreamer has an element factory named `name`.
pub fn element_exists(name: &str) -> bool {
    init().is_ok() && gstreamer::ElementFactory::find(name).is_some()
}

/// Adds `dir` to GStreamer's plugin search (a module's own element library
/// beside its kmd, as KMS users put it on `GST_PLUGIN_PATH`); false when
/// GStreamer is not available or nothing new was found there.
pub fn add_plugin_dir(dir: &std::path::Path) -> bool {
    init().is_ok() && gstreamer::Registry::get().scan_path(dir)
}
