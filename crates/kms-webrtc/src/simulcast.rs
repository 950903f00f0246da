//! Simulcast forwarding (RFC 8853): a publisher's layers measured and tagged
//! ([`PublishedLayers`]), and the layer each viewer forwards chosen from its
//! bandwidth estimate ([`LayerSelector`]).
//!
//! KMS has no simulcast: it forwards one stream to every viewer and asks the
//! publisher, by REMB, for what the slowest viewer takes. Here the publisher
//! sends every layer it can; each viewer's endpoint forwards the best layer
//! its estimate (TWCC or REMB, bounded by `maxVideoSendBandwidth`) carries,
//! switching at a keyframe of the new layer, so its RTP stream stays one
//! stream (sequence numbers, timestamps and VP8 picture ids continue: see
//! `endpoint/forward.rs`). The publisher is asked only for the layers some
//! viewer can take ([`PublishedLayers::wanted_bitrate`]). Spatial
//! scalability (VP9 and AV1 SVC: one stream, several layers per frame) is
//! in `svc`.

use kms_media::SimulcastLayer;
use std::time::{Duration, Instant};
use str0m::media::Rid;

/// How long a layer's bytes are counted before its bitrate is updated.
pub const MEASURE_WINDOW: Duration = Duration::from_millis(500);

/// A layer without a frame for this long is inactive (the publisher paused
/// it, or its encoder dropped it for want of bandwidth).
pub const INACTIVE_AFTER: Duration = Duration::from_secs(1);

/// A viewer moves up to a layer only when its estimate exceeds the layer's
/// bitrate by this factor (staying needs only the bitrate itself), so an
/// estimate near a layer's bitrate does not flap between two layers.
pub const UP_MARGIN: f64 = 1.15;

/// The offer without its simulcast (RFC 8853 `a=simulcast`) and rid
/// (RFC 8851 `a=rid`) lines: with simulcast forwarding off the answer
/// refuses simulcast, as KMS's does (it does not know the attributes), and
/// the browser sends one stream (its first encoding).
pub fn refuse_simulcast(offer: &str) -> String {
    offer.split_inclusive('\n').filter(|l| !l.starts_with("a=simulcast:") && !l.starts_with("a=rid:")).collect()
}

/// The measuring window of the meters here: it closes once it is at least
/// [`MEASURE_WINDOW`] long, at the first frame after that (which starts the
/// next one).
#[derive(Debug, Default)]
struct Window {
    start: Option<Instant>,
}

impl Window {
    /// When the window closes at `now`: its length in seconds.
    fn close(&mut self, now: Instant) -> Option<f64> {
        let start = *self.start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(start);
        (elapsed >= MEASURE_WINDOW).then(|| {
            self.start = Some(now);
            elapsed.as_secs_f64()
        })
    }
}

/// `bytes` over `secs` seconds, in bits/s.
fn bits_per_second(bytes: u64, secs: f64) -> u32 {
    (bytes as f64 * 8.0 / secs).min(f64::from(u32::MAX)) as u32
}

/// The bitrate of a stream, counted over [`MEASURE_WINDOW`]s.
#[derive(Debug, Default)]
pub struct RateMeter {
    bytes: u64,
    window: Window,
}

impl RateMeter {
    /// Counts `len` bytes sent at `now`; returns the new bitrate (bits/s)
    /// when a window closed.
    pub fn add(&mut self, now: Instant, len: usize) -> Option<u32> {
        let closed = self.window.close(now).map(|secs| bits_per_second(std::mem::take(&mut self.bytes), secs));
        self.bytes += len as u64;
        closed
    }
}

/// One layer as its publisher sees it.
#[derive(Debug, Clone)]
struct Published {
    rid: Rid,
    /// Payload bytes since the window started.
    bytes: u64,
    /// bits/s over the last complete window.
    bitrate: u32,
    last_frame: Instant,
}

/// The simulcast layers a publishing endpoint receives on its video m-line,
/// numbered in the order their rids were first seen.
#[derive(Debug, Default)]
pub struct PublishedLayers {
    layers: Vec<Published>,
    window: Window,
    /// The layer routed to sinks that do not select layers.
    primary: Option<u8>,
    /// A better primary, waiting for its keyframe.
    pending_primary: Option<u8>,
}

/// What [`PublishedLayers::tag`] decided for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tagged {
    pub layer: SimulcastLayer,
    /// Ask the publisher for a keyframe of this rid (a new primary layer).
    pub request_keyframe: Option<Rid>,
}

impl PublishedLayers {
    /// More than one layer seen: the publisher sends simulcast.
    pub fn is_simulcast(&self) -> bool {
        self.layers.len() > 1
    }

    /// The rid of layer `id`.
    pub fn rid(&self, id: u8) -> Option<Rid> {
        self.layers.get(usize::from(id)).map(|l| l.rid)
    }

    /// The rid of the primary layer.
    pub fn primary_rid(&self) -> Option<Rid> {
        self.primary.and_then(|id| self.rid(id))
    }

    /// Counts a frame of `len` payload bytes on layer `rid` at `now` and tags
    /// it. `keyframe` is [`kms_media::MediaFrame::is_keyframe`] (`None`:
    /// not inspected, taken as a place to switch).
    pub fn tag(&mut self, now: Instant, rid: Rid, len: usize, keyframe: Option<bool>) -> Tagged {
        let id = match self.layers.iter().position(|l| l.rid == rid) {
            Some(i) => i,
            None => {
                self.layers.push(Published { rid, bytes: 0, bitrate: 0, last_frame: now });
                self.layers.len() - 1
            }
        };
        // At most 256 layers are numbered; a flood of rids beyond that shares the last id.
        let id = u8::try_from(id).unwrap_or(u8::MAX);
        let mut request_keyframe = None;
        // The window closes before this frame, which starts the next one.
        if let Some(secs) = self.window.close(now) {
            for l in &mut self.layers {
                l.bitrate = bits_per_second(std::mem::take(&mut l.bytes), secs);
            }
            let best = self.best(now);
            if best.is_some() && best != self.primary && best != self.pending_primary {
                self.pending_primary = best;
                request_keyframe = best.and_then(|b| self.rid(b));
            }
        }
        let layer = &mut self.layers[usize::from(id)];
        layer.bytes += len as u64;
        layer.last_frame = now;
        if self.primary.is_none() {
            self.primary = Some(id);
        } else if self.pending_primary == Some(id) && keyframe != Some(false) {
            self.primary = Some(id);
            self.pending_primary = None;
        }
        let bitrate = self.layers[usize::from(id)].bitrate;
        Tagged { layer: SimulcastLayer { id, bitrate, primary: self.primary == Some(id) }, request_keyframe }
    }

    /// The active layer with the highest bitrate.
    fn best(&self, now: Instant) -> Option<u8> {
        self.active(now).max_by_key(|(_, bitrate)| *bitrate).map(|(id, _)| id)
    }

    /// (id, bitrate) of the layers with a frame in the last [`INACTIVE_AFTER`].
    fn active(&self, now: Instant) -> impl Iterator<Item = (u8, u32)> + '_ {
        self.layers
            .iter()
            .enumerate()
            .filter(move |(_, l)| now.saturating_duration_since(l.last_frame) < INACTIVE_AFTER)
            .map(|(i, l)| (u8::try_from(i).unwrap_or(u8::MAX), l.bitrate))
    }

    /// What the publisher should be allowed to send (bits/s, for its REMB)
    /// when the best-served viewer can take `max_sink` bits/s (see
    /// [`publisher_budget`]; a viewer takes one layer, the publisher sends
    /// every layer up to it).
    pub fn wanted_bitrate(&self, now: Instant, max_sink: u64) -> u64 {
        let mut rates: Vec<u64> = self.active(now).map(|(_, b)| u64::from(b)).filter(|b| *b > 0).collect();
        rates.sort_unstable();
        let cumulative: Vec<u64> = rates.iter().scan(0, |sum, r| {
            *sum += r;
            Some(*sum)
        }).collect();
        publisher_budget(&rates, &cumulative, max_sink)
    }
}

/// The budget a publisher is given (bits/s, as REMB) when the best-served
/// viewer takes `max_sink`: layer `k` costs a viewer `viewer_cost[k]` and
/// the publisher `publisher_cost[k]` (everything up to it), lowest first.
/// The best layer that viewer takes, with 25 % headroom; when that is the
/// top layer, room to grow (half as much again, at least `max_sink`) so
/// paused layers can come back. Layers nobody takes are left out of the
/// budget, and the publisher's encoder pauses them (browsers fill layers
/// from the lowest up).
fn publisher_budget(viewer_cost: &[u64], publisher_cost: &[u64], max_sink: u64) -> u64 {
    let Some(top) = viewer_cost.len().checked_sub(1) else { return max_sink };
    let k = viewer_cost.iter().rposition(|r| *r <= max_sink).unwrap_or(0);
    let cost = publisher_cost.get(k).copied().unwrap_or(max_sink);
    if k == top {
        (cost * 3 / 2).max(max_sink)
    } else {
        cost * 5 / 4
    }
}

/// One layer as a viewer's endpoint sees it (from the frames' tags).
#[derive(Debug, Clone, Copy)]
struct Seen {
    id: u8,
    bitrate: u32,
    last_frame: Instant,
}

/// Layer bitrates as a viewer sees them, bits/s ([`LayerSelector::rates`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub current: Option<u32>,
    pub next: Option<u32>,
    pub top: Option<u32>,
}

/// What a viewer does with a frame of a simulcast layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The forwarded layer: send it.
    Forward,
    /// The first frame (a keyframe) of a newly forwarded layer: the outgoing
    /// timeline continues from the old layer, then the frame is sent.
    Switch,
    /// Not the forwarded layer: dropped. `request` asks the publisher for a
    /// keyframe of the layer this viewer is waiting to switch to.
    Drop { request: Option<u8> },
}

/// The layer one viewer's endpoint forwards.
#[derive(Debug, Default)]
pub struct LayerSelector {
    seen: Vec<Seen>,
    current: Option<u8>,
    target: Option<u8>,
    /// What this viewer's link carries, bits/s; `None`: no estimate yet.
    budget: Option<u64>,
}

impl LayerSelector {
    /// The viewer's bandwidth estimate, bits/s, already bounded by the
    /// endpoint's send bandwidth.
    pub fn set_budget(&mut self, bitrate: u64) {
        self.budget = Some(bitrate);
    }

    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// The layer forwarded now.
    pub fn current(&self) -> Option<u8> {
        self.current
    }

    /// The layer this viewer wants (equal to [`Self::current`] unless a
    /// switch waits for a keyframe).
    pub fn target(&self) -> Option<u8> {
        self.target
    }

    /// The measured bitrates (bits/s) of the forwarded layer, of the next
    /// layer up (what the link must carry to move up) and of the top layer
    /// (what this viewer would take at best).
    pub fn rates(&self, now: Instant) -> Rates {
        let current = self.current.and_then(|c| self.seen.iter().find(|s| s.id == c)).map(|s| s.bitrate);
        let next = current.and_then(|c| self.active(now).map(|s| s.bitrate).filter(|b| *b > c).min());
        let top = self.active(now).map(|s| s.bitrate).max();
        Rates { current, next, top }
    }

    fn active(&self, now: Instant) -> impl Iterator<Item = &Seen> + '_ {
        self.seen.iter().filter(move |s| now.saturating_duration_since(s.last_frame) < INACTIVE_AFTER)
    }

    /// Decides for a frame of `layer` that is (`Some(true)`) or is not a
    /// keyframe (`None`: not inspected, taken as one). `keyframe` is asked
    /// only when the frame would start a switch, so a viewer that stays on
    /// its layer never inspects the frame (an H.264 access unit is scanned
    /// whole for its NAL units, an AV1 one walked by OBU).
    pub fn pick(&mut self, now: Instant, layer: SimulcastLayer, keyframe: impl FnOnce() -> Option<bool>) -> Pick {
        match self.seen.iter_mut().find(|s| s.id == layer.id) {
            Some(s) => {
                s.bitrate = layer.bitrate;
                s.last_frame = now;
            }
            None => self.seen.push(Seen { id: layer.id, bitrate: layer.bitrate, last_frame: now }),
        }
        self.target = self.choose(now, layer);
        if self.current == Some(layer.id) && self.target == self.current {
            return Pick::Forward;
        }
        if self.target == Some(layer.id) && keyframe() != Some(false) {
            self.current = Some(layer.id);
            return Pick::Switch;
        }
        if self.current == Some(layer.id) {
            // Keep forwarding the old layer until the new one's keyframe.
            return Pick::Forward;
        }
        Pick::Drop { request: self.target.filter(|t| Some(*t) != self.current) }
    }

    /// The best active layer for the budget: the highest whose bitrate the
    /// budget carries (with [`UP_MARGIN`] above the current one), else the
    /// lowest. Before any layer is measured, the publisher's primary layer.
    fn choose(&self, now: Instant, frame: SimulcastLayer) -> Option<u8> {
        let mut active: Vec<Seen> = self.active(now).filter(|s| s.bitrate > 0).copied().collect();
        if active.is_empty() {
            return if frame.primary { Some(frame.id) } else { self.target.or(self.current) };
        }
        active.sort_unstable_by_key(|s| s.bitrate);
        let Some(budget) = self.budget else { return active.last().map(|s| s.id) };
        let current_rate = self.current.and_then(|c| active.iter().find(|s| s.id == c)).map(|s| s.bitrate);
        let fits = |s: &Seen| {
            let rate = f64::from(s.bitrate);
            let needed = if current_rate.is_some_and(|c| s.bitrate <= c) { rate } else { rate * UP_MARGIN };
            needed <= budget as f64
        };
        active.iter().rev().find(|s| fits(s)).or(active.first()).map(|s| s.id)
    }
}

mod svc;
pub use svc::{Cut, SpatialMeter, SpatialSelector};

#[cfg(test)]
mod tests;
