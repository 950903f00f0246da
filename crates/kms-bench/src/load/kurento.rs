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

/// The offer of `bench/janus/feed.py`: Opus (PT 111) and VP8 (PT 96) sent
/// from 127.0.0.1, receiving nothing.
const FEED_OFFER: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=feed\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
    m=audio 9 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=sendonly\r\n\
    m=video 9 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\n";

/// Creates a pipeline and an RtpEndpoint that answers the plain-RTP feed's
/// offer. Returns (pipeline id, endpoint id, audio port, video port).
pub async fn create_rtp_source(rpc: &mut Rpc) -> Result<(String, String, u16, u16), String> {
    let pipeline = rpc.create(json!({ "type": "MediaPipeline" })).await?;
    let endpoint = rpc.create(json!({ "type": "RtpEndpoint", "constructorParams": { "mediaPipeline": pipeline } })).await?;
    let answer = invoke(rpc, &endpoint, "processOffer", json!({ "offer": FEED_OFFER })).await?;
    let answer = answer.as_str().ok_or("processOffer returned no SDP")?;
    let port = |kind: &str| {
        answer.lines().find_map(|l| l.strip_prefix(&format!("m={kind} "))).and_then(|rest| rest.split(' ').next()).and_then(|p| p.parse().ok())
    };
    let (audio, video) = (port("audio").ok_or("no audio port")?, port("video").ok_or("no video port")?);
    Ok((pipeline, endpoint, audio, video))
}

/// Creates a pipeline and a WebRtcEndpoint published to by the load client's
/// peer `peer` (client offers, server answers; three simulcast layers when
/// `simulcast`). Returns (pipeline id, endpoint id).
pub async fn create_publisher(rpc: &mut Rpc, peer: usize, simulcast: bool, media: &Sender<Command>) -> Result<(String, String), String> {
    let pipeline = rpc.create(json!({ "type": "MediaPipeline" })).await?;
    let endpoint = add_publisher(rpc, &pipeline, peer, false, simulcast, media).await?;
    Ok((pipeline, endpoint))
}

/// Adds to `pipeline` a WebRtcEndpoint that the load client's peer `peer`
/// publishes to (and receives from when `duplex`). Returns the endpoint id.
async fn add_publisher(rpc: &mut Rpc, pipeline: &str, peer: usize, duplex: bool, simulcast: bool, media: &Sender<Command>) -> Result<String, String> {
    let endpoint = rpc.create(json!({ "type": "WebRtcEndpoint", "constructorParams": { "mediaPipeline": pipeline } })).await?;
    let offer = tokio::task::block_in_place(|| ask(media, |reply| Command::Publish { peer, duplex, simulcast, reply }))??;
    let answer = invoke(rpc, &endpoint, "processOffer", json!({ "offer": offer })).await?;
    let answer = answer.as_str().ok_or("processOffer returned no SDP")?.to_owned();
    media.send(Command::AcceptAnswer { peer, answer }).map_err(|_| "media thread gone")?;
    invoke(rpc, &endpoint, "gatherCandidates", json!({})).await?;
    Ok(endpoint)
}

/// `calls` one-to-one calls, as the one-to-one tutorial makes them: per call
/// a pipeline with two WebRtcEndpoints connected both ways, the load
/// client's peers 2k and 2k+1 sending and receiving (client offers).
pub async fn create_calls(rpc: &mut Rpc, calls: usize, media: &Sender<Command>) -> Result<(), String> {
    for call in 0..calls {
        let pipeline = rpc.create(json!({ "type": "MediaPipeline" })).await?;
        let caller = add_publisher(rpc, &pipeline, 2 * call, true, false, media).await?;
        let callee = add_publisher(rpc, &pipeline, 2 * call + 1, true, false, media).await?;
        invoke(rpc, &caller, "connect", json!({ "sink": callee })).await?;
        invoke(rpc, &callee, "connect", json!({ "sink": caller })).await?;
    }
    Ok(())
}

/// Adds `count` viewers of `source` (a PlayerEndpoint or a published
/// WebRtcEndpoint), numbered from `first`. Returns their endpoints' ids.
pub async fn add_viewers(rpc: &mut Rpc, pipeline: &str, source: &str, first: usize, count: usize, media: &Sender<Command>) -> Result<Vec<String>, String> {
    let mut endpoints = Vec::with_capacity(count);
    for peer in first..first + count {
        let endpoint = rpc.create(json!({ "type": "WebRtcEndpoint", "constructorParams": { "mediaPipeline": pipeline } })).await?;
        invoke(rpc, source, "connect", json!({ "sink": endpoint })).await?;
        let offer = invoke(rpc, &endpoint, "generateOffer", json!({})).await?;
        let offer = offer.as_str().ok_or("generateOffer returned no SDP")?.to_owned();
        let answer = tokio::task::block_in_place(|| ask(media, |reply| Command::Answer { peer, offer, reply }))??;
        invoke(rpc, &endpoint, "processAnswer", json!({ "answer": answer })).await?;
        invoke(rpc, &endpoint, "gatherCandidates", json!({})).await?;
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}
