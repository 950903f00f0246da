//! One run's figures and the fairness rules that decide whether it counts.

use super::peer::PeerStats;

/// A run counts only when the load client stayed under this share of one core.
pub const CLIENT_CPU_LIMIT: f64 = 70.0;
/// ... and at least this share of the expected packets arrived.
pub const MIN_RECEIVED: f64 = 99.0;
/// The frame rate of every source (bench/make-media.sh, `publish`).
pub const SOURCE_FPS: f64 = 30.0;
/// ... and every viewer got at least this share of the source's frames and
/// of the median viewer's bytes: a frame dropped inside the server leaves
/// no sequence gap (sequence numbers are assigned per viewer), so it must
/// show here.
pub const MIN_DELIVERED: f64 = 0.95;

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Receiving peers: viewers, or both peers of every call.
    pub viewers: usize,
    /// One-to-one calls (0 for a one-to-many run): CPU is also given per call.
    pub calls: usize,
    pub connected: usize,
    /// Server CPU over the window, % of one core.
    pub server_cpu: f64,
    /// Server RSS in the window minus before the viewers, KiB.
    pub rss_growth_kib: f64,
    pub rss_kib: u64,
    pub threads: u64,
    /// Load client CPU over the window, % of one core.
    pub client_cpu: f64,
    /// Received / expected packets, %.
    pub received: f64,
    pub median_kbps: f64,
    /// The least-served viewer's bitrate (kbit/s) and video frame rate.
    pub min_kbps: f64,
    pub min_fps: f64,
    /// Viewers that decrypted their media (the others counted headers).
    pub decrypting: usize,
    pub median_jitter_ms: f64,
    pub median_connect_ms: f64,
    pub srtp_dropped: u64,
    /// RTP packets the load client published in the window (publisher source).
    pub published: u64,
    /// Viewers that lacked audio or video in the window.
    pub incomplete: usize,
    /// Datagrams dropped at full socket receive buffers in the window
    /// (`/proc/net/snmp` RcvbufErrors; nearly all at the load client).
    pub socket_drops: u64,
    /// Length of the window, s.
    pub seconds: f64,
    /// Publish-to-receive latency over every stamped frame at every viewer,
    /// p50 and p99 in ms (publisher source only; 0 otherwise).
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// The source sends simulcast layers: viewers may rightly get different
    /// bitrates, so the least-served viewer's bitrate is not held against
    /// the median (frames still are).
    pub layered: bool,
}

/// Whether a run counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// The load client used >= [`CLIENT_CPU_LIMIT`] or dropped datagrams itself.
    ClientBound,
    /// A viewer did not connect, lacked audio or video, < [`MIN_RECEIVED`]
    /// arrived, or a viewer got less than [`MIN_DELIVERED`] of the frames or
    /// (unless the source is layered) of the median viewer's bytes.
    Lossy,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::ClientBound => "client-bound",
            Verdict::Lossy => "lossy",
        }
    }
}

/// The median (upper middle) of `v`; 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

impl Run {
    /// Folds per-peer stats (of the run's window) into the run's figures; a
    /// publishing peer only contributes what it sent.
    pub fn with_peers(mut self, all: Vec<PeerStats>) -> Run {
        let seconds = self.seconds.max(f64::EPSILON);
        self.published = all.iter().filter(|s| s.publishes).map(|s| s.sent).sum();
        let peers: Vec<PeerStats> = all.into_iter().filter(|s| s.receives).collect();
        let (packets, expected): (u64, u64) = peers.iter().fold((0, 0), |(p, e), s| (p + s.packets, e + s.expected));
        self.connected = peers.iter().filter(|s| s.connect_ms.is_some()).count();
        self.incomplete = self.viewers.saturating_sub(peers.iter().filter(|s| s.audio && s.video).count());
        // Viewers that got nothing count as fully lost, at the others' average.
        let heard = peers.iter().filter(|s| s.expected > 0).count();
        let silent = self.viewers.saturating_sub(heard) as u64;
        let expected = expected + silent * (expected / heard.max(1) as u64);
        self.received = if expected == 0 { 0.0 } else { packets as f64 * 100.0 / expected as f64 };
        let kbps = |s: &PeerStats| s.bytes as f64 * 8.0 / seconds / 1e3;
        self.median_kbps = median(peers.iter().map(kbps).collect());
        // A viewer missing from the snapshot got nothing.
        let least = |f: &dyn Fn(&PeerStats) -> f64| if peers.is_empty() || peers.len() < self.viewers { 0.0 } else { peers.iter().map(f).fold(f64::INFINITY, f64::min) };
        self.min_kbps = least(&kbps);
        self.min_fps = least(&|s| s.frames as f64 / seconds);
        self.decrypting = peers.iter().filter(|s| s.decrypted).count();
        self.median_jitter_ms = median(peers.iter().map(|s| s.video_jitter_ms).collect());
        self.median_connect_ms = median(peers.iter().filter_map(|s| s.connect_ms).collect());
        self.srtp_dropped = peers.iter().map(|s| s.srtp_dropped).sum();
        let mut latencies: Vec<u32> = peers.iter().flat_map(|s| s.latencies_us.iter().copied()).collect();
        latencies.sort_unstable();
        let at = |q: f64| latencies.get(((latencies.len().max(1) - 1) as f64 * q).round() as usize).map_or(0.0, |us| f64::from(*us) / 1e3);
        (self.latency_p50_ms, self.latency_p99_ms) = (at(0.50), at(0.99));
        self
    }

    /// Whether the run counts.
    pub fn verdict(&self) -> Verdict {
        if self.client_cpu >= CLIENT_CPU_LIMIT || self.socket_drops > 0 {
            Verdict::ClientBound
        } else if self.connected < self.viewers
            || self.incomplete > 0
            || self.received < MIN_RECEIVED
            || self.min_fps < MIN_DELIVERED * SOURCE_FPS
            || (!self.layered && self.min_kbps < MIN_DELIVERED * self.median_kbps)
        {
            Verdict::Lossy
        } else {
            Verdict::Ok
        }
    }

    pub fn cpu_per_viewer(&self) -> f64 {
        self.server_cpu / self.viewers.max(1) as f64
    }

    pub fn cpu_per_call(&self) -> f64 {
        self.server_cpu / self.calls.max(1) as f64
    }

    pub fn kib_per_viewer(&self) -> f64 {
        self.rss_growth_kib / self.viewers.max(1) as f64
    }

    pub fn print(&self, label: &str) {
        println!(
            "{label}: {}viewers={} published={} connected={} server_cpu={:.1}% per_viewer={:.3}% rss={}KiB per_viewer={:.0}KiB threads={} client_cpu={:.1}% received={:.2}% kbps={:.0} min_kbps={:.0} min_fps={:.1} decrypting={} jitter={:.2}ms connect={:.0}ms srtp_dropped={} incomplete={} socket_drops={}{} verdict={}",
            if self.calls > 0 { format!("calls={} per_call={:.3}% ", self.calls, self.cpu_per_call()) } else { String::new() },
            self.viewers, self.published, self.connected, self.server_cpu, self.cpu_per_viewer(), self.rss_kib, self.kib_per_viewer(), self.threads,
            self.client_cpu, self.received, self.median_kbps, self.min_kbps, self.min_fps, self.decrypting, self.median_jitter_ms, self.median_connect_ms, self.srtp_dropped, self.incomplete, self.socket_drops,
            if self.published > 0 { format!(" latency_p50={:.2}ms latency_p99={:.2}ms", self.latency_p50_ms, self.latency_p99_ms) } else { String::new() },
            self.verdict().as_str()
        );
    }

    /// The median of each figure over the runs that count (all runs if none
    /// does); the MEDIAN line says how many counted.
    pub fn median_of(runs: &[Run]) -> Run {
        let ok: Vec<&Run> = runs.iter().filter(|r| r.verdict() == Verdict::Ok).collect();
        let pool: Vec<&Run> = if ok.is_empty() { runs.iter().collect() } else { ok };
        let m = |f: &dyn Fn(&Run) -> f64| median(pool.iter().map(|r| f(r)).collect());
        Run {
            viewers: pool.first().map_or(0, |r| r.viewers),
            calls: pool.first().map_or(0, |r| r.calls),
            connected: m(&|r| r.connected as f64) as usize,
            server_cpu: m(&|r| r.server_cpu),
            rss_growth_kib: m(&|r| r.rss_growth_kib),
            rss_kib: m(&|r| r.rss_kib as f64) as u64,
            threads: m(&|r| r.threads as f64) as u64,
            client_cpu: m(&|r| r.client_cpu),
            received: m(&|r| r.received),
            median_kbps: m(&|r| r.median_kbps),
            min_kbps: m(&|r| r.min_kbps),
            min_fps: m(&|r| r.min_fps),
            decrypting: m(&|r| r.decrypting as f64) as usize,
            median_jitter_ms: m(&|r| r.median_jitter_ms),
            median_connect_ms: m(&|r| r.median_connect_ms),
            srtp_dropped: m(&|r| r.srtp_dropped as f64) as u64,
            published: m(&|r| r.published as f64) as u64,
            incomplete: m(&|r| r.incomplete as f64) as usize,
            socket_drops: m(&|r| r.socket_drops as f64) as u64,
            seconds: m(&|r| r.seconds),
            latency_p50_ms: m(&|r| r.latency_p50_ms),
            latency_p99_ms: m(&|r| r.latency_p99_ms),
            layered: pool.first().is_some_and(|r| r.layered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(frames: u64, bytes: u64) -> PeerStats {
        PeerStats { connect_ms: Some(5.0), packets: 1000, expected: 1000, bytes, frames, receives: true, audio: true, video: true, ..PeerStats::default() }
    }

    fn run(peers: Vec<PeerStats>) -> Run {
        Run { viewers: peers.len(), seconds: 10.0, ..Run::default() }.with_peers(peers)
    }

    #[test]
    fn a_run_counts_when_every_viewer_gets_the_sources_frames_and_bytes() {
        assert_eq!(run(vec![viewer(300, 1_500_000); 3]).verdict(), Verdict::Ok);
    }

    #[test]
    fn frames_dropped_inside_the_server_fail_the_run_without_a_sequence_gap() {
        // Every packet that was numbered arrived, but one viewer got a fifth
        // fewer frames (and bytes): the server dropped them before numbering.
        let r = run(vec![viewer(300, 1_500_000), viewer(240, 1_200_000), viewer(300, 1_500_000)]);
        assert_eq!(r.received, 100.0);
        assert_eq!(r.verdict(), Verdict::Lossy);
        // All viewers equally short of the source's 30 fps fails too.
        assert_eq!(run(vec![viewer(250, 1_500_000); 3]).verdict(), Verdict::Lossy);
    }

    #[test]
    fn a_missing_viewer_counts_as_getting_nothing() {
        let r = Run { viewers: 3, seconds: 10.0, ..Run::default() }.with_peers(vec![viewer(300, 1_500_000); 2]);
        assert_eq!((r.min_fps, r.verdict()), (0.0, Verdict::Lossy));
    }
}
