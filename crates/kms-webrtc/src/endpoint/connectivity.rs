//! ICE and DTLS of a WebRtcEndpoint: candidates (host, gathered, trickled),
//! the selected pair, and the IceComponentState / DtlsConnectionState
//! machines as KMS reports them.

use super::peer::new_rtc;
use super::{WebRtcEndpoint, WebRtcError};
use kms_media::bandwidth::RembRelay;
use crate::external::ExternalAddrs;
use crate::gather::{Gatherer, NatConfig};
use kms_media::{ElementEvent, ElementOutput};
use std::net::SocketAddr;
use std::time::Instant;
use str0m::{Candidate, IceConnectionState};

/// IceComponentState, as KMS names it in IceComponentStateChanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IceState {
    Gathering,
    Connecting,
    Connected,
    Ready,
    Disconnected,
    /// Disconnected for [`super::ICE_FAILED_AFTER`]: the peer connection is gone.
    Failed,
}

impl IceState {
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::Gathering => "GATHERING",
            IceState::Connecting => "CONNECTING",
            IceState::Connected => "CONNECTED",
            IceState::Ready => "READY",
            IceState::Disconnected => "DISCONNECTED",
            IceState::Failed => "FAILED",
        }
    }
}

/// DtlsConnectionState, as KMS names it in DtlsConnectionStateChange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DtlsState {
    New,
    Connecting,
    Connected,
    Closed,
    Failed,
}

impl DtlsState {
    pub fn as_str(self) -> &'static str {
        match self {
            DtlsState::New => "NEW",
            DtlsState::Connecting => "CONNECTING",
            DtlsState::Connected => "CONNECTED",
            DtlsState::Closed => "CLOSED",
            DtlsState::Failed => "FAILED",
        }
    }
}

/// A WebRtcEndpoint's candidates and ICE/DTLS state.
pub(super) struct IceSession {
    /// SDP lines of our candidates (host and gathered), as trickled.
    pub(super) local_candidates: Vec<String>,
    /// Every local candidate added to `rtc` (host and gathered), to set up
    /// the peer connection again with the offerer's codec order.
    pub(super) local_added: Vec<Candidate>,
    /// ICE and DTLS are up: media can be sent (ConnectionState CONNECTED).
    pub(super) connected: bool,
    /// DTLS completed once; later ICE recoveries reconnect without a new handshake.
    pub(super) dtls_done: bool,
    /// Since when ICE is DISCONNECTED, until it recovers or fails.
    pub(super) disconnected_at: Option<Instant>,
    pub(super) gatherer: Gatherer,
    /// Remote candidate lines added with addIceCandidate.
    pub(super) remote_candidates: Vec<String>,
    /// The selected pair (local, remote candidate lines), once ICE chose one.
    pub(super) selected_pair: Option<(String, String)>,
    /// The latest IceComponentState and DtlsConnectionState.
    pub(super) ice_state: IceState,
    pub(super) dtls_state: DtlsState,
    /// gatherCandidates was called: candidates are trickled as found.
    pub(super) trickling: bool,
    pub(super) gathering_done_sent: bool,
}

impl WebRtcEndpoint {
    /// str0m's ICE state changed: IceComponentStateChanged, DTLS CONNECTING
    /// once ICE is up, and the connection/media state across consent loss
    /// and recovery.
    pub(super) fn ice_changed(&mut self, state: IceConnectionState) {
        let ice = match state {
            IceConnectionState::New => return,
            IceConnectionState::Checking => IceState::Connecting,
            IceConnectionState::Connected => IceState::Connected,
            IceConnectionState::Completed => IceState::Ready,
            IceConnectionState::Disconnected => IceState::Disconnected,
        };
        self.ice.ice_state = ice;
        self.event(ElementEvent::IceComponentStateChanged { state: ice.as_str() });
        if matches!(ice, IceState::Connected | IceState::Ready) && self.ice.dtls_state == DtlsState::New {
            self.set_dtls_state(DtlsState::Connecting);
        }
        self.ice.disconnected_at = match state {
            IceConnectionState::Disconnected => self.ice.disconnected_at.or(Some(self.now)),
            _ => None,
        };
        // Consent lost: the transport and the media session are down until
        // ICE recovers (str0m keeps checking, as trickle ICE allows).
        if state == IceConnectionState::Disconnected && self.ice.connected {
            self.ice.connected = false;
            self.event(ElementEvent::ConnectionState { connected: false });
            self.event(ElementEvent::MediaState { connected: false });
        }
        if matches!(state, IceConnectionState::Connected | IceConnectionState::Completed) && !self.ice.connected && self.ice.dtls_done {
            self.ice.connected = true;
            self.event(ElementEvent::ConnectionState { connected: true });
            self.event(ElementEvent::MediaState { connected: true });
        }
    }

    /// The DTLS handshake completed: the session is CONNECTED.
    pub(super) fn dtls_connected(&mut self) {
        self.set_dtls_state(DtlsState::Connected);
        self.ice.connected = true;
        self.ice.dtls_done = true;
        self.event(ElementEvent::ConnectionState { connected: true });
        self.event(ElementEvent::MediaState { connected: true });
        self.remb.start(self.now);
        self.size_egress_caches();
        // Our sources' video can only reach the peer from now on: ask for a
        // keyframe so the peer's decoder starts at once.
        self.queue.push_back(ElementOutput::KeyframeRequest);
    }

    /// WebRtcEndpoint.gatherCandidates: raises IceCandidateFound for every local
    /// candidate known so far, then for each server-reflexive and relay
    /// candidate as its STUN/TURN server answers, then IceGatheringDone.
    /// Host candidates are known up front; without STUN/TURN servers gathering
    /// completes at once. A second call does nothing (KMS).
    pub fn gather_candidates(&mut self) {
        if self.ice.trickling {
            return;
        }
        self.ice.trickling = true;
        for candidate in self.ice.local_candidates.clone() {
            self.candidate_found(&candidate);
        }
        self.collect_candidates();
    }

    pub(super) fn candidate_found(&mut self, candidate: &str) {
        self.queue.push_back(ElementOutput::Event(ElementEvent::IceCandidateFound {
            candidate: self.config.external.candidate(candidate),
            sdp_mid: self.sdp.first_mid.clone(),
            sdp_m_line_index: 0,
        }));
    }

    /// Adds what the gatherer found to the peer connection (and trickles it),
    /// and ends gathering once the gatherer is done.
    pub(super) fn collect_candidates(&mut self) {
        while let Some(c) = self.ice.gatherer.poll_candidate() {
            if let Some(added) = self.rtc.add_local_candidate(c.clone()) {
                let line = added.to_sdp_string();
                self.ice.local_added.push(c);
                self.ice.local_candidates.push(line.clone());
                if self.ice.trickling {
                    self.candidate_found(&line);
                }
            }
        }
        if self.ice.trickling && !self.ice.gathering_done_sent && self.ice.gatherer.is_done() {
            self.ice.gathering_done_sent = true;
            self.queue.push_back(ElementOutput::Event(ElementEvent::IceGatheringDone));
        }
    }

    /// True once candidates are fixed: gatherCandidates was called or the
    /// session negotiated. STUN/TURN changes no longer apply (KMS).
    pub fn gathering_started(&self) -> bool {
        self.ice.trickling || self.sdp.local_sdp.is_some()
    }

    /// The STUN/TURN servers in use.
    pub fn nat(&self) -> &NatConfig {
        &self.config.nat
    }

    /// Sets the STUN/TURN servers (`stunServerAddress`, `turnUrl`). Like KMS,
    /// they apply to gathering that has not started: set them before
    /// negotiating.
    pub fn set_nat(&mut self, now: Instant, nat: NatConfig) {
        if nat != self.config.nat && !self.gathering_started() {
            self.ice.gatherer = Gatherer::new(now, &self.config.host_addrs, &nat);
            self.config.nat = nat;
        }
    }

    /// WebRtcEndpoint.addIceCandidate with a trickled remote candidate
    /// (`candidate:...`, with or without `a=`). An empty candidate (end of
    /// candidates) and mDNS `.local` candidates are accepted and ignored;
    /// peer-reflexive discovery connects those peers anyway.
    pub fn add_ice_candidate(&mut self, candidate: &str) -> Result<(), WebRtcError> {
        let text = candidate.trim();
        let text = text.strip_prefix("a=").unwrap_or(text);
        if text.is_empty() || text.split_whitespace().nth(4).is_some_and(|addr| addr.ends_with(".local")) {
            return Ok(());
        }
        let c = Candidate::from_sdp_string(text).map_err(|e| WebRtcError::Candidate(e.to_string()))?;
        self.ice.remote_candidates.push(text.to_owned());
        self.rtc.add_remote_candidate(c);
        Ok(())
    }

    /// Sets `externalIPv4` / `externalIPv6`; applies to descriptions and
    /// candidates produced from now on (KMS: set it before negotiating).
    pub fn set_external(&mut self, external: ExternalAddrs) {
        self.config.external = external;
    }

    /// BaseRtpEndpoint connectionState / mediaState: true when CONNECTED.
    pub fn is_connected(&self) -> bool {
        self.ice.connected
    }

    pub(super) fn set_dtls_state(&mut self, state: DtlsState) {
        if self.ice.dtls_state != state {
            self.ice.dtls_state = state;
            self.event(ElementEvent::DtlsConnectionState { state: state.as_str() });
        }
    }

    /// Raises NewCandidatePairSelected when the pair in use changed. Candidates
    /// are described by their SDP lines; a peer-reflexive remote (learnt from
    /// its checks) gets a `typ prflx` line.
    pub(super) fn pair_selected(&mut self, local: SocketAddr, remote: SocketAddr) {
        let find = |lines: &[String], addr: SocketAddr| {
            let needle = format!(" {} {} typ ", addr.ip(), addr.port());
            lines.iter().find(|l| l.contains(&needle)).cloned()
        };
        let local = find(&self.ice.local_candidates, local).unwrap_or_else(|| format!("candidate:0 1 udp 0 {} {} typ host", local.ip(), local.port()));
        let remote =
            find(&self.ice.remote_candidates, remote).unwrap_or_else(|| format!("candidate:0 1 udp 0 {} {} typ prflx", remote.ip(), remote.port()));
        let pair = (self.config.external.candidate(&local), remote);
        if self.ice.selected_pair.as_ref() != Some(&pair) {
            self.event(ElementEvent::NewCandidatePairSelected { local: pair.0.clone(), remote: pair.1.clone() });
            self.ice.selected_pair = Some(pair);
        }
    }

    /// ICECandidatePairs: the selected pair, when there is one.
    pub fn candidate_pairs(&self) -> Vec<(String, String)> {
        self.ice.selected_pair.iter().cloned().collect()
    }

    /// IceConnectionState and DtlsConnectionState.
    pub fn connection_states(&self) -> (IceState, DtlsState) {
        (self.ice.ice_state, self.ice.dtls_state)
    }

    /// ICE stayed disconnected for [`ICE_FAILED_AFTER`]: FAILED, and the peer
    /// connection is replaced by an empty, closed one so its memory goes now.
    pub(super) fn fail(&mut self, now: Instant) {
        self.ice.disconnected_at = None;
        self.ice.ice_state = IceState::Failed;
        self.event(ElementEvent::IceComponentStateChanged { state: IceState::Failed.as_str() });
        self.set_dtls_state(DtlsState::Closed);
        let mut closed = new_rtc(now, &self.config);
        closed.disconnect();
        drop(std::mem::replace(&mut self.rtc, closed));
        self.next_timeout = None;
        self.sdp.send_mids.clear();
        self.sdp.recv_video_mid = None;
        self.remb = RembRelay::new(self.config.bandwidth, self.config.remb_params);
        self.ice.gatherer = Gatherer::default();
        for channel_id in self.data.close_all() {
            self.event(ElementEvent::DataChannelClosed { channel_id });
        }
    }
}
