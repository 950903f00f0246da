//! Synthetic media for a publishing peer: RTP at the rate of the benchmark's
//! source (1.2 Mbit/s VP8 at 30 fps with a keyframe every 2 s, Opus 64 kbit/s
//! in 20 ms packets), without an encoder. The server forwards without
//! decoding, so the bytes only need valid RTP payload headers: the VP8
//! payload descriptor and frame tag (RFC 7741 §4.2, RFC 6386 §9.1) mark
//! keyframes the way the server's keyframe detection reads them.
//!
//! Every frame carries its send time and its simulcast layer (see
//! [`stamp`]), so that viewers of the publisher measure the latency the
//! server adds (publish to receive) and see which layer they get. A
//! simulcast source ([`Source::simulcast`]) sends three layers, as a browser
//! with three `sendEncodings` does, each with its own keyframes, and sends a
//! layer's keyframe early when asked ([`Source::force_keyframe`]).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where a frame carries its send time: after the keyframe header, a marker
/// then nanoseconds since [`epoch`] (big-endian u64), then its layer (a byte).
const STAMP_MAGIC: &[u8; 8] = b"KMSBENCH";
const STAMP_AT: usize = 12;
const STAMP_LEN: usize = 17;

/// The load client's time origin for send stamps (publisher and viewers
/// share the process, so the same clock).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// What a synthetic frame carries: its send time and its layer (0 for a
/// single stream; 0, 1, 2 from the smallest simulcast layer up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sent: Instant,
    pub layer: u8,
}

/// The stamp a VP8 frame's first bytes carry, if they carry one.
pub fn stamp(frame: &[u8]) -> Option<Stamp> {
    let magic = frame.get(STAMP_AT..STAMP_AT + 8)?;
    let nanos = frame.get(STAMP_AT + 8..STAMP_AT + 16)?;
    if magic != STAMP_MAGIC {
        return None;
    }
    let sent = epoch() + Duration::from_nanos(u64::from_be_bytes(nanos.try_into().ok()?));
    Some(Stamp { sent, layer: *frame.get(STAMP_AT + 16)? })
}

/// Video frame interval (30 fps) and the keyframe interval in frames.
const FRAME: Duration = Duration::from_micros(33_333);
const KEYFRAME_EVERY: u64 = 60;
/// Bytes of a video frame at 1.15 Mbit/s and 30 fps, and per RTP packet.
const FRAME_BYTES: usize = 1_150_000 / 8 / 30;
const MAX_PAYLOAD: usize = 1100;
/// A simulcast source's layers, smallest first: (rid, bytes per frame):
/// 150 kbit/s, 400 kbit/s and 1.15 Mbit/s at 30 fps (a browser's three
/// layers of a 640x360 camera at its default bitrates, roughly).
pub const SIMULCAST_LAYERS: [(&str, usize); 3] = [("q", 150_000 / 8 / 30), ("h", 400_000 / 8 / 30), ("f", FRAME_BYTES)];
/// Opus: one 20 ms packet of 160 bytes (64 kbit/s).
const AUDIO_PACKET: Duration = Duration::from_millis(20);
const AUDIO_BYTES: usize = 160;

/// What an RTP packet belongs to: audio, or the video layer (index into
/// the source's layers; 0 for a single stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Audio,
    Video(usize),
}

/// One RTP packet to write: (track, RTP time at the stream's clock, marker, payload).
pub type Packet = (Track, u32, bool, Vec<u8>);

/// One video stream of the source: bytes per frame, and whether its next
/// frame must be a keyframe.
struct Layer {
    frame_bytes: usize,
    keyframe_due: bool,
}

/// Paces the synthetic streams from `start`.
pub struct Source {
    start: Instant,
    frames: u64,
    audio_packets: u64,
    layers: Vec<Layer>,
}

/// When a publisher at `local` starts: `now` plus a phase within one frame
/// interval taken from its address, so that many publishers of one run
/// (calls) send their frames spread over the interval as independent
/// browsers do, not all in the same instant (a burst of every publisher's
/// frame at once that no real set of cameras produces).
pub fn start_of(now: Instant, local: std::net::SocketAddr) -> Instant {
    let key = match local.ip() {
        std::net::IpAddr::V4(ip) => u32::from(ip) as u64,
        std::net::IpAddr::V6(ip) => u128::from(ip) as u64,
    } ^ u64::from(local.port()) << 32;
    // A multiplicative hash spreads consecutive addresses over the interval.
    let spread = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    now + FRAME * (spread % 1000) as u32 / 1000
}

impl Source {
    /// One video stream (1.15 Mbit/s) and audio.
    pub fn new(start: Instant) -> Source {
        Source::with_layers(start, &[FRAME_BYTES])
    }

    /// Three simulcast layers ([`SIMULCAST_LAYERS`]) and audio.
    pub fn simulcast(start: Instant) -> Source {
        Source::with_layers(start, &SIMULCAST_LAYERS.map(|(_, bytes)| bytes))
    }

    fn with_layers(start: Instant, frame_bytes: &[usize]) -> Source {
        let layers = frame_bytes.iter().map(|&frame_bytes| Layer { frame_bytes, keyframe_due: false }).collect();
        Source { start, frames: 0, audio_packets: 0, layers }
    }

    /// The video layers it sends.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// Layer `layer`'s next frame is a keyframe (a PLI or FIR asked for one).
    pub fn force_keyframe(&mut self, layer: usize) {
        if let Some(l) = self.layers.get_mut(layer) {
            l.keyframe_due = true;
        }
    }

    /// The packets due by `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Packet> {
        let mut out = Vec::new();
        while self.start + FRAME * self.frames as u32 <= now {
            let time = (self.frames * 3000) as u32; // 90 kHz
            let periodic = self.frames.is_multiple_of(KEYFRAME_EVERY);
            for (i, layer) in self.layers.iter_mut().enumerate() {
                let key = periodic || std::mem::take(&mut layer.keyframe_due);
                let stamp = Stamp { sent: now, layer: i as u8 };
                out.extend(vp8_frame(key, layer.frame_bytes, stamp).into_iter().map(|(last, p)| (Track::Video(i), time, last, p)));
            }
            self.frames += 1;
        }
        while self.start + AUDIO_PACKET * self.audio_packets as u32 <= now {
            let time = (self.audio_packets * 960) as u32; // 48 kHz
            out.push((Track::Audio, time, false, vec![0xfc; AUDIO_BYTES]));
            self.audio_packets += 1;
        }
        out
    }
}

/// The RTP payloads of one VP8 frame of `bytes` (at least the stamp's end)
/// carrying `stamp`: (last packet of the frame, payload).
fn vp8_frame(key: bool, bytes: usize, stamp: Stamp) -> Vec<(bool, Vec<u8>)> {
    let mut frame = vec![0x55u8; bytes.max(STAMP_AT + STAMP_LEN)];
    frame[STAMP_AT..STAMP_AT + 8].copy_from_slice(STAMP_MAGIC);
    let nanos = stamp.sent.saturating_duration_since(epoch()).as_nanos() as u64;
    frame[STAMP_AT + 8..STAMP_AT + 16].copy_from_slice(&nanos.to_be_bytes());
    frame[STAMP_AT + 16] = stamp.layer;
    // Frame tag: P bit 0 for a keyframe, show_frame 1; a keyframe then has
    // its start code and a 640x360 picture size.
    frame[0] = if key { 0x10 } else { 0x11 };
    if key {
        frame[3..10].copy_from_slice(&[0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
    }
    let chunks: Vec<&[u8]> = frame.chunks(MAX_PAYLOAD).collect();
    let count = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            // Payload descriptor: S (start of partition) on the first packet.
            let mut p = vec![if i == 0 { 0x10 } else { 0x00 }];
            p.extend_from_slice(chunk);
            (i + 1 == count, p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paces_video_and_audio_at_the_source_rate() {
        let t0 = Instant::now();
        let mut s = Source::new(t0);
        let packets = s.due(t0 + Duration::from_secs(2));
        let video: usize = packets.iter().filter(|p| p.0 == Track::Video(0)).map(|p| p.3.len()).sum();
        let audio = packets.iter().filter(|p| p.0 == Track::Audio).count();
        assert_eq!(audio, 101);
        assert!((video * 8 / 2).abs_diff(1_150_000) < 60_000, "{video} bytes in 2 s");
        let first = &packets[0].3;
        assert_eq!(&first[..2], &[0x10, 0x10], "S bit, then a keyframe tag");
        assert!(packets.iter().filter(|p| p.0 == Track::Video(0) && p.2).count() == 61, "one marker per frame");
    }

    #[test]
    fn a_simulcast_source_sends_three_layers_and_keyframes_on_request() {
        let t0 = Instant::now();
        let mut s = Source::simulcast(t0);
        let packets = s.due(t0 + Duration::from_secs(2));
        for (i, (_, bytes)) in SIMULCAST_LAYERS.iter().enumerate() {
            let sent: usize = packets.iter().filter(|p| p.0 == Track::Video(i)).map(|p| p.3.len()).sum();
            assert!(sent.abs_diff(bytes * 61) < bytes * 61 / 20, "layer {i}: {sent} bytes in 2 s");
        }
        s.force_keyframe(1);
        let next = s.due(t0 + Duration::from_millis(2040));
        let first = |layer: usize| next.iter().find(|p| p.0 == Track::Video(layer)).map(|p| p.3[1]).unwrap();
        assert_eq!((first(0), first(1), first(2)), (0x11, 0x10, 0x11), "only layer 1 starts with a keyframe");
        assert_eq!(stamp(&next.iter().find(|p| p.0 == Track::Video(2)).unwrap().3[1..]).map(|s| s.layer), Some(2));
    }

    #[test]
    fn publishers_start_spread_over_one_frame_interval() {
        let t0 = Instant::now();
        let starts: Vec<Duration> = (1..=100u8).map(|i| start_of(t0, ([127, 1, 0, i], 5000).into()) - t0).collect();
        assert!(starts.iter().all(|d| *d < FRAME));
        // Every tenth of the interval holds some of 100 consecutive addresses.
        for tenth in 0..10u32 {
            assert!(starts.iter().any(|d| *d >= FRAME * tenth / 10 && *d < FRAME * (tenth + 1) / 10), "tenth {tenth} empty: {starts:?}");
        }
    }

    #[test]
    fn frames_carry_their_send_time_and_layer() {
        let sent = epoch() + Duration::from_millis(1234);
        let frame = &vp8_frame(false, FRAME_BYTES, Stamp { sent, layer: 1 })[0].1[1..];
        assert_eq!(stamp(frame), Some(Stamp { sent, layer: 1 }));
        assert_eq!(stamp(&[0x55; 64]), None, "a frame from a file has no stamp");
    }
}
