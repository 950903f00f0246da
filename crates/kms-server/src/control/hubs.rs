//! Hub operations: Dispatcher, DispatcherOneToMany, Mixer, AlphaBlending
//! (Composite has none), and Hub.getGstreamerDot.

use super::invoke::OpResult;
use kms_protocol::params::Params;
use super::registry::Backing;
use super::Server;
use crate::media::PipelineHandle;
use kms_gst::{Compositor, CompositorKind, Placement, VideoSettings};
use kms_idl::Class;
use kms_media::{Dispatcher, DispatcherMode, ElementId, Hub, HubError, MediaType};
use kms_protocol::{ErrorCode, KurentoError, ObjectId};
use serde_json::json;

/// The hub an operation is invoked on.
pub struct HubRef<'a> {
    pub object: &'a ObjectId,
    pub class: &'static Class,
    pub pipeline: PipelineHandle,
    pub hub: ElementId,
}

/// Hub operations; `None` when `operation` is not one of them.
///
/// Errors (KMS's codes where KMS has them): a port that is not a live
/// HubPort of this hub answers 40004 CONNECT_ERROR for `connect` /
/// `disconnect` (KMS: "Can not connect ports") and 40107 for the other
/// methods (where KMS crashes or ignores it); Mixer's DATA and video
/// disconnection answer 40005 UNSUPPORTED_MEDIA_TYPE, its disconnection of
/// audio that was not connected 40004.
pub async fn invoke(server: &Server, ctx: &HubRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    let class = ctx.class.name.as_str();
    let handled = matches!(
        (class, operation),
        (_, "getGstreamerDot")
            | ("Dispatcher", "connect")
            | ("Mixer", "connect" | "disconnect")
            | ("DispatcherOneToMany", "setSource" | "removeSource")
            | ("AlphaBlending", "setMaster" | "setPortProperties")
    );
    if !handled {
        return None;
    }
    Some(handle(server, ctx, operation, params).await)
}

/// Runs one of the operations [`invoke`] takes.
async fn handle(server: &Server, ctx: &HubRef<'_>, operation: &str, params: &Params<'_>) -> OpResult {
    use ErrorCode::{ConnectError, MediaObjectIllegalParamError as Illegal};
    match (ctx.class.name.as_str(), operation) {
        (_, "getGstreamerDot") => dot(server, ctx).await,
        ("Dispatcher", _) => {
            let [source, sink] = ports(server, ctx, params, ["source", "sink"], ConnectError)?;
            run(server, ctx, ConnectError, move |d: &mut Dispatcher| d.connect(source, sink, None)).await
        }
        ("Mixer", _) => {
            let (connect, media_type) = (operation == "connect", media_type(params)?);
            let [source, sink] = ports(server, ctx, params, ["source", "sink"], ConnectError)?;
            run(server, ctx, ConnectError, move |c: &mut Compositor| match media_type {
                MediaType::Audio => c.route_audio(source, sink, connect),
                MediaType::Video => c.route_video(source, sink, connect),
                MediaType::Data => Err(HubError::Unsupported("Invalid media type")),
            })
            .await
        }
        ("DispatcherOneToMany", "setSource") => {
            let [source] = ports(server, ctx, params, ["source"], Illegal)?;
            run(server, ctx, Illegal, move |d: &mut Dispatcher| d.set_source(source)).await
        }
        ("DispatcherOneToMany", _) => {
            run(server, ctx, Illegal, |d: &mut Dispatcher| {
                d.remove_source();
                Ok(())
            })
            .await
        }
        ("AlphaBlending", "setMaster") => {
            let z = z_order(params)?;
            let [port] = ports(server, ctx, params, ["source"], Illegal)?;
            run(server, ctx, Illegal, move |c: &mut Compositor| c.set_master(port, z)).await
        }
        _ => {
            let placement = placement(params)?;
            let [port] = ports(server, ctx, params, ["port"], Illegal)?;
            run(server, ctx, Illegal, move |c: &mut Compositor| c.set_port_properties(port, placement)).await
        }
    }
}

/// Runs `f` on the hub (of type `T`) inside the media worker. `unknown` is
/// the code for a port that stopped being one meanwhile.
async fn run<T: Hub>(server: &Server, ctx: &HubRef<'_>, unknown: ErrorCode, f: impl FnOnce(&mut T) -> Result<(), HubError> + Send + 'static) -> OpResult {
    let (pipeline, hub) = (ctx.pipeline, ctx.hub);
    server
        .media
        .call(pipeline, move |worker, _| worker.pipeline(pipeline)?.hub_mut::<T>(hub).map(f))
        .await?
        .ok_or_else(|| KurentoError::object_not_found(ctx.object.as_str()))?
        .map_err(|e| {
            let code = match e {
                HubError::UnknownPort(_) => unknown,
                HubError::NotConnected => ErrorCode::ConnectError,
                HubError::Unsupported(_) => ErrorCode::UnsupportedMediaType,
            };
            KurentoError::new(code, e.to_string())
        })?;
    Ok(None)
}

/// The HubPorts named by `names`: each must be a live HubPort of this hub.
/// 40101 when one does not exist; `code` when it is another hub's, another
/// pipeline's, or not a HubPort at all.
fn ports<const N: usize>(server: &Server, ctx: &HubRef<'_>, params: &Params, names: [&str; N], code: ErrorCode) -> Result<[ElementId; N], KurentoError> {
    let mut out = [ElementId(0); N];
    for (slot, name) in out.iter_mut().zip(names) {
        let id = params.object_id(name)?;
        let (class, backing) = server.lookup(&id, |o| (o.class.name.as_str(), o.backing))?;
        *slot = match backing {
            // A child of this hub is in its pipeline.
            Backing::Element { element, .. } if class == "HubPort" && id.parent().as_ref() == Some(ctx.object) => element,
            _ => return Err(KurentoError::new(code, format!("'{name}' {id} is not a HubPort of {}", ctx.object))),
        };
    }
    Ok(out)
}

fn media_type(params: &Params) -> Result<MediaType, KurentoError> {
    let t = params.str("media")?;
    MediaType::parse(t).ok_or_else(|| KurentoError::marshall(format!("'media' parameter should be AUDIO, VIDEO or DATA, not '{t}'")))
}

fn z_order(params: &Params) -> Result<i32, KurentoError> {
    let z = params.opt_i64("zOrder")?.ok_or_else(|| KurentoError::marshall("'zOrder' parameter is required"))?;
    i32::try_from(z).map_err(|_| KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("'zOrder' {z} is out of range")))
}

/// setPortProperties's relative placement: fractions of the master's size.
fn placement(params: &Params) -> Result<Placement, KurentoError> {
    let placement = Placement {
        x: params.f64("relativeX")?,
        y: params.f64("relativeY")?,
        width: params.f64("relativeWidth")?,
        height: params.f64("relativeHeight")?,
        z_order: z_order(params)?,
    };
    placement.check().map_err(|e| KurentoError::new(ErrorCode::MediaObjectIllegalParamError, e))?;
    Ok(placement)
}

/// Hub.getGstreamerDot: for the mixing hubs their GStreamer pipeline (as
/// KMS returns its hub bin), for the dispatchers their routes as a
/// Graphviz digraph.
async fn dot(server: &Server, ctx: &HubRef<'_>) -> OpResult {
    let (pipeline, hub) = (ctx.pipeline, ctx.hub);
    let found = server.media.call(pipeline, move |worker, _| worker.pipeline(pipeline)?.hub(hub).map(|h| (h.gstreamer_dot(), h.describe()))).await?;
    let (gstreamer, lines) = found.ok_or_else(|| KurentoError::object_not_found(ctx.object.as_str()))?;
    if let Some(dot) = gstreamer {
        return Ok(Some(json!(dot)));
    }
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut dot = format!("digraph \"{}\" {{\n  label=\"{}\";\n", escape(ctx.object.as_str()), escape(&ctx.class.name));
    for (i, line) in lines.iter().enumerate() {
        dot += &format!("  n{i} [shape=box, label=\"{}\"];\n", escape(line));
    }
    dot += "}\n";
    Ok(Some(json!(dot)))
}

/// Creates a hub of `class` in `pipeline`: the dispatchers forward, the
/// others mix on GStreamer. Composite takes its constructor's `width`,
/// `height` and `framerate` (800x600 at 15 fps by default); 0 means the
/// value of `Composite.conf.ini` (KMS 7.2's intent: its code looks the keys
/// up in the wrong place and always gets 800/600/15); below 0 is 40107.
pub async fn create(server: &Server, class: &Class, pipeline: PipelineHandle, properties: &serde_json::Map<String, serde_json::Value>) -> Result<Backing, KurentoError> {
    let mut slot = None;
    let configured = server.config.composite;
    let setting = |name: &str, configured: i32| -> Result<i32, KurentoError> {
        let v = properties.get(name).and_then(serde_json::Value::as_i64).unwrap_or(0);
        match i32::try_from(v) {
            Ok(0) => Ok(configured),
            Ok(v) if v > 0 => Ok(v),
            _ => Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("'{name}' should be 0 (configured) or more, not {v}"))),
        }
    };
    let hub: Box<dyn Hub> = match class.name.as_str() {
        "Dispatcher" => Box::new(Dispatcher::new(DispatcherMode::Pairs)),
        "DispatcherOneToMany" => Box::new(Dispatcher::new(DispatcherMode::OneToMany)),
        name => {
            let kind = match name {
                "Composite" => CompositorKind::Composite(VideoSettings {
                    width: setting("width", configured.width)?,
                    height: setting("height", configured.height)?,
                    framerate: setting("framerate", configured.framerate)?,
                }),
                "AlphaBlending" => CompositorKind::AlphaBlending,
                "Mixer" => CompositorKind::Mixer,
                other => return Err(KurentoError::new(ErrorCode::MediaObjectNotAvailable, format!("{other} is not a hub this server builds"))),
            };
            let waker = super::create::island_waker(server, pipeline, &mut slot)?;
            let unavailable = |e: String| KurentoError::new(ErrorCode::MediaObjectNotAvailable, format!("{name} cannot be created here: {e}"));
            Box::new(Compositor::new(kind, waker).map_err(unavailable)?)
        }
    };
    let id = server
        .media
        .call(pipeline, move |worker, _| {
            let id = worker.pipeline(pipeline).map(|p| p.add_hub(hub));
            if let (Some(id), Some(slot)) = (id, slot) {
                let _ = slot.set(id);
            }
            id
        })
        .await?
        .ok_or_else(|| KurentoError::new(ErrorCode::UnexpectedError, "the parent pipeline is gone"))?;
    Ok(Backing::Hub { pipeline, hub: id })
}
