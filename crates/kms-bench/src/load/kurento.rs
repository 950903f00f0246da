//! Viewers of this server over the Kurento Protocol: a MediaPipeline with a
//! PlayerEndpoint, and per viewer a WebRtcEndpoint connected to the player;
//! the server offers (generateOffer), the load client answers.

use super::media::{ask, Command};
use crate::rpc::Rpc;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::mpsc::Sender;

/// invoke `operation` on `object`; returns the `value` of the result.
pub async fn invoke(rpc: &mut Rpc, object: &str, operation: &str, params: Value) -> Result<Value, String> {
    let r = rpc.call("invoke", json!({ "object": object, "operation": operation, "operationParams": params })).await?;
    Ok(r.get("value").cloned().unwrap_or(Value::Null))
}

/// Creates a pipeline and a PlayerEndpoint for `media` (passed through
/// without decoding), not yet playing. Returns (pipeline id, player id).
pub async fn create_source(rpc: &mut Rpc, media: &Path) -> Result<(String, String), String> {
    let pipeline = rpc.create(json!({ "type": "MediaPipeline" })).await?;
    let uri = format!("file://{}", media.canonicalize().map_err(|e| format!("{}: {e}", media.display()))?.display());
    let player = rpc.create(json!({ "type": "PlayerEndpoint", "constructorParams": { "mediaPipeline": pipeline, "uri": uri } })).await?;
    Ok((pipeline, player))
}

/// A playing source ([`create_source`] then play): (pipeline id, player id).
pub async fn start_source(rpc: &mut Rpc, media: &Path) -> Result<(String, String), String> {
    let (pipeline, player) = create_source(rpc, media).await?;
    invoke(rpc, &player, "play", json!({})).await?;
    Ok((pipeline, player))
}

/// Creates a pipeline and a WebRtcEndpoint published to by the load client's
/// peer `peer` (client offers, server answers). Returns (pipeline id, endpoint id).
pub async fn create_publisher(rpc: &mut Rpc, peer: usize, media: &Sender<Command>) -> Result<(String, String), String> {
    let pipeline = rpc.create(json!({ "type": "MediaPipeline" })).await?;
    let endpoint = rpc.create(json!({ "type": "WebRtcEndpoint", "constructorParams": { "mediaPipeline": pipeline } })).await?;
    let offer = tokio::task::block_in_place(|| ask(media, |reply| Command::Publish { peer, reply }))??;
    let answer = invoke(rpc, &endpoint, "processOffer", json!({ "offer": offer })).await?;
    let answer = answer.as_str().ok_or("processOffer returned no SDP")?.to_owned();
    media.send(Command::AcceptAnswer { peer, answer }).map_err(|_| "media thread gone")?;
    invoke(rpc, &endpoint, "gatherCandidates", json!({})).await?;
    Ok((pipeline, endpoint))
}

/// Adds `count` viewers of `source` (a PlayerEndpoint or a published
/// WebRtcEndpoint), numbered from `first`.
pub async fn add_viewers(rpc: &mut Rpc, pipeline: &str, source: &str, first: usize, count: usize, media: &Sender<Command>) -> Result<(), String> {
    for peer in first..first + count {
        let endpoint = rpc.create(json!({ "type": "WebRtcEndpoint", "constructorParams": { "mediaPipeline": pipeline } })).await?;
        invoke(rpc, source, "connect", json!({ "sink": endpoint })).await?;
        let offer = invoke(rpc, &endpoint, "generateOffer", json!({})).await?;
        let offer = offer.as_str().ok_or("generateOffer returned no SDP")?.to_owned();
        let answer = tokio::task::block_in_place(|| ask(media, |reply| Command::Answer { peer, offer, reply }))??;
        invoke(rpc, &endpoint, "processAnswer", json!({ "answer": answer })).await?;
        invoke(rpc, &endpoint, "gatherCandidates", json!({})).await?;
    }
    Ok(())
}
