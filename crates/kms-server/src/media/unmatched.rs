//! What a worker does with datagrams that match no route: a bounded cache of
//! expiring negative entries (garbage or stale media from a 5-tuple no
//! endpoint took is dropped without a scan while the entry lives) and a scan
//! budget per source IP and per worker (a flood from unknown sources costs a
//! few element scans per second, not one per datagram).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a 5-tuple that matched nothing is dropped without a scan. Short,
/// so a peer that becomes valid (an endpoint created or negotiated after its
/// first packets) is served within this time.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(2);
/// Negative entries kept at most; past it expired entries are purged, then all.
pub const NEGATIVE_CAPACITY: usize = 4096;
/// Scans a source IP may cause per second, and in a burst.
pub const SCANS_PER_SOURCE: (f64, f64) = (20.0, 50.0);
/// Scans all sources together may cause per second, and in a burst.
pub const SCANS_PER_WORKER: (f64, f64) = (2000.0, 4000.0);
/// Source IPs whose budget is tracked at most.
pub const SOURCES_CAPACITY: usize = 4096;

/// What to do with a datagram that no route claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Look for an element that accepts it.
    Scan,
    /// Dropped: the 5-tuple matched nothing moments ago.
    Cached,
    /// Dropped: its source (or all unknown sources) used up the scan budget.
    Limited,
}

/// Counters for `/metrics`, by verdict.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UnmatchedCounts {
    pub scanned: u64,
    pub cached: u64,
    pub limited: u64,
}

/// A token bucket: `rate` tokens per second up to `burst`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(now: Instant, (_, burst): (f64, f64)) -> Bucket {
        Bucket {
            tokens: burst,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant, (rate, burst): (f64, f64)) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
    }
}

/// The negative cache and scan budgets of one worker.
#[derive(Debug)]
pub struct Unmatched<K> {
    negative: HashMap<K, Instant>,
    sources: HashMap<IpAddr, Bucket>,
    worker: Bucket,
    pub counts: UnmatchedCounts,
}

impl<K: Eq + Hash> Unmatched<K> {
    pub fn new(now: Instant) -> Self {
        Unmatched {
            negative: HashMap::new(),
            sources: HashMap::new(),
            worker: Bucket::full(now, SCANS_PER_WORKER),
            counts: UnmatchedCounts::default(),
        }
    }

    /// Whether a datagram on `key` from `source` may be scanned for; counts it.
    pub fn check(&mut self, now: Instant, key: &K, source: IpAddr) -> Verdict {
        let verdict = self.verdict(now, key, source);
        match verdict {
            Verdict::Scan => self.counts.scanned += 1,
            Verdict::Cached => self.counts.cached += 1,
            Verdict::Limited => self.counts.limited += 1,
        }
        verdict
    }

    fn verdict(&mut self, now: Instant, key: &K, source: IpAddr) -> Verdict {
        if self.negative.get(key).is_some_and(|expiry| *expiry > now) {
            return Verdict::Cached;
        }
        if self.sources.len() >= SOURCES_CAPACITY && !self.sources.contains_key(&source) {
            // Buckets refilled to the brim are the same as no bucket.
            self.sources.retain(|_, b| {
                b.refill(now, SCANS_PER_SOURCE);
                b.tokens < SCANS_PER_SOURCE.1
            });
            if self.sources.len() >= SOURCES_CAPACITY {
                // Too many sources at once: only the worker's budget applies.
                self.sources.clear();
            }
        }
        let bucket = self
            .sources
            .entry(source)
            .or_insert_with(|| Bucket::full(now, SCANS_PER_SOURCE));
        bucket.refill(now, SCANS_PER_SOURCE);
        self.worker.refill(now, SCANS_PER_WORKER);
        if bucket.tokens < 1.0 || self.worker.tokens < 1.0 {
            return Verdict::Limited;
        }
        bucket.tokens -= 1.0;
        self.worker.tokens -= 1.0;
        Verdict::Scan
    }

    /// A scanned datagram matched nothing: drop its 5-tuple for [`NEGATIVE_TTL`].
    pub fn remember(&mut self, now: Instant, key: K) {
        if self.negative.len() >= NEGATIVE_CAPACITY {
            self.negative.retain(|_, expiry| *expiry > now);
            if self.negative.len() >= NEGATIVE_CAPACITY {
                self.negative.clear();
            }
        }
        self.negative.insert(key, now + NEGATIVE_TTL);
    }

    /// Endpoints changed (one was added or negotiated): what matched nothing
    /// before may match now.
    pub fn forget(&mut self) {
        self.negative.clear();
    }

    #[cfg(test)]
    pub fn negative_len(&self) -> usize {
        self.negative.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 66));
    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 7));

    #[test]
    fn a_flood_from_one_source_costs_a_bounded_number_of_scans() {
        let t0 = Instant::now();
        let mut u = Unmatched::new(t0);
        // 10,000 datagrams on fresh 5-tuples (ports change) within one second.
        let mut scans = 0;
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_micros(u64::from(i) * 100);
            if u.check(now, &i, ATTACKER) == Verdict::Scan {
                scans += 1;
                u.remember(now, i);
            }
        }
        assert!(scans <= 50 + 20, "{scans} scans");
        assert_eq!(u.counts.scanned + u.counts.limited, 10_000);
        // Another source still gets its scans.
        assert_eq!(
            u.check(t0 + Duration::from_secs(1), &99_999, PEER),
            Verdict::Scan
        );
    }

    #[test]
    fn negative_entries_drop_without_scanning_then_expire() {
        let t0 = Instant::now();
        let mut u = Unmatched::new(t0);
        assert_eq!(u.check(t0, &1u32, PEER), Verdict::Scan);
        u.remember(t0, 1);
        assert_eq!(
            u.check(t0 + Duration::from_millis(10), &1, PEER),
            Verdict::Cached
        );
        assert_eq!(
            u.check(t0 + NEGATIVE_TTL, &1, PEER),
            Verdict::Scan,
            "expired"
        );
        u.remember(t0 + NEGATIVE_TTL, 1);
        u.forget();
        assert_eq!(
            u.check(t0 + NEGATIVE_TTL, &1, PEER),
            Verdict::Scan,
            "forgotten when endpoints change"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let t0 = Instant::now();
        let mut u = Unmatched::new(t0);
        for i in 0..(3 * NEGATIVE_CAPACITY) as u32 {
            u.remember(t0, i);
        }
        assert!(u.negative_len() <= NEGATIVE_CAPACITY);
    }
}
