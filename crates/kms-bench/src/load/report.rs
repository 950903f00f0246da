//! One run's figures and the fairness rules that decide whether it counts.

use super::peer::PeerStats;

/// A run counts only when the load client stayed under this share of one core.
pub const CLIENT_CPU_LIMIT: f64 = 70.0;
/// ... and at least this share of the expected packets arrived.
pub const MIN_RECEIVED: f64 = 99.0;

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub viewers: usize,
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
    pub median_jitter_ms: f64,
    pub median_connect_ms: f64,
    pub srtp_dropped: u64,
    /// RTP packets the load client published in the window (publisher source).
    pub published: u64,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

impl Run {
    /// Folds per-peer stats (of a window of `seconds`) into the run's figures;
    /// a publishing peer only contributes what it sent.
    pub fn with_peers(mut self, all: &[PeerStats], seconds: f64) -> Run {
        self.published = all.iter().filter(|s| s.publishes).map(|s| s.sent).sum();
        let peers: Vec<PeerStats> = all.iter().filter(|s| !s.publishes).cloned().collect();
        let peers = &peers[..];
        let (packets, expected): (u64, u64) = peers.iter().fold((0, 0), |(p, e), s| (p + s.packets, e + s.expected));
        self.connected = peers.iter().filter(|s| s.connect_ms.is_some()).count();
        // Viewers that never connected or got nothing count as fully lost.
        let silent = self.viewers.saturating_sub(peers.iter().filter(|s| s.expected > 0).count()) as u64;
        let per_viewer_expected = if peers.is_empty() { 0 } else { expected / peers.len().max(1) as u64 };
        let expected = expected + silent * per_viewer_expected;
        self.received = if expected == 0 { 0.0 } else { packets as f64 * 100.0 / expected as f64 };
        self.median_kbps = median(peers.iter().map(|s| s.bytes as f64 * 8.0 / seconds / 1e3).collect());
        self.median_jitter_ms = median(peers.iter().map(|s| s.video_jitter_ms).collect());
        self.median_connect_ms = median(peers.iter().filter_map(|s| s.connect_ms).collect());
        self.srtp_dropped = peers.iter().map(|s| s.srtp_dropped).sum();
        self
    }

    /// Why the run does not count, if it does not.
    pub fn verdict(&self) -> &'static str {
        if self.client_cpu >= CLIENT_CPU_LIMIT {
            "client-bound"
        } else if self.connected < self.viewers || self.received < MIN_RECEIVED {
            "lossy"
        } else {
            "ok"
        }
    }

    pub fn cpu_per_viewer(&self) -> f64 {
        self.server_cpu / self.viewers.max(1) as f64
    }

    pub fn kib_per_viewer(&self) -> f64 {
        self.rss_growth_kib / self.viewers.max(1) as f64
    }

    pub fn print(&self, label: &str) {
        println!(
            "{label}: viewers={} published={} connected={} server_cpu={:.1}% per_viewer={:.3}% rss={}KiB per_viewer={:.0}KiB threads={} client_cpu={:.1}% received={:.2}% kbps={:.0} jitter={:.2}ms connect={:.0}ms srtp_dropped={} verdict={}",
            self.viewers, self.published, self.connected, self.server_cpu, self.cpu_per_viewer(), self.rss_kib, self.kib_per_viewer(), self.threads,
            self.client_cpu, self.received, self.median_kbps, self.median_jitter_ms, self.median_connect_ms, self.srtp_dropped, self.verdict()
        );
    }

    /// The median of each figure over runs that count (all runs if none does).
    pub fn median_of(runs: &[Run]) -> Run {
        let ok: Vec<&Run> = runs.iter().filter(|r| r.verdict() == "ok").collect();
        let pool: Vec<&Run> = if ok.is_empty() { runs.iter().collect() } else { ok };
        let m = |f: &dyn Fn(&Run) -> f64| median(pool.iter().map(|r| f(r)).collect());
        Run {
            viewers: pool.first().map_or(0, |r| r.viewers),
            connected: m(&|r| r.connected as f64) as usize,
            server_cpu: m(&|r| r.server_cpu),
            rss_growth_kib: m(&|r| r.rss_growth_kib),
            rss_kib: m(&|r| r.rss_kib as f64) as u64,
            threads: m(&|r| r.threads as f64) as u64,
            client_cpu: m(&|r| r.client_cpu),
            received: m(&|r| r.received),
            median_kbps: m(&|r| r.median_kbps),
            median_jitter_ms: m(&|r| r.median_jitter_ms),
            median_connect_ms: m(&|r| r.median_connect_ms),
            srtp_dropped: m(&|r| r.srtp_dropped as f64) as u64,
            published: m(&|r| r.published as f64) as u64,
        }
    }
}
