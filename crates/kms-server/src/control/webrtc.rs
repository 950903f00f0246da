//! WebRtcEndpoint operations (the SdpEndpoint ones are in `sdp`).

use super::elements::ElementRef;
use super::OpResult;
use kms_api::{BaseRtpEndpointOp, WebRtcEndpointOp};
use super::Server;
use kms_protocol::{ErrorCode, KurentoError};
use kms_media::ElementId;
use kms_media::packetize::Mtu;
use kms_webrtc::{ExternalAddrs, NatConfig, TurnServer, WebRtcEndpoint};
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

/// The `mtu` property (bytes; the config's `mtu` until `setMtu`), within
/// the range acted on ([`Mtu::new`]).
pub fn mtu(properties: &Map<String, Value>) -> Mtu {
    properties.get("mtu").and_then(Value::as_i64).map_or_else(Mtu::default, Mtu::new)
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

/// A STUN server address KMS can use: an IP address (or "" for none); else 40001.
fn check_stun_address(text: &str) -> Result<(), KurentoError> {
    if !text.is_empty() && text.parse::<IpAddr>().is_err() {
        return Err(KurentoError::marshall("'stunServerAddress' parameter should be an IP address"));
    }
    Ok(())
}

/// A TURN URL KMS can use: `user:password@ip[:port]` (or "" for none); else 40001.
fn check_turn_url(text: &str) -> Result<(), KurentoError> {
    if !text.is_empty() && TurnServer::parse(text).is_none() {
        return Err(KurentoError::marshall("'turnUrl' parameter should be user:password@ip[:port]"));
    }
    Ok(())
}

/// `set<Prop>` of a property the endpoint acts on: stored like any property,
/// then `apply` gives the endpoint what it derives from the properties.
async fn set_applied<T: Send + 'static>(
    server: &Server,
    ctx: &ElementRef<'_>,
    property: &str,
    value: Value,
    derive: fn(&Map<String, Value>) -> T,
    apply: fn(&mut WebRtcEndpoint, T),
) -> OpResult {
    super::properties::store(server, ctx.object, property, Some(&value))?;
    let derived = server.lookup(ctx.object, |o| derive(&o.properties))?;
    with_endpoint(server, ctx, move |w| apply(w, derived)).await.map(|()| None)
}

/// set externalIPv4 / externalIPv6: applied to what the endpoint announces
/// from then on. Text that is not an address of that family is 40001.
async fn set_external(server: &Server, ctx: &ElementRef<'_>, property: &str, text: &str, want_v4: bool) -> OpResult {
    match text.parse::<IpAddr>() {
        Ok(ip) if ip.is_ipv4() == want_v4 => {}
        _ => return Err(KurentoError::marshall(format!("'{property}' parameter should be an IPv{} address", if want_v4 { 4 } else { 6 }))),
    }
    set_applied(server, ctx, property, json!(text), external_addrs, WebRtcEndpoint::set_external).await
}

/// set stunServerAddress / stunServerPort / turnUrl: stored, then the
/// endpoint's STUN/TURN servers follow (until it starts gathering).
async fn set_nat(server: &Server, ctx: &ElementRef<'_>, property: &str, value: Value) -> OpResult {
    super::properties::store(server, ctx.object, property, Some(&value))?;
    let properties = server.lookup(ctx.object, |o| o.properties.clone())?;
    apply_nat(server, ctx.pipeline, ctx.element, &properties).await.map(|()| None)
}

/// BaseRtpEndpoint operations of a WebRtcEndpoint: the MTU is applied to
/// the endpoint, requestKeyframe sends a PLI/FIR; the bandwidths, REMB
/// parameters and live states as any RTP endpoint's.
pub async fn base_rtp_endpoint(server: &Server, ctx: &ElementRef<'_>, op: BaseRtpEndpointOp<'_>) -> Option<OpResult> {
    match op {
        BaseRtpEndpointOp::RequestKeyframe => Some(with_endpoint(server, ctx, |w| w.request_keyframe()).await.map(|()| None)),
        BaseRtpEndpointOp::SetMtu { mtu } => Some(set_applied(server, ctx, "mtu", json!(mtu), self::mtu, WebRtcEndpoint::set_mtu).await),
        op => super::sdp::base_rtp_endpoint::<WebRtcEndpoint>(server, ctx, op).await,
    }
}

/// WebRtcEndpoint's own operations; `None` for the accessors left to the
/// stored properties.
pub async fn invoke(server: &Server, ctx: &ElementRef<'_>, op: WebRtcEndpointOp<'_>) -> Option<OpResult> {
    Some(match op {
        WebRtcEndpointOp::SetExternalIPv4 { external_i_pv4: text } => set_external(server, ctx, "externalIPv4", text, true).await,
        WebRtcEndpointOp::SetExternalIPv6 { external_i_pv6: text } => set_external(server, ctx, "externalIPv6", text, false).await,
        WebRtcEndpointOp::SetStunServerAddress { stun_server_address: text } => match check_stun_address(text) {
            Ok(()) => set_nat(server, ctx, "stunServerAddress", json!(text)).await,
            Err(e) => Err(e),
        },
        WebRtcEndpointOp::SetStunServerPort { stun_server_port: port } => set_nat(server, ctx, "stunServerPort", json!(port)).await,
        WebRtcEndpointOp::SetTurnUrl { turn_url: text } => match check_turn_url(text) {
            Ok(()) => set_nat(server, ctx, "turnUrl", json!(text)).await,
            Err(e) => Err(e),
        },
        WebRtcEndpointOp::GatherCandidates => with_endpoint(server, ctx, |w| w.gather_candidates()).await.map(|()| None),
        WebRtcEndpointOp::AddIceCandidate { candidate } => {
            let candidate = candidate.get("candidate").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            match with_endpoint(server, ctx, move |w| w.add_ice_candidate(&candidate)).await {
                Ok(r) => r.map_err(kurento_error).map(|()| None),
                Err(e) => Err(e),
            }
        }
        WebRtcEndpointOp::CreateDataChannel { label, ordered, max_packet_life_time, max_retransmits, protocol } => {
            // KMS's defaults: label "", ordered, no lifetime/retransmit limit (-1), protocol "".
            let (label, protocol) = (label.unwrap_or_default().to_owned(), protocol.unwrap_or_default().to_owned());
            let (ordered, lifetime, retransmits) = (ordered.unwrap_or(true), max_packet_life_time.unwrap_or(-1), max_retransmits.unwrap_or(-1));
            let created = with_endpoint(server, ctx, move |w| w.create_data_channel(&label, ordered, lifetime, retransmits, &protocol)).await;
            created.and_then(|r| r.map_err(kurento_error)).map(|()| None)
        }
        WebRtcEndpointOp::CloseDataChannel { channel_id } => {
            let Ok(stream_id) = u16::try_from(channel_id) else {
                return Some(Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("no data channel {channel_id}"))));
            };
            let closed = with_endpoint(server, ctx, move |w| w.close_data_channel(stream_id)).await;
            closed.and_then(|r| r.map_err(kurento_error)).map(|()| None)
        }
        WebRtcEndpointOp::GetICECandidatePairs => with_endpoint(server, ctx, |w| w.candidate_pairs())
            .await
            .map(|pairs| Some(Value::Array(pairs.iter().map(|(l, r)| super::events::candidate_pair(l, r)).collect()))),
        WebRtcEndpointOp::GetIceConnectionState => with_endpoint(server, ctx, |w| w.connection_states()).await.map(|(ice, _)| {
            Some(json!([super::events::register("IceConnection", json!({ "streamId": "1", "componentId": 1, "state": ice.as_str() }))]))
        }),
        WebRtcEndpointOp::GetDtlsConnectionState => with_endpoint(server, ctx, |w| w.connection_states()).await.map(|(_, dtls)| {
            let fields = json!({ "streamId": "1", "componentId": "1", "connectionId": "1", "state": dtls.as_str() });
            Some(json!([super::events::register("DtlsConnection", fields)]))
        }),
        _ => return None,
    })
}
