//! `invoke`: operations on objects. The request is decoded into a typed
//! [`Operation`] first (kms-api: the one place operation parameters are
//! checked, with KMS's codes); the variant's declaring class picks the
//! handler. MediaObject members are answered from the registry, the other
//! classes' members by their handlers (in the media worker where they touch
//! media); accessors no handler takes read and write the stored property;
//! any other IDL method answers 40006 until its media behaviour exists.

use super::events::tags_json;
use super::registry::Backing;
use super::{elements, filters, hubs, modules, pipeline, properties, sdp, server_manager, uri, vision, webrtc, OpResult, Server};
use kms_api::{Accessor, HttpEndpointOp, MediaElementOp, MediaObjectOp, Operation};
use kms_gst::{HttpPostEndpoint, PlayerEndpoint, RecorderEndpoint, RtpEndpoint};
use kms_webrtc::WebRtcEndpoint;
use kms_protocol::params::Params;
use kms_protocol::{ErrorCode, KurentoError, ObjectId};
use serde_json::{json, Value};
use std::sync::Arc;

/// Runs `operation` on `object` for `session`.
pub async fn invoke(server: &Arc<Server>, session: &str, object: &ObjectId, operation: &str, params: &Params<'_>) -> OpResult {
    let (class, backing) = server.lookup(object, |o| (o.class, o.backing))?;
    let op = Operation::decode(class, operation, params)?;
    let ((declaring, name), accessor) = (op.name(), op.property());
    let handled = match (op, backing) {
        (Operation::MediaObject(op), _) => Some(media_object(server, object, op)),
        (Operation::ServerManager(op), _) => server_manager::invoke(server, op).await,
        (Operation::MediaPipeline(op), Backing::Pipeline(handle)) => pipeline::invoke(server, object, handle, op).await,
        (op, Backing::Hub { pipeline, hub }) => hubs::invoke(server, &hubs::HubRef { object, class, pipeline, hub }, op).await,
        (op, Backing::Element { pipeline, element }) => element_op(server, &elements::ElementRef { object, pipeline, element, session }, op).await,
        // An operation of a class the object is not (the registry and the IDL disagree).
        (_, _) => None,
    };
    match handled {
        Some(result) => result,
        None => match accessor {
            Some(Accessor::Get(property)) => properties::get(server, object, property).and_then(|v| {
                v.map(Some).ok_or_else(|| KurentoError::not_implemented(&format!("{declaring}.{name}")))
            }),
            Some(Accessor::Set(property)) => properties::store(server, object, property, params.get(property)).map(|()| None),
            None => Err(KurentoError::not_implemented(&format!("{declaring}.{name}"))),
        },
    }
}

/// The operations of a MediaElement (or a class derived from it), by the
/// class that declares them; `None` for the ones left to the stored
/// properties or not built.
async fn element_op(server: &Server, ctx: &elements::ElementRef<'_>, op: Operation<'_>) -> Option<OpResult> {
    let class = server.lookup(ctx.object, |o| o.class.name.as_str()).ok()?;
    match op {
        Operation::MediaElement(MediaElementOp::GetGstreamerDot { .. }) => gstreamer_dot(server, ctx, class).await,
        Operation::MediaElement(op) => elements::invoke(server, ctx, op).await,
        Operation::SdpEndpoint(op) if class == "WebRtcEndpoint" => sdp::sdp_endpoint::<WebRtcEndpoint>(server, ctx, op).await,
        Operation::SdpEndpoint(op) if class == "RtpEndpoint" => sdp::sdp_endpoint::<RtpEndpoint>(server, ctx, op).await,
        Operation::BaseRtpEndpoint(op) if class == "WebRtcEndpoint" => webrtc::base_rtp_endpoint(server, ctx, op).await,
        Operation::BaseRtpEndpoint(op) if class == "RtpEndpoint" => sdp::base_rtp_endpoint::<RtpEndpoint>(server, ctx, op).await,
        Operation::WebRtcEndpoint(op) => webrtc::invoke(server, ctx, op).await,
        Operation::HttpEndpoint(HttpEndpointOp::GetUrl) if class == "HttpPostEndpoint" => {
            Some(elements::with_element(server, ctx, |e: &mut HttpPostEndpoint, _| e.url().to_owned()).await.map(|u| Some(json!(u))))
        }
        Operation::UriEndpoint(op) if class == "PlayerEndpoint" => uri::uri_endpoint::<PlayerEndpoint>(server, ctx, op).await,
        Operation::UriEndpoint(op) if class == "RecorderEndpoint" => uri::uri_endpoint::<RecorderEndpoint>(server, ctx, op).await,
        Operation::PlayerEndpoint(op) => uri::player(server, ctx, op).await,
        Operation::RecorderEndpoint(op) => uri::recorder(server, ctx, op).await,
        Operation::GStreamerFilter(op) => filters::gstreamer_filter(server, ctx, op).await,
        Operation::ImageOverlayFilter(op) => filters::image_overlay(server, ctx, op).await,
        Operation::FaceOverlayFilter(op) => filters::face_overlay(server, ctx, op).await,
        Operation::ChromaFilter(op) => vision::chroma(server, ctx, op).await,
        Operation::CrowdDetectorFilter(op) => vision::crowd(server, ctx, op).await,
        Operation::PlateDetectorFilter(op) => vision::plate(server, ctx, op).await,
        Operation::PointerDetectorFilter(op) => vision::pointer(server, ctx, op).await,
        Operation::Module(op) => modules::invoke(server, ctx, op).await,
        _ => None,
    }
}

/// MediaElement.getGstreamerDot: the element's own GStreamer graph where it
/// has one (KMS dumps the element's bin); `None` (40006) for the others.
async fn gstreamer_dot(server: &Server, ctx: &elements::ElementRef<'_>, class: &str) -> Option<OpResult> {
    Some(match class {
        "RtpEndpoint" => elements::with_element(server, ctx, |e: &mut RtpEndpoint, _| e.dot()).await.map(|d| Some(json!(d))),
        "HttpPostEndpoint" => elements::with_element(server, ctx, |e: &mut HttpPostEndpoint, _| e.dot()).await.map(|d| Some(json!(d))),
        "PlayerEndpoint" => uri::gstreamer_dot::<PlayerEndpoint>(server, ctx).await,
        "RecorderEndpoint" => uri::gstreamer_dot::<RecorderEndpoint>(server, ctx).await,
        _ => return None,
    })
}

/// The MediaObject members every class has; `None` for the accessors left
/// to the stored properties.
fn media_object(server: &Server, object: &ObjectId, op: MediaObjectOp<'_>) -> OpResult {
    let mut state = server.lock();
    if let MediaObjectOp::GetChildren = op {
        // Scans the registry: only done when asked.
        let children = state.registry.children(object);
        return Ok(Some(json!(children.iter().map(ObjectId::as_str).collect::<Vec<_>>())));
    }
    let o = state.registry.get_mut(object).ok_or_else(|| KurentoError::object_not_found(object.as_str()))?;
    Ok(match op {
        MediaObjectOp::GetId => Some(json!(o.id.as_str())),
        MediaObjectOp::GetName => Some(json!(o.name)),
        MediaObjectOp::SetName { name } => {
            o.name = name.to_owned();
            None
        }
        MediaObjectOp::GetSendTagsInEvents => Some(json!(o.send_tags_in_events)),
        MediaObjectOp::SetSendTagsInEvents { send_tags_in_events } => {
            o.send_tags_in_events = send_tags_in_events;
            None
        }
        MediaObjectOp::GetCreationTime => Some(json!(o.creation_time)),
        MediaObjectOp::GetParent => Some(o.id.parent().map_or(Value::Null, |p| json!(p.as_str()))),
        MediaObjectOp::GetMediaPipeline => Some(match o.backing {
            Backing::ServerManager => Value::Null,
            _ => json!(o.id.pipeline().as_str()),
        }),
        MediaObjectOp::AddTag { key, value } => {
            o.tags.retain(|(k, _)| k != key);
            o.tags.push((key.to_owned(), value.to_owned()));
            None
        }
        MediaObjectOp::RemoveTag { key } => {
            o.tags.retain(|(k, _)| k != key);
            None
        }
        MediaObjectOp::GetTag { key } => {
            let found = o.tags.iter().find(|(k, _)| k == key).map(|(_, v)| json!(v));
            Some(found.ok_or_else(|| KurentoError::new(ErrorCode::MediaObjectTagKeyNotFound, format!("Tag key '{key}' not found")))?)
        }
        MediaObjectOp::GetTags => Some(tags_json(&o.tags)),
        other => return Err(KurentoError::not_implemented(&format!("MediaObject.{}", other.name()))),
    })
}
