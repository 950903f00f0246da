//! Per-sink media timeline across source switches.
//!
//! A sink that sends RTP keeps one outgoing stream per media type while its
//! source may be replaced (`connect` of a new source to the same sink pad).
//! The receiver must see one continuous stream: the new source's timestamps
//! are rebased to continue where the old ones stopped, and video is held back
//! until the new source sends a keyframe (a delta frame would not decode
//! against the previous source's reference frames). Sequence numbers are
//! assigned per outgoing stream by the RTP sender, so they stay gap-free.

use crate::media::{MediaFrame, MediaType};

/// The outgoing timeline of one media type at one sink.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// Added (wrapping) to the source's media time.
    offset: u64,
    /// The last media time sent, in the outgoing timeline.
    last_out: Option<u64>,
    /// A new source was connected and no frame of it was sent yet.
    switched: bool,
}

impl Timeline {
    /// A new source feeds this sink from now on.
    pub fn source_changed(&mut self) {
        self.switched = true;
    }

    /// The outgoing media time of `frame`, or `None` when the frame must be
    /// dropped (a video delta frame right after a switch). The first frame of
    /// a new source continues one frame interval (1/30 s of video, 20 ms of
    /// audio) after the last frame sent.
    pub fn map(&mut self, frame: &MediaFrame) -> Option<u64> {
        if self.switched {
            if let Some(last) = self.last_out {
                if frame.media_type() == MediaType::Video && frame.is_keyframe() == Some(false) {
                    return None;
                }
                let step = match frame.media_type() {
                    MediaType::Video => u64::from(frame.clock_rate) / 30,
                    _ => u64::from(frame.clock_rate) / 50,
                };
                self.offset = last.wrapping_add(step).wrapping_sub(frame.rtp_time);
            }
            self.switched = false;
        }
        let out = frame.rtp_time.wrapping_add(self.offset);
        self.last_out = Some(out);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Codec;
    use std::sync::Arc;
    use std::time::Instant;

    fn vp8(rtp_time: u64, key: bool) -> MediaFrame {
        let first = if key { 0x10 } else { 0x11 };
        MediaFrame::new(Codec::Vp8, 90_000, rtp_time, Instant::now(), Arc::from(&[first, 0, 0][..]))
    }

    #[test]
    fn the_first_source_keeps_its_own_times() {
        let mut t = Timeline::default();
        t.source_changed();
        assert_eq!(t.map(&vp8(1000, false)), Some(1000), "nothing to wait for on the first source");
        assert_eq!(t.map(&vp8(4000, false)), Some(4000));
    }

    #[test]
    fn a_switch_waits_for_a_keyframe_and_continues_the_timeline() {
        let mut t = Timeline::default();
        t.map(&vp8(1000, true));
        t.map(&vp8(4000, false));
        t.source_changed();
        assert_eq!(t.map(&vp8(9_000_000, false)), None, "delta frame of the new source dropped");
        assert_eq!(t.map(&vp8(9_003_000, true)), Some(7000), "keyframe continues one frame later");
        assert_eq!(t.map(&vp8(9_006_000, false)), Some(10_000), "deltas pass once switched");
    }

    #[test]
    fn rebasing_wraps_instead_of_overflowing() {
        let mut t = Timeline::default();
        t.map(&vp8(10, true));
        t.source_changed();
        assert_eq!(t.map(&vp8(u64::MAX - 5, true)), Some(3010));
        assert_eq!(t.map(&vp8(4, false)), Some(3020));
    }
}
