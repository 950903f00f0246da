//! Offer/answer for plain RTP (RFC 3264), as KMS's RtpEndpoint does it:
//! one audio and one video line at most (`numAudioMedias`/`numVideoMedias`
//! = 1), each on its own RTP/RTCP port pair (or one port with rtcp-mux when
//! the offer has it), the codecs of `SdpEndpoint.conf.json` that GStreamer
//! can (de)payload, and SDES keys when the endpoint has a `crypto`.
//!
//! A line that cannot be served (another transport, no common codec, SRTP
//! without a key or a key without SRTP, a second line of a kind) is refused
//! with port 0 in the answer; the offer fails only when no line is left.

use super::sdes::{SdesError, SrtpKey};
use super::sdp::{ComediaRole, CryptoLine, Direction, MediaLine, Proto, RtpMap, SessionDescription};
use kms_media::{Codec, MediaType, SdpEndpointError};
use std::net::{IpAddr, SocketAddr};

/// A codec RtpEndpoint carries: what GStreamer payloads and depayloads here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpCodec {
    pub codec: Codec,
    /// The `rtpmap` encoding name.
    pub encoding: &'static str,
    pub clock_rate: u32,
    pub channels: Option<u8>,
    /// The payload type in our offers: static for G.711 (RFC 3551), else
    /// 96 and up in the configured order, as KMS numbers them.
    pub offer_pt: u8,
    pub fmtp: Option<&'static str>,
}

/// Every codec RtpEndpoint can carry (`offer_pt` is set per configuration).
pub const RTP_CODECS: [RtpCodec; 6] = [
    RtpCodec { codec: Codec::Opus, encoding: "opus", clock_rate: 48_000, channels: Some(2), offer_pt: 98, fmtp: None },
    RtpCodec { codec: Codec::Pcmu, encoding: "PCMU", clock_rate: 8000, channels: Some(1), offer_pt: 0, fmtp: None },
    RtpCodec { codec: Codec::Pcma, encoding: "PCMA", clock_rate: 8000, channels: Some(1), offer_pt: 8, fmtp: None },
    RtpCodec { codec: Codec::Vp9, encoding: "VP9", clock_rate: 90_000, channels: None, offer_pt: 100, fmtp: None },
    RtpCodec { codec: Codec::Vp8, encoding: "VP8", clock_rate: 90_000, channels: None, offer_pt: 101, fmtp: None },
    RtpCodec {
        codec: Codec::H264,
        encoding: "H264",
        clock_rate: 90_000,
        channels: None,
        offer_pt: 103,
        fmtp: Some("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
    },
];

/// The carried codecs named in `configured` (`SdpEndpoint.conf.json`'s
/// `name`, clock rate), in that order; names nothing here carries (AMR,
/// H.265, AV1) are left out but keep their dynamic payload type, so the
/// numbers match KMS's offers.
pub fn codecs_from_config<'a>(configured: impl IntoIterator<Item = (&'a str, u32)>) -> Vec<RtpCodec> {
    let mut out: Vec<RtpCodec> = Vec::new();
    let mut next_dynamic = 96u8;
    for (name, clock) in configured {
        let known = RTP_CODECS.iter().find(|c| c.encoding.eq_ignore_ascii_case(name) && c.clock_rate == clock);
        let is_static = known.is_some_and(|c| c.offer_pt < 96);
        let pt = if is_static { known.map_or(0, |c| c.offer_pt) } else { next_dynamic };
        if !is_static {
            next_dynamic = next_dynamic.saturating_add(1).min(127);
        }
        if let Some(c) = known.filter(|c| !out.iter().any(|o| o.codec == c.codec)) {
            out.push(RtpCodec { offer_pt: pt, ..*c });
        }
    }
    out
}

impl RtpCodec {
    fn media_type(&self) -> MediaType {
        self.codec.media_type()
    }

    fn matches(&self, map: &RtpMap) -> bool {
        self.encoding.eq_ignore_ascii_case(&map.encoding)
            && self.clock_rate == map.clock_rate
            && (self.channels.is_none() || map.channels.is_none() || self.channels == map.channels)
    }

    fn rtpmap(&self, pt: u8) -> RtpMap {
        RtpMap { pt, encoding: self.encoding.into(), clock_rate: self.clock_rate, channels: self.channels }
    }
}

/// RTCP feedback both sides agreed on for a line (RFC 4585 `rtcp-fb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Feedback {
    pub nack: bool,
    pub pli: bool,
    pub fir: bool,
    pub remb: bool,
}

/// The feedback lines KMS writes for video.
const VIDEO_FEEDBACK: [&str; 4] = ["nack", "nack pli", "ccm fir", "goog-remb"];

impl Feedback {
    fn of(values: impl Iterator<Item = impl AsRef<str>>) -> Feedback {
        let mut f = Feedback::default();
        for v in values {
            match v.as_ref() {
                "nack" => f.nack = true,
                "nack pli" => f.pli = true,
                "ccm fir" => f.fir = true,
                "goog-remb" => f.remb = true,
                _ => {}
            }
        }
        f
    }
}

/// Ports bound for one line: RTP, and RTCP unless muxed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePorts {
    pub rtp: u16,
    pub rtcp: Option<u16>,
}

/// One negotiated media line, as the RTP session is built from it.
#[derive(Debug, Clone, PartialEq)]
pub struct NegotiatedMedia {
    pub media_type: MediaType,
    /// RTP and RTCP ports (no RTCP port with rtcp-mux).
    pub ports: LinePorts,
    /// Where the peer receives RTP and RTCP; `None` until learnt (COMEDIA).
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    /// The peer's address is learnt from its first packets.
    pub comedia: bool,
    /// Payload types and their codecs, preferred first: we send the first.
    pub payloads: Vec<(u8, RtpCodec)>,
    pub feedback: Feedback,
    /// The line's profile has early feedback (AVPF).
    pub avpf: bool,
    /// What this endpoint does on the line.
    pub direction: Direction,
    /// SRTP keys: ours (sending) and the peer's (receiving).
    pub srtp: Option<(SrtpKey, SrtpKey)>,
    /// Our SSRC on the line.
    pub local_ssrc: u32,
}

/// What the endpoint brings to a negotiation.
pub struct LocalSide<'a> {
    pub address: IpAddr,
    pub codecs: &'a [RtpCodec],
    pub crypto: Option<&'a SrtpKey>,
    /// Binds a port pair for a line (`mux`: one port), or says why not.
    pub bind: &'a mut dyn FnMut(MediaType, bool) -> Result<LinePorts, String>,
    pub ssrc: &'a mut dyn FnMut() -> u32,
}

fn media_type_of(kind: &str) -> Option<MediaType> {
    match kind {
        "audio" => Some(MediaType::Audio),
        "video" => Some(MediaType::Video),
        _ => None,
    }
}

fn kind_name(t: MediaType) -> &'static str {
    if t == MediaType::Audio { "audio" } else { "video" }
}

/// The payload types of `m` whose codec is one of ours, in `m`'s order.
fn common_payloads(m: &MediaLine, media_type: MediaType, codecs: &[RtpCodec]) -> Vec<(u8, RtpCodec)> {
    m.payload_types()
        .filter_map(|pt| {
            let map = m.rtpmap(pt)?;
            codecs.iter().find(|c| c.media_type() == media_type && c.matches(&map)).map(|c| (pt, *c))
        })
        .collect()
}

/// A refused line: port 0, the offered formats (RFC 3264 §6).
fn refused(offered: &MediaLine) -> MediaLine {
    MediaLine { kind: offered.kind.clone(), port: 0, proto: offered.proto.clone(), formats: offered.formats.clone(), ..Default::default() }
}

/// The peer's RTP and RTCP addresses for a line, or `None` for COMEDIA or
/// an unspecified address (learnt from its packets).
fn remote_addresses(sd: &SessionDescription, m: &MediaLine) -> (Option<SocketAddr>, Option<SocketAddr>, bool) {
    let ip = sd.address_of(m).filter(|ip| !ip.is_unspecified());
    let comedia = m.comedia == Some(ComediaRole::Active) || ip.is_none();
    let Some(ip) = ip.filter(|_| !comedia) else { return (None, None, true) };
    let rtp = SocketAddr::new(ip, m.port);
    let rtcp = if m.rtcp_mux {
        rtp
    } else {
        match m.rtcp {
            Some((port, addr)) => SocketAddr::new(addr.unwrap_or(ip), port),
            None => SocketAddr::new(ip, m.port.saturating_add(1)),
        }
    };
    (Some(rtp), Some(rtcp), false)
}

/// The crypto line of ours for a line, and the key pair, when the line is SRTP.
fn srtp_for(offered: &[CryptoLine], local: &SrtpKey) -> Result<(CryptoLine, (SrtpKey, SrtpKey)), String> {
    let wanted = offered.iter().find(|c| c.suite.eq_ignore_ascii_case(local.suite.sdp_name()));
    let Some(line) = wanted else {
        let offered: Vec<&str> = offered.iter().map(|c| c.suite.as_str()).collect();
        return Err(format!("no crypto suite in common: ours is {}, offered {offered:?}", local.suite.sdp_name()));
    };
    let remote = SrtpKey::from_sdp(&line.suite, &line.key_base64).map_err(|e: SdesError| format!("the offered key: {e}"))?;
    let ours = CryptoLine { tag: line.tag, suite: local.suite.sdp_name().into(), key_base64: local.base64() };
    Ok((ours, (local.clone(), remote)))
}

/// Answers `offer`: the answer and the negotiated lines.
/// Errors: 40205 when no line can be served.
pub fn answer(offer: &SessionDescription, local: &mut LocalSide) -> Result<(SessionDescription, Vec<NegotiatedMedia>), SdpEndpointError> {
    let mut answer = SessionDescription {
        session_id: u64::from((local.ssrc)()),
        session_version: 0,
        origin: Some(local.address),
        connection: Some(local.address),
        media: Vec::new(),
    };
    let mut negotiated: Vec<NegotiatedMedia> = Vec::new();
    let mut reasons = Vec::new();
    for (index, m) in offer.media.iter().enumerate() {
        match answer_line(offer, m, local, &negotiated) {
            Ok((line, media)) => {
                answer.media.push(line);
                negotiated.push(media);
            }
            Err(reason) => {
                reasons.push(format!("m-line {index} ({}): {reason}", m.kind));
                answer.media.push(refused(m));
            }
        }
    }
    if negotiated.is_empty() {
        let why = if reasons.is_empty() { "the offer has no media".to_owned() } else { reasons.join("; ") };
        return Err(SdpEndpointError::OfferRejected(why));
    }
    for r in &reasons {
        tracing::debug!("RtpEndpoint refuses {r}");
    }
    Ok((answer, negotiated))
}

fn answer_line(offer: &SessionDescription, m: &MediaLine, local: &mut LocalSide, done: &[NegotiatedMedia]) -> Result<(MediaLine, NegotiatedMedia), String> {
    let media_type = media_type_of(&m.kind).ok_or("not audio or video")?;
    if done.iter().any(|d| d.media_type == media_type) {
        return Err(format!("only one {} line is served", m.kind));
    }
    let proto = m.proto.clone().unwrap_or(Proto::Avp);
    if matches!(proto, Proto::Other(_)) {
        return Err(format!("transport {} is not plain RTP", proto.as_str()));
    }
    if m.port == 0 && m.comedia.is_none() {
        return Err("refused by the offerer (port 0)".into());
    }
    let payloads = common_payloads(m, media_type, local.codecs);
    if payloads.is_empty() {
        return Err("no codec in common".into());
    }
    let (crypto, srtp) = match (proto.is_secure(), local.crypto) {
        (true, Some(key)) => {
            let (line, keys) = srtp_for(&m.crypto, key)?;
            (vec![line], Some(keys))
        }
        (true, None) => return Err("SRTP offered, but this endpoint has no crypto".into()),
        (false, Some(_)) => return Err("plain RTP offered, but this endpoint requires SRTP".into()),
        (false, None) => (Vec::new(), None),
    };
    let ports = (local.bind)(media_type, m.rtcp_mux)?;
    let (remote_rtp, remote_rtcp, comedia) = remote_addresses(offer, m);
    let offered_fb = payloads.first().map(|(pt, _)| Feedback::of(m.feedback(*pt))).unwrap_or_default();
    let feedback = if proto.has_feedback() || media_type == MediaType::Video { offered_fb } else { Feedback::default() };
    let direction = m.direction.reversed();
    let local_ssrc = (local.ssrc)();
    let mut line = MediaLine {
        kind: m.kind.clone(),
        port: ports.rtp,
        proto: Some(proto.clone()),
        formats: payloads.iter().map(|(pt, _)| pt.to_string()).collect(),
        rtpmaps: payloads.iter().map(|(pt, c)| c.rtpmap(*pt)).collect(),
        rtcp: ports.rtcp.map(|p| (p, None)),
        rtcp_mux: m.rtcp_mux,
        crypto,
        direction,
        comedia: (m.comedia == Some(ComediaRole::Active)).then_some(ComediaRole::Passive),
        mid: m.mid.clone(),
        ssrc: Some(local_ssrc),
        ..Default::default()
    };
    for (pt, c) in &payloads {
        // H.264: answer with the offer's parameters (profile, packetization mode).
        if let Some(fmtp) = m.fmtp(*pt).map(str::to_owned).or_else(|| c.fmtp.map(str::to_owned)) {
            line.fmtps.push((*pt, fmtp));
        }
        for fb in m.feedback(*pt).filter(|fb| VIDEO_FEEDBACK.contains(fb)) {
            if !line.rtcp_fb.iter().any(|(p, v)| *p == pt.to_string() && v == fb) {
                line.rtcp_fb.push((pt.to_string(), fb.to_owned()));
            }
        }
    }
    let media = NegotiatedMedia {
        media_type,
        ports,
        remote_rtp,
        remote_rtcp,
        comedia,
        payloads,
        feedback,
        avpf: proto.has_feedback(),
        direction,
        srtp,
        local_ssrc,
    };
    Ok((line, media))
}

/// What an offer of ours leaves pending until the answer.
#[derive(Debug, Clone)]
pub struct PendingOffer {
    pub offer: SessionDescription,
    /// Per line: its type, ports and SSRC.
    pub lines: Vec<(MediaType, LinePorts, u32)>,
}

/// generateOffer: one line per wanted media type (`receive` false makes it
/// sendonly, as OfferOptions `offerToReceive*`), each with every codec of
/// its kind, AVPF (SAVPF with a crypto) and KMS's video feedback.
pub fn offer(local: &mut LocalSide, wanted: &[(MediaType, bool)]) -> Result<PendingOffer, SdpEndpointError> {
    let secure = local.crypto.is_some();
    let mut sd =
        SessionDescription { session_id: u64::from((local.ssrc)()), session_version: 0, origin: Some(local.address), connection: Some(local.address), media: Vec::new() };
    let mut lines = Vec::new();
    for &(media_type, receive) in wanted {
        let codecs: Vec<&RtpCodec> = local.codecs.iter().filter(|c| c.media_type() == media_type).collect();
        if codecs.is_empty() {
            continue;
        }
        let ports = (local.bind)(media_type, false).map_err(SdpEndpointError::GenerateOffer)?;
        let ssrc = (local.ssrc)();
        let mut line = MediaLine {
            kind: kind_name(media_type).into(),
            port: ports.rtp,
            proto: Some(Proto::of(secure, true)),
            formats: codecs.iter().map(|c| c.offer_pt.to_string()).collect(),
            rtpmaps: codecs.iter().map(|c| c.rtpmap(c.offer_pt)).collect(),
            rtcp: ports.rtcp.map(|p| (p, None)),
            direction: if receive { Direction::SendRecv } else { Direction::SendOnly },
            ssrc: Some(ssrc),
            ..Default::default()
        };
        for c in &codecs {
            if let Some(f) = c.fmtp {
                line.fmtps.push((c.offer_pt, f.into()));
            }
            if media_type == MediaType::Video {
                line.rtcp_fb.extend(VIDEO_FEEDBACK.iter().map(|fb| (c.offer_pt.to_string(), (*fb).to_owned())));
            }
        }
        if let Some(key) = local.crypto {
            line.crypto.push(CryptoLine { tag: 1, suite: key.suite.sdp_name().into(), key_base64: key.base64() });
        }
        sd.media.push(line);
        lines.push((media_type, ports, ssrc));
    }
    if lines.is_empty() {
        return Err(SdpEndpointError::GenerateOffer("no codec configured for the wanted media".into()));
    }
    Ok(PendingOffer { offer: sd, lines })
}

/// processAnswer: the negotiated lines of our offer. Errors: 40206 when the
/// answer does not fit the offer or accepts nothing.
pub fn apply_answer(pending: &PendingOffer, answer: &SessionDescription, codecs: &[RtpCodec], crypto: Option<&SrtpKey>) -> Result<Vec<NegotiatedMedia>, SdpEndpointError> {
    let reject = |why: String| SdpEndpointError::AnswerRejected(why);
    if answer.media.len() != pending.offer.media.len() {
        return Err(reject(format!("the answer has {} media lines, the offer {}", answer.media.len(), pending.offer.media.len())));
    }
    let mut negotiated = Vec::new();
    for (index, (m, &(media_type, ports, local_ssrc))) in answer.media.iter().zip(&pending.lines).enumerate() {
        if m.port == 0 && m.comedia.is_none() {
            continue;
        }
        if media_type_of(&m.kind) != Some(media_type) {
            return Err(reject(format!("m-line {index} is {}, the offer's is {}", m.kind, kind_name(media_type))));
        }
        let payloads = common_payloads(m, media_type, codecs);
        if payloads.is_empty() {
            return Err(reject(format!("m-line {index}: no codec of the offer")));
        }
        let srtp = match crypto {
            Some(key) => Some(srtp_for(&m.crypto, key).map_err(|e| reject(format!("m-line {index}: {e}")))?.1),
            None => None,
        };
        let (remote_rtp, remote_rtcp, comedia) = remote_addresses(answer, m);
        let proto = m.proto.clone().unwrap_or(Proto::Avp);
        let feedback = Feedback::of(m.feedback(payloads[0].0));
        negotiated.push(NegotiatedMedia {
            media_type,
            ports,
            remote_rtp,
            remote_rtcp,
            comedia,
            payloads,
            feedback,
            avpf: proto.has_feedback(),
            direction: m.direction.reversed(),
            srtp,
            local_ssrc,
        });
    }
    if negotiated.is_empty() {
        return Err(reject("the answer accepts no media".into()));
    }
    Ok(negotiated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::sdes::CryptoSuite;

    fn with_local<T>(crypto: Option<&SrtpKey>, f: impl FnOnce(&mut LocalSide) -> T) -> T {
        let mut next = 40_000u16;
        let mut bind = |_: MediaType, mux: bool| {
            next += 2;
            Ok(LinePorts { rtp: next, rtcp: (!mux).then_some(next + 1) })
        };
        let mut ssrc = || 1234;
        let codecs = codecs_from_config([("opus", 48_000), ("PCMU", 8000), ("AMR", 8000), ("VP8", 90_000), ("H264", 90_000)]);
        let mut local = LocalSide { address: "127.0.0.1".parse().unwrap(), codecs: &codecs, crypto, bind: &mut bind, ssrc: &mut ssrc };
        f(&mut local)
    }

    #[test]
    fn answers_a_gstreamer_sender_and_refuses_what_it_cannot_serve() {
        let offer = SessionDescription::parse(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.9\r\nt=0 0\r\n\
             m=audio 5006 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\na=sendonly\r\n\
             m=video 5004 RTP/AVPF 96 97\r\na=rtpmap:96 H265/90000\r\na=rtpmap:97 VP8/90000\r\na=rtcp-fb:97 nack pli\r\na=rtcp-mux\r\na=sendonly\r\n\
             m=video 5008 RTP/AVP 97\r\na=rtpmap:97 VP8/90000\r\n\
             m=application 9 DTLS/SCTP 5000\r\n",
        )
        .unwrap();
        let (answer, media) = with_local(None, |l| answer(&offer, l)).unwrap();
        assert_eq!(media.len(), 2);
        let (audio, video) = (&media[0], &media[1]);
        assert_eq!(audio.remote_rtp, Some("127.0.0.9:5006".parse().unwrap()));
        assert_eq!(audio.remote_rtcp, Some("127.0.0.9:5007".parse().unwrap()));
        assert_eq!(audio.direction, Direction::RecvOnly);
        assert_eq!(video.payloads.iter().map(|(pt, c)| (*pt, c.codec)).collect::<Vec<_>>(), [(97, Codec::Vp8)]);
        assert!(video.ports.rtcp.is_none() && video.feedback.pli && !video.feedback.fir);
        assert_eq!(video.remote_rtcp, video.remote_rtp, "rtcp-mux: RTCP on the RTP port");
        let text = answer.to_string();
        assert!(text.contains("m=video 0 RTP/AVP 97\r\n") && text.contains("m=application 0 DTLS/SCTP 5000\r\n"), "{text}");
        assert!(text.contains("a=rtcp-fb:97 nack pli") && text.contains("a=recvonly") && text.contains("a=rtcp-mux"), "{text}");
    }

    #[test]
    fn refuses_an_offer_with_nothing_usable() {
        for sdp in ["v=0\r\n", "v=0\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n", "v=0\r\nm=audio 5000 UDP/TLS/RTP/SAVPF 0\r\n"] {
            let offer = SessionDescription::parse(sdp).unwrap();
            assert!(matches!(with_local(None, |l| answer(&offer, l)), Err(SdpEndpointError::OfferRejected(_))), "{sdp}");
        }
    }

    #[test]
    fn sdes_keys_are_exchanged_and_checked() {
        let ours = SrtpKey::new(CryptoSuite::Aes128CmHmacSha1_80, vec![7; 30]).unwrap();
        let theirs = SrtpKey::new(CryptoSuite::Aes128CmHmacSha1_80, vec![9; 30]).unwrap();
        let sdp = format!(
            "v=0\r\nc=IN IP4 127.0.0.1\r\nm=video 5000 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\na=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
            theirs.base64()
        );
        let offer = SessionDescription::parse(&sdp).unwrap();
        let (answer_sd, media) = with_local(Some(&ours), |l| answer(&offer, l)).unwrap();
        assert_eq!(media[0].srtp, Some((ours.clone(), theirs)));
        assert!(answer_sd.to_string().contains(&format!("a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{}", ours.base64())));
        // Plain RTP to an endpoint with a key, SRTP without one, a short key: refused.
        assert!(with_local(Some(&ours), |l| answer(&SessionDescription::parse(&sdp.replace("SAVP", "AVP")).unwrap(), l)).is_err());
        assert!(with_local(None, |l| answer(&offer, l)).is_err());
        let short = sdp.replace(&ours.base64(), "").replace("inline:", "inline:AAAA");
        assert!(with_local(Some(&ours), |l| answer(&SessionDescription::parse(&short).unwrap(), l)).is_err());
    }

    #[test]
    fn offers_and_applies_the_answer() {
        let pending = with_local(None, |l| offer(l, &[(MediaType::Audio, true), (MediaType::Video, true)])).unwrap();
        let text = pending.offer.to_string();
        // KMS's numbering: opus 96, PCMU 0, AMR 97 (not carried), VP8 98, H264 99.
        assert!(text.contains("m=audio 40002 RTP/AVPF 96 0\r\n") && text.contains("a=rtcp:40003"), "{text}");
        assert!(text.contains("m=video 40004 RTP/AVPF 98 99\r\n") && text.contains("a=rtcp-fb:98 goog-remb"), "{text}");
        let answer = SessionDescription::parse(
            "v=0\r\nc=IN IP4 127.0.0.2\r\nm=audio 0 RTP/AVPF 96\r\nm=video 6000 RTP/AVPF 98\r\na=rtpmap:98 VP8/90000\r\na=rtcp-fb:98 nack pli\r\n",
        )
        .unwrap();
        let media = apply_answer(&pending, &answer, &codecs_from_config([("VP8", 90_000), ("opus", 48_000)]), None).unwrap();
        assert_eq!(media.len(), 1);
        assert_eq!(media[0].remote_rtp, Some("127.0.0.2:6000".parse().unwrap()));
        assert_eq!(media[0].ports, LinePorts { rtp: 40004, rtcp: Some(40005) });
        let wrong = SessionDescription::parse("v=0\r\nm=audio 5000 RTP/AVP 0\r\n").unwrap();
        assert!(matches!(apply_answer(&pending, &wrong, &RTP_CODECS, None), Err(SdpEndpointError::AnswerRejected(_))));
    }
}
