//! Port pairs for plain RTP from `BaseRtpEndpoint.conf.ini`'s
//! `minPort..maxPort`: RTP on an even port, RTCP on the next one (RFC 3550
//! §11), or one port with rtcp-mux.
//!
//! A port is taken by binding the `udpsrc` that will receive on it (without
//! SO_REUSEADDR, so a port anyone holds, our WebRTC sockets included, is
//! skipped); the same socket sends, so the peer sees symmetric RTP. Searches
//! start where the last one ended, so endpoints spread over the range.

use super::negotiation::LinePorts;
use gstreamer as gst;
use gst::prelude::*;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};

/// The bound receiving elements of one media line.
pub struct BoundLine {
    pub ports: LinePorts,
    /// `udpsrc` on the RTP port, in READY (its socket bound).
    pub rtp: gst::Element,
    /// `udpsrc` on the RTCP port, unless muxed.
    pub rtcp: Option<gst::Element>,
}

/// Where the next search starts (an offset into the range).
static CURSOR: AtomicU32 = AtomicU32::new(0);

/// At most this many pairs are tried before giving up.
const MAX_TRIES: u32 = 4096;

fn bind_udpsrc(ip: IpAddr, port: u16) -> Option<gst::Element> {
    let src = gst::ElementFactory::make("udpsrc")
        .property("address", ip.to_string())
        .property("port", i32::from(port))
        .property("reuse", false)
        .property("retrieve-sender-address", true)
        .build()
        .ok()?;
    if src.set_state(gst::State::Ready).is_ok() {
        Some(src)
    } else {
        let _ = src.set_state(gst::State::Null);
        None
    }
}

/// Binds RTP (and RTCP unless `mux`) on `ip` within `min..=max`.
/// Errors: no GStreamer `udpsrc`, or no free pair in the range.
pub fn bind_line(ip: IpAddr, min: u16, max: u16, mux: bool) -> Result<BoundLine, String> {
    let first = (u32::from(min) + 1) & !1;
    let last = if mux { u32::from(max) } else { u32::from(max).saturating_sub(1) };
    if first > last {
        return Err(format!("no RTP port pair fits in {min}..{max}"));
    }
    let pairs = (last - first) / 2 + 1;
    let start = CURSOR.fetch_add(1, Ordering::Relaxed) % pairs;
    for i in 0..pairs.min(MAX_TRIES) {
        let index = (start + i) % pairs;
        let Ok(port) = u16::try_from(first + index * 2) else { continue };
        let Some(rtp) = bind_udpsrc(ip, port) else { continue };
        if mux {
            CURSOR.store(index + 1, Ordering::Relaxed);
            return Ok(BoundLine { ports: LinePorts { rtp: port, rtcp: None }, rtp, rtcp: None });
        }
        match bind_udpsrc(ip, port + 1) {
            Some(rtcp) => {
                CURSOR.store(index + 1, Ordering::Relaxed);
                return Ok(BoundLine { ports: LinePorts { rtp: port, rtcp: Some(port + 1) }, rtp, rtcp: Some(rtcp) });
            }
            None => {
                let _ = rtp.set_state(gst::State::Null);
            }
        }
    }
    Err(format!("no free RTP port pair on {ip} in {min}..{max}"))
}

impl Drop for BoundLine {
    fn drop(&mut self) {
        // Unused (never joined to a session): give the ports back.
        if self.rtp.parent().is_none() {
            let _ = self.rtp.set_state(gst::State::Null);
        }
        if let Some(rtcp) = self.rtcp.as_ref().filter(|r| r.parent().is_none()) {
            let _ = rtcp.set_state(gst::State::Null);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_odd_and_never_shared() {
        crate::init().unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = bind_line(ip, 41_000, 41_003, false).unwrap();
        assert_eq!(a.ports.rtp % 2, 0);
        assert_eq!(a.ports.rtcp, Some(a.ports.rtp + 1));
        let b = bind_line(ip, 41_000, 41_003, false).unwrap();
        assert_ne!(a.ports.rtp, b.ports.rtp);
        assert!(bind_line(ip, 41_000, 41_003, false).is_err(), "the range is full");
        drop(a);
        assert!(bind_line(ip, 41_000, 41_003, false).is_ok(), "released ports are taken again");
        let mux = bind_line(ip, 41_010, 41_010, true).unwrap();
        assert_eq!((mux.ports.rtp, mux.ports.rtcp), (41_010, None));
    }
}
