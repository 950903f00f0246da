//! RTP stream counters for getStats, from str0m's periodic stats events.

use std::time::Duration;

/// How often str0m reports stream statistics; getStats is at most this stale.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

pub use kms_media::{RtpStreamStats, StreamDirection};
use kms_media::remb::ReceivedTotals;

/// How far a stream's sequence numbers may jump before its counts start over
/// (RFC 3550 A.1 `MAX_DROPOUT`): a peer that replaced its stream on the same
/// m-line and layer, or a corrupt sequence number.
const MAX_DROPOUT: u64 = 3000;

/// Running counts of one inbound stream (an m-line and simulcast layer) from
/// the frames received: payload bytes, and loss from their sequence-number
/// ranges (RFC 3550 A.3: expected minus received). Packets of frames that
/// could not be completed count as lost. A jump of the sequence numbers
/// (another stream on the same m-line and layer) starts a new range; the
/// counts stay cumulative.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboundCounts {
    first: Option<u64>,
    max: u64,
    received: u64,
    bytes: u64,
    /// Packets lost in the ranges before the current one.
    lost_before: u64,
    /// Packets received in the current range.
    received_in_range: u64,
}

impl InboundCounts {
    /// A frame of `bytes` payload bytes made of the packets `first..=last`
    /// (extended sequence numbers).
    pub fn frame(&mut self, first: u64, last: u64, bytes: usize) {
        let jumped = self.first.is_none_or(|start| first > self.max.saturating_add(MAX_DROPOUT) || first.saturating_add(MAX_DROPOUT) < start);
        if jumped {
            self.lost_before = self.lost();
            (self.first, self.max, self.received_in_range) = (Some(first), first, 0);
        } else if self.first.is_some_and(|start| first < start) {
            return; // from before the range's first frame: not counted
        }
        let packets = last.saturating_sub(first) + 1;
        self.max = self.max.max(last);
        self.received += packets;
        self.received_in_range += packets;
        self.bytes += bytes as u64;
    }

    /// Packets lost since the stream's first frame: never received, or
    /// part of a frame that could not be completed.
    pub fn lost(&self) -> u64 {
        let in_range = self.first.map_or(0, |f| (self.max.saturating_sub(f) + 1).saturating_sub(self.received_in_range));
        self.lost_before + in_range
    }

    /// The counts as the totals REMB estimation reads.
    pub fn totals(&self) -> ReceivedTotals {
        ReceivedTotals { bytes: self.bytes, packets: self.received, lost: self.lost() }
    }
}

#[cfg(test)]
mod tests {
    use super::{InboundCounts, ReceivedTotals};

    #[test]
    fn gaps_between_frames_are_lost_packets() {
        let mut counts = InboundCounts::default();
        counts.frame(100, 102, 3000);
        counts.frame(103, 103, 500);
        assert_eq!(counts.lost(), 0);
        counts.frame(107, 108, 2000); // 104..=106 never completed a frame
        assert_eq!(counts.lost(), 3);
        assert_eq!(counts.totals(), ReceivedTotals { bytes: 5500, packets: 6, lost: 3 });
    }

    #[test]
    fn a_new_stream_on_the_same_line_starts_a_new_range() {
        let mut counts = InboundCounts::default();
        counts.frame(100, 102, 3000);
        counts.frame(105, 105, 100); // 103..=104 lost
        counts.frame(50_000, 50_001, 2000); // another stream: no 49,895 lost
        counts.frame(50_003, 50_003, 100); // 50,002 lost
        assert_eq!(counts.totals(), ReceivedTotals { bytes: 5200, packets: 7, lost: 3 });
        counts.frame(7, 7, 10); // and back far below: a new range again
        assert_eq!(counts.lost(), 3);
        let mut late = InboundCounts::default();
        late.frame(90_000, 90_000, 10); // a stream that starts high
        late.frame(90_002, 90_002, 10);
        assert_eq!(late.lost(), 1);
    }
}
