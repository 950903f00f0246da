//! The RTP session of a negotiated RtpEndpoint: one GStreamer island with
//! an `rtpbin` (RTP/RTCP sessions, jitter buffers, RTCP reports and
//! feedback, RFC 3550 / 4585), SDES-SRTP through `srtpenc`/`srtpdec`
//! (RFC 3711), one session per media line.
//!
//! Receiving: `udpsrc` -> [`srtpdec`] -> rtpbin -> depayloader -> appsink ->
//! [`MediaFrame`] to the router. With rtcp-mux one socket carries both and a
//! tee splits RTP from RTCP by payload type (RFC 5761 §4). Sending: router
//! frames -> appsrc -> payloader -> rtpbin -> [`srtpenc`] -> `multiudpsink`
//! on the receiving socket (symmetric RTP).
//!
//! The peer: a line with a known address only takes packets from that IP
//! (others are dropped, and reported once as an `Error` event); a COMEDIA
//! line learns where to send from the first packet (KMS learns it from the
//! same source). Feedback: a keyframe request from the router becomes an
//! upstream ForceKeyUnit into rtpbin, which sends PLI (or FIR); a PLI/FIR
//! from the peer arrives as ForceKeyUnit at the appsrc and becomes
//! [`ElementOutput::KeyframeRequest`]; a REMB from the peer becomes
//! [`ElementOutput::BitrateEstimate`]. `srtpenc`/`srtpdec` soft limits raise
//! OnKeySoftLimit; SRTP that never authenticates raises `Error`.

use super::negotiation::NegotiatedMedia;
use super::ports::BoundLine;
use super::sdes::SrtpKey;
use crate::island::{Island, Outbox, Waker};
use crate::sample::{buffer_from_frame, frame_from_sample};
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_net as gst_net;
use gst_net::gio::prelude::*;
use gst::glib;
use gst::prelude::*;
use kms_media::{Codec, ElementEvent, ElementOutput, MediaFrame, MediaType, RtpStreamStats, StreamDirection};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// rtpbin's jitter-buffer latency, ms.
const JITTER_LATENCY_MS: u32 = 100;

/// SRTP packets without one that authenticates before `Error` is raised.
const SRTP_FAILURES_REPORTED: u64 = 50;

/// Caps, payloader and depayloader chain of a codec.
struct CodecElements {
    caps: &'static str,
    pay: &'static str,
    depay: &'static str,
}

fn elements_of(codec: Codec) -> Option<CodecElements> {
    let (caps, pay, depay) = match codec {
        Codec::Opus => ("audio/x-opus,channel-mapping-family=0,channels=2,rate=48000", "rtpopuspay", "rtpopusdepay"),
        Codec::Pcmu => ("audio/x-mulaw,rate=8000,channels=1", "rtppcmupay", "rtppcmudepay"),
        Codec::Pcma => ("audio/x-alaw,rate=8000,channels=1", "rtppcmapay", "rtppcmadepay"),
        Codec::Vp8 => ("video/x-vp8", "rtpvp8pay picture-id-mode=15-bit", "rtpvp8depay request-keyframe=true"),
        Codec::Vp9 => ("video/x-vp9", "rtpvp9pay picture-id-mode=15-bit", "rtpvp9depay"),
        Codec::H264 => (
            "video/x-h264,stream-format=byte-stream,alignment=au",
            "rtph264pay config-interval=-1 aggregate-mode=zero-latency",
            "rtph264depay request-keyframe=true ! h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au",
        ),
        _ => return None,
    };
    Some(CodecElements { caps, pay, depay })
}

/// Where one outgoing stream's frames are placed on the island's timeline.
#[derive(Clone, Copy)]
struct Anchor {
    rtp_time: u64,
    clock_rate: u32,
    /// Running time (ns) of the anchoring frame.
    base_ns: u64,
}

/// The live parts of one media line.
struct Line {
    media_type: MediaType,
    codec: Option<Codec>,
    appsrc: Option<gst_app::AppSrc>,
    anchor: Option<Anchor>,
    last_pts: u64,
    /// Appsinks of the streams received on this line (keyframe requests go
    /// upstream through them).
    sinks: Arc<Mutex<Vec<gst::Element>>>,
    /// The line's rtpbin session id.
    session: u32,
    local_ssrc: u32,
    /// Keyframe requests: FIR when the peer only takes FIR.
    fir: bool,
    /// Video lines whose peer takes `goog-remb`: where our REMBs enter
    /// the line's RTCP.
    remb_src: Option<gst_app::AppSrc>,
    /// The peer's SSRC on this line, once its RTP arrived (0 before).
    remote_ssrc: Arc<AtomicU32>,
    /// The last REMB sent to the peer and received from it, bits/s.
    remb_sent: Option<u64>,
    remb_received: Arc<AtomicU64>,
}

/// A running session.
pub struct RtpSession {
    island: Island,
    rtpbin: gst::Element,
    lines: Vec<Line>,
}

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory).build().map_err(|e| format!("{factory}: {e}"))
}

fn link(a: &gst::Element, a_pad: &str, b: &gst::Element, b_pad: &str) -> Result<(), String> {
    a.link_pads(Some(a_pad), b, Some(b_pad)).map_err(|e| format!("{}.{a_pad} -> {}.{b_pad}: {e}", a.name(), b.name()))
}

/// Links two pads; the error names both.
fn link_pad(from: &gst::Pad, to: &gst::Pad) -> Result<(), String> {
    let name = |p: &gst::Pad| format!("{}.{}", p.parent().map_or_else(String::new, |e| e.name().to_string()), p.name());
    from.link(to).map(|_| ()).map_err(|e| format!("{} -> {}: {e:?}", name(from), name(to)))
}

fn request(element: &gst::Element, template: &str) -> Result<gst::Pad, String> {
    element.request_pad_simple(template).ok_or_else(|| format!("{} has no pad {template}", element.name()))
}

/// The input of a sink or funnel: its static `sink` pad or a new request pad.
fn sink_pad_of(element: &gst::Element) -> Result<gst::Pad, String> {
    element.static_pad("sink").or_else(|| element.request_pad_simple("sink_%u")).ok_or_else(|| format!("{} has no sink pad", element.name()))
}

/// The sender of a received buffer (udpsrc's `retrieve-sender-address`).
fn sender_of(buffer: &gst::BufferRef) -> Option<SocketAddr> {
    let meta = buffer.meta::<gst_net::NetAddressMeta>()?;
    let addr = meta.addr();
    let inet = addr.downcast_ref::<gst_net::gio::InetSocketAddress>()?;
    let ip: IpAddr = inet.address().to_str().parse().ok()?;
    Some(SocketAddr::new(ip, inet.port()))
}

/// RFC 5761 §4: RTCP packet types 192..=223 in the second byte.
fn is_rtcp(buffer: &gst::BufferRef) -> bool {
    let mut byte = [0u8; 1];
    buffer.copy_to_slice(1, &mut byte).is_ok() && (192..=223).contains(&byte[0])
}

/// Checks and learns the peer's address on a receiving socket.
struct PeerGate {
    media_type: MediaType,
    /// COMEDIA: the first sender becomes the destination of `sink`.
    learn: bool,
    expected: Option<IpAddr>,
    sink: gst::Element,
    learnt: AtomicBool,
    reported: AtomicBool,
    outbox: Outbox,
}

impl PeerGate {
    fn admit(&self, buffer: &gst::BufferRef) -> bool {
        let Some(from) = sender_of(buffer) else { return true };
        if self.learn {
            if !self.learnt.swap(true, Ordering::AcqRel) {
                tracing::info!(media = self.media_type.as_str(), %from, "RtpEndpoint: COMEDIA peer address learnt");
                self.sink.emit_by_name::<()>("clear", &[]);
                self.sink.emit_by_name::<()>("add", &[&from.ip().to_string(), &i32::from(from.port())]);
            }
            return true;
        }
        match self.expected {
            Some(ip) if ip != from.ip() => {
                if !self.reported.swap(true, Ordering::AcqRel) {
                    let description = format!(
                        "{} RTP from {from} dropped: the session description names {ip} (use a=direction:active for a sender whose address is not known)",
                        self.media_type.as_str()
                    );
                    self.outbox.event(ElementEvent::Error { error_type: "UNEXPECTED_RTP_SOURCE", description, code: 0 });
                }
                false
            }
            _ => true,
        }
    }

    fn install(self: Arc<Self>, pad: &gst::Pad) {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| match info.buffer() {
            Some(b) if !self.admit(b) => gst::PadProbeReturn::Drop,
            _ => gst::PadProbeReturn::Ok,
        });
    }
}

/// srtpenc/srtpdec caps fields for a key.
fn srtp_caps(key: &SrtpKey, kind: &str) -> gst::Caps {
    gst::Caps::builder(kind)
        .field("srtp-key", gst::Buffer::from_slice(key.key.clone()))
        .field("srtp-cipher", key.suite.gst_cipher())
        .field("srtp-auth", key.suite.gst_auth())
        .field("srtcp-cipher", key.suite.gst_cipher())
        .field("srtcp-auth", "hmac-sha1-80")
        .build()
}

/// The RTP caps rtpbin needs for a payload type, with the feedback the peer takes.
fn pt_caps(media: &NegotiatedMedia, pt: u8) -> Option<gst::Caps> {
    let (_, codec) = media.payloads.iter().find(|(p, _)| *p == pt)?;
    let mut caps = gst::Caps::builder("application/x-rtp")
        .field("media", if media.media_type == MediaType::Audio { "audio" } else { "video" })
        .field("payload", i32::from(pt))
        .field("clock-rate", codec.clock_rate as i32)
        .field("encoding-name", codec.encoding.to_ascii_uppercase());
    if codec.codec == Codec::Opus {
        caps = caps.field("encoding-params", "2");
    }
    if media.feedback.pli {
        caps = caps.field("rtcp-fb-nack-pli", true);
    }
    if media.feedback.fir {
        caps = caps.field("rtcp-fb-ccm-fir", true);
    }
    if media.feedback.nack {
        caps = caps.field("rtcp-fb-nack", true);
    }
    Some(caps.build())
}

/// A compound RTCP packet carrying a REMB (draft-alvestrand-rmcat-remb
/// §2.2): an empty receiver report from `sender` (RFC 3550 §6.1: compounds
/// start with a report), then the PSFB/AFB REMB of `bitrate` bits/s for
/// `media_ssrc`.
fn remb_packet(sender: u32, media_ssrc: u32, bitrate: u64) -> Vec<u8> {
    let mut exp = 0u32;
    while (bitrate >> exp) >= (1 << 18) {
        exp += 1;
    }
    let mantissa = (bitrate >> exp) as u32;
    let mut p = Vec::with_capacity(32);
    p.extend_from_slice(&[0x80, 201, 0, 1]);
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&[0x80 | 15, 206, 0, 5]);
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(b"REMB");
    p.push(1);
    p.push(((exp << 2) as u8) | ((mantissa >> 16) as u8 & 0x03));
    p.push((mantissa >> 8) as u8);
    p.push(mantissa as u8);
    p.extend_from_slice(&media_ssrc.to_be_bytes());
    p
}

/// A REMB (draft-alvestrand-rmcat-remb §2.2) in a PSFB/AFB FCI: bits/s.
fn remb_bitrate(fci: &[u8]) -> Option<u64> {
    if fci.len() < 8 || &fci[..4] != b"REMB" {
        return None;
    }
    let exp = u32::from(fci[5] >> 2);
    let mantissa = (u64::from(fci[5] & 0x03) << 16) | (u64::from(fci[6]) << 8) | u64::from(fci[7]);
    mantissa.checked_shl(exp)
}

impl RtpSession {
    /// Builds and starts the session of `lines` (negotiated, with their
    /// bound sockets). `mtu` bounds the payloaders' packets.
    pub fn start(lines: Vec<(NegotiatedMedia, BoundLine)>, mtu: u16, waker: Waker) -> Result<RtpSession, String> {
        let pipeline = gst::Pipeline::new();
        let rtpbin = make("rtpbin")?;
        rtpbin.set_property("latency", JITTER_LATENCY_MS);
        rtpbin.set_property("autoremove", true);
        // Lost packets are asked for again (NACK) where the peer takes NACK.
        rtpbin.set_property("do-retransmission", lines.iter().any(|(m, _)| m.feedback.nack));
        let secure = lines.iter().any(|(m, _)| m.srtp.is_some());
        let avpf = lines.iter().any(|(m, _)| m.avpf);
        rtpbin.set_property_from_str("rtp-profile", match (secure, avpf) {
            (false, false) => "avp",
            (false, true) => "avpf",
            (true, false) => "savp",
            (true, true) => "savpf",
        });
        pipeline.add(&rtpbin).map_err(|e| e.to_string())?;
        let island = Island::new(pipeline.clone(), waker);
        let outbox = island.outbox.clone();

        let negotiated: Arc<Vec<NegotiatedMedia>> = Arc::new(lines.iter().map(|(m, _)| m.clone()).collect());
        {
            let negotiated = negotiated.clone();
            rtpbin.connect("request-pt-map", false, move |args| {
                let session = args.get(1).and_then(|v| v.get::<u32>().ok()).unwrap_or(u32::MAX) as usize;
                let pt = args.get(2).and_then(|v| v.get::<u32>().ok()).and_then(|p| u8::try_from(p).ok());
                let caps = negotiated.get(session).zip(pt).and_then(|(m, pt)| pt_caps(m, pt));
                Some(caps.to_value())
            });
        }
        let mut live = Vec::new();
        for (session, (media, bound)) in lines.into_iter().enumerate() {
            live.push(build_line(&pipeline, &rtpbin, session as u32, &media, bound, mtu, &outbox)?);
        }
        connect_receivers(&rtpbin, &negotiated, &live, &outbox);
        connect_media_state(&rtpbin, &outbox);
        pipeline.set_state(gst::State::Playing).map_err(|e| format!("the RTP session does not start: {e}"))?;
        Ok(RtpSession { island, rtpbin, lines: live })
    }

    pub fn island(&self) -> &Island {
        &self.island
    }

    /// Sends `frame` on the line of its type, when that line sends.
    /// Returns false when nothing sends it (no such line, or another codec).
    pub fn send(&mut self, frame: &MediaFrame) -> bool {
        let running = self.island.pipeline.current_running_time().map_or(0, |t| t.nseconds());
        let Some(line) = self.lines.iter_mut().find(|l| l.media_type == frame.media_type() && l.codec == Some(frame.codec)) else { return false };
        let Some(src) = &line.appsrc else { return false };
        let anchor = *line.anchor.get_or_insert(Anchor { rtp_time: frame.rtp_time, clock_rate: frame.clock_rate.max(1), base_ns: running.max(line.last_pts) });
        let offset = frame.rtp_time.saturating_sub(anchor.rtp_time);
        let pts = anchor.base_ns + (u128::from(offset) * 1_000_000_000 / u128::from(anchor.clock_rate)) as u64;
        let pts = pts.max(line.last_pts);
        line.last_pts = pts;
        src.push_buffer(buffer_from_frame(frame, pts)).is_ok()
    }

    /// The source of `media_type` changed: its frames are re-anchored after
    /// the last one sent, so the receiver's timeline keeps going.
    pub fn source_changed(&mut self, media_type: MediaType) {
        for line in self.lines.iter_mut().filter(|l| l.media_type == media_type) {
            line.anchor = None;
        }
    }

    /// Asks the peer for a video keyframe (PLI, or FIR when it takes only FIR).
    pub fn request_keyframe(&self) {
        for line in self.lines.iter().filter(|l| l.media_type == MediaType::Video) {
            let sinks = line.sinks.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for sink in sinks {
                let event = gstreamer_video::UpstreamForceKeyUnitEvent::builder().all_headers(line.fir).build();
                sink.send_event(event);
            }
        }
    }

    /// Tells the peer how much video it may send us (REMB, on the video
    /// lines whose peer takes `goog-remb`, once its SSRC is known).
    pub fn send_remb(&mut self, bitrate: u64) {
        for line in &mut self.lines {
            let (Some(src), ssrc) = (&line.remb_src, line.remote_ssrc.load(Ordering::Relaxed)) else { continue };
            if ssrc == 0 {
                continue;
            }
            if src.push_buffer(gst::Buffer::from_mut_slice(remb_packet(line.local_ssrc, ssrc, bitrate))).is_ok() {
                line.remb_sent = Some(bitrate);
            }
        }
    }

    /// Per line: inbound streams (from the peer) and our outbound one.
    pub fn stats(&self) -> Vec<RtpStreamStats> {
        let now = Instant::now();
        let mut out = Vec::new();
        for line in &self.lines {
            let Some(session) = self.rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&line.session]) else { continue };
            let stats = session.property::<gst::Structure>("stats");
            let Ok(sources) = stats.get::<glib::ValueArray>("source-stats") else { continue };
            for s in sources.iter().filter_map(|v| v.get::<gst::Structure>().ok()) {
                let u = |f: &str| s.get::<u64>(f).ok().or_else(|| s.get::<u32>(f).ok().map(u64::from)).unwrap_or(0);
                let internal = s.get::<bool>("internal").unwrap_or(false);
                let ssrc = s.get::<u32>("ssrc").ok();
                if internal && ssrc != Some(line.local_ssrc) {
                    continue;
                }
                let (direction, packets, bytes) = if internal {
                    (StreamDirection::Outbound, u("packets-sent"), u("octets-sent"))
                } else {
                    if !s.get::<bool>("is-sender").unwrap_or(false) {
                        continue;
                    }
                    (StreamDirection::Inbound, u("packets-received"), u("octets-received"))
                };
                let (fir, pli, nack) = if internal {
                    (u("recv-fir-count"), u("recv-pli-count"), u("recv-nack-count"))
                } else {
                    (u("sent-fir-count"), u("sent-pli-count"), u("sent-nack-count"))
                };
                let clock = line.codec.map_or(90_000, crate::sample::clock_rate);
                out.push(RtpStreamStats {
                    media_type: line.media_type,
                    direction,
                    ssrc,
                    packets,
                    bytes,
                    fir_count: fir,
                    pli_count: pli,
                    nack_count: nack,
                    jitter: (!internal).then(|| u("jitter") as f64 / f64::from(clock)),
                    fraction_lost: None,
                    packets_lost: (!internal).then(|| s.get::<i32>("packets-lost").map_or(0, |l| l.max(0) as u64)),
                    remb: if internal { Some(line.remb_received.load(Ordering::Relaxed)).filter(|r| *r > 0) } else { line.remb_sent },
                    round_trip_time: None,
                    timestamp: now,
                });
            }
        }
        out
    }
}

/// A `multiudpsink` sending from `receiver`'s socket to `to` (later, for COMEDIA).
fn sender(receiver: &gst::Element, to: Option<SocketAddr>) -> Result<gst::Element, String> {
    let sink = make("multiudpsink")?;
    sink.set_property("sync", false);
    sink.set_property("async", false);
    sink.set_property("close-socket", false);
    sink.set_property_from_value("socket", &receiver.property_value("used-socket"));
    if let Some(to) = to {
        sink.emit_by_name::<()>("add", &[&to.ip().to_string(), &i32::from(to.port())]);
    }
    Ok(sink)
}

/// Builds one line's receive and send paths on rtpbin session `session`.
fn build_line(
    pipeline: &gst::Pipeline,
    rtpbin: &gst::Element,
    session: u32,
    media: &NegotiatedMedia,
    bound: BoundLine,
    mtu: u16,
    outbox: &Outbox,
) -> Result<Line, String> {
    let add = |e: &gst::Element| pipeline.add(e).map_err(|err| err.to_string());
    let kind = |plain: &'static str, secure: &'static str| if media.srtp.is_some() { secure } else { plain };
    // Sending socket(s): the receiving ones.
    let rtp_sink = sender(&bound.rtp, media.remote_rtp)?;
    add(&rtp_sink)?;
    let rtcp_sink = match &bound.rtcp {
        Some(rtcp_src) => {
            let sink = sender(rtcp_src, media.remote_rtcp)?;
            add(&sink)?;
            sink
        }
        None => {
            // rtcp-mux: RTCP leaves through the RTP socket.
            let funnel = make("funnel")?;
            add(&funnel)?;
            link(&funnel, "src", &rtp_sink, "sink")?;
            funnel
        }
    };
    let funnel_for_rtp = bound.rtcp.is_none().then(|| rtcp_sink.clone());

    // SRTP.
    let (enc, dec) = match &media.srtp {
        Some((ours, theirs)) => {
            let enc = make("srtpenc")?;
            enc.set_property("key", gst::Buffer::from_slice(ours.key.clone()));
            enc.set_property_from_str("rtp-cipher", ours.suite.gst_cipher());
            enc.set_property_from_str("rtp-auth", ours.suite.gst_auth());
            enc.set_property_from_str("rtcp-cipher", ours.suite.gst_cipher());
            enc.set_property_from_str("rtcp-auth", "hmac-sha1-80");
            let dec = make("srtpdec")?;
            let caps = srtp_caps(theirs, "application/x-srtp");
            dec.connect("request-key", false, move |_| Some(caps.to_value()));
            // soft-limit: srtpenc's returns nothing, srtpdec's a new key
            // (none: the stream goes on until the hard limit, as in KMS).
            for (element, returns_caps) in [(&enc, false), (&dec, true)] {
                let (outbox, media_type) = (outbox.clone(), media.media_type);
                element.connect("soft-limit", false, move |_| {
                    outbox.event(ElementEvent::KeySoftLimit { media_type });
                    returns_caps.then(|| None::<gst::Caps>.to_value())
                });
                add(element)?;
            }
            watch_authentication(&dec, media.media_type, outbox);
            (Some(enc), Some(dec))
        }
        None => (None, None),
    };

    // Receive path.
    let rtp_src = bound.rtp.clone();
    rtp_src.set_property("caps", gst::Caps::builder(kind("application/x-rtp", "application/x-srtp")).build());
    add(&rtp_src)?;
    let gate = |sink: &gst::Element, learn: bool| {
        Arc::new(PeerGate {
            media_type: media.media_type,
            learn,
            expected: media.remote_rtp.map(|a| a.ip()),
            sink: sink.clone(),
            learnt: AtomicBool::new(false),
            reported: AtomicBool::new(false),
            outbox: outbox.clone(),
        })
    };
    if let Some(pad) = rtp_src.static_pad("src") {
        gate(&rtp_sink, media.comedia).install(&pad);
    }
    let recv_rtp = request(rtpbin, &format!("recv_rtp_sink_{session}"))?;
    let recv_rtcp = request(rtpbin, &format!("recv_rtcp_sink_{session}"))?;
    // (element, pad) feeding rtpbin's RTP and RTCP inputs.
    let (rtp_out, rtcp_out): ((gst::Element, String), (gst::Element, String)) = match &bound.rtcp {
        Some(rtcp_src) => {
            rtcp_src.set_property("caps", gst::Caps::builder(kind("application/x-rtcp", "application/x-srtcp")).build());
            add(rtcp_src)?;
            if let Some(pad) = rtcp_src.static_pad("src") {
                gate(&rtcp_sink, media.comedia).install(&pad);
            }
            ((rtp_src.clone(), "src".into()), (rtcp_src.clone(), "src".into()))
        }
        None => {
            let tee = make("tee")?;
            let (q_rtp, q_rtcp) = (make("queue")?, make("queue")?);
            for e in [&tee, &q_rtp, &q_rtcp] {
                add(e)?;
            }
            link(&rtp_src, "src", &tee, "sink")?;
            tee.link(&q_rtp).map_err(|e| e.to_string())?;
            tee.link(&q_rtcp).map_err(|e| e.to_string())?;
            // The RTCP branch takes the socket's RTP caps (the tee asks every
            // branch) and announces RTCP caps in their place downstream.
            q_rtcp.static_pad("sink").ok_or("queue without sink")?.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, |_, info| {
                let Some(query) = info.query_mut() else { return gst::PadProbeReturn::Ok };
                match query.view_mut() {
                    gst::QueryViewMut::Caps(q) => {
                        let caps = q.filter().map_or_else(gst::Caps::new_any, |f| f.to_owned());
                        q.set_result(&caps);
                    }
                    gst::QueryViewMut::AcceptCaps(q) => q.set_result(true),
                    _ => return gst::PadProbeReturn::Ok,
                }
                gst::PadProbeReturn::Handled
            });
            let rtcp_caps = gst::Caps::builder(kind("application/x-rtcp", "application/x-srtcp")).build();
            q_rtcp.static_pad("src").ok_or("queue without src")?.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
                if matches!(info.event().map(|e| e.view()), Some(gst::EventView::Caps(_))) {
                    info.data = Some(gst::PadProbeData::Event(gst::event::Caps::new(&rtcp_caps)));
                }
                gst::PadProbeReturn::Ok
            });
            let keep = |pad: gst::Pad, rtcp: bool| {
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| match info.buffer() {
                    Some(b) if is_rtcp(b) != rtcp => gst::PadProbeReturn::Drop,
                    _ => gst::PadProbeReturn::Ok,
                });
            };
            keep(q_rtp.static_pad("sink").ok_or("queue without sink")?, false);
            keep(q_rtcp.static_pad("sink").ok_or("queue without sink")?, true);
            ((q_rtp, "src".into()), (q_rtcp, "src".into()))
        }
    };
    let link_to = |(e, pad): &(gst::Element, String), target: &gst::Pad| -> Result<(), String> {
        link_pad(&e.static_pad(pad).ok_or("missing pad")?, target)
    };
    // The muxed RTCP branch's caps are rewritten only as they flow (its caps
    // query still answers the socket's RTP caps): that link is made without
    // the caps check.
    let link_rtcp = |(e, pad): &(gst::Element, String), target: &gst::Pad| -> Result<(), String> {
        let from = e.static_pad(pad).ok_or("missing pad")?;
        match bound.rtcp {
            Some(_) => link_pad(&from, target),
            None => from.link_full(target, gst::PadLinkCheck::empty()).map(|_| ()).map_err(|err| format!("muxed RTCP: {err:?}")),
        }
    };
    match &dec {
        Some(dec) => {
            link_to(&rtp_out, &dec.static_pad("rtp_sink").ok_or("srtpdec")?)?;
            link_rtcp(&rtcp_out, &dec.static_pad("rtcp_sink").ok_or("srtpdec")?)?;
            link_to(&(dec.clone(), "rtp_src".into()), &recv_rtp)?;
            link_to(&(dec.clone(), "rtcp_src".into()), &recv_rtcp)?;
        }
        None => {
            link_to(&rtp_out, &recv_rtp)?;
            link_rtcp(&rtcp_out, &recv_rtcp)?;
        }
    }

    // Send path: RTCP always (receiver reports), RTP when this side sends.
    let mut send_rtcp = request(rtpbin, &format!("send_rtcp_src_{session}"))?;
    // Our REMBs join the session's own RTCP (before SRTCP protection).
    let remb_src = if media.media_type == MediaType::Video && media.feedback.remb {
        let mix = make("funnel")?;
        let src = gst_app::AppSrc::builder().caps(&gst::Caps::new_empty_simple("application/x-rtcp")).is_live(true).format(gst::Format::Time).build();
        add(&mix)?;
        add(src.upcast_ref())?;
        link_pad(&send_rtcp, &sink_pad_of(&mix)?)?;
        link_pad(&src.static_pad("src").ok_or("appsrc")?, &sink_pad_of(&mix)?)?;
        send_rtcp = mix.static_pad("src").ok_or("funnel")?;
        Some(src)
    } else {
        None
    };
    let rtcp_from = match &enc {
        Some(enc) => {
            link_pad(&send_rtcp, &request(enc, &format!("rtcp_sink_{session}"))?)?;
            enc.static_pad(&format!("rtcp_src_{session}")).ok_or("srtpenc rtcp_src")?
        }
        None => send_rtcp,
    };
    link_pad(&rtcp_from, &sink_pad_of(&rtcp_sink)?)?;
    let send_codec = media.payloads.first().map(|(pt, c)| (*pt, c.codec));
    let mut appsrc = None;
    if let Some((pt, codec)) = send_codec.filter(|_| media.direction.sends()) {
        let chain = elements_of(codec).ok_or("codec without payloader")?;
        let src = gst_app::AppSrc::builder()
            .caps(&chain.caps.parse::<gst::Caps>().map_err(|e| e.to_string())?)
            .format(gst::Format::Time)
            .is_live(true)
            .max_bytes(2 * 1024 * 1024)
            .leaky_type(gst_app::AppLeakyType::Downstream)
            .build();
        let pay = gst::parse::launch(chain.pay).map_err(|e| e.to_string())?;
        pay.set_property("pt", u32::from(pt));
        pay.set_property("mtu", u32::from(mtu));
        pay.set_property("ssrc", media.local_ssrc);
        add(src.upcast_ref())?;
        add(&pay)?;
        src.link(&pay).map_err(|e| e.to_string())?;
        let send_rtp = request(rtpbin, &format!("send_rtp_sink_{session}"))?;
        link_pad(&pay.static_pad("src").ok_or("payloader")?, &send_rtp)?;
        let rtp_out = rtpbin.static_pad(&format!("send_rtp_src_{session}")).ok_or("rtpbin send_rtp_src")?;
        let target = match &enc {
            Some(enc) => {
                let sink = request(enc, &format!("rtp_sink_{session}"))?;
                link_pad(&rtp_out, &sink)?;
                enc.static_pad(&format!("rtp_src_{session}")).ok_or("srtpenc rtp_src")?
            }
            None => rtp_out,
        };
        let sink_pad = sink_pad_of(funnel_for_rtp.as_ref().unwrap_or(&rtp_sink))?;
        link_pad(&target, &sink_pad)?;
        // A PLI/FIR from the peer reaches the appsrc as an upstream ForceKeyUnit.
        if let Some(pad) = src.static_pad("src") {
            let outbox = outbox.clone();
            pad.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
                if let Some(event) = info.event() {
                    if gstreamer_video::ForceKeyUnitEvent::is(event) {
                        outbox.push(ElementOutput::KeyframeRequest);
                    }
                }
                gst::PadProbeReturn::Ok
            });
        }
        appsrc = Some(src);
    }
    // The RTPSession: REMB from the peer, stats.
    let rtp_session = rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&session]);
    let remb_received = Arc::new(AtomicU64::new(0));
    if let (Some(s), MediaType::Video) = (&rtp_session, media.media_type) {
        let (outbox, received) = (outbox.clone(), remb_received.clone());
        s.connect("on-feedback-rtcp", false, move |args| {
            let packet_type = args.get(1).and_then(|v| v.get::<u32>().ok());
            let fmt = args.get(2).and_then(|v| v.get::<u32>().ok());
            // PSFB (206) with FMT 15, application layer feedback.
            if (packet_type, fmt) == (Some(206), Some(15)) {
                let fci = args.get(5).and_then(|v| v.get::<Option<gst::Buffer>>().ok()).flatten();
                if let Some(bps) = fci.and_then(|b| b.map_readable().ok().and_then(|m| remb_bitrate(m.as_slice()))) {
                    received.store(bps, Ordering::Relaxed);
                    outbox.push(ElementOutput::BitrateEstimate(bps));
                }
            }
            None
        });
    }
    Ok(Line {
        media_type: media.media_type,
        codec: send_codec.map(|(_, c)| c),
        appsrc,
        anchor: None,
        last_pts: 0,
        sinks: Arc::default(),
        session,
        local_ssrc: media.local_ssrc,
        fir: media.feedback.fir && !media.feedback.pli,
        remb_src,
        remote_ssrc: Arc::default(),
        remb_sent: None,
        remb_received,
    })
}

/// Raises `Error` once when SRTP packets arrive and none authenticates
/// (a wrong key): srtpdec drops them without a message of its own.
fn watch_authentication(dec: &gst::Element, media_type: MediaType, outbox: &Outbox) {
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false)));
    if let Some(pad) = dec.static_pad("rtp_src") {
        let counts = counts.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counts.1.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }
    if let Some(pad) = dec.static_pad("rtp_sink") {
        let outbox = outbox.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let seen = counts.0.fetch_add(1, Ordering::Relaxed) + 1;
            if seen >= SRTP_FAILURES_REPORTED && counts.1.load(Ordering::Relaxed) == 0 && !counts.2.swap(true, Ordering::AcqRel) {
                let description = format!("{seen} {} SRTP packets failed authentication: the peer's key or crypto suite does not match", media_type.as_str());
                outbox.event(ElementEvent::Error { error_type: "SRTP_AUTHENTICATION_FAILED", description, code: 0 });
            }
            gst::PadProbeReturn::Ok
        });
    }
}

/// rtpbin's received streams: each new `recv_rtp_src_<session>_<ssrc>_<pt>`
/// pad gets a depayloader and an appsink that hands frames to the router.
fn connect_receivers(rtpbin: &gst::Element, negotiated: &Arc<Vec<NegotiatedMedia>>, lines: &[Line], outbox: &Outbox) {
    let negotiated = negotiated.clone();
    let sinks: Vec<Arc<Mutex<Vec<gst::Element>>>> = lines.iter().map(|l| l.sinks.clone()).collect();
    let remote_ssrcs: Vec<Arc<AtomicU32>> = lines.iter().map(|l| l.remote_ssrc.clone()).collect();
    let outbox = outbox.clone();
    rtpbin.connect_pad_added(move |rtpbin, pad| {
        let name = pad.name();
        let Some(rest) = name.strip_prefix("recv_rtp_src_") else { return };
        let parts: Vec<u32> = rest.split('_').filter_map(|p| p.parse().ok()).collect();
        let [session, ssrc, pt] = parts[..] else { return };
        let Some(media) = negotiated.get(session as usize) else { return };
        remote_ssrcs[session as usize].store(ssrc, Ordering::Relaxed);
        let Some((_, codec)) = media.payloads.iter().find(|(p, _)| u32::from(*p) == pt) else { return };
        if let Err(e) = add_receiver(rtpbin, pad, codec.codec, &outbox, &sinks[session as usize]) {
            outbox.event(ElementEvent::Error { error_type: "STREAM_ERROR_FAILED", description: format!("cannot receive {}: {e}", codec.encoding), code: 0 });
        }
    });
}

fn add_receiver(rtpbin: &gst::Element, pad: &gst::Pad, codec: Codec, outbox: &Outbox, sinks: &Mutex<Vec<gst::Element>>) -> Result<(), String> {
    let chain = elements_of(codec).ok_or("no depayloader")?;
    let bin = gst::parse::bin_from_description(&format!("{} ! appsink name=out sync=false", chain.depay), true).map_err(|e| e.to_string())?;
    let sink = bin.by_name("out").and_then(|e| e.downcast::<gst_app::AppSink>().ok()).ok_or("no appsink")?;
    let outbox = outbox.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                if let Some(mut frame) = frame_from_sample(&sample, codec) {
                    frame.contiguous = !sample.buffer().is_some_and(|b| b.flags().contains(gst::BufferFlags::DISCONT));
                    outbox.push(ElementOutput::Media(frame));
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let pipeline = rtpbin.parent().and_then(|p| p.downcast::<gst::Bin>().ok()).ok_or("rtpbin outside a pipeline")?;
    pipeline.add(&bin).map_err(|e| e.to_string())?;
    bin.sync_state_with_parent().map_err(|e| e.to_string())?;
    link_pad(pad, &bin.static_pad("sink").ok_or("depayloader without sink")?)?;
    if codec.media_type() == MediaType::Video {
        sinks.lock().unwrap_or_else(|e| e.into_inner()).push(sink.upcast());
    }
    Ok(())
}

/// MediaStateChanged as KMS raises it: CONNECTED when the peer's RTCP
/// makes a source active, DISCONNECTED on its BYE or timeout.
fn connect_media_state(rtpbin: &gst::Element, outbox: &Outbox) {
    let connected = Arc::new(AtomicBool::new(false));
    for (signal, up) in [("on-ssrc-active", true), ("on-bye-ssrc", false), ("on-timeout", false)] {
        let (outbox, connected) = (outbox.clone(), connected.clone());
        rtpbin.connect(signal, false, move |_| {
            if connected.swap(up, Ordering::AcqRel) != up {
                outbox.event(ElementEvent::MediaState { connected: up });
            }
            None
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remb_is_read_from_its_fci() {
        // "REMB", 1 SSRC, exp 2, mantissa 250000 -> 1,000,000 bit/s.
        let mantissa: u32 = 250_000;
        let fci = [b'R', b'E', b'M', b'B', 1, (2 << 2) | ((mantissa >> 16) as u8 & 3), (mantissa >> 8) as u8, mantissa as u8, 0, 0, 0, 1];
        assert_eq!(remb_bitrate(&fci), Some(1_000_000));
        assert_eq!(remb_bitrate(b"NOPE1234"), None);
        assert_eq!(remb_bitrate(b"REMB"), None);
    }

    #[test]
    fn our_remb_is_a_compound_packet_peers_read_back() {
        let p = remb_packet(0x1111, 0x2222, 1_500_000);
        assert_eq!(p.len(), 8 + 24);
        assert_eq!(p[1], 201, "starts with a receiver report");
        assert_eq!((p[8] & 0x1f, p[9]), (15, 206), "PSFB, FMT 15");
        assert_eq!(u16::from_be_bytes([p[10], p[11]]) as usize, (24 / 4) - 1, "length in words minus one");
        assert_eq!(remb_bitrate(&p[20..]), Some(1_500_000 >> 3 << 3), "mantissa 18 bits");
        assert_eq!(&p[28..32], &0x2222u32.to_be_bytes());
        assert_eq!(remb_bitrate(&remb_packet(1, 2, 300_000)[20..]), Some(300_000 >> 1 << 1));
    }
}
