//! Timers kept by deadline: a wake-up touches only the keys whose deadline
//! has come, so idle ones cost nothing between their own deadlines (instead
//! of a scan of every key per wake-up). A media worker keeps its pipelines'
//! this way, and a pipeline its elements'.
//!
//! Keys are the server's own ids (never network input), so their map uses
//! FxHash (rustc-hash): a deadline is set on every drain of an element,
//! which SipHash made a visible cost with simulcast's pacer (one timeout
//! per packet).

use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::hash::Hash;
use std::time::Instant;

/// At most one deadline per key; setting a key again replaces its deadline.
#[derive(Debug)]
pub struct DeadlineQueue<K> {
    by_deadline: BTreeSet<(Instant, K)>,
    deadline_of: FxHashMap<K, Instant>,
}

impl<K> Default for DeadlineQueue<K> {
    fn default() -> Self {
        DeadlineQueue {
            by_deadline: BTreeSet::new(),
            deadline_of: FxHashMap::default(),
        }
    }
}

impl<K: Copy + Ord + Hash> DeadlineQueue<K> {
    /// Sets (`Some`) or clears (`None`) the deadline of `key`. O(log n).
    pub fn set(&mut self, key: K, deadline: Option<Instant>) {
        let old = match deadline {
            Some(d) => self.deadline_of.insert(key, d),
            None => self.deadline_of.remove(&key),
        };
        if old == deadline {
            return;
        }
        if let Some(old) = old {
            self.by_deadline.remove(&(old, key));
        }
        if let Some(d) = deadline {
            self.by_deadline.insert((d, key));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(d, _)| *d)
    }

    /// Removes and returns one key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let &(deadline, key) = self.by_deadline.first().filter(|(d, _)| *d <= now)?;
        self.by_deadline.remove(&(deadline, key));
        self.deadline_of.remove(&key);
        Some(key)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.deadline_of.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_due_keys_fire_in_deadline_order() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut q = DeadlineQueue::default();
        for key in 0..2000u32 {
            // 2,000 idle keys an hour away, two due ones.
            q.set(key, Some(ms(3_600_000)));
        }
        q.set(7, Some(ms(20)));
        q.set(5, Some(ms(10)));
        assert_eq!(q.next(), Some(ms(10)));
        assert_eq!(
            q.pop_due(ms(9)),
            None,
            "nothing is due before the first deadline"
        );
        assert_eq!(q.pop_due(ms(25)), Some(5));
        assert_eq!(q.pop_due(ms(25)), Some(7));
        assert_eq!(q.pop_due(ms(25)), None, "the idle keys are not visited");
        assert_eq!(q.len(), 1998);
    }

    #[test]
    fn a_new_deadline_replaces_the_old_one() {
        let t0 = Instant::now();
        let mut q = DeadlineQueue::default();
        q.set("a", Some(t0 + Duration::from_millis(5)));
        q.set("a", Some(t0 + Duration::from_secs(5)));
        assert_eq!(q.pop_due(t0 + Duration::from_millis(10)), None);
        q.set("a", None);
        assert_eq!((q.next(), q.len()), (None, 0));
    }
}
