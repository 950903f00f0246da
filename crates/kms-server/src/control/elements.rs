//! MediaElement operations: the connection graph and media-flow queries.

use super::events::register;
use super::OpResult;
use kms_api::MediaElementOp;
use super::registry::Backing;
use super::Server;
use crate::media::PipelineHandle;
use kms_media::{Codec, Connection, Element, ElementId, EncoderBitrate, GraphError, MediaType, TargetFormat};
use kms_protocol::{ErrorCode, KurentoError, ObjectId};
use kms_webrtc::WebRtcEndpoint;
use kms_gst::RtpEndpoint;
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
        .call(pipeline, move |worker, now| worker.pipeline(pipeline)?.element_mut::<T>(element).map(|e| f(e, now)))
        .await?
        .ok_or_else(|| KurentoError::object_not_found(ctx.object.as_str()))
}

/// MediaElement operations; `None` for the ones not built here (the
/// GStreamer dumps, which only endpoints with a GStreamer graph answer).
pub async fn invoke(server: &Server, ctx: &ElementRef<'_>, op: MediaElementOp<'_>) -> Option<OpResult> {
    let connecting = matches!(op, MediaElementOp::Connect { .. });
    Some(match op {
        MediaElementOp::Connect { sink, media_type, source_media_description, sink_media_description }
        | MediaElementOp::Disconnect { sink, media_type, source_media_description, sink_media_description } => {
            let descriptions = (source_media_description.unwrap_or("default"), sink_media_description.unwrap_or("default"));
            connect(server, ctx, &sink, media_type.map(media), descriptions, connecting).await
        }
        MediaElementOp::GetSourceConnections { media_type, description } => connections(server, ctx, media_type.map(media), description, true).await,
        MediaElementOp::GetSinkConnections { media_type, description } => connections(server, ctx, media_type.map(media), description, false).await,
        MediaElementOp::IsMediaFlowingIn { media_type, .. } => flowing(server, ctx, media_type, true).await,
        MediaElementOp::IsMediaFlowingOut { media_type, .. } => flowing(server, ctx, media_type, false).await,
        MediaElementOp::GetStats { media_type } => stats(server, ctx, media_type.map(media)).await,
        MediaElementOp::IsMediaTranscoding { media_type, bin_name } => transcoding(server, ctx, media_type, bin_name.unwrap_or("default")).await,
        MediaElementOp::SetVideoFormat { caps } => output_format(server, ctx, caps, MediaType::Video).await,
        MediaElementOp::SetAudioFormat { caps } => output_format(server, ctx, caps, MediaType::Audio).await,
        MediaElementOp::SetEncoderBitrate { encoder_bitrate: v } => encoder_bitrate(server, ctx, "encoderBitrate", v).await,
        MediaElementOp::SetMinEncoderBitrate { min_encoder_bitrate: v } => encoder_bitrate(server, ctx, "minEncoderBitrate", v).await,
        MediaElementOp::SetMaxEncoderBitrate { max_encoder_bitrate: v } => encoder_bitrate(server, ctx, "maxEncoderBitrate", v).await,
        _ => return None,
    })
}

/// The media graph's type for the IDL's MediaType.
pub fn media(t: kms_api::MediaType) -> MediaType {
    match t {
        kms_api::MediaType::Audio => MediaType::Audio,
        kms_api::MediaType::Video => MediaType::Video,
        kms_api::MediaType::Data => MediaType::Data,
    }
}

/// connect / disconnect per KMS's rules; raises ElementConnected /
/// ElementDisconnected on the source (and on a replaced source).
async fn connect(
    server: &Server,
    ctx: &ElementRef<'_>,
    sink_id: &ObjectId,
    media_type: Option<MediaType>,
    (source_desc, sink_desc): (&str, &str),
    connecting: bool,
) -> OpResult {
    let sink = match server.lookup(sink_id, |o| o.backing)? {
        Backing::Element { pipeline, element } if pipeline == ctx.pipeline => element,
        Backing::Element { .. } => {
            return Err(KurentoError::new(ErrorCode::ConnectError, "Cannot connect elements of different pipelines"));
        }
        _ => return Err(KurentoError::marshall("'sink' parameter should be a MediaElement")),
    };
    let types: Vec<MediaType> = media_type.map_or(MediaType::ALL.to_vec(), |t| vec![t]);
    let (pipeline, source) = (ctx.pipeline, ctx.element);
    let (sd, kd) = (source_desc.to_owned(), sink_desc.to_owned());
    let changes = server
        .media
        .call(pipeline, move |worker, now| {
            let Some(p) = worker.pipeline(pipeline) else { return Ok(Vec::new()) };
            let mut changes = Vec::new();
            for media_type in types {
                if connecting {
                    let conn = Connection { source, sink, media_type, source_description: sd.clone(), sink_description: kd.clone() };
                    let replaced = p.connect(now, conn.clone())?;
                    changes.extend(replaced.map(|r| (false, r)));
                    changes.push((true, conn));
                } else {
                    changes.extend(p.disconnect(now, source, sink, Some(media_type)).into_iter().map(|c| (false, c)));
                }
            }
            Ok(changes)
        })
        .await?
        .map_err(|e| graph_error(server, ctx, sink_id, e))?;
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
    server.ref_object(ctx.session, sink_id)?;
    Ok(None)
}

/// A refused connection: 40101 for an element that is gone, 40006 for one
/// whose media is not built (a connection to it would carry nothing).
fn graph_error(server: &Server, ctx: &ElementRef<'_>, sink: &ObjectId, error: GraphError) -> KurentoError {
    let (GraphError::UnknownElement(id) | GraphError::NoMedia(id)) = error;
    let object = if id == ctx.element { ctx.object.clone() } else { sink.clone() };
    match error {
        GraphError::UnknownElement(_) => KurentoError::object_not_found(object.as_str()),
        GraphError::NoMedia(_) => {
            let class = server.lookup(&object, |o| o.class.name.clone()).unwrap_or_default();
            KurentoError::new(ErrorCode::NotImplemented, format!("{class} {object} does not carry media yet: it cannot be connected"))
        }
    }
}

/// getSourceConnections (`sources` = true) / getSinkConnections.
async fn connections(server: &Server, ctx: &ElementRef<'_>, filter: Option<MediaType>, description: Option<&str>, sources: bool) -> OpResult {
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    let conns = server
        .media
        .call(pipeline, move |worker, _| {
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
            description.is_none_or(|d| d == own)
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
async fn flowing(server: &Server, ctx: &ElementRef<'_>, media_type: kms_api::MediaType, inbound: bool) -> OpResult {
    let media_type = audio_or_video(media_type)?;
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    let flowing = server
        .media
        .call(pipeline, move |worker, _| {
            let e = worker.pipeline(pipeline)?.element(element)?;
            Some(if inbound { e.is_media_flowing_in(media_type) } else { e.is_media_flowing_out(media_type) })
        })
        .await
        ?
        .unwrap_or(false);
    Ok(Some(json!(flowing)))
}

/// The RTP figures of an endpoint, read in the media worker.
enum Endpoint {
    WebRtc(Vec<kms_webrtc::RtpStreamStats>, (Vec<kms_webrtc::DataChannelStats>, (u64, u64))),
    Rtp(Vec<kms_media::RtpStreamStats>),
    None,
}

/// getStats: RTP stream stats for a WebRtcEndpoint or RtpEndpoint, the pipeline's latency
/// averages (`latencyStats`) for every element.
async fn stats(server: &Server, ctx: &ElementRef<'_>, media_type: Option<MediaType>) -> OpResult {
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    let (latency, streams) = server
        .media
        .call(pipeline, move |worker, _| {
            let p = worker.pipeline(pipeline)?;
            let latency = p.latency().averages(element);
            let streams = match p.element_mut::<WebRtcEndpoint>(element) {
                Some(w) => Endpoint::WebRtc(w.stats(), w.data_channel_stats()),
                None => p.element_mut::<RtpEndpoint>(element).map_or(Endpoint::None, |r| Endpoint::Rtp(r.stats())),
            };
            Some((latency, streams))
        })
        .await?
        .ok_or_else(|| KurentoError::object_not_found(ctx.object.as_str()))?;
    let latency: Vec<_> = latency.into_iter().filter(|(t, _)| media_type.is_none_or(|m| m == *t)).collect();
    let id = ctx.object.as_str();
    Ok(Some(match streams {
        Endpoint::WebRtc(streams, data) => super::stats::webrtc_stats(id, &streams, &data, &latency, media_type),
        Endpoint::Rtp(streams) => Value::Object(super::stats::rtp_endpoint_stats(id, &streams, &latency, media_type)),
        Endpoint::None => super::stats::element_stats(id, &latency),
    }))
}

/// `ElementConnectionData` register.
pub fn connection_data(source: &str, sink: &str, media_type: &str, source_desc: &str, sink_desc: &str) -> Value {
    register(
        "ElementConnectionData",
        json!({ "source": source, "sink": sink, "type": media_type, "sourceDescription": source_desc, "sinkDescription": sink_desc }),
    )
}

/// The media type parameter of isMediaFlowingIn/Out and isMediaTranscoding:
/// AUDIO or VIDEO; DATA is 40107 as in KMS.
fn audio_or_video(media_type: kms_api::MediaType) -> Result<MediaType, KurentoError> {
    let media_type = media(media_type);
    if media_type == MediaType::Data {
        return Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, "Media flow and transcoding are not tracked for DATA"));
    }
    Ok(media_type)
}

/// isMediaTranscoding(mediaType, binName = "default"): whether this
/// element's output of that type goes through a transcoder now. `default`
/// matches any transcoder of the type (in KMS it matches none, a bug);
/// another name matches the `binName` of MediaTranscodingStateChanged.
async fn transcoding(server: &Server, ctx: &ElementRef<'_>, media_type: kms_api::MediaType, bin_name: &str) -> OpResult {
    let media_type = audio_or_video(media_type)?;
    let bin_name = bin_name.to_owned();
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    let on = server.media.call(pipeline, move |worker, _| worker.pipeline(pipeline).is_some_and(|p| p.is_transcoding(element, media_type, &bin_name))).await?;
    Ok(Some(json!(on)))
}

/// setVideoFormat(VideoCaps) / setAudioFormat(AudioCaps): every sink of this
/// element that can take the codec gets it (transcoded when the source's
/// differs), at the VideoCaps framerate; AudioCaps `bitrate` sets the audio
/// encoder's bitrate. Codecs no encoder here produces are 40107.
async fn output_format(server: &Server, ctx: &ElementRef<'_>, caps: &Map<String, Value>, media_type: MediaType) -> OpResult {
    let name = caps.get("codec").and_then(Value::as_str).unwrap_or_default();
    let codec = match (media_type, name) {
        (MediaType::Video, "VP8") => Codec::Vp8,
        (MediaType::Video, "VP9") => Codec::Vp9,
        (MediaType::Video, "H264") => Codec::H264,
        (MediaType::Audio, "OPUS") => Codec::Opus,
        (MediaType::Audio, "PCMU") => Codec::Pcmu,
        (MediaType::Audio, "PCMA") => Codec::Pcma,
        _ => return Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("{name} output is not supported here"))),
    };
    let framerate = caps.get("framerate").and_then(Value::as_object).map(|f| {
        let part = |k: &str| f.get(k).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        (part("numerator"), part("denominator"))
    });
    if framerate.is_some_and(|(n, d)| n == 0 || d == 0) {
        return Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, "framerate needs a positive numerator and denominator"));
    }
    let audio_bitrate = caps.get("bitrate").and_then(Value::as_u64).filter(|b| *b > 0);
    let format = TargetFormat { codec, framerate: framerate.filter(|_| media_type == MediaType::Video) };
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    server
        .media
        .call(pipeline, move |worker, _| {
            if let Some(p) = worker.pipeline(pipeline) {
                p.set_output_format(element, media_type, Some(format));
                if let Some(b) = audio_bitrate {
                    p.set_audio_bitrate(element, b);
                }
            }
        })
        .await?;
    Ok(None)
}

/// set(Min|Max)EncoderBitrate: stored like any property, then given to the
/// element's video encoders (bits/s; max 0 = unbounded).
async fn encoder_bitrate(server: &Server, ctx: &ElementRef<'_>, property: &str, value: i32) -> OpResult {
    if value < 0 {
        return Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("'{property}' should be 0 or more bits/s")));
    }
    let bitrate = {
        let mut state = server.lock();
        let o = state.registry.get_mut(ctx.object).ok_or_else(|| KurentoError::object_not_found(ctx.object.as_str()))?;
        o.properties.insert(property.into(), json!(value));
        let get = |k: &str, d: u64| o.properties.get(k).and_then(Value::as_u64).unwrap_or(d);
        let d = EncoderBitrate::DEFAULT;
        EncoderBitrate { start: get("encoderBitrate", d.start), min: get("minEncoderBitrate", d.min), max: get("maxEncoderBitrate", d.max) }
    };
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    server.media.call(pipeline, move |worker, _| worker.pipeline(pipeline).map(|p| p.set_encoder_bitrate(element, bitrate))).await?;
    Ok(None)
}
