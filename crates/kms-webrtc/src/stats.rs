//! RTP stream counters for getStats, from str0m's periodic stats events.

use std::time::Duration;

/// How often str0m reports stream statistics; getStats is at most this stale.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

pub use kms_media::{RtpStreamStats, StreamDirection};
use kms_media::remb::ReceivedTotals;

/// Running counts of one inbound stream (one SSRC) from the frames received:
/// payload bytes, and loss from their sequence-number ranges (RFC 3550
/// A.3: expected minus received). Packets of frames that could not be
/// completed count as lost.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboundCounts {
    first: Option<u64>,
    max: u64,
    received: u64,
    bytes: u64,
}

impl InboundCounts {
    /// A frame of `bytes` payload bytes made of the packets `first..=last`
    /// (extended sequence numbers).
    pub fn frame(&mut self, first: u64, last: u64, bytes: usize) {
        let start = *self.first.get_or_insert(first);
        if first < start {
            return; // from before the stream's first frame: not counted
        }
        self.max = self.max.max(last);
        self.received += last.saturating_sub(first) + 1;
        self.bytes += bytes as u64;
    }

    pub fn lost(&self) -> u64 {
        self.first.map_or(0, |f| (self.max - f + 1).saturating_sub(self.received))
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
}
