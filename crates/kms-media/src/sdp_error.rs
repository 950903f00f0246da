//! The errors of the SdpEndpoint negotiation steps, shared by WebRtcEndpoint
//! and RtpEndpoint (KMS `SdpEndpointImpl` raises the same codes for both).

/// Why an SdpEndpoint (WebRtcEndpoint, RtpEndpoint) negotiation or ICE call
/// failed; the server maps each to its Kurento code (given per variant).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpEndpointError {
    /// 40201 SDP_PARSE_ERROR
    #[error("SDP parse error: {0}")]
    SdpParse(String),
    /// 40205 SDP_END_POINT_PROCESS_OFFER_ERROR
    #[error("cannot process the offer: {0}")]
    OfferRejected(String),
    /// 40208 SDP_END_POINT_ALREADY_NEGOTIATED
    #[error("this endpoint has already negotiated its session")]
    AlreadyNegotiated,
    /// 40204 SDP_END_POINT_GENERATE_OFFER_ERROR
    #[error("cannot generate an offer: {0}")]
    GenerateOffer(String),
    /// 40209 SDP_END_POINT_NOT_OFFER_GENERATED
    #[error("no offer was generated, so there is no answer to process")]
    NotOfferGenerated,
    /// 40210 SDP_END_POINT_ANSWER_ALREADY_PROCCESED
    #[error("the answer was already processed")]
    AnswerAlreadyProcessed,
    /// 40206 SDP_END_POINT_PROCESS_ANSWER_ERROR
    #[error("cannot process the answer: {0}")]
    AnswerRejected(String),
    /// 40401 ICE_ADD_CANDIDATE_ERROR
    #[error("invalid ICE candidate: {0}")]
    Candidate(String),
    /// 40107 (illegal parameter): a data channel that cannot be created or closed.
    #[error("data channel: {0}")]
    DataChannel(String),
}

/// The SdpEndpoint operations every SDP-negotiating element has
/// (WebRtcEndpoint, RtpEndpoint), so that the control plane serves them once.
pub trait SdpNegotiation: crate::Element {
    /// generateOffer: our offer (OfferOptions `offerToReceiveAudio/Video`).
    fn generate_offer(&mut self, receive_audio: bool, receive_video: bool) -> Result<String, SdpEndpointError>;
    /// processOffer: our answer to the peer's offer.
    fn process_offer(&mut self, offer: &str) -> Result<String, SdpEndpointError>;
    /// processAnswer: our offer, once the peer's answer is applied.
    fn process_answer(&mut self, answer: &str) -> Result<String, SdpEndpointError>;
    /// getLocalSessionDescriptor / getRemoteSessionDescriptor.
    fn local_sdp(&self) -> Option<&str>;
    fn remote_sdp(&self) -> Option<&str>;
    /// getConnectionState: the transport is up.
    fn connection_connected(&self) -> bool;
    /// getMediaState: media is being exchanged with the peer.
    fn media_connected(&self) -> bool;
    /// The bandwidth properties (kbit/s, a maximum of 0 unlimited): the
    /// receive limits are signaled as `b=AS` lines in the descriptions made
    /// from now on ([`crate::RecvLimits::signal`]); all of them bound the
    /// REMB sent to the peer and the peer's estimate reported upstream
    /// ([`crate::bandwidth::RembRelay`]) at once.
    fn set_bandwidth(&mut self, bandwidth: crate::bandwidth::Bandwidth);
    /// BaseRtpEndpoint `rembParams`: the tuning of the REMB the endpoint
    /// sends its peer and `rembOnConnect` ([`crate::remb`]), from the next
    /// estimate on.
    fn set_remb_params(&mut self, params: crate::remb::RembParams);
}
