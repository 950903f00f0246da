//! `invoke`: operations on objects. MediaObject members are answered from the
//! registry; MediaElement, SdpEndpoint and WebRtcEndpoint members go to the
//! media worker. Every other IDL method or property answers 40006 until its
//! media behaviour exists, and names outside the IDL answer 40105.

use super::events::tags_json;
use kms_protocol::params::Params;
use super::registry::Backing;
use super::{elements, filters, hubs, pipeline, properties, sdp, server_manager, types, uri, webrtc, Server};
use kms_idl::{Class, Idl};
use kms_protocol::{ErrorCode, KurentoError, ObjectId};
use serde_json::{json, Value};
use std::sync::Arc;

/// Result of an operation: `None` for void methods.
pub type OpResult = Result<Option<Value>, KurentoError>;

/// Runs `operation` on `object` for `session`.
pub async fn invoke(server: &Arc<Server>, session: &str, object: &ObjectId, operation: &str, params: &Params<'_>) -> OpResult {
    let idl = Idl::get();
    let (class, backing) = server.lookup(object, |o| (o.class, o.backing))?;
    check_arguments(idl, class, operation, params)?;
    if let Some(result) = media_object(server, object, operation, params) {
        return result;
    }
    let handled = match backing {
        Backing::ServerManager => server_manager::invoke(server, operation, params).await,
        Backing::Element { pipeline, element } => {
            let ctx = elements::ElementRef { object, pipeline, element, session };
            match elements::invoke(server, &ctx, operation, params).await {
                Some(r) => Some(r),
                None => match class.name.as_str() {
                    "WebRtcEndpoint" => webrtc::invoke(server, &ctx, operation, params).await,
                    "RtpEndpoint" => match operation {
                        // The GStreamer graph of its RTP session, as KMS dumps its bin.
                        "getGstreamerDot" => Some(elements::with_element(server, &ctx, |e: &mut kms_gst::RtpEndpoint, _| e.dot()).await.map(|d| Some(json!(d)))),
                        _ => sdp::invoke::<kms_gst::RtpEndpoint>(server, &ctx, operation, params).await,
                    },
                    "HttpPostEndpoint" => match operation {
                        "getUrl" => Some(elements::with_element(server, &ctx, |e: &mut kms_gst::HttpPostEndpoint, _| e.url().to_owned()).await.map(|u| Some(json!(u)))),
                        "getGstreamerDot" => Some(elements::with_element(server, &ctx, |e: &mut kms_gst::HttpPostEndpoint, _| e.dot()).await.map(|d| Some(json!(d)))),
                        _ => None,
                    },
                    "PlayerEndpoint" => uri::player(server, &ctx, operation, params).await,
                    "RecorderEndpoint" => uri::recorder(server, &ctx, operation).await,
                    "GStreamerFilter" => filters::gstreamer_filter(server, &ctx, operation, params).await,
                    "ImageOverlayFilter" => filters::image_overlay(server, &ctx, operation, params).await,
                    "FaceOverlayFilter" => filters::face_overlay(server, &ctx, operation, params).await,
                    _ => None,
                },
            }
        }
        Backing::Pipeline(handle) => pipeline::invoke(server, object, handle, operation, params).await,
        Backing::Hub { pipeline, hub } => hubs::invoke(server, &hubs::HubRef { object, class, pipeline, hub }, operation, params).await,
    };
    handled.unwrap_or_else(|| not_built_or_unknown(server, idl, class, object, operation, params))
}

/// Validates `params` against the IDL signature of `operation`, when it has one.
fn check_arguments(idl: &Idl, class: &Class, operation: &str, params: &Params) -> Result<(), KurentoError> {
    let Some(method) = idl.method(class, operation) else { return Ok(()) };
    for p in &method.params {
        match params.get(&p.name) {
            None if p.optional => {}
            None => return Err(KurentoError::marshall(format!("'{}' parameter is required", p.name))),
            Some(v) if !types::matches(idl, &p.type_name, v) => {
                return Err(KurentoError::marshall(format!("'{}' parameter should be {}", p.name, types::describe(&p.type_name))))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The MediaObject members every class has; `None` for any other operation.
fn media_object(server: &Server, object: &ObjectId, operation: &str, params: &Params) -> Option<OpResult> {
    let mut state = server.lock();
    if operation == "getChildren" {
        // Scans the registry: only done when asked.
        let children = state.registry.children(object);
        return Some(Ok(Some(json!(children.iter().map(ObjectId::as_str).collect::<Vec<_>>()))));
    }
    let o = state.registry.get_mut(object)?;
    let value = |v: Value| Some(Ok(Some(v)));
    let void = |r: Result<(), KurentoError>| Some(r.map(|()| None));
    match operation {
        "getId" => value(json!(o.id.as_str())),
        "getName" => value(json!(o.name)),
        "setName" => void(params.str("name").map(|n| o.name = n.to_owned())),
        "getSendTagsInEvents" => value(json!(o.send_tags_in_events)),
        "setSendTagsInEvents" => void(params.bool("sendTagsInEvents").map(|b| o.send_tags_in_events = b)),
        "getCreationTime" => value(json!(o.creation_time)),
        "getParent" => value(o.id.parent().map_or(Value::Null, |p| json!(p.as_str()))),
        "getMediaPipeline" => value(match o.backing {
            Backing::ServerManager => Value::Null,
            _ => json!(o.id.pipeline().as_str()),
        }),
        "addTag" => void(params.str("key").and_then(|k| Ok((k, params.str("value")?))).map(|(k, v)| {
            o.tags.retain(|(key, _)| key != k);
            o.tags.push((k.to_owned(), v.to_owned()));
        })),
        "removeTag" => void(params.str("key").map(|k| o.tags.retain(|(key, _)| key != k))),
        "getTag" => Some(params.str("key").and_then(|k| {
            let found = o.tags.iter().find(|(key, _)| key == k).map(|(_, v)| json!(v));
            found.map(Some).ok_or_else(|| KurentoError::new(ErrorCode::MediaObjectTagKeyNotFound, format!("Tag key '{k}' not found")))
        })),
        "getTags" => value(tags_json(&o.tags)),
        _ => None,
    }
}

/// The answer for an operation nothing above handled: a property access,
/// 40006 for the rest of the IDL, 40105 for names outside it.
fn not_built_or_unknown(server: &Server, idl: &Idl, class: &Class, object: &ObjectId, operation: &str, params: &Params) -> OpResult {
    if idl.method(class, operation).is_some() {
        return Err(KurentoError::not_implemented(&format!("{}.{operation}", class.name)));
    }
    if let Some(result) = properties::access(server, idl, class, object, operation, params) {
        return result;
    }
    Err(KurentoError::new(ErrorCode::MediaObjectMethodNotFound, format!("Method '{operation}' not found in class {}", class.name)))
}
