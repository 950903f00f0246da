//! Hub operations: Dispatcher, DispatcherOneToMany, Mixer, AlphaBlending
//! (Composite has none), and Hub.getGstreamerDot.

use super::OpResult;
use kms_api::{AlphaBlendingOp, DispatcherOneToManyOp, DispatcherOp, HubOp, MixerOp, Operation};
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

// Errors (KMS's codes where KMS has them): a port that is not a live
// HubPort of this hub answers 40004 CONNECT_ERROR for `connect` /
// `disconnect` (KMS: "Can not connect ports") and 40107 for the other
// methods (where KMS crashes or ignores it); Mixer's DATA and video
// disconnection answer 40005 UNSUPPORTED_MEDIA_TYPE, its disconnection of
// audio that was not connected 40004.

/// The operations of a hub, by the class that declares them; `None` for
/// the ones not built.
pub async fn invoke(server: &Server, ctx: &HubRef<'_>, op: Operation<'_>) -> Option<OpResult> {
    match op {
        Operation::Hub(op) => hub(server, ctx, op).await,
        Operation::Dispatcher(op) => dispatcher(server, ctx, op).await,
        Operation::DispatcherOneToMany(op) => dispatcher_one_to_many(server, ctx, op).await,
        Operation::Mixer(op) => mixer(server, ctx, op).await,
        Operation::AlphaBlending(op) => alpha_blending(server, ctx, op).await,
        _ => None,
    }
}

/// Hub operations: getGstreamerDot (dumpGstreamerDot is not built).
async fn hub(server: &Server, ctx: &HubRef<'_>, op: HubOp) -> Option<OpResult> {
    match op {
        HubOp::GetGstreamerDot { .. } => Some(dot(server, ctx).await),
        HubOp::DumpGstreamerDot { .. } => None,
    }
}

/// Dispatcher.connect(source, sink).
async fn dispatcher(server: &Server, ctx: &HubRef<'_>, op: DispatcherOp) -> Option<OpResult> {
    let DispatcherOp::Connect { source, sink } = op;
    Some(match ports(server, ctx, [("source", &source), ("sink", &sink)], ErrorCode::ConnectError) {
        Ok([source, sink]) => run(server, ctx, ErrorCode::ConnectError, move |d: &mut Dispatcher| d.connect(source, sink, None)).await,
        Err(e) => Err(e),
    })
}

/// Mixer.connect / disconnect(media, source, sink).
async fn mixer(server: &Server, ctx: &HubRef<'_>, op: MixerOp) -> Option<OpResult> {
    let (connect, media, source, sink) = match op {
        MixerOp::Connect { media, source, sink } => (true, media, source, sink),
        MixerOp::Disconnect { media, source, sink } => (false, media, source, sink),
    };
    let [source, sink] = match ports(server, ctx, [("source", &source), ("sink", &sink)], ErrorCode::ConnectError) {
        Ok(ports) => ports,
        Err(e) => return Some(Err(e)),
    };
    let media_type = super::elements::media(media);
    Some(
        run(server, ctx, ErrorCode::ConnectError, move |c: &mut Compositor| match media_type {
            MediaType::Audio => c.route_audio(source, sink, connect),
            MediaType::Video => c.route_video(source, sink, connect),
            MediaType::Data => Err(HubError::Unsupported("Invalid media type")),
        })
        .await,
    )
}

/// DispatcherOneToMany.setSource(source) / removeSource().
async fn dispatcher_one_to_many(server: &Server, ctx: &HubRef<'_>, op: DispatcherOneToManyOp) -> Option<OpResult> {
    use ErrorCode::MediaObjectIllegalParamError as Illegal;
    Some(match op {
        DispatcherOneToManyOp::SetSource { source } => match ports(server, ctx, [("source", &source)], Illegal) {
            Ok([source]) => run(server, ctx, Illegal, move |d: &mut Dispatcher| d.set_source(source)).await,
            Err(e) => Err(e),
        },
        DispatcherOneToManyOp::RemoveSource => {
            run(server, ctx, Illegal, |d: &mut Dispatcher| {
                d.remove_source();
                Ok(())
            })
            .await
        }
    })
}

/// AlphaBlending.setMaster(source, zOrder) / setPortProperties(...).
async fn alpha_blending(server: &Server, ctx: &HubRef<'_>, op: AlphaBlendingOp) -> Option<OpResult> {
    use ErrorCode::MediaObjectIllegalParamError as Illegal;
    Some(match op {
        AlphaBlendingOp::SetMaster { source, z_order } => match ports(server, ctx, [("source", &source)], Illegal) {
            Ok([port]) => run(server, ctx, Illegal, move |c: &mut Compositor| c.set_master(port, z_order)).await,
            Err(e) => Err(e),
        },
        AlphaBlendingOp::SetPortProperties { relative_x, relative_y, z_order, relative_width, relative_height, port } => {
            let placement = Placement { x: relative_x, y: relative_y, width: relative_width, height: relative_height, z_order };
            if let Err(e) = placement.check() {
                return Some(Err(KurentoError::new(Illegal, e)));
            }
            match ports(server, ctx, [("port", &port)], Illegal) {
                Ok([port]) => run(server, ctx, Illegal, move |c: &mut Compositor| c.set_port_properties(port, placement)).await,
                Err(e) => Err(e),
            }
        }
    })
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

/// The HubPorts `named` (parameter name, id): each must be a live HubPort
/// of this hub. 40101 when one does not exist; `code` when it is another
/// hub's, another pipeline's, or not a HubPort at all.
fn ports<const N: usize>(server: &Server, ctx: &HubRef<'_>, named: [(&str, &ObjectId); N], code: ErrorCode) -> Result<[ElementId; N], KurentoError> {
    let mut out = [ElementId(0); N];
    for (slot, (name, id)) in out.iter_mut().zip(named) {
        let (class, backing) = server.lookup(id, |o| (o.class.name.as_str(), o.backing))?;
        *slot = match backing {
            // A child of this hub is in its pipeline.
            Backing::Element { element, .. } if class == "HubPort" && id.parent().as_ref() == Some(ctx.object) => element,
            _ => return Err(KurentoError::new(code, format!("'{name}' {id} is not a HubPort of {}", ctx.object))),
        };
    }
    Ok(out)
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
            let waker = server.island_waker(pipeline, &mut slot)?;
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
