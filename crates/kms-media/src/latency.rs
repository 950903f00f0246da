//! Pipeline latency statistics (`MediaPipeline.latencyStats`).
//!
//! When enabled, every frame delivered to an element is measured: the time
//! from the arrival of the frame's first packet at the pipeline
//! ([`MediaFrame::network_time`](crate::MediaFrame)) to its delivery to that
//! element. KMS reports this average per media type as an element's
//! `inputLatency` and, for endpoints, as `E2ELatency` (the frame is sent on
//! as it is delivered); both in nanoseconds. Disabled (KMS's default), nothing
//! is measured and nothing is stored.

use crate::graph::ElementId;
use crate::media::MediaType;
use std::collections::HashMap;
use std::time::Duration;

/// Running mean of one element's input latency per media type.
#[derive(Debug, Default, Clone, Copy)]
struct Mean {
    total_ns: u128,
    count: u64,
}

/// The latency averages of every element of a pipeline.
#[derive(Debug, Default)]
pub struct LatencyStats {
    enabled: bool,
    /// Per element: [audio, video].
    means: HashMap<ElementId, [Mean; 2]>,
}

fn slot(media_type: MediaType) -> Option<usize> {
    match media_type {
        MediaType::Audio => Some(0),
        MediaType::Video => Some(1),
        MediaType::Data => None,
    }
}

impl LatencyStats {
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Turns measuring on or off; either way the averages start afresh.
    pub fn set_enabled(&mut self, enabled: bool) {
        self.enabled = enabled;
        self.means.clear();
    }

    /// Records one delivery of `media_type` to `element`, `latency` after arrival.
    pub fn record(&mut self, element: ElementId, media_type: MediaType, latency: Duration) {
        if let (true, Some(i)) = (self.enabled, slot(media_type)) {
            let m = &mut self.means.entry(element).or_default()[i];
            m.total_ns += latency.as_nanos();
            m.count += 1;
        }
    }

    /// The averages of `element` in nanoseconds, per media type that reached it.
    pub fn averages(&self, element: ElementId) -> Vec<(MediaType, f64)> {
        let Some(means) = self.means.get(&element) else { return Vec::new() };
        [MediaType::Audio, MediaType::Video]
            .into_iter()
            .zip(means)
            .filter(|(_, m)| m.count > 0)
            .map(|(t, m)| (t, m.total_ns as f64 / m.count as f64))
            .collect()
    }

    /// Forgets a removed element.
    pub fn remove(&mut self, element: ElementId) {
        self.means.remove(&element);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_per_media_type_only_while_enabled() {
        let mut stats = LatencyStats::default();
        let e = ElementId(1);
        stats.record(e, MediaType::Video, Duration::from_millis(5));
        assert!(stats.averages(e).is_empty(), "disabled: nothing measured");
        stats.set_enabled(true);
        stats.record(e, MediaType::Video, Duration::from_millis(2));
        stats.record(e, MediaType::Video, Duration::from_millis(4));
        stats.record(e, MediaType::Data, Duration::from_millis(9));
        assert_eq!(stats.averages(e), [(MediaType::Video, 3_000_000.0)]);
        stats.set_enabled(false);
        assert!(stats.averages(e).is_empty());
    }
}
