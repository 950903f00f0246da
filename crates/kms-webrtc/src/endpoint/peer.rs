//! Building the str0m peer connection of a WebRtcEndpoint: the process
//! certificate, KMS's feature set (codecs, REMB, header extensions) and the
//! host candidates.

use super::WebRtcConfig;
use crate::codecs::CodecList;
use crate::stats::STATS_INTERVAL;
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};
use kms_media::packetize::Mtu;
use str0m::bwe::Bitrate;
use str0m::config::DtlsCert;
use str0m::format::CodecConfig;
use str0m::net::TcpType;
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Candidate, Rtc, RtcConfig};

/// Installs str0m's crypto provider (aws-lc-rs) once per process.
pub(super) fn init_crypto() {
    static INIT: Once = Once::new();
    INIT.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}

/// The DTLS certificate every endpoint presents: generated once per process,
/// as KMS does (`std::call_once` in WebRtcEndpointImpl), since generating one
/// per endpoint dominates the cost of creating it.
pub(super) fn process_certificate() -> Option<DtlsCert> {
    static CERT: OnceLock<Option<DtlsCert>> = OnceLock::new();
    CERT.get_or_init(|| str0m::crypto::from_feature_flags().dtls_provider.generate_certificate()).clone()
}

/// KMS's feature set: the configured codecs (`SdpEndpoint.conf.json`), REMB
/// (`goog-remb` with the abs-send-time extension) and no transport-wide CC,
/// which KMS does not negotiate. A browser that receives with TWCC negotiated
/// sends TWCC feedback instead of the REMB the router relays to publishers.
///
/// Header extensions beyond KMS's abs-send-time: audio level (parsed, not
/// forwarded) and mid, rid and repaired rid (RFC 8843 §15, RFC 8852), which
/// str0m needs to map a publisher's SSRCs it does not signal: simulcast
/// layers, and the one stream a browser sends after its simulcast offer was
/// refused. Not video orientation (`urn:3gpp:video-orientation`), which KMS
/// does not negotiate either: a sender that has it negotiated leaves its
/// frames unrotated and signals the rotation per packet, which nothing here
/// carries to viewers, recorders or filters; without it the sender rotates
/// the frames itself.
///
/// With simulcast forwarding on (`simulcast`, see [`crate::simulcast`]) it
/// goes past KMS: transport-wide CC (the transport-cc feedback and the
/// transport sequence number extension, draft-holmer-rmcat-transport-wide-cc-
/// extensions-01) for a send-side estimate per viewer, starting at
/// `initial_estimate` (bits/s; [`kms_media::remb::RembParams::start_bitrate`], whose default
/// is also libwebrtc's start bitrate), REMB kept for peers without it, and
/// Opus RED (RFC 2198) where the peer offers it.
pub(super) fn kms_features(mut config: RtcConfig, codecs: &CodecList, simulcast: bool, initial_estimate: u64) -> RtcConfig {
    let mut exts = ExtensionMap::empty();
    for (id, ext) in [
        (1, Extension::AudioLevel),
        (2, Extension::AbsoluteSendTime),
        (4, Extension::RtpMid),
        (10, Extension::RtpStreamId),
        (11, Extension::RepairedRtpStreamId),
    ] {
        exts.set(id, ext);
    }
    if simulcast {
        exts.set(3, Extension::TransportSequenceNumber);
        config = config.enable_bwe(Some(Bitrate::bps(initial_estimate)));
    }
    config = config.set_extension_map(exts);
    let params = codecs
        .payload_params(simulcast)
        .into_iter()
        .map(|mut p| {
            p.set_fb_transport_cc(simulcast);
            p
        })
        .collect();
    *config.codec_config() = CodecConfig::new_from_payload_params(params);
    config
}

/// How long (and how many) sent packets are kept to answer NACKs: one second
/// covers any round trip a NACK can still help with (str0m keeps 3 s and
/// 1024 packets by default: most of a viewer's memory).
pub(super) const EGRESS_CACHE_AGE: Duration = Duration::from_secs(1);

pub(super) const EGRESS_CACHE_PACKETS: usize = 400;

/// A peer connection with the process certificate and KMS's feature set
/// for `config` (its codecs, simulcast forwarding and `rembOnConnect`),
/// sizing what str0m cuts itself (VP9, AV1, G.711; its DTLS records and
/// SCTP packets) for its MTU (see [`str0m_mtu`]).
pub(super) fn new_rtc(now: Instant, config: &WebRtcConfig) -> Rtc {
    let features = kms_features(Rtc::builder(), &config.codecs, config.simulcast, config.remb_params.start_bitrate());
    let mut builder = features.set_stats_interval(Some(STATS_INTERVAL)).set_mtu(str0m_mtu(config.mtu));
    if let Some(cert) = process_certificate() {
        builder = builder.set_dtls_cert(cert);
    }
    builder.build(now)
}

/// The host candidates of `config`: one per address (UDP, and passive TCP
/// with ICE-TCP).
pub(super) fn host_candidates(config: &WebRtcConfig) -> Vec<Candidate> {
    let udp = config.host_addrs.iter().map(|addr| Candidate::host(*addr, "udp"));
    let tcp = config.tcp_addrs.iter().map(|addr| Candidate::builder().tcp().host(*addr).tcptype(TcpType::Passive).build());
    let addrs = config.host_addrs.iter().chain(&config.tcp_addrs);
    addrs
        .zip(udp.chain(tcp))
        .filter_map(|(addr, candidate)| candidate.map_err(|e| tracing::warn!(%addr, "cannot use address as host candidate: {e}")).ok())
        .collect()
}

/// str0m's MTU range for `mtu`: its target is the datagram its packetizer
/// fills (it cuts payloads of the target less SRTP's 16-byte tag, rounded
/// down to 16 bytes, so at most [`Mtu::max_payload`], as the endpoint's own
/// cut); it warns above the end, here the largest datagram `mtu` allows
/// (the MTU, the tag and a retransmission's 2-byte original sequence
/// number) with room to spare.
fn str0m_mtu(mtu: Mtu) -> std::ops::RangeInclusive<usize> {
    let target = mtu.max_payload() + SRTP_TAG;
    target..=usize::from(mtu.bytes()) + SRTP_TAG + 64
}

/// Bytes SRTP adds to an RTP packet: AES-GCM's tag (RFC 7714 §7), the
/// longest of the profiles str0m negotiates.
const SRTP_TAG: usize = 16;

/// A peer connection with `candidates` as its local candidates; returns it
/// with the candidates it accepted (as given, without its ICE credentials)
/// and their lines.
pub(super) fn rtc_with(now: Instant, config: &WebRtcConfig, candidates: Vec<Candidate>) -> (Rtc, Vec<Candidate>, Vec<String>) {
    let mut rtc = new_rtc(now, config);
    let (mut accepted, mut lines) = (Vec::new(), Vec::new());
    for c in candidates {
        if let Some(added) = rtc.add_local_candidate(c.clone()) {
            lines.push(added.to_sdp_string());
            accepted.push(c);
        }
    }
    (rtc, accepted, lines)
}
