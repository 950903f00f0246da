//! WebRtcEndpoint operations (the SdpEndpoint ones are in `sdp`).

use super::elements::ElementRef;
use super::invoke::OpResult;
use kms_protocol::params::Params;
use super::Server;
use kms_protocol::{ErrorCode, KurentoError};
use kms_media::ElementId;
use kms_webrtc::{Bandwidth, ExternalAddrs, NatConfig, TurnServer, WebRtcEndpoint};
use super::sdp::kurento_error;
use crate::media::{PipelineHandle, Worker};
use std::net::SocketAddr;
use serde_json::{Map, Value};
use std::net::IpAddr;
use serde_json::json;

/// The endpoint `element` of `pipeline`, inside the media worker.
fn endpoint_in(worker: &mut Worker, pipeline: PipelineHandle, element: ElementId) -> Option<&mut WebRtcEndpoint> {
    worker.pipeline(pipeline)?.element_mut::<WebRtcEndpoint>(element)
}

/// Runs `f` on the endpoint inside the media worker.
async fn with_endpoint<T: Send + 'static>(
    server: &Server,
    ctx: &ElementRef<'_>,
    f: impl FnOnce(&mut WebRtcEndpoint) -> T + Send + 'static,
) -> Result<T, KurentoError> {
    super::elements::with_element(server, ctx, move |w: &mut WebRtcEndpoint, _| f(w)).await
}

/// The `externalIPv4` / `externalIPv6` properties as addresses; values that
/// are not IP addresses are ignored with a warning (KMS requires IPs there).
pub fn external_addrs(properties: &Map<String, Value>) -> ExternalAddrs {
    let parse = |key: &str| {
        let text = properties.get(key)?.as_str().filter(|t| !t.is_empty())?;
        text.parse::<IpAddr>().inspect_err(|_| tracing::warn!("{key} '{text}' is not an IP address; ignored")).ok()
    };
    ExternalAddrs { ipv4: parse("externalIPv4").filter(IpAddr::is_ipv4), ipv6: parse("externalIPv6").filter(IpAddr::is_ipv6) }
}

/// The video bandwidth properties (kbps; KMS's defaults fill missing ones).
pub fn bandwidth(properties: &Map<String, Value>) -> Bandwidth {
    let defaults = Bandwidth::default();
    let kbps = |key: &str, default: u32| properties.get(key).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok()).unwrap_or(default);
    Bandwidth {
        min_recv_kbps: kbps("minVideoRecvBandwidth", defaults.min_recv_kbps),
        max_recv_kbps: kbps("maxVideoRecvBandwidth", defaults.max_recv_kbps),
        min_send_kbps: kbps("minVideoSendBandwidth", defaults.min_send_kbps),
        max_send_kbps: kbps("maxVideoSendBandwidth", defaults.max_send_kbps),
    }
}

/// `stunServerAddress`:`stunServerPort` and `turnUrl` as servers; KMS takes
/// IP addresses only in both (no DNS lookups on the media path).
fn nat_servers(properties: &Map<String, Value>) -> (Option<SocketAddr>, Option<TurnServer>) {
    let stun = properties.get("stunServerAddress").and_then(Value::as_str).filter(|a| !a.is_empty()).and_then(|a| {
        let ip = a.parse::<IpAddr>().inspect_err(|_| tracing::warn!("stunServerAddress '{a}' is not an IP address; ignored")).ok()?;
        let port = properties.get("stunServerPort").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok()).unwrap_or(3478);
        Some(SocketAddr::new(ip, port))
    });
    let turn = properties.get("turnUrl").and_then(Value::as_str).filter(|u| !u.is_empty()).and_then(|u| {
        TurnServer::parse(u).or_else(|| {
            tracing::warn!("turnUrl is not user:password@ip:port; ignored");
            None
        })
    });
    (stun, turn)
}

/// True when `properties` name a STUN or TURN server.
pub fn has_nat_servers(properties: &Map<String, Value>) -> bool {
    let (stun, turn) = nat_servers(properties);
    stun.is_some() || turn.is_some()
}

/// Gives the endpoint its STUN/TURN servers from `properties`, binding the
/// socket of its TURN allocation in the media worker (reused while the TURN
/// server stays the same). Once gathering started, nothing changes (KMS).
pub async fn apply_nat(server: &Server, pipeline: PipelineHandle, element: ElementId, properties: &Map<String, Value>) -> Result<(), KurentoError> {
    let (stun_server, turn) = nat_servers(properties);
    server
        .media
        .call(pipeline, move |worker, now| {
            let Some(w) = endpoint_in(worker, pipeline, element) else { return };
            if w.gathering_started() {
                return;
            }
            let current = w.nat().turn.clone();
            let turn = turn.and_then(|t| match current {
                Some((same, local)) if same == t => Some((t, local)),
                _ => {
                    let ip = worker.host_addrs().iter().map(|a| a.ip()).find(|ip| ip.is_ipv4() == t.addr.is_ipv4())?;
                    let bound = worker.bind_element_socket(ip, pipeline, element);
                    Some((t, bound.inspect_err(|e| tracing::warn!("no socket for the TURN allocation: {e}")).ok()?))
                }
            });
            if let Some(w) = endpoint_in(worker, pipeline, element) {
                w.set_nat(now, NatConfig { stun_server, turn });
            }
        })
        .await?;
    Ok(())
}

/// setStunServerAddress / setTurnUrl take what KMS can use: an IP address,
/// and `user:password@ip[:port]`. Anything else is refused with 40001.
fn check_nat_setting(operation: &str, params: &Params) -> Result<(), KurentoError> {
    match operation {
        "setStunServerAddress" => {
            let text = params.str("stunServerAddress")?;
            if !text.is_empty() && text.parse::<IpAddr>().is_err() {
                return Err(KurentoError::marshall("'stunServerAddress' parameter should be an IP address"));
            }
        }
        "setTurnUrl" => {
            let text = params.str("turnUrl")?;
            if !text.is_empty() && TurnServer::parse(text).is_none() {
                return Err(KurentoError::marshall("'turnUrl' parameter should be user:password@ip[:port]"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// `set<Prop>` of a property the endpoint acts on: stored like any property,
/// then `apply` gives the endpoint what it derives from the properties.
async fn set_applied<T: Send + 'static>(
    server: &Server,
    ctx: &ElementRef<'_>,
    operation: &str,
    params: &Params<'_>,
    derive: fn(&Map<String, Value>) -> T,
    apply: fn(&mut WebRtcEndpoint, T),
) -> OpResult {
    let idl = kms_idl::Idl::get();
    let class = server.lookup(ctx.object, |o| o.class)?;
    super::properties::access(server, idl, class, ctx.object, operation, params).unwrap_or(Ok(None))?;
    let derived = server.lookup(ctx.object, |o| derive(&o.properties))?;
    with_endpoint(server, ctx, move |w| apply(w, derived)).await.map(|()| None)
}

/// set externalIPv4 / externalIPv6: applied to what the endpoint announces
/// from then on.
async fn set_external(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> OpResult {
    let (name, want_v4) = if operation == "setExternalIPv4" { ("externalIPv4", true) } else { ("externalIPv6", false) };
    let text = params.str(name)?;
    match text.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv4() == want_v4 => {}
        _ => return Err(KurentoError::marshall(format!("'{name}' parameter should be an IPv{} address", if want_v4 { 4 } else { 6 }))),
    }
    set_applied(server, ctx, operation, params, external_addrs, WebRtcEndpoint::set_external).await
}

/// WebRtcEndpoint operations; `None` when `operation` is not one of them.
pub async fn invoke(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    Some(match operation {
        "setExternalIPv4" | "setExternalIPv6" => set_external(server, ctx, operation, params).await,
        "setStunServerAddress" | "setStunServerPort" | "setTurnUrl" => {
            if let Err(e) = check_nat_setting(operation, params) {
                return Some(Err(e));
            }
            let idl = kms_idl::Idl::get();
            let stored = server.lookup(ctx.object, |o| o.class).and_then(|class| {
                super::properties::access(server, idl, class, ctx.object, operation, params).unwrap_or(Ok(None))
            });
            match stored.and_then(|_| server.lookup(ctx.object, |o| o.properties.clone())) {
                Ok(properties) => apply_nat(server, ctx.pipeline, ctx.element, &properties).await.map(|()| None),
                Err(e) => Err(e),
            }
        }
        "setMinVideoRecvBandwidth" | "setMaxVideoRecvBandwidth" | "setMinVideoSendBandwidth" | "setMaxVideoSendBandwidth" => {
            set_applied(server, ctx, operation, params, bandwidth, WebRtcEndpoint::set_bandwidth).await
        }
        "gatherCandidates" => with_endpoint(server, ctx, |w| w.gather_candidates()).await.map(|()| None),
        "addIceCandidate" => {
            let candidate = match params.object_map("candidate") {
                Ok(c) => c.get("candidate").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
                Err(e) => return Some(Err(e)),
            };
            match with_endpoint(server, ctx, move |w| w.add_ice_candidate(&candidate)).await {
                Ok(r) => r.map_err(kurento_error).map(|()| None),
                Err(e) => Err(e),
            }
        }
        "createDataChannel" => {
            // KMS's defaults: label "", ordered, no lifetime/retransmit limit (-1), protocol "".
            let read = || -> Result<_, KurentoError> {
                let label = params.opt_str("label")?.unwrap_or_default().to_owned();
                let protocol = params.opt_str("protocol")?.unwrap_or_default().to_owned();
                let ordered = params.opt_bool("ordered")?.unwrap_or(true);
                let limit = |name: &str| -> Result<i32, KurentoError> {
                    let v = params.opt_i64(name)?.unwrap_or(-1);
                    i32::try_from(v).map_err(|_| KurentoError::marshall(format!("'{name}' parameter is out of range: {v}")))
                };
                Ok((label, protocol, ordered, limit("maxPacketLifeTime")?, limit("maxRetransmits")?))
            };
            let (label, protocol, ordered, lifetime, retransmits) = match read() {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            let created = with_endpoint(server, ctx, move |w| w.create_data_channel(&label, ordered, lifetime, retransmits, &protocol)).await;
            created.and_then(|r| r.map_err(kurento_error)).map(|()| None)
        }
        "closeDataChannel" => {
            let id = match params.opt_i64("channelId").and_then(|v| v.ok_or_else(|| KurentoError::marshall("'channelId' parameter is required"))) {
                Ok(id) => id,
                Err(e) => return Some(Err(e)),
            };
            let Ok(stream_id) = u16::try_from(id) else {
                return Some(Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("no data channel {id}"))));
            };
            let closed = with_endpoint(server, ctx, move |w| w.close_data_channel(stream_id)).await;
            closed.and_then(|r| r.map_err(kurento_error)).map(|()| None)
        }
        "requestKeyframe" => with_endpoint(server, ctx, |w| w.request_keyframe()).await.map(|()| None),
        "getICECandidatePairs" => with_endpoint(server, ctx, |w| w.candidate_pairs())
            .await
            .map(|pairs| Some(Value::Array(pairs.iter().map(|(l, r)| super::events::candidate_pair(l, r)).collect()))),
        "getIceConnectionState" | "getDtlsConnectionState" => {
            let ice = operation == "getIceConnectionState";
            with_endpoint(server, ctx, |w| w.connection_states()).await.map(|(ice_state, dtls_state)| {
                let entry = if ice {
                    super::events::register("IceConnection", json!({ "streamId": "1", "componentId": 1, "state": ice_state.as_str() }))
                } else {
                    let fields = json!({ "streamId": "1", "componentId": "1", "connectionId": "1", "state": dtls_state.as_str() });
                    super::events::register("DtlsConnection", fields)
                };
                Some(json!([entry]))
            })
        }
        _ => return super::sdp::invoke::<WebRtcEndpoint>(server, ctx, operation, params).await,
    })
}
