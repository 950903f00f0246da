//! Sending a source's frames to the peer as RTP.
//!
//! Per media type the endpoint keeps one outgoing stream whatever source
//! feeds it ([`Outgoing`]): the [`Timeline`] continues the RTP timestamps
//! across source switches and holds video back until the new source's
//! keyframe; the sequence numbers and VP8 picture ids are ours and continue
//! by one across switches. Frames of codecs cut once per source
//! ([`kms_media::packetize`]: VP8, H.264, Opus) are written as those shared
//! payloads with this peer's payload type, sequence number and timestamp
//! (str0m's direct API; str0m adds SSRC, mid and abs-send-time and keeps
//! video packets in its RTX cache, keyed by our sequence number, to answer
//! this peer's NACKs). Other codecs (G.711, VP9, AV1) go through str0m's
//! own packetizer for this peer; the choice is by codec, and a sink's m-line
//! sends one negotiated codec, so a stream is never numbered by both.
//!
//! Simulcast: a frame of one layer of a simulcast publisher goes out only
//! when this viewer forwards that layer (`layers`), so layers are never
//! interleaved into one stream.

use super::{outgoing_index, WebRtcEndpoint};
use kms_media::packetize::Mtu;
use kms_media::{Codec, MediaFrame, MediaType, Timeline};
use std::hash::BuildHasher;
use std::sync::Arc;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::rtp::{RtpWrite, SeqNo, Vp8Descriptor};

/// The outgoing RTP stream of one media type (see the module doc).
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) timeline: Timeline,
    /// The next sequence number written; starts at a random value below
    /// 32768 (RFC 3550 §5.1 asks for a random start; below half the range so
    /// the first packets carry no rollover), extended past 65535 (str0m
    /// tracks the rollover).
    next_seq: u64,
    /// The next VP8 PictureID (15 bits, RFC 7741 §4.2), one per frame.
    next_picture_id: u16,
}

impl Default for Outgoing {
    fn default() -> Outgoing {
        let random = std::collections::hash_map::RandomState::new().hash_one(0u8);
        Outgoing { timeline: Timeline::default(), next_seq: random & 0x7fff, next_picture_id: (random >> 16) as u16 & 0x7fff }
    }
}

impl Outgoing {
    fn take_seq(&mut self) -> SeqNo {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq.into()
    }

    fn take_picture_id(&mut self) -> u16 {
        let id = self.next_picture_id;
        self.next_picture_id = (id + 1) & 0x7fff;
        id
    }
}

/// What happened to a frame handed to [`WebRtcEndpoint::send_frame`].
pub(super) enum Sent {
    /// Written to the peer.
    Written,
    /// A delta frame of a new source: dropped until its keyframe.
    NeedsKeyframe,
    /// Not sendable now (no negotiated stream or payload type for it).
    Unsendable,
}

impl WebRtcEndpoint {
    /// BaseRtpEndpoint.setMtu: the packets of the codecs this endpoint cuts
    /// (VP8, H.264) follow from the next frame; str0m's own packetizer (VP9,
    /// AV1, G.711) keeps the MTU its peer connection was built with (at
    /// creation, or again when an offer reorders the codecs).
    pub fn set_mtu(&mut self, mtu: Mtu) {
        self.config.mtu = mtu;
    }

    /// Writes `frame` on the sending m-line `mid` with this peer's payload type `pt`.
    pub(super) fn send_frame(&mut self, mid: Mid, pt: Pt, frame: &MediaFrame) -> Sent {
        let media_type = frame.media_type();
        let Some(rate) = Frequency::new(frame.clock_rate) else { return Sent::Unsendable };
        let out = &mut self.outgoing[outgoing_index(media_type)];
        let Some(rtp_time) = out.timeline.map(frame) else { return Sent::NeedsKeyframe };
        match frame.rtp.get(frame, self.config.mtu) {
            Some(payloads) => {
                let Some(last) = payloads.len().checked_sub(1) else {
                    tracing::debug!(codec = frame.codec.as_str(), "a frame with nothing to send");
                    return Sent::Unsendable;
                };
                let mut direct = self.rtc.direct_api();
                let Some(stream) = direct.stream_tx_by_mid(mid, None) else { return Sent::Unsendable };
                let video = media_type == MediaType::Video;
                // Every packet cut here carries the same descriptor layout:
                // one patch (this viewer's picture id) per frame.
                let vp8_patch = if frame.codec == Codec::Vp8 {
                    let id = out.take_picture_id();
                    Vp8Descriptor::parse(&payloads[0]).ok().and_then(|d| d.patch().picture_id(id).build().ok())
                } else {
                    None
                };
                for (i, payload) in payloads.iter().enumerate() {
                    let mut write = RtpWrite::new(pt, out.take_seq(), rtp_time as u32, frame.network_time, Arc::clone(payload))
                        .marker(video && i == last)
                        .nackable(video);
                    if let Some(patch) = vp8_patch {
                        write = write.vp8_patch(patch);
                    }
                    stream.write_rtp(write);
                }
            }
            None => {
                let Some(writer) = self.rtc.writer(mid) else { return Sent::Unsendable };
                if let Err(e) = writer.write(pt, frame.network_time, MediaTime::new(rtp_time, rate), frame.data.clone()) {
                    tracing::debug!("write failed: {e}");
                    return Sent::Unsendable;
                }
            }
        }
        Sent::Written
    }
}

