//! UriEndpoint operations: PlayerEndpoint and RecorderEndpoint.
//!
//! State changes run on the media worker. Queries that wait for GStreamer
//! (position, seek, videoInfo) take the island's controls out of the worker
//! and run on a blocking thread, so the media thread never waits on them.

use super::elements::{with_element, ElementRef};
use super::events::register;
use super::OpResult;
use kms_api::{PlayerEndpointOp, RecorderEndpointOp, UriEndpointOp};
use super::Server;
use kms_gst::{PlayerControl, PlayerEndpoint, RecorderEndpoint, UriEndpoint};
use kms_protocol::{ErrorCode, KurentoError};
use serde_json::json;
use std::time::Duration;

/// How long stopAndWait waits for the muxer to finish the file.
const STOP_AND_WAIT_LIMIT: Duration = Duration::from_secs(30);

/// UriEndpoint operations (pause, stop, state) of an element of type `T`;
/// `None` for the accessors left to the stored properties.
pub async fn uri_endpoint<T: UriEndpoint>(server: &Server, ctx: &ElementRef<'_>, op: UriEndpointOp) -> Option<OpResult> {
    Some(match op {
        UriEndpointOp::Pause => with_element(server, ctx, |e: &mut T, now| e.pause(now)).await.map(|()| None),
        UriEndpointOp::Stop => with_element(server, ctx, |e: &mut T, _| e.stop()).await.map(|()| None),
        UriEndpointOp::GetState => with_element(server, ctx, |e: &mut T, _| e.state().as_str()).await.map(|s| Some(json!(s))),
        _ => return None,
    })
}

/// MediaElement.getGstreamerDot of a UriEndpoint: its own GStreamer pipeline.
pub async fn gstreamer_dot<T: UriEndpoint>(server: &Server, ctx: &ElementRef<'_>) -> OpResult {
    with_element(server, ctx, |e: &mut T, _| e.dot()).await.map(|d| Some(json!(d)))
}

/// PlayerEndpoint operations.
pub async fn player(server: &Server, ctx: &ElementRef<'_>, op: PlayerEndpointOp) -> Option<OpResult> {
    Some(match op {
        PlayerEndpointOp::Play => with_element(server, ctx, |p: &mut PlayerEndpoint, _| p.play()).await.map(|()| None),
        PlayerEndpointOp::GetPosition => position(server, ctx).await,
        PlayerEndpointOp::SetPosition { position } => set_position(server, ctx, position).await,
        PlayerEndpointOp::GetVideoInfo => video_info(server, ctx).await,
        // The `elementGstreamerDot` property: the player's own GStreamer pipeline.
        PlayerEndpointOp::GetElementGstreamerDot => gstreamer_dot::<PlayerEndpoint>(server, ctx).await,
    })
}

/// RecorderEndpoint operations.
pub async fn recorder(server: &Server, ctx: &ElementRef<'_>, op: RecorderEndpointOp) -> Option<OpResult> {
    Some(match op {
        RecorderEndpointOp::Record => with_element(server, ctx, |r: &mut RecorderEndpoint, now| r.record(now)).await.map(|()| None),
        RecorderEndpointOp::StopAndWait => stop_and_wait(server, ctx).await,
    })
}

/// stopAndWait: returns once the file is complete and closed.
async fn stop_and_wait(server: &Server, ctx: &ElementRef<'_>) -> OpResult {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done: kms_gst::Finished = Box::new(move || {
        let _ = tx.send(());
    });
    with_element(server, ctx, move |r: &mut RecorderEndpoint, _| r.stop_then(Some(done))).await?;
    match tokio::time::timeout(STOP_AND_WAIT_LIMIT, rx).await {
        Ok(Ok(())) => {
            // The Stopped event reaches the client before this reply.
            server.media.events_published(ctx.pipeline).await?;
            Ok(None)
        }
        Ok(Err(_)) => Err(KurentoError::new(ErrorCode::UnexpectedError, "the recorder was released before its file was closed")),
        Err(_) => Err(KurentoError::new(ErrorCode::UnexpectedError, "the recording did not finish in time")),
    }
}

/// getPosition in ms; 0 while stopped.
async fn position(server: &Server, ctx: &ElementRef<'_>) -> OpResult {
    let ms = match controls(server, ctx).await? {
        Some(c) => blocking(move || c.position().unwrap_or(0)).await?,
        None => 0,
    };
    Ok(Some(json!(ms)))
}

/// getVideoInfo: a VideoInfo register (all zero/false while stopped).
async fn video_info(server: &Server, ctx: &ElementRef<'_>) -> OpResult {
    let info = match controls(server, ctx).await? {
        Some(c) => blocking(move || c.video_info()).await?,
        None => kms_gst::VideoInfo::default(),
    };
    let fields = json!({ "isSeekable": info.is_seekable, "seekableInit": info.seekable_init, "seekableEnd": info.seekable_end, "duration": info.duration });
    Ok(Some(register("VideoInfo", fields)))
}

/// setPosition(position ms): 40700 PLAYER_SEEK_FAIL when the media cannot seek there.
async fn set_position(server: &Server, ctx: &ElementRef<'_>, position: i64) -> OpResult {
    let seek_fail = |reason: String| KurentoError::new(ErrorCode::PlayerSeekFail, reason);
    let control = controls(server, ctx).await?.ok_or_else(|| seek_fail("the player is stopped".into()))?;
    blocking(move || control.seek(position)).await?.map_err(|e| seek_fail(e.to_string()))?;
    Ok(None)
}

/// The player's island controls, when it is playing or paused.
async fn controls(server: &Server, ctx: &ElementRef<'_>) -> Result<Option<PlayerControl>, KurentoError> {
    with_element(server, ctx, |p: &mut PlayerEndpoint, _| p.control()).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, KurentoError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| KurentoError::new(ErrorCode::UnexpectedError, e.to_string()))
}
