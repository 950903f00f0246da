//! `create`: constructing any concrete class of the IDL.

use kms_protocol::params::{parse_object_id, Params};
use super::registry::{Backing, MediaObject};
use super::{properties, unix_now, Server};
use kms_idl::{Class, Idl};
use kms_media::{Element, ElementId, Inert, PassThrough};
use kms_protocol::{ErrorCode, KurentoError, ObjectId};
use crate::media::{PipelineHandle, Worker};
use kms_gst::{FaceOverlayFilter, FilterType, GStreamerFilter, HttpPostEndpoint, ImageOverlayFilter, MediaProfile, PlayerEndpoint, RecorderEndpoint, RtpConfig, RtpEndpoint, SrtpKey, ZBarFilter};
use kms_webrtc::{WebRtcConfig, WebRtcEndpoint};
use serde_json::{json, Map, Value};
use std::sync::{Arc, OnceLock};

/// Creates an object of `type_name` from its constructor parameters, refs it
/// into `session` and raises ServerManager's ObjectCreated.
///
/// Errors: 40108 unknown factory, 40001 bad or missing constructor parameter,
/// 40101 a referenced object does not exist. A class whose media is not
/// built yet is created as an [`Inert`] element (its media methods answer 40006).
pub async fn create(server: &Arc<Server>, session: &str, type_name: &str, constructor: &Params<'_>) -> Result<ObjectId, KurentoError> {
    let idl = Idl::get();
    let class = idl
        .factory(type_name)
        .ok_or_else(|| KurentoError::new(ErrorCode::MediaObjectNotAvailable, format!("Factory '{type_name}' not found")))?;
    check_limits(server, session, class)?;
    let (mut properties, parent) = check_constructor(server, idl, class, constructor)?;
    properties::fill_defaults(idl, class, &server.config, &mut properties);
    let cluster = &server.config.cluster;
    let id = match &parent {
        // A cluster node's pipelines carry its id, so the entry routes by id alone.
        None if cluster.role == crate::cluster::Role::Node => ObjectId::new_on_node(&cluster.node_id, class.qualifier(), &class.name),
        _ => ObjectId::new(parent.as_ref().map(|(id, _)| id), class.qualifier(), &class.name),
    };
    let backing = build(server, class, parent.map(|(_, b)| b), &properties).await?;
    if let (Backing::Element { pipeline, element }, "WebRtcEndpoint") = (backing, class.name.as_str()) {
        // Only with STUN/TURN configured: creation costs no extra worker round trip otherwise.
        if super::webrtc::has_nat_servers(&properties) {
            super::webrtc::apply_nat(server, pipeline, element, &properties).await?;
        }
    }
    {
        let mut state = server.lock();
        state.registry.insert(MediaObject {
            id: id.clone(),
            class,
            backing,
            name: id.to_string(),
            tags: Vec::new(),
            send_tags_in_events: false,
            creation_time: unix_now(),
            properties,
            sessions: Default::default(),
        });
        let mut fields = Map::new();
        fields.insert("object".into(), json!(id.as_str()));
        state.publish(&ObjectId::server_manager(), "ObjectCreated", fields);
    }
    server.ref_object(session, &id)?;
    Ok(id)
}

/// `maxPipelines` and `maxObjectsPerSession`: past them, 40009.
fn check_limits(server: &Server, session: &str, class: &Class) -> Result<(), KurentoError> {
    let limits = server.config.limits;
    let refuse = |what: &str, max: usize, key: &str| Err(KurentoError::new(ErrorCode::NotEnoughResources, format!("Too many {what}: the limit is {max} ({key})")));
    let state = server.lock();
    if let (Some(max), "MediaPipeline") = (limits.pipelines, class.name.as_str()) {
        if state.registry.pipelines().len() >= max {
            return refuse("pipelines", max, "maxPipelines");
        }
    }
    if let Some(max) = limits.objects_per_session {
        if state.registry.referenced_by(session).len() >= max {
            return refuse("objects in this session", max, "maxObjectsPerSession");
        }
    }
    Ok(())
}

type Parent = (ObjectId, Backing);

/// Checks every constructor parameter against the IDL, fills defaults, and
/// finds the parent (the first remote-object parameter: pipeline or hub).
fn check_constructor(server: &Server, idl: &Idl, class: &Class, ctor: &Params) -> Result<(Map<String, Value>, Option<Parent>), KurentoError> {
    let mut properties = Map::new();
    let mut parent = None;
    for p in class.constructor.iter().flatten() {
        let Some(value) = ctor.get(&p.name) else {
            if !p.optional {
                return Err(KurentoError::marshall(format!("'{}' parameter is required", p.name)));
            }
            if let Some(d) = &p.default {
                properties.insert(p.name.clone(), d.clone());
            }
            continue;
        };
        if !kms_api::check::matches(idl, &p.type_name, value) {
            return Err(KurentoError::marshall(format!("'{}' parameter should be {}", p.name, kms_api::check::describe(&p.type_name))));
        }
        if idl.class(&p.type_name).is_some() {
            let ref_id = parse_object_id(value.as_str().unwrap_or_default())?;
            let (ref_class, backing) = server.lookup(&ref_id, |o| (o.class, o.backing))?;
            if !idl.is_a(ref_class, &p.type_name) {
                return Err(KurentoError::marshall(format!("'{}' parameter should be a {}", p.name, p.type_name)));
            }
            parent.get_or_insert((ref_id, backing));
        }
        properties.insert(p.name.clone(), value.clone());
    }
    Ok((properties, parent))
}

/// An RtpEndpoint's configuration: `BaseRtpEndpoint.conf.ini` ports and
/// MTU, the `SdpEndpoint.conf.json` codecs GStreamer carries, and its
/// `crypto` (SDES register). A bad key or suite is 40107 (KMS).
fn rtp_config(server: &Server, properties: &Map<String, Value>) -> Result<RtpConfig, KurentoError> {
    let sdes = properties.get("crypto").and_then(Value::as_object);
    let field = |name: &str| sdes.and_then(|o| o.get(name)).and_then(Value::as_str);
    let crypto = SrtpKey::from_sdes(field("key"), field("keyBase64"), field("crypto"))
        .map_err(|e| KurentoError::new(ErrorCode::MediaObjectIllegalParamError, e.to_string()))?;
    let config = &server.config;
    let configured = config.codecs.audio.iter().chain(&config.codecs.video).map(|c| (c.name.as_str(), c.clock_rate));
    Ok(RtpConfig {
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        min_port: config.min_port,
        max_port: config.max_port,
        mtu: config.mtu,
        codecs: kms_gst::codecs_from_config(configured),
        crypto,
        bandwidth: super::sdp::bandwidth(properties),
        remb_params: super::sdp::remb_params(properties),
    })
}

/// Builds an element inside the media worker, given the time and the worker
/// (for its host and ICE-TCP addresses).
type MakeElement = Box<dyn FnOnce(std::time::Instant, &Worker) -> Box<dyn Element> + Send>;

/// Creates what backs the new object in the media worker.
async fn build(server: &Server, class: &Class, parent: Option<Backing>, properties: &Map<String, Value>) -> Result<Backing, KurentoError> {
    if class.name == "MediaPipeline" {
        let handle = server.media.create_pipeline().await?;
        return Ok(Backing::Pipeline(handle));
    }
    let pipeline = match parent {
        Some(Backing::Pipeline(p) | Backing::Hub { pipeline: p, .. } | Backing::Element { pipeline: p, .. }) => p,
        _ => return Err(KurentoError::marshall(format!("{} needs a parent pipeline", class.name))),
    };
    if !Idl::get().is_a(class, "MediaElement") {
        return super::hubs::create(server, class, pipeline, properties).await;
    }
    if class.name == "HubPort" {
        let Some(Backing::Hub { hub, .. }) = parent else {
            return Err(KurentoError::marshall("'hub' parameter should be a Hub"));
        };
        let port = server.media.call(pipeline, move |worker, now| worker.pipeline(pipeline)?.add_port(now, hub)).await?;
        let element = port.ok_or_else(|| KurentoError::new(ErrorCode::MediaObjectNotFound, "the hub of this port is gone"))?;
        return Ok(Backing::Element { pipeline, element });
    }
    let flag = |name: &str| properties.get(name).and_then(Value::as_bool).unwrap_or(false);
    let text = |name: &str| properties.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    // UriEndpoints use their `uri` resolved against `defaultPath`; getUri returns it as given.
    // ... and must be in the URI allow-list, when there is one (40107).
    let uri = || {
        let uri = kms_gst::resolve_uri(&text("uri"), &server.config.default_path);
        if crate::access::uri_allowed(&server.config.uri_allow, &uri) {
            Ok(uri)
        } else {
            Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("URI '{uri}' is outside the allowed locations")))
        }
    };
    // Elements fed by a GStreamer island are polled when the island wakes them.
    let mut slot = None;
    if Idl::get().is_loaded(class) {
        let element = super::modules::build(class, properties, server.island_waker(pipeline, &mut slot)?)?;
        return add_element(server, pipeline, Box::new(move |_, _| element), slot).await;
    }
    let make: MakeElement = match class.name.as_str() {
        "PlayerEndpoint" => {
            // networkCache (ms) has its IDL default filled in; a negative one is refused.
            let cache = properties.get("networkCache").and_then(Value::as_i64).unwrap_or_default();
            let cache = u32::try_from(cache).map_err(|_| KurentoError::marshall(format!("'networkCache' should be 0 or more ms, not {cache}")))?;
            let (uri, use_encoded, waker) = (uri()?, flag("useEncodedMedia"), server.island_waker(pipeline, &mut slot)?);
            Box::new(move |_, _| Box::new(PlayerEndpoint::new(&uri, cache, use_encoded, waker)))
        }
        "RecorderEndpoint" => {
            let profile_name = properties.get("mediaProfile").and_then(Value::as_str).unwrap_or_default();
            let profile = MediaProfile::parse(profile_name)
                .map_err(|e| KurentoError::new(ErrorCode::MediaObjectIllegalParamError, e.to_string()))?;
            let (uri, stop_on_eos, waker) = (uri()?, flag("stopOnEndOfStream"), server.island_waker(pipeline, &mut slot)?);
            Box::new(move |_, _| Box::new(RecorderEndpoint::new(&uri, profile, stop_on_eos, waker)))
        }
        "WebRtcEndpoint" => {
            let (recvonly, sendonly) = (flag("recvonly"), flag("sendonly"));
            let external = super::webrtc::external_addrs(properties);
            let bandwidth = super::sdp::bandwidth(properties);
            let remb_params = super::sdp::remb_params(properties);
            let mtu = super::webrtc::mtu(properties);
            let (ice_tcp, data_channels) = (flag("iceTcp"), flag("useDataChannels"));
            let codecs = server.config.codecs.clone();
            let simulcast = server.config.simulcast;
            Box::new(move |now, worker| {
                let tcp_addrs = if ice_tcp { worker.tcp_addrs().to_vec() } else { Vec::new() };
                let host_addrs = worker.host_addrs().to_vec();
                let config = WebRtcConfig { host_addrs, tcp_addrs, recvonly, sendonly, external, bandwidth, remb_params, codecs, data_channels, simulcast, mtu, ..Default::default() };
                Box::new(WebRtcEndpoint::new(now, config))
            })
        }
        "GStreamerFilter" => {
            let filter_type = FilterType::parse(&text("filterType")).unwrap_or(FilterType::Autodetect);
            if !crate::access::filter_allowed(&server.config.filter_allow, &text("command")) {
                return Err(KurentoError::marshall("GStreamer element cannot be created: it is not in the allowed elements"));
            }
            let waker = server.island_waker(pipeline, &mut slot)?;
            // Built here, off the media worker: a bad command is refused before anything exists.
            let filter = GStreamerFilter::new(&text("command"), filter_type, waker).map_err(super::filters::filter_error)?;
            Box::new(move |_, _| Box::new(filter))
        }
        "ZBarFilter" | "ImageOverlayFilter" | "FaceOverlayFilter" => {
            let waker = server.island_waker(pipeline, &mut slot)?;
            let unavailable = |e: String| KurentoError::new(ErrorCode::MediaObjectNotAvailable, format!("{} cannot be created here: {e}", class.name));
            let element: Box<dyn Element> = match class.name.as_str() {
                "ZBarFilter" => Box::new(ZBarFilter::new(waker).map_err(unavailable)?),
                "ImageOverlayFilter" => Box::new(ImageOverlayFilter::new(waker).map_err(unavailable)?),
                _ => Box::new(FaceOverlayFilter::new(waker).map_err(unavailable)?),
            };
            Box::new(move |_, _| element)
        }
        vision if super::vision::is_vision(vision) => {
            let element = super::vision::build(vision, properties, server.island_waker(pipeline, &mut slot)?)?;
            Box::new(move |_, _| element)
        }
        "RtpEndpoint" => {
            let (base, waker) = (rtp_config(server, properties)?, server.island_waker(pipeline, &mut slot)?);
            let ipv6 = flag("useIpv6");
            Box::new(move |_, worker| {
                // Bound and announced on the worker's host address of the wanted family.
                let address = worker.host_addrs().iter().map(|a| a.ip()).find(|ip| ip.is_ipv6() == ipv6).unwrap_or(base.address);
                Box::new(RtpEndpoint::new(RtpConfig { address, ..base }, waker))
            })
        }
        "HttpPostEndpoint" => {
            // disconnectionTimeout: seconds (KMS), IDL default 2.
            let secs = properties.get("disconnectionTimeout").and_then(Value::as_i64).unwrap_or(2);
            let secs = u64::try_from(secs).map_err(|_| KurentoError::marshall(format!("'disconnectionTimeout' should be 0 or more seconds, not {secs}")))?;
            let waker = server.island_waker(pipeline, &mut slot)?;
            let (mut endpoint, upload) = HttpPostEndpoint::new(String::new(), std::time::Duration::from_secs(secs), flag("useEncodedMedia"), waker);
            endpoint.set_url(server.http.register(&upload).await?);
            Box::new(move |_, _| Box::new(endpoint))
        }
        "PassThrough" => Box::new(|_, _| Box::new(PassThrough::default())),
        // Media behaviour comes with later work; the element exists in the graph.
        _ => Box::new(|_, _| Box::new(Inert)),
    };
    add_element(server, pipeline, make, slot).await
}

/// Makes the element on its pipeline's worker and adds it to the pipeline.
async fn add_element(server: &Server, pipeline: PipelineHandle, make: MakeElement, slot: Option<Arc<OnceLock<ElementId>>>) -> Result<Backing, KurentoError> {
    let element = server
        .media
        .call(pipeline, move |worker, now| {
            let element = make(now, worker);
            let id = worker.pipeline(pipeline).map(|p| p.add(element));
            if let (Some(id), Some(slot)) = (id, slot) {
                let _ = slot.set(id);
            }
            id
        })
        .await?
        .ok_or_else(|| KurentoError::new(ErrorCode::UnexpectedError, "the parent pipeline is gone"))?;
    Ok(Backing::Element { pipeline, element })
}
