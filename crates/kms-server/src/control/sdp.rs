//! SdpEndpoint and BaseRtpEndpoint operations, served once for every
//! SDP-negotiating element (WebRtcEndpoint, RtpEndpoint): offer/answer,
//! the stored descriptions, and the connection and media states.

use super::elements::{with_element, ElementRef};
use super::OpResult;
use kms_api::{BaseRtpEndpointOp, SdpEndpointOp};
use super::Server;
use kms_media::bandwidth::Bandwidth;
use kms_media::remb::RembParams;
use kms_media::{RecvLimits, SdpEndpointError, SdpNegotiation};
use kms_protocol::{ErrorCode, KurentoError};
use serde_json::{json, Map, Value};

/// The Kurento error for a negotiation failure (KMS `SdpEndpointImpl` codes).
pub fn kurento_error(e: SdpEndpointError) -> KurentoError {
    let code = match e {
        SdpEndpointError::SdpParse(_) => ErrorCode::SdpParseError,
        SdpEndpointError::OfferRejected(_) => ErrorCode::SdpEndPointProcessOfferError,
        SdpEndpointError::AlreadyNegotiated => ErrorCode::SdpEndPointAlreadyNegotiated,
        SdpEndpointError::GenerateOffer(_) => ErrorCode::SdpEndPointGenerateOfferError,
        SdpEndpointError::NotOfferGenerated => ErrorCode::SdpEndPointNotOfferGenerated,
        SdpEndpointError::AnswerAlreadyProcessed => ErrorCode::SdpEndPointAnswerAlreadyProcessed,
        SdpEndpointError::AnswerRejected(_) => ErrorCode::SdpEndPointProcessAnswerError,
        SdpEndpointError::Candidate(_) => ErrorCode::IceAddCandidateError,
        SdpEndpointError::DataChannel(_) => ErrorCode::MediaObjectIllegalParamError,
    };
    KurentoError::new(code, e.to_string())
}

/// A negotiation step on `sdp`, returning an SDP.
async fn sdp_step<T: SdpNegotiation>(
    server: &Server,
    ctx: &ElementRef<'_>,
    sdp: &str,
    step: fn(&mut T, &str) -> Result<String, SdpEndpointError>,
) -> OpResult {
    let sdp = sdp.to_owned();
    let result = with_element(server, ctx, move |e: &mut T, _| step(e, &sdp)).await?;
    result.map_err(kurento_error).map(|s| Some(json!(s)))
}

/// getLocal/RemoteSessionDescriptor: the stored SDP, or `missing` before negotiation.
async fn descriptor<T: SdpNegotiation>(server: &Server, ctx: &ElementRef<'_>, local: bool, missing: ErrorCode) -> OpResult {
    let sdp = with_element(server, ctx, move |e: &mut T, _| if local { e.local_sdp() } else { e.remote_sdp() }.map(str::to_owned)).await?;
    sdp.map(|s| Some(json!(s))).ok_or_else(|| KurentoError::new(missing, "No session description: not negotiated yet"))
}

/// A bandwidth property in kbit/s; `None` when missing, negative or
/// beyond u32.
pub fn kbps(properties: &Map<String, Value>, key: &str) -> Option<u32> {
    properties.get(key).and_then(Value::as_u64).and_then(|v| u32::try_from(v).ok())
}

/// The bandwidth properties (kbit/s; missing or out of range: KMS's
/// defaults, [`Bandwidth::default`]).
pub fn bandwidth(properties: &Map<String, Value>) -> Bandwidth {
    let defaults = Bandwidth::default();
    let or = |key: &str, default: u32| kbps(properties, key).unwrap_or(default);
    Bandwidth {
        recv: RecvLimits { audio_kbps: or("maxAudioRecvBandwidth", defaults.recv.audio_kbps), video_kbps: or("maxVideoRecvBandwidth", defaults.recv.video_kbps) },
        min_recv_kbps: or("minVideoRecvBandwidth", defaults.min_recv_kbps),
        min_send_kbps: or("minVideoSendBandwidth", defaults.min_send_kbps),
        max_send_kbps: or("maxVideoSendBandwidth", defaults.max_send_kbps),
    }
}

/// set<Prop> of a bandwidth property: stored, then the endpoint's bandwidth
/// follows ([`SdpNegotiation::set_bandwidth`]).
async fn set_bandwidth<T: SdpNegotiation>(server: &Server, ctx: &ElementRef<'_>, property: &str, kbps: i32) -> OpResult {
    super::properties::store(server, ctx.object, property, Some(&json!(kbps)))?;
    let bandwidth = server.lookup(ctx.object, |o| bandwidth(&o.properties))?;
    with_element(server, ctx, move |e: &mut T, _| e.set_bandwidth(bandwidth)).await.map(|()| None)
}

/// The `rembParams` register's fields over KMS's defaults. Negative
/// integers read as 0, except `packetsRecvIntervalTop` (at least 1, as KMS
/// raises it) and `upLosses` (never: KMS compares the smoothed loss, an
/// unsigned number, with it, so no loss reaches a negative one).
pub fn remb_params(properties: &Map<String, Value>) -> RembParams {
    let d = RembParams::default();
    let fields = properties.get("rembParams").and_then(Value::as_object);
    let field = |key: &str| fields.and_then(|f| f.get(key));
    let int = |key: &str, default: u64, negative: u64| field(key).and_then(Value::as_i64).map_or(default, |v| u64::try_from(v).unwrap_or(negative));
    let float = |key: &str, default: f64| field(key).and_then(Value::as_f64).unwrap_or(default);
    RembParams {
        packets_recv_interval_top: int("packetsRecvIntervalTop", d.packets_recv_interval_top.into(), 1).clamp(1, u32::MAX.into()) as u32,
        exponential_factor: float("exponentialFactor", d.exponential_factor),
        lineal_factor_min: int("linealFactorMin", d.lineal_factor_min, 0),
        lineal_factor_grade: float("linealFactorGrade", d.lineal_factor_grade),
        decrement_factor: float("decrementFactor", d.decrement_factor),
        threshold_factor: float("thresholdFactor", d.threshold_factor),
        up_losses: int("upLosses", d.up_losses, u64::MAX),
        remb_on_connect: int("rembOnConnect", d.remb_on_connect, 0),
    }
}

/// KMS's `rembParams` as a RembParams register: every field, the kmd's
/// defaults and `linealFactorMin` (50 bps), which the kmd leaves out.
pub fn remb_params_register(p: &RembParams) -> Value {
    super::events::register(
        "RembParams",
        json!({
            "packetsRecvIntervalTop": p.packets_recv_interval_top,
            "exponentialFactor": p.exponential_factor,
            "linealFactorMin": p.lineal_factor_min,
            "linealFactorGrade": p.lineal_factor_grade,
            "decrementFactor": p.decrement_factor,
            "thresholdFactor": p.threshold_factor,
            "upLosses": p.up_losses,
            "rembOnConnect": p.remb_on_connect,
        }),
    )
}

/// set rembParams: the fields given replace the stored ones and the others
/// stay (KMS sets only the fields a RembParams has set), then the endpoint
/// follows ([`SdpNegotiation::set_remb_params`]).
async fn set_remb_params<T: SdpNegotiation>(server: &Server, ctx: &ElementRef<'_>, given: &Map<String, Value>) -> OpResult {
    let stored = server.lookup(ctx.object, |o| o.properties.get("rembParams").and_then(Value::as_object).cloned())?;
    let mut merged = stored.unwrap_or_default();
    merged.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    super::properties::store(server, ctx.object, "rembParams", Some(&Value::Object(merged)))?;
    let params = server.lookup(ctx.object, |o| remb_params(&o.properties))?;
    with_element(server, ctx, move |e: &mut T, _| e.set_remb_params(params)).await.map(|()| None)
}

fn state(connected: bool) -> Option<serde_json::Value> {
    Some(json!(if connected { "CONNECTED" } else { "DISCONNECTED" }))
}

/// SdpEndpoint operations of an element of type `T`; `None` for the
/// accessors left to the stored properties.
pub async fn sdp_endpoint<T: SdpNegotiation>(server: &Server, ctx: &ElementRef<'_>, op: SdpEndpointOp<'_>) -> Option<OpResult> {
    Some(match op {
        SdpEndpointOp::ProcessOffer { offer } => sdp_step(server, ctx, offer, T::process_offer).await,
        SdpEndpointOp::ProcessAnswer { answer } => sdp_step(server, ctx, answer, T::process_answer).await,
        SdpEndpointOp::GenerateOffer { options } => {
            // OfferOptions: offerToReceiveAudio / offerToReceiveVideo, both true by default.
            let flag = |name: &str| options.and_then(|o| o.get(name)).and_then(|v| v.as_bool()).unwrap_or(true);
            let (audio, video) = (flag("offerToReceiveAudio"), flag("offerToReceiveVideo"));
            match with_element(server, ctx, move |e: &mut T, _| e.generate_offer(audio, video)).await {
                Ok(r) => r.map_err(kurento_error).map(|offer| Some(json!(offer))),
                Err(e) => Err(e),
            }
        }
        SdpEndpointOp::SetMaxAudioRecvBandwidth { max_audio_recv_bandwidth: kbps } => set_bandwidth::<T>(server, ctx, "maxAudioRecvBandwidth", kbps).await,
        SdpEndpointOp::SetMaxVideoRecvBandwidth { max_video_recv_bandwidth: kbps } => set_bandwidth::<T>(server, ctx, "maxVideoRecvBandwidth", kbps).await,
        SdpEndpointOp::GetLocalSessionDescriptor => descriptor::<T>(server, ctx, true, ErrorCode::SdpEndPointNoLocalSdpError).await,
        SdpEndpointOp::GetRemoteSessionDescriptor => descriptor::<T>(server, ctx, false, ErrorCode::SdpEndPointNoRemoteSdpError).await,
        _ => return None,
    })
}

/// BaseRtpEndpoint's live states, video bandwidths and `setRembParams` of
/// an element of type `T`; `None` for the accessors left to the stored
/// properties, and for requestKeyframe and setMtu (the endpoint's own
/// handler takes them).
pub async fn base_rtp_endpoint<T: SdpNegotiation>(server: &Server, ctx: &ElementRef<'_>, op: BaseRtpEndpointOp<'_>) -> Option<OpResult> {
    Some(match op {
        BaseRtpEndpointOp::GetConnectionState => with_element(server, ctx, |e: &mut T, _| e.connection_connected()).await.map(state),
        BaseRtpEndpointOp::GetMediaState => with_element(server, ctx, |e: &mut T, _| e.media_connected()).await.map(state),
        BaseRtpEndpointOp::SetRembParams { remb_params } => set_remb_params::<T>(server, ctx, remb_params).await,
        BaseRtpEndpointOp::SetMinVideoRecvBandwidth { min_video_recv_bandwidth: v } => set_bandwidth::<T>(server, ctx, "minVideoRecvBandwidth", v).await,
        BaseRtpEndpointOp::SetMinVideoSendBandwidth { min_video_send_bandwidth: v } => set_bandwidth::<T>(server, ctx, "minVideoSendBandwidth", v).await,
        BaseRtpEndpointOp::SetMaxVideoSendBandwidth { max_video_send_bandwidth: v } => set_bandwidth::<T>(server, ctx, "maxVideoSendBandwidth", v).await,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remb_params_read_the_register_over_kms_defaults() {
        let d = RembParams::default();
        let register = remb_params_register(&d);
        let properties = |fields: Value| Map::from_iter([("rembParams".to_owned(), fields)]);
        assert_eq!(remb_params(&properties(register.clone())), d, "the default register reads back as the defaults");
        assert_eq!(register["linealFactorMin"], 50, "KMS's value, which the kmd leaves out");
        let given = remb_params(&properties(json!({ "exponentialFactor": 0.5, "upLosses": 20 })));
        assert_eq!((given.exponential_factor, given.up_losses, given.remb_on_connect), (0.5, 20, 300_000));
        let negative = remb_params(&properties(json!({ "packetsRecvIntervalTop": -5, "upLosses": -1, "rembOnConnect": -1, "linealFactorMin": -9 })));
        assert_eq!(negative.packets_recv_interval_top, 1, "raised to 1, as KMS");
        assert_eq!(negative.up_losses, u64::MAX, "no loss reaches a negative upLosses in KMS");
        assert_eq!((negative.remb_on_connect, negative.lineal_factor_min), (0, 0));
    }
}
