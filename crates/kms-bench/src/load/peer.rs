//! One peer of the load client (a viewer, or the publisher): a str0m peer
//! connection in RTP mode (no depacketizing, no decoding) and what it measured.
//!
//! A viewer either decrypts and authenticates every SRTP packet (str0m), or
//! counts its media from the RTP headers, which SRTP leaves in the clear
//! (RFC 3711 §3.1): sequence number, timestamp, SSRC, payload type and the
//! marker bit, and the payload size (less the authentication tag). The
//! second costs the load client a fraction of the first, so a run of a
//! thousand viewers is not bounded by the client; ICE, DTLS and RTCP still
//! go through str0m for every viewer.

use super::publish::{start_of, Source, Track, SIMULCAST_LAYERS};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::rtp::RtpWrite;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one peer measured during the measurement window.
#[derive(Debug, Clone, Default)]
pub struct PeerStats {
    /// From applying the answer to DTLS-SRTP connected (ms); `None` if never.
    pub connect_ms: Option<f64>,
    /// RTP packets delivered by str0m (decrypted and authenticated).
    pub packets: u64,
    /// Packets the sequence numbers say were sent (per SSRC: highest - lowest + 1).
    pub expected: u64,
    /// RTP payload bytes.
    pub bytes: u64,
    /// Video frames received (video packets with the marker bit).
    pub frames: u64,
    /// This viewer decrypted and authenticated its packets (otherwise it
    /// counted headers, and `srtp_dropped` and latencies are not measured).
    pub decrypted: bool,
    /// Interarrival jitter of the video stream (RFC 3550 §6.4.1), in ms.
    pub video_jitter_ms: f64,
    /// SRTP datagrams that str0m did not deliver as RTP (failed
    /// authentication or decryption, unknown SSRC, duplicates).
    pub srtp_dropped: u64,
    /// RTP packets written (a publishing peer).
    pub sent: u64,
    /// This peer publishes (it is the source, not a viewer).
    pub publishes: bool,
    /// This peer receives media (a viewer, or a call's peer).
    pub receives: bool,
    /// An audio / a video stream arrived in the window.
    pub audio: bool,
    pub video: bool,
    /// Publish-to-receive latency of each stamped video frame (µs; see
    /// `publish::stamp`): what the server adds, plus the load client's loop.
    pub latencies_us: Vec<u32>,
    /// Stamped video frames received per simulcast layer (0: the smallest,
    /// or a single stream) in the window.
    pub layer_frames: [u64; 3],
    /// The layer of the last stamped frame (decrypting viewers only).
    pub layer: Option<u8>,
    /// When frames of each layer last started to arrive (the frame after
    /// one of another layer; decrypting viewers only; kept across windows).
    pub layer_started: [Option<Instant>; 3],
}

impl std::fmt::Display for PeerStats {
    /// One line: `connect=ms packets=N expected=N loss=% kbps jitter=ms srtp_dropped=N sent=N`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let loss = if self.expected == 0 { 0.0 } else { 100.0 - self.packets as f64 * 100.0 / self.expected as f64 };
        let connect = self.connect_ms.map_or("never".to_owned(), |ms| format!("{ms:.0}ms"));
        write!(
            f,
            "connect={connect} packets={} expected={} loss={loss:.2}% bytes={} jitter={:.2}ms srtp_dropped={} sent={}",
            self.packets, self.expected, self.bytes, self.video_jitter_ms, self.srtp_dropped, self.sent
        )
    }
}

/// Sequence and jitter state of one received SSRC.
#[derive(Debug, Default)]
struct Stream {
    first_seq: Option<u64>,
    last_seq: u64,
    packets: u64,
    clock_rate: f64,
    /// (arrival in clock units - RTP time) of the previous packet.
    transit: Option<f64>,
    jitter: f64,
    video: bool,
}

pub struct Peer {
    rtc: Rtc,
    local: SocketAddr,
    /// Decrypt SRTP (see the module doc); otherwise count headers, with
    /// `video_pt` telling video from audio.
    decrypt: bool,
    video_pt: Option<u8>,
    frames: u64,
    answered_at: Instant,
    connected_at: Option<Instant>,
    streams: HashMap<u32, Stream>,
    epoch: Instant,
    bytes: u64,
    srtp_datagrams: u64,
    rtp_events: u64,
    ever_received: bool,
    latencies_us: Vec<u32>,
    layer_frames: [u64; 3],
    layer: Option<u8>,
    layer_started: [Option<Instant>; 3],
    /// A publishing peer: its offer awaiting the answer, then its source and
    /// (audio, video) send streams with their payload types and next sequence numbers.
    pending: Option<SdpPendingOffer>,
    publisher: Option<Publisher>,
    receives: bool,
    sent: u64,
    /// The next time str0m wants a timeout input.
    pub next_timeout: Instant,
}

/// What a publishing peer sends on: the audio and video mids and PTs, the
/// video layers' rids (`None`: a single stream) and the next sequence
/// number of audio then of each video layer.
struct Publisher {
    source: Source,
    mids: [Mid; 2],
    pts: [Pt; 2],
    rids: Vec<Option<Rid>>,
    seq: Vec<u64>,
}

impl Publisher {
    /// The (mid, rid, PT) a packet of `track` goes out on, and the index of
    /// its sequence counter.
    fn route(&self, track: Track) -> (Mid, Option<Rid>, Pt, usize) {
        match track {
            Track::Audio => (self.mids[0], None, self.pts[0], 0),
            Track::Video(layer) => (self.mids[1], self.rids.get(layer).copied().flatten(), self.pts[1], 1 + layer),
        }
    }
}

/// The VP8 frame bytes of an RTP payload that starts a frame (RFC 7741
/// §4.2: S set and partition 0), after the payload descriptor.
fn vp8_frame_start(payload: &[u8]) -> Option<&[u8]> {
    let first = *payload.first()?;
    if first & 0x1F != 0x10 {
        return None;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        let ext = *payload.get(1)?;
        at = 2;
        if ext & 0x80 != 0 {
            // PictureID: 7 or 15 bits (M).
            at += if *payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        at += usize::from(ext & 0x40 != 0) + usize::from(ext & 0x30 != 0);
    }
    payload.get(at..)
}

/// Is this datagram SRTP (not RTCP, STUN or DTLS)? RFC 7983 §7 for the
/// first byte, RFC 5761 §4 for telling RTP from RTCP by payload type.
fn is_srtp(data: &[u8]) -> bool {
    data.len() >= 12 && (128..=191).contains(&data[0]) && !(64..=95).contains(&(data[1] & 0x7f))
}

/// The fields of an SRTP packet's RTP header (RFC 3550 §5.1), which SRTP
/// does not encrypt, and the size of its payload.
struct ClearHeader {
    marker: bool,
    pt: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    payload_len: usize,
}

/// The SRTP authentication tag of the profile both servers negotiate with
/// this client, AEAD_AES_256_GCM: 16 bytes (AES_CM_128_HMAC_SHA1_80 would
/// append 10, so payload sizes counted from headers are then 6 bytes short).
const SRTP_TAG: usize = 16;

impl ClearHeader {
    fn parse(data: &[u8]) -> Option<ClearHeader> {
        let csrc = usize::from(data[0] & 0x0f) * 4;
        let mut len = 12 + csrc;
        if data[0] & 0x10 != 0 {
            let words = u16::from_be_bytes([*data.get(len + 2)?, *data.get(len + 3)?]);
            len += 4 + usize::from(words) * 4;
        }
        let word = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
        Some(ClearHeader {
            marker: data[1] & 0x80 != 0,
            pt: data[1] & 0x7f,
            seq: u16::from_be_bytes([data[2], data[3]]),
            timestamp: word(4),
            ssrc: word(8),
            payload_len: data.len().checked_sub(len + SRTP_TAG)?,
        })
    }
}

/// The extended sequence number of `seq` nearest to `last` (RFC 3550 A.1).
fn extend_seq(last: u64, seq: u16) -> u64 {
    let base = last & !0xffff;
    let candidates = [base.wrapping_sub(0x10000), base, base + 0x10000].map(|b| b | u64::from(seq));
    candidates.into_iter().filter(|c| *c < (1 << 48)).min_by_key(|c| c.abs_diff(last)).unwrap_or(u64::from(seq))
}

/// The payload type the offer maps to VP8 (`a=rtpmap:PT VP8/90000`).
fn vp8_payload_type(sdp: &str) -> Option<u8> {
    sdp.lines().find_map(|l| l.strip_prefix("a=rtpmap:")?.split_once(' ').filter(|(_, c)| c.starts_with("VP8/"))?.0.parse().ok())
}

impl Peer {
    fn new_rtc(now: Instant, local: SocketAddr) -> Result<Rtc, String> {
        let mut rtc = Rtc::builder().set_rtp_mode(true).clear_codecs().enable_vp8(true).enable_opus(true, false).build(now);
        rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
        Ok(rtc)
    }

    /// A peer at `local` answering `offer` (the server's SDP), decrypting
    /// its media or counting headers. Returns the peer and its answer.
    pub fn answer(now: Instant, local: SocketAddr, offer: &str, decrypt: bool) -> Result<(Peer, String), String> {
        let mut rtc = Peer::new_rtc(now, local)?;
        let video_pt = vp8_payload_type(offer);
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| format!("bad offer: {e}"))?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| format!("cannot answer: {e}"))?;
        let mut peer = Peer::with(now, local, rtc);
        (peer.decrypt, peer.video_pt) = (decrypt, video_pt);
        Ok((peer, answer.to_sdp_string()))
    }

    /// A publishing peer at `local`: offers to send audio and video, the
    /// video as three simulcast layers when `simulcast` (RFC 8853, rids of
    /// [`SIMULCAST_LAYERS`]), and to receive them when `duplex` (decrypting
    /// or counting headers). Returns the peer and its offer;
    /// [`Peer::accept_answer`] completes it.
    pub fn offer(now: Instant, local: SocketAddr, duplex: bool, decrypt: bool, simulcast: bool) -> Result<(Peer, String), String> {
        let mut rtc = Peer::new_rtc(now, local)?;
        let mut change = rtc.sdp_api();
        let direction = if duplex { Direction::SendRecv } else { Direction::SendOnly };
        let audio = change.add_media(MediaKind::Audio, direction, None, None, None);
        let layers = simulcast.then(|| {
            let mut s = Simulcast::new();
            for (rid, _) in SIMULCAST_LAYERS {
                s.add_send_layer(SimulcastLayer::new(rid));
            }
            s
        });
        let video = change.add_media(MediaKind::Video, direction, None, None, layers);
        let (offer, pending) = change.apply().ok_or("nothing to offer")?;
        let pt = |codec: Codec| rtc.codec_config().params().iter().find(|p| p.spec().codec == codec).map(|p| p.pt());
        let pts = [pt(Codec::Opus).ok_or("no Opus PT")?, pt(Codec::Vp8).ok_or("no VP8 PT")?];
        let mut peer = Peer::with(now, local, rtc);
        (peer.decrypt, peer.video_pt, peer.receives) = (decrypt, Some(*pts[1]), duplex);
        peer.pending = Some(pending);
        let start = start_of(now, local);
        let (source, rids) = if simulcast {
            (Source::simulcast(start), SIMULCAST_LAYERS.iter().map(|(rid, _)| Some(Rid::from(*rid))).collect())
        } else {
            (Source::new(start), vec![None])
        };
        let seq = vec![1; 1 + source.layer_count()];
        peer.publisher = Some(Publisher { source, mids: [audio, video], pts, rids, seq });
        Ok((peer, offer.to_sdp_string()))
    }

    /// Applies the server's answer to this peer's offer.
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), String> {
        let pending = self.pending.take().ok_or("no offer pending")?;
        let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| format!("bad answer: {e}"))?;
        self.rtc.sdp_api().accept_answer(pending, answer).map_err(|e| format!("cannot accept the answer: {e}"))?;
        self.answered_at = Instant::now();
        Ok(())
    }

    /// A publishing peer writes the packets due by `now` (once connected);
    /// true when it wrote any (str0m then has output to poll).
    pub fn publish(&mut self, now: Instant) -> bool {
        let before = self.sent;
        let (Some(p), true) = (self.publisher.as_mut(), self.connected_at.is_some()) else { return false };
        for (track, time, marker, payload) in p.source.due(now) {
            let (mid, rid, pt, counter) = p.route(track);
            let mut direct = self.rtc.direct_api();
            let Some(stream) = direct.stream_tx_by_mid(mid, rid) else { continue };
            stream.write_rtp(RtpWrite::new(pt, p.seq[counter].into(), time, now, payload).marker(marker).nackable(true));
            p.seq[counter] += 1;
            self.sent += 1;
        }
        self.sent > before
    }

    fn with(now: Instant, local: SocketAddr, rtc: Rtc) -> Peer {
        Peer {
            rtc,
            local,
            decrypt: true,
            video_pt: None,
            frames: 0,
            answered_at: now,
            connected_at: None,
            streams: HashMap::new(),
            epoch: now,
            bytes: 0,
            srtp_datagrams: 0,
            rtp_events: 0,
            ever_received: false,
            latencies_us: Vec::new(),
            layer_frames: [0; 3],
            layer: None,
            layer_started: [None; 3],
            pending: None,
            publisher: None,
            receives: true,
            sent: 0,
            next_timeout: now,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected_at.is_some()
    }

    /// Has any RTP packet arrived since the peer was created?
    pub fn is_receiving(&self) -> bool {
        self.ever_received
    }

    /// Starts the measurement window: counters from here on.
    pub fn start_window(&mut self) {
        self.streams.clear();
        self.bytes = 0;
        self.frames = 0;
        self.srtp_datagrams = 0;
        self.rtp_events = 0;
        self.sent = 0;
        self.latencies_us.clear();
        self.layer_frames = [0; 3];
    }

    /// Feeds one datagram addressed to this peer; true when str0m took it
    /// (and must be polled).
    pub fn receive(&mut self, now: Instant, source: SocketAddr, data: &[u8]) -> bool {
        if is_srtp(data) {
            self.srtp_datagrams += 1;
            if !self.decrypt {
                if let Some(h) = ClearHeader::parse(data) {
                    let video = Some(h.pt) == self.video_pt;
                    let ext_seq = self.streams.get(&h.ssrc).map_or(u64::from(h.seq), |s| extend_seq(s.last_seq, h.seq));
                    let clock_rate = if video { 90_000.0 } else { 48_000.0 };
                    self.count(now, h.ssrc, ext_seq, h.timestamp, clock_rate, h.payload_len, h.marker && video, None);
                }
                return false;
            }
        }
        let Ok(contents) = data.try_into() else { return false };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination: self.local, contents });
        let _ = self.rtc.handle_input(input);
        true
    }

    /// Drives str0m's timers.
    pub fn timeout(&mut self, now: Instant) {
        let _ = self.rtc.handle_input(Input::Timeout(now));
    }

    /// Polls str0m until it waits: datagrams go to `send`, events are counted.
    pub fn poll(&mut self, now: Instant, mut send: impl FnMut(SocketAddr, SocketAddr, &[u8])) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => send(t.source, t.destination, &t.contents),
                Ok(Output::Event(e)) => self.event(now, e),
                Err(_) => {
                    self.next_timeout = now + Duration::from_secs(3600);
                    return;
                }
            }
        }
    }

    fn event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Connected => self.connected_at = Some(now),
            Event::RtpPacket(p) => {
                let clock_rate = p.time.frequency().get() as f64;
                let frame_end = p.header.marker && clock_rate >= 90_000.0;
                self.count(now, *p.header.ssrc, *p.seq_no, p.header.timestamp, clock_rate, p.payload.len(), frame_end, Some(&p.payload));
            }
            // The server asks a simulcast publisher for a layer's keyframe.
            Event::KeyframeRequest(r) => {
                if let Some(p) = self.publisher.as_mut() {
                    let layer = p.rids.iter().position(|rid| *rid == r.rid).unwrap_or(0);
                    p.source.force_keyframe(layer);
                }
            }
            _ => {}
        }
    }

    /// Counts one RTP packet of `ssrc` (extended sequence number `seq`, RTP
    /// `timestamp` in `clock_rate` units); `payload` when decrypted, for
    /// the latency stamp.
    #[allow(clippy::too_many_arguments)]
    fn count(&mut self, now: Instant, ssrc: u32, seq: u64, timestamp: u32, clock_rate: f64, payload_len: usize, frame_end: bool, payload: Option<&[u8]>) {
        self.rtp_events += 1;
        self.ever_received = true;
        self.bytes += payload_len as u64;
        self.frames += u64::from(frame_end);
        let arrival = now.duration_since(self.epoch).as_secs_f64() * clock_rate;
        let s = self.streams.entry(ssrc).or_insert_with(|| Stream { clock_rate, video: clock_rate >= 90_000.0, ..Stream::default() });
        let in_order = s.first_seq.is_none() || seq > s.last_seq;
        s.first_seq = Some(s.first_seq.map_or(seq, |f| f.min(seq)));
        s.last_seq = s.last_seq.max(seq);
        s.packets += 1;
        if let Some(stamp) = payload.and_then(vp8_frame_start).and_then(super::publish::stamp) {
            self.latencies_us.push(now.saturating_duration_since(stamp.sent).as_micros().min(u128::from(u32::MAX)) as u32);
            let layer = usize::from(stamp.layer).min(2);
            self.layer_frames[layer] += 1;
            if self.layer != Some(stamp.layer) {
                self.layer = Some(stamp.layer);
                self.layer_started[layer] = Some(now);
            }
        }
        let transit = arrival - f64::from(timestamp);
        // RFC 3550 §6.4.1 / A.8, on packets in order only (a late or
        // retransmitted one says nothing about interarrival); RTP time
        // wraps are rare within a window and skipped.
        if in_order {
            if let Some(prev) = s.transit {
                let d = (transit - prev).abs();
                if d < clock_rate {
                    s.jitter += (d - s.jitter) / 16.0;
                }
            }
            s.transit = Some(transit);
        }
    }

    /// What this peer measured since [`Peer::start_window`].
    pub fn stats(&self) -> PeerStats {
        let expected = self.streams.values().map(|s| s.first_seq.map_or(0, |f| s.last_seq - f + 1)).sum();
        let video_jitter_ms = self.streams.values().find(|s| s.video).map_or(0.0, |s| s.jitter / s.clock_rate * 1e3);
        PeerStats {
            connect_ms: self.connected_at.map(|c| c.duration_since(self.answered_at).as_secs_f64() * 1e3),
            packets: self.streams.values().map(|s| s.packets).sum(),
            expected,
            bytes: self.bytes,
            frames: self.frames,
            decrypted: self.decrypt,
            video_jitter_ms,
            srtp_dropped: if self.decrypt { self.srtp_datagrams.saturating_sub(self.rtp_events) } else { 0 },
            sent: self.sent,
            publishes: self.publisher.is_some(),
            receives: self.receives,
            audio: self.streams.values().any(|s| !s.video),
            video: self.streams.values().any(|s| s.video),
            latencies_us: self.latencies_us.clone(),
            layer_frames: self.layer_frames,
            layer: self.layer,
            layer_started: self.layer_started,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_extend_across_the_wrap_both_ways() {
        assert_eq!(extend_seq(65_535, 0), 65_536);
        assert_eq!(extend_seq(65_536, 65_535), 65_535, "a late packet from before the wrap");
        assert_eq!(extend_seq(10, 5), 5);
        assert_eq!(extend_seq(3 * 65_536 + 100, 200), 3 * 65_536 + 200);
    }

    #[test]
    fn the_clear_header_gives_seq_ssrc_marker_and_payload_size() {
        // V=2, X=1, CC=0; M=1, PT=96; seq 0x1234; ts 7; SSRC 0xaabbccdd;
        // a one-word extension; 100 bytes of payload; a 16-byte tag.
        let mut p = vec![0x90, 0x80 | 96, 0x12, 0x34, 0, 0, 0, 7, 0xaa, 0xbb, 0xcc, 0xdd, 0xbe, 0xde, 0, 1, 1, 2, 3, 4];
        p.extend(std::iter::repeat_n(9, 100 + SRTP_TAG));
        let h = ClearHeader::parse(&p).unwrap();
        assert!(h.marker);
        assert_eq!((h.pt, h.seq, h.timestamp, h.ssrc, h.payload_len), (96, 0x1234, 7, 0xaabb_ccdd, 100));
        assert!(ClearHeader::parse(&p[..20]).is_none(), "shorter than header and tag");
    }

    #[test]
    fn the_vp8_payload_type_is_read_from_the_offer() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 100 101\r\na=rtpmap:100 VP9/90000\r\na=rtpmap:101 VP8/90000\r\n";
        assert_eq!(vp8_payload_type(sdp), Some(101));
    }
}
