//! How loaded the media worker is, for `/metrics`: time spent working,
//! wake-ups, and how late timer wake-ups come (the run loop's lag).

use std::sync::atomic::{AtomicU64, Ordering};
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
}

impl Default for WorkerLoad {
    fn default() -> Self {
        WorkerLoad { busy_ns: AtomicU64::new(0), wakeups: AtomicU64::new(0), max_lag_ns: AtomicU64::new(0), previous: Mutex::new((Instant::now(), 0)) }
    }
}

impl WorkerLoad {
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
