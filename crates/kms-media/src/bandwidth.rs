//! Video bandwidth limits and the REMB of one endpoint, WebRtcEndpoint or
//! RtpEndpoint (KMS's `KmsRembLocal` / `KmsRembRemote` roles, tuned by
//! `rembParams`).
//!
//! As a sink, the endpoint reads the REMB its peer sends (the peer's receive
//! estimate; while its first ones rise below `rembOnConnect`, that value),
//! bounds it by `minVideoSendBandwidth`..`maxVideoSendBandwidth` and reports
//! it upstream. As a source, it sends its own peer a REMB
//! (draft-alvestrand-rmcat-remb) once per second, and at once when it falls:
//! the minimum of its sinks' reports and of KMS's loss-based estimate of
//! what it receives ([`LocalEstimate`]), within
//! `minVideoRecvBandwidth`..`maxVideoRecvBandwidth` and never under 30 kbps,
//! so the publisher never sends more than its slowest viewer takes or its
//! own uplink carries.

use crate::remb::{LocalEstimate, OnConnect, ReceivedTotals, RembParams, ESTIMATE_INTERVAL, REMB_MIN};
use crate::RecvLimits;
use std::time::{Duration, Instant};

/// How often the REMB towards the publisher is repeated.
pub const REMB_INTERVAL: Duration = Duration::from_secs(1);

/// Bandwidth properties of BaseRtpEndpoint / SdpEndpoint, in kbps.
/// A maximum of 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth {
    /// `maxAudioRecvBandwidth` and `maxVideoRecvBandwidth`: the `b=AS`
    /// lines of our offers and answers ([`RecvLimits::signal`]); the video
    /// one is also the ceiling of the REMB sent to the peer.
    pub recv: RecvLimits,
    /// `minVideoRecvBandwidth`: floor of the REMB sent to the peer.
    pub min_recv_kbps: u32,
    /// `minVideoSendBandwidth`: floor of the peer's estimate reported upstream.
    pub min_send_kbps: u32,
    /// `maxVideoSendBandwidth`: ceiling of the peer's estimate reported upstream.
    pub max_send_kbps: u32,
}

/// KMS's defaults: receive unbounded, send 100..500 kbps.
impl Default for Bandwidth {
    fn default() -> Self {
        Bandwidth { recv: RecvLimits::default(), min_recv_kbps: 0, min_send_kbps: 100, max_send_kbps: 500 }
    }
}

/// `value` (bits/s) bounded by `min_kbps` and, when non-zero, `max_kbps`.
fn bound(value: u64, min_kbps: u32, max_kbps: u32) -> u64 {
    let value = value.max(u64::from(min_kbps) * 1000);
    if max_kbps == 0 {
        value
    } else {
        value.min(u64::from(max_kbps) * 1000)
    }
}

/// REMB state of one endpoint; all bitrates in bits/s.
#[derive(Debug, Clone, Default)]
pub struct RembRelay {
    /// The bounds in force (the endpoint's bandwidth properties).
    bandwidth: Bandwidth,
    params: RembParams,
    /// KMS's estimate of what our peer can send us, from what it sends.
    local: LocalEstimate,
    /// Whether `local` bounds the REMB: the latest [`RembRelay::sample`] had
    /// totals (the endpoint decides when KMS's estimate applies).
    local_applies: bool,
    on_connect: OnConnect,
    /// The minimum of the sinks' reports.
    from_sinks: Option<u64>,
    /// The latest estimate received from our peer (unbounded), for
    /// getStats: its REMB, or str0m's transport-wide CC estimate.
    from_peer: Option<u64>,
    /// The latest estimate of the peer acted on (after `rembOnConnect`).
    acted: Option<u64>,
    /// The latest REMB sent to our peer, for getStats.
    sent: Option<u64>,
    due: Option<Instant>,
    estimate_due: Option<Instant>,
}

impl RembRelay {
    /// A relay with the endpoint's bandwidth properties and `rembParams`;
    /// nothing is sent before [`RembRelay::start`] or the first video.
    pub fn new(bandwidth: Bandwidth, params: RembParams) -> RembRelay {
        RembRelay { bandwidth, params, local: LocalEstimate::new(params), ..RembRelay::default() }
    }

    /// `setRembParams`: applied from the next estimate on, as in KMS.
    pub fn set_params(&mut self, params: RembParams) {
        self.params = params;
        self.local.set_params(params);
    }

    /// Our peer's REMB arrived; returns what to report upstream.
    pub fn peer_remb(&mut self, bitrate: u64) -> u64 {
        let acted = self.on_connect.apply(self.params.remb_on_connect, bitrate);
        self.act_on_peer(bitrate, acted)
    }

    /// An estimate of our peer's capacity other than its REMB (str0m's
    /// transport-wide CC estimate); returns what to report upstream.
    pub fn peer_estimate(&mut self, bitrate: u64) -> u64 {
        self.act_on_peer(bitrate, bitrate)
    }

    fn act_on_peer(&mut self, received: u64, acted: u64) -> u64 {
        self.from_peer = Some(received);
        self.acted = Some(acted);
        bound(acted, self.bandwidth.min_send_kbps, self.bandwidth.max_send_kbps)
    }

    /// New bandwidth properties, in force at once. Returns our peer's latest
    /// estimate bounded by the new send bandwidth, to report upstream again
    /// (an application lowering or lifting `maxVideoSendBandwidth` need not
    /// wait for the next estimate); `None` before the first estimate.
    pub fn set_bandwidth(&mut self, bandwidth: Bandwidth) -> Option<u64> {
        self.bandwidth = bandwidth;
        self.acted.map(|b| bound(b, bandwidth.min_send_kbps, bandwidth.max_send_kbps))
    }

    /// The sinks' minimum: a drop is sent at once (the publisher must slow
    /// down now); an unchanged or higher value waits for the periodic REMB,
    /// so N viewers' reports do not become N REMBs a second.
    pub fn sinks_estimate(&mut self, now: Instant, bitrate: u64) {
        let dropped = self.from_sinks.is_none_or(|previous| bitrate < previous);
        self.from_sinks = Some(bitrate);
        if dropped {
            self.due = Some(now);
        }
    }

    /// Starts the periodic REMB (the transport is up).
    pub fn start(&mut self, now: Instant) {
        self.due = Some(now);
    }

    /// The peer's video arrived: its first frame starts the local estimate
    /// (an endpoint that receives no video never wakes for it), and the
    /// periodic REMB if [`RembRelay::start`] did not.
    pub fn video_received(&mut self, now: Instant) {
        if self.estimate_due.is_none() {
            self.estimate_due = Some(now);
            self.due.get_or_insert(now);
        }
    }

    /// Whether the local estimate wants its next [`RembRelay::sample`].
    pub fn sample_due(&self, now: Instant) -> bool {
        self.estimate_due.is_some_and(|t| t <= now)
    }

    /// Updates the local estimate from `totals`, the video received from
    /// the peer so far (`None` while the estimate does not apply: the peer
    /// has congestion control of its own, or sends layers); every
    /// [`ESTIMATE_INTERVAL`]. A REMB lower than the last one sent goes at once.
    pub fn sample(&mut self, now: Instant, totals: Option<ReceivedTotals>) {
        self.estimate_due = Some(now + ESTIMATE_INTERVAL);
        self.local_applies = totals.is_some();
        if let Some(totals) = totals {
            self.local.update(now, totals, self.bandwidth.recv.video_kbps);
        }
        if self.target().is_some_and(|t| self.sent.is_none_or(|sent| t < sent)) {
            self.due = Some(now);
        }
    }

    /// What the peer may send us: the minimum of the sinks' estimate (or
    /// the configured maximum when no sink reported) and of the local
    /// estimate, within the receive bounds, at least [`REMB_MIN`].
    fn target(&self) -> Option<u64> {
        let b = self.bandwidth;
        let max = b.recv.video_kbps;
        let sinks = self.from_sinks.or((max > 0).then(|| u64::from(max) * 1000));
        let local = self.local.current().filter(|_| self.local_applies);
        let wanted = match (sinks, local) {
            (Some(s), Some(l)) => s.min(l),
            (s, l) => s.or(l)?,
        };
        Some(bound(wanted, b.min_recv_kbps, max).max(REMB_MIN))
    }

    /// The REMB to send now, if one is due.
    pub fn poll(&mut self, now: Instant) -> Option<u64> {
        if self.due.is_none_or(|t| t > now) {
            return None;
        }
        let target = self.target();
        self.due = target.map(|_| now + REMB_INTERVAL);
        self.sent = target;
        target
    }

    /// When [`RembRelay::poll`] or [`RembRelay::sample`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.due, self.estimate_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// (REMB received from the peer, REMB sent to the peer).
    pub fn figures(&self) -> (Option<u64>, Option<u64>) {
        (self.from_peer, self.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_estimates_are_bounded_by_the_send_bandwidth() {
        let mut r = RembRelay::default();
        assert_eq!(r.peer_estimate(2_000_000), 500_000, "maxVideoSendBandwidth 500 kbps by default");
        assert_eq!(r.peer_estimate(20_000), 100_000, "minVideoSendBandwidth 100 kbps by default");
        r.set_bandwidth(Bandwidth { max_send_kbps: 0, ..Bandwidth::default() });
        assert_eq!(r.peer_estimate(2_000_000), 2_000_000, "0 is unlimited");
        let tighter = Bandwidth { max_send_kbps: 200, ..Bandwidth::default() };
        assert_eq!(r.set_bandwidth(tighter), Some(200_000), "the last estimate under the new bound");
        assert_eq!(RembRelay::default().set_bandwidth(tighter), None);
    }

    #[test]
    fn the_sinks_minimum_is_sent_at_once_then_every_second() {
        let t0 = Instant::now();
        let mut r = RembRelay::default();
        r.start(t0);
        assert_eq!(r.poll(t0), None, "nothing known, nothing sent");
        r.sinks_estimate(t0, 300_000);
        assert_eq!(r.poll(t0), Some(300_000));
        assert_eq!(r.poll(t0 + Duration::from_millis(500)), None);
        assert_eq!(r.poll(t0 + REMB_INTERVAL), Some(300_000));
        r.set_bandwidth(Bandwidth { recv: RecvLimits { audio_kbps: 0, video_kbps: 200 }, ..Bandwidth::default() });
        r.sinks_estimate(t0, 300_000);
        assert_eq!(r.poll(t0 + REMB_INTERVAL * 2), Some(200_000), "maxVideoRecvBandwidth caps it");
        assert_eq!(r.figures(), (None, Some(200_000)));
    }

    #[test]
    fn a_drop_is_sent_at_once_a_rise_waits_for_the_period() {
        let t0 = Instant::now();
        let mut r = RembRelay::default();
        r.start(t0);
        r.sinks_estimate(t0, 300_000);
        assert_eq!(r.poll(t0), Some(300_000));
        let t1 = t0 + Duration::from_millis(200);
        r.sinks_estimate(t1, 400_000);
        assert_eq!(r.poll(t1), None, "a rise waits");
        r.sinks_estimate(t1, 100_000);
        assert_eq!(r.poll(t1), Some(100_000), "a drop goes at once");
    }

    #[test]
    fn the_local_estimate_bounds_the_sinks_and_its_fall_is_sent_at_once() {
        let t0 = Instant::now();
        let mut r = RembRelay::default();
        r.start(t0);
        r.sinks_estimate(t0, 2_000_000);
        assert_eq!(r.poll(t0), Some(2_000_000), "nothing received yet: the sinks alone");
        let mut totals = ReceivedTotals::default();
        let mut t = t0;
        r.video_received(t);
        assert!(r.sample_due(t));
        r.sample(t, Some(totals));
        for _ in 0..2 {
            t += ESTIMATE_INTERVAL;
            totals.bytes += 25_000; // 400 kbit/s
            totals.packets += 30;
            r.sample(t, Some(totals));
        }
        // Probed at 400k, 4 % more at each of the two updates.
        assert_eq!(r.poll(t), Some(432_640), "the local estimate, lower, at once");
        t += ESTIMATE_INTERVAL;
        (totals.bytes, totals.packets, totals.lost) = (totals.bytes + 25_000, totals.packets + 30, totals.lost + 30);
        r.sample(t, Some(totals));
        assert_eq!(r.poll(t), Some(216_320), "half lost: halved, at once, not at the next period");
        r.sample(t + ESTIMATE_INTERVAL, None);
        assert_eq!(r.poll(t + REMB_INTERVAL), Some(2_000_000), "layered video: the sinks alone again");
    }

    #[test]
    fn a_receive_maximum_is_announced_without_sinks() {
        let t0 = Instant::now();
        let mut r = RembRelay::new(Bandwidth { recv: RecvLimits { audio_kbps: 0, video_kbps: 800 }, ..Bandwidth::default() }, RembParams::default());
        r.start(t0);
        assert_eq!(r.poll(t0), Some(800_000));
    }
}
