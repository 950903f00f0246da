//! Kurento's "one to many call" tutorial in Rust: a presenter's
//! WebRtcEndpoint connected to the WebRtcEndpoint of every viewer. str0m
//! peers play the presenter (publishing) and the viewers (receive only).
//!
//!     cargo run -p kurento-client --example one2many_call -- ws://127.0.0.1:8888/kurento [SECONDS] [VIEWERS]
//!
//! Prints what each viewer received; exits non-zero when a viewer got no video.

mod common;

use kurento_client::{Error, KurentoClient, MediaPipeline, WebRtcEndpoint};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let viewers: usize = std::env::args().nth(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let client = KurentoClient::connect(&common::ws_uri()).await?;
    let pipeline = MediaPipeline::builder(&client).build().await?;
    let presenter = WebRtcEndpoint::builder(&pipeline).build().await?;
    let publisher = common::negotiate(&presenter, true).await?;
    let mut peers = Vec::new();
    for _ in 0..viewers {
        let viewer = WebRtcEndpoint::builder(&pipeline).build().await?;
        presenter.connect(&viewer, None, None, None).await?;
        peers.push(common::negotiate(&viewer, false).await?);
    }
    tokio::time::sleep(common::seconds(4)).await;
    let sent = publisher.stop();
    println!("one2many_call: presenter connected={} video sent={}", sent.connected, sent.video_frames_sent);
    let mut failed = false;
    for (i, peer) in peers.into_iter().enumerate() {
        let r = peer.stop();
        println!("one2many_call: viewer {i} connected={} video received={} audio received={}", r.connected, r.video_frames_received, r.audio_frames_received);
        failed |= !r.connected || r.video_frames_received == 0 || r.audio_frames_received == 0;
    }
    pipeline.release().await?;
    if failed || !sent.connected {
        return Err(Error::Decode("a viewer did not receive the presenter".into()));
    }
    Ok(())
}
