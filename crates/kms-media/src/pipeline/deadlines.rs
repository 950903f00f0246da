//! The elements' timeouts kept by deadline, so that a wake-up visits only
//! the elements that are due and the pipeline's next deadline is the first
//! entry, however many elements it holds (a broadcast's viewers each run
//! their own timers: str0m's pacer, RTCP, ICE).
//!
//! An element's deadline can only change when the pipeline calls it (it is
//! sans-IO; elements fed from other threads are woken through the pipeline),
//! and every such call marks it for draining: its deadline is read again
//! when it is drained ([`Deadlines::set`]).

use super::ElementId;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Deadlines {
    /// (deadline, element), earliest first.
    queue: BTreeSet<(Instant, ElementId)>,
    /// Each element's entry in `queue`.
    of: HashMap<ElementId, Instant>,
}

impl Deadlines {
    /// Records `id`'s deadline (`None`: it has none), replacing its last one.
    pub fn set(&mut self, id: ElementId, deadline: Option<Instant>) {
        if self.of.get(&id).copied() == deadline {
            return;
        }
        self.remove(id);
        if let Some(t) = deadline {
            self.queue.insert((t, id));
            self.of.insert(id, t);
        }
    }

    pub fn remove(&mut self, id: ElementId) {
        if let Some(t) = self.of.remove(&id) {
            self.queue.remove(&(t, id));
        }
    }

    /// The earliest deadline.
    pub fn first(&self) -> Option<Instant> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Takes the elements due at `now` out of the queue (the caller drives
    /// them and has them drained, which records their next deadlines).
    pub fn take_due(&mut self, now: Instant) -> Vec<ElementId> {
        let mut due = Vec::new();
        while let Some(&(t, id)) = self.queue.first() {
            if t > now {
                break;
            }
            self.queue.pop_first();
            self.of.remove(&id);
            due.push(id);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_due_elements_are_taken_and_the_first_deadline_leads() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        for i in 0..2_000u64 {
            d.set(ElementId(i), Some(t0 + Duration::from_secs(10 + i)));
        }
        d.set(ElementId(7), Some(t0 + Duration::from_millis(5)));
        d.set(ElementId(9), Some(t0 + Duration::from_millis(1)));
        assert_eq!(d.first(), Some(t0 + Duration::from_millis(1)));
        assert_eq!(d.take_due(t0 + Duration::from_millis(5)), vec![ElementId(9), ElementId(7)]);
        assert_eq!(d.take_due(t0 + Duration::from_millis(5)), Vec::<ElementId>::new(), "taken once");
        assert_eq!(d.first(), Some(t0 + Duration::from_secs(10)));
        d.set(ElementId(0), None);
        d.remove(ElementId(1));
        assert_eq!(d.first(), Some(t0 + Duration::from_secs(12)));
        d.set(ElementId(2), Some(t0 + Duration::from_secs(99)));
        assert_eq!(d.first(), Some(t0 + Duration::from_secs(13)), "a later deadline replaces the old entry");
    }
}
