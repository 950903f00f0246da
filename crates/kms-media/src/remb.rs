//! KMS's REMB congestion control, tuned by `BaseRtpEndpoint.rembParams`
//! (KMS `kmsremb.c`):
//!
//! - [`LocalEstimate`] (KMS's `KmsRembLocal`): what a receiving endpoint
//!   estimates its peer can send it, from the video it receives. It starts
//!   at the first measured bitrate, grows by `exponentialFactor` per update
//!   up to a threshold and by a linear step above it (never past twice the
//!   highest bitrate received), and falls by `decrementFactor` when the
//!   smoothed fraction lost reaches `upLosses`.
//! - [`OnConnect`] (KMS's `KmsRembRemote` probing): while a peer's first
//!   REMBs keep rising below `rembOnConnect`, `rembOnConnect` is used in
//!   their place, so a new viewer's low opening estimates do not pull its
//!   source down.
//!
//! All bitrates are bits/s. Nothing here reads the clock.

use std::time::{Duration, Instant};

/// The lowest REMB KMS sends (bits/s), whatever `minVideoRecvBandwidth` says
/// (the kmd: "the actual minimum value is 30 kbps").
pub const REMB_MIN: u64 = 30_000;

/// The local estimate before the first measurement (KMS's `REMB_MAX`), and
/// the threshold between exponential and linear growth until losses set it.
pub const REMB_MAX: u64 = 2_000_000;

/// How often [`LocalEstimate::update`] is meant to run: KMS updates it with
/// each RTCP packet its receiving session sends, at least 500 ms apart
/// (`RTCP_MIN_INTERVAL`); `linealFactorGrade`'s default, 30, is KMS's
/// `60 * RTCP_MIN_INTERVAL / 1000`.
pub const ESTIMATE_INTERVAL: Duration = Duration::from_millis(500);

/// The local estimate never grows past this many times the highest bitrate
/// received since the last decrease (KMS's `REMB_MAX_FACTOR_INPUT_BR`).
const MAX_FACTOR_OF_RECEIVED: u64 = 2;

/// `RembParams` (KMS's names and defaults; the kmd's `RembParams` register).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RembParams {
    /// `packetsRecvIntervalTop`: how many packets the fraction lost is
    /// smoothed over. At least 1 (KMS raises lower values to 1).
    pub packets_recv_interval_top: u32,
    /// `exponentialFactor`: growth per update below the threshold (0.04 = 4 %).
    pub exponential_factor: f64,
    /// `linealFactorMin`: the smallest linear step per update, bits/s.
    pub lineal_factor_min: u64,
    /// `linealFactorGrade`: the linear step is (estimate - threshold) / this,
    /// so that the estimate regains its last top in about this many updates.
    pub lineal_factor_grade: f64,
    /// `decrementFactor`: what the estimate is multiplied by on losses.
    pub decrement_factor: f64,
    /// `thresholdFactor`: where growth turns linear, as a fraction of the
    /// estimate when losses were last seen.
    pub threshold_factor: f64,
    /// `upLosses`: the smoothed fraction lost (in 1/256) from which the
    /// estimate decreases (12 = 4.7 %).
    pub up_losses: u64,
    /// `rembOnConnect`: bits/s used while a peer's first REMBs are lower
    /// ([`OnConnect`]).
    pub remb_on_connect: u64,
}

/// KMS's defaults (`kmsremb.c`).
impl Default for RembParams {
    fn default() -> Self {
        RembParams {
            packets_recv_interval_top: 100,
            exponential_factor: 0.04,
            lineal_factor_min: 50,
            lineal_factor_grade: 30.0,
            decrement_factor: 0.5,
            threshold_factor: 0.8,
            up_losses: 12,
            remb_on_connect: 300_000,
        }
    }
}

impl RembParams {
    /// Where a send-side estimate of a new peer starts (bits/s):
    /// `rembOnConnect`, at least [`REMB_MIN`].
    pub fn start_bitrate(&self) -> u64 {
        self.remb_on_connect.max(REMB_MIN)
    }
}

/// A receiver's running totals of one peer's video since it connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceivedTotals {
    /// Payload bytes received.
    pub bytes: u64,
    /// Packets received (retransmissions that repaired a loss included).
    pub packets: u64,
    /// Packets never received.
    pub lost: u64,
}

/// Totals of several streams (a publisher's video over its SSRCs).
impl std::iter::Sum for ReceivedTotals {
    fn sum<I: Iterator<Item = ReceivedTotals>>(iter: I) -> ReceivedTotals {
        iter.fold(ReceivedTotals::default(), |a, b| ReceivedTotals {
            bytes: a.bytes.saturating_add(b.bytes),
            packets: a.packets.saturating_add(b.packets),
            lost: a.lost.saturating_add(b.lost),
        })
    }
}

/// `value` scaled by a factor, saturating (negative or NaN factors give 0).
fn scale(value: u64, factor: f64) -> u64 {
    (value as f64 * factor) as u64
}

/// KMS's `KmsRembLocal`: the loss-based estimate of what a peer can send us.
#[derive(Debug, Clone)]
pub struct LocalEstimate {
    params: RembParams,
    /// The estimate; meaningful once `probed`.
    remb: u64,
    probed: bool,
    threshold: u64,
    lineal_factor: u64,
    /// Highest and smoothed received bitrate since the last decrease.
    max_received: u64,
    avg_received: u64,
    /// Fraction lost (1/256) smoothed over `packetsRecvIntervalTop` packets.
    fraction_lost_record: u64,
    last: Option<(Instant, ReceivedTotals)>,
}

impl LocalEstimate {
    /// An estimate tuned by `params`, not yet probed ([`REMB_MAX`] inside).
    pub fn new(params: RembParams) -> LocalEstimate {
        LocalEstimate {
            params,
            remb: REMB_MAX,
            probed: false,
            threshold: REMB_MAX,
            lineal_factor: params.lineal_factor_min,
            max_received: 0,
            avg_received: 0,
            fraction_lost_record: 0,
            last: None,
        }
    }

    /// New tuning, from the next update on (KMS applies `setRembParams` at once).
    pub fn set_params(&mut self, params: RembParams) {
        self.params = params;
    }

    /// The estimate (bits/s) once the first bitrate was measured.
    pub fn current(&self) -> Option<u64> {
        self.probed.then_some(self.remb)
    }

    /// One update from the totals received by `now`, capped by
    /// `max_kbps` (`maxVideoRecvBandwidth`, 0 = unlimited). The first call
    /// only takes the starting point; an interval without packets leaves
    /// the estimate as it is. Returns [`LocalEstimate::current`].
    pub fn update(&mut self, now: Instant, totals: ReceivedTotals, max_kbps: u32) -> Option<u64> {
        let Some((then, before)) = self.last else {
            self.last = Some((now, totals));
            return self.current();
        };
        let elapsed = now.saturating_duration_since(then).as_micros() as u64;
        if elapsed == 0 {
            return self.current();
        }
        self.last = Some((now, totals));
        let packets = totals.packets.saturating_sub(before.packets);
        let lost = totals.lost.saturating_sub(before.lost);
        if packets.saturating_add(lost) == 0 {
            return self.current();
        }
        let bitrate = totals.bytes.saturating_sub(before.bytes).saturating_mul(8_000_000) / elapsed;
        let fraction_lost = (lost.saturating_mul(256) / (packets.saturating_add(lost))).min(255);
        self.step(bitrate, fraction_lost, packets);
        if max_kbps > 0 {
            self.remb = self.remb.min(u64::from(max_kbps) * 1000);
        }
        self.current()
    }

    /// KMS's `kms_remb_local_update` for one interval: `bitrate` received,
    /// `fraction_lost` in 1/256 over `packets` received.
    fn step(&mut self, bitrate: u64, fraction_lost: u64, packets: u64) {
        let p = self.params;
        if !self.probed {
            if bitrate == 0 {
                return;
            }
            self.remb = bitrate;
            self.probed = true;
        }
        let top = u64::from(p.packets_recv_interval_top.max(1)).max(packets);
        let weighted = (self.fraction_lost_record * (top - packets)).saturating_add(fraction_lost.saturating_mul(packets));
        self.fraction_lost_record = weighted / top;
        self.max_received = self.max_received.max(bitrate);
        self.avg_received = if self.avg_received == 0 { bitrate } else { self.avg_received.saturating_mul(7).saturating_add(bitrate) / 8 };
        if self.fraction_lost_record == 0 {
            let base = self.remb.max(self.max_received);
            let grown = if base < self.threshold { scale(base, 1.0 + p.exponential_factor) } else { base.saturating_add(self.lineal_factor) };
            self.remb = self.remb.max(grown.min(self.max_received.saturating_mul(MAX_FACTOR_OF_RECEIVED)));
            return;
        }
        let base = self.remb.max(self.avg_received);
        self.threshold = scale(base, p.threshold_factor);
        let grade = if p.lineal_factor_grade > 0.0 { p.lineal_factor_grade } else { 1.0 };
        self.lineal_factor = p.lineal_factor_min.max((base.saturating_sub(self.threshold) as f64 / grade) as u64);
        if self.fraction_lost_record < p.up_losses {
            self.remb = self.remb.min(self.max_received);
        } else {
            self.remb = scale(base, p.decrement_factor);
            self.fraction_lost_record = 0;
            self.max_received = 0;
            self.avg_received = 0;
        }
    }
}

/// An estimate with KMS's default tuning.
impl Default for LocalEstimate {
    fn default() -> Self {
        LocalEstimate::new(RembParams::default())
    }
}

/// KMS's `KmsRembRemote` probing of a peer's first REMBs.
#[derive(Debug, Clone, Copy, Default)]
pub struct OnConnect {
    probed: bool,
    last: u64,
}

impl OnConnect {
    /// The estimate to act on for the peer's REMB of `bitrate`: while its
    /// REMBs keep rising below `remb_on_connect`, `remb_on_connect`; from
    /// the first one that falls or reaches it on, the REMB itself.
    pub fn apply(&mut self, remb_on_connect: u64, bitrate: u64) -> u64 {
        let probing = !self.probed && bitrate < remb_on_connect && bitrate >= self.last;
        self.probed |= !probing;
        self.last = bitrate;
        if probing {
            remb_on_connect
        } else {
            bitrate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `estimate` `n` intervals of `kbps`, `lost` of every 100 packets
    /// lost; returns the estimates.
    fn feed(estimate: &mut LocalEstimate, clock: &mut (Instant, ReceivedTotals), n: usize, kbps: u64, lost: u64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                clock.0 += ESTIMATE_INTERVAL;
                clock.1.bytes += kbps * 1000 / 8 / 2;
                clock.1.packets += 100 - lost;
                clock.1.lost += lost;
                estimate.update(clock.0, clock.1, 0).expect("probed")
            })
            .collect()
    }

    fn started(params: RembParams) -> (LocalEstimate, (Instant, ReceivedTotals)) {
        let t0 = Instant::now();
        let mut e = LocalEstimate::new(params);
        assert_eq!(e.update(t0, ReceivedTotals::default(), 0), None, "the first call is the starting point");
        (e, (t0, ReceivedTotals::default()))
    }

    #[test]
    fn it_starts_at_the_measured_bitrate_and_grows_four_percent_an_update() {
        let (mut e, mut clock) = started(RembParams::default());
        let got = feed(&mut e, &mut clock, 3, 300, 0);
        assert_eq!(got, vec![312_000, 324_480, 337_459]);
    }

    #[test]
    fn it_never_grows_past_twice_what_it_receives() {
        let (mut e, mut clock) = started(RembParams { exponential_factor: 0.5, ..RembParams::default() });
        let got = feed(&mut e, &mut clock, 4, 200, 0);
        assert_eq!(got, vec![300_000, 400_000, 400_000, 400_000]);
    }

    #[test]
    fn losses_below_up_losses_hold_it_at_the_received_top_and_above_halve_it() {
        let (mut e, mut clock) = started(RembParams::default());
        feed(&mut e, &mut clock, 10, 400, 0);
        let grown = e.current().unwrap();
        assert!(grown > 400_000, "{grown}");
        // 3 % lost: under upLosses (12/256 = 4.7 %): held at the top received.
        assert_eq!(feed(&mut e, &mut clock, 1, 400, 3), vec![400_000]);
        // 10 % lost for long enough to lift the smoothed record past 12/256.
        let got = feed(&mut e, &mut clock, 2, 400, 10);
        assert_eq!(got[1], 200_000, "decrementFactor 0.5 of the estimate: {got:?}");
        // The losses set the threshold to 0.8 of 400k: below it, growth is
        // exponential again.
        let after = feed(&mut e, &mut clock, 2, 200, 0);
        assert_eq!(after, vec![208_000, 216_320]);
    }

    #[test]
    fn up_losses_and_the_smoothing_window_are_the_applications() {
        let strict = RembParams { up_losses: 1, packets_recv_interval_top: 1, ..RembParams::default() };
        let (mut e, mut clock) = started(strict);
        feed(&mut e, &mut clock, 2, 400, 0);
        let got = feed(&mut e, &mut clock, 1, 400, 2);
        assert!(got[0] < 400_000, "2 % lost is past upLosses 1: {got:?}");
        let (mut e, mut clock) = started(RembParams::default());
        feed(&mut e, &mut clock, 2, 400, 0);
        assert!(feed(&mut e, &mut clock, 1, 400, 2)[0] >= 400_000, "not with KMS's defaults");
    }

    #[test]
    fn above_the_threshold_growth_is_linear() {
        let (mut e, mut clock) = started(RembParams { lineal_factor_min: 10_000, ..RembParams::default() });
        feed(&mut e, &mut clock, 1, 1000, 0);
        // A loss sets the threshold to 0.8 of the estimate.
        feed(&mut e, &mut clock, 1, 1000, 1);
        let got = feed(&mut e, &mut clock, 3, 1000, 0);
        assert_eq!(got[2] - got[1], got[1] - got[0], "a constant step: {got:?}");
    }

    #[test]
    fn max_video_recv_bandwidth_caps_it_and_idle_intervals_leave_it() {
        let t0 = Instant::now();
        let mut e = LocalEstimate::new(RembParams::default());
        e.update(t0, ReceivedTotals::default(), 0);
        let totals = ReceivedTotals { bytes: 125_000, packets: 100, lost: 0 };
        assert_eq!(e.update(t0 + Duration::from_secs(1), totals, 500), Some(500_000));
        assert_eq!(e.update(t0 + Duration::from_secs(2), totals, 500), Some(500_000), "nothing received: unchanged");
    }

    #[test]
    fn nothing_is_estimated_before_media() {
        let t0 = Instant::now();
        let mut e = LocalEstimate::new(RembParams::default());
        e.update(t0, ReceivedTotals::default(), 0);
        assert_eq!(e.update(t0 + ESTIMATE_INTERVAL, ReceivedTotals::default(), 0), None);
    }

    #[test]
    fn hostile_params_do_not_panic() {
        let p = RembParams { packets_recv_interval_top: 0, exponential_factor: f64::NAN, lineal_factor_grade: 0.0, decrement_factor: -1.0, threshold_factor: 1e300, up_losses: 0, ..RembParams::default() };
        let (mut e, mut clock) = started(p);
        feed(&mut e, &mut clock, 3, 400, 50);
        feed(&mut e, &mut clock, 3, 400, 0);
    }

    #[test]
    fn hostile_counters_do_not_panic() {
        let t0 = Instant::now();
        let mut e = LocalEstimate::default();
        e.update(t0, ReceivedTotals::default(), 0);
        let huge = ReceivedTotals { bytes: u64::MAX, packets: u64::MAX / 2, lost: u64::MAX / 2 };
        for i in 1..5 {
            e.update(t0 + Duration::from_micros(i), huge, 0);
            e.update(t0 + Duration::from_micros(i), ReceivedTotals::default(), 0);
        }
        let got = e.update(t0 + Duration::from_secs(1), ReceivedTotals { bytes: u64::MAX, packets: u64::MAX, lost: 0 }, 0);
        assert!(got.is_some());
    }

    #[test]
    fn rising_first_rembs_below_remb_on_connect_read_as_remb_on_connect() {
        let mut c = OnConnect::default();
        assert_eq!(c.apply(300_000, 50_000), 300_000);
        assert_eq!(c.apply(300_000, 120_000), 300_000);
        assert_eq!(c.apply(300_000, 100_000), 100_000, "a fall ends the probing");
        assert_eq!(c.apply(300_000, 150_000), 150_000, "for good");
        let mut c = OnConnect::default();
        assert_eq!(c.apply(300_000, 800_000), 800_000, "reaching it ends the probing");
        assert_eq!(c.apply(300_000, 100_000), 100_000);
    }
}
