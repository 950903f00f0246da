//! What arrives from the peer: who may send to a line (the description's
//! address, or the first sender under COMEDIA), SRTP that never
//! authenticates, the received streams' depayloaders, and the media state
//! the peer's RTCP drives.

use super::session::{elements_of, link_pad};
use crate::island::Outbox;
use crate::sample::frame_from_sample;
use super::negotiation::NegotiatedMedia;
use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_net as gst_net;
use gst_net::gio::prelude::*;
use gst::prelude::*;
use kms_media::{Codec, ElementEvent, ElementOutput, MediaType};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// SRTP packets without one that authenticates before `Error` is raised.
const SRTP_FAILURES_REPORTED: u64 = 50;

/// The sender of a received buffer (udpsrc's `retrieve-sender-address`).
fn sender_of(buffer: &gst::BufferRef) -> Option<SocketAddr> {
    let meta = buffer.meta::<gst_net::NetAddressMeta>()?;
    let addr = meta.addr();
    let inet = addr.downcast_ref::<gst_net::gio::InetSocketAddress>()?;
    Some(SocketAddr::new(IpAddr::from(inet.address()), inet.port()))
}

/// Checks and learns the peer's address on a receiving socket.
pub(super) struct PeerGate {
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
    /// A gate for `media_type`'s socket whose answers leave through `sink`:
    /// `learn` (COMEDIA) takes the first sender as the peer, else only
    /// `expected` may send.
    pub(super) fn new(media_type: MediaType, learn: bool, expected: Option<IpAddr>, sink: &gst::Element, outbox: &Outbox) -> Arc<PeerGate> {
        Arc::new(PeerGate {
            media_type,
            learn,
            expected,
            sink: sink.clone(),
            learnt: AtomicBool::new(false),
            reported: AtomicBool::new(false),
            outbox: outbox.clone(),
        })
    }

    fn admit(&self, buffer: &gst::BufferRef) -> bool {
        // Per packet: a learnt COMEDIA peer or an open line costs nothing more.
        if (self.learn && self.learnt.load(Ordering::Relaxed)) || (!self.learn && self.expected.is_none()) {
            return true;
        }
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

    /// Drops what `admit` refuses on `pad` (a udpsrc's output).
    pub(super) fn install(self: Arc<Self>, pad: &gst::Pad) {
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| match info.buffer() {
            Some(b) if !self.admit(b) => gst::PadProbeReturn::Drop,
            _ => gst::PadProbeReturn::Ok,
        });
    }
}

/// Raises `Error` once when SRTP packets arrive and none authenticates
/// (a wrong key): srtpdec drops them without a message of its own.
pub(super) fn watch_authentication(dec: &gst::Element, media_type: MediaType, outbox: &Outbox) {
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
/// Per session: where its video appsinks are listed (keyframe requests go
/// up through them) and where the peer's SSRC is written.
pub(super) fn connect_receivers(
    rtpbin: &gst::Element,
    negotiated: &Arc<Vec<NegotiatedMedia>>,
    sinks: Vec<Arc<Mutex<Vec<gst::Element>>>>,
    remote_ssrcs: Vec<Arc<AtomicU32>>,
    outbox: &Outbox,
) {
    let negotiated = negotiated.clone();
    let outbox = outbox.clone();
    rtpbin.connect_pad_added(move |rtpbin, pad| {
        let name = pad.name();
        let Some(rest) = name.strip_prefix("recv_rtp_src_") else { return };
        let parts: Vec<u32> = rest.split('_').filter_map(|p| p.parse().ok()).collect();
        let [session, ssrc, pt] = parts[..] else { return };
        let (Some(media), Some(ssrcs), Some(sinks)) = (negotiated.get(session as usize), remote_ssrcs.get(session as usize), sinks.get(session as usize)) else {
            return;
        };
        ssrcs.store(ssrc, Ordering::Relaxed);
        let Some((_, codec)) = media.payloads.iter().find(|(p, _)| u32::from(*p) == pt) else { return };
        if let Err(e) = add_receiver(rtpbin, pad, codec.codec, &outbox, sinks) {
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
pub(super) fn connect_media_state(rtpbin: &gst::Element, outbox: &Outbox) {
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

