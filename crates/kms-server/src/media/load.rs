//! How loaded one media worker is, for `/metrics` and placement: time spent
//! working, wake-ups, how late timer wake-ups come (the run loop's lag), its
//! pipelines and elements, and what became of datagrams no route claimed.

use super::UnmatchedCounts;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Written by the worker after each wake-up, read by scrapes.
#[derive(Debug)]
pub struct WorkerLoad {
    busy_ns: AtomicU64,
    wakeups: AtomicU64,
    /// Largest timer lateness since the last scrape.
    max_lag_ns: AtomicU64,
    /// (time, busy_ns) at the previous scrape.
    previous: Mutex<(Instant, u64)>,
    pipelines: AtomicUsize,
    /// Pipelines plus elements, as the worker last counted them (plus the
    /// pipelines placed on it since).
    weight: AtomicUsize,
    /// Datagrams no route claimed: scanned for, dropped by the negative
    /// cache, dropped by the scan budget.
    unmatched: [AtomicU64; 3],
}

impl Default for WorkerLoad {
    fn default() -> Self {
        WorkerLoad {
            busy_ns: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            max_lag_ns: AtomicU64::new(0),
            previous: Mutex::new((Instant::now(), 0)),
            pipelines: AtomicUsize::new(0),
            weight: AtomicUsize::new(0),
            unmatched: Default::default(),
        }
    }
}

impl WorkerLoad {
    /// The worker's own count of its pipelines and their elements.
    pub fn set_placement(&self, pipelines: usize, elements: usize) {
        self.pipelines.store(pipelines, Ordering::Relaxed);
        self.weight.store(pipelines + elements, Ordering::Relaxed);
    }

    /// A pipeline was placed on this worker (counted before the worker has it).
    pub fn placed(&self) {
        self.weight.fetch_add(1, Ordering::Relaxed);
    }

    /// What placement compares: pipelines plus elements.
    pub fn weight(&self) -> usize {
        self.weight.load(Ordering::Relaxed)
    }

    pub fn pipelines(&self) -> usize {
        self.pipelines.load(Ordering::Relaxed)
    }

    pub fn set_unmatched(&self, counts: UnmatchedCounts) {
        for (slot, v) in self.unmatched.iter().zip([counts.scanned, counts.cached, counts.limited]) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    pub fn unmatched(&self) -> UnmatchedCounts {
        let [scanned, cached, limited] = self.unmatched.each_ref().map(|a| a.load(Ordering::Relaxed));
        UnmatchedCounts { scanned, cached, limited }
    }

    /// One wake-up that kept the worker `busy`; `lag` when a timer fired late.
    pub fn record(&self, busy: Duration, lag: Option<Duration>) {
        self.busy_ns.fetch_add(busy.as_nanos() as u64, Ordering::Relaxed);
        self.wakeups.fetch_add(1, Ordering::Relaxed);
        if let Some(lag) = lag {
            self.max_lag_ns.fetch_max(lag.as_nanos() as u64, Ordering::Relaxed);
        }
    }

    /// (busy time in all, wake-ups in all, busy share since the previous
    /// scrape, largest timer lag since the previous scrape).
    pub fn scrape(&self) -> (Duration, u64, f64, Duration) {
        let busy = self.busy_ns.load(Ordering::Relaxed);
        let now = Instant::now();
        let mut previous = self.previous.lock().unwrap_or_else(|e| e.into_inner());
        let wall = now.saturating_duration_since(previous.0).as_nanos().max(1) as f64;
        let ratio = (busy.saturating_sub(previous.1) as f64 / wall).min(1.0);
        *previous = (now, busy);
        let lag = self.max_lag_ns.swap(0, Ordering::Relaxed);
        (Duration::from_nanos(busy), self.wakeups.load(Ordering::Relaxed), ratio, Duration::from_nanos(lag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_and_lag_are_per_scrape() {
        let load = WorkerLoad::default();
        load.record(Duration::from_millis(2), Some(Duration::from_millis(3)));
        load.record(Duration::from_millis(1), None);
        std::thread::sleep(Duration::from_millis(20));
        let (busy, wakeups, ratio, lag) = load.scrape();
        assert_eq!((busy, wakeups, lag), (Duration::from_millis(3), 2, Duration::from_millis(3)));
        assert!(ratio > 0.0 && ratio < 0.2, "{ratio}");
        assert_eq!(load.scrape().3, Duration::ZERO, "lag resets at each scrape");
    }
}
