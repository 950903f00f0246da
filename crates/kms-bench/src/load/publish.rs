//! Synthetic media for a publishing peer: RTP at the rate of the benchmark's
//! source (1.2 Mbit/s VP8 at 30 fps with a keyframe every 2 s, Opus 64 kbit/s
//! in 20 ms packets), without an encoder. The server forwards without
//! decoding, so the bytes only need valid RTP payload headers: the VP8
//! payload descriptor and frame tag (RFC 7741 §4.2, RFC 6386 §9.1) mark
//! keyframes the way the server's keyframe detection reads them.
//!
//! Every frame carries its send time (see [`stamp`]), so that viewers of the
//! publisher measure the latency the server adds (publish to receive).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where a frame carries its send time: after the keyframe header, a marker
/// then nanoseconds since [`epoch`] (big-endian u64).
const STAMP_MAGIC: &[u8; 8] = b"KMSBENCH";
const STAMP_AT: usize = 12;

/// The load client's time origin for send stamps (publisher and viewers
/// share the process, so the same clock).
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// The send time a VP8 frame's first bytes carry, if they carry one.
pub fn stamp(frame: &[u8]) -> Option<Instant> {
    let magic = frame.get(STAMP_AT..STAMP_AT + 8)?;
    let nanos = frame.get(STAMP_AT + 8..STAMP_AT + 16)?;
    if magic != STAMP_MAGIC {
        return None;
    }
    Some(epoch() + Duration::from_nanos(u64::from_be_bytes(nanos.try_into().ok()?)))
}

/// Video frame interval (30 fps) and the keyframe interval in frames.
const FRAME: Duration = Duration::from_micros(33_333);
const KEYFRAME_EVERY: u64 = 60;
/// Bytes of a video frame at 1.15 Mbit/s and 30 fps, and per RTP packet.
const FRAME_BYTES: usize = 1_150_000 / 8 / 30;
const MAX_PAYLOAD: usize = 1100;
/// Opus: one 20 ms packet of 160 bytes (64 kbit/s).
const AUDIO_PACKET: Duration = Duration::from_millis(20);
const AUDIO_BYTES: usize = 160;

/// One RTP packet to write: (video?, RTP time at the stream's clock, marker, payload).
pub type Packet = (bool, u32, bool, Vec<u8>);

/// Paces the synthetic streams from `start`.
pub struct Source {
    start: Instant,
    frames: u64,
    audio_packets: u64,
}

impl Source {
    pub fn new(start: Instant) -> Source {
        Source { start, frames: 0, audio_packets: 0 }
    }

    /// The packets due by `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Packet> {
        let mut out = Vec::new();
        while self.start + FRAME * self.frames as u32 <= now {
            let time = (self.frames * 3000) as u32; // 90 kHz
            let key = self.frames % KEYFRAME_EVERY == 0;
            out.extend(vp8_frame(key, now).into_iter().map(|(last, p)| (true, time, last, p)));
            self.frames += 1;
        }
        while self.start + AUDIO_PACKET * self.audio_packets as u32 <= now {
            let time = (self.audio_packets * 960) as u32; // 48 kHz
            out.push((false, time, false, vec![0xfc; AUDIO_BYTES]));
            self.audio_packets += 1;
        }
        out
    }
}

/// The RTP payloads of one VP8 frame sent at `now`: (last packet of the
/// frame, payload).
fn vp8_frame(key: bool, now: Instant) -> Vec<(bool, Vec<u8>)> {
    let mut frame = vec![0x55u8; FRAME_BYTES];
    frame[STAMP_AT..STAMP_AT + 8].copy_from_slice(STAMP_MAGIC);
    let nanos = now.saturating_duration_since(epoch()).as_nanos() as u64;
    frame[STAMP_AT + 8..STAMP_AT + 16].copy_from_slice(&nanos.to_be_bytes());
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
        let video: usize = packets.iter().filter(|p| p.0).map(|p| p.3.len()).sum();
        let audio = packets.iter().filter(|p| !p.0).count();
        assert_eq!(audio, 101);
        assert!((video * 8 / 2).abs_diff(1_150_000) < 60_000, "{video} bytes in 2 s");
        let first = &packets[0].3;
        assert_eq!(&first[..2], &[0x10, 0x10], "S bit, then a keyframe tag");
        assert!(packets.iter().filter(|p| p.0 && p.2).count() == 61, "one marker per frame");
    }

    #[test]
    fn frames_carry_their_send_time() {
        let sent = epoch() + Duration::from_millis(1234);
        let frame = &vp8_frame(false, sent)[0].1[1..];
        assert_eq!(stamp(frame), Some(sent));
        assert_eq!(stamp(&[0x55; 64]), None, "a frame from a file has no stamp");
    }
}
