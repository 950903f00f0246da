//! Kurento's "hello world" tutorial in Rust: one WebRtcEndpoint connected to
//! itself (loopback), so the browser gets back what it sends. A str0m peer
//! plays the browser.
//!
//!     cargo run -p kurento-client --example hello_world -- ws://127.0.0.1:8888/kurento [SECONDS]
//!
//! Prints what the peer sent and received; exits non-zero when it did not
//! get its own video back.

mod common;

use kurento_client::{Error, KurentoClient, MediaPipeline, WebRtcEndpoint};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = KurentoClient::connect(&common::ws_uri()).await?;
    let pipeline = MediaPipeline::builder(&client).build().await?;
    let endpoint = WebRtcEndpoint::builder(&pipeline).build().await?;
    endpoint.connect(&endpoint, None, None, None).await?;
    let peer = common::negotiate(&endpoint, true).await?;
    tokio::time::sleep(common::seconds(4)).await;
    let report = peer.stop();
    let state = endpoint.get_ice_connection_state().await?;
    pipeline.release().await?;
    println!(
        "hello_world: connected={} video sent={} received back={} audio received back={} ice_states={}",
        report.connected,
        report.video_frames_sent,
        report.video_frames_received,
        report.audio_frames_received,
        state.len()
    );
    if !report.connected || report.video_frames_received * 2 < report.video_frames_sent {
        return Err(Error::Decode("the loopback did not bring the video back".into()));
    }
    Ok(())
}
