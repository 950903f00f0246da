//! UriEndpoint operations: PlayerEndpoint and RecorderEndpoint.
//!
//! State changes run on the media worker. Queries that wait for GStreamer
//! (position, seek, videoInfo) take the island's pipeline out of the worker
//! and run on a blocking thread, so the media thread never waits on them.

use super::elements::{with_element, ElementRef};
use super::events::register;
use super::invoke::OpResult;
use super::params::Params;
use super::Server;
use gstreamer as gst;
use kms_gst::{PlayerEndpoint, PlayerState, RecorderEndpoint, RecorderState};
use kms_protocol::{ErrorCode, KurentoError};
use serde_json::{json, Value};
use std::time::Duration;

/// How long stopAndWait waits for the muxer to finish the file.
const STOP_AND_WAIT_LIMIT: Duration = Duration::from_secs(30);

/// PlayerEndpoint operations; `None` when `operation` is not one of them.
pub async fn player(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    let void = |r: Result<(), KurentoError>| r.map(|()| None);
    Some(match operation {
        "play" => void(with_element(server, ctx, |p: &mut PlayerEndpoint, _| p.play()).await),
        "pause" => void(with_element(server, ctx, |p: &mut PlayerEndpoint, _| p.pause()).await),
        "stop" => void(with_element(server, ctx, |p: &mut PlayerEndpoint, _| p.stop()).await),
        "getState" => with_element(server, ctx, |p: &mut PlayerEndpoint, _| p.state()).await.map(|s| {
            Some(json!(match s {
                PlayerState::Stop => "STOP",
                PlayerState::Start => "START",
                PlayerState::Pause => "PAUSE",
            }))
        }),
        "getGstreamerDot" => with_element(server, ctx, |p: &mut PlayerEndpoint, _| p.dot()).await.map(|d| Some(json!(d))),
        "getPosition" => match island(server, ctx).await {
            Ok(Some(p)) => blocking(move || kms_gst::position(&p).unwrap_or(0)).await.map(|ms| Some(json!(ms))),
            Ok(None) => Ok(Some(json!(0))),
            Err(e) => Err(e),
        },
        "setPosition" => set_position(server, ctx, params).await,
        "getVideoInfo" => match island(server, ctx).await {
            Ok(pipeline) => {
                let info = match pipeline {
                    Some(p) => blocking(move || kms_gst::video_info(&p)).await,
                    None => Ok(kms_gst::VideoInfo::default()),
                };
                info.map(|i| {
                    let fields = json!({ "isSeekable": i.is_seekable, "seekableInit": i.seekable_init, "seekableEnd": i.seekable_end, "duration": i.duration });
                    Some(register("VideoInfo", fields))
                })
            }
            Err(e) => Err(e),
        },
        _ => return None,
    })
}

/// RecorderEndpoint operations; `None` when `operation` is not one of them.
pub async fn recorder(server: &Server, ctx: &ElementRef<'_>, operation: &str) -> Option<OpResult> {
    let void = |r: Result<(), KurentoError>| r.map(|()| None);
    Some(match operation {
        "record" => void(with_element(server, ctx, |r: &mut RecorderEndpoint, now| r.record(now)).await),
        "pause" => void(with_element(server, ctx, |r: &mut RecorderEndpoint, now| r.pause(now)).await),
        "stop" => void(with_element(server, ctx, |r: &mut RecorderEndpoint, _| r.stop(None)).await),
        "stopAndWait" => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let done: kms_gst::Finished = Box::new(move || {
                let _ = tx.send(());
            });
            if let Err(e) = with_element(server, ctx, move |r: &mut RecorderEndpoint, _| r.stop(Some(done))).await {
                return Some(Err(e));
            }
            match tokio::time::timeout(STOP_AND_WAIT_LIMIT, rx).await {
                Ok(_) => Ok(None),
                Err(_) => Err(KurentoError::new(ErrorCode::UnexpectedError, "the recording did not finish in time")),
            }
        }
        "getState" => with_element(server, ctx, |r: &mut RecorderEndpoint, _| r.state()).await.map(|s| {
            Some(json!(match s {
                RecorderState::Stopped => "STOP",
                RecorderState::Recording => "START",
                RecorderState::Paused => "PAUSE",
            }))
        }),
        "getGstreamerDot" => with_element(server, ctx, |r: &mut RecorderEndpoint, _| r.dot()).await.map(|d| Some(json!(d))),
        _ => return None,
    })
}

/// setPosition(position ms): 40700 PLAYER_SEEK_FAIL when the media cannot seek there.
async fn set_position(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>) -> OpResult {
    let position = params.get("position").and_then(Value::as_i64).ok_or_else(|| KurentoError::marshall("'position' parameter should be an int64"))?;
    let seek_fail = |reason: String| KurentoError::new(ErrorCode::PlayerSeekFail, reason);
    let pipeline = island(server, ctx).await?.ok_or_else(|| seek_fail("the player is stopped".into()))?;
    blocking(move || kms_gst::seek(&pipeline, position)).await?.map_err(|e| seek_fail(e.to_string()))?;
    Ok(None)
}

/// The player's island pipeline, when it is playing or paused.
async fn island(server: &Server, ctx: &ElementRef<'_>) -> Result<Option<gst::Pipeline>, KurentoError> {
    with_element(server, ctx, |p: &mut PlayerEndpoint, _| p.pipeline()).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, KurentoError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| KurentoError::new(ErrorCode::UnexpectedError, e.to_string()))
}
