//! Recording, as Kurento's player and recorder tutorials do it: a
//! PlayerEndpoint plays a file (or an http(s)/rtsp URI) into a
//! RecorderEndpoint until EndOfStream, then the recording is closed with
//! `stopAndWait`. Shows typed events: the recorder's Recording and Stopped,
//! the player's EndOfStream.
//!
//!     cargo run -p kurento-client --example recording -- ws://127.0.0.1:8888/kurento SECONDS INPUT_URI OUTPUT_URI

mod common;

use kurento_client::{Error, KurentoClient, MediaPipeline, MediaProfileSpecType, PlayerEndpoint, RecorderEndpoint};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let input = std::env::args().nth(3).ok_or(Error::Decode("usage: recording WS_URI SECONDS INPUT_URI OUTPUT_URI".into()))?;
    let output = std::env::args().nth(4).ok_or(Error::Decode("usage: recording WS_URI SECONDS INPUT_URI OUTPUT_URI".into()))?;
    let client = KurentoClient::connect(&common::ws_uri()).await?;
    let pipeline = MediaPipeline::builder(&client).build().await?;
    let player = PlayerEndpoint::builder(&pipeline, &input).build().await?;
    let recorder = RecorderEndpoint::builder(&pipeline, &output).media_profile(MediaProfileSpecType::Webm).build().await?;
    let mut errors = player.on_error().await?;
    let mut end = player.on_end_of_stream().await?;
    let mut recording = recorder.on_recording().await?;
    let mut stopped = recorder.on_stopped().await?;
    player.connect(&recorder, None, None, None).await?;
    recorder.record().await?;
    player.play().await?;
    let limit = common::seconds(30);
    tokio::select! {
        _ = end.next() => println!("recording: EndOfStream"),
        Some(error) = errors.next() => {
            let error = error?;
            return Err(Error::Decode(format!("the player failed: {} {}", error.r#type, error.description)));
        }
        _ = tokio::time::sleep(limit) => return Err(Error::Timeout(format!("EndOfStream within {limit:?}"))),
    }
    recorder.stop_and_wait().await?;
    let started = recording.next().await.transpose()?.map(|e| e.timestamp_millis);
    let ended = stopped.next().await.transpose()?.map(|e| e.timestamp_millis);
    println!("recording: {input} -> {output}; Recording at {started:?} ms, Stopped at {ended:?} ms");
    pipeline.release().await?;
    Ok(())
}
