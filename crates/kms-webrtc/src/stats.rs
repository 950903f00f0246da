//! RTP stream counters for getStats, from str0m's periodic stats events.

use std::time::Duration;

/// How often str0m reports stream statistics; getStats is at most this stale.
pub const STATS_INTERVAL: Duration = Duration::from_secs(1);

pub use kms_media::{RtpStreamStats, StreamDirection};

/// Cumulative loss of one inbound stream from the sequence-number ranges of
/// the frames received (RFC 3550 A.3: expected minus received). Packets of
/// frames that could not be completed count as lost.
#[derive(Debug, Clone, Copy, Default)]
pub struct InboundLoss {
    first: Option<u64>,
    max: u64,
    received: u64,
}

impl InboundLoss {
    /// A frame made of the packets `first..=last` (extended sequence numbers).
    pub fn frame(&mut self, first: u64, last: u64) {
        let start = *self.first.get_or_insert(first);
        if first < start {
            return; // from before the stream's first frame: not counted
        }
        self.max = self.max.max(last);
        self.received += last.saturating_sub(first) + 1;
    }

    pub fn lost(&self) -> u64 {
        self.first.map_or(0, |f| (self.max - f + 1).saturating_sub(self.received))
    }
}

#[cfg(test)]
mod tests {
    use super::InboundLoss;

    #[test]
    fn gaps_between_frames_are_lost_packets() {
        let mut loss = InboundLoss::default();
        loss.frame(100, 102);
        loss.frame(103, 103);
        assert_eq!(loss.lost(), 0);
        loss.frame(107, 108); // 104..=106 never completed a frame
        assert_eq!(loss.lost(), 3);
    }
}
