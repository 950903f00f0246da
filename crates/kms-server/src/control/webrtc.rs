//! SdpEndpoint and WebRtcEndpoint operations.

use super::elements::ElementRef;
use super::invoke::OpResult;
use super::params::Params;
use super::Server;
use kms_protocol::{ErrorCode, KurentoError};
use kms_webrtc::{WebRtcEndpoint, WebRtcError};
use serde_json::json;

/// The Kurento error for a negotiation failure.
fn kurento_error(e: WebRtcError) -> KurentoError {
    let code = match e {
        WebRtcError::SdpParse(_) => ErrorCode::SdpParseError,
        WebRtcError::OfferRejected(_) => ErrorCode::SdpEndPointProcessOfferError,
        WebRtcError::AlreadyNegotiated => ErrorCode::SdpEndPointAlreadyNegotiated,
        WebRtcError::GenerateOffer(_) => ErrorCode::SdpEndPointGenerateOfferError,
        WebRtcError::NotOfferGenerated => ErrorCode::SdpEndPointNotOfferGenerated,
        WebRtcError::AnswerAlreadyProcessed => ErrorCode::SdpEndPointAnswerAlreadyProcessed,
        WebRtcError::AnswerRejected(_) => ErrorCode::SdpEndPointProcessAnswerError,
        WebRtcError::Candidate(_) => ErrorCode::IceAddCandidateError,
    };
    KurentoError::new(code, e.to_string())
}

/// Runs `f` on the endpoint inside the media worker.
async fn with_endpoint<T: Send + 'static>(
    server: &Server,
    ctx: &ElementRef<'_>,
    f: impl FnOnce(&mut WebRtcEndpoint) -> T + Send + 'static,
) -> Result<T, KurentoError> {
    let (pipeline, element) = (ctx.pipeline, ctx.element);
    server
        .media
        .call(move |worker, _| worker.pipeline(pipeline)?.element_mut::<WebRtcEndpoint>(element).map(f))
        .await
        .map_err(|e| KurentoError::new(ErrorCode::UnexpectedError, e.to_string()))?
        .ok_or_else(|| KurentoError::object_not_found(ctx.object.as_str()))
}

/// WebRtcEndpoint operations; `None` when `operation` is not one of them.
pub async fn invoke(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    Some(match operation {
        "processOffer" => {
            let offer = match params.str("offer") {
                Ok(o) => o.to_owned(),
                Err(e) => return Some(Err(e)),
            };
            with_endpoint(server, ctx, move |w| w.process_offer(&offer))
                .await
                .and_then(|r| r.map_err(kurento_error))
                .map(|answer| Some(json!(answer)))
        }
        "generateOffer" => {
            let options = params.get("options").and_then(|o| o.as_object());
            let flag = |name: &str| options.and_then(|o| o.get(name)).and_then(|v| v.as_bool()).unwrap_or(true);
            let (audio, video) = (flag("offerToReceiveAudio"), flag("offerToReceiveVideo"));
            with_endpoint(server, ctx, move |w| w.generate_offer(audio, video))
                .await
                .and_then(|r| r.map_err(kurento_error))
                .map(|offer| Some(json!(offer)))
        }
        "processAnswer" => {
            let answer = match params.str("answer") {
                Ok(a) => a.to_owned(),
                Err(e) => return Some(Err(e)),
            };
            with_endpoint(server, ctx, move |w| w.process_answer(&answer))
                .await
                .and_then(|r| r.map_err(kurento_error))
                .map(|local| Some(json!(local)))
        }
        "gatherCandidates" => with_endpoint(server, ctx, |w| w.gather_candidates()).await.map(|()| None),
        "addIceCandidate" => {
            let candidate = match params.object_map("candidate") {
                Ok(c) => c.get("candidate").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
                Err(e) => return Some(Err(e)),
            };
            with_endpoint(server, ctx, move |w| w.add_ice_candidate(&candidate))
                .await
                .and_then(|r| r.map_err(kurento_error))
                .map(|()| None)
        }
        "getLocalSessionDescriptor" => with_endpoint(server, ctx, |w| w.local_sdp().map(str::to_owned))
            .await
            .and_then(|sdp| sdp.ok_or_else(|| KurentoError::new(ErrorCode::SdpEndPointNoLocalSdpError, "No local SDP: not negotiated yet")))
            .map(|s| Some(json!(s))),
        "getRemoteSessionDescriptor" => with_endpoint(server, ctx, |w| w.remote_sdp().map(str::to_owned))
            .await
            .and_then(|sdp| sdp.ok_or_else(|| KurentoError::new(ErrorCode::SdpEndPointNoRemoteSdpError, "No remote SDP: not negotiated yet")))
            .map(|s| Some(json!(s))),
        _ => return None,
    })
}
