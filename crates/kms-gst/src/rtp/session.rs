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
use super::inbound::{connect_media_state, connect_receivers, watch_authentication, PeerGate};
use super::rtcp::{is_rtcp, remb_bitrate, remb_packet};
use super::sdes::SrtpKey;
use crate::island::{Island, Outbox, Waker};
use crate::sample::buffer_from_frame;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_net as gst_net;
use gst_net::gio::prelude::*;
use gst::glib;
use gst::prelude::*;
use kms_media::{Codec, ElementEvent, ElementOutput, MediaFrame, MediaType, RtpStreamStats, StreamDirection};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// rtpbin's jitter-buffer latency, ms.
const JITTER_LATENCY_MS: u32 = 100;

/// Caps, payloader and depayloader chain of a codec.
pub(super) struct CodecElements {
    caps: &'static str,
    pay: &'static str,
    /// The depayloading chain (a `gst-launch` description) up to encoded frames.
    pub(super) depay: &'static str,
}

pub(super) fn elements_of(codec: Codec) -> Option<CodecElements> {
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
pub(super) fn link_pad(from: &gst::Pad, to: &gst::Pad) -> Result<(), String> {
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
        let sinks = live.iter().map(|l| l.sinks.clone()).collect();
        let ssrcs = live.iter().map(|l| l.remote_ssrc.clone()).collect();
        connect_receivers(&rtpbin, &negotiated, sinks, ssrcs, &outbox);
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
        let pipeline = &self.island.pipeline;
        let Some(line) = self.lines.iter_mut().find(|l| l.media_type == frame.media_type() && l.codec == Some(frame.codec)) else { return false };
        let Some(src) = &line.appsrc else { return false };
        // Anchored at the island's running time once (and after a source change).
        let anchor = *line.anchor.get_or_insert_with(|| {
            let running = pipeline.current_running_time().map_or(0, |t| t.nseconds());
            Anchor { rtp_time: frame.rtp_time, clock_rate: frame.clock_rate.max(1), base_ns: running.max(line.last_pts) }
        });
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
                    simulcast_layer: None,
                    available_bitrate: None,
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

/// What building one line needs: the island, its rtpbin session, the
/// negotiated line.
struct LineCtx<'a> {
    pipeline: &'a gst::Pipeline,
    rtpbin: &'a gst::Element,
    session: u32,
    media: &'a NegotiatedMedia,
    outbox: &'a Outbox,
}

/// An element's output pad feeding the next stage.
type Output = (gst::Element, &'static str);

impl LineCtx<'_> {
    fn add(&self, e: &gst::Element) -> Result<(), String> {
        self.pipeline.add(e).map_err(|err| err.to_string())
    }

    /// The caps kind of this line: `plain` for RTP, `secure` for SRTP.
    fn kind(&self, plain: &'static str, secure: &'static str) -> &'static str {
        if self.media.srtp.is_some() { secure } else { plain }
    }

    /// srtpenc (our key) and srtpdec (the peer's key), for SRTP lines.
    fn srtp(&self) -> Result<(Option<gst::Element>, Option<gst::Element>), String> {
        let Some((ours, theirs)) = &self.media.srtp else { return Ok((None, None)) };
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
            let (outbox, media_type) = (self.outbox.clone(), self.media.media_type);
            element.connect("soft-limit", false, move |_| {
                outbox.event(ElementEvent::KeySoftLimit { media_type });
                returns_caps.then(|| None::<gst::Caps>.to_value())
            });
            self.add(element)?;
        }
        watch_authentication(&dec, self.media.media_type, self.outbox);
        Ok((Some(enc), Some(dec)))
    }

    /// The receiving sockets (gated) into rtpbin, through srtpdec.
    fn receive(&self, bound: &BoundLine, rtp_sink: &gst::Element, rtcp_sink: &gst::Element, dec: Option<&gst::Element>) -> Result<(), String> {
        let media = self.media;
        let rtp_src = bound.rtp.clone();
        rtp_src.set_property("caps", gst::Caps::builder(self.kind("application/x-rtp", "application/x-srtp")).build());
        self.add(&rtp_src)?;
        let gate = |sink: &gst::Element| PeerGate::new(media.media_type, media.comedia, media.remote_rtp.map(|a| a.ip()), sink, self.outbox);
        gate(rtp_sink).install(&rtp_src.static_pad("src").ok_or("udpsrc without src")?);
        let (rtp_out, rtcp_out): (Output, Output) = match &bound.rtcp {
            Some(rtcp_src) => {
                rtcp_src.set_property("caps", gst::Caps::builder(self.kind("application/x-rtcp", "application/x-srtcp")).build());
                self.add(rtcp_src)?;
                gate(rtcp_sink).install(&rtcp_src.static_pad("src").ok_or("udpsrc without src")?);
                ((rtp_src, "src"), (rtcp_src.clone(), "src"))
            }
            None => self.split_mux(&rtp_src)?,
        };
        let pad = |(e, name): &Output| e.static_pad(name).ok_or_else(|| format!("{} has no {name}", e.name()));
        // The muxed RTCP branch's caps are rewritten only as they flow (its
        // caps query still answers the socket's RTP caps): that link is made
        // without the caps check.
        let link_rtcp = |from: &Output, to: &gst::Pad| match bound.rtcp {
            Some(_) => link_pad(&pad(from)?, to),
            None => pad(from)?.link_full(to, gst::PadLinkCheck::empty()).map(|_| ()).map_err(|err| format!("muxed RTCP: {err:?}")),
        };
        let recv_rtp = request(self.rtpbin, &format!("recv_rtp_sink_{}", self.session))?;
        let recv_rtcp = request(self.rtpbin, &format!("recv_rtcp_sink_{}", self.session))?;
        match dec {
            Some(dec) => {
                link_pad(&pad(&rtp_out)?, &pad(&(dec.clone(), "rtp_sink"))?)?;
                link_rtcp(&rtcp_out, &pad(&(dec.clone(), "rtcp_sink"))?)?;
                link_pad(&pad(&(dec.clone(), "rtp_src"))?, &recv_rtp)?;
                link_pad(&pad(&(dec.clone(), "rtcp_src"))?, &recv_rtcp)
            }
            None => {
                link_pad(&pad(&rtp_out)?, &recv_rtp)?;
                link_rtcp(&rtcp_out, &recv_rtcp)
            }
        }
    }

    /// rtcp-mux: a tee splits the socket's packets into RTP and RTCP
    /// (RFC 5761 §4); returns the two outputs.
    fn split_mux(&self, rtp_src: &gst::Element) -> Result<(Output, Output), String> {
        let tee = make("tee")?;
        let (q_rtp, q_rtcp) = (make("queue")?, make("queue")?);
        for e in [&tee, &q_rtp, &q_rtcp] {
            self.add(e)?;
        }
        link(rtp_src, "src", &tee, "sink")?;
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
        let rtcp_caps = gst::Caps::builder(self.kind("application/x-rtcp", "application/x-srtcp")).build();
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
        Ok(((q_rtp, "src"), (q_rtcp, "src")))
    }

    /// Our RTCP (receiver reports, feedback, and REMBs from the returned
    /// appsrc on video lines whose peer takes `goog-remb`) out through srtpenc.
    fn send_rtcp(&self, enc: Option<&gst::Element>, rtcp_sink: &gst::Element) -> Result<Option<gst_app::AppSrc>, String> {
        let mut send_rtcp = request(self.rtpbin, &format!("send_rtcp_src_{}", self.session))?;
        // Our REMBs join the session's own RTCP (before SRTCP protection).
        let remb_src = if self.media.media_type == MediaType::Video && self.media.feedback.remb {
            let mix = make("funnel")?;
            let src = gst_app::AppSrc::builder().caps(&gst::Caps::new_empty_simple("application/x-rtcp")).is_live(true).format(gst::Format::Time).build();
            self.add(&mix)?;
            self.add(src.upcast_ref())?;
            link_pad(&send_rtcp, &sink_pad_of(&mix)?)?;
            link_pad(&src.static_pad("src").ok_or("appsrc")?, &sink_pad_of(&mix)?)?;
            send_rtcp = mix.static_pad("src").ok_or("funnel")?;
            Some(src)
        } else {
            None
        };
        let rtcp_from = match enc {
            Some(enc) => {
                link_pad(&send_rtcp, &request(enc, &format!("rtcp_sink_{}", self.session))?)?;
                enc.static_pad(&format!("rtcp_src_{}", self.session)).ok_or("srtpenc rtcp_src")?
            }
            None => send_rtcp,
        };
        link_pad(&rtcp_from, &sink_pad_of(rtcp_sink)?)?;
        Ok(remb_src)
    }

    /// Frames of the line's codec -> appsrc -> payloader (PT `pt`) ->
    /// rtpbin -> srtpenc -> `out`; the peer's PLI/FIR becomes a keyframe request.
    fn send_rtp(&self, pt: u8, codec: Codec, mtu: u16, enc: Option<&gst::Element>, out: &gst::Element) -> Result<gst_app::AppSrc, String> {
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
        pay.set_property("ssrc", self.media.local_ssrc);
        self.add(src.upcast_ref())?;
        self.add(&pay)?;
        src.link(&pay).map_err(|e| e.to_string())?;
        let send_rtp = request(self.rtpbin, &format!("send_rtp_sink_{}", self.session))?;
        link_pad(&pay.static_pad("src").ok_or("payloader")?, &send_rtp)?;
        let rtp_out = self.rtpbin.static_pad(&format!("send_rtp_src_{}", self.session)).ok_or("rtpbin send_rtp_src")?;
        let target = match enc {
            Some(enc) => {
                link_pad(&rtp_out, &request(enc, &format!("rtp_sink_{}", self.session))?)?;
                enc.static_pad(&format!("rtp_src_{}", self.session)).ok_or("srtpenc rtp_src")?
            }
            None => rtp_out,
        };
        link_pad(&target, &sink_pad_of(out)?)?;
        let outbox = self.outbox.clone();
        src.static_pad("src").ok_or("appsrc")?.add_probe(gst::PadProbeType::EVENT_UPSTREAM, move |_, info| {
            if info.event().is_some_and(|e| gstreamer_video::ForceKeyUnitEvent::is(e)) {
                outbox.push(ElementOutput::KeyframeRequest);
            }
            gst::PadProbeReturn::Ok
        });
        Ok(src)
    }

    /// The peer's REMBs (video lines): each becomes a bitrate estimate; the
    /// last one is kept for getStats.
    fn watch_remb(&self) -> Arc<AtomicU64> {
        let received = Arc::new(AtomicU64::new(0));
        let rtp_session = self.rtpbin.emit_by_name::<Option<glib::Object>>("get-internal-session", &[&self.session]);
        if let (Some(s), MediaType::Video) = (&rtp_session, self.media.media_type) {
            let (outbox, received) = (self.outbox.clone(), received.clone());
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
        received
    }
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
    let ctx = LineCtx { pipeline, rtpbin, session, media, outbox };
    // Sending socket(s): the receiving ones. With rtcp-mux, RTCP leaves
    // through the RTP socket, behind a funnel.
    let rtp_sink = sender(&bound.rtp, media.remote_rtp)?;
    ctx.add(&rtp_sink)?;
    let rtcp_sink = match &bound.rtcp {
        Some(rtcp_src) => sender(rtcp_src, media.remote_rtcp)?,
        None => make("funnel")?,
    };
    ctx.add(&rtcp_sink)?;
    if bound.rtcp.is_none() {
        link(&rtcp_sink, "src", &rtp_sink, "sink")?;
    }
    let rtp_out = if bound.rtcp.is_none() { &rtcp_sink } else { &rtp_sink };
    let (enc, dec) = ctx.srtp()?;
    ctx.receive(&bound, &rtp_sink, &rtcp_sink, dec.as_ref())?;
    let remb_src = ctx.send_rtcp(enc.as_ref(), &rtcp_sink)?;
    let send_codec = media.payloads.first().map(|(pt, c)| (*pt, c.codec));
    let appsrc = match send_codec.filter(|_| media.direction.sends()) {
        Some((pt, codec)) => Some(ctx.send_rtp(pt, codec, mtu, enc.as_ref(), rtp_out)?),
        None => None,
    };
    let remb_received = ctx.watch_remb();
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

