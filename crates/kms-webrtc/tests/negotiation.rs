//! What an endpoint negotiates, from the codec lists of `SdpEndpoint.conf.json`.

mod common;

use kms_media::{Datagram, Element, ElementOutput, Transport};
use kms_webrtc::{CodecList, CodecName, NatConfig, WebRtcConfig, WebRtcEndpoint};
use std::time::Instant;
use str0m::media::{Direction, MediaKind};
use str0m::Rtc;

/// A browser-like offer with str0m's default codecs plus G.711.
fn browser_offer() -> String {
    let mut builder = Rtc::builder();
    builder.codec_config().enable_pcma(true, false);
    builder.codec_config().enable_pcmu(true, false);
    let mut rtc = builder.build(Instant::now());
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    change.apply().unwrap().0.to_sdp_string()
}

fn endpoint(audio: &[&str], video: &[&str]) -> WebRtcEndpoint {
    let parse = |names: &[&str]| names.iter().map(|n| CodecName::parse(n).unwrap()).collect();
    let codecs = CodecList { audio: parse(audio), video: parse(video) };
    let config = WebRtcConfig { host_addrs: vec!["127.0.0.1:40000".parse().unwrap()], codecs, ..Default::default() };
    WebRtcEndpoint::new(Instant::now(), config)
}

/// The encoding names of the `a=rtpmap` lines, in order.
fn rtpmap_names(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|enc| enc.split('/').next().unwrap().to_owned())
        .filter(|name| name != "rtx")
        .collect()
}

#[test]
fn the_answer_has_only_the_configured_codecs() {
    let mut ep = endpoint(&["PCMA/8000"], &["VP8/90000"]);
    let answer = ep.process_offer(&browser_offer()).unwrap();
    assert_eq!(rtpmap_names(&answer), ["PCMA", "VP8"], "{answer}");
}

/// The header extension URIs of the `a=extmap` lines.
fn extmap_uris(sdp: &str) -> Vec<&str> {
    sdp.lines().filter_map(|l| l.strip_prefix("a=extmap:")).filter_map(|l| l.split_whitespace().nth(1)).collect()
}

/// Video orientation is not negotiated (KMS does not either): a sender that
/// has it leaves its frames unrotated, and nothing here carries the rotation
/// on. abs-send-time (REMB) and mid (unsignaled SSRCs) are.
#[test]
fn the_answer_refuses_video_orientation_and_keeps_abs_send_time_and_mid() {
    let offer = browser_offer();
    assert!(extmap_uris(&offer).contains(&"urn:3gpp:video-orientation"), "{offer}");
    for simulcast in [false, true] {
        let config = WebRtcConfig { host_addrs: vec!["127.0.0.1:40000".parse().unwrap()], simulcast, ..Default::default() };
        let mut ep = WebRtcEndpoint::new(Instant::now(), config);
        for sdp in [ep.process_offer(&offer).unwrap(), endpoint(&["opus/48000/2"], &["VP8/90000"]).generate_offer(true, true).unwrap()] {
            let uris = extmap_uris(&sdp);
            assert!(!uris.contains(&"urn:3gpp:video-orientation"), "simulcast {simulcast}: {sdp}");
            assert!(uris.contains(&"http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"), "{sdp}");
            assert!(uris.contains(&"urn:ietf:params:rtp-hdrext:sdes:mid"), "{sdp}");
        }
    }
}

/// The lines of the first m-section of `kind` ("audio", "video").
fn section<'a>(sdp: &'a str, kind: &str) -> Vec<&'a str> {
    let start = sdp.find(&format!("m={kind} ")).unwrap();
    sdp[start..].lines().enumerate().take_while(|(i, l)| *i == 0 || !l.starts_with("m=")).map(|(_, l)| l).collect()
}

/// maxAudioRecvBandwidth / maxVideoRecvBandwidth, as KMS's SdpEndpoint:
/// a `b=AS` line after the connection line of each m-line we receive on,
/// in answers and offers, only for the limits that are set.
#[test]
fn receive_limits_are_signalled_as_b_as_lines() {
    use kms_media::{bandwidth::Bandwidth, RecvLimits, SdpNegotiation};
    let mut answerer = endpoint(&["opus/48000/2"], &["VP8/90000"]);
    SdpNegotiation::set_bandwidth(&mut answerer, Bandwidth { recv: RecvLimits { audio_kbps: 24, video_kbps: 300 }, ..Bandwidth::default() });
    let answer = answerer.process_offer(&browser_offer()).unwrap();
    for (kind, line) in [("audio", "b=AS:24"), ("video", "b=AS:300")] {
        let lines = section(&answer, kind);
        let at = lines.iter().position(|l| *l == line).unwrap_or_else(|| panic!("{kind}: {answer}"));
        assert!(lines[1..at].iter().all(|l| l.starts_with("c=") || l.starts_with("i=")), "{kind}: {answer}");
    }
    let mut offerer = endpoint(&["opus/48000/2"], &["VP8/90000"]);
    SdpNegotiation::set_bandwidth(&mut offerer, Bandwidth { recv: RecvLimits { audio_kbps: 0, video_kbps: 200 }, ..Bandwidth::default() });
    let offer = offerer.generate_offer(true, true).unwrap();
    assert!(section(&offer, "video").contains(&"b=AS:200"), "{offer}");
    assert!(!section(&offer, "audio").iter().any(|l| l.starts_with("b=")), "audio unlimited: {offer}");
    let plain = endpoint(&["opus/48000/2"], &["VP8/90000"]).process_offer(&browser_offer()).unwrap();
    assert!(!plain.contains("b=AS"), "no limits, no lines: {plain}");
}

#[test]
fn a_generated_offer_lists_the_codecs_in_the_configured_order() {
    let mut ep = endpoint(&["PCMU/8000", "opus/48000/2"], &["H264/90000", "VP8/90000"]);
    let offer = ep.generate_offer(true, true).unwrap();
    let names = rtpmap_names(&offer);
    let first = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(first("PCMU") < first("opus") && first("H264") < first("VP8"), "{names:?}");
    assert!(!names.iter().any(|n| n == "VP9" || n == "AV1"), "{names:?}");
}

#[test]
fn an_m_line_without_a_configured_codec_is_refused_with_port_zero() {
    let mut ep = endpoint(&["PCMA/8000"], &["H264/90000"]);
    let mut builder = Rtc::builder();
    builder.codec_config().clear();
    builder.codec_config().enable_opus(true, false);
    builder.codec_config().enable_vp8(true);
    let mut rtc = builder.build(Instant::now());
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    let offer = change.apply().unwrap().0.to_sdp_string();
    let answer = ep.process_offer(&offer).unwrap();
    assert!(answer.contains("m=video 0 "), "{answer}");
    assert!(rtpmap_names(&answer).is_empty(), "{answer}");
}

#[test]
fn the_answer_keeps_the_offerers_codec_preference() {
    // KMS's shipped list puts AV1 and VP9 before VP8; a browser offering VP8
    // first gets VP8 first, as from KMS.
    let offer = browser_offer();
    let offered = rtpmap_names(&offer);
    let config = WebRtcConfig { host_addrs: vec!["127.0.0.1:40000".parse().unwrap()], ..Default::default() };
    let mut ep = WebRtcEndpoint::new(Instant::now(), config);
    let answer = ep.process_offer(&offer).unwrap();
    let answered = rtpmap_names(&answer);
    let first_video = |names: &[String]| names.iter().find(|n| ["VP8", "VP9", "AV1", "H264"].contains(&n.as_str())).cloned();
    assert_eq!(first_video(&answered), first_video(&offered), "offer {offered:?}, answer {answered:?}");
    assert_eq!(first_video(&offered).as_deref(), Some("VP8"));
}

#[test]
fn candidates_gathered_before_the_offer_survive_the_offerers_codec_order() {
    // The shipped codec list differs from the browser's order, so the peer
    // connection is set up again for the answer: the server-reflexive
    // candidate gathered before the offer arrived must still be in it.
    let server = common::SERVER.parse().unwrap();
    let stun = common::STUN_SERVER.parse().unwrap();
    let nat = NatConfig { stun_server: Some(stun), turn: None };
    let mut ep = WebRtcEndpoint::new(Instant::now(), WebRtcConfig { host_addrs: vec![server], nat, ..Default::default() });
    let now = Instant::now();
    for _ in 0..10 {
        let requests: Vec<Vec<u8>> = std::iter::from_fn(|| ep.poll_output())
            .filter_map(|out| match out {
                ElementOutput::Transmit(t) if t.destination == stun => Some(t.contents),
                _ => None,
            })
            .collect();
        for request in requests {
            let reply = common::stun_reply(server, &request);
            ep.handle_datagram(now, Datagram { transport: Transport::Udp, source: stun, destination: server, contents: &reply });
        }
        ep.handle_timeout(now);
    }
    let answer = ep.process_offer(&browser_offer()).unwrap();
    assert!(answer.contains("typ srflx") && answer.contains(common::PUBLIC_IP), "{answer}");
    assert!(answer.contains("m=video") && rtpmap_names(&answer).contains(&"VP8".to_owned()));
}

#[test]
fn lines_that_cannot_be_served_are_refused_in_place_and_the_rest_negotiated() {
    // A browser offer plus a plain-RTP line (a SIP phone's) between its lines.
    let offer = browser_offer();
    let at = offer.find("m=video").unwrap();
    let with_plain = format!("{}m=audio 5004 RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:0 PCMU/8000\r\n{}", &offer[..at], &offer[at..]);
    let answer = endpoint(&["opus/48000/2"], &["VP8/90000"]).process_offer(&with_plain).unwrap();
    let lines: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(lines.len(), 3, "{answer}");
    assert!(lines[0].starts_with("m=audio 9 UDP/TLS/RTP/SAVPF"), "{answer}");
    assert_eq!(lines[1], "m=audio 0 RTP/AVP 0");
    assert!(lines[2].starts_with("m=video 9 UDP/TLS/RTP/SAVPF"), "{answer}");
    // Nothing usable at all: 40205.
    let plain = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    assert!(matches!(endpoint(&["PCMU/8000"], &[]).process_offer(plain), Err(kms_webrtc::WebRtcError::OfferRejected(_))));
}
