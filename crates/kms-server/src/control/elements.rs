//! MediaElement operations: the connection graph and media-flow queries.

use super::events::register;
use super::invoke::OpResult;
use super::methods::ref_object;
use super::params::Params;
use super::registry::Backing;
use super::Server;
use crate::media::PipelineHandle;
use kms_media::{Connection, Element, ElementId, MediaType};
use kms_protocol::{ErrorCode, KurentoError, ObjectId};
use kms_webrtc::WebRtcEndpoint;
use serde_json::{json, Map, Value};

/// The element an operation is invoked on.
pub struct ElementRef<'a> {
    pub object: &'a ObjectId,
    pub pipeline: PipelineHandle,
    pub element: ElementId,
    pub session: &'a str,
}

/// Runs `f` on the element (of type `T`) inside the media worker, with the
/// worker's time. 40101 when it is gone or not a `T`.
pub async fn with_element<T: Element, R: Send + 'static>(
    server: &Server,
    ctx: &ElementRef<'_>,
    f: impl FnOnce(&mut T, std::time::Instant) -> R + Send + 'static,
) -> Result<R, KurentoError> {
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    server
        .media
        .call(move |worker, now| worker.pipeline(pipeline)?.element_mut::<T>(element).map(|e| f(e, now)))
        .await?
        .ok_or_else(|| KurentoError::object_not_found(ctx.object.as_str()))
}

/// MediaElement operations; `None` when `operation` is not one of them.
pub async fn invoke(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    Some(match operation {
        "connect" => connect(server, ctx, params, true).await,
        "disconnect" => connect(server, ctx, params, false).await,
        "getSourceConnections" => connections(server, ctx, params, true).await,
        "getSinkConnections" => connections(server, ctx, params, false).await,
        "isMediaFlowingIn" => flowing(server, ctx, params, true).await,
        "isMediaFlowingOut" => flowing(server, ctx, params, false).await,
        "getStats" => stats(server, ctx, params).await,
        _ => return None,
    })
}

fn media_types(params: &Params) -> Result<Option<MediaType>, KurentoError> {
    params
        .opt_str("mediaType")?
        .map(|t| MediaType::parse(t).ok_or_else(|| KurentoError::marshall(format!("'mediaType' parameter should be AUDIO, VIDEO or DATA, not '{t}'"))))
        .transpose()
}

/// connect / disconnect per KMS's rules; raises ElementConnected /
/// ElementDisconnected on the source (and on a replaced source).
async fn connect(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>, connecting: bool) -> OpResult {
    let sink_id = params.object_id("sink")?;
    let sink = match server.lookup(&sink_id, |o| o.backing)? {
        Backing::Element { pipeline, element } if pipeline == ctx.pipeline => element,
        Backing::Element { .. } => {
            return Err(KurentoError::new(ErrorCode::ConnectError, "Cannot connect elements of different pipelines"));
        }
        _ => return Err(KurentoError::marshall("'sink' parameter should be a MediaElement")),
    };
    let types: Vec<MediaType> = media_types(params)?.map_or(MediaType::ALL.to_vec(), |t| vec![t]);
    let source_desc = params.opt_str("sourceMediaDescription")?.unwrap_or("default").to_owned();
    let sink_desc = params.opt_str("sinkMediaDescription")?.unwrap_or("default").to_owned();
    let (pipeline, source) = (ctx.pipeline, ctx.element);
    let (sd, kd) = (source_desc.clone(), sink_desc.clone());
    let changes = server
        .media
        .call(move |worker, now| {
            let Some(p) = worker.pipeline(pipeline) else { return Vec::new() };
            let mut changes = Vec::new();
            for media_type in types {
                if connecting {
                    let conn = Connection { source, sink, media_type, source_description: sd.clone(), sink_description: kd.clone() };
                    if let Ok(replaced) = p.connect(now, conn.clone()) {
                        changes.extend(replaced.map(|r| (false, r)));
                        changes.push((true, conn));
                    }
                } else {
                    changes.extend(p.disconnect(source, sink, Some(media_type)).into_iter().map(|c| (false, c)));
                }
            }
            changes
        })
        .await
        ?;
    {
        let state = server.lock();
        for (connected, c) in changes {
            let (Some(src), Some(snk)) = (state.registry.by_element(pipeline, c.source), state.registry.by_element(pipeline, c.sink)) else {
                continue;
            };
            let mut fields = Map::new();
            fields.insert("sink".into(), json!(snk.id.as_str()));
            fields.insert("mediaType".into(), json!(c.media_type.as_str()));
            fields.insert("sourceMediaDescription".into(), json!(c.source_description));
            fields.insert("sinkMediaDescription".into(), json!(c.sink_description));
            let name = if connected { "ElementConnected" } else { "ElementDisconnected" };
            state.publish(&src.id.clone(), name, fields);
        }
    }
    ref_object(server, ctx.session, &sink_id)?;
    Ok(None)
}

/// getSourceConnections (`sources` = true) / getSinkConnections.
async fn connections(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>, sources: bool) -> OpResult {
    let filter = media_types(params)?;
    let description = params.opt_str("description")?.map(str::to_owned);
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    let conns = server
        .media
        .call(move |worker, _| {
            let Some(p) = worker.pipeline(pipeline) else { return Vec::new() };
            let graph = p.graph();
            let list = if sources { graph.source_connections(element, filter) } else { graph.sink_connections(element, filter) };
            list.into_iter().cloned().collect::<Vec<_>>()
        })
        .await
        ?;
    let state = server.lock();
    let data: Vec<Value> = conns
        .iter()
        .filter(|c| {
            let own = if sources { &c.sink_description } else { &c.source_description };
            description.as_ref().is_none_or(|d| d == own)
        })
        .filter_map(|c| {
            let src = state.registry.by_element(pipeline, c.source)?;
            let snk = state.registry.by_element(pipeline, c.sink)?;
            Some(connection_data(src.id.as_str(), snk.id.as_str(), c.media_type.as_str(), &c.source_description, &c.sink_description))
        })
        .collect();
    Ok(Some(Value::Array(data)))
}

/// isMediaFlowingIn / isMediaFlowingOut; DATA is 40107 as in KMS.
async fn flowing(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>, inbound: bool) -> OpResult {
    let media_type = MediaType::parse(params.str("mediaType")?).ok_or_else(|| KurentoError::marshall("'mediaType' parameter should be AUDIO or VIDEO"))?;
    if media_type == MediaType::Data {
        return Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, "Media flow is not tracked for DATA"));
    }
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    let flowing = server
        .media
        .call(move |worker, _| {
            let e = worker.pipeline(pipeline)?.element(element)?;
            Some(if inbound { e.is_media_flowing_in(media_type) } else { e.is_media_flowing_out(media_type) })
        })
        .await
        ?
        .unwrap_or(false);
    Ok(Some(json!(flowing)))
}

/// getStats: RTP stream stats for a WebRtcEndpoint, the pipeline's latency
/// averages (`latencyStats`) for every element.
async fn stats(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>) -> OpResult {
    let media_type = media_types(params)?;
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    let (latency, streams) = server
        .media
        .call(move |worker, _| {
            let p = worker.pipeline(pipeline)?;
            let latency = p.latency().averages(element);
            let streams = p.element_mut::<WebRtcEndpoint>(element).map(|w| (w.stats(), w.data_channel_stats()));
            Some((latency, streams))
        })
        .await?
        .ok_or_else(|| KurentoError::object_not_found(ctx.object.as_str()))?;
    let latency: Vec<_> = latency.into_iter().filter(|(t, _)| media_type.is_none_or(|m| m == *t)).collect();
    let id = ctx.object.as_str();
    Ok(Some(match streams {
        Some((streams, data)) => super::stats::webrtc_stats(id, &streams, &data, &latency, media_type),
        None => super::stats::element_stats(id, &latency),
    }))
}

/// `ElementConnectionData` register.
pub fn connection_data(source: &str, sink: &str, media_type: &str, source_desc: &str, sink_desc: &str) -> Value {
    register(
        "ElementConnectionData",
        json!({ "source": source, "sink": sink, "type": media_type, "sourceDescription": source_desc, "sinkDescription": sink_desc }),
    )
}
