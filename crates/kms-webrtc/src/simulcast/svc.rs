//! Spatial scalability (SVC, VP9 and AV1): one stream whose frames carry up
//! to three spatial layers, lowest first ([`kms_media::SpatialLayers`]). The
//! publisher measures the layers ([`SpatialMeter`]); a viewer keeps the
//! layers its estimate carries ([`SpatialSelector`]) by cutting each frame
//! after the last one kept. Going down needs nothing (lower layers never
//! refer to higher ones); going up waits for a keyframe, where every layer
//! starts afresh (the `_KEY` scalability modes browsers use).

use super::{bits_per_second, Rates, Window, INACTIVE_AFTER, UP_MARGIN};
use kms_media::{SpatialLayers, MAX_SPATIAL_LAYERS};
use std::time::Instant;

/// A publisher's spatial layers, measured over [`super::MEASURE_WINDOW`]s.
#[derive(Debug, Default)]
pub struct SpatialMeter {
    /// Bytes of the layers up to each one since the window started.
    bytes: [u64; MAX_SPATIAL_LAYERS],
    bitrates: [u32; MAX_SPATIAL_LAYERS],
    window: Window,
    last_layered: Option<Instant>,
}

impl SpatialMeter {
    /// Tags a frame whose layers end at `ends` (the end of each spatial
    /// layer in the data, `None` when absent: str0m's VP9 layers scheme, or
    /// [`kms_media::av1::spatial_layer_ends`]);
    /// `None` when it carries fewer than two layers (no SVC).
    pub fn tag(&mut self, now: Instant, ends: &[Option<usize>]) -> Option<SpatialLayers> {
        let mut out = [0u32; MAX_SPATIAL_LAYERS];
        for (slot, end) in out.iter_mut().zip(ends) {
            *slot = end.and_then(|e| u32::try_from(e).ok()).unwrap_or(0);
        }
        if let Some(secs) = self.window.close(now) {
            for (rate, bytes) in self.bitrates.iter_mut().zip(&mut self.bytes) {
                *rate = bits_per_second(std::mem::take(bytes), secs);
            }
        }
        // Layers up to k: the bytes up to k's end, or up to the highest
        // layer below k this frame has.
        let mut reached = 0u32;
        for (bytes, end) in self.bytes.iter_mut().zip(out) {
            reached = reached.max(end);
            *bytes += u64::from(reached);
        }
        if out.iter().filter(|e| **e > 0).count() < 2 && !self.is_layered(now) {
            return None;
        }
        self.last_layered = Some(now);
        Some(SpatialLayers { ends: out, bitrates: self.bitrates })
    }

    /// Frames with several spatial layers arrived within [`INACTIVE_AFTER`].
    pub fn is_layered(&self, now: Instant) -> bool {
        self.last_layered.is_some_and(|t| now.saturating_duration_since(t) < INACTIVE_AFTER)
    }

    /// What the publisher should be allowed to send (bits/s) when the
    /// best-served viewer takes `max_sink` (see [`super::publisher_budget`];
    /// viewer and publisher pay the same for the layers up to one).
    pub fn wanted_bitrate(&self, max_sink: u64) -> u64 {
        let rates: Vec<u64> = self.bitrates.iter().map(|b| u64::from(*b)).filter(|b| *b > 0).collect();
        super::publisher_budget(&rates, &rates, max_sink)
    }
}

/// The spatial layers one viewer keeps.
#[derive(Debug, Default)]
pub struct SpatialSelector {
    /// The highest layer sent now.
    current: Option<u8>,
    latest: Option<SpatialLayers>,
}

/// What a viewer sends of an SVC frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Send the frame's data up to here (bytes; the whole frame when equal
    /// to its length).
    pub end: usize,
    /// A higher layer waits for a keyframe: ask the publisher for one.
    pub wants_keyframe: bool,
}

impl SpatialSelector {
    /// The highest spatial layer sent now.
    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// Decides how much of a frame tagged `layers` (of `len` bytes, a
    /// keyframe or not) goes to a viewer whose estimate is `budget` (bits/s;
    /// `None`: not known yet, every layer). `keyframe` is asked only when
    /// the viewer would move up.
    pub fn cut(&mut self, layers: SpatialLayers, len: usize, keyframe: impl FnOnce() -> bool, budget: Option<u64>) -> Cut {
        self.latest = Some(layers);
        let present = |k: usize| layers.bitrates[k] > 0 || layers.ends[k] > 0;
        let top = (0..MAX_SPATIAL_LAYERS).rev().find(|k| present(*k)).unwrap_or(0);
        let current = self.current.map(usize::from);
        let target = match budget {
            None => top,
            Some(budget) => (0..=top)
                .rev()
                .find(|&k| {
                    let rate = f64::from(layers.bitrates[k]);
                    let needed = if current.is_some_and(|c| k <= c) { rate } else { rate * UP_MARGIN };
                    needed <= budget as f64
                })
                .unwrap_or(0),
        };
        let mut wants_keyframe = false;
        let next = match current {
            Some(c) if target > c && !keyframe() => {
                wants_keyframe = true;
                c
            }
            _ => target,
        };
        self.current = u8::try_from(next).ok();
        // The frame may lack the layer (a lower frame rate above): its highest below.
        let end = layers.ends[..=next].iter().copied().filter(|e| *e > 0).max().map_or(len, |e| e as usize);
        Cut { end: end.min(len), wants_keyframe }
    }

    /// The cumulative bitrates of the layers kept now, the next one up and
    /// all of them (bits/s), for probing.
    pub fn rates(&self) -> Rates {
        let Some(layers) = self.latest else { return Rates { current: None, next: None, top: None } };
        let rate = |k: usize| layers.bitrates.get(k).copied().filter(|b| *b > 0);
        let current = self.current.map(usize::from);
        Rates {
            current: current.and_then(rate),
            next: current.and_then(|c| rate(c + 1)),
            top: (0..MAX_SPATIAL_LAYERS).rev().find_map(rate),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn layers(bitrates: [u32; 3]) -> SpatialLayers {
        SpatialLayers { ends: [100, 400, 1000], bitrates }
    }

    #[test]
    fn the_meter_measures_the_layers_up_to_each_and_ignores_single_layer_streams() {
        let t0 = Instant::now();
        let mut m = SpatialMeter::default();
        assert_eq!(m.tag(t0, &[Some(500), None, None]), None, "one layer: no SVC");
        let mut m = SpatialMeter::default();
        let frame = Duration::from_millis(33);
        let mut last = None;
        for i in 1..=30 {
            last = m.tag(t0 + frame * i, &[Some(100), Some(400), Some(1000)]);
        }
        let rates = last.unwrap().bitrates;
        // 30 fps: 100, 400 and 1000 bytes a frame up to each layer.
        for (rate, bytes) in rates.iter().zip([100u32, 400, 1000]) {
            let expected = bytes * 8 * 30;
            assert!(rate.abs_diff(expected) < expected / 10, "{rates:?}");
        }
        assert!(m.wanted_bitrate(150_000) < 150_000, "only the lowest layer: {}", m.wanted_bitrate(150_000));
        assert!(m.wanted_bitrate(10_000_000) >= 10_000_000);
    }

    #[test]
    fn a_viewer_cuts_above_its_budget_at_once_and_climbs_at_keyframes() {
        let mut s = SpatialSelector::default();
        let l = layers([100_000, 400_000, 1_000_000]);
        assert_eq!(s.cut(l, 1000, || true, Some(5_000_000)), Cut { end: 1000, wants_keyframe: false }, "everything fits");
        let not_asked = || -> bool { panic!("moving down or staying needs no keyframe") };
        assert_eq!(s.cut(l, 1000, not_asked, Some(450_000)), Cut { end: 400, wants_keyframe: false }, "down at once");
        assert_eq!(s.cut(l, 1000, || false, Some(50_000)), Cut { end: 100, wants_keyframe: false }, "the lowest at worst");
        assert_eq!(s.cut(l, 1000, || false, Some(5_000_000)), Cut { end: 100, wants_keyframe: true }, "up waits for a keyframe");
        assert_eq!(s.cut(l, 1000, || true, Some(5_000_000)), Cut { end: 1000, wants_keyframe: false });
        assert_eq!(s.current(), Some(2));
        // Up needs the margin: 400 kbit/s needs 460.
        s.cut(l, 1000, || false, Some(150_000));
        assert_eq!(s.cut(l, 1000, || true, Some(440_000)).end, 100);
        let frame_without_top = SpatialLayers { ends: [100, 0, 0], ..l };
        assert_eq!(s.cut(frame_without_top, 100, || true, Some(5_000_000)).end, 100, "a frame with fewer layers goes whole");
        assert_eq!(s.rates(), Rates { current: Some(1_000_000), next: None, top: Some(1_000_000) });
    }
}
