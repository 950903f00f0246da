//! SdpEndpoint negotiation of a WebRtcEndpoint: processOffer, generateOffer,
//! processAnswer, and the m-lines and codecs they settle.

use super::peer::rtc_with;
use super::{codec_of, media_type_of, WebRtcConfig, WebRtcEndpoint, WebRtcError};
use crate::direction::restrict_offer;
use kms_media::{Codec, MediaType};
use std::collections::HashMap;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::Candidate;

/// The `a=mid:` of the first m-line of an SDP.
fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|l| l.trim().strip_prefix("a=mid:")).map(|m| m.trim().to_owned())
}

/// What a WebRtcEndpoint's negotiation settled: descriptions, m-lines, codecs.
pub(super) struct Negotiated {
    pub(super) local_sdp: Option<String>,
    pub(super) remote_sdp: Option<String>,
    /// The mid candidates are trickled with (the offer's first m-line).
    pub(super) first_mid: String,
    /// Our offer from generateOffer, until processAnswer.
    pub(super) pending_offer: Option<SdpPendingOffer>,
    pub(super) answer_processed: bool,
    /// m-lines we send on, by media type.
    pub(super) send_mids: Vec<(Mid, MediaType)>,
    /// Codecs negotiated on the sending m-lines, in the peer's preference.
    pub(super) send_codecs: Vec<(MediaType, Vec<Codec>)>,
    /// The m-line we receive video on, for keyframe requests to the peer.
    pub(super) recv_video_mid: Option<Mid>,
    /// Media type of every m-line, for stats.
    pub(super) mid_types: HashMap<Mid, MediaType>,
}

impl WebRtcEndpoint {
    /// SdpEndpoint.processOffer: returns the SDP answer (with host candidates);
    /// lines that cannot be served are refused in it (port 0), and 40205
    /// only when none can.
    pub fn process_offer(&mut self, offer: &str) -> Result<String, WebRtcError> {
        if self.sdp.local_sdp.is_some() {
            return Err(WebRtcError::AlreadyNegotiated);
        }
        // Lines WebRTC cannot serve are refused in the answer, as KMS does.
        let split = crate::mlines::split_offer(offer).map_err(WebRtcError::OfferRejected)?;
        let usable = if self.config.simulcast { split.usable.clone() } else { crate::simulcast::refuse_simulcast(&split.usable) };
        let restricted = restrict_offer(&usable, self.config.recvonly, self.config.sendonly);
        let parsed = SdpOffer::from_sdp_string(&restricted).map_err(|e| WebRtcError::SdpParse(e.to_string()))?;
        // The answer keeps the offerer's codec preference (as KMS's SDP agent
        // does): the peer connection is set up again with the configured
        // codecs in the offer's order and every candidate it had, unless
        // candidates (which name its ICE ufrag) were already trickled.
        let codecs = self.config.codecs.in_offer_order(&restricted);
        if codecs != self.config.codecs && !self.ice.trickling {
            let reordered = WebRtcConfig { codecs, ..self.config.clone() };
            (self.rtc, self.ice.local_added, self.ice.local_candidates) = rtc_with(self.now, &reordered, std::mem::take(&mut self.ice.local_added));
            // Candidates the peer trickled before its offer arrived.
            for line in &self.ice.remote_candidates {
                if let Ok(c) = Candidate::from_sdp_string(line) {
                    self.rtc.add_remote_candidate(c);
                }
            }
        }
        let answer = self.rtc.sdp_api().accept_offer(parsed).map_err(|e| WebRtcError::OfferRejected(e.to_string()))?;
        if let Some(mid) = first_mid(&split.usable) {
            self.sdp.first_mid = mid;
        }
        let answer = self.announced(&crate::mlines::merge_answer(&answer.to_sdp_string(), &split.refused));
        self.sdp.remote_sdp = Some(offer.to_owned());
        self.sdp.local_sdp = Some(answer.clone());
        Ok(answer)
    }

    /// SdpEndpoint.generateOffer(OfferOptions): an offer with one audio and one
    /// video m-line. `offer_audio`/`offer_video` false (offerToReceiveAudio/Video)
    /// make that m-line send-only; the `recvonly`/`sendonly` constructor flags
    /// fix the direction of both. One-shot like KMS: 40208 once negotiated.
    pub fn generate_offer(&mut self, offer_audio: bool, offer_video: bool) -> Result<String, WebRtcError> {
        if self.sdp.local_sdp.is_some() {
            return Err(WebRtcError::AlreadyNegotiated);
        }
        let (recvonly, sendonly) = (self.config.recvonly, self.config.sendonly);
        let direction = |receive: bool| match (recvonly, sendonly || !receive) {
            (true, _) => Direction::RecvOnly,
            (false, true) => Direction::SendOnly,
            (false, false) => Direction::SendRecv,
        };
        let mut change = self.rtc.sdp_api();
        // str0m raises MediaAdded only for m-lines the peer adds, so ours are
        // recorded here.
        let mut added = Vec::new();
        for (kind, receive) in [(MediaKind::Audio, offer_audio), (MediaKind::Video, offer_video)] {
            let dir = direction(receive);
            added.push((change.add_media(kind, dir, None, None, None), kind, dir));
        }
        let (offer, pending) = change.apply().ok_or_else(|| WebRtcError::GenerateOffer("nothing to offer".into()))?;
        for (mid, kind, dir) in added {
            self.record_media(mid, kind, dir);
        }
        let sdp = self.announced(&offer.to_sdp_string());
        if let Some(mid) = first_mid(&sdp) {
            self.sdp.first_mid = mid;
        }
        self.sdp.pending_offer = Some(pending);
        self.sdp.local_sdp = Some(sdp.clone());
        Ok(sdp)
    }

    /// SdpEndpoint.processAnswer: applies the peer's answer to our offer and
    /// returns our (local) description. 40209 without a generated offer, 40210
    /// for a second answer.
    pub fn process_answer(&mut self, answer: &str) -> Result<String, WebRtcError> {
        let Some(pending) = self.sdp.pending_offer.take() else {
            return Err(if self.sdp.answer_processed { WebRtcError::AnswerAlreadyProcessed } else { WebRtcError::NotOfferGenerated });
        };
        let parsed = match SdpAnswer::from_sdp_string(answer) {
            Ok(a) => a,
            Err(e) => {
                self.sdp.pending_offer = Some(pending);
                return Err(WebRtcError::SdpParse(e.to_string()));
            }
        };
        self.rtc.sdp_api().accept_answer(pending, parsed).map_err(|e| WebRtcError::AnswerRejected(e.to_string()))?;
        self.sdp.answer_processed = true;
        self.sdp.remote_sdp = Some(answer.to_owned());
        self.refresh_send_codecs();
        Ok(self.sdp.local_sdp.clone().unwrap_or_default())
    }

    /// An SDP as the peer must see it: external addresses announced, and
    /// the receive limits set when it is made (`b=AS`, as KMS; later
    /// changes of `maxVideoRecvBandwidth` reach the peer by REMB).
    pub(super) fn announced(&self, sdp: &str) -> String {
        let local: Vec<std::net::IpAddr> = self.config.host_addrs.iter().map(|a| a.ip()).collect();
        self.config.bandwidth.recv.signal(&self.config.external.sdp(sdp, &local))
    }

    /// The local SDP (our answer), once negotiated.
    pub fn local_sdp(&self) -> Option<&str> {
        self.sdp.local_sdp.as_deref()
    }

    /// The remote SDP (the peer's offer), once negotiated.
    pub fn remote_sdp(&self) -> Option<&str> {
        self.sdp.remote_sdp.as_deref()
    }

    /// Remembers an m-line we send or receive on.
    pub(super) fn record_media(&mut self, mid: Mid, kind: MediaKind, direction: Direction) {
        let media_type = media_type_of(kind);
        self.sdp.mid_types.insert(mid, media_type);
        if direction.is_sending() && !self.sdp.send_mids.contains(&(mid, media_type)) {
            self.sdp.send_mids.push((mid, media_type));
        }
        if direction.is_receiving() && media_type == MediaType::Video {
            self.sdp.recv_video_mid = Some(mid);
        }
        self.refresh_send_codecs();
    }

    /// Reads the codecs each sending m-line negotiated (see `input_codecs`).
    pub(super) fn refresh_send_codecs(&mut self) {
        let mut lists = Vec::new();
        for &(mid, media_type) in &self.sdp.send_mids {
            if let Some(writer) = self.rtc.writer(mid) {
                let mut codecs: Vec<Codec> = Vec::new();
                for c in writer.payload_params().filter_map(|p| codec_of(p.spec().codec)) {
                    if !codecs.contains(&c) {
                        codecs.push(c);
                    }
                }
                lists.push((media_type, codecs));
            }
        }
        self.sdp.send_codecs = lists;
    }
}
