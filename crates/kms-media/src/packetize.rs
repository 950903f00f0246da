//! RTP payloads cut from a frame once per source, shared by every sink.
//!
//! A source's frame reaches each of its sinks by reference; a sink that sends
//! RTP (a WebRtcEndpoint) used to cut it into packets for itself, once per
//! viewer. [`RtpPayloads`] rides along with the frame and cuts it on first
//! use, so a fan-out of N viewers packetizes once and each viewer only writes
//! its own header (SSRC, sequence number, timestamp, payload type) around the
//! shared payloads. An Opus frame is its own payload (RFC 7587 §4.2: one
//! frame per packet), shared without a copy. Codecs without a packetizer
//! here (G.711, VP9, AV1, raw media) give `None` and the sink packetizes
//! them itself.

use crate::media::{Codec, MediaFrame};
use std::sync::{Arc, OnceLock};

/// BaseRtpEndpoint `mtu` (`BaseRtpEndpoint.conf.ini` `mtu`, `KMS_MTU`, or
/// `setMtu`): the largest RTP packet an endpoint sends, in bytes, header
/// included and SRTP's tag not (KMS gives it to its GStreamer payloaders,
/// whose `mtu` counts the 12-byte header and the payload). KMS's default is
/// 1,200, libwebrtc's packet size.
///
/// The packets cut here leave room for the header extensions str0m adds
/// (mid, abs-send-time, the transport-wide sequence number...), which KMS
/// adds beyond its payloaders' `mtu`: a payload is at most the MTU less
/// [`RTP_HEADER_RESERVE`], so a 1,200-byte MTU gives 1,164-byte payloads and
/// datagrams of at most 1,216 bytes with AES-GCM's 16-byte tag (2 more for
/// a retransmission's original sequence number). Values outside
/// [`Mtu::MIN`]..=[`Mtu::MAX`] are taken as the nearest bound (str0m sizes
/// its own packets between 576 and 1,500 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mtu(u16);

/// Bytes of an RTP packet beside its payload that a cut leaves room for: the
/// 12-byte fixed header (RFC 3550 §5.1) and a header-extension block of up
/// to 24 bytes (RFC 8285 §4.2: a 4-byte block header and one-byte elements).
pub const RTP_HEADER_RESERVE: usize = 12 + 24;

impl Mtu {
    /// KMS's default (`BaseRtpEndpoint.conf.ini`).
    pub const KMS_DEFAULT: Mtu = Mtu(1200);
    /// The smallest MTU acted on (bytes).
    pub const MIN: u16 = 600;
    /// The largest MTU acted on (bytes).
    pub const MAX: u16 = 1500;

    /// The MTU `bytes` asks for, within [`Mtu::MIN`]..=[`Mtu::MAX`].
    pub fn new(bytes: i64) -> Mtu {
        Mtu(bytes.clamp(i64::from(Mtu::MIN), i64::from(Mtu::MAX)) as u16)
    }

    /// The MTU in bytes.
    pub fn bytes(self) -> u16 {
        self.0
    }

    /// The largest RTP payload cut for this MTU, in bytes.
    pub fn max_payload(self) -> usize {
        usize::from(self.0) - RTP_HEADER_RESERVE
    }
}

impl Default for Mtu {
    fn default() -> Mtu {
        Mtu::KMS_DEFAULT
    }
}

/// Size of the VP8 payload descriptor written here (RFC 7741 §4.2): X, I and
/// a 15-bit PictureID (M set), so a sink can rewrite the picture id in place.
pub const VP8_DESCRIPTOR_LEN: usize = 4;

/// One frame's payloads in order; the last carries the RTP marker bit for video.
pub type Payloads = Arc<[Arc<[u8]>]>;

/// The lazily cut payloads of one frame (see the module doc). Cloning shares
/// the cache. Keyed by the frame's data and codec and the payload size, so a
/// frame built from another with `..frame.clone()` and new data or codec
/// never reads the other's payloads, and a sink with another MTU than the
/// first one's gets a cut of its own (not kept).
#[derive(Debug, Clone, Default)]
pub struct RtpPayloads(Arc<OnceLock<Cut>>);

#[derive(Debug)]
struct Cut {
    key: CutKey,
    payloads: Option<Payloads>,
}

/// The frame's data (address, length), its codec and the MTU of the cut.
type CutKey = (usize, usize, Codec, Mtu);

fn key_of(frame: &MediaFrame, mtu: Mtu) -> CutKey {
    (frame.data.as_ptr() as usize, frame.data.len(), frame.codec, mtu)
}

impl RtpPayloads {
    /// The payloads of `frame` (whose cache this is) for packets of at most
    /// `mtu`, cut on the first call; `None` for codecs cut by the sink
    /// itself (see [`packetize`]).
    pub fn get(&self, frame: &MediaFrame, mtu: Mtu) -> Option<Payloads> {
        let key = key_of(frame, mtu);
        let cut = self.0.get_or_init(|| Cut { key, payloads: packetize(frame, mtu) });
        if cut.key == key {
            cut.payloads.clone()
        } else {
            packetize(frame, mtu)
        }
    }
}

/// Cuts `frame` into RTP payloads: VP8 (RFC 7741), H.264 in Annex B
/// (RFC 6184 single NAL unit and FU-A packets) and Opus (RFC 7587 §4.2: the
/// frame itself, one packet, never split; at most 1,275 bytes by RFC 6716
/// §3.2.1). Decided by codec, never by frame, so one outgoing stream is
/// numbered by one party: `None` for the codecs left to the sink's own
/// packetizer (G.711, whose frames from GStreamer sources may exceed a
/// packet; VP9, AV1; raw media). A frame with nothing to send (empty, or
/// H.264 without a start code) gives no payloads.
pub fn packetize(frame: &MediaFrame, mtu: Mtu) -> Option<Payloads> {
    let room = mtu.max_payload();
    let payloads = match frame.codec {
        Codec::Vp8 => vp8(&frame.data, room),
        Codec::H264 => h264(&frame.data, room),
        Codec::Opus if frame.data.is_empty() => Vec::new(),
        Codec::Opus => vec![Arc::clone(&frame.data)],
        _ => return None,
    };
    Some(payloads.into())
}

/// RFC 7741 §4.2: each packet starts with X=1, S on the first, PID 0, then
/// I=1 and a 15-bit PictureID of 0 that every sink patches with its own
/// (the same four bytes in every packet but S, so one patch fits them all).
fn vp8(data: &[u8], max_payload: usize) -> Vec<Arc<[u8]>> {
    data.chunks(max_payload - VP8_DESCRIPTOR_LEN)
        .enumerate()
        .map(|(i, chunk)| {
            let first = if i == 0 { 0x10 } else { 0x00 };
            prefixed(&[0x80 | first, 0x80, 0x80, 0x00], chunk)
        })
        .collect()
}

/// One payload: a payload header (`prefix`) then `chunk`, written in place
/// in a single allocation. Building a `Vec` and converting it allocated and
/// copied every payload twice, as `Arc<[u8]>` keeps its counts in front of
/// the bytes (about 1,000 instructions per payload against 550 under
/// callgrind).
fn prefixed(prefix: &[u8], chunk: &[u8]) -> Arc<[u8]> {
    let mut payload = Arc::<[u8]>::new_uninit_slice(prefix.len() + chunk.len());
    let bytes = Arc::get_mut(&mut payload).expect("a new Arc has no other owner");
    let (head, tail) = bytes.split_at_mut(prefix.len());
    // Two plain loops, which compile to copies (one chained loop does not).
    for (slot, &b) in head.iter_mut().zip(prefix) {
        slot.write(b);
    }
    for (slot, &b) in tail.iter_mut().zip(chunk) {
        slot.write(b);
    }
    // SAFETY: `head` and `tail` split the whole slice and the loops wrote
    // every byte of both (their lengths are `prefix`'s and `chunk`'s).
    unsafe { payload.assume_init() }
}

/// NAL units of an Annex B byte stream, without their start codes.
fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts.iter().skip(1).map(|&s| s - 3).chain(std::iter::once(data.len())).collect();
    starts.into_iter().zip(ends).map(move |(s, e)| {
        // A 4-byte start code leaves its leading zero on the previous unit.
        let mut unit = &data[s..e];
        while unit.last() == Some(&0) {
            unit = &unit[..unit.len() - 1];
        }
        unit
    })
}

/// RFC 6184 §5.6 single NAL unit packets, and §5.8 FU-A for units above the
/// MTU; access unit delimiters (type 9) and filler (12) are not sent.
fn h264(data: &[u8], max_payload: usize) -> Vec<Arc<[u8]>> {
    let mut out = Vec::new();
    for nal in nal_units(data).filter(|n| !n.is_empty()) {
        let nal_type = nal[0] & 0x1f;
        if nal_type == 9 || nal_type == 12 {
            continue;
        }
        if nal.len() <= max_payload {
            out.push(Arc::from(nal));
            continue;
        }
        let indicator = (nal[0] & 0xe0) | 28;
        let chunks: Vec<&[u8]> = nal[1..].chunks(max_payload - 2).collect();
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let start = if i == 0 { 0x80 } else { 0 };
            let end = if i == last { 0x40 } else { 0 };
            out.push(prefixed(&[indicator, start | end | nal_type], chunk));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn frame(codec: Codec, data: Vec<u8>) -> MediaFrame {
        MediaFrame::new(codec, 90_000, 0, Instant::now(), data.into())
    }

    #[test]
    fn a_payload_is_its_header_then_its_chunk() {
        assert_eq!(&prefixed(&[1, 2], &[3, 4, 5])[..], &[1, 2, 3, 4, 5]);
        assert_eq!(&prefixed(&[1], &[])[..], &[1]);
        let chunk: Vec<u8> = (0..=255).cycle().take(Mtu::KMS_DEFAULT.max_payload()).collect();
        let p = prefixed(&[9; VP8_DESCRIPTOR_LEN], &chunk);
        assert_eq!(p[..VP8_DESCRIPTOR_LEN], [9; VP8_DESCRIPTOR_LEN]);
        assert_eq!(p[VP8_DESCRIPTOR_LEN..], chunk[..]);
    }

    #[test]
    fn a_frame_is_cut_once_for_every_sink() {
        let f = frame(Codec::Vp8, vec![0x10; 3000]);
        let shared = f.clone();
        let a = f.rtp.get(&f, Mtu::KMS_DEFAULT).unwrap();
        let b = shared.rtp.get(&shared, Mtu::KMS_DEFAULT).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the second sink reuses the first one's payloads");
        assert_eq!(a.len(), 3);
        assert_eq!(&a[0][..4], &[0x90, 0x80, 0x80, 0x00], "X, S, I, M with picture id 0");
        assert_eq!(a[1][0], 0x80, "S only on the first packet");
        let total: usize = a.iter().map(|p| p.len() - VP8_DESCRIPTOR_LEN).sum();
        assert_eq!(total, 3000);
        assert!(a.iter().all(|p| p.len() <= Mtu::KMS_DEFAULT.max_payload()));
    }

    #[test]
    fn the_mtu_bounds_every_payload_and_keys_the_cut() {
        let f = frame(Codec::Vp8, vec![0x10; 5000]);
        let default = f.rtp.get(&f, Mtu::KMS_DEFAULT).unwrap();
        assert_eq!(default[0].len(), 1164, "KMS's 1,200 bytes less the header and its extensions");
        assert!(default.iter().all(|p| p.len() <= 1164));
        let small = f.rtp.get(&f, Mtu::new(600)).unwrap();
        assert!(small.iter().all(|p| p.len() <= 564), "{:?}", small.iter().map(|p| p.len()).collect::<Vec<_>>());
        assert!(small.len() > default.len());
        assert!(Arc::ptr_eq(&default, &f.rtp.get(&f, Mtu::KMS_DEFAULT).unwrap()), "the first cut stays shared");
        let total: usize = small.iter().map(|p| p.len() - VP8_DESCRIPTOR_LEN).sum();
        assert_eq!(total, 5000);
        let data = [vec![0, 0, 0, 1, 0x65], vec![7; 3000]].concat();
        let h264 = packetize(&frame(Codec::H264, data), Mtu::new(700)).unwrap();
        assert!(h264.iter().all(|p| p.len() <= 664));
        assert_eq!(Mtu::new(100).bytes(), Mtu::MIN);
        assert_eq!(Mtu::new(-1).bytes(), Mtu::MIN);
        assert_eq!(Mtu::new(9000).bytes(), Mtu::MAX);
    }

    #[test]
    fn a_frame_copied_with_other_data_or_codec_is_cut_again() {
        let f = frame(Codec::Vp8, vec![0x10; 10]);
        f.rtp.get(&f, Mtu::KMS_DEFAULT).unwrap();
        let other = MediaFrame { data: Arc::from(&[0x10u8; 20][..]), ..f.clone() };
        assert_eq!(other.rtp.get(&other, Mtu::KMS_DEFAULT).unwrap()[0].len(), VP8_DESCRIPTOR_LEN + 20);
        let audio = MediaFrame { codec: Codec::Pcmu, ..f.clone() };
        assert!(audio.rtp.get(&audio, Mtu::KMS_DEFAULT).is_none(), "G.711 is left to the sink");
    }

    #[test]
    fn h264_units_go_single_or_as_fu_a() {
        let mut data = vec![0, 0, 0, 1, 0x09, 0xf0]; // AUD: not sent
        data.extend_from_slice(&[0, 0, 0, 1, 0x67, 1, 2, 0]); // SPS with a trailing zero byte
        data.extend_from_slice(&[0, 0, 1, 0x68, 3]);
        data.extend_from_slice(&[0, 0, 0, 1, 0x65]);
        data.extend(std::iter::repeat_n(7, 2500));
        let p = packetize(&frame(Codec::H264, data), Mtu::KMS_DEFAULT).unwrap();
        assert_eq!(&p[0][..], &[0x67, 1, 2]);
        assert_eq!(&p[1][..], &[0x68, 3]);
        assert_eq!(p.len(), 2 + 3, "the IDR slice in three FU-A packets");
        assert_eq!(&p[2][..2], &[0x7c, 0x85], "FU indicator (NRI 3, type 28), start bit, type 5");
        assert_eq!(p[3][1], 0x05);
        assert_eq!(p[4][1], 0x45, "end bit on the last fragment");
        let body: usize = p[2..].iter().map(|f| f.len() - 2).sum();
        assert_eq!(body, 2500);
    }

    #[test]
    fn an_opus_frame_is_its_own_payload_shared_without_a_copy() {
        let f = frame(Codec::Opus, vec![0xfc; 1275]);
        let p = f.rtp.get(&f, Mtu::KMS_DEFAULT).unwrap();
        assert_eq!(p.len(), 1, "never split, even above the MTU");
        assert!(Arc::ptr_eq(&p[0], &f.data));
    }

    #[test]
    fn codecs_are_cut_here_or_left_to_the_sink_by_codec_never_by_frame() {
        assert!(packetize(&frame(Codec::Vp9, vec![1; 10]), Mtu::KMS_DEFAULT).is_none());
        assert!(packetize(&frame(Codec::Pcmu, vec![1; 160]), Mtu::KMS_DEFAULT).is_none());
        assert!(packetize(&frame(Codec::Opus, Vec::new()), Mtu::KMS_DEFAULT).unwrap().is_empty());
        assert!(packetize(&frame(Codec::Vp8, Vec::new()), Mtu::KMS_DEFAULT).unwrap().is_empty());
        assert!(packetize(&frame(Codec::H264, vec![0x65; 100]), Mtu::KMS_DEFAULT).unwrap().is_empty(), "no start code, no NAL unit");
    }
}
